/* tls_keys.c - the session-ticket key file. See tls_keys.h. */
#include "tls_keys.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define HINT "one key a line: base64 of 80 bytes, as `openssl rand 80 | openssl base64 -A` makes"

unsigned tls_keys_sealing(unsigned n)
{
	return n >= 2 ? n - 2 : 0;
}

/* ---- base64 (RFC 4648, '=' padded, no line breaks) ---- */

static const char b64_chars[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static int b64_value(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

/* How many bytes the n characters at s stand for: -1 when they are not
 * base64 (a stray character, a length not a multiple of 4, '=' anywhere
 * but in the last two places). */
static long b64_size(const char *s, size_t n)
{
	if (n % 4 != 0)
		return -1;
	size_t pad = 0;
	if (n >= 1 && s[n - 1] == '=')
		pad = n >= 2 && s[n - 2] == '=' ? 2 : 1;
	for (size_t i = 0; i < n - pad; i++)
		if (b64_value((unsigned char)s[i]) < 0)
			return -1;
	return (long)(n / 4 * 3 - pad);
}

/* Decode n characters that b64_size accepted into out (its size). */
static void b64_decode(const char *s, size_t n, unsigned char *out)
{
	uint32_t acc = 0;
	int bits = 0;
	size_t o = 0;
	for (size_t i = 0; i < n && s[i] != '='; i++) {
		acc = (acc << 6) | (uint32_t)b64_value((unsigned char)s[i]);
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[o++] = (unsigned char)(acc >> bits);
		}
	}
}

void tls_keys_line(const struct tls_ticket_key *k, char out[TLS_KEY_LINE + 1])
{
	unsigned char raw[TLS_KEY_BYTES];
	memcpy(raw, k->name, 16);
	memcpy(raw + 16, k->aes, 32);
	memcpy(raw + 48, k->hmac, 32);
	size_t o = 0;
	for (size_t i = 0; i < sizeof(raw); i += 3) {
		uint32_t v = (uint32_t)raw[i] << 16;
		size_t left = sizeof(raw) - i;
		if (left > 1)
			v |= (uint32_t)raw[i + 1] << 8;
		if (left > 2)
			v |= raw[i + 2];
		out[o++] = b64_chars[(v >> 18) & 63];
		out[o++] = b64_chars[(v >> 12) & 63];
		out[o++] = left > 1 ? b64_chars[(v >> 6) & 63] : '=';
		out[o++] = left > 2 ? b64_chars[v & 63] : '=';
	}
	out[o] = '\0';
	OPENSSL_cleanse(raw, sizeof(raw));
}

/* ---- the file ---- */

static bool blank(char c)
{
	return c == ' ' || c == '\t' || c == '\r';
}

/* One line's key (its blanks trimmed: s, n) into k; -1 with why. */
static int parse_key(const char *s, size_t n, struct tls_ticket_key *k, char *why, size_t whylen)
{
	long size = b64_size(s, n);
	if (size < 0) {
		snprintf(why, whylen, "not base64 (%s)", HINT);
		return -1;
	}
	if (size != TLS_KEY_BYTES) {
		snprintf(why, whylen, "a key of %ld bytes, not %d (%s)", size, TLS_KEY_BYTES, HINT);
		return -1;
	}
	unsigned char raw[TLS_KEY_BYTES];
	b64_decode(s, n, raw);
	memcpy(k->name, raw, 16);
	memcpy(k->aes, raw + 16, 32);
	memcpy(k->hmac, raw + 48, 32);
	OPENSSL_cleanse(raw, sizeof(raw));
	return 0;
}

int tls_keys_parse(const char *text, size_t len, const char *file, struct tls_ticket_keys *out,
                   char *err, size_t errlen)
{
	memset(out, 0, sizeof(*out));
	int lines[TLS_KEYS_MAX];
	int line = 0;
	char why[160];
	for (size_t pos = 0; pos < len;) {
		const char *nl = memchr(text + pos, '\n', len - pos);
		size_t end = nl ? (size_t)(nl - text) : len;
		const char *s = text + pos;
		size_t n = end - pos;
		pos = end + 1;
		line++;
		while (n && blank(*s))
			s++, n--;
		while (n && blank(s[n - 1]))
			n--;
		if (n == 0 || s[0] == '#')
			continue;
		if (out->n == TLS_KEYS_MAX) {
			snprintf(err, errlen, "%s:%d: more than %d keys", file, line, TLS_KEYS_MAX);
			goto fail;
		}
		struct tls_ticket_key *k = &out->keys[out->n];
		if (parse_key(s, n, k, why, sizeof(why)) < 0) {
			snprintf(err, errlen, "%s:%d: %s", file, line, why);
			goto fail;
		}
		for (unsigned i = 0; i < out->n; i++)
			if (memcmp(out->keys[i].name, k->name, sizeof(k->name)) == 0) {
				snprintf(err, errlen, "%s:%d: the same key name as line %d", file,
				         line, lines[i]);
				goto fail;
			}
		lines[out->n++] = line;
	}
	if (out->n == 0) {
		snprintf(err, errlen, "%s: no key (%s)", file, HINT);
		goto fail;
	}
	out->enc = tls_keys_sealing(out->n);
	return 0;
fail:
	OPENSSL_cleanse(out, sizeof(*out));
	return -1;
}

int tls_keys_read(const char *path, struct tls_ticket_keys *out, struct stat *st, char *err,
                  size_t errlen)
{
	struct stat own;
	st = st ? st : &own;
	/* no link followed, and a fifo put in its place cannot block the
	 * reader (an LB's loop, the supervisor) in open(2) or read(2) */
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NOFOLLOW | O_NONBLOCK);
	if (fd < 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	int rc = -1;
	char *text = NULL;
	size_t len = 0;
	if (fstat(fd, st) < 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		goto out;
	}
	if (!S_ISREG(st->st_mode)) {
		snprintf(err, errlen, "%s: not a regular file", path);
		goto out;
	}
	if (st->st_size > TLS_KEYS_FILE_MAX) {
		snprintf(err, errlen, "%s: larger than %d bytes", path, TLS_KEYS_FILE_MAX);
		goto out;
	}
	text = malloc(TLS_KEYS_FILE_MAX + 1);
	while (text && len <= TLS_KEYS_FILE_MAX) {
		ssize_t r = read(fd, text + len, TLS_KEYS_FILE_MAX + 1 - len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			snprintf(err, errlen, "%s: %s", path, strerror(errno));
			goto out;
		}
		if (r == 0)
			break;
		len += (size_t)r;
	}
	if (text == NULL || len > TLS_KEYS_FILE_MAX) {
		snprintf(err, errlen, "%s: %s", path, text ? "grew while read" : "out of memory");
		goto out;
	}
	rc = tls_keys_parse(text, len, path, out, err, errlen);
out:
	if (text)
		OPENSSL_cleanse(text, len);
	free(text);
	close(fd);
	return rc;
}

int tls_keys_random(struct tls_ticket_key *k)
{
	return RAND_bytes((unsigned char *)k, sizeof(*k)) == 1 ? 0 : -1;
}
