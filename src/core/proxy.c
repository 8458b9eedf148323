/* proxy.c - reverse proxying with streamed bodies and pooled upstream
 * connections. See proxy.h.
 *
 * A transfer (txn) joins a client session and an upstream connection. Every
 * event on either side runs txn_pump(), which moves whatever can move:
 * request bytes client -> upstream, response bytes upstream -> client, each
 * direction through the buffer of the side that read them (no copies but the
 * re-serialized heads). Steps return P_MORE (progress: go round again),
 * P_WAIT (blocked on a socket) or P_GONE (the txn has ended and is freed).
 *
 * The upstream connections and their pools are proxy_pool.c, the heads the
 * proxy writes proxy_head.c; proxy_int.h is what these files share.
 */
#include "proxy.h"
#include "proxy_int.h"
#include "tls.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "net.h"

static void txn_pump(struct proxy_txn *t);
static void stream_client(struct httpd_session *s);
static void stream_timeout(struct httpd_session *s);
static void stream_abort(struct httpd_session *s);

static const struct httpd_stream_ops proxy_stream_ops = {
	.on_client = stream_client,
	.on_timeout = stream_timeout,
	.abort = stream_abort,
};

/* ---- metrics ---- */

void proxy_metrics_define(struct proxy_conf *pc, struct metrics *m, const char *prefix)
{
	static const char *const classes[] = { "other", "1xx", "2xx", "3xx", "4xx", "5xx" };
	char name[128], labels[192];
	for (unsigned i = 0; i < pc->nservers; i++) {
		struct proxy_server *sv = pc->servers[i];
		snprintf(labels, sizeof(labels), "server=\"%s\"", sv->name);
		snprintf(name, sizeof(name), "%s_backend_requests_total", prefix);
		sv->m_requests = metrics_counter(m, name, "Requests sent to each server", labels);
		snprintf(name, sizeof(name), "%s_backend_errors_total", prefix);
		sv->m_errors = metrics_counter(
		    m, name, "Connect failures, resets, timeouts and bad responses by server",
		    labels);
		snprintf(name, sizeof(name), "%s_backend_retries_total", prefix);
		sv->m_retries = metrics_counter(
		    m, name, "Attempts on another server after this one failed", labels);
		snprintf(name, sizeof(name), "%s_backend_sent_bytes_total", prefix);
		sv->m_bytes_in =
		    metrics_counter(m, name, "Request bytes sent to each server", labels);
		snprintf(name, sizeof(name), "%s_backend_received_bytes_total", prefix);
		sv->m_bytes_out = metrics_counter(
		    m, name, "Response body bytes received from each server", labels);
		snprintf(name, sizeof(name), "%s_backend_responses_total", prefix);
		for (int c = 0; c < 6; c++) {
			snprintf(labels, sizeof(labels), "server=\"%s\",code=\"%s\"", sv->name,
			         classes[c]);
			sv->m_responses[c] = metrics_counter(
			    m, name, "Responses from each server by status class", labels);
		}
	}
	snprintf(name, sizeof(name), "%s_queue_requests_total", prefix);
	pc->m_queued_total =
	    metrics_counter(m, name, "Requests that waited for a server slot", NULL);
	snprintf(name, sizeof(name), "%s_queue_timeouts_total", prefix);
	pc->m_queue_timeouts =
	    metrics_counter(m, name, "Requests answered 503 after timeout_queue", NULL);
}

static void count(struct proxy_worker *pw, int id, int64_t n)
{
	metrics_add(pw->w->shard, metrics_slot(pw->w->d->metrics, id), n);
}

/* ---- upstream connections ---- */

void proxy_worker_init(struct proxy_worker *pw, struct proxy_conf *pc, struct worker *w)
{
	memset(pw, 0, sizeof(*pw));
	pw->pc = pc;
	pw->w = w;
	pw->idle = xcalloc(pc->nservers ? pc->nservers : 1, sizeof(*pw->idle));
	pw->nidle = xcalloc(pc->nservers ? pc->nservers : 1, sizeof(*pw->nidle));
	/* Workers are set up one by one on the main thread, before they run. */
	if (pc->workers == NULL) {
		pc->nworkers = w->d->nworkers ? w->d->nworkers : 1;
		pc->workers = xcalloc(pc->nworkers, sizeof(*pc->workers));
	}
	if (w->id < pc->nworkers)
		pc->workers[w->id] = pw;
}

