/* tls.c - TLS server connections with OpenSSL 3. See tls.h. */
#include "tls.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "daemon.h"
#include "log.h"
#include "tls_keys.h"

/* Mozilla's "intermediate" configuration (v5.7): forward-secret AEAD
 * suites only for TLS 1.2; OpenSSL's TLS 1.3 suites. */
#define CIPHERS_TLS12                                                                              \
	"ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"                               \
	"ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"                               \
	"ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:"                               \
	"DHE-RSA-AES128-GCM-SHA256:DHE-RSA-AES256-GCM-SHA384:DHE-RSA-CHACHA20-POLY1305"
#define CIPHERS_TLS13 "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256"
#define GROUPS        "X25519:prime256v1:secp384r1"

#define TLS_CHUNK        16384 /* one record's worth of plaintext */
#define SESSION_CACHE    20000 /* per worker */
#define EXPIRY_WARN_DAYS 14

/* ---- certificates ---- */

struct tls_cert {
	X509 *leaf;
	EVP_PKEY *key;
	STACK_OF(X509) * chain;
	int type; /* EVP_PKEY_EC, EVP_PKEY_RSA, ... */
};

/* A certificate's expiry, as a metric: two certificates with the same
 * labels show the earlier notAfter. */
struct tls_expiry {
	char labels[320];
	double not_after; /* seconds since the epoch */
};

struct tls_group {
	char **names; /* lower case; "*.example.com" for wildcards */
	unsigned nnames;
	char *key; /* the names joined, to find the group of a certificate */
	struct tls_cert certs[4];
	unsigned ncerts;
};

static void ssl_error_text(char *out, size_t len)
{
	unsigned long e = ERR_get_error();
	if (e == 0)
		snprintf(out, len, "unknown error");
	else
		ERR_error_string_n(e, out, len);
	ERR_clear_error();
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The certificate's DNS names (SAN, else the CN), lower case and sorted;
 * *first (if not NULL) gets a copy of the first in the certificate's own
 * order. */
static char **cert_names(X509 *x, unsigned *n, char **first)
{
	char **names = NULL;
	*n = 0;
	GENERAL_NAMES *sans = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
	int count = sans ? sk_GENERAL_NAME_num(sans) : 0;
	for (int i = 0; i < count; i++) {
		GENERAL_NAME *g = sk_GENERAL_NAME_value(sans, i);
		if (g->type != GEN_DNS)
			continue;
		const unsigned char *p = ASN1_STRING_get0_data(g->d.dNSName);
		int len = ASN1_STRING_length(g->d.dNSName);
		if (len <= 0 || memchr(p, '\0', (size_t)len))
			continue;
		names = realloc(names, (*n + 1) * sizeof(*names));
		names[*n] = strndup((const char *)p, (size_t)len);
		(*n)++;
	}
	GENERAL_NAMES_free(sans);
	if (*n == 0) {
		X509_NAME *subj = X509_get_subject_name(x);
		int i = X509_NAME_get_index_by_NID(subj, NID_commonName, -1);
		if (i >= 0) {
			ASN1_STRING *cn = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subj, i));
			unsigned char *utf8 = NULL;
			int len = ASN1_STRING_to_UTF8(&utf8, cn);
			if (len > 0) {
				names = malloc(sizeof(*names));
				names[0] = strndup((const char *)utf8, (size_t)len);
				*n = 1;
			}
			OPENSSL_free(utf8);
		}
	}
	for (unsigned i = 0; i < *n; i++)
		for (char *c = names[i]; *c; c++)
			*c = (char)tolower((unsigned char)*c);
	if (first)
		*first = *n ? xstrdup(names[0]) : NULL;
	if (*n > 1)
		qsort(names, *n, sizeof(*names), cmp_str);
	return names;
}

static void cert_free(struct tls_cert *c)
{
	X509_free(c->leaf);
	EVP_PKEY_free(c->key);
	sk_X509_pop_free(c->chain, X509_free);
	memset(c, 0, sizeof(*c));
}

static void warn_expiry(const char *path, X509 *x)
{
	int days = 0, secs = 0;
	if (!ASN1_TIME_diff(&days, &secs, NULL, X509_get0_notAfter(x)))
		return;
	if (days < 0 || (days == 0 && secs < 0))
		log_warn("%s: the certificate has expired", path);
	else if (days < EXPIRY_WARN_DAYS)
		log_warn("%s: the certificate expires in %d days", path, days);
}

