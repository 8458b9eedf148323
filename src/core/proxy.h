/* proxy.h - HTTP/1.1 reverse proxying: one client request to one upstream
 * server, bodies streamed both ways, upstream connections pooled.
 *
 * The engine knows nothing of balancing: the owner's pick() chooses a server
 * for each attempt. It forwards the request head re-serialized (hop-by-hop
 * headers dropped, X-Forwarded-* set) and the body bytes as they arrive
 * (chunked bodies validated by the strict decoder and passed on verbatim),
 * then the response the same way. Memory per transfer is bounded by the
 * buffers of the two connections: a 1 GiB body goes through in 2 x bufsize.
 *
 * Failures before the response: a connect that fails (refused, timeout) is
 * retried on another server, up to `retries` times; a reused keep-alive
 * connection that dies before any response byte is retried too when the
 * request is idempotent or nothing of it was sent. A POST is never replayed
 * once a byte of it has gone out. Then: 502 (bad or no response), 503 (no
 * server), 504 (timeout).
 */
#ifndef TS_PROXY_H
#define TS_PROXY_H

#include <stdatomic.h>

#include "httpd.h"

struct proxy_worker;
struct proxy_txn;

/* A server as the engine sees it. Its owner embeds it in its own server
 * (the LB's lb_server, web's web_upstream) with whatever it balances by,
 * and lists them in proxy_conf.servers. */
struct proxy_server {
	char *name;
	struct addr addr;
	/* metric ids (proxy_metrics_define) */
	int m_requests, m_errors, m_retries;
	int m_responses[6]; /* by status class, as in httpd_metrics */
	int m_bytes_in, m_bytes_out;
};

/* retry_on flags: HAProxy's retry-on events (conn-failure, empty-response)
 * and a bit per retryable status, from proxy_retry_bit (0 for a status that
 * is never retried). */
#define PROXY_RETRY_CONN_FAILURE   0x1u
#define PROXY_RETRY_EMPTY_RESPONSE 0x2u
unsigned proxy_retry_bit(int status);
/* The statuses that have a bit, in order, ending with 0. */
extern const int proxy_retry_statuses[];

/* What pick() answers besides a server index. */
#define PROXY_PICK_NONE (-1) /* no server is up: 503 */
#define PROXY_PICK_FULL (-2) /* every usable server is at its maxconn: wait in the queue */

struct proxy_conf {
	/* the owner's servers, by the index pick() answers: pointers, so that
	 * each may sit inside the owner's own struct */
	struct proxy_server *const *servers;
	unsigned nservers;
	uint64_t timeout_connect;
	uint64_t timeout_server;
	uint64_t timeout_pool;  /* idle pooled connections are closed after this */
	uint64_t timeout_queue; /* the longest a request waits for a server slot */
	unsigned retries;
	/* which failures are retried (PROXY_RETRY_* and proxy_retry_bit of
	 * statuses): connect failures, connections that die before the
	 * response, responses with these statuses (idempotent requests with
	 * no body only) */
	unsigned retry_on;
	unsigned pool_max; /* idle connections kept per server per worker */
	struct http_limits resp_limits;
	bool forwarded_headers; /* X-Forwarded-For, -Proto, -Host */
	/* Peers whose X-Forwarded-* are kept (the LB in front: their
	 * X-Forwarded-For goes on before its address, their Proto and Host
	 * stay). From anyone else, or with NULL (the edge), those headers,
	 * Forwarded and X-Real-IP are dropped and ours alone are sent. */
	const struct net_ipset *trusted;
	/* connect to servers from this address (the stack's address of the
	 * host, which the servers trust); NULL: the route's choice */
	const struct addr *source;
	const char *proto;       /* value of X-Forwarded-Proto ("https" on TLS sessions) */
	const char *tls_headers; /* header lines added to responses on TLS sessions (HSTS) */
	const char *served_by;   /* adds X-Served-By to responses when set */
	/* Choose a server for a request and reserve a slot on it: attempt 0
	 * first, then retries; avoid is the server that just failed (-1 on the
	 * first attempt). Returns an index, PROXY_PICK_NONE or PROXY_PICK_FULL.
	 * Any thread may call it. */
	int (*pick)(struct proxy_worker *pw, unsigned attempt, int avoid);
	/* The request is done with the slot pick() reserved. */
	void (*release)(struct proxy_worker *pw, int server);
	void *pick_data;
	/* Told of each outcome (for passive health): ok false = the server
	 * failed (connect error, reset, timeout, bad response). */
	void (*report)(struct proxy_worker *pw, int server, bool ok);
	/* Every worker's engine, so a slot freed on one thread can wake a
	 * request queued on another. */
	struct proxy_worker **workers;
	unsigned nworkers;
	_Atomic unsigned queued; /* requests waiting, all workers */
	_Atomic unsigned wake_rr;
	int m_queued_total, m_queue_timeouts; /* metric ids */
};

struct proxy_worker {
	struct proxy_conf *pc;
	struct worker *w;
	struct upconn **idle; /* per server: idle connections, most recent first */
	unsigned *nidle;
	struct proxy_txn *txn_free;
	struct upconn *up_free;
	unsigned busy;            /* upstream connections in use, per worker */
	struct upconn *busy_list; /* those connections */
	/* requests waiting for a server slot, oldest first */
	struct proxy_txn *queue_head, *queue_tail;
	_Atomic unsigned nqueued;
	struct defer queue_run;
	void *data;
};

/* The settings every proxying daemon (lb, web) shares, set alike: pooled
 * connections per server, the limits of a response head (max_head: the
 * daemon's max_header_size), X-Forwarded-* on, proto "http", retries of
 * connect failures and dead connections only. Everything else zeroed. */
void proxy_conf_defaults(struct proxy_conf *pc, uint64_t max_head);

/* Define per-server metrics (before workers start). */
void proxy_metrics_define(struct proxy_conf *pc, struct metrics *m, const char *prefix);

void proxy_worker_init(struct proxy_worker *pw, struct proxy_conf *pc, struct worker *w);
/* Close pooled connections (on stop, and when the loop is gone). */
void proxy_worker_close_idle(struct proxy_worker *pw);
void proxy_worker_free(struct proxy_worker *pw);

/* A server was found down (health checks): on every worker, close its
 * pooled connections and take back the requests waiting on it, retrying
 * elsewhere those that may be (no response byte yet, nothing of a body
 * sent or idempotent), as HAProxy's on-marked-down shutdown-sessions with
 * redispatch. Any thread. */
void proxy_server_down(struct proxy_conf *pc, int server);

/* An httpd_server handler body: proxy s's request. Returns what a handler
 * returns (TS_AGAIN while streaming, TS_OK with an error response queued). */
int proxy_handle(struct proxy_worker *pw, struct httpd_session *s);

/* Idle pooled connections of a server on this worker (tests, metrics). */
unsigned proxy_idle_count(const struct proxy_worker *pw, int server);

/* A slot may have come free (on any thread): queued requests try again. */
void proxy_wake_queues(struct proxy_conf *pc, struct proxy_worker *self);

#endif