/* ---- ending a transfer ---- */

static int32_t since(uint64_t from, uint64_t to)
{
	return from && to >= from ? (int32_t)(to - from) : -1;
}

static void queue_unlink(struct proxy_txn *t);

/* Hand the session what the log needs, then recycle the txn. */
static void txn_free(struct proxy_txn *t)
{
	struct proxy_worker *pw = t->pw;
	struct httpd_session *s = t->s;
	if (t->queued)
		queue_unlink(t);
	if (s) {
		uint64_t now = loop_now(pw->w->loop);
		const struct proxy_server *sv = t->sv;
		s->req->upstream = sv ? sv->name : NULL;
		s->req->t_wait = since(t->t_start, t->t_connect ? t->t_connect : now);
		s->req->t_connect = since(t->t_connect, t->t_connected);
		s->req->t_response = since(t->t_connected, t->t_resp);
		s->req->retries = (uint8_t)MIN(t->attempt, 255u);
		if (sv) {
			count(pw, sv->m_bytes_in, (int64_t)t->bytes_in);
			count(pw, sv->m_bytes_out, (int64_t)s->req->bytes_out);
			if (t->resp_head) {
				int cls = s->req->status >= 100 && s->req->status < 600
				              ? s->req->status / 100
				              : 0;
				count(pw, sv->m_responses[cls], 1);
			}
		}
	}
	buf_release(&pw->w->pool, &t->head);
	t->s = NULL;
	t->up = NULL;
	t->next_free = pw->txn_free;
	pw->txn_free = t;
}

static void release_slot(struct proxy_txn *t)
{
	struct proxy_worker *pw = t->pw;
	struct proxy_conf *pc = pw->pc;
	if (t->slot < 0)
		return;
	int server = t->slot;
	t->slot = -1;
	if (pc->release) {
		pc->release(pw, server);
		if (atomic_load_explicit(&pc->queued, memory_order_relaxed))
			proxy_wake_queues(pc, pw);
	}
}

static void txn_detach_up(struct proxy_txn *t, bool reuse)
{
	struct upconn *up = t->up;
	release_slot(t);
	if (up == NULL)
		return;
	t->up = NULL;
	if (reuse)
		proxy_pool_put(up);
	else
		proxy_up_close(up);
}

/* The response is complete and written: keep what can be kept. */
static void txn_finish(struct proxy_txn *t)
{
	struct httpd_session *s = t->s;
	/* client_keep was announced with the head: hold to it */
	bool keep = t->client_keep && t->req_sent;
	txn_detach_up(t, t->req_sent && t->up_reusable);
	s->req->body_consumed = t->req_sent;
	txn_free(t);
	httpd_session_stream_done(s, keep);
}

/* Nothing was sent to the client yet: answer with an error page. */
static void txn_error(struct proxy_txn *t, int status)
{
	struct httpd_session *s = t->s;
	txn_detach_up(t, false);
	s->req->body_consumed = t->req_sent;
	txn_free(t);
	httpd_error(s, status, !s->req->body_consumed);
	httpd_session_stream_reply(s);
}

/* The response has begun (or the client is gone): only a close is left. */
static void txn_abort(struct proxy_txn *t)
{
	struct httpd_session *s = t->s;
	txn_detach_up(t, false);
	txn_free(t);
	s->stream_ops = NULL;
	s->stream = NULL;
	httpd_session_close(s);
}

/* ---- the queue: requests waiting for a server slot ---- */

static int txn_connect(struct proxy_txn *t, int avoid, int picked);

static void queue_push(struct proxy_txn *t)
{
	struct proxy_worker *pw = t->pw;
	t->queued = true;
	t->qnext = NULL;
	if (pw->queue_tail)
		pw->queue_tail->qnext = t;
	else
		pw->queue_head = t;
	pw->queue_tail = t;
	atomic_fetch_add(&pw->nqueued, 1);
	atomic_fetch_add(&pw->pc->queued, 1);
	count(pw, pw->pc->m_queued_total, 1);
}

