/* httpc.c - the HTTP client: one exchange over a connection of its own, on
 * a loop. See httpc.h.
 */
#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

#include "http.h"
#include "httpc.h"
#include "httpd.h" /* httpd_now_us */
#include "loop.h"

static void httpc_io(struct io *io)
{
	struct httpc *f = container_of(io, struct httpc, conn.io);
	if (!f->connected) {
		if (!(io->ready & (IO_WRITE | IO_ERR | IO_HUP)))
			return;
		int e = net_socket_error(io->fd);
		if (e) {
			f->event(f, -e);
			return;
		}
		f->connected = true;
	}
	while (f->sent < f->req_len) {
		ssize_t n = conn_write(&f->conn, f->req + f->sent, f->req_len - f->sent);
		if (n == TS_AGAIN)
			return;
		if (n < 0) {
			f->event(f, -errno);
			return;
		}
		f->sent += (size_t)n;
	}
	/* until the owner ends it: after each read it may have what it needs */
	while (httpc_open(f)) {
		if (f->resp_len == f->resp_cap) {
			f->event(f, -EMSGSIZE);
			return;
		}
		ssize_t n = conn_read(&f->conn, f->resp + f->resp_len, f->resp_cap - f->resp_len);
		if (n == TS_AGAIN)
			return;
		if (n < 0) {
			f->event(f, -errno);
			return;
		}
		if (n == 0) {
			f->event(f, HTTPC_EOF);
			return;
		}
		f->resp_len += (size_t)n;
		f->event(f, HTTPC_DATA);
	}
}

int httpc_start(struct httpc *f, struct loop *loop, const struct addr *a)
{
	f->t_start_us = httpd_now_us();
	f->resp_len = 0;
	f->sent = 0;
	f->connected = false;
	int fd = net_connect(a);
	if (fd < 0 || conn_init(&f->conn, loop, fd, httpc_io) < 0) {
		int e = errno;
		if (fd >= 0)
			close(fd);
		f->conn.io.fd = -1;
		return e;
	}
	return 0;
}

void httpc_close(struct httpc *f)
{
	conn_close(&f->conn);
}

/* ---- httpc_get: one exchange run to its end on a loop of its own ---- */

struct httpc_run {
	struct httpc f;
	struct loop *loop;
	struct timer timer; /* the connect, then the silence between reads */
	uint64_t idle_ms;
	bool idle; /* the timer counts silence: the connect's time is over */
	bool done, failed;
};

/* Ends the exchange: failed when the request never went out whole. */
static void run_end(struct httpc_run *r)
{
	r->failed = r->f.sent < r->f.req_len;
	httpc_close(&r->f);
	r->done = true;
}

static void run_event(struct httpc *f, int what)
{
	struct httpc_run *r = container_of(f, struct httpc_run, f);
	if (what == HTTPC_DATA) {
		r->idle = true;
		loop_timer_set(r->loop, &r->timer, r->idle_ms);
		return;
	}
	run_end(r); /* EOF, a full buffer or an error: what came is the answer */
}

static void run_timer(struct timer *t)
{
	struct httpc_run *r = container_of(t, struct httpc_run, timer);
	if (r->f.connected && !r->idle) {
		/* connected in time: the wait for the answer starts now at the
		 * latest (no event says when the connect ended) */
		r->idle = true;
		loop_timer_set(r->loop, &r->timer, r->idle_ms);
		return;
	}
	run_end(r);
}

ssize_t httpc_get(const struct addr *a, const char *req, size_t req_len, char *resp, size_t cap,
                  unsigned connect_ms, unsigned idle_ms)
{
	struct httpc_run r = { .f = { .req = req,
		                      .req_len = req_len,
		                      .resp = resp,
		                      .resp_cap = cap,
		                      .event = run_event },
		               .idle_ms = idle_ms,
		               .timer = { .fn = run_timer } };
	r.loop = loop_new();
	if (r.loop == NULL)
		return -1;
	if (httpc_start(&r.f, r.loop, a) == 0) {
		loop_timer_set(r.loop, &r.timer, connect_ms);
		while (!r.done && loop_run_once(r.loop, -1) >= 0)
			;
		if (!r.done) { /* the loop failed: give up */
			httpc_close(&r.f);
			r.failed = true;
		}
	} else {
		r.failed = true;
	}
	loop_timer_stop(r.loop, &r.timer);
	loop_free(r.loop);
	return r.failed ? -1 : (ssize_t)r.f.resp_len;
}

int httpc_status(const char *resp, size_t len, struct str *body)
{
	struct http_msg *m = xmalloc(sizeof(*m));
	struct http_limits lim = { .max_head = len, .max_headers = HTTP_MAX_HEADERS };
	size_t scan = 0;
	ssize_t r = http_parse_response(resp, len, &scan, &lim, HTTP_GET, m);
	int status = r > 0 ? m->status : -1;
	if (r > 0 && body)
		*body = (struct str){ resp + r, len - (size_t)r };
	free(m);
	return status;
}
