/* httpd.h - the server side of HTTP/1.1 connections, shared by every daemon.
 *
 * A session is one client connection. It reads and parses request heads
 * (the whole head within timeout_http_request, else 408: the slowloris
 * defence), hands each request to the server's handler, writes the response,
 * and then either waits for the next request (keep-alive, pipelined requests
 * answered in order) or closes. An idle session holds no buffer memory.
 *
 * A handler either
 *   - answers at once: httpd_respond() (or httpd_head_*() and a body) then
 *     TS_OK;
 *   - answers later: returns TS_AGAIN and calls httpd_session_resume() once
 *     the response is queued (the app waiting on its database); it may set
 *     s->stream_ops to ops with only `abort` (called if the session closes
 *     before that) and s->stream;
 *   - takes the connection over: sets s->stream_ops and returns TS_AGAIN,
 *     then moves bytes itself and calls httpd_session_stream_done() (the
 *     reverse proxy, which streams bodies both ways).
 *
 * Request bytes stay in s->in while the request is handled: the head at the
 * front (so s->req's pointers stay valid until the response is logged),
 * request body bytes after it.
 */
#ifndef TS_HTTPD_H
#define TS_HTTPD_H

#include <netinet/in.h>
#include <stdbool.h>

#include "conn.h"
#include "daemon.h"
#include "http.h"
#include "log.h"

struct httpd_session;
typedef int (*httpd_handler_fn)(struct httpd_session *s);

/* Metric ids of one HTTP front end (see httpd_metrics_define). */
struct httpd_metrics {
	int requests[6];  /* by status class: 0 = other, 1..5 = 1xx..5xx */
	int connections;  /* gauge: open client connections */
	int accepted;     /* counter */
	int duration;     /* histogram, seconds */
	int bytes_out;    /* counter: response bytes */
	int bad_requests; /* parse errors */
};

/* Slots resolved from ids, for the hot path. */
struct httpd_metric_slots {
	int requests[6], connections, accepted, bytes_out, bad_requests;
	int duration_id;
};

/* A server listens on one address, or a few that share its sessions,
 * limits and metrics (a host's own and the floating one). */
#define HTTPD_MAX_LISTENERS 2

struct httpd_server;

struct httpd_listener {
	struct io io;
	struct httpd_server *srv;
};

struct httpd_server {
	struct worker *w;
	const struct http_conf *conf;
	struct http_limits limits;
	httpd_handler_fn handler;
	void *data;
	struct log_file *access_log; /* NULL = off */
	/* Header lines every response of this server carries ("X-Served-By:
	 * web-01\r\n"), or NULL. */
	const char *extra_headers;
	/* Answers an error status with a page of its own (custom error pages):
	 * 0 when it queued the response, -1 to leave it to the default. */
	int (*error_page)(struct httpd_session *s, int status);
	/* Formats one access-log line (ending in '\n') into b; NULL: nginx's
	 * combined format. */
	void (*log_line)(const struct httpd_session *s, struct buf *b);
	/* Admission of a new connection (s->peer set), or NULL: -1 refuses
	 * it, reset at once before anything is read (HAProxy's `tcp-request
	 * connection reject`). closed() then runs once for each admitted
	 * session as it closes. */
	int (*admit)(struct httpd_session *s);
	void (*closed)(struct httpd_session *s);
	/* Peers (the LB in front) whose X-Forwarded-For names the client the
	 * access log shows, as nginx's set_real_ip_from: its last address.
	 * NULL: the TCP peer, always. */
	const struct net_ipset *real_ip_from;
	bool buffer_body;       /* see httpd_server_buffer_bodies */
	struct tls_worker *tls; /* set: accepted connections speak TLS */
	bool count;             /* update metrics (off for admin listeners) */
	unsigned maxconn;       /* this worker's share */
	struct httpd_metric_slots m;
	/* per-worker state */
	struct http_msg *scratch;       /* where heads are parsed */
	struct httpd_session *sessions; /* all open, for stop */
	struct httpd_session *free_list;
	struct httpd_req *req_free;
	struct httpd_listener listeners[HTTPD_MAX_LISTENERS];
	unsigned nlisteners;
	struct defer accept_more; /* a full accept batch: the rest of the backlog */
	bool paused;              /* maxconn reached: not accepting */
	bool stopping;
	bool freeing; /* the loop is gone: free sessions at once */
	int64_t date_t;
	char date[30];
	/* remade once a second: "Date: ...\r\nServer: tristack\r\n" + extra
	 * headers, and the access log's time */
	char common[512];
	uint16_t common_len;
	char log_time[32];
	uint8_t log_time_len;
};