static void queue_unlink(struct proxy_txn *t)
{
	struct proxy_worker *pw = t->pw;
	struct proxy_txn **pp = &pw->queue_head, *prev = NULL;
	while (*pp && *pp != t) {
		prev = *pp;
		pp = &(*pp)->qnext;
	}
	if (*pp == NULL)
		return;
	*pp = t->qnext;
	if (pw->queue_tail == t)
		pw->queue_tail = prev;
	t->queued = false;
	t->qnext = NULL;
	atomic_fetch_sub(&pw->nqueued, 1);
	atomic_fetch_sub(&pw->pc->queued, 1);
}

/* Give queued requests the slots that came free, oldest first. */
static void queue_run(struct defer *d)
{
	struct proxy_worker *pw = container_of(d, struct proxy_worker, queue_run);
	while (pw->queue_head) {
		struct proxy_txn *t = pw->queue_head;
		int server = pw->pc->pick(pw, t->attempt, -1);
		if (server == PROXY_PICK_FULL)
			return; /* still full: wait for the next release */
		queue_unlink(t);
		if (server == PROXY_PICK_NONE) {
			txn_error(t, 503);
			continue;
		}
		loop_timer_stop(pw->w->loop, &t->s->timer);
		if (txn_connect(t, -1, server) == P_GONE)
			continue;
		if (t->up && t->up->connected)
			txn_pump(t);
	}
}

static void wake_posted(void *arg)
{
	struct proxy_worker *pw = arg;
	loop_defer(pw->w->loop, &pw->queue_run, queue_run);
}

void proxy_wake_queues(struct proxy_conf *pc, struct proxy_worker *self)
{
	if (atomic_load(&self->nqueued))
		loop_defer(self->w->loop, &self->queue_run, queue_run);
	if (atomic_load(&pc->queued) <= atomic_load(&self->nqueued))
		return;
	/* Another thread has waiters: wake one of them, in turn. */
	for (unsigned k = 0; k < pc->nworkers; k++) {
		unsigned i = atomic_fetch_add(&pc->wake_rr, 1) % pc->nworkers;
		struct proxy_worker *other = pc->workers[i];
		if (other && other != self && atomic_load(&other->nqueued)) {
			loop_post(other->w->loop, wake_posted, other);
			return;
		}
	}
}

/* ---- connecting ---- */

static void count_error(struct proxy_txn *t)
{
	struct proxy_worker *pw = t->pw;
	struct proxy_conf *pc = pw->pc;
	count(pw, t->sv->m_errors, 1);
	if (pc->report)
		pc->report(pw, t->server, false);
}

/* Attach an upstream connection for this attempt. P_MORE (connected or
 * connecting), P_WAIT (queued for a slot), or P_GONE when no server could
 * be had (the error response is on its way). picked: a server whose slot
 * the caller holds already, or -1 to pick one. */
static int txn_connect(struct proxy_txn *t, int avoid, int picked)
{
	struct proxy_worker *pw = t->pw;
	struct proxy_conf *pc = pw->pc;
	for (;;) {
		int server = picked >= 0 ? picked : pc->pick(pw, t->attempt, avoid);
		picked = -1;
		if (server == PROXY_PICK_FULL) {
			/* Every usable server is at its maxconn: wait for a slot,
			 * timeout_queue at most (the client timer measures it). */
			queue_push(t);
			loop_timer_set(pw->w->loop, &t->s->timer, pc->timeout_queue);
			return P_WAIT;
		}
		if (server < 0) {
			txn_error(t, t->attempt == 0 ? 503 : 502);
			return P_GONE;
		}
		const struct proxy_server *sv = pc->servers[server];
		t->server = server;
		t->sv = sv;
		t->slot = server;
		t->t_connect = loop_now(pw->w->loop);
		count(pw, sv->m_requests, 1);
		struct upconn *up = proxy_pool_take(pw, server);
		if (up == NULL) {
			int fd = net_connect_from(&sv->addr, pc->source);
			if (fd >= 0)
				up = proxy_up_new(pw, fd, server);
			if (up == NULL) {
				count_error(t);
				release_slot(t);
				if (t->attempt++ >= pc->retries) {
					txn_error(t, 503);
					return P_GONE;
				}
				count(pw, sv->m_retries, 1);
				avoid = server;
				continue;
			}
			loop_timer_set(pw->w->loop, &up->timer, pc->timeout_connect);
		} else {
			up->connected = true;
			t->t_connected = t->t_connect;
		}
		up->txn = t;
		t->up = up;
		return P_MORE;
	}
}

