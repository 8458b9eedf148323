/* lb_conf.h - the [lb] section of the stack file: its struct and key table
 * (lb_conf.c), documented in docs/configuration.md. */
#ifndef TS_LB_CONF_H
#define TS_LB_CONF_H

#include <stdbool.h>
#include <stdint.h>

#include "core/cfg.h"
#include "core/http_conf.h"
#include "core/net.h"
#include "core/tls_conf.h"

#define LB_MAX_SERVERS 64
#define LB_WEIGHT_MAX  256 /* a server's weight= is 0..LB_WEIGHT_MAX */

enum lb_balance { LB_ROUNDROBIN, LB_LEASTCONN, LB_FIRST };

struct lb_server_conf {
	char *name;   /* host name, or the address as written */
	char *target; /* as written: host:port or ip:port */
	struct addr addr;
	unsigned weight;
	bool backup;
	unsigned maxconn; /* 0 = no limit */
	int line;
};

/* The active health check of every server. */
struct lb_check_conf {
	bool enabled; /* a `check` line is present */
	char *method, *path, *host;
	uint64_t interval, timeout; /* ms */
	unsigned rise, fall;
	int expect_lo, expect_hi; /* accepted status range */
	int line;
};

/* A request rate: count per period_ms, with burst requests at once from a
 * fresh start ("100/s burst 200"). count 0: off. */
struct lb_rate {
	uint32_t count;
	uint32_t period_ms; /* 1000 (/s) or 60000 (/m) */
	uint32_t burst;
};

/* Ports a client reached the LB's plain listener on, through a mapping
 * (the isolated lab's forwarder publishes :80 as 127.0.0.1:8080), and the
 * HTTPS port to send it to there: "8080:8443". */
#define LB_PORTMAP_MAX 4
struct lb_portmap {
	unsigned n;
	uint16_t from[LB_PORTMAP_MAX], to[LB_PORTMAP_MAX];
};

struct lb_conf {
	struct http_conf http;
	char *tls_listen; /* "" = no HTTPS */
	struct tls_cert_conf tls_certs[TLS_MAX_CERTS];
	unsigned ntls_certs;        /* 0: the ones `tristack up` makes */
	uint64_t hsts;              /* Strict-Transport-Security max-age, ms; 0 = none */
	uint64_t tls_ticket_rotate; /* session ticket keys change this often */
	char *tls_ticket_keys;      /* "auto", a key file, or "" (the process's own keys) */
	char *acme_directory;       /* an ACME CA's directory URL; "" = ACME off (src/ctl/acme.c) */
	char *acme_email;           /* the ACME account's contact; "" = none */
	bool tls_tickets;           /* resumption by session ticket */
	int64_t tls_session_cache;  /* sessions each worker keeps for resumption by id; 0 = none */
	int64_t balance;            /* enum lb_balance */
	struct lb_server_conf servers[LB_MAX_SERVERS];
	unsigned nservers;
	uint64_t timeout_connect;
	uint64_t timeout_server;
	uint64_t timeout_server_keep_alive; /* idle pooled backend connections */
	uint64_t timeout_queue;
	int64_t retries;
	unsigned retry_on; /* PROXY_RETRY_* and proxy_retry_bit flags */
	struct lb_check_conf check;
	/* per client address (src/lb/ratelimit.h) */
	struct lb_rate rate_limit;        /* every request */
	struct lb_rate rate_limit_write;  /* methods other than GET, HEAD, OPTIONS */
	struct lb_portmap redirect_ports; /* the HTTPS redirect behind a port mapping */
	int64_t conn_limit;               /* open connections; 0 = off */
	int64_t rate_limit_table;         /* addresses tracked at most */
};

/* The section, for the stack file's schema (src/conf); its check resolves
 * every server against the [host] sections. */
extern const struct cfg_section lb_conf_section;

/* retry_on: "conn-failure empty-response 502 503 504" -> PROXY_RETRY_* and
 * proxy_retry_bit flags; "none" alone = 0. -1 with the bad token in bad. */
int lb_retry_on_parse(const char *value, unsigned *flags, char *bad, size_t badlen);

#endif
