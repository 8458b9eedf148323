/* httpd.c - HTTP/1.1 server sessions. See httpd.h. */
#include "httpd.h"
#include "tls.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "net.h"

#define ACCEPT_BATCH   64 /* accepts per readiness event, for fairness */
#define PIPELINE_BATCH 32 /* pipelined requests answered per turn */

static void session_io(struct io *io);
static void session_timeout(struct timer *t);
static void session_process(struct http_session *s);
static void session_write(struct http_session *s);
static void accept_ready(struct io *io);
static void accept_more(struct defer *d);
static void file_done(struct http_req *r);
static void pieces_done(struct http_req *r);

uint64_t http_now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static uint64_t conf_ms(const struct http_server *srv, size_t off, uint64_t def)
{
	return srv->conf ? *(const uint64_t *)((const char *)srv->conf + off) : def;
}

#define TIMEOUT(srv, field, def) conf_ms((srv), offsetof(struct http_conf, field), (def))

/* ---- metrics ---- */

void http_metrics_define(struct metrics *m, const char *prefix, struct http_metrics *ids)
{
	static const double bounds[] = { 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
		                         0.1,    0.25,  0.5,    1,     2.5,  5,     10 };
	static const char *const classes[] = { "other", "1xx", "2xx", "3xx", "4xx", "5xx" };
	char name[128], labels[64];
	snprintf(name, sizeof(name), "%s_http_requests_total", prefix);
	for (int i = 0; i < 6; i++) {
		snprintf(labels, sizeof(labels), "code=\"%s\"", classes[i]);
		ids->requests[i] =
		    metrics_counter(m, name, "HTTP requests answered, by status class", labels);
	}
	snprintf(name, sizeof(name), "%s_connections", prefix);
	ids->connections = metrics_gauge(m, name, "Open client connections", NULL);
	snprintf(name, sizeof(name), "%s_connections_accepted_total", prefix);
	ids->accepted = metrics_counter(m, name, "Client connections accepted", NULL);
	snprintf(name, sizeof(name), "%s_http_request_duration_seconds", prefix);
	ids->duration =
	    metrics_histogram(m, name, "Time from the request head to the end of the response",
	                      NULL, bounds, ARRAY_SIZE(bounds));
	snprintf(name, sizeof(name), "%s_http_response_bytes_total", prefix);
	ids->bytes_out = metrics_counter(m, name, "Response body bytes sent", NULL);
	snprintf(name, sizeof(name), "%s_http_bad_requests_total", prefix);
	ids->bad_requests = metrics_counter(m, name, "Requests refused as malformed or slow", NULL);
}

void http_server_use_metrics(struct http_server *srv, const struct metrics *m,
                             const struct http_metrics *ids)
{
	for (int i = 0; i < 6; i++)
		srv->m.requests[i] = metrics_slot(m, ids->requests[i]);
	srv->m.connections = metrics_slot(m, ids->connections);
	srv->m.accepted = metrics_slot(m, ids->accepted);
	srv->m.bytes_out = metrics_slot(m, ids->bytes_out);
	srv->m.bad_requests = metrics_slot(m, ids->bad_requests);
	srv->m.duration_id = ids->duration;
	srv->count = true;
}

/* ---- server ---- */

void http_server_init(struct http_server *srv, struct worker *w, const struct http_conf *conf,
                      http_handler_fn handler, void *data)
{
	memset(srv, 0, sizeof(*srv));
	srv->w = w;
	srv->conf = conf;
	srv->handler = handler;
	srv->data = data;
	srv->listen_io.fd = -1;
	srv->limits.max_head = conf ? conf->max_header_size : 8192;
	srv->limits.max_headers = 100;
	srv->limits.max_body = conf ? conf->max_body_size : 0;
	unsigned n = w->d->nworkers ? w->d->nworkers : 1;
	srv->maxconn = conf ? (unsigned)((conf->maxconn + n - 1) / n) : 1024;
	srv->scratch = xmalloc(sizeof(*srv->scratch));
	if (conf && conf == w->d->http && w->d->access_log.path)
		srv->access_log = &w->d->access_log;
}

void http_server_buffer_bodies(struct http_server *srv)
{
	srv->buffer_body = true;
	/* A handler that gets whole bodies gets bounded ones. */
	if (srv->limits.max_body == 0)
		srv->limits.max_body = HTTP_BUFFERED_MAX_BODY;
}

int http_server_listen(struct http_server *srv, const struct addr *a, char *err, size_t errlen)
{
	int fd = worker_listen(srv->w, a, err, errlen);
	if (fd < 0)
		return -1;
	if (loop_io_add(srv->w->loop, &srv->listen_io, fd, accept_ready) < 0) {
		snprintf(err, errlen, "epoll: %s", strerror(errno));
		srv->listen_io.fd = -1;
		worker_unlisten(srv->w, fd);
		return -1;
	}
	return 0;
}

/* Stop accepting; the socket is closed unless a new generation took it. */
static void unlisten(struct http_server *srv)
{
	int fd = srv->listen_io.fd;
	if (fd < 0)
		return;
	loop_io_del(&srv->listen_io);
	worker_unlisten(srv->w, fd);
}

/* Waiting for a next request that has not begun: safe to close on a stop. */
static bool session_idle(const struct http_session *s)
{
	return s->state == HS_WAIT && !s->head_started && buf_empty(&s->in);
}

static void session_free_deferred(struct defer *d)
{
	struct http_session *s = container_of(d, struct http_session, free_defer);
	struct http_server *srv = s->srv;
	/* Kept for reuse: a new connection costs no malloc once warm. */
	s->next = srv->free_list;
	srv->free_list = s;
}

/* The request state, from a per-worker stock: made when a head begins,
 * given back when the connection goes idle. */