static int load_cert(const struct tls_cert_conf *sc, struct tls_cert *out, char *err, size_t errlen)
{
	char why[256];
	memset(out, 0, sizeof(*out));
	BIO *b = BIO_new_file(sc->cert, "r");
	if (b == NULL) {
		snprintf(err, errlen, "tls_cert %s: cannot open: %s", sc->cert, strerror(errno));
		ERR_clear_error();
		return -1;
	}
	out->leaf = PEM_read_bio_X509(b, NULL, NULL, NULL);
	if (out->leaf == NULL) {
		ssl_error_text(why, sizeof(why));
		snprintf(err, errlen, "tls_cert %s: no PEM certificate in it (%s)", sc->cert, why);
		BIO_free(b);
		return -1;
	}
	out->chain = sk_X509_new_null();
	X509 *x;
	while ((x = PEM_read_bio_X509(b, NULL, NULL, NULL)) != NULL)
		sk_X509_push(out->chain, x);
	ERR_clear_error(); /* the end of the file */
	BIO *kb = b;
	if (sc->key) {
		kb = BIO_new_file(sc->key, "r");
		if (kb == NULL) {
			snprintf(err, errlen, "tls_cert key %s: cannot open: %s", sc->key,
			         strerror(errno));
			ERR_clear_error();
			BIO_free(b);
			cert_free(out);
			return -1;
		}
	} else {
		(void)BIO_reset(b);
	}
	out->key = PEM_read_bio_PrivateKey(kb, NULL, NULL, NULL);
	if (kb != b)
		BIO_free(kb);
	BIO_free(b);
	const char *kpath = sc->key ? sc->key : sc->cert;
	if (out->key == NULL) {
		ssl_error_text(why, sizeof(why));
		snprintf(err, errlen, "tls_cert %s: no PEM private key in it (%s)", kpath, why);
		cert_free(out);
		return -1;
	}
	if (X509_check_private_key(out->leaf, out->key) != 1) {
		ERR_clear_error();
		snprintf(err, errlen, "tls_cert %s: the key in %s is not the certificate's",
		         sc->cert, kpath);
		cert_free(out);
		return -1;
	}
	out->type = EVP_PKEY_get_base_id(out->key);
	warn_expiry(sc->cert, out->leaf);
	return 0;
}

static const char *key_type(int type)
{
	switch (type) {
	case EVP_PKEY_EC:
		return "ecdsa";
	case EVP_PKEY_RSA:
		return "rsa";
	case EVP_PKEY_ED25519:
		return "ed25519";
	case EVP_PKEY_ED448:
		return "ed448";
	default:
		return "other";
	}
}

/* Note the certificate's expiry under its first name and key type. */
static void expiry_add(struct tls_site *site, const char *name, const struct tls_cert *c)
{
	struct tm tm;
	if (!ASN1_TIME_to_tm(X509_get0_notAfter(c->leaf), &tm)) {
		ERR_clear_error();
		return;
	}
	double t = (double)timegm(&tm);
	char value[256], labels[sizeof(site->expiry->labels)];
	metrics_label_escape(value, sizeof(value), name);
	snprintf(labels, sizeof(labels), "name=\"%s\",key_type=\"%s\"", value, key_type(c->type));
	for (unsigned i = 0; i < site->nexpiry; i++)
		if (strcmp(site->expiry[i].labels, labels) == 0) {
			site->expiry[i].not_after = MIN(site->expiry[i].not_after, t);
			return;
		}
	site->expiry = xrealloc(site->expiry, (site->nexpiry + 1) * sizeof(*site->expiry));
	struct tls_expiry *e = &site->expiry[site->nexpiry++];
	snprintf(e->labels, sizeof(e->labels), "%s", labels);
	e->not_after = t;
}