/* A request being handled: a summary of its head (pointing into s->in), its
 * body, its response, what the log needs. It exists from the first byte of
 * a head to the end of the response; an idle keep-alive connection holds
 * none (nothing but struct httpd_session). */
struct httpd_req {
	enum http_method method;
	int minor;
	bool keep_alive;
	bool expect_continue;
	bool absolute_form;
	bool body_consumed; /* the request body has been read whole */
	enum http_framing framing;
	uint64_t content_length;
	size_t head_len;
	struct str method_name, raw_target, target, authority;
	struct str referer, user_agent; /* for the access log */
	uint64_t t_start_us;
	uint64_t t_head;      /* loop ms: the head was parsed */
	struct http_msg *msg; /* the full parsed head, valid in the handler only
	                         (buffered bodies too: parsed again for it) */
	/* buffered request body */
	char *body;
	size_t body_len;
	uint64_t body_left;
	struct http_chunked *chunked;
	/* response */
	int status;
	uint64_t bytes_out;
	int file_fd;
	off_t file_off, file_end;
	void (*file_release)(void *arg); /* instead of close(file_fd) */
	void *file_arg;
	/* a body made piece by piece (httpd_body_pieces) */
	int (*pieces_next)(struct httpd_session *s, void *arg);
	void (*pieces_done)(void *arg);
	void *pieces_arg;
	char *resp_body;
	size_t resp_len, resp_sent;
	/* what a proxy did, for the log: HAProxy's Tw/Tc/Tr in ms (-1: did
	 * not happen), the server, the retries */
	const char *upstream;
	int32_t t_wait, t_connect, t_response;
	uint8_t retries;
	uint8_t peer_text_len; /* of peer_text, 0 until first needed */
	char peer_text[46];    /* the client's IP as text */
	uint8_t real_ip_len;   /* of real_ip; 0: the peer is the client */
	char real_ip[46];      /* the client a trusted proxy names (real_ip_from) */
	struct httpd_req *next_free;
};
struct httpd_stream_ops {
	void (*on_client)(struct httpd_session *s);  /* client I/O readiness; NULL:
	                                               an async handler's ops */
	void (*on_timeout)(struct httpd_session *s); /* s->timer fired */
	void (*abort)(struct httpd_session *s);      /* session closing: let go */
};

enum httpd_session_state {
	HS_WAIT,    /* reading a request head */
	HS_BODY,    /* reading a request body (buffered mode) */
	HS_HANDLER, /* the handler will answer later */
	HS_STREAM,  /* a stream handler owns the connection */
	HS_WRITE,   /* writing the response */
	HS_CLOSING, /* writing an error response, then closing */
	HS_LINGER,  /* response sent, write side shut: discarding what the client
	               still sends, so our close does not reset the connection
	               before it has read the response */
};

/* Lingering close: at most this long, discarding at most this much. */
#define HTTPD_LINGER_MS    5000
#define HTTPD_LINGER_BYTES (4u << 20)