static struct http_req *req_get(struct http_session *s)
{
	if (s->req)
		return s->req;
	struct http_server *srv = s->srv;
	struct http_req *r = srv->req_free;
	if (r)
		srv->req_free = r->next_free;
	else
		r = xmalloc(sizeof(*r));
	memset(r, 0, sizeof(*r));
	r->file_fd = -1;
	r->t_wait = r->t_connect = r->t_response = -1;
	s->req = r;
	return r;
}

static void req_put(struct http_session *s)
{
	struct http_req *r = s->req;
	if (r == NULL)
		return;
	free(r->body);
	free(r->chunked);
	free(r->resp_body);
	file_done(r);
	pieces_done(r);
	s->req = NULL;
	if (s->srv->freeing) {
		free(r);
		return;
	}
	r->next_free = s->srv->req_free;
	s->srv->req_free = r;
}

void http_session_close(struct http_session *s)
{
	struct http_server *srv = s->srv;
	if (!conn_open(&s->conn))
		return;
	if (s->stream_ops) {
		const struct http_stream_ops *ops = s->stream_ops;
		s->stream_ops = NULL;
		ops->abort(s);
	}
	conn_close(&s->conn);
	if (srv->closed)
		srv->closed(s);
	loop_timer_stop(srv->w->loop, &s->timer);
	buf_release(&srv->w->pool, &s->in);
	buf_release(&srv->w->pool, &s->out);
	req_put(s);
	if (s->prev)
		s->prev->next = s->next;
	else
		srv->sessions = s->next;
	if (s->next)
		s->next->prev = s->prev;
	s->prev = s->next = NULL;
	if (srv->freeing)
		free(s); /* the loop has stopped: no event can point at s */
	else
		loop_defer(srv->w->loop, &s->free_defer, session_free_deferred);
	srv->w->nconns--;
	if (srv->count)
		metrics_add(srv->w->shard, srv->m.connections, -1);
	if (srv->paused && !srv->stopping) {
		srv->paused = false;
		accept_ready(&srv->listen_io);
	}
	worker_check_drained(srv->w);
}

void http_server_stop(struct http_server *srv)
{
	if (srv->w == NULL)
		return;
	srv->stopping = true;
	unlisten(srv);
	/* On a reload the new generation serves what comes next: a keep-alive
	 * connection is closed after its next response (so a request sent on
	 * it meanwhile is not lost) or when it times out. On a stop, idle ones
	 * go now. */
	bool close_idle = !srv->w->reloading;
	for (struct http_session *s = srv->sessions, *next; s; s = next) {
		next = s->next;
		if (close_idle && session_idle(s))
			http_session_close(s);
		else
			s->close_after = true;
	}
}

void http_server_free(struct http_server *srv)
{
	if (srv->w == NULL)
		return; /* never initialised (a worker that failed to start) */
	unlisten(srv);
	srv->freeing = true;
	while (srv->sessions)
		http_session_close(srv->sessions);
	for (struct http_session *s = srv->free_list, *next; s; s = next) {
		next = s->next;
		free(s);
	}
	srv->free_list = NULL;
	for (struct http_req *r = srv->req_free, *next; r; r = next) {
		next = r->next_free;
		free(r);
	}
	srv->req_free = NULL;
	free(srv->scratch);
	srv->scratch = NULL;
}

static struct http_session *session_new(struct http_server *srv)
{
	struct http_session *s = srv->free_list;
	if (s)
		srv->free_list = s->next;
	else
		s = xmalloc(sizeof(*s));
	memset(s, 0, sizeof(*s));
	s->srv = srv;
	s->timer.fn = session_timeout;
	return s;
}

/* A refused connection is reset, not closed: no TIME_WAIT is kept for
 * it, and the client learns at once. Returns true, for the caller's if. */
static bool refuse(int fd)
{
	struct linger lg = { .l_onoff = 1, .l_linger = 0 };
	setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	return true;
}

static void accept_ready(struct io *io)
{
	struct http_server *srv = container_of(io, struct http_server, listen_io);
	struct worker *w = srv->w;
	for (int i = 0; i < ACCEPT_BATCH; i++) {
		if (srv->stopping || io->fd < 0)
			return;
		if (w->nconns >= srv->maxconn) {
			/* The rest wait in the kernel's queue until one closes. */
			srv->paused = true;
			return;
		}
		struct sockaddr_storage ss;
		socklen_t len = sizeof(ss);
		int fd =
		    accept4(io->fd, (struct sockaddr *)&ss, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK) {
				io->ready &= ~IO_READ;
				return;
			}
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			log_error("accept: %s", strerror(errno));
			return; /* EMFILE and friends: try again on the next event */
		}
		if (ss.ss_family != AF_UNIX) {
			/* Responses go out whole (writev, MSG_MORE before sendfile):
			 * Nagle would only add a delayed-ACK wait. */
			int one = 1;
			setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		}
		struct http_session *s = session_new(srv);
		memcpy(&s->peer, &ss, MIN((size_t)len, sizeof(s->peer)));
		if (conn_init(&s->conn, w->loop, fd, session_io) < 0) {
			close(fd);
			s->next = srv->free_list;
			srv->free_list = s;
			continue;
		}
		if ((srv->tls && conn_tls_accept(&s->conn, srv->tls) < 0) ||
		    (srv->admit && srv->admit(s) < 0 && refuse(fd))) {
			conn_close(&s->conn);
			s->next = srv->free_list;
			srv->free_list = s;
			continue;
		}
		s->next = srv->sessions;
		if (s->next)
			s->next->prev = s;
		srv->sessions = s;
		w->nconns++;
		if (srv->count) {
			metrics_add(w->shard, srv->m.connections, 1);
			metrics_add(w->shard, srv->m.accepted, 1);
		}
		s->state = HS_WAIT;
		/* The first head must arrive whole within timeout_http_request. */
		s->head_started = true;
		s->t_begin = loop_now(w->loop);
		loop_timer_set(w->loop, &s->timer, TIMEOUT(srv, timeout_http_request, 10000));
	}
	/* A full batch: more may wait in the backlog, and with edge-triggered
	 * events no new edge will say so. Go on once the others had a turn. */
	loop_defer(w->loop, &srv->accept_more, accept_more);
}

