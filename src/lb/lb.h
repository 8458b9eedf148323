/* lb.h - tristack-lb: the load balancer. */
#ifndef TS_LB_H
#define TS_LB_H

#include <stdatomic.h>

#include "core/proxy.h"
#include "core/tls.h"

/* A server as the balancer and the health checks share it between threads. */
struct lb_server {
	const char *name;
	unsigned weight;
	bool backup;
	unsigned maxconn;   /* 0 = no limit */
	_Atomic bool up;    /* takes new requests (health checks decide) */
	_Atomic int active; /* requests holding a slot on it */
};

struct lb_balancer {
	enum lb_balance algo;
	struct lb_server *servers;
	unsigned n;
	uint16_t *seq; /* one turn of smooth weighted round robin */
	unsigned len;
	_Atomic uint64_t next; /* shared position in seq; turns for leastconn ties */
};

#define LB_PICK_NONE PROXY_PICK_NONE
#define LB_PICK_FULL PROXY_PICK_FULL

/* balance.c */
void lb_balancer_init(struct lb_balancer *b, enum lb_balance algo, struct lb_server *servers,
                      unsigned n);
void lb_balancer_free(struct lb_balancer *b);
/* A server with a slot reserved on it, LB_PICK_NONE (none up) or
 * LB_PICK_FULL (all up ones at maxconn). avoid >= 0 skips that server
 * while another is up. Any thread. */
int lb_pick(struct lb_balancer *b, int avoid);
void lb_release(struct lb_balancer *b, int server);
unsigned lb_servers_up(const struct lb_balancer *b);

/* One server's health check (check.c); runs on worker 0's loop. */
struct lb_check {
	struct lb *lb;
	int server;
	struct worker *w;
	struct conn conn;
	struct timer timer; /* the next check, or this one's timeout */
	bool running, connected;
	unsigned health; /* [0, rise + fall - 1]; up while >= rise */
	unsigned rise, fall;
	uint64_t interval, timeout;
	uint64_t t_start_us;
	char req[512];
	size_t req_len, sent;
	char resp[2048];
	size_t resp_len, scan;
	_Atomic unsigned passive; /* failures reported by traffic, not yet counted */
	_Atomic int last_code;    /* HTTP status, or -errno; 0 before the first */
	_Atomic int last_us;
	int m_duration, m_ok, m_failed; /* metric ids */
};

struct lb {
	struct daemon *d;
	struct addr listen, admin, tls_listen;
	bool has_admin;
	bool has_tls;      /* HTTPS on tls_listen; plain HTTP redirects */
	unsigned tls_port; /* for the redirects' URL */
	struct tls_site tls;
	char hsts_header[80]; /* "Strict-Transport-Security: ...\r\n" or "" */
	unsigned char *crl;   /* the local CA's revocation list (DER), or NULL */
	size_t crl_len;
	struct proxy_server *servers; /* the engine's view: name, address */
	struct lb_server *lbs;        /* the balancer's view, same indexes */
	unsigned nservers;
	struct proxy_conf pc;
	struct lb_balancer bal;
	struct http_metrics hm;
	const struct stack_check *check;
	struct lb_check *checks; /* per server, when checks are on */
	struct http_msg *check_msg;
	char check_host[300]; /* Host of checks: www.<domain> unless host= */
	uint64_t started;     /* wall clock, for /stats.json */
};

struct lb_worker {
	struct lb *lb;
	struct http_server http, https, admin;
	struct tls_worker tls;
	struct proxy_worker pw;
};

/* check.c */
void lb_checks_start(struct lb *lb, struct worker *w);
void lb_checks_stop(struct lb *lb);
/* Traffic's verdict on a server (any thread): a failure counts as a failed
 * check when checks are on. */
void lb_check_report(struct lb *lb, int server, bool ok);

/* stats.c */
void lb_metrics_define(struct lb *lb, struct metrics *m);
int lb_stats_json(struct lb *lb, struct http_session *s);
int lb_healthz(struct lb *lb, struct http_session *s);
/* HAProxy-like access log line (httplog). */
void lb_log_line(const struct http_session *s, struct buf *b);

#endif