int tls_site_load(struct tls_site *site, const struct tls_cert_conf *certs, unsigned n,
                  uint64_t rotate_ms, char *err, size_t errlen)
{
	memset(site, 0, sizeof(*site));
	site->rotate_ms = rotate_ms;
	site->tickets = true;
	site->cache_size = SESSION_CACHE;
	site->groups = xcalloc(n ? n : 1, sizeof(*site->groups));
	for (unsigned i = 0; i < n; i++) {
		struct tls_cert c;
		if (load_cert(&certs[i], &c, err, errlen) < 0)
			goto fail;
		unsigned nn;
		char *first = NULL;
		char **names = cert_names(c.leaf, &nn, &first);
		if (nn == 0) {
			snprintf(err, errlen, "tls_cert %s: the certificate names no host",
			         certs[i].cert);
			cert_free(&c);
			free(names);
			goto fail;
		}
		expiry_add(site, first, &c);
		free(first);
		size_t klen = 1;
		for (unsigned k = 0; k < nn; k++)
			klen += strlen(names[k]) + 1;
		char *key = xmalloc(klen);
		key[0] = '\0';
		for (unsigned k = 0; k < nn; k++) {
			strcat(key, names[k]);
			strcat(key, ",");
		}
		struct tls_group *g = NULL;
		for (unsigned k = 0; k < site->ngroups; k++)
			if (strcmp(site->groups[k].key, key) == 0)
				g = &site->groups[k];
		if (g == NULL) {
			g = &site->groups[site->ngroups++];
			g->names = names;
			g->nnames = nn;
			g->key = key;
		} else {
			for (unsigned k = 0; k < nn; k++)
				free(names[k]);
			free(names);
			free(key);
		}
		for (unsigned k = 0; k < g->ncerts; k++)
			if (g->certs[k].type == c.type) {
				snprintf(
				    err, errlen,
				    "tls_cert %s: a certificate of the same key type for the same "
				    "names is already loaded",
				    certs[i].cert);
				cert_free(&c);
				goto fail;
			}
		if (g->ncerts == ARRAY_SIZE(g->certs)) {
			snprintf(err, errlen,
			         "tls_cert %s: too many certificates for the same names",
			         certs[i].cert);
			cert_free(&c);
			goto fail;
		}
		g->certs[g->ncerts++] = c;
	}
	return 0;
fail:
	tls_site_free(site);
	return -1;
}

void tls_site_resumption(struct tls_site *site, bool tickets, unsigned cache_size)
{
	site->tickets = tickets;
	site->cache_size = cache_size;
}

void tls_site_free(struct tls_site *site)
{
	for (unsigned i = 0; i < site->ngroups; i++) {
		struct tls_group *g = &site->groups[i];
		for (unsigned k = 0; k < g->ncerts; k++)
			cert_free(&g->certs[k]);
		for (unsigned k = 0; k < g->nnames; k++)
			free(g->names[k]);
		free(g->names);
		free(g->key);
	}
	free(site->groups);
	free(site->expiry);
	memset(site, 0, sizeof(*site));
}

/* ---- session ticket keys: one set for the process ----
 *
 * The keys of a file (tls_ticket_keys_use: the LBs of a pair share it), or
 * else a ring made here: a current key and the previous one, rotated every
 * rotate_ms. Every worker and generation seals with the same keys. */

struct ring_key {
	struct tls_ticket_key k;
	uint64_t born; /* monotonic ms */
};

static struct {
	pthread_mutex_t lock;
	struct ring_key keys[2]; /* current, previous */
	bool ready;
	uint64_t rotate_ms;
	struct tls_ticket_keys file; /* the file's keys, when from_file */
	bool from_file;
} ring = { .lock = PTHREAD_MUTEX_INITIALIZER };

static uint64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void key_new(struct ring_key *k, uint64_t now)
{
	if (tls_keys_random(&k->k) < 0) {
		log_error("no randomness for TLS ticket keys");
		abort();
	}
	k->born = now;
}

/* The ring's keys, rotated when due; under ring.lock. */
static void ring_turn(void)
{
	uint64_t now = mono_ms();
	if (!ring.ready) {
		key_new(&ring.keys[0], now);
		key_new(&ring.keys[1], now); /* a random key no ticket carries */
		ring.ready = true;
	} else if (now - ring.keys[0].born >= ring.rotate_ms) {
		ring.keys[1] = ring.keys[0];
		key_new(&ring.keys[0], now);
	}
}

void tls_ticket_keys_use(const struct tls_ticket_keys *keys)
{
	pthread_mutex_lock(&ring.lock);
	ring.from_file = keys != NULL;
	if (keys)
		ring.file = *keys;
	else
		OPENSSL_cleanse(&ring.file, sizeof(ring.file));
	pthread_mutex_unlock(&ring.lock);
}

/* A copy of the key that seals new tickets. */
static void ring_sealing(struct tls_ticket_key *out)
{
	pthread_mutex_lock(&ring.lock);
	if (ring.from_file) {
		*out = ring.file.keys[ring.file.enc];
	} else {
		ring_turn();
		*out = ring.keys[0].k;
	}
	pthread_mutex_unlock(&ring.lock);
}