/* Send the request again, to another server when there is one. The
 * caller made sure that is safe (no body byte had gone). */
static int txn_retry(struct proxy_txn *t)
{
	int avoid = t->server;
	count(t->pw, t->sv->m_retries, 1);
	txn_detach_up(t, false);
	t->attempt++;
	t->head_sent = 0;
	t->req_sent = false;
	t->req_broken = false;
	t->resp_scan = 0;
	t->resp_unparsed = false;
	t->t_connected = 0;
	int r = txn_connect(t, avoid, -1);
	return r == P_WAIT ? P_GONE : r; /* queued: nothing more to do now */
}

/* The upstream failed before any response byte: retry when that is safe
 * and retry_on asks for it, else answer 502 / 504. */
static int up_failed(struct proxy_txn *t, bool timeout)
{
	struct proxy_conf *pc = t->pw->pc;
	struct upconn *up = t->up;
	bool never_connected = up && !up->connected;
	count_error(t);
	bool safe = !t->body_started && (never_connected || t->head_sent == 0 || t->idempotent);
	bool wanted = pc->retry_on &
	              (never_connected ? PROXY_RETRY_CONN_FAILURE : PROXY_RETRY_EMPTY_RESPONSE);
	if ((!timeout || never_connected) && safe && wanted && t->attempt < pc->retries)
		return txn_retry(t);
	txn_error(t, timeout ? 504 : 502);
	return P_GONE;
}

/* ---- request: client -> upstream ---- */

/* Body bytes that may be sent now. P_GONE on a malformed chunked body. */
static int request_sendable(struct proxy_txn *t, size_t *out)
{
	struct httpd_session *s = t->s;
	size_t avail = httpd_session_body_avail(s);
	switch (s->req->framing) {
	case HTTP_BODY_LENGTH:
		*out = (size_t)MIN((uint64_t)avail, t->req_left);
		return P_MORE;
	case HTTP_BODY_CHUNKED: {
		char *p = httpd_session_body_ptr(s);
		while (t->req_ok < avail && !http_chunked_done(&t->req_ch)) {
			struct str data;
			ssize_t n =
			    http_chunked_step(&t->req_ch, p + t->req_ok, avail - t->req_ok, &data);
			if (n < 0) {
				log_debug("bad chunked request body: %s", t->req_ch.error);
				txn_error(t, t->req_ch.error_status);
				return P_GONE;
			}
			if (n == 0)
				break;
			t->req_ok += (size_t)n;
		}
		*out = t->req_ok;
		return P_MORE;
	}
	default:
		*out = 0;
		return P_MORE;
	}
}

static bool request_body_done(const struct proxy_txn *t)
{
	switch (t->s->req->framing) {
	case HTTP_BODY_LENGTH:
		return t->req_left == 0;
	case HTTP_BODY_CHUNKED:
		return http_chunked_done(&t->req_ch) && t->req_ok == 0;
	default:
		return true;
	}
}

static int send_request(struct proxy_txn *t)
{
	struct httpd_session *s = t->s;
	struct upconn *up = t->up;
	if (t->req_sent || t->req_broken)
		return P_WAIT;
	if (!up->connected) {
		t->waiting |= W_UP;
		return P_WAIT;
	}
	size_t body;
	if (request_sendable(t, &body) == P_GONE)
		return P_GONE;
	size_t head_rem = buf_len(&t->head) - t->head_sent;
	if (head_rem == 0 && body == 0) {
		if (request_body_done(t)) {
			t->req_sent = true;
			return P_MORE;
		}
		ssize_t n = httpd_session_read(s);
		if (n > 0)
			return P_MORE;
		if (n == TS_AGAIN) {
			t->waiting |= W_CLIENT;
			return P_WAIT;
		}
		txn_abort(t); /* the client left in the middle of its body */
		return P_GONE;
	}
	struct iovec iov[2];
	int n = 0;
	if (head_rem)
		iov[n++] = (struct iovec){ buf_rptr(&t->head) + t->head_sent, head_rem };
	if (body)
		iov[n++] = (struct iovec){ httpd_session_body_ptr(s), body };
	ssize_t w = conn_writev(&up->conn, iov, n);
	if (w == TS_AGAIN) {
		t->waiting |= W_UP;
		return P_WAIT;
	}
	if (w < 0) {
		/* A server may answer before reading the whole request and then
		 * stop reading: look for its response before calling it a
		 * failure (recv_response decides, and retries when it is safe). */
		t->req_broken = true;
		up->conn.io.ready |= IO_READ;
		return P_MORE;
	}
	loop_timer_set(t->pw->w->loop, &up->timer, t->pw->pc->timeout_server);
	t->bytes_in += (uint64_t)w;
	size_t k = MIN((size_t)w, head_rem);
	t->head_sent += (uint32_t)k;
	size_t rest = (size_t)w - k;
	if (rest) {
		t->body_started = true;
		httpd_session_body_consume(s, rest);
		if (s->req->framing == HTTP_BODY_LENGTH)
			t->req_left -= rest;
		else
			t->req_ok -= rest;
	}
	return P_MORE;
}

