/* stack.h - the stack file: one INI file describing the whole infrastructure.
 *
 * Every daemon loads the whole file (so `tristack-lb -t` also catches a typo
 * in [web]) and then reads its own section. Each section has one table of
 * keys (stack_keys.c): name, type, where it is stored, default. Defaults are
 * applied first, then the file's values, then the cross-section checks
 * (server names resolve to hosts, roles exist ...). Every error names
 * file:line and the key, and loading stops at the first one.
 *
 * Durations are kept in milliseconds and take units (500ms, 2s, 1m, 1h, 1d);
 * sizes are kept in bytes and take k/m/g (16k = 16384).
 */
#ifndef TS_STACK_H
#define TS_STACK_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "net.h"

#define CONF_MAX_HOSTS 64
#define LB_MAX_SERVERS 64
#define WEB_MAX_PROXY  32

/* Roles a host can have */
#define ROLE_LB         0x01u
#define ROLE_DNS        0x02u
#define ROLE_WEB        0x04u
#define ROLE_APP        0x08u
#define ROLE_DB_PRIMARY 0x10u
#define ROLE_DB_REPLICA 0x20u
#define ROLE_MON        0x40u /* where Prometheus runs ([monitoring] host) */

struct conf_site {
	char *domain;
	char *www;   /* host that www.<domain> points at */
	char *state; /* state folder */
	char *admin; /* who may reach the admin ports: host names and CIDRs, space-separated */
	char *user;  /* the account daemons run as when tristack runs as root */
};

struct conf_host {
	char *name;
	char *address;
	unsigned roles;
	int line;
};

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

/* The LB's active health check of every server. */
struct lb_check_conf {
	bool enabled; /* a `check` line is present */
	char *method, *path, *host;
	uint64_t interval, timeout; /* ms */
	unsigned rise, fall;
	int expect_lo, expect_hi; /* accepted status range */
	int line;
};

/* Settings every HTTP daemon shares */
struct http_conf {
	char *listen;
	char *admin;     /* admin listener (/metrics, stats); "" = none (lb, web) */
	int64_t threads; /* 0 = one per core */
	int64_t maxconn;
	uint64_t bufsize;
	uint64_t max_header_size;
	uint64_t max_body_size; /* 0 = no limit */
	uint64_t timeout_client;
	uint64_t timeout_http_request;
	uint64_t timeout_http_keep_alive;
	int64_t keepalive_requests; /* a connection closes after this many; 0 = no limit */
	char *access_log;           /* "" = off */
	char *error_log;            /* "" = stderr */
	char *log_level;
};

#define TLS_MAX_CERTS 16

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

struct tls_cert_conf {
	char *cert; /* PEM: the certificate, its chain, maybe its key */
	char *key;  /* PEM key, or NULL when it is in cert */
	int line;
};

struct lb_conf {
	struct http_conf http;
	char *tls_listen; /* "" = no HTTPS */
	struct tls_cert_conf tls_certs[TLS_MAX_CERTS];
	unsigned ntls_certs;        /* 0: the ones `tristack up` makes */
	uint64_t hsts;              /* Strict-Transport-Security max-age, ms; 0 = none */
	uint64_t tls_ticket_rotate; /* session ticket keys change this often */
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
	char *retry_on; /* HAProxy's retry-on: see lb_retry_on_parse */
	struct lb_check_conf check;
	/* per client address (src/lb/ratelimit.h) */
	struct lb_rate rate_limit;        /* every request */
	struct lb_rate rate_limit_write;  /* methods other than GET, HEAD, OPTIONS */
	struct lb_portmap redirect_ports; /* the HTTPS redirect behind a port mapping */
	int64_t conn_limit;               /* open connections; 0 = off */
	int64_t rate_limit_table;         /* addresses tracked at most */
};

#define WEB_MAX_CACHE      16
#define WEB_MAX_ERROR_PAGE 32

struct web_cache_rule {
	char *prefix;     /* path prefix */
	uint64_t max_age; /* ms */
};

struct web_error_page_conf {
	int status;
	char *path; /* a file under root */
};

struct web_conf {
	struct http_conf http;
	char *root;
	char *index;
	bool autoindex;
	bool dotfiles;              /* serve paths with a segment starting '.' */
	char *csp;                  /* Content-Security-Policy of static HTML; "" = none */
	char *proxy[WEB_MAX_PROXY]; /* path prefixes sent to the app */
	unsigned nproxy;
	int proxy_line;
	char *upstream; /* the apps: ":9000" = this host's; several, space-separated */
	uint64_t timeout_connect;
	uint64_t timeout_server;
	uint64_t timeout_server_keep_alive;
	char *mime_types;    /* a mime.types file; "" = the built-in table */
	uint64_t file_cache; /* how long a cached open file is trusted, ms */
	bool gzip, gzip_static;
	uint64_t gzip_min_size;
	char *gzip_types;
	struct web_cache_rule cache[WEB_MAX_CACHE];
	unsigned ncache;
	struct web_error_page_conf error_pages[WEB_MAX_ERROR_PAGE];
	unsigned nerror_pages;
	char *trusted_proxies;    /* as written; "" = the hosts with the lb role */
	struct net_ipset trusted; /* what it names: whose X-Forwarded-* are believed */
};