/* A copy of the key named name; false when there is none such. */
static bool ring_find(const unsigned char name[16], struct tls_ticket_key *out)
{
	bool found = false;
	pthread_mutex_lock(&ring.lock);
	if (!ring.from_file)
		ring_turn();
	unsigned n = ring.from_file ? ring.file.n : 2;
	for (unsigned i = 0; i < n && !found; i++) {
		const struct tls_ticket_key *k =
		    ring.from_file ? &ring.file.keys[i] : &ring.keys[i].k;
		if (memcmp(name, k->name, sizeof(k->name)) == 0) {
			*out = *k;
			found = true;
		}
	}
	pthread_mutex_unlock(&ring.lock);
	return found;
}

static int set_mac(EVP_MAC_CTX *hctx, unsigned char *key)
{
	OSSL_PARAM params[] = {
		OSSL_PARAM_construct_octet_string(OSSL_MAC_PARAM_KEY, key, 32),
		OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)"sha256", 0),
		OSSL_PARAM_construct_end(),
	};
	return EVP_MAC_CTX_set_params(hctx, params) == 1 ? 0 : -1;
}

static int ticket_cb(SSL *ssl, unsigned char name[16], unsigned char *iv, EVP_CIPHER_CTX *cctx,
                     EVP_MAC_CTX *hctx, int enc)
{
	(void)ssl;
	struct tls_ticket_key key;
	int rc = -1;
	if (enc) {
		ring_sealing(&key);
		memcpy(name, key.name, 16);
		if (RAND_bytes(iv, 16) == 1 &&
		    EVP_EncryptInit_ex(cctx, EVP_aes_256_cbc(), NULL, key.aes, iv) == 1 &&
		    set_mac(hctx, key.hmac) == 0)
			rc = 1;
	} else if (!ring_find(name, &key)) {
		rc = 0; /* unknown key: a full handshake */
	} else if (EVP_DecryptInit_ex(cctx, EVP_aes_256_cbc(), NULL, key.aes, iv) != 1 ||
	           set_mac(hctx, key.hmac) < 0) {
		rc = -1;
	} else {
		/* 2: good, and issue a fresh ticket: under the sealing key, and
		 * in TLS 1.3 at all (a client uses a ticket once; without a new
		 * one its next connection would be a full handshake) */
		rc = 2;
	}
	OPENSSL_cleanse(&key, sizeof(key));
	return rc;
}

/* ---- per-connection state, counters ---- */

struct tls_conn {
	SSL *ssl;
	struct tls_worker *tw;
	struct conn *c;
	bool counted; /* the handshake's outcome is in the metrics */
	bool shut;    /* close_notify sent */
	bool drained; /* the last read from the socket came back short */
	bool heard;   /* the client sent something: a handshake began */
};

/* ---- the socket under OpenSSL: a BIO of our own ----
 *
 * OpenSSL reads ahead (a record's header and body, and whatever follows,
 * in one read()), and this BIO notes when a read came back short: the
 * socket is then drained, and with edge-triggered epoll a read that would
 * only say EAGAIN can be skipped, as conn.c does for plain connections. */

static BIO_METHOD *bio_method;
static pthread_once_t bio_once = PTHREAD_ONCE_INIT;

static int bio_read(BIO *b, char *p, int n)
{
	struct tls_conn *t = BIO_get_data(b);
	BIO_clear_retry_flags(b);
	for (;;) {
		ssize_t r = read(t->c->io.fd, p, (size_t)n);
		if (r >= 0) {
			t->drained = r < n;
			t->heard |= r > 0;
			return (int)r;
		}
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN) {
			t->drained = true;
			BIO_set_retry_read(b);
		}
		return -1;
	}
}

static int bio_write(BIO *b, const char *p, int n)
{
	struct tls_conn *t = BIO_get_data(b);
	BIO_clear_retry_flags(b);
	for (;;) {
		ssize_t r = send(t->c->io.fd, p, (size_t)n, MSG_NOSIGNAL);
		if (r >= 0) {
			if (r < n)
				t->c->io.ready &= ~IO_WRITE;
			return (int)r;
		}
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN)
			BIO_set_retry_write(b);
		return -1;
	}
}

static long bio_ctrl(BIO *b, int cmd, long num, void *ptr)
{
	(void)b;
	(void)num;
	(void)ptr;
	return cmd == BIO_CTRL_FLUSH ? 1 : 0;
}