/* Parse the response head in up->in and queue its re-serialized form. */
static int take_response_head(struct proxy_txn *t)
{
	struct httpd_session *s = t->s;
	struct upconn *up = t->up;
	struct proxy_conf *pc = t->pw->pc;
	if (t->scratch == NULL)
		t->scratch = xmalloc(sizeof(*t->scratch));
	struct http_msg *m = t->scratch;
	ssize_t r = http_parse_response(buf_rptr(&up->in), buf_len(&up->in), &t->resp_scan,
	                                &pc->resp_limits, s->req->method, m);
	if (r == TS_AGAIN)
		return P_WAIT; /* more bytes needed */
	if (r < 0 || m->status == 101) {
		log_warn("bad response from server %s: %s", t->sv->name,
		         r < 0 ? m->error : "protocol switch not supported");
		count_error(t);
		txn_error(t, 502);
		return P_GONE;
	}
	if (m->status < 200) {
		/* Interim responses go to HTTP/1.1 clients as they come. */
		if (s->req->minor >= 1 && proxy_response_head(t, m) < 0) {
			txn_error(t, 502);
			return P_GONE;
		}
		buf_consume(&up->in, (size_t)r);
		t->resp_scan = 0;
		t->resp_unparsed = true; /* the final head may be right behind */
		return P_MORE;
	}
	/* retry_on 502 503 ...: an idempotent request with no body goes to
	 * another server instead (HAProxy's layer-7 retries); the answer and
	 * its connection are dropped. */
	if ((pc->retry_on & proxy_retry_bit(m->status)) && t->idempotent && !t->body_started &&
	    s->req->framing == HTTP_BODY_NONE && t->attempt < pc->retries) {
		log_info("server %s answered %d: retrying elsewhere", t->sv->name, m->status);
		if (pc->report)
			pc->report(t->pw, t->server, false);
		return txn_retry(t);
	}
	t->resp_framing = m->framing;
	t->resp_left = m->content_length;
	if (m->framing == HTTP_BODY_CHUNKED)
		http_chunked_init(&t->resp_ch, 0, (uint32_t)pc->resp_limits.max_head);
	t->up_reusable = m->keep_alive && m->framing != HTTP_BODY_CLOSE;
	/* A response before the end of the request body (an early 413): the
	 * rest of the body will not be read, so the connection cannot go on. */
	t->client_keep = s->req->keep_alive && m->framing != HTTP_BODY_CLOSE && !s->close_after &&
	                 !s->srv->stopping && (t->req_sent || s->req->framing == HTTP_BODY_NONE);
	if (proxy_response_head(t, m) < 0) {
		txn_error(t, 502);
		return P_GONE;
	}
	s->req->status = m->status;
	buf_consume(&up->in, (size_t)r);
	t->resp_head = true;
	t->t_resp = loop_now(t->pw->w->loop);
	if (t->pw->pc->report)
		t->pw->pc->report(t->pw, t->server, true);
	return P_MORE;
}