static void accept_more(struct defer *d)
{
	struct http_server *srv = container_of(d, struct http_server, accept_more);
	if (srv->listen_io.fd >= 0 && (srv->listen_io.ready & IO_READ))
		accept_ready(&srv->listen_io);
}

/* ---- responses ---- */

static void log_time_format(struct http_server *srv, int64_t now);

/* Once a second: the Date line and what follows it in every response. */
static void refresh_common(struct http_server *srv)
{
	int64_t now = loop_wall(srv->w->loop);
	if (now == srv->date_t)
		return;
	srv->date_t = now;
	http_date(now, srv->date);
	int n = snprintf(srv->common, sizeof(srv->common), "Date: %s\r\nServer: tristack\r\n%s",
	                 srv->date, srv->extra_headers ? srv->extra_headers : "");
	srv->common_len = (uint16_t)MIN((size_t)MAX(n, 0), sizeof(srv->common) - 1);
	log_time_format(srv, now);
}

int http_head_begin(struct http_session *s, int status)
{
	struct http_server *srv = s->srv;
	buf_attach(&srv->w->pool, &s->out);
	s->req->status = status;
	refresh_common(srv);
	const char *reason = http_status_reason(status);
	char line[16] = "HTTP/1.1 000 ";
	line[9] = (char)('0' + status / 100 % 10);
	line[10] = (char)('0' + status / 10 % 10);
	line[11] = (char)('0' + status % 10);
	size_t rlen = strlen(reason);
	if (buf_room(&s->out) < 13 + rlen + 2 + srv->common_len)
		buf_compact(&s->out);
	if (buf_room(&s->out) < 13 + rlen + 2 + srv->common_len)
		return -1;
	buf_append(&s->out, line, 13);
	buf_append(&s->out, reason, rlen);
	buf_append_lit(&s->out, "\r\n");
	buf_append(&s->out, srv->common, srv->common_len);
	return 0;
}

int http_head_add(struct http_session *s, const char *name, const char *value)
{
	size_t n = strlen(name), v = strlen(value);
	if (buf_room(&s->out) < n + v + 4)
		buf_compact(&s->out);
	if (buf_room(&s->out) < n + v + 4)
		return -1;
	buf_append(&s->out, name, n);
	buf_append_lit(&s->out, ": ");
	buf_append(&s->out, value, v);
	buf_append_lit(&s->out, "\r\n");
	return 0;
}

int http_head_addf(struct http_session *s, const char *name, const char *fmt, ...)
{
	char value[1024];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(value, sizeof(value), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(value))
		return -1;
	return http_head_add(s, name, value);
}

int http_head_end(struct http_session *s, int64_t content_length)
{
	struct buf *o = &s->out;
	int r = 0;
	if (content_length >= 0) {
		r |= buf_append_lit(o, "Content-Length: ");
		r |= buf_append_u64(o, (uint64_t)content_length);
		r |= buf_append_lit(o, "\r\n");
	} else if (content_length == HTTP_LENGTH_UNKNOWN) {
		s->close_after = true; /* without a length, the close marks the end */
	}
	/* A request body no one has read (a 405 answered before it) would be
	 * taken for the next request: the connection ends after this response
	 * (request_finish) and the response says so. */
	bool unread = s->req->framing != HTTP_BODY_NONE && !s->req->body_consumed;
	bool keep = s->req->keep_alive && !s->close_after && !s->srv->stopping && !unread;
	if (!keep) {
		s->close_after = true;
		s->announced_close = true;
		r |= buf_append_lit(o, "Connection: close\r\n");
	} else if (s->req->minor == 0) {
		r |= buf_append_lit(o, "Connection: keep-alive\r\n");
	}
	r |= buf_append_lit(o, "\r\n");
	return r ? -1 : 0;
}

int http_body(struct http_session *s, const void *body, size_t len)
{
	if (s->req->method == HTTP_HEAD || len == 0)
		return 0;
	s->req->bytes_out += len;
	if (buf_append(&s->out, body, len) == 0)
		return 0;
	s->req->resp_body = xmalloc(len);
	memcpy(s->req->resp_body, body, len);
	s->req->resp_len = len;
	s->req->resp_sent = 0;
	return 0;
}

void http_body_file(struct http_session *s, int fd, off_t off, off_t len)
{
	if (s->req->method == HTTP_HEAD || len == 0) {
		close(fd);
		return;
	}
	s->req->file_fd = fd;
	s->req->file_off = off;
	s->req->file_end = off + len;
}

void http_body_file_ref(struct http_session *s, int fd, off_t off, off_t len,
                        void (*release)(void *arg), void *arg)
{
	if (s->req->method == HTTP_HEAD || len == 0) {
		release(arg);
		return;
	}
	s->req->file_fd = fd;
	s->req->file_off = off;
	s->req->file_end = off + len;
	s->req->file_release = release;
	s->req->file_arg = arg;
}

void http_body_pieces(struct http_session *s, int (*next)(struct http_session *s, void *arg),
                      void (*done)(void *arg), void *arg)
{
	if (s->req->method == HTTP_HEAD) {
		done(arg);
		return;
	}
	s->req->pieces_next = next;
	s->req->pieces_done = done;
	s->req->pieces_arg = arg;
}

