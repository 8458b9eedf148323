/* sign.c - HMAC-SHA256 signed values and their key. See sign.h. */
#include "sign.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define KEY_RANDOM_BYTES 32
#define KEY_MIN_CHARS    32 /* a shorter file is a mistake, not a key */

/* ---- the key file ---- */

/* Write a new key to path unless one is there. A temporary file linked into
 * place, so an app that starts at the same moment reads a whole key or
 * none; link() fails on an existing name, so the first writer wins. */
static int key_make(const char *path, char *err, size_t errlen)
{
	unsigned char rnd[KEY_RANDOM_BYTES];
	char text[2 * KEY_RANDOM_BYTES + 2], tmp[4400];
	if (RAND_bytes(rnd, sizeof(rnd)) != 1) {
		snprintf(err, errlen, "no random bytes for %s", path);
		return -1;
	}
	for (size_t i = 0; i < sizeof(rnd); i++)
		snprintf(text + 2 * i, 3, "%02x", rnd[i]);
	text[2 * KEY_RANDOM_BYTES] = '\n';
	snprintf(tmp, sizeof(tmp), "%s.XXXXXX", path);
	int fd = mkstemp(tmp); /* 0600 */
	if (fd < 0) {
		snprintf(err, errlen, "cannot make %s: %s", tmp, strerror(errno));
		return -1;
	}
	bool ok =
	    write(fd, text, sizeof(text) - 1) == (ssize_t)(sizeof(text) - 1) && fsync(fd) == 0;
	close(fd);
	int rc = ok && (link(tmp, path) == 0 || errno == EEXIST) ? 0 : -1;
	if (rc < 0)
		snprintf(err, errlen, "cannot write %s: %s", path, strerror(errno));
	unlink(tmp);
	OPENSSL_cleanse(text, sizeof(text));
	return rc;
}

int sign_key_load(struct sign_key *key, const char *path, char *err, size_t errlen)
{
	char dir[TS_PATH_MAX + 100];
	snprintf(dir, sizeof(dir), "%s", path);
	char *slash = strrchr(dir, '/');
	if (slash) {
		*slash = '\0';
		mkdir(dir, 0700); /* secrets/: as tristack up makes it */
	}
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 && errno == ENOENT) {
		if (key_make(path, err, errlen) < 0)
			return -1;
		fd = open(path, O_RDONLY | O_CLOEXEC);
	}
	if (fd < 0) {
		snprintf(err, errlen, "cannot read the cookie key %s: %s", path, strerror(errno));
		return -1;
	}
	char text[SIGN_KEY_MAX + 1];
	ssize_t n = read(fd, text, sizeof(text) - 1);
	close(fd);
	text[n > 0 ? n : 0] = '\0';
	key->len = strcspn(text, "\r\n");
	/* a file that filled the buffer may hold more: refused, not cut */
	if (key->len < KEY_MIN_CHARS || (size_t)n >= sizeof(text) - 1) {
		snprintf(err, errlen, "the cookie key %s must be one line of %d to %d characters",
		         path, KEY_MIN_CHARS, SIGN_KEY_MAX - 1);
		return -1;
	}
	memcpy(key->k, text, key->len);
	OPENSSL_cleanse(text, sizeof(text));
	return 0;
}

/* ---- MACs ---- */

int sign_init(struct sign *sg, const struct sign_key *key)
{
	EVP_MAC *mac = EVP_MAC_fetch(NULL, OSSL_MAC_NAME_HMAC, NULL);
	sg->ctx = mac ? EVP_MAC_CTX_new(mac) : NULL;
	EVP_MAC_free(mac); /* the context keeps its own reference */
	OSSL_PARAM params[] = {
		OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)"SHA256", 0),
		OSSL_PARAM_construct_end(),
	};
	if (sg->ctx == NULL || EVP_MAC_init(sg->ctx, key->k, key->len, params) != 1) {
		sign_free(sg);
		return -1;
	}
	return 0;
}

void sign_free(struct sign *sg)
{
	EVP_MAC_CTX_free(sg->ctx);
	sg->ctx = NULL;
}

static void base64url(const unsigned char *in, size_t n, char *out)
{
	static const char a[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	size_t o = 0;
	for (size_t i = 0; i < n; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16;
		if (i + 1 < n)
			v |= (uint32_t)in[i + 1] << 8;
		if (i + 2 < n)
			v |= in[i + 2];
		size_t chars = n - i >= 3 ? 4 : n - i + 1; /* no padding */
		for (size_t k = 0; k < chars; k++)
			out[o++] = a[(v >> (18 - 6 * k)) & 63];
	}
	out[o] = '\0';
}

/* The raw MAC; the key set by sign_init is kept (a NULL key reuses it). */
static bool mac_raw(struct sign *sg, const char *label, struct str value, unsigned char *md)
{
	size_t len = 0;
	return sg->ctx && EVP_MAC_init(sg->ctx, NULL, 0, NULL) == 1 &&
	       EVP_MAC_update(sg->ctx, (const unsigned char *)label, strlen(label) + 1) == 1 &&
	       EVP_MAC_update(sg->ctx, (const unsigned char *)value.p, value.len) == 1 &&
	       EVP_MAC_final(sg->ctx, md, &len, 32) == 1 && len == 32;
}

bool sign_mac(struct sign *sg, const char *label, struct str value, char *out)
{
	unsigned char md[32];
	if (!mac_raw(sg, label, value, md))
		return false;
	base64url(md, sizeof(md), out);
	return true;
}

bool sign_check(struct sign *sg, const char *label, struct str value, struct str mac)
{
	char want[SIGN_MAC_CHARS + 1];
	if (mac.len != SIGN_MAC_CHARS || !sign_mac(sg, label, value, want))
		return false;
	/* constant time: how much of a guess matched must not show */
	return CRYPTO_memcmp(want, mac.p, SIGN_MAC_CHARS) == 0;
}

bool sign_nonce(char *out)
{
	unsigned char rnd[16];
	if (RAND_bytes(rnd, sizeof(rnd)) != 1)
		return false;
	base64url(rnd, sizeof(rnd), out);
	return true;
}
