/* lb.h - tristack-lb: the load balancer. */
#ifndef TS_LB_H
#define TS_LB_H

#include <pthread.h>
#include <stdatomic.h>

#include "command.h"
#include "conf/conf.h"
#include "core/httpc.h"
#include "core/proxy.h"
#include "core/tls.h"
#include "core/tls_keys.h"
#include "ratelimit.h"

struct lb_check;
struct lb_server;
struct lb_runtime;

/* One series of tristack_lb_server_admin_state: a server and a state. */
struct lb_admin_gauge {
	const struct lb_server *sv;
	enum lb_admin state;
};

/* A server of the LB: the engine's view of it (name, address, metric ids),
 * what the balancer weighs, and its health check. The balancer, the checks
 * and the runtime API share it between threads: weight, up, admin and
 * active are atomics. */
struct lb_server {
	struct proxy_server px;  /* lb->pxs[i] is &lb->servers[i].px */
	_Atomic unsigned weight; /* in use: the stack file's, or the runtime API's */
	unsigned config_weight;  /* the stack file's */
	bool backup;
	unsigned maxconn;       /* 0 = no limit */
	_Atomic bool up;        /* healthy (health checks decide) */
	_Atomic int admin;      /* enum lb_admin: only READY takes new requests */
	_Atomic int active;     /* requests holding a slot on it */
	struct lb_check *check; /* NULL when checks are off */
	struct lb_admin_gauge admin_gauges[LB_ADMIN_COUNT];
};

struct lb_balancer {
	enum lb_balance algo;
	struct lb_server *servers;
	unsigned n;
	/* one turn of smooth weighted round robin, rebuilt in place when a
	 * weight changes (room for every weight at LB_WEIGHT_MAX): a pick that
	 * meets the rebuild reads an old or a new entry, either a server */
	_Atomic uint16_t *seq;
	_Atomic unsigned len;
	_Atomic uint64_t next; /* shared position in seq; turns for leastconn ties */
};

#define LB_BALANCE_NONE PROXY_PICK_NONE
#define LB_BALANCE_FULL PROXY_PICK_FULL

/* balance.c */
void lb_balance_init(struct lb_balancer *b, enum lb_balance algo, struct lb_server *servers,
                     unsigned n);
void lb_balance_free(struct lb_balancer *b);
/* The servers' weights changed: the round robin's turn again (one thread
 * at a time; picks go on meanwhile). */
void lb_balance_reweight(struct lb_balancer *b);
/* A server with a slot reserved on it, LB_BALANCE_NONE (none up) or
 * LB_BALANCE_FULL (all up ones at maxconn). avoid >= 0 skips that server
 * while another is up. Any thread. */
int lb_balance_pick(struct lb_balancer *b, int avoid);
void lb_balance_release(struct lb_balancer *b, int server);
unsigned lb_balance_up(const struct lb_balancer *b);
/* Does the server take new requests: up, READY, and (unless a backup) a
 * weight above 0? */
bool lb_balance_usable(const struct lb_server *sv);

/* One server's health check (check.c); runs on worker 0's loop. */
struct lb_check {
	struct lb *lb;
	int server;
	struct worker *w;
	struct httpc fetch;
	struct timer timer; /* the next check, or this one's timeout */
	bool running;
	unsigned health; /* [0, rise + fall - 1]; up while >= rise */
	unsigned rise, fall;
	uint64_t interval, timeout;
	char req[512];
	char resp[2048];
	size_t scan;
	_Atomic unsigned passive; /* failures reported by traffic, not yet counted */
	_Atomic int last_code;    /* HTTP status, or -errno; 0 before the first */
	_Atomic int last_us;
	int m_duration, m_ok, m_failed; /* metric ids */
};

/* The monitor (monitor.c): how often it asks every other daemon's
 * /metrics, how long one scrape may take, and how much it reads. */
#define LB_MONITOR_INTERVAL  1000 /* ms */
#define LB_MONITOR_TIMEOUT   900  /* ms */
#define LB_MONITOR_MAX_BYTES (256u << 10)
#define LB_MAX_TARGETS       (4 * CONF_MAX_HOSTS)
#define LB_MAX_DB_VIEWS      8

/* A database as an app sees it (tristack_app_db_up, _replica_lag_seconds). */
struct lb_db_view {
	char server[64]; /* the host it runs on */
	bool up;
	double lag; /* seconds; -1: unknown */
};

/* What the last scrape of a daemon found. */
struct lb_target_state {
	bool seen; /* a scrape has ended */
	bool up;   /* it answered 200 with metrics */
	char error[128];
	int64_t scraped_ms, last_ok_ms; /* wall clock */
	unsigned duration_ms;
	double requests; /* its request (or query) counter; -1: none */
	unsigned ndb;
	struct lb_db_view db[LB_MAX_DB_VIEWS];
};