static void pieces_done(struct http_req *r)
{
	if (r->pieces_done == NULL)
		return;
	r->pieces_done(r->pieces_arg);
	r->pieces_next = NULL;
	r->pieces_done = NULL;
}

/* Done with the response's file: closed, or given back to its owner. */
static void file_done(struct http_req *r)
{
	if (r->file_fd < 0)
		return;
	if (r->file_release)
		r->file_release(r->file_arg);
	else
		close(r->file_fd);
	r->file_fd = -1;
	r->file_release = NULL;
}

int http_respond(struct http_session *s, int status, const char *content_type, const void *body,
                 size_t len)
{
	if (http_head_begin(s, status) < 0 ||
	    (content_type && http_head_add(s, "Content-Type", content_type) < 0) ||
	    http_head_end(s, (int64_t)len) < 0)
		return -1;
	return http_body(s, body, len);
}

int http_error(struct http_session *s, int status, bool close)
{
	char body[128];
	int n = snprintf(body, sizeof(body), "%d %s\n", status, http_status_reason(status));
	if (close)
		s->close_after = true;
	/* Whatever was half-built is dropped. */
	if (s->out.data)
		s->out.head = s->out.tail = 0;
	free(s->req->resp_body);
	s->req->resp_body = NULL;
	s->req->resp_len = s->req->resp_sent = 0;
	s->req->bytes_out = 0;
	if (s->srv->error_page && s->srv->error_page(s, status) == 0)
		return 0;
	if (s->out.data)
		s->out.head = s->out.tail = 0; /* what the hook began, if it failed */
	return http_respond(s, status, "text/plain; charset=utf-8", body, (size_t)n);
}

bool http_path_is(struct str path, const char *want, bool prefix)
{
	size_t n = strlen(want);
	const char *q = memchr(path.p, '?', path.len);
	size_t len = q ? (size_t)(q - path.p) : path.len;
	if (prefix)
		return len >= n && memcmp(path.p, want, n) == 0;
	return len == n && memcmp(path.p, want, n) == 0;
}

int http_respond_metrics(struct http_session *s, struct metrics *m)
{
	struct sbuf out = { 0 };
	metrics_render(m, &out);
	int r = http_respond(s, 200, "text/plain; version=0.0.4; charset=utf-8", out.p, out.len);
	sbuf_free(&out);
	return r;
}

/* host (no port) is one of these names, whatever their case. */
static bool host_in(struct str host, const char *const *names, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (names[i] && strlen(names[i]) == host.len &&
		    strncasecmp(host.p, names[i], host.len) == 0)
			return true;
	return false;
}

/* The Host without its port; an IPv6 literal without its brackets. */
static struct str host_name(struct str a)
{
	if (a.len && a.p[0] == '[') {
		const char *end = memchr(a.p, ']', a.len);
		return end ? (struct str){ a.p + 1, (size_t)(end - a.p - 1) } : a;
	}
	const char *colon = memrchr(a.p, ':', a.len);
	return colon ? (struct str){ a.p, (size_t)(colon - a.p) } : a;
}

bool http_admin_host_ok(const struct http_session *s, const struct daemon *d)
{
	struct str host = host_name(s->req->authority);
	if (host.len == 0)
		return true; /* HTTP/1.0 without Host: no browser sends that */
	char local[64] = "", fqdn[300] = "", www[300] = "";
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	if (getsockname(s->conn.io.fd, (struct sockaddr *)&ss, &len) == 0)
		sockaddr_ip((const struct sockaddr *)&ss, local, sizeof(local));
	const struct daemon_ident *id = &d->id;
	const char *domain = id->domain;
	bool is_www = id->host && domain && id->www && strcmp(id->host, id->www) == 0;
	if (id->host && domain)
		snprintf(fqdn, sizeof(fqdn), "%s.%s", id->host, domain);
	if (is_www)
		snprintf(www, sizeof(www), "www.%s", domain);
	const char *const names[] = { "localhost",
		                      "127.0.0.1",
		                      "::1",
		                      local,
		                      id->address,
		                      id->host,
		                      fqdn[0] ? fqdn : NULL,
		                      www[0] ? www : NULL,
		                      is_www ? domain : NULL };
	return host_in(host, names, ARRAY_SIZE(names));
}

int http_admin_handler(struct http_session *s)
{
	struct daemon *d = s->srv->data;
	if (!http_admin_host_ok(s, d))
		return http_error(s, 403, false);
	if (!http_path_is(s->req->path, "/metrics", false))
		return http_error(s, 404, false);
	if (s->req->method != HTTP_GET && s->req->method != HTTP_HEAD)
		return http_error(s, 405, false);
	return http_respond_metrics(s, d->metrics);
}

/* ---- access log ---- */

void http_log_escaped(struct buf *b, struct str v)
{
	static const char hex[] = "0123456789ABCDEF";
	for (size_t i = 0; i < v.len && buf_room(b) > 8; i++) {
		unsigned char c = (unsigned char)v.p[i];
		if (c == '"' || c == '\\' || c < 0x20 || c >= 0x7f) {
			char e[4] = { '\\', 'x', hex[c >> 4], hex[c & 15] };
			buf_append(b, e, 4);
		} else {
			buf_append(b, &c, 1);
		}
	}
}

static void log_field(struct buf *b, struct str v)
{
	if (v.len)
		http_log_escaped(b, v);
	else
		buf_append_lit(b, "-");
}

static void log_time_format(struct http_server *srv, int64_t now)
{
	struct buf b = { .data = srv->log_time, .size = sizeof(srv->log_time) };
	http_log_time(&b, now, false);
	srv->log_time_len = (uint8_t)buf_len(&b);
}