struct httpd_session {
	struct conn conn;
	struct httpd_server *srv;
	struct buf in, out;
	struct timer timer;
	struct defer free_defer;
	struct defer resume; /* go on with a long pipeline after others had a turn */
	uint8_t state;
	bool processing;      /* inside session_process: do not re-enter */
	bool close_after;     /* the next response says Connection: close */
	bool announced_close; /* close once this response is out: it said so,
	                         or the connection cannot carry another */
	bool head_started;    /* bytes of the next head have arrived */
	uint32_t lingered;    /* bytes discarded while lingering */
	uint32_t nrequests;   /* on this connection, for keepalive_requests */
	size_t scan;
	struct httpd_req *req; /* NULL while idle */
	/* stream handler */
	const struct httpd_stream_ops *stream_ops;
	void *stream;
	uint64_t t_begin;         /* loop ms: the request's first byte (or the accept) */
	struct sockaddr_in6 peer; /* IPv4 peers kept as AF_INET in the same space */
	struct httpd_session *prev, *next;
};
/* Set up a server on a worker; conf may be NULL for built-in defaults. */
void httpd_server_init(struct httpd_server *srv, struct worker *w, const struct http_conf *conf,
                       httpd_handler_fn handler, void *data);
/* Hand the handler whole request bodies (in s->body), read before it runs;
 * with no max_body_size set they are bounded by HTTPD_BUFFERED_MAX_BODY. */
#define HTTPD_BUFFERED_MAX_BODY (1u << 20)
void httpd_server_buffer_bodies(struct httpd_server *srv);
/* Listen on a (SO_REUSEPORT; flags: net.h's NET_*, as worker_listen) and
 * accept sessions; up to HTTPD_MAX_LISTENERS addresses, one call each.
 * Returns 0 or -1 with err. */
int httpd_server_listen(struct httpd_server *srv, const struct addr *a, unsigned flags, char *err,
                        size_t errlen);
/* Graceful stop: stop accepting, close idle sessions; busy ones close after
 * their response. */
void httpd_server_stop(struct httpd_server *srv);
/* Close everything (after the loop has returned). Stop and free accept a
 * zeroed, never initialised server. */
void httpd_server_free(struct httpd_server *srv);

/* <prefix>_http_requests_total{code="2xx"...} and the request duration
 * histogram; the name after the prefix is a contract with whoever reads it
 * (the LB's monitor, tristack status, the alert rules). */
#define HTTPD_METRIC_REQUESTS "_http_requests_total"
void httpd_metrics_define(struct metrics *m, const char *prefix, struct httpd_metrics *ids);
void httpd_server_use_metrics(struct httpd_server *srv, const struct metrics *m,
                              const struct httpd_metrics *ids);

/* ---- for handlers ---- */

/* Start a response head in s->out: status line, Date, Server. Then add
 * headers with httpd_head_add / httpd_head_addf and finish with httpd_head_end,
 * which writes Content-Length and the Connection header. content_length is
 * the body size, HTTPD_LENGTH_NONE for a response that has no body by its
 * status (304, 204), or HTTPD_LENGTH_UNKNOWN (the connection close ends it). */
#define HTTPD_LENGTH_UNKNOWN (-1)
#define HTTPD_LENGTH_NONE    (-2)
int httpd_head_begin(struct httpd_session *s, int status);
int httpd_head_add(struct httpd_session *s, const char *name, const char *value);
int httpd_head_addf(struct httpd_session *s, const char *name, const char *fmt, ...)
    TS_PRINTF(3, 4);
int httpd_head_end(struct httpd_session *s, int64_t content_length);

/* A whole response with a body in memory (copied). */
int httpd_respond(struct httpd_session *s, int status, const char *content_type, const void *body,
                  size_t len);
/* After httpd_head_*: the body, copied (into s->out when it fits). */
int httpd_body(struct httpd_session *s, const void *body, size_t len);
/* After httpd_head_*: send len bytes of fd from off; the session closes fd. */
void httpd_body_file(struct httpd_session *s, int fd, off_t off, off_t len);
/* The same from an fd someone else owns: release(arg) when done with it. */
void httpd_body_file_ref(struct httpd_session *s, int fd, off_t off, off_t len,
                         void (*release)(void *arg), void *arg);
/* After httpd_head_*: a body made piece by piece, for one too large to hold
 * (multipart/byteranges of a file). next(s, arg) is called each time all
 * that was queued has been written: it queues the next piece (httpd_body,
 * httpd_body_file_ref) and returns 1, or returns 0 when the body is whole,
 * -1 to give up (the connection closes). done(arg) is called once, when the
 * body is whole or the session ends first. */
