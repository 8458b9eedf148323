/* httpd_cycle.c - a session's request cycle: read and parse a head, read a
 * buffered body, call the handler, write the response, then the next
 * request (keep-alive, pipelining), a lingering close or a close; and the
 * session's timer. See httpd.h.
 */
#include "httpd.h"
#include "httpd_int.h"

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

#include "net.h"
#include "tls.h"

#define PIPELINE_BATCH 32 /* pipelined requests answered per turn */

static void session_process(struct httpd_session *s);
static void session_write(struct httpd_session *s);

bool httpd_session_header(const struct httpd_session *s, const char *name, struct str *value)
{
	if (s->req->msg == NULL)
		return false;
	int i = http_find_header(s->req->msg, name, 0);
	if (i < 0)
		return false;
	*value = s->req->msg->headers[i].value;
	return true;
}

void httpd_session_body_consume(struct httpd_session *s, size_t n)
{
	struct buf *in = &s->in;
	size_t body_at = in->head + s->req->head_len;
	size_t after = in->tail - body_at - n;
	if (after)
		memmove(in->data + body_at, in->data + body_at + n, after);
	in->tail -= (uint32_t)n;
}

ssize_t httpd_session_read(struct httpd_session *s)
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
static void request_reset(struct httpd_session *s)
{
	struct httpd_server *srv = s->srv;
	buf_consume(&s->in, s->req->head_len);
	httpd_req_put(s);
	s->scan = 0;
	s->announced_close = false;
	s->state = HS_WAIT;
	buf_release_if_empty(&srv->w->pool, &s->out);
}

/* Discard what the client still sends, until it closes or time is up. */
static void linger_read(struct httpd_session *s)
{
	char sink[16384];
	for (;;) {
		ssize_t n = conn_read(&s->conn, sink, sizeof(sink));
		if (n == TS_AGAIN)
			return;
		if (n <= 0 || (s->lingered += (uint32_t)n) > HTTPD_LINGER_BYTES) {
			httpd_session_close(s);
			return;
		}
	}
}

/* Close after a response. When the client may still be sending (a body we
 * did not read, bytes of a next request), closing at once would answer its
 * data with a reset, which can destroy our response before it is read (an
 * early 413 lost as a "connection reset"): shut our side, drain a while. */
static void session_end(struct httpd_session *s)
{
	struct httpd_server *srv = s->srv;
	bool unread = (s->req->framing != HTTP_BODY_NONE && !s->req->body_consumed) ||
	              buf_len(&s->in) > s->req->head_len;
	if (!unread || srv->freeing) {
		httpd_session_close(s);
		return;
	}
	conn_shutdown_write(&s->conn);
	buf_release(&srv->w->pool, &s->in);
	buf_release(&srv->w->pool, &s->out);
	s->state = HS_LINGER;
	s->lingered = 0;
	loop_timer_set(srv->w->loop, &s->timer, HTTPD_LINGER_MS);
	linger_read(s);
}

/* After a response: close, or wait for the next request. */
static void request_finish(struct httpd_session *s)
{
	struct httpd_server *srv = s->srv;
	httpd_count_request(s);
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

void httpd_session_stream_done(struct httpd_session *s, bool keep_alive)
{
	s->stream_ops = NULL;
	s->stream = NULL;
	if (!keep_alive)
		s->announced_close = true; /* the stream knows it cannot go on */
	request_finish(s);
	if (conn_open(&s->conn) && !s->processing)
		session_process(s);
}

static void write_done(struct httpd_session *s)
{
	request_finish(s);
	/* Inside session_process, its loop takes the next request itself:
	 * pipelined requests must not nest one call per request. */
	if (conn_open(&s->conn) && !s->processing)
		session_process(s);
}

/* Write what is queued: s->out, then the heap body or the file. */
static void session_write(struct httpd_session *s)
{
	struct httpd_server *srv = s->srv;
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
				httpd_session_close(s);
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
				httpd_session_close(s);
				return;
			}
			s->req->bytes_out += (size_t)w;
			continue;
		}
		if (s->req->pieces_next) {
			httpd_req_file_done(s->req); /* the last piece's file */
			int more = s->req->pieces_next(s, s->req->pieces_arg);
			if (more > 0)
				continue;
			httpd_req_pieces_done(s->req);
			if (more < 0) {
				httpd_session_close(s);
				return;
			}
		}
		break;
	}
	/* All written. */
	httpd_req_file_done(s->req);
	free(s->req->resp_body);
	s->req->resp_body = NULL;
	s->req->resp_len = s->req->resp_sent = 0;
	if (s->state == HS_CLOSING) {
		httpd_count_request(s);
		session_end(s);
		return;
	}
	write_done(s);
	return;
wait:
	loop_timer_set(srv->w->loop, &s->timer, TIMEOUT(srv, timeout_client, 60000));
}

static void start_write(struct httpd_session *s, bool closing)
{
	s->state = closing ? HS_CLOSING : HS_WRITE;
	session_write(s);
}

static void fail_request(struct httpd_session *s, int status)
{
	struct httpd_server *srv = s->srv;
	httpd_req_get(s);
	if (srv->count)
		metrics_add(srv->w->shard, srv->m.bad_requests, 1);
	if (s->req->head_len == 0)
		s->req->minor = 1;
	httpd_error(s, status, true);
	start_write(s, true);
}