/* A daemon of the stack the LB watches. */
struct lb_target {
	struct lb *lb;
	const char *host, *daemon, *prefix; /* "web-01", "tristack-web", "tristack_web" */
	bool self;                          /* this LB: up while it answers */
	bool has_addr;
	struct addr addr;
	char addr_text[64];
	/* the scrape in progress, on worker 0's loop */
	struct worker *w;
	struct httpc fetch; /* its resp: LB_MONITOR_MAX_BYTES */
	struct timer timer; /* the next scrape, or this one's timeout */
	bool running;
	char req[256];
	struct lb_target_state st; /* under lb->mon_lock */
};

/* The floating address on an LB host (vip.c): its listeners' addresses
 * and whether this host holds it now. */
struct lb_vip {
	bool on;                /* the site has a vip and this is an LB host */
	struct addr addr;       /* the vip, port 0 */
	struct addr listen;     /* listen's twin on it, when has_listen */
	struct addr tls_listen; /* tls_listen's, when has_tls_listen */
	bool has_listen, has_tls_listen;
	_Atomic int held;   /* 1 here, 0 not, -1 not looked yet */
	int m_transitions;  /* metric id */
	struct worker *w;   /* worker 0, whose loop looks */
	struct timer timer; /* the next look */
};

/* What the limits per client address refused, as metric labels. */
enum lb_limited { LB_LIMITED_REQ, LB_LIMITED_WRITE, LB_LIMITED_CONN, LB_LIMITED_KINDS };

/* The session-ticket keys' file, [lb] tls_ticket_keys (tickets.c). */
struct lb_tickets {
	char path[TS_PATH_MAX];      /* "": the process's own keys */
	bool is_auto;                /* a missing file: the process's own keys */
	struct tls_ticket_keys keys; /* as last read (have) */
	bool have;
	struct stat seen; /* the file whose keys are in use */
	struct stat bad;  /* the last file refused (failing) */
	bool failing;     /* missing or bad, and logged */
	struct worker *w; /* worker 0, which watches it */
	struct timer timer;
};

struct lb {
	struct daemon *d;
	struct addr listen, admin, tls_listen;
	struct addr source; /* servers are connected to from here (setup_source) */
	bool has_admin;
	bool has_tls;      /* HTTPS on tls_listen; plain HTTP redirects */
	unsigned tls_port; /* for the redirects' URL */
	struct tls_site tls;
	struct lb_tickets tickets;
	char hsts_header[80]; /* "Strict-Transport-Security: ...\r\n" or "" */
	unsigned char *crl;   /* the local CA's revocation list (DER), or NULL */
	size_t crl_len;
	struct lb_server *servers;
	unsigned nservers;
	struct proxy_server **pxs; /* &servers[i].px, the engine's list (pc.servers) */
	struct proxy_conf pc;
	struct lb_balancer bal;
	struct httpd_metrics hm;
	const struct lb_check_conf *check;
	struct http_msg *check_msg;
	char check_host[300]; /* Host of checks: www.<domain> unless host= */
	uint64_t started;     /* wall clock, for /stats.json */
	struct lb_target targets[LB_MAX_TARGETS];
	unsigned ntargets;
	pthread_mutex_t mon_lock; /* the targets' st */
	/* limits per client address (limits.c); rl NULL: all off */
	struct lb_rl_table *rl; /* shared with the generations before and after */
	unsigned rl_size;
	struct lb_rl_limits limits;
	int m_limited[LB_LIMITED_KINDS]; /* metric slots */
	struct lb_vip vip;
	bool admin_retired; /* a newer generation has the servers' states (admin.c's lock) */
};

struct lb_worker {
	struct lb *lb;
	struct httpd_server http, https, admin;
	struct tls_worker tls;
	struct proxy_worker pw;
	struct lb_runtime *rt; /* worker 0's */
};

/* runtime.c: the runtime API's socket, {state}/run/HOST.lb.sock, on
 * worker 0's loop (start, stop and free on its thread). Without a socket
 * (a path too long, a folder it cannot write) the LB runs on, warned of. */
struct lb_runtime *lb_runtime_start(struct lb *lb, struct worker *w);
/* Stop listening and close its clients; the socket file is removed unless
 * a reload's next generation has it. May run twice. */
void lb_runtime_stop(struct lb_runtime *rt);
void lb_runtime_free(struct lb_runtime *rt);

/* check.c */
void lb_checks_start(struct lb *lb, struct worker *w);
void lb_checks_stop(struct lb *lb);
/* Traffic's verdict on a server (any thread): a failure counts as a failed
 * check when checks are on. */
void lb_check_report(struct lb *lb, int server, bool ok);
/* Into maintenance: its checks stop. Out of it: down until a check, at
 * once, passes. On the checks' thread (worker 0); nothing with checks off. */
void lb_check_pause(struct lb *lb, int server);
void lb_check_resume(struct lb *lb, int server);