static int bio_create(BIO *b)
{
	BIO_set_init(b, 1);
	return 1;
}

static void bio_method_make(void)
{
	bio_method = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "tristack socket");
	if (bio_method == NULL || !BIO_meth_set_read(bio_method, bio_read) ||
	    !BIO_meth_set_write(bio_method, bio_write) ||
	    !BIO_meth_set_ctrl(bio_method, bio_ctrl) ||
	    !BIO_meth_set_create(bio_method, bio_create)) {
		log_error("cannot make the TLS socket BIO");
		abort();
	}
}

enum {
	SLOT_FULL,
	SLOT_RESUMED,
	SLOT_FAILED0,
	SLOT_TLS12 = SLOT_FAILED0 + TLS_FAIL_COUNT,
	SLOT_TLS13
};

static void count(struct tls_worker *tw, int slot)
{
	if (tw->w && tw->w->shard && tw->slots[slot] >= 0)
		metrics_add(tw->w->shard, tw->slots[slot], 1);
}

static void count_failure(struct tls_conn *t, enum tls_fail why)
{
	if (t->counted)
		return;
	t->counted = true;
	count(t->tw, SLOT_FAILED0 + (int)why);
	log_debug("TLS handshake failed (%d)", (int)why);
}

static enum tls_fail fail_reason(unsigned long e)
{
	if (ERR_GET_LIB(e) != ERR_LIB_SSL)
		return TLS_FAIL_OTHER;
	switch (ERR_GET_REASON(e)) {
	case SSL_R_UNSUPPORTED_PROTOCOL:
	case SSL_R_VERSION_TOO_LOW:
	case SSL_R_TLSV1_ALERT_PROTOCOL_VERSION:
		return TLS_FAIL_PROTOCOL;
	case SSL_R_NO_SHARED_CIPHER:
	case SSL_R_NO_SHARED_GROUPS:
	case SSL_R_NO_SUITABLE_SIGNATURE_ALGORITHM:
	case SSL_R_NO_SHARED_SIGNATURE_ALGORITHMS:
	case SSL_R_NO_CIPHERS_AVAILABLE:
		return TLS_FAIL_CIPHER;
	case SSL_R_HTTP_REQUEST:
	case SSL_R_HTTPS_PROXY_REQUEST:
		return TLS_FAIL_HTTP;
	default:
		return TLS_FAIL_BAD_MESSAGE;
	}
}

static void info_cb(const SSL *ssl, int where, int ret)
{
	(void)ret;
	if (!(where & SSL_CB_HANDSHAKE_DONE))
		return;
	struct tls_conn *t = SSL_get_app_data(ssl);
	if (t == NULL || t->counted)
		return; /* TLS 1.3 says "done" again after each ticket it sends */
	t->counted = true;
	count(t->tw, SSL_session_reused(ssl) ? SLOT_RESUMED : SLOT_FULL);
	count(t->tw, SSL_version(ssl) == TLS1_3_VERSION ? SLOT_TLS13 : SLOT_TLS12);
}

static int alpn_cb(SSL *ssl, const unsigned char **out, unsigned char *outlen,
                   const unsigned char *in, unsigned int inlen, void *arg)
{
	static const unsigned char http11[] = "\x08http/1.1";
	(void)ssl;
	(void)arg;
	unsigned char *sel;
	if (SSL_select_next_proto(&sel, outlen, http11, sizeof(http11) - 1, in, inlen) !=
	    OPENSSL_NPN_NEGOTIATED)
		return SSL_TLSEXT_ERR_NOACK; /* h2 only: go on without ALPN, as HAProxy */
	*out = sel;
	return SSL_TLSEXT_ERR_OK;
}

static bool name_matches(const char *pattern, const char *host)
{
	if (strcmp(pattern, host) == 0)
		return true;
	if (pattern[0] != '*' || pattern[1] != '.')
		return false;
	const char *dot = strchr(host, '.');
	return dot && dot != host && strcmp(dot, pattern + 1) == 0;
}