void httpd_body_pieces(struct httpd_session *s, int (*next)(struct httpd_session *s, void *arg),
                       void (*done)(void *arg), void *arg);
/* A short error page; the connection closes after it when close is true. */
int httpd_error(struct httpd_session *s, int status, bool close);

/* Is the path of a request's target (its query aside) exactly want, or,
 * with prefix, does it start with want? */
bool httpd_path_is(struct str target, const char *want, bool prefix);
/* The whole registry in Prometheus text format. */
int httpd_respond_metrics(struct httpd_session *s, struct metrics *m);
/* Does the request name this daemon in its Host (port aside)? Its host's
 * address and names in the stack file (name, name.domain; www.domain and
 * domain on the www host), the address it was reached at, or localhost:
 * what Prometheus, `tristack status` and a browser on the dashboard send,
 * and never what a DNS-rebinding page sends (its own name). Admin
 * listeners answer the rest 403. */
bool httpd_admin_host_ok(const struct httpd_session *s, const struct daemon *d);
/* The same test for any listener's connection fd: is the Host (authority,
 * port aside) localhost, the address fd was reached at, or one of names[0,
 * n) (NULL entries skipped)? An empty Host (HTTP/1.0) is answered. */
bool httpd_host_is_local(struct str authority, int fd, const char *const *names, size_t n);
/* A handler for admin listeners: /metrics, else 404 (403 for a Host that is
 * not ours). s->srv->data must be the daemon's struct daemon. */
int httpd_admin_handler(struct httpd_session *s);

/* The async handler has queued its response. */
void httpd_session_resume(struct httpd_session *s);

/* A request header's value by name (case-insensitive); valid in the handler
 * (s->msg). */
bool httpd_session_header(const struct httpd_session *s, const char *name, struct str *value);
/* The access log's pieces, for log_line functions. */
void httpd_log_escaped(struct buf *b, struct str v);
/* "[26/Nov/2026:12:00:00 +0000]" style, with milliseconds when ms. */
void httpd_log_time(struct buf *b, int64_t wall, bool ms);
/* The request line as received: METHOD target HTTP/1.x (escaped). */
void httpd_log_request(struct buf *b, const struct httpd_session *s);
/* The client's port (0 for Unix sockets). */
int httpd_session_client_port(const struct httpd_session *s);
/* The client's IP as text, formatted once per connection. */
struct str httpd_session_client_ip_str(struct httpd_session *s);
/* The client's IP as text. */
const char *httpd_session_client_ip(const struct httpd_session *s, char *out, size_t len);
/* Microseconds on the monotonic clock. */
uint64_t httpd_now_us(void);

/* ---- for stream handlers (the proxy) ---- */

/* Request body bytes received and not yet consumed (they follow the head). */
static inline char *httpd_session_body_ptr(const struct httpd_session *s)
{
	return s->in.data + s->in.head + s->req->head_len;
}
static inline size_t httpd_session_body_avail(const struct httpd_session *s)
{
	return buf_len(&s->in) - s->req->head_len;
}
/* Drop n body bytes (sent upstream), keeping the head in place. */
void httpd_session_body_consume(struct httpd_session *s, size_t n);
/* Read more client bytes after the head. Returns bytes, 0 at EOF, TS_AGAIN
 * (including "no room until the body is consumed") or TS_ERROR. */
ssize_t httpd_session_read(struct httpd_session *s);
/* The stream is finished: log, count, then keep-alive or close. status is
 * what the client got; keep_alive false closes the connection. */
void httpd_session_stream_done(struct httpd_session *s, bool keep_alive);
/* The stream gives up before its response began: it has queued one with
 * httpd_error() (or httpd_head_* ...), which the session now writes. */
void httpd_session_stream_reply(struct httpd_session *s);
/* Close the client connection now (the stream has been aborted). */
void httpd_session_close(struct httpd_session *s);

#endif
