/* proxy_int.h - what the proxy*.c files share, and no one else may use.
 *
 * proxy.c is the transfer engine (a client session joined to an upstream
 * connection, and the pump between them), proxy_pool.c the upstream
 * connections and their per-server pools, proxy_head.c the heads it
 * re-serializes. Daemons use proxy.h only.
 */
#ifndef TS_PROXY_INT_H
#define TS_PROXY_INT_H

#include "proxy.h"

/* What a step of txn_pump() did: blocked on a socket, progress (go round
 * again), or the txn has ended and is freed. */
enum { P_WAIT, P_MORE, P_GONE };

/* What a waiting txn waits for, so the right timer runs. */
#define W_CLIENT 0x1u /* body bytes from the client, or room to write to it */
#define W_UP     0x2u /* the upstream: connect, room to write, response bytes */

struct upconn {
	struct conn conn;
	struct proxy_worker *pw;
	struct proxy_txn *txn; /* NULL while idle in the pool */
	struct buf in;
	struct timer timer;
	struct defer free_defer;
	struct upconn *next, *prev;
	int server;
	bool connected;
	bool reused;
	bool eof;
};

struct proxy_txn {
	struct httpd_session *s;
	struct proxy_worker *pw;
	struct upconn *up;
	struct buf head; /* the request head for upstream, kept for a retry */
	uint32_t head_sent;
	int server;
	const struct proxy_server *sv; /* pc->servers[server], NULL while server is -1 */
	unsigned attempt;
	unsigned waiting; /* W_* */
	bool idempotent;
	/* request body */
	uint64_t req_left; /* Content-Length bytes still to send */
	size_t req_ok;     /* chunked bytes validated, not yet sent */
	bool req_sent;     /* head and whole body sent */
	bool req_broken;   /* the upstream stopped taking the request: its
	                      response (an early 413, say) may still come */
	bool body_started; /* a body byte has left: never replayed */
	struct http_chunked req_ch;
	/* response */
	size_t resp_scan;
	bool resp_any;      /* a response byte has arrived */
	bool resp_unparsed; /* bytes arrived (or stayed after a 1xx) since the last parse */
	bool resp_head;     /* its head has been passed on */
	bool up_reusable;
	bool client_keep;
	enum http_framing resp_framing;
	uint64_t resp_left;
	size_t resp_ok;
	struct http_chunked resp_ch;
	struct http_msg *scratch;
	/* a slot reserved by pick() on this server, -1 when none */
	int slot;
	/* waiting for a slot */
	bool queued;
	struct proxy_txn *qnext;
	/* loop ms: created, connect started, connected, response head */
	uint64_t t_start, t_connect, t_connected, t_resp;
	uint64_t bytes_in; /* request bytes sent upstream */
	struct proxy_txn *next_free;
};

/* proxy.c: an upstream connection's io and timer callbacks. */
void proxy_up_io(struct io *io);
void proxy_up_timeout(struct timer *tm);

/* proxy_pool.c */
/* A busy connection on fd (connecting) to server, or NULL (fd closed). */
struct upconn *proxy_up_new(struct proxy_worker *pw, int fd, int server);
/* Close an upstream connection, idle in the pool or serving a txn. */
void proxy_up_close(struct upconn *up);
/* Park a connection whose response is complete, for the next request. */
void proxy_pool_put(struct upconn *up);
/* A pooled connection that is still good, or NULL. */
struct upconn *proxy_pool_take(struct proxy_worker *pw, int server);

/* proxy_head.c: the client's request head, rewritten for the upstream, into
 * t->head; the upstream's response head m, rewritten for the client, into
 * the session's out buffer. 0, or -1 when it does not fit. */
int proxy_request_head(struct proxy_txn *t);
int proxy_response_head(struct proxy_txn *t, const struct http_msg *m);

#endif
