/* httpd.c - HTTP/1.1 servers: listening, accepting sessions, closing them,
 * stopping. See httpd.h. The request cycle of a session is httpd_cycle.c,
 * writing responses httpd_resp.c, the access log httpd_log.c, admin
 * listeners httpd_admin.c; httpd_int.h is what these files share.
 */
#include "httpd.h"
#include "httpd_int.h"
#include "tls.h"

#include <errno.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define ACCEPT_BATCH 64 /* accepts per readiness event, for fairness */

static void accept_ready(struct io *io);
static void accept_more(struct defer *d);

uint64_t httpd_now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* ---- metrics ---- */

void httpd_metrics_define(struct metrics *m, const char *prefix, struct httpd_metrics *ids)
{
	static const double bounds[] = { 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
		                         0.1,    0.25,  0.5,    1,     2.5,  5,     10 };
	static const char *const classes[] = { "other", "1xx", "2xx", "3xx", "4xx", "5xx" };
	char name[128], labels[64];
	snprintf(name, sizeof(name), "%s" HTTPD_METRIC_REQUESTS, prefix);
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

void httpd_server_use_metrics(struct httpd_server *srv, const struct metrics *m,
                              const struct httpd_metrics *ids)
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

void httpd_server_init(struct httpd_server *srv, struct worker *w, const struct http_conf *conf,
                       httpd_handler_fn handler, void *data)
{
	memset(srv, 0, sizeof(*srv));
	srv->w = w;
	srv->conf = conf;
	srv->handler = handler;
	srv->data = data;
	for (unsigned i = 0; i < HTTPD_MAX_LISTENERS; i++)
		srv->listeners[i].io.fd = -1;
	srv->limits.max_head = conf ? conf->max_header_size : 8192;
	srv->limits.max_headers = 100;
	srv->limits.max_body = conf ? conf->max_body_size : 0;
	unsigned n = w->d->nworkers ? w->d->nworkers : 1;
	srv->maxconn = conf ? (unsigned)((conf->maxconn + n - 1) / n) : 1024;
	srv->scratch = xmalloc(sizeof(*srv->scratch));
	if (conf && conf == w->d->http && w->d->access_log.path)
		srv->access_log = &w->d->access_log;
}

void httpd_server_buffer_bodies(struct httpd_server *srv)
{
	srv->buffer_body = true;
	/* A handler that gets whole bodies gets bounded ones. */
	if (srv->limits.max_body == 0)
		srv->limits.max_body = HTTPD_BUFFERED_MAX_BODY;
}

int httpd_server_listen(struct httpd_server *srv, const struct addr *a, unsigned flags, char *err,
                        size_t errlen)
{
	if (srv->nlisteners == HTTPD_MAX_LISTENERS) {
		snprintf(err, errlen, "too many addresses for one HTTP server");
		return -1;
	}
	struct httpd_listener *l = &srv->listeners[srv->nlisteners];
	l->srv = srv;
	if (worker_listen(srv->w, &l->io, a, SOCK_STREAM, flags, accept_ready, err, errlen) < 0)
		return -1;
	srv->nlisteners++;
	return 0;
}

/* Accept what waits on every listener (after a pause or a full batch). */
static void accept_all(struct httpd_server *srv)
{
	for (unsigned i = 0; i < srv->nlisteners; i++) {
		struct io *io = &srv->listeners[i].io;
		if (io->fd >= 0 && (io->ready & IO_READ))
			accept_ready(io);
	}
}

static void unlisten_all(struct httpd_server *srv)
{
	for (unsigned i = 0; i < srv->nlisteners; i++)
		worker_unlisten(srv->w, &srv->listeners[i].io);
}

/* Waiting for a next request that has not begun: safe to close on a stop. */
static bool session_idle(const struct httpd_session *s)
{
	return s->state == HS_WAIT && !s->head_started && buf_empty(&s->in);
}

static void session_free_deferred(struct defer *d)
{
	struct httpd_session *s = container_of(d, struct httpd_session, free_defer);
	struct httpd_server *srv = s->srv;
	/* Kept for reuse: a new connection costs no malloc once warm. */
	s->next = srv->free_list;
	srv->free_list = s;
}

/* The request state, from a per-worker stock: made when a head begins,
 * given back when the connection goes idle. */
struct httpd_req *httpd_req_get(struct httpd_session *s)
{
	if (s->req)
		return s->req;
	struct httpd_server *srv = s->srv;
	struct httpd_req *r = srv->req_free;
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

void httpd_req_put(struct httpd_session *s)
{
	struct httpd_req *r = s->req;
	if (r == NULL)
		return;
	free(r->body);
	free(r->chunked);
	free(r->resp_body);
	httpd_req_file_done(r);
	httpd_req_pieces_done(r);
	s->req = NULL;
	if (s->srv->freeing) {
		free(r);
		return;
	}
	r->next_free = s->srv->req_free;
	s->srv->req_free = r;
}

void httpd_session_close(struct httpd_session *s)
{
	struct httpd_server *srv = s->srv;
	if (!conn_open(&s->conn))
		return;
	if (s->stream_ops) {
		const struct httpd_stream_ops *ops = s->stream_ops;
		s->stream_ops = NULL;
		ops->abort(s);
	}
	conn_close(&s->conn);
	if (srv->closed)
		srv->closed(s);
	loop_timer_stop(srv->w->loop, &s->timer);
	buf_release(&srv->w->pool, &s->in);
	buf_release(&srv->w->pool, &s->out);
	httpd_req_put(s);
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
		accept_all(srv);
	}
	worker_check_drained(srv->w);
}

void httpd_server_stop(struct httpd_server *srv)
{
	if (srv->w == NULL)
		return;
	srv->stopping = true;
	unlisten_all(srv);
	/* On a reload the new generation serves what comes next: a keep-alive
	 * connection is closed after its next response (so a request sent on
	 * it meanwhile is not lost) or when it times out. On a stop, idle ones
	 * go now. */
	bool close_idle = !srv->w->reloading;
	for (struct httpd_session *s = srv->sessions, *next; s; s = next) {
		next = s->next;
		if (close_idle && session_idle(s))
			httpd_session_close(s);
		else
			s->close_after = true;
	}
}

void httpd_server_free(struct httpd_server *srv)
{
	if (srv->w == NULL)
		return; /* never initialised (a worker that failed to start) */
	unlisten_all(srv);
	srv->freeing = true;
	while (srv->sessions)
		httpd_session_close(srv->sessions);
	for (struct httpd_session *s = srv->free_list, *next; s; s = next) {
		next = s->next;
		free(s);
	}
	srv->free_list = NULL;
	for (struct httpd_req *r = srv->req_free, *next; r; r = next) {
		next = r->next_free;
		free(r);
	}
	srv->req_free = NULL;
	free(srv->scratch);
	srv->scratch = NULL;
}

static struct httpd_session *session_new(struct httpd_server *srv)
{
	struct httpd_session *s = srv->free_list;
	if (s)
		srv->free_list = s->next;
	else
		s = xmalloc(sizeof(*s));
	memset(s, 0, sizeof(*s));
	s->srv = srv;
	s->timer.fn = httpd_on_timeout;
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
	struct httpd_server *srv = container_of(io, struct httpd_listener, io)->srv;
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
		int fd = worker_accept(io, &ss, &len);
		if (fd < 0)
			return; /* none left, or EMFILE and friends: on the next event */
		if (ss.ss_family != AF_UNIX) {
			/* Responses go out whole (writev, MSG_MORE before sendfile):
			 * Nagle would only add a delayed-ACK wait. */
			int one = 1;
			setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		}
		struct httpd_session *s = session_new(srv);
		memcpy(&s->peer, &ss, MIN((size_t)len, sizeof(s->peer)));
		if (conn_init(&s->conn, w->loop, fd, httpd_on_io) < 0) {
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
	accept_all(container_of(d, struct httpd_server, accept_more));
}