static int sni_cb(SSL *ssl, int *alert, void *arg)
{
	struct tls_worker *tw = arg;
	(void)alert;
	const char *name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
	if (name == NULL || tw->site->ngroups < 2)
		return SSL_TLSEXT_ERR_OK;
	char host[256];
	size_t n = strlen(name);
	if (n >= sizeof(host))
		return SSL_TLSEXT_ERR_OK;
	for (size_t i = 0; i <= n; i++)
		host[i] = (char)tolower((unsigned char)name[i]);
	/* exact names first, then wildcards */
	for (int wild = 0; wild < 2; wild++)
		for (unsigned g = 0; g < tw->site->ngroups; g++) {
			const struct tls_group *gr = &tw->site->groups[g];
			for (unsigned k = 0; k < gr->nnames; k++) {
				bool is_wild = gr->names[k][0] == '*';
				if (is_wild != (wild == 1) || !name_matches(gr->names[k], host))
					continue;
				if (g != 0)
					SSL_set_SSL_CTX(ssl, tw->ctx[g]);
				return SSL_TLSEXT_ERR_OK;
			}
		}
	return SSL_TLSEXT_ERR_OK; /* the default certificate */
}

/* ---- per worker ---- */

static SSL_CTX *make_ctx(struct tls_worker *tw, const struct tls_group *g, char *err, size_t errlen)
{
	char why[256];
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
	if (ctx == NULL)
		goto ssl_fail;
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION);
	/* Our order of ciphers wins (as HAProxy's default), ChaCha20 first for
	 * the clients that put it first (no AES instructions). */
	SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION |
	                             SSL_OP_IGNORE_UNEXPECTED_EOF | SSL_OP_NO_TLSv1 |
	                             SSL_OP_NO_TLSv1_1 | SSL_OP_CIPHER_SERVER_PREFERENCE |
	                             SSL_OP_PRIORITIZE_CHACHA);
	SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
	                          SSL_MODE_ENABLE_PARTIAL_WRITE);
	SSL_CTX_set_read_ahead(ctx, 1); /* a record and what follows in one read() */
	if (SSL_CTX_set_cipher_list(ctx, CIPHERS_TLS12) != 1 ||
	    SSL_CTX_set_ciphersuites(ctx, CIPHERS_TLS13) != 1 ||
	    SSL_CTX_set1_groups_list(ctx, GROUPS) != 1)
		goto ssl_fail;
	SSL_CTX_set_dh_auto(ctx, 1);
	SSL_CTX_set_session_id_context(ctx, (const unsigned char *)"tristack", 8);
	if (tw->site->cache_size) {
		SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_SERVER);
		SSL_CTX_sess_set_cache_size(ctx, tw->site->cache_size);
	} else {
		SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	}
	if (!tw->site->tickets) {
		SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
		if (tw->site->cache_size == 0)
			SSL_CTX_set_num_tickets(ctx, 0); /* nothing could resume them */
	}
	/* a session lives as long as its ticket key: two rotations */
	SSL_CTX_set_timeout(ctx, (long)(tw->site->rotate_ms * 2 / 1000));
	SSL_CTX_set_tlsext_ticket_key_evp_cb(ctx, ticket_cb);
	SSL_CTX_set_alpn_select_cb(ctx, alpn_cb, NULL);
	SSL_CTX_set_info_callback(ctx, info_cb);
	SSL_CTX_set_tlsext_servername_callback(ctx, sni_cb);
	SSL_CTX_set_tlsext_servername_arg(ctx, tw);
	for (unsigned k = 0; k < g->ncerts; k++) {
		const struct tls_cert *c = &g->certs[k];
		if (SSL_CTX_use_cert_and_key(ctx, c->leaf, c->key, c->chain, 1) != 1)
			goto ssl_fail;
	}
	return ctx;
ssl_fail:
	ssl_error_text(why, sizeof(why));
	snprintf(err, errlen, "TLS set-up: %s", why);
	SSL_CTX_free(ctx);
	return NULL;
}

int tls_worker_init(struct tls_worker *tw, const struct tls_site *site, struct worker *w, char *err,
                    size_t errlen)
{
	memset(tw, 0, sizeof(*tw));
	tw->site = site;
	tw->w = w;
	pthread_mutex_lock(&ring.lock);
	ring.rotate_ms = site->rotate_ms;
	pthread_mutex_unlock(&ring.lock);
	const struct tls_metrics *m = &site->m;
	int ids[] = { m->full,      m->resumed,   m->failed[0], m->failed[1], m->failed[2],
		      m->failed[3], m->failed[4], m->failed[5], m->tls12,     m->tls13 };
	_Static_assert(ARRAY_SIZE(ids) == ARRAY_SIZE(tw->slots), "one slot per counter");
	for (size_t i = 0; i < ARRAY_SIZE(ids); i++)
		tw->slots[i] =
		    w && w->d->metrics && m->defined ? metrics_slot(w->d->metrics, ids[i]) : -1;
	tw->ctx = xcalloc(site->ngroups, sizeof(*tw->ctx));
	for (unsigned g = 0; g < site->ngroups; g++) {
		tw->ctx[g] = make_ctx(tw, &site->groups[g], err, errlen);
		if (tw->ctx[g] == NULL) {
			tls_worker_free(tw);
			return -1;
		}
	}
	return 0;
}

