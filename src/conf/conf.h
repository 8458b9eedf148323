/* conf.h - the stack file: one INI file describing the whole infrastructure.
 *
 * Every daemon loads the whole file (so `tristack-lb -t` also catches a typo
 * in [web]) and then reads its own section. The loader is core's generic one
 * (core/cfg.h); each section belongs to the daemon that reads it and brings
 * its own struct and key table ([lb] src/lb/lb_conf.h, [web]
 * src/web/web_conf.h, [app] src/app/app_conf.h, [dns] src/dns/dns_conf.h,
 * [monitoring] src/ctl/mon_conf.h, [vrrp] src/ctl/vrrp_conf.h). This library holds what they share:
 * the aggregate struct conf, [site], [host NAME] and their roles, [db] (the app and the CLI read
 * it), host lookup, and the schema linking every section.
 *
 * Daemons reach it through core's struct daemon: their main sets
 * def.conf = &conf_daemon_ops, then reads conf_of(d) and conf_self(d).
 */
#ifndef TS_CONF_H
#define TS_CONF_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "app/app_conf.h"
#include "core/cfg.h"
#include "core/daemon.h"
#include "core/net.h"
#include "ctl/mon_conf.h"
#include "ctl/vrrp_conf.h"
#include "dns/dns_conf.h"
#include "lb/lb_conf.h"
#include "web/web_conf.h"

#define CONF_MAX_HOSTS 64
/* Database hosts (db-primary and db-replica) of a stack: the primary and up
 * to seven replicas */
#define CONF_MAX_DB_HOSTS 8

/* Roles a host can have */
#define ROLE_LB         0x01u
#define ROLE_DNS        0x02u
#define ROLE_WEB        0x04u
#define ROLE_APP        0x08u
#define ROLE_DB_PRIMARY 0x10u
#define ROLE_DB_REPLICA 0x20u
#define ROLE_MON        0x40u /* where Prometheus runs ([monitoring] host) */

/* The site's HTML pages, whoever serves them (the app's board, the web
 * server's static .html, by default): same-origin everything, never in a
 * frame. */
#define CONF_SITE_CSP                                                                              \
	"default-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'; "        \
	"object-src 'none'"

struct conf_site {
	char *domain;
	char *www;   /* host that www.<domain> points at (when there is no vip) */
	char *vip;   /* "" or the floating address the LB hosts share (keepalived):
	              * then www.<domain> is this address */
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

enum db_threads { DB_POOL_OF_THREADS, DB_ONE_THREAD_PER_CONNECTION };

struct conf_db {
	int64_t port;
	char *name;                 /* the site's schema */
	int64_t pool;               /* connections per app worker per database */
	uint64_t max_lag;           /* a replica further behind is not read from, ms */
	uint64_t gtid_wait;         /* read-your-writes: how long a replica may take, ms */
	uint64_t timeout;           /* connect and query timeout of the apps, ms */
	char *buffer_pool;          /* innodb_buffer_pool_size of the instances */
	int64_t thread_handling;    /* enum db_threads */
	bool semi_sync;             /* a write waits until a replica has it (AFTER_SYNC) */
	uint64_t semi_sync_timeout; /* ... at most this long, ms; then asynchronous */
	bool auto_failover;         /* the supervisor promotes a replica when the primary is lost */
	uint64_t failover_after;    /* lost: no answer for this long, ms */
	uint64_t failover_cooldown; /* no second automatic failover sooner, ms */
};
const char *conf_db_threads_name(int64_t v);

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
	struct vrrp_conf vrrp;
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

/* The address www.<domain> resolves to: [site] vip, else the www host's;
 * NULL in a stack without hosts. */
const char *conf_www_address(const struct conf *s);
/* Does h answer for www.<domain>: the www host, or an LB host when the
 * site has a floating address (whichever holds it answers)? */
bool conf_host_is_www(const struct conf *s, const struct conf_host *h);

/* The floating address's twin of a listener: when the site has a vip, self
 * is an LB host (one of those that may hold it) and listen is self's own
 * address, out = vip with listen's port and 1; else 0. An LB host's daemons
 * listen on both, binding the vip freely (NET_FREEBIND): the host that does
 * not hold it now serves on it the moment keepalived moves it there. */
int conf_vip_listen(const struct conf *s, const struct conf_host *self, const struct addr *listen,
                    struct addr *out);

/* Resolve a listen/target spec against a host: ":8080" -> "<host address>:8080",
 * "web-01:8080" -> that host's address, "1.2.3.4:80" as is. */
int conf_resolve_addr(const struct conf *s, const char *spec, const struct conf_host *self,
                      struct addr *a, char *err, size_t errlen);

/* The loader core's daemons are given (struct daemon_def's conf), and what
 * a daemon reads back: the loaded file and the host this process is. */
extern const struct daemon_conf_ops conf_daemon_ops;

static inline struct conf *conf_of(const struct daemon *d)
{
	return d->conf;
}

static inline const struct conf_host *conf_self(const struct daemon *d)
{
	return d->host;
}

#endif
