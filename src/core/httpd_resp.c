/* httpd_resp.c - writing responses: the head (status line, the common
 * headers made once a second, Content-Length, Connection), bodies from
 * memory, from a file, piece by piece, and error pages. See httpd.h.
 */
#include "httpd.h"
#include "httpd_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Once a second: the Date line and what follows it in every response. */
void httpd_refresh_common(struct httpd_server *srv)
{
	int64_t now = loop_wall(srv->w->loop);
	if (now == srv->date_t)
		return;
	srv->date_t = now;
	http_date(now, srv->date);
	int n = snprintf(srv->common, sizeof(srv->common), "Date: %s\r\nServer: tristack\r\n%s",
	                 srv->date, srv->extra_headers ? srv->extra_headers : "");
	srv->common_len = (uint16_t)MIN((size_t)MAX(n, 0), sizeof(srv->common) - 1);
	httpd_log_time_format(srv, now);
}

int httpd_head_begin(struct httpd_session *s, int status)
{
	struct httpd_server *srv = s->srv;
	buf_attach(&srv->w->pool, &s->out);
	s->req->status = status;
	httpd_refresh_common(srv);
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

int httpd_head_add(struct httpd_session *s, const char *name, const char *value)
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

int httpd_head_addf(struct httpd_session *s, const char *name, const char *fmt, ...)
{
	char value[1024];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(value, sizeof(value), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(value))
		return -1;
	return httpd_head_add(s, name, value);
}

int httpd_head_end(struct httpd_session *s, int64_t content_length)
{
	struct buf *o = &s->out;
	int r = 0;
	if (content_length >= 0) {
		r |= buf_append_lit(o, "Content-Length: ");
		r |= buf_append_u64(o, (uint64_t)content_length);
		r |= buf_append_lit(o, "\r\n");
	} else if (content_length == HTTPD_LENGTH_UNKNOWN) {
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

int httpd_body(struct httpd_session *s, const void *body, size_t len)
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

void httpd_body_file(struct httpd_session *s, int fd, off_t off, off_t len)
{
	httpd_body_file_ref(s, fd, off, len, NULL, NULL);
}

/* release NULL: the session owns fd and closes it (httpd_req_file_done). */
void httpd_body_file_ref(struct httpd_session *s, int fd, off_t off, off_t len,
                         void (*release)(void *arg), void *arg)
{
	struct httpd_req *r = s->req;
	r->file_fd = fd;
	r->file_off = off;
	r->file_end = off + len;
	r->file_release = release;
	r->file_arg = arg;
	if (r->method == HTTP_HEAD || len == 0)
		httpd_req_file_done(r); /* nothing to send: let go of it now */
}

void httpd_body_pieces(struct httpd_session *s, int (*next)(struct httpd_session *s, void *arg),
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

void httpd_req_pieces_done(struct httpd_req *r)
{
	if (r->pieces_done == NULL)
		return;
	r->pieces_done(r->pieces_arg);
	r->pieces_next = NULL;
	r->pieces_done = NULL;
}

/* Done with the response's file: closed, or given back to its owner. */
void httpd_req_file_done(struct httpd_req *r)
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

int httpd_respond(struct httpd_session *s, int status, const char *content_type, const void *body,
                  size_t len)
{
	if (httpd_head_begin(s, status) < 0 ||
	    (content_type && httpd_head_add(s, "Content-Type", content_type) < 0) ||
	    httpd_head_end(s, (int64_t)len) < 0)
		return -1;
	return httpd_body(s, body, len);
}

int httpd_error(struct httpd_session *s, int status, bool close)
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
	return httpd_respond(s, status, "text/plain; charset=utf-8", body, (size_t)n);
}