void tls_worker_free(struct tls_worker *tw)
{
	if (tw->ctx)
		for (unsigned g = 0; g < tw->site->ngroups; g++)
			SSL_CTX_free(tw->ctx[g]);
	free(tw->ctx);
	tw->ctx = NULL;
}

static double expiry_value(void *arg)
{
	return ((const struct tls_expiry *)arg)->not_after;
}

void tls_metrics_define(struct tls_site *site, struct metrics *m, const char *prefix)
{
	static const char *const reasons[TLS_FAIL_COUNT] = {
		"protocol_version", "no_shared_cipher", "http_request",
		"bad_message",      "aborted",          "other",
	};
	char name[128], labels[64];
	snprintf(name, sizeof(name), "%s_tls_handshakes_total", prefix);
	const char *h = "TLS handshakes completed, full or resumed (session id or ticket)";
	site->m.full = metrics_counter(m, name, h, "type=\"full\"");
	site->m.resumed = metrics_counter(m, name, h, "type=\"resumed\"");
	snprintf(name, sizeof(name), "%s_tls_handshake_failures_total", prefix);
	for (int i = 0; i < TLS_FAIL_COUNT; i++) {
		snprintf(labels, sizeof(labels), "reason=\"%s\"", reasons[i]);
		site->m.failed[i] =
		    metrics_counter(m, name, "TLS handshakes that failed, by reason", labels);
	}
	snprintf(name, sizeof(name), "%s_tls_handshakes_by_version_total", prefix);
	h = "TLS handshakes completed, by protocol version";
	site->m.tls12 = metrics_counter(m, name, h, "version=\"TLSv1.2\"");
	site->m.tls13 = metrics_counter(m, name, h, "version=\"TLSv1.3\"");
	snprintf(name, sizeof(name), "%s" TLS_METRIC_CERT_EXPIRY, prefix);
	for (unsigned i = 0; i < site->nexpiry; i++)
		metrics_gauge_fn(m, name,
		                 "When a loaded certificate expires (its notAfter), in seconds "
		                 "since the epoch",
		                 site->expiry[i].labels, expiry_value, &site->expiry[i]);
	site->m.defined = true;
}

/* ---- the connection ---- */

int conn_tls_accept(struct conn *c, struct tls_worker *tw)
{
	struct tls_conn *t = malloc(sizeof(*t));
	if (t == NULL)
		return -1;
	pthread_once(&bio_once, bio_method_make);
	t->ssl = SSL_new(tw->ctx[0]);
	BIO *bio = t->ssl ? BIO_new(bio_method) : NULL;
	if (bio == NULL) {
		ERR_clear_error();
		SSL_free(t->ssl);
		free(t);
		return -1;
	}
	BIO_set_data(bio, t);
	SSL_set_bio(t->ssl, bio, bio);
	t->tw = tw;
	t->c = c;
	t->counted = t->shut = t->drained = t->heard = false;
	SSL_set_app_data(t->ssl, t);
	SSL_set_accept_state(t->ssl);
	c->tls = t;
	c->ops = &conn_tls_ops;
	return 0;
}

/* What an SSL call that did not succeed means for the caller. */
static ssize_t tls_result(struct conn *c, struct tls_conn *t, int r)
{
	int e = SSL_get_error(t->ssl, r);
	switch (e) {
	case SSL_ERROR_WANT_READ:
		c->io.ready &= ~IO_READ;
		return TS_AGAIN;
	case SSL_ERROR_WANT_WRITE:
		c->io.ready &= ~IO_WRITE;
		return TS_AGAIN;
	case SSL_ERROR_ZERO_RETURN:
		if (!SSL_is_init_finished(t->ssl) && t->heard)
			count_failure(t, TLS_FAIL_ABORTED);
		return 0;
	case SSL_ERROR_SYSCALL:
		if (!SSL_is_init_finished(t->ssl) && t->heard)
			count_failure(t, TLS_FAIL_ABORTED);
		ERR_clear_error();
		if (errno == 0)
			return 0; /* EOF */
		return TS_ERROR;
	default:
		if (!SSL_is_init_finished(t->ssl))
			count_failure(t, fail_reason(ERR_peek_last_error()));
		ERR_clear_error();
		errno = EPROTO;
		return TS_ERROR;
	}
}