struct app_conf {
	struct http_conf http;
};

struct dns_conf {
	char *listen;
	char *admin;     /* admin listener (/metrics); "" = none */
	char *zone_file; /* an RFC 1035 zone file instead of the zone made from the stack */
	uint64_t ttl;
	char *log_level;
};

struct conf_db {
	int64_t port;
	char *name;              /* the site's schema */
	int64_t pool;            /* connections per app worker per database */
	uint64_t max_lag;        /* a replica further behind is not read from, ms */
	uint64_t gtid_wait;      /* read-your-writes: how long a replica may take, ms */
	uint64_t timeout;        /* connect and query timeout of the apps, ms */
	char *buffer_pool;       /* innodb_buffer_pool_size of the instances */
	int64_t thread_handling; /* enum db_threads */
};

enum db_threads { DB_POOL_OF_THREADS, DB_ONE_THREAD_PER_CONNECTION };
const char *conf_db_threads_name(int64_t v);

enum mon_enabled { MON_AUTO, MON_ON, MON_OFF };

/* [monitoring]: a Prometheus that scrapes every daemon, with alert rules. */
struct mon_conf {
	int64_t enabled;          /* enum mon_enabled; auto = on in isolated mode */
	char *host;               /* "" = the first `mon` host, else [site] www */
	char *listen;             /* Prometheus's web listener */
	uint64_t scrape_interval; /* ms */
	uint64_t evaluation_interval;
	uint64_t retention;
	char *mysqld_exporter;   /* on every db host; "" = none */
	char *supervisor;        /* the supervisor's /metrics, on the monitoring host; "" = none */
	uint64_t alert_for;      /* the for: of the state alerts (a target, a server down ...) */
	uint64_t error_rate_for; /* the for: of the 5xx ratio alert */
	uint64_t cert_warning;   /* a certificate ending sooner than this is alerted on */
};

struct conf {
	char *path;
	struct conf_site site;
	struct conf_host hosts[CONF_MAX_HOSTS];
	unsigned nhosts;
	struct lb_conf lb;
	struct web_conf web;
	struct app_conf app;
	struct dns_conf dns;
	struct conf_db db;
	struct mon_conf monitoring;
};

/* Load and check a stack file. Returns 0, or -1 with "file:line: message"
 * (or "file: message") in err. On failure *s is freed. */
int conf_load(struct conf *s, const char *path, char *err, size_t errlen);
/* Same, from a string (tests); name is used in messages. */
int conf_load_string(struct conf *s, const char *name, const char *text, char *err, size_t errlen);
void conf_free(struct conf *s);

/* Print the effective configuration, defaults included, as a stack file. */
void conf_print(const struct conf *s, FILE *out);

const struct conf_host *conf_host(const struct conf *s, const char *name);
/* The first host with a role (ROLE_*), or NULL. */
const struct conf_host *conf_host_with_role(const struct conf *s, unsigned role);

/* The host Prometheus runs on: [monitoring] host, else the first host with
 * the mon role, else the [site] www host; NULL in a stack without hosts. */
const struct conf_host *mon_conf_host(const struct conf *s);

/* Resolve a listen/target spec against a host: ":8080" -> "<host address>:8080",
 * "web-01:8080" -> that host's address, "1.2.3.4:80" as is. */
int conf_resolve_addr(const struct conf *s, const char *spec, const struct conf_host *self,
                      struct addr *a, char *err, size_t errlen);

/* retry_on: "conn-failure empty-response 502 503 504" -> flags (a status's
 * bit from proxy_retry_bit; 0 for a status not retryable); "none" alone = 0.
 * -1 with the bad token in bad. */
#define PROXY_RETRY_CONN_FAILURE   0x1u
#define PROXY_RETRY_EMPTY_RESPONSE 0x2u
int lb_retry_on_parse(const char *value, unsigned *flags, char *bad, size_t badlen);
unsigned proxy_retry_bit(int status);

/* Value parsers, exposed for tests and other config-like inputs. */
int cfg_parse_duration(const char *s, uint64_t *ms);
int cfg_parse_size(const char *s, uint64_t *bytes);
int cfg_parse_bool(const char *s, bool *b);

#endif