/* admin.c: the servers' admin states and runtime weights, which the
 * runtime API sets (on worker 0). They outlive a reload (carried over by
 * name; a weight the stack file changed meanwhile is the file's) and a
 * restart ({state}/run/HOST.lb.servers, rewritten at every change). */
int lb_admin_find(const struct lb *lb, struct str name); /* index, or -1 */
/* 0, or -1 with err (a newer generation has taken over: try again). */
int lb_admin_set_state(struct lb *lb, unsigned server, enum lb_admin st, char *err, size_t errlen);
int lb_admin_set_weight(struct lb *lb, unsigned server, unsigned weight, char *err, size_t errlen);
/* lb_start: the states from prev (a reload, which it retires from the
 * runtime API) or the saved file (the first generation), then saved.
 * abandon: this generation failed to start, prev goes on (lb_finish). */
void lb_admin_start(struct lb *lb, struct lb *prev);
void lb_admin_abandon(struct lb *prev);

/* monitor.c */
void lb_monitor_setup(struct lb *lb); /* the targets, from the stack file */
/* A reload: what is known of the daemons that stay (same host, daemon and
 * address) goes on, rather than "not scraped yet" for a moment. */
void lb_monitor_carry_over(struct lb *lb, struct lb *old);
void lb_monitor_start(struct lb *lb, struct worker *w);
void lb_monitor_stop(struct lb *lb);
void lb_monitor_free(struct lb *lb);
/* Copy every target's state (out: ntargets entries); any thread. */
void lb_monitor_snapshot(struct lb *lb, struct lb_target_state *out);
/* Read a /metrics body into st: the request counter, the databases. */
void lb_monitor_read(const struct lb_target *t, const char *body, size_t len,
                     struct lb_target_state *st);

/* tickets.c: configure reads the file (a bad one fails the first start,
 * and is logged at a reload, the keys in use kept); apply hands the keys
 * to TLS (lb_start); start and stop the watch on worker 0. */
int lb_tickets_configure(struct lb *lb, const struct lb_conf *conf, char *err, size_t errlen);
void lb_tickets_apply(struct lb *lb);
void lb_tickets_start(struct lb *lb, struct worker *w);
void lb_tickets_stop(struct lb *lb);
void lb_tickets_free(struct lb *lb);

/* stats.c */
void lb_metrics_define(struct lb *lb, struct metrics *m);
int lb_stats_json(struct lb *lb, struct httpd_session *s);
int lb_healthz(struct lb *lb, struct httpd_session *s);
/* JSON pieces /dashboard.json shares with /stats.json. */
void lb_json_str(struct sbuf *o, const char *s);
void lb_json_figures(struct lb *lb, struct sbuf *o);

/* vip.c: the floating address. configure finds the listeners' twins on
 * it (-t too); start (worker 0) looks at once and then every second
 * whether the host holds it; stop may run twice. */
int lb_vip_configure(struct lb *lb, char *err, size_t errlen);
void lb_vip_carry_over(struct lb *lb, struct lb *old);
void lb_vip_metrics_define(struct lb *lb, struct metrics *m);
void lb_vip_start(struct lb *lb, struct worker *w);
void lb_vip_stop(struct lb *lb);

/* limits.c: the limits per client address. configure reads the keys
 * (-t too); start takes the table over from the previous generation or
 * makes one; attach hooks a public listener's accepts and closes. */
int lb_limits_configure(struct lb *lb, const struct lb_conf *conf, char *err, size_t errlen);
void lb_limits_start(struct lb *lb, const struct lb_conf *conf);
void lb_limits_metrics_define(struct lb *lb, struct metrics *m);
void lb_limits_attach(struct lb *lb, struct httpd_server *srv);
void lb_limits_free(struct lb *lb);
/* Over a rate: true with a 429 queued (the handler returns TS_OK). */
bool lb_limits_refuse(struct lb *lb, struct httpd_session *s);

/* dashboard.c: the page (built in) and /dashboard.json. Returns what a
 * handler returns (TS_OK, TS_AGAIN, TS_ERROR), or LB_DASHBOARD_NOT_MINE when
 * the path is none of the dashboard's and the caller answers it (nginx's
 * DECLINED): positive, so it is never taken for one of the TS_ statuses. */
#define LB_DASHBOARD_NOT_MINE 1
int lb_dashboard_handle(struct lb *lb, struct httpd_session *s);
/* acme.c: ACME's HTTP-01 challenge (acme.h), on any listener: what a
 * handler returns, or LB_ACME_DECLINED when the target is not ACME's and
 * the caller answers it. */
#define LB_ACME_DECLINED 1
int lb_acme_answer(struct lb *lb, struct httpd_session *s);
/* HAProxy-like access log line (httplog). */
void lb_log_line(const struct httpd_session *s, struct buf *b);

#endif