void http_log_time(struct buf *b, int64_t wall, bool ms)
{
	static const char months[12][4] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun",
		                            "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };
	struct timespec ts;
	time_t now = (time_t)wall;
	long msec = 0;
	if (ms) {
		clock_gettime(CLOCK_REALTIME, &ts);
		now = ts.tv_sec;
		msec = ts.tv_nsec / 1000000;
	}
	struct tm tm;
	gmtime_r(&now, &tm);
	buf_appendf(b, "[%02d/%s/%04d:%02d:%02d:%02d", tm.tm_mday, months[tm.tm_mon],
	            tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
	if (ms)
		buf_appendf(b, ".%03ld]", msec);
	else
		buf_append_lit(b, " +0000]");
}

void http_log_request(struct buf *b, const struct http_session *s)
{
	if (s->req->head_len == 0)
		return;
	http_log_escaped(b, s->req->method_name);
	buf_append_lit(b, " ");
	http_log_escaped(b, s->req->target);
	if (s->req->minor)
		buf_append_lit(b, " HTTP/1.1");
	else
		buf_append_lit(b, " HTTP/1.0");
}

/* nginx's "combined": $remote_addr - $remote_user [$time_local] "$request"
 * $status $body_bytes_sent "$http_referer" "$http_user_agent" */
static void log_combined(const struct http_session *s, struct buf *b)
{
	char ip[64];
	struct http_server *srv = s->srv;
	if (s->req->real_ip_len)
		buf_append(b, s->req->real_ip, s->req->real_ip_len);
	else
		buf_append(b, ip, strlen(http_session_client_ip(s, ip, sizeof(ip))));
	buf_append_lit(b, " - - ");
	refresh_common(srv);
	buf_append(b, srv->log_time, srv->log_time_len);
	buf_append_lit(b, " \"");
	http_log_request(b, s);
	buf_append_lit(b, "\" ");
	buf_append_u64(b, (uint64_t)(s->req->status > 0 ? s->req->status : 0));
	buf_append_lit(b, " ");
	buf_append_u64(b, s->req->bytes_out);
	buf_append_lit(b, " \"");
	log_field(b, s->req->referer);
	buf_append_lit(b, "\" \"");
	log_field(b, s->req->user_agent);
	buf_append_lit(b, "\"\n");
}

static void access_log(struct http_session *s)
{
	struct http_server *srv = s->srv;
	char line[4096];
	struct buf b = { .data = line, .size = sizeof(line) - 1 };
	if (srv->log_line)
		srv->log_line(s, &b);
	else
		log_combined(s, &b);
	if (buf_len(&b) == 0 || line[buf_len(&b) - 1] != '\n')
		line[b.tail++] = '\n'; /* a line cut short still ends */
	log_file_write(srv->access_log, line, buf_len(&b));
}

static void count_request(struct http_session *s)
{
	struct http_server *srv = s->srv;
	if (srv->count) {
		int cls = s->req->status >= 100 && s->req->status < 600 ? s->req->status / 100 : 0;
		struct metrics_shard *sh = srv->w->shard;
		metrics_add(sh, srv->m.requests[cls], 1);
		metrics_add(sh, srv->m.bytes_out, (int64_t)s->req->bytes_out);
		if (s->req->t_start_us)
			metrics_observe(srv->w->d->metrics, sh, srv->m.duration_id,
			                (double)(http_now_us() - s->req->t_start_us) / 1e6);
	}
	if (srv->access_log)
		access_log(s);
}

/* ---- request bytes ---- */

int http_session_client_port(const struct http_session *s)
{
	const struct sockaddr *sa = (const struct sockaddr *)&s->peer;
	if (sa->sa_family == AF_INET)
		return ntohs(((const struct sockaddr_in *)(const void *)sa)->sin_port);
	if (sa->sa_family == AF_INET6)
		return ntohs(s->peer.sin6_port);
	return 0;
}

struct str http_session_client_ip_str(struct http_session *s)
{
	if (s->req->peer_text_len == 0) {
		sockaddr_ip((const struct sockaddr *)&s->peer, s->req->peer_text,
		            sizeof(s->req->peer_text));
		s->req->peer_text_len = (uint8_t)strlen(s->req->peer_text);
	}
	return (struct str){ s->req->peer_text, s->req->peer_text_len };
}

const char *http_session_client_ip(const struct http_session *s, char *out, size_t len)
{
	return sockaddr_ip((const struct sockaddr *)&s->peer, out, len);
}

bool http_session_header(const struct http_session *s, const char *name, struct str *value)
{
	if (s->req->msg == NULL)
		return false;
	int i = http_find_header(s->req->msg, name, 0);
	if (i < 0)
		return false;
	*value = s->req->msg->headers[i].value;
	return true;
}

void http_session_body_consume(struct http_session *s, size_t n)
{
	struct buf *in = &s->in;
	size_t body_at = in->head + s->req->head_len;
	size_t after = in->tail - body_at - n;
	if (after)
		memmove(in->data + body_at, in->data + body_at + n, after);
	in->tail -= (uint32_t)n;
}

ssize_t http_session_read(struct http_session *s)
{
	struct buf *in = &s->in;
	buf_attach(&s->srv->w->pool, in);
	if (buf_room(in) == 0) {
		if (s->req->head_len == 0)
			buf_compact(in); /* no head is pinned yet */
		if (buf_room(in) == 0)
			return TS_AGAIN;
	}
	if (!conn_readable(&s->conn))
		return TS_AGAIN;
	ssize_t n = conn_read(&s->conn, buf_wptr(in), buf_room(in));
	if (n > 0)
		buf_produced(in, (size_t)n);
	return n;
}

/* ---- the request cycle ---- */

/* The request and its response are over: forget them, keep the bytes of the
 * next request. */
static void request_reset(struct http_session *s)
{
	struct http_server *srv = s->srv;
	buf_consume(&s->in, s->req->head_len);
	req_put(s);
	s->scan = 0;
	s->announced_close = false;
	s->state = HS_WAIT;
	buf_release_if_empty(&srv->w->pool, &s->out);
}

/* Discard what the client still sends, until it closes or time is up. */
static void linger_read(struct http_session *s)
{
	char sink[16384];
	for (;;) {
		ssize_t n = conn_read(&s->conn, sink, sizeof(sink));
		if (n == TS_AGAIN)
			return;
		if (n <= 0 || (s->lingered += (uint32_t)n) > HTTP_LINGER_BYTES) {
			http_session_close(s);
			return;
		}
	}
}

/* Close after a response. When the client may still be sending (a body we
 * did not read, bytes of a next request), closing at once would answer its
 * data with a reset, which can destroy our response before it is read (an
 * early 413 lost as a "connection reset"): shut our side, drain a while. */
static void session_end(struct http_session *s)
{
	struct http_server *srv = s->srv;
	bool unread = (s->req->framing != HTTP_BODY_NONE && !s->req->body_consumed) ||
	              buf_len(&s->in) > s->req->head_len;
	if (!unread || srv->freeing) {
		http_session_close(s);
		return;
	}
	conn_shutdown_write(&s->conn);
	buf_release(&srv->w->pool, &s->in);
	buf_release(&srv->w->pool, &s->out);
	s->state = HS_LINGER;
	s->lingered = 0;
	loop_timer_set(srv->w->loop, &s->timer, HTTP_LINGER_MS);
	linger_read(s);
}

/* After a response: close, or wait for the next request. */
static void request_finish(struct http_session *s)
{
	struct http_server *srv = s->srv;
	count_request(s);
	bool body_pending = s->req->framing != HTTP_BODY_NONE && !s->req->body_consumed;
	/* A response that promised keep-alive is not followed by a close: the
	 * client may already be sending its next request on it. Only a hard
	 * stop breaks the promise; a reload answers that next request (with
	 * Connection: close) or lets the connection time out. */
	bool hard_stop = srv->stopping && !srv->w->reloading;
	if (s->announced_close || !s->req->keep_alive || body_pending || hard_stop) {
		session_end(s);
		return;
	}
	request_reset(s);
	if (buf_empty(&s->in)) {
		buf_release(&srv->w->pool, &s->in);
		s->head_started = false;
		loop_timer_set(srv->w->loop, &s->timer,
		               TIMEOUT(srv, timeout_http_keep_alive, 10000));
	} else {
		s->head_started = true;
		s->t_begin = loop_now(srv->w->loop);
		loop_timer_set(srv->w->loop, &s->timer, TIMEOUT(srv, timeout_http_request, 10000));
	}
}

void http_session_stream_done(struct http_session *s, bool keep_alive)
{
	s->stream_ops = NULL;
	s->stream = NULL;
	if (!keep_alive)
		s->announced_close = true; /* the stream knows it cannot go on */
	request_finish(s);
	if (conn_open(&s->conn) && !s->processing)
		session_process(s);
}

static void write_done(struct http_session *s)
{
	request_finish(s);
	/* Inside session_process, its loop takes the next request itself:
	 * pipelined requests must not nest one call per request. */
	if (conn_open(&s->conn) && !s->processing)
		session_process(s);
}

/* Write what is queued: s->out, then the heap body or the file. */
static void session_write(struct http_session *s)
{
	struct http_server *srv = s->srv;
	for (;;) {
		size_t pending_out = s->out.data ? buf_len(&s->out) : 0;
		size_t pending_body = s->req->resp_len - s->req->resp_sent;
		if (pending_out || pending_body) {
			struct iovec iov[2];
			int n = 0;
			if (pending_out)
				iov[n++] = (struct iovec){ buf_rptr(&s->out), pending_out };
			if (pending_body)
				iov[n++] = (struct iovec){ s->req->resp_body + s->req->resp_sent,
					                   pending_body };
			bool file_next =
			    s->req->file_fd >= 0 && s->req->file_off < s->req->file_end;
			ssize_t w = file_next ? conn_writev_more(&s->conn, iov, n)
			                      : conn_writev(&s->conn, iov, n);
			if (w == TS_AGAIN)
				goto wait;
			if (w < 0) {
				http_session_close(s);
				return;
			}
			size_t k = MIN((size_t)w, pending_out);
			if (k)
				buf_consume(&s->out, k);
			s->req->resp_sent += (size_t)w - k;
			continue;
		}
		if (s->req->file_fd >= 0 && s->req->file_off < s->req->file_end) {
			ssize_t w = conn_sendfile(
			    &s->conn, s->req->file_fd, &s->req->file_off,
			    (size_t)MIN(s->req->file_end - s->req->file_off, 1 << 20));
			if (w == TS_AGAIN)
				goto wait;
			if (w <= 0) { /* an error, or the file shrank under us */
				http_session_close(s);
				return;
			}
			s->req->bytes_out += (size_t)w;
			continue;
		}
		if (s->req->pieces_next) {
			file_done(s->req); /* the last piece's file */
			int more = s->req->pieces_next(s, s->req->pieces_arg);
			if (more > 0)
				continue;
			pieces_done(s->req);
			if (more < 0) {
				http_session_close(s);
				return;
			}
		}
		break;
	}
	/* All written. */
	file_done(s->req);
	free(s->req->resp_body);
	s->req->resp_body = NULL;
	s->req->resp_len = s->req->resp_sent = 0;
	if (s->state == HS_CLOSING) {
		count_request(s);
		session_end(s);
		return;
	}
	write_done(s);
	return;
wait:
	loop_timer_set(srv->w->loop, &s->timer, TIMEOUT(srv, timeout_client, 60000));
}

static void start_write(struct http_session *s, bool closing)
{
	s->state = closing ? HS_CLOSING : HS_WRITE;
	session_write(s);
}

static void fail_request(struct http_session *s, int status)
{
	struct http_server *srv = s->srv;
	req_get(s);
	if (srv->count)
		metrics_add(srv->w->shard, srv->m.bad_requests, 1);
	if (s->req->head_len == 0)
		s->req->minor = 1;
	http_error(s, status, true);
	start_write(s, true);
}

static void call_handler(struct http_session *s)
{
	s->state = HS_HANDLER;
	int r = s->srv->handler(s);
	/* A stream handler may have finished (or closed) already. */
	if (!conn_open(&s->conn) || s->state != HS_HANDLER)
		return;
	if (r == TS_OK) {
		start_write(s, false);
	} else if (r == TS_AGAIN) {
		/* stream_ops without on_client: an async handler's abort hook */
		s->state = s->stream_ops && s->stream_ops->on_client ? HS_STREAM : HS_HANDLER;
	} else {
		http_error(s, 500, true);
		start_write(s, true);
	}
}

void http_session_stream_reply(struct http_session *s)
{
	s->stream_ops = NULL;
	s->stream = NULL;
	if (conn_open(&s->conn))
		start_write(s, false);
}

void http_session_resume(struct http_session *s)
{
	s->stream_ops = NULL;
	s->stream = NULL;
	if (conn_open(&s->conn) && s->state == HS_HANDLER)
		start_write(s, false);
}

/* Feed the buffered body with what has arrived; true when it is complete. */
static int collect_body(struct http_session *s)
{
	size_t avail = http_session_body_avail(s);
	char *p = http_session_body_ptr(s);
	if (s->req->framing == HTTP_BODY_LENGTH) {
		size_t n = (size_t)MIN((uint64_t)avail, s->req->body_left);
		memcpy(s->req->body + s->req->body_len, p, n);
		s->req->body_len += n;
		s->req->body_left -= n;
		http_session_body_consume(s, n);
		return s->req->body_left == 0;
	}
	size_t off = 0;
	while (off < avail && !http_chunked_done(s->req->chunked)) {
		struct str data;
		ssize_t n = http_chunked_step(s->req->chunked, p + off, avail - off, &data);
		if (n < 0)
			return TS_ERROR;
		if (data.len) {
			/* Grows with the data; max_body_size bounds it. */
			s->req->body = xrealloc(s->req->body, s->req->body_len + data.len + 1);
			memcpy(s->req->body + s->req->body_len, data.p, data.len);
			s->req->body_len += data.len;
		}
		if (n == 0)
			break;
		off += (size_t)n;
	}
	http_session_body_consume(s, off);
	return http_chunked_done(s->req->chunked);
}

/* Buffered body: collect it into s->req->body, then call the handler. */
static void read_body(struct http_session *s)
{
	struct http_server *srv = s->srv;
	for (;;) {
		int done = collect_body(s);
		if (done < 0) {
			fail_request(s, s->req->chunked->error_status);
			return;
		}
		if (done) {
			s->req->body_consumed = true;
			if (s->req->body)
				s->req->body[s->req->body_len] = '\0';
			/* The scratch head has served other sessions meanwhile: the
			 * head (still at the front of s->in) is parsed again, so the
			 * handler sees its headers. */
			size_t scan = 0;
			s->req->msg = NULL;
			if (http_parse_request(buf_rptr(&s->in), s->req->head_len, &scan,
			                       &srv->limits, srv->scratch) > 0)
				s->req->msg = srv->scratch;
			loop_timer_set(srv->w->loop, &s->timer,
			               TIMEOUT(srv, timeout_client, 60000));
			call_handler(s);
			return;
		}
		ssize_t n = http_session_read(s);
		if (n == TS_AGAIN)
			return;
		if (n <= 0) {
			http_session_close(s);
			return;
		}
	}
}

static void begin_body(struct http_session *s)
{
	struct http_server *srv = s->srv;
	s->state = HS_BODY;
	if (s->req->framing == HTTP_BODY_LENGTH) {
		/* The limit was checked against Content-Length when the head was
		 * parsed: buffered mode never runs without one. */
		s->req->body_left = s->req->content_length;
		s->req->body = xmalloc((size_t)s->req->content_length + 1);
	} else {
		s->req->chunked = xmalloc(sizeof(*s->req->chunked));
		http_chunked_init(s->req->chunked, srv->limits.max_body,
		                  (uint32_t)srv->limits.max_head);
	}
	if (s->req->expect_continue && s->req->minor >= 1) {
		static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
		/* Best effort: if it does not go out now, the client sends anyway. */
		conn_write(&s->conn, cont, sizeof(cont) - 1);
	}
	read_body(s);
}

/* nginx's real_ip: from a trusted proxy, the client is the last address of
 * the last X-Forwarded-For (what that proxy appended); anything that is not
 * an IP address leaves the peer as the client. */
static void take_real_ip(struct http_session *s, const struct http_msg *m)
{
	struct http_req *r = s->req;
	r->real_ip_len = 0;
	if (s->srv->real_ip_from == NULL ||
	    !net_ipset_has(s->srv->real_ip_from, (const struct sockaddr *)&s->peer))
		return;
	int last = -1;
	for (int i = http_find_header(m, "x-forwarded-for", 0); i >= 0;
	     i = http_find_header(m, "x-forwarded-for", i + 1))
		last = i;
	if (last < 0)
		return;
	struct str v = m->headers[last].value;
	const char *comma = memrchr(v.p, ',', v.len);
	if (comma) {
		v.len -= (size_t)(comma + 1 - v.p);
		v.p = comma + 1;
	}
	while (v.len && (v.p[0] == ' ' || v.p[0] == '\t')) {
		v.p++;
		v.len--;
	}
	while (v.len && (v.p[v.len - 1] == ' ' || v.p[v.len - 1] == '\t'))
		v.len--;
	unsigned char bin[sizeof(struct in6_addr)];
	if (v.len == 0 || v.len >= sizeof(r->real_ip))
		return;
	memcpy(r->real_ip, v.p, v.len);
	r->real_ip[v.len] = '\0';
	if (inet_pton(AF_INET, r->real_ip, bin) == 1 || inet_pton(AF_INET6, r->real_ip, bin) == 1)
		r->real_ip_len = (uint8_t)v.len;
}

static void head_parsed(struct http_session *s, const struct http_msg *m)
{
	struct http_req *r = s->req;
	r->method = m->method;
	r->minor = m->minor;
	r->keep_alive = m->keep_alive;
	r->expect_continue = m->expect_continue;
	r->absolute_form = m->absolute_form;
	r->framing = m->framing;
	r->content_length = m->content_length;
	r->head_len = m->head_len;
	r->method_name = m->method_name;
	r->target = m->target;
	r->path = m->path;
	r->authority = m->authority;
	int i = http_find_header(m, "referer", 0);
	r->referer = i >= 0 ? m->headers[i].value : (struct str){ NULL, 0 };
	i = http_find_header(m, "user-agent", 0);
	r->user_agent = i >= 0 ? m->headers[i].value : (struct str){ NULL, 0 };
	take_real_ip(s, m);
	r->t_start_us = s->srv->count ? http_now_us() : 0;
	s->req->t_head = loop_now(s->srv->w->loop);
	s->req->msg = s->srv->scratch;
	/* nginx's keepalive_requests: the last one says Connection: close */
	const struct http_conf *conf = s->srv->conf;
	if (conf && conf->keepalive_requests &&
	    ++s->nrequests >= (uint64_t)conf->keepalive_requests)
		s->close_after = true;
	s->req->body_consumed = m->framing == HTTP_BODY_NONE;
}

static void resume_deferred(struct defer *d)
{
	struct http_session *s = container_of(d, struct http_session, resume);
	if (conn_open(&s->conn) && s->state == HS_WAIT)
		session_process(s);
}

/* One read; false when the session must wait for the socket (or is gone). */
static bool read_more(struct http_session *s)
{
	struct http_server *srv = s->srv;
	ssize_t n = http_session_read(s);
	if (n == TS_AGAIN) {
		if (buf_room(&s->in) == 0)
			fail_request(s, 431);
		else if (buf_empty(&s->in))
			buf_release(&srv->w->pool, &s->in);
		return false;
	}
	if (n <= 0) {
		http_session_close(s);
		return false;
	}
	return true;
}

static void process_head(struct http_session *s, struct http_msg *m)
{
	struct http_server *srv = s->srv;
	head_parsed(s, m);
	loop_timer_set(srv->w->loop, &s->timer, TIMEOUT(srv, timeout_client, 60000));
	if (srv->buffer_body && m->framing != HTTP_BODY_NONE)
		begin_body(s);
	else
		call_handler(s);
}

/* Parse what has arrived; answer complete requests, pipelined ones in order. */
static void session_process(struct http_session *s)
{
	struct http_server *srv = s->srv;
	s->processing = true;
	for (int round = 0; round < PIPELINE_BATCH; round++) {
		if (s->state != HS_WAIT || !conn_open(&s->conn))
			goto out;
		if (!buf_empty(&s->in)) {
			struct http_msg *m = srv->scratch;
			req_get(s);
			if (!s->head_started) {
				/* The head must now arrive whole within timeout_http_request. */
				s->head_started = true;
				s->t_begin = loop_now(srv->w->loop);
				loop_timer_set(srv->w->loop, &s->timer,
				               TIMEOUT(srv, timeout_http_request, 10000));
			}
			ssize_t r = http_parse_request(buf_rptr(&s->in), buf_len(&s->in), &s->scan,
			                               &srv->limits, m);
			if (r == TS_ERROR) {
				log_debug("bad request: %s", m->error);
				fail_request(s, m->error_status);
				goto out;
			}
			if (r > 0) {
				process_head(s, m);
				continue;
			}
		}
		if (!read_more(s))
			goto out;
	}
	/* A long pipeline: let the other connections have a turn, then go on. */
	loop_defer(srv->w->loop, &s->resume, resume_deferred);
out:
	s->processing = false;
}

static void session_io(struct io *io)
{
	struct http_session *s = container_of(io, struct http_session, conn.io);
	switch (s->state) {
	case HS_STREAM:
		s->stream_ops->on_client(s);
		break;
	case HS_WAIT:
		session_process(s);
		break;
	case HS_BODY:
		read_body(s);
		break;
	case HS_WRITE:
	case HS_CLOSING:
		if (io->ready & IO_WRITE)
			session_write(s);
		else if (io->ready & IO_ERR)
			http_session_close(s);
		break;
	case HS_HANDLER:
		if (io->ready & IO_ERR)
			http_session_close(s);
		break;
	case HS_LINGER:
		linger_read(s);
		break;
	}
}

static void session_timeout(struct timer *t)
{
	struct http_session *s = container_of(t, struct http_session, timer);
	switch (s->state) {
	case HS_STREAM:
		s->stream_ops->on_timeout(s);
		break;
	case HS_WAIT:
	case HS_BODY:
		if (s->state == HS_BODY || !buf_empty(&s->in)) {
			/* A head (or body) that did not arrive in time: slowloris. */
			if (s->srv->count)
				metrics_add(s->srv->w->shard, s->srv->m.bad_requests, 1);
			req_get(s);
			if (s->req->head_len == 0)
				s->req->minor = 1;
			http_error(s, 408, true);
			start_write(s, true);
		} else {
			http_session_close(s); /* idle keep-alive, or nothing ever sent */
		}
		break;
	default:
		http_session_close(s);
		break;
	}
}
