/* tls.h - TLS on the event loop's connections (OpenSSL 3), server side.
 *
 * A site is the certificates of a listener, loaded once per generation:
 * each file's names (subjectAltName DNS entries, else the CN) make a group,
 * and an ECDSA and an RSA certificate for the same names share one (the
 * client gets the one its ClientHello can use). SNI picks the group by host
 * name (exact, then "*.domain"); no match gets the first group.
 *
 * Each worker builds its own SSL_CTXs from the site (so its session cache
 * is its own: no lock between workers) with today's safe defaults: TLS 1.2
 * and 1.3 only, Mozilla's "intermediate" ciphers for 1.2, X25519/P-256/
 * P-384, no renegotiation, no compression, ALPN http/1.1. Session tickets
 * are sealed with keys every worker shares (so a ticket works on any
 * worker, and across reloads): a key file's (tls_ticket_keys_use; the LBs
 * of a pair read the same file, tls_keys.h), else keys made in the process
 * that rotate every `rotate` ms; a ticket stays good for two rotations.
 *
 * A TLS connection is a struct conn with conn_tls_ops: the handshake runs
 * inside the first reads, so the connection's owner (httpd) does not know.
 * Idle connections hold no TLS buffers (SSL_MODE_RELEASE_BUFFERS).
 */
#ifndef TS_TLS_H
#define TS_TLS_H

#include <stdbool.h>
#include <stdint.h>

#include "conn.h"
#include "metrics.h"
#include "tls_conf.h"

struct worker;
struct tls_ticket_keys;

enum tls_fail {
	TLS_FAIL_PROTOCOL,    /* a version we refuse (1.1, 1.0, SSLv3) */
	TLS_FAIL_CIPHER,      /* no cipher or group in common */
	TLS_FAIL_HTTP,        /* plain HTTP sent to the TLS port */
	TLS_FAIL_BAD_MESSAGE, /* not TLS, or a malformed handshake */
	TLS_FAIL_ABORTED,     /* closed, reset or timed out mid-handshake */
	TLS_FAIL_OTHER,
	TLS_FAIL_COUNT
};

struct tls_metrics {
	bool defined;
	int full, resumed;
	int failed[TLS_FAIL_COUNT];
	int tls12, tls13;
};

struct tls_cert;
struct tls_group;
struct tls_expiry;

struct tls_site {
	struct tls_group *groups;
	unsigned ngroups;
	uint64_t rotate_ms;
	bool tickets;        /* resumption by ticket (else none in TLS 1.3 without a cache) */
	unsigned cache_size; /* per worker; 0: no session cache */
	struct tls_metrics m;
	struct tls_expiry *expiry; /* one per (name, key type) of the certificates */
	unsigned nexpiry;
};

/* Per worker. */
struct tls_worker {
	const struct tls_site *site;
	struct worker *w;
	struct ssl_ctx_st **ctx;           /* one per group */
	int slots[2 + TLS_FAIL_COUNT + 2]; /* metric slots, in tls_metrics order */
};

/* Load the certificate files (paths already resolved). Returns 0, or -1
 * with err naming the file and what is wrong. */
int tls_site_load(struct tls_site *site, const struct tls_cert_conf *certs, unsigned n,
                  uint64_t rotate_ms, char *err, size_t errlen);
/* Then, before the workers start: resumption settings (defaults: tickets
 * on, a 20000-session cache). */
void tls_site_resumption(struct tls_site *site, bool tickets, unsigned cache_size);
void tls_site_free(struct tls_site *site);
/* Seal and open session tickets with keys (copied; keys->enc seals), from
 * now on in every worker of the process; NULL: with keys of the process's
 * own making (the default). Any thread. */
void tls_ticket_keys_use(const struct tls_ticket_keys *keys);
/* The handshake counters, prefix "tristack_lb", and each certificate's
 * notAfter: <prefix>_tls_certificate_expiry_timestamp_seconds{name, key_type}
 * (name: its first DNS subjectAltName, else its CN; a gauge read from the
 * site, so a reload's site replaces the old one's). */
#define TLS_METRIC_CERT_EXPIRY "_tls_certificate_expiry_timestamp_seconds"
void tls_metrics_define(struct tls_site *site, struct metrics *m, const char *prefix);

int tls_worker_init(struct tls_worker *tw, const struct tls_site *site, struct worker *w, char *err,
                    size_t errlen);
void tls_worker_free(struct tls_worker *tw);

/* Make an accepted connection (conn_init done) a TLS server connection. */
int conn_tls_accept(struct conn *c, struct tls_worker *tw);
static inline bool conn_is_tls(const struct conn *c)
{
	return c->tls != NULL;
}
/* Send close_notify (best effort), then shut the socket's write side. */
void conn_shutdown_write(struct conn *c);

/* The negotiated protocol ("TLSv1.3"), NULL when not TLS or not yet. */
const char *conn_tls_version(const struct conn *c);

extern const struct conn_ops conn_tls_ops;

/* Where the LB publishes the local CA's revocation list (the certificates
 * `tristack up` makes name it), from {state}/tls/ca.crl. */
#define TS_CRL_PATH "/.well-known/tristack/ca.crl"

#endif