/* Response body bytes in up->in that may go to the client now. */
static int response_sendable(struct proxy_txn *t, size_t *out)
{
	struct upconn *up = t->up;
	size_t avail = buf_len(&up->in);
	switch (t->resp_framing) {
	case HTTP_BODY_LENGTH:
		*out = (size_t)MIN((uint64_t)avail, t->resp_left);
		return P_MORE;
	case HTTP_BODY_CHUNKED: {
		char *p = buf_rptr(&up->in);
		while (t->resp_ok < avail && !http_chunked_done(&t->resp_ch)) {
			struct str data;
			ssize_t n = http_chunked_step(&t->resp_ch, p + t->resp_ok,
			                              avail - t->resp_ok, &data);
			if (n < 0) {
				log_warn("bad chunked response from server %s: %s", t->sv->name,
				         t->resp_ch.error);
				count_error(t);
				txn_abort(t);
				return P_GONE;
			}
			if (n == 0)
				break;
			t->resp_ok += (size_t)n;
		}
		*out = t->resp_ok;
		return P_MORE;
	}
	case HTTP_BODY_CLOSE:
		*out = avail;
		return P_MORE;
	default:
		*out = 0;
		return P_MORE;
	}
}

static bool response_body_done(const struct proxy_txn *t)
{
	switch (t->resp_framing) {
	case HTTP_BODY_LENGTH:
		return t->resp_left == 0;
	case HTTP_BODY_CHUNKED:
		return http_chunked_done(&t->resp_ch) && t->resp_ok == 0;
	case HTTP_BODY_CLOSE:
		return t->up->eof && buf_empty(&t->up->in);
	default:
		return true;
	}
}

/* Write queued head bytes and sendable body bytes to the client. */
static int flush_client(struct proxy_txn *t)
{
	struct httpd_session *s = t->s;
	struct upconn *up = t->up;
	size_t out = s->out.data ? buf_len(&s->out) : 0;
	size_t body = 0;
	if (t->resp_head && response_sendable(t, &body) == P_GONE)
		return P_GONE;
	if (out + body == 0)
		return P_WAIT;
	struct iovec iov[2];
	int n = 0;
	if (out)
		iov[n++] = (struct iovec){ buf_rptr(&s->out), out };
	if (body)
		iov[n++] = (struct iovec){ buf_rptr(&up->in), body };
	ssize_t w = conn_writev(&s->conn, iov, n);
	if (w == TS_AGAIN) {
		t->waiting |= W_CLIENT;
		return P_WAIT;
	}
	if (w < 0) {
		txn_abort(t);
		return P_GONE;
	}
	size_t k = MIN((size_t)w, out);
	if (k)
		buf_consume(&s->out, k);
	size_t rest = (size_t)w - k;
	if (rest) {
		buf_consume(&up->in, rest);
		s->req->bytes_out += rest;
		if (t->resp_framing == HTTP_BODY_LENGTH)
			t->resp_left -= rest;
		else if (t->resp_framing == HTTP_BODY_CHUNKED)
			t->resp_ok -= rest;
	}
	return P_MORE;
}

static int recv_response(struct proxy_txn *t)
{
	struct httpd_session *s = t->s;
	struct upconn *up = t->up;
	if (!up->connected)
		return P_WAIT;
	int r = flush_client(t);
	if (r != P_WAIT)
		return r;
	if (t->resp_head && response_body_done(t) && (!s->out.data || buf_empty(&s->out))) {
		txn_finish(t);
		return P_GONE;
	}
	if (!t->resp_head && t->resp_unparsed) {
		t->resp_unparsed = false;
		r = take_response_head(t);
		if (r != P_WAIT)
			return r;
	}
	struct buf *in = &up->in;
	buf_attach(&t->pw->w->pool, in);
	if (buf_room(in) == 0) {
		buf_compact(in);
		if (buf_room(in) == 0) {
			if (!t->resp_head) {
				count_error(t);
				txn_error(t, 502); /* a response head larger than a buffer */
				return P_GONE;
			}
			t->waiting |= W_CLIENT; /* the client must drain first */
			return P_WAIT;
		}
	}
	if (up->eof || !conn_readable(&up->conn)) {
		t->waiting |= W_UP;
		return P_WAIT;
	}
	ssize_t n = conn_read(&up->conn, buf_wptr(in), buf_room(in));
	if (n == TS_AGAIN) {
		t->waiting |= W_UP;
		return P_WAIT;
	}
	if (n > 0) {
		buf_produced(in, (size_t)n);
		t->resp_any = true;
		t->resp_unparsed = true;
		loop_timer_set(t->pw->w->loop, &up->timer, t->pw->pc->timeout_server);
		return P_MORE;
	}
	/* End of stream, or a reset. */
	up->eof = true;
	if (t->resp_head && t->resp_framing == HTTP_BODY_CLOSE && n == 0)
		return P_MORE;
	if (!t->resp_any)
		return up_failed(t, false);
	count_error(t);
	if (!t->resp_head)
		txn_error(t, 502);
	else
		txn_abort(t); /* cut in the middle of the body */
	return P_GONE;
}