static ssize_t tls_read(struct conn *c, char *p, size_t n)
{
	struct tls_conn *t = c->tls;
	ERR_clear_error();
	errno = 0;
	t->drained = false; /* only a short read made by this call counts */
	int r = SSL_read(t->ssl, p, (int)MIN(n, (size_t)INT_MAX));
	if (r > 0) {
		/* nothing buffered and the socket drained by this very call: the
		 * next read would only say EAGAIN (else the bit stays: records
		 * may be left, or bytes came after an earlier short read) */
		if (t->drained && !SSL_has_pending(t->ssl))
			c->io.ready &= ~IO_READ;
		return r;
	}
	return tls_result(c, t, r);
}

static ssize_t tls_write(struct conn *c, struct tls_conn *t, const void *p, size_t n)
{
	ERR_clear_error();
	errno = 0;
	int r = SSL_write(t->ssl, p, (int)MIN(n, (size_t)INT_MAX));
	if (r > 0)
		return r;
	ssize_t res = tls_result(c, t, r);
	if (res == 0) {
		errno = EPIPE;
		return TS_ERROR;
	}
	return res;
}

/* A record per call: small pieces are gathered first, so a head and its
 * body go out as one record (one write). After TS_AGAIN the caller comes
 * back with the same bytes first, as OpenSSL wants. */
static ssize_t tls_writev(struct conn *c, const struct iovec *iov, int iovcnt, unsigned flags)
{
	struct tls_conn *t = c->tls;
	(void)flags;
	if (iovcnt == 1 || iov[0].iov_len >= TLS_CHUNK)
		return tls_write(c, t, iov[0].iov_base, iov[0].iov_len);
	char chunk[TLS_CHUNK];
	size_t n = 0;
	for (int i = 0; i < iovcnt && n < sizeof(chunk); i++) {
		size_t k = MIN(iov[i].iov_len, sizeof(chunk) - n);
		memcpy(chunk + n, iov[i].iov_base, k);
		n += k;
	}
	return tls_write(c, t, chunk, n);
}

static ssize_t tls_sendfile(struct conn *c, int fd, off_t *off, size_t n)
{
	struct tls_conn *t = c->tls;
	char chunk[TLS_CHUNK];
	ssize_t got = pread(fd, chunk, MIN(n, sizeof(chunk)), *off);
	if (got <= 0)
		return got < 0 ? TS_ERROR : 0;
	ssize_t w = tls_write(c, t, chunk, (size_t)got);
	if (w > 0)
		*off += w;
	return w;
}

static void tls_release(struct conn *c)
{
	struct tls_conn *t = c->tls;
	if (t == NULL)
		return;
	/* a connection that never said a word (a port scan, a TCP check) is
	 * not a failed handshake */
	if (!SSL_is_init_finished(t->ssl) && t->heard)
		count_failure(t, TLS_FAIL_ABORTED);
	if (SSL_is_init_finished(t->ssl) && !t->shut) {
		ERR_clear_error();
		(void)SSL_shutdown(t->ssl); /* close_notify, if the socket takes it */
		ERR_clear_error();
	}
	SSL_free(t->ssl);
	free(t);
	c->tls = NULL;
	c->ops = &conn_plain_ops;
}

void conn_shutdown_write(struct conn *c)
{
	struct tls_conn *t = c->tls;
	if (t && SSL_is_init_finished(t->ssl) && !t->shut) {
		t->shut = true;
		ERR_clear_error();
		(void)SSL_shutdown(t->ssl);
		ERR_clear_error();
	}
	shutdown(c->io.fd, SHUT_WR);
}

const char *conn_tls_version(const struct conn *c)
{
	const struct tls_conn *t = c->tls;
	if (t == NULL || !SSL_is_init_finished(t->ssl))
		return NULL;
	return SSL_get_version(t->ssl);
}

const struct conn_ops conn_tls_ops = {
	.read = tls_read,
	.writev = tls_writev,
	.sendfile = tls_sendfile,
	.release = tls_release,
};