static void call_handler(struct httpd_session *s)
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
		httpd_error(s, 500, true);
		start_write(s, true);
	}
}

void httpd_session_stream_reply(struct httpd_session *s)
{
	s->stream_ops = NULL;
	s->stream = NULL;
	if (conn_open(&s->conn))
		start_write(s, false);
}

void httpd_session_resume(struct httpd_session *s)
{
	s->stream_ops = NULL;
	s->stream = NULL;
	if (conn_open(&s->conn) && s->state == HS_HANDLER)
		start_write(s, false);
}

/* Feed the buffered body with what has arrived; true when it is complete. */
static int collect_body(struct httpd_session *s)
{
	size_t avail = httpd_session_body_avail(s);
	char *p = httpd_session_body_ptr(s);
	if (s->req->framing == HTTP_BODY_LENGTH) {
		size_t n = (size_t)MIN((uint64_t)avail, s->req->body_left);
		memcpy(s->req->body + s->req->body_len, p, n);
		s->req->body_len += n;
		s->req->body_left -= n;
		httpd_session_body_consume(s, n);
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
	httpd_session_body_consume(s, off);
	return http_chunked_done(s->req->chunked);
}

/* Buffered body: collect it into s->req->body, then call the handler. */
static void read_body(struct httpd_session *s)
{
	struct httpd_server *srv = s->srv;
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
		ssize_t n = httpd_session_read(s);
		if (n == TS_AGAIN)
			return;
		if (n <= 0) {
			httpd_session_close(s);
			return;
		}
	}
}

static void begin_body(struct httpd_session *s)
{
	struct httpd_server *srv = s->srv;
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
static void take_real_ip(struct httpd_session *s, const struct http_msg *m)
{
	struct httpd_req *r = s->req;
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

static void head_parsed(struct httpd_session *s, const struct http_msg *m)
{
	struct httpd_req *r = s->req;
	r->method = m->method;
	r->minor = m->minor;
	r->keep_alive = m->keep_alive;
	r->expect_continue = m->expect_continue;
	r->absolute_form = m->absolute_form;
	r->framing = m->framing;
	r->content_length = m->content_length;
	r->head_len = m->head_len;
	r->method_name = m->method_name;
	r->raw_target = m->raw_target;
	r->target = m->target;
	r->authority = m->authority;
	int i = http_find_header(m, "referer", 0);
	r->referer = i >= 0 ? m->headers[i].value : (struct str){ NULL, 0 };
	i = http_find_header(m, "user-agent", 0);
	r->user_agent = i >= 0 ? m->headers[i].value : (struct str){ NULL, 0 };
	take_real_ip(s, m);
	r->t_start_us = s->srv->count ? httpd_now_us() : 0;
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
	struct httpd_session *s = container_of(d, struct httpd_session, resume);
	if (conn_open(&s->conn) && s->state == HS_WAIT)
		session_process(s);
}

/* One read; false when the session must wait for the socket (or is gone). */
static bool read_more(struct httpd_session *s)
{
	struct httpd_server *srv = s->srv;
	ssize_t n = httpd_session_read(s);
	if (n == TS_AGAIN) {
		if (buf_room(&s->in) == 0)
			fail_request(s, 431);
		else if (buf_empty(&s->in))
			buf_release(&srv->w->pool, &s->in);
		return false;
	}
	if (n <= 0) {
		httpd_session_close(s);
		return false;
	}
	return true;
}

static void process_head(struct httpd_session *s, struct http_msg *m)
{
	struct httpd_server *srv = s->srv;
	head_parsed(s, m);
	loop_timer_set(srv->w->loop, &s->timer, TIMEOUT(srv, timeout_client, 60000));
	if (srv->buffer_body && m->framing != HTTP_BODY_NONE)
		begin_body(s);
	else
		call_handler(s);
}

/* Parse what has arrived; answer complete requests, pipelined ones in order. */
static void session_process(struct httpd_session *s)
{
	struct httpd_server *srv = s->srv;
	s->processing = true;
	for (int round = 0; round < PIPELINE_BATCH; round++) {
		if (s->state != HS_WAIT || !conn_open(&s->conn))
			goto out;
		if (!buf_empty(&s->in)) {
			struct http_msg *m = srv->scratch;
			httpd_req_get(s);
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

void httpd_on_io(struct io *io)
{
	struct httpd_session *s = container_of(io, struct httpd_session, conn.io);
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
			httpd_session_close(s);
		break;
	case HS_HANDLER:
		if (io->ready & IO_ERR)
			httpd_session_close(s);
		break;
	case HS_LINGER:
		linger_read(s);
		break;
	}
}

void httpd_on_timeout(struct timer *t)
{
	struct httpd_session *s = container_of(t, struct httpd_session, timer);
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
			httpd_req_get(s);
			if (s->req->head_len == 0)
				s->req->minor = 1;
			httpd_error(s, 408, true);
			start_write(s, true);
		} else {
			httpd_session_close(s); /* idle keep-alive, or nothing ever sent */
		}
		break;
	default:
		httpd_session_close(s);
		break;
	}
}