/* ---- driving ---- */

static void txn_pump(struct proxy_txn *t)
{
	struct proxy_worker *pw = t->pw;
	if (t->queued || t->up == NULL)
		return; /* waiting for a slot: the queue timer runs */
	for (;;) {
		t->waiting = 0;
		int a = send_request(t);
		if (a == P_GONE)
			return;
		int b = recv_response(t);
		if (b == P_GONE)
			return;
		if (a == P_WAIT && b == P_WAIT)
			break;
	}
	/* Only the side being waited on may time the transfer out. */
	struct httpd_session *s = t->s;
	struct upconn *up = t->up;
	if (t->waiting & W_CLIENT)
		loop_timer_set(pw->w->loop, &s->timer,
		               s->srv->conf ? s->srv->conf->timeout_client : 60000);
	else
		loop_timer_stop(pw->w->loop, &s->timer);
	if (up->connected) {
		if (!(t->waiting & W_UP))
			loop_timer_stop(pw->w->loop, &up->timer);
		else if (!timer_armed(&up->timer))
			loop_timer_set(pw->w->loop, &up->timer, pw->pc->timeout_server);
	}
}

void proxy_up_io(struct io *io)
{
	struct upconn *up = container_of(io, struct upconn, conn.io);
	struct proxy_txn *t = up->txn;
	if (t == NULL) {
		/* Idle in the pool: the server closed it or spoke out of turn. */
		proxy_up_close(up);
		return;
	}
	if (!up->connected) {
		if (!(io->ready & (IO_WRITE | IO_ERR | IO_HUP)))
			return;
		int e = net_socket_error(io->fd);
		if (e) {
			log_debug("connect to %s: %s", t->sv->name, strerror(e));
			if (up_failed(t, false) == P_GONE)
				return;
			txn_pump(t);
			return;
		}
		up->connected = true;
		t->t_connected = loop_now(t->pw->w->loop);
		loop_timer_set(t->pw->w->loop, &up->timer, t->pw->pc->timeout_server);
	}
	txn_pump(t);
}

void proxy_up_timeout(struct timer *tm)
{
	struct upconn *up = container_of(tm, struct upconn, timer);
	struct proxy_txn *t = up->txn;
	if (t == NULL) {
		proxy_up_close(up); /* idle too long in the pool */
		return;
	}
	if (!up->connected) {
		log_debug("connect to %s timed out", t->sv->name);
		if (up_failed(t, true) != P_GONE)
			txn_pump(t);
		return;
	}
	if (t->resp_head) {
		count_error(t);
		txn_abort(t);
		return;
	}
	if (up_failed(t, true) != P_GONE)
		txn_pump(t);
}

/* ---- a server found down ---- */

struct down_post {
	struct proxy_worker *pw;
	int server;
};

static void server_down_posted(void *arg)
{
	struct down_post *d = arg;
	struct proxy_worker *pw = d->pw;
	int server = d->server;
	free(d);
	while (pw->idle[server])
		proxy_up_close(pw->idle[server]);
	/* Each pass restarts from the head: a retry may link new connections
	 * (to other servers) and close this one. */
	for (bool again = true; again;) {
		again = false;
		for (struct upconn *up = pw->busy_list; up; up = up->next) {
			struct proxy_txn *t = up->txn;
			if (up->server != server || t == NULL)
				continue;
			log_debug("taking a request back from %s, found down",
			          pw->pc->servers[server]->name);
			if (t->resp_any) {
				count_error(t);
				txn_abort(t); /* its response began: cut, as a reset would */
			} else if (up_failed(t, false) != P_GONE) {
				txn_pump(t);
			}
			again = true;
			break;
		}
	}
}

void proxy_server_down(struct proxy_conf *pc, int server)
{
	for (unsigned i = 0; i < pc->nworkers; i++) {
		struct proxy_worker *pw = pc->workers[i];
		if (pw == NULL)
			continue;
		struct down_post *d = malloc(sizeof(*d));
		if (d == NULL)
			continue;
		d->pw = pw;
		d->server = server;
		if (loop_post(pw->w->loop, server_down_posted, d) < 0)
			free(d);
	}
}

static void stream_client(struct httpd_session *s)
{
	txn_pump(s->stream);
}

static void stream_timeout(struct httpd_session *s)
{
	struct proxy_txn *t = s->stream;
	if (t->queued) {
		count(t->pw, t->pw->pc->m_queue_timeouts, 1);
		txn_error(t, 503); /* timeout_queue: no slot came free */
	} else if (!t->resp_head && !t->req_sent) {
		txn_error(t, 408);
	} else {
		txn_abort(t);
	}
}

static void stream_abort(struct httpd_session *s)
{
	struct proxy_txn *t = s->stream;
	txn_detach_up(t, false);
	txn_free(t);
	s->stream = NULL;
}

/* ---- entry ---- */

int proxy_handle(struct proxy_worker *pw, struct httpd_session *s)
{
	if (s->req->method == HTTP_CONNECT) {
		httpd_error(s, 405, true);
		return TS_OK;
	}
	struct proxy_txn *t = pw->txn_free;
	if (t) {
		pw->txn_free = t->next_free;
	} else {
		t = xcalloc(1, sizeof(*t));
	}
	struct http_msg *scratch = t->scratch;
	memset(t, 0, sizeof(*t));
	t->scratch = scratch;
	t->s = s;
	t->pw = pw;
	t->server = -1;
	t->slot = -1;
	t->t_start = loop_now(pw->w->loop);
	t->idempotent = http_method_idempotent(s->req->method);
	buf_attach(&pw->w->pool, &t->head);
	if (proxy_request_head(t) < 0) {
		txn_free(t);
		httpd_error(s, 431, true);
		return TS_OK;
	}
	if (s->req->framing == HTTP_BODY_LENGTH)
		t->req_left = s->req->content_length;
	else if (s->req->framing == HTTP_BODY_CHUNKED)
		http_chunked_init(&t->req_ch, s->srv->limits.max_body,
		                  (uint32_t)s->srv->limits.max_head);
	/* Expect: 100-continue is answered here, as nginx does: forwarded, the
	 * client would wait for the server's 100 while the server waits for the
	 * body, until the client's own timeout. */
	if (s->req->expect_continue && s->req->minor >= 1 && s->req->framing != HTTP_BODY_NONE) {
		buf_attach(&pw->w->pool, &s->out);
		buf_append_lit(&s->out, "HTTP/1.1 100 Continue\r\n\r\n");
	}
	s->stream_ops = &proxy_stream_ops;
	s->stream = t;
	int r = txn_connect(t, -1, -1);
	if (r == P_GONE || r == P_WAIT)
		return TS_AGAIN; /* an error response under way, or queued */
	/* A pooled connection can take the request now; a new one waits for
	 * its connect to finish (proxy_up_io). */
	if (t->up->connected)
		txn_pump(t);
	return TS_AGAIN;
}

/* HAProxy's retry-on statuses; a status's bit is 1 << (2 + index). */
const int proxy_retry_statuses[] = { 401, 403, 404, 408, 425, 500, 501, 502, 503, 504, 0 };

unsigned proxy_retry_bit(int status)
{
	for (size_t i = 0; proxy_retry_statuses[i]; i++)
		if (proxy_retry_statuses[i] == status)
			return 1u << (2 + i);
	return 0;
}

void proxy_conf_defaults(struct proxy_conf *pc, uint64_t max_head)
{
	*pc = (struct proxy_conf){
		.retry_on = PROXY_RETRY_CONN_FAILURE | PROXY_RETRY_EMPTY_RESPONSE,
		.pool_max = 256,
		.resp_limits = { .max_head = max_head, .max_headers = 100 },
		.forwarded_headers = true,
		.proto = "http",
	};
}
