/* sm.c - the harness of the state-machine fuzz targets. See sm.h. */
#include "sm.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/http.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/net.h"

/* Turns of the loop after one op before it must have come to rest. */
#define SM_MAX_TURNS 4000
/* Rounds of a minute and more at the end before everything must be closed. */
#define SM_FINISH_ROUNDS 12

void sm_bytes_add(struct sm_bytes *b, const void *p, size_t n)
{
	if (n == 0)
		return;
	if (b->len + n > b->cap) {
		b->cap = (b->len + n) * 2 + 64;
		b->p = realloc(b->p, b->cap);
		REQUIRE(b->p != NULL);
	}
	memcpy(b->p + b->len, p, n);
	b->len += n;
}

void sm_bytes_free(struct sm_bytes *b)
{
	free(b->p);
	memset(b, 0, sizeof(*b));
}

/* ---- the world ---- */

static int sm_admit(struct httpd_session *s)
{
	struct sm_world *wd = s->srv->data;
	/* Accepted in the order they connected: the first without a session. */
	for (unsigned i = 0; i < wd->nclients; i++) {
		struct sm_client *c = &wd->clients[i];
		if (!c->accepted) {
			c->accepted = true;
			c->s = s;
			return 0;
		}
	}
	REQUIRE(0); /* a connection no client made */
	return -1;
}

static void sm_closed(struct httpd_session *s)
{
	struct sm_world *wd = s->srv->data;
	for (unsigned i = 0; i < wd->nclients; i++)
		if (wd->clients[i].s == s)
			wd->clients[i].s = NULL;
}

static void unix_addr(struct addr *a, const char *what)
{
	char spec[108], err[128];
	snprintf(spec, sizeof(spec), "unix:/tmp/tsfuzz-%d-%s.sock", (int)getpid(), what);
	REQUIRE(addr_parse(spec, NULL, a, err, sizeof(err)) == 0);
}

void sm_world_init(struct sm_world *wd, unsigned size, bool keepalive_limit, unsigned body)
{
	static const uint32_t bufsizes[4] = { 1024, 4096, 16384, 2048 };
	static const uint64_t max_bodies[4] = { 0, 16, 1000, 100000 };
	static bool quiet;
	if (!quiet) {
		log_init("fuzz", LL_ERROR);
		quiet = true;
	}
	memset(wd, 0, sizeof(*wd));
	wd->back_fd = -1;
	wd->loop = loop_new();
	REQUIRE(wd->loop != NULL);
	wd->d.nworkers = 1;
	wd->d.metrics = metrics_new();
	wd->w.d = &wd->d;
	wd->w.loop = wd->loop;
	buf_pool_init(&wd->w.pool, bufsizes[size & 3]);
	wd->conf.maxconn = 64;
	wd->conf.max_header_size = bufsizes[size & 3] / 2;
	wd->conf.max_body_size = max_bodies[body & 3];
	wd->conf.timeout_client = 30000;
	wd->conf.timeout_http_request = 5000;
	wd->conf.timeout_http_keep_alive = 2500;
	wd->conf.keepalive_requests = keepalive_limit ? 3 : 0;
	unix_addr(&wd->front, "front");
	unix_addr(&wd->back, "back");
}

void sm_world_start(struct sm_world *wd, httpd_handler_fn handler, bool with_backends)
{
	char err[256];
	wd->w.shard = metrics_shard_new(wd->d.metrics);
	httpd_server_init(&wd->srv, &wd->w, &wd->conf, handler, wd);
	wd->srv.admit = sm_admit;
	wd->srv.closed = sm_closed;
	REQUIRE(httpd_server_listen(&wd->srv, &wd->front, 0, err, sizeof(err)) == 0);
	wd->with_backends = with_backends;
	if (with_backends)
		sm_backends_listen(wd, true);
}

void sm_backends_listen(struct sm_world *wd, bool up)
{
	char err[256];
	if (up && wd->back_fd < 0) {
		wd->back_fd = net_listen(&wd->back, 0, 64, err, sizeof(err));
		REQUIRE(wd->back_fd >= 0);
	} else if (!up && wd->back_fd >= 0) {
		close(wd->back_fd); /* connects are refused from now on */
		wd->back_fd = -1;
	}
}

/* Read whatever arrived on fd into got; true if anything happened. */
static bool drain(int fd, struct sm_bytes *got, bool *eof)
{
	char tmp[65536];
	bool moved = false;
	while (!*eof) {
		ssize_t n = recv(fd, tmp, sizeof(tmp), MSG_DONTWAIT);
		if (n > 0) {
			sm_bytes_add(got, tmp, (size_t)n);
			moved = true;
			continue;
		}
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			break;
		*eof = true; /* closed, or reset */
		moved = true;
	}
	return moved;
}

static bool pump_peers(struct sm_world *wd)
{
	bool moved = false;
	while (wd->back_fd >= 0) {
		int fd = accept4(wd->back_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0)
			break;
		moved = true;
		if (wd->nbackends == SM_MAX_BACKENDS) {
			close(fd);
			continue;
		}
		struct sm_backend *b = &wd->backends[wd->nbackends++];
		memset(b, 0, sizeof(*b));
		b->fd = fd;
	}
	for (unsigned i = 0; i < wd->nclients; i++)
		if (wd->clients[i].fd >= 0)
			moved |= drain(wd->clients[i].fd, &wd->clients[i].got, &wd->clients[i].eof);
	for (unsigned i = 0; i < wd->nbackends; i++)
		if (wd->backends[i].fd >= 0)
			moved |=
			    drain(wd->backends[i].fd, &wd->backends[i].got, &wd->backends[i].eof);
	return moved;
}

void sm_settle(struct sm_world *wd)
{
	unsigned idle = 0;
	for (unsigned turn = 0; turn < SM_MAX_TURNS; turn++) {
		int n = loop_run_once(wd->loop, 0);
		REQUIRE(n >= 0);
		bool moved = pump_peers(wd) || n > 0;
		idle = moved ? 0 : idle + 1;
		if (idle == 4)
			return;
	}
	REQUIRE(0); /* still busy: a livelock */
}

void sm_advance(struct sm_world *wd, uint64_t ms)
{
	loop_advance(wd->loop, ms);
	sm_settle(wd);
}

/* ---- ops ---- */

void sm_client_connect(struct sm_world *wd)
{
	unsigned open = 0;
	for (unsigned i = 0; i < wd->nclients; i++)
		open += wd->clients[i].fd >= 0;
	if (wd->nclients == SM_MAX_CLIENTS || open >= 2)
		return;
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	REQUIRE(fd >= 0);
	if (connect(fd, (const struct sockaddr *)&wd->front.ss, wd->front.len) < 0) {
		close(fd); /* the server has stopped listening */
		return;
	}
	struct sm_client *c = &wd->clients[wd->nclients++];
	memset(c, 0, sizeof(*c));
	c->fd = fd;
	sm_settle(wd);
}

static struct sm_client *client(struct sm_world *wd, unsigned c)
{
	if (wd->nclients == 0)
		return NULL;
	struct sm_client *cl = &wd->clients[c % wd->nclients];
	return cl->fd >= 0 ? cl : NULL;
}

void sm_client_send(struct sm_world *wd, unsigned c, const uint8_t *p, size_t n)
{
	struct sm_client *cl = client(wd, c);
	if (cl == NULL || cl->write_shut || n == 0)
		return;
	ssize_t w = send(cl->fd, p, n, MSG_NOSIGNAL | MSG_DONTWAIT);
	if (w > 0)
		sm_bytes_add(&cl->sent, p, (size_t)w);
	sm_settle(wd);
}

void sm_client_shut(struct sm_world *wd, unsigned c)
{
	struct sm_client *cl = client(wd, c);
	if (cl == NULL || cl->write_shut)
		return;
	shutdown(cl->fd, SHUT_WR);
	cl->write_shut = true;
	sm_settle(wd);
}

static void close_fd(int *fd, bool reset)
{
	if (reset) {
		struct linger lg = { .l_onoff = 1, .l_linger = 0 };
		setsockopt(*fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	}
	close(*fd);
	*fd = -1;
}

void sm_client_close(struct sm_world *wd, unsigned c, bool reset)
{
	struct sm_client *cl = client(wd, c);
	if (cl == NULL)
		return;
	pump_peers(wd); /* what had arrived counts */
	close_fd(&cl->fd, reset);
	sm_settle(wd);
}

static struct sm_backend *backend(struct sm_world *wd, unsigned b)
{
	if (wd->nbackends == 0)
		return NULL;
	/* Counted from the newest: the one most likely to be waited on. */
	struct sm_backend *be = &wd->backends[wd->nbackends - 1 - b % wd->nbackends];
	return be->fd >= 0 ? be : NULL;
}

void sm_backend_send(struct sm_world *wd, unsigned b, const uint8_t *p, size_t n)
{
	struct sm_backend *be = backend(wd, b);
	if (be == NULL || n == 0)
		return;
	ssize_t w = send(be->fd, p, n, MSG_NOSIGNAL | MSG_DONTWAIT);
	if (w > 0)
		sm_bytes_add(&be->sent, p, (size_t)w);
	sm_settle(wd);
}

void sm_backend_close(struct sm_world *wd, unsigned b, bool reset)
{
	struct sm_backend *be = backend(wd, b);
	if (be == NULL)
		return;
	pump_peers(wd);
	close_fd(&be->fd, reset);
	sm_settle(wd);
}

/* Clock steps that land on each timeout of the defaults and the targets'
 * configurations, and a little past them. */
static const uint64_t steps[8] = { 1, 100, 1001, 2500, 5001, 10001, 30001, 60001 };

bool sm_common_op(struct sm_world *wd, uint8_t op, struct fuzz_input *sc)
{
	unsigned arg = op >> 4;
	switch (op & 0x0f) {
	case 0:
	case 1: { /* a client sends a segment */
		size_t n;
		const uint8_t *p = fuzz_segment(sc, &n);
		sm_client_send(wd, arg, p, n);
		return true;
	}
	case 2:
		sm_client_shut(wd, arg);
		return true;
	case 3:
		sm_client_close(wd, arg >> 1, arg & 1);
		return true;
	case 4:
		sm_advance(wd, steps[arg & 7]);
		return true;
	case 5:
		sm_client_connect(wd);
		return true;
	case 6:
	case 7: { /* a backend sends a segment */
		size_t n;
		const uint8_t *p = fuzz_segment(sc, &n);
		if (wd->with_backends)
			sm_backend_send(wd, arg, p, n);
		return true;
	}
	case 8:
		if (wd->with_backends)
			sm_backend_close(wd, arg >> 1, arg & 1);
		return true;
	case 9:
		if (wd->with_backends) {
			sm_backends_listen(wd, arg & 1);
			sm_settle(wd);
		}
		return true;
	case 11: /* a graceful stop, once */
		if (!wd->srv.stopping) {
			httpd_server_stop(&wd->srv);
			sm_settle(wd);
		}
		return true;
	default:
		return false;
	}
}

void sm_run(struct sm_world *wd, struct fuzz_input *sc, void (*own_op)(uint8_t op))
{
	sm_client_connect(wd);
	while (fuzz_more(sc)) {
		uint8_t op = fuzz_byte(sc);
		if (sm_common_op(wd, op, sc))
			continue;
		own_op(op);
		sm_settle(wd);
	}
}

/* SM_TRACE=1 in the environment: each stream, as the checks see it. */
static void trace(const char *what, unsigned i, const struct sm_bytes *b)
{
	fprintf(stderr, "---- %s %u (%zu bytes)\n%.*s\n", what, i, b->len, (int)b->len,
	        b->p ? b->p : "");
}

void sm_finish(struct sm_world *wd, bool (*quiet)(struct sm_world *wd))
{
	sm_settle(wd);
	for (unsigned r = 0; r < SM_FINISH_ROUNDS; r++) {
		if (wd->w.nconns == 0 && (quiet == NULL || quiet(wd)))
			break;
		sm_advance(wd, 61000);
	}
	/* Every session has ended, in bounded time, whatever the peers did. */
	REQUIRE(wd->w.nconns == 0);
	REQUIRE(wd->srv.sessions == NULL);
	REQUIRE(quiet == NULL || quiet(wd));
	if (getenv("SM_TRACE")) {
		for (unsigned i = 0; i < wd->nclients; i++) {
			trace("client sent", i, &wd->clients[i].sent);
			trace("client got", i, &wd->clients[i].got);
		}
		for (unsigned i = 0; i < wd->nbackends; i++) {
			trace("backend got", i, &wd->backends[i].got);
			trace("backend sent", i, &wd->backends[i].sent);
		}
	}
	for (unsigned i = 0; i < wd->nclients; i++) {
		struct sm_client *c = &wd->clients[i];
		REQUIRE(c->s == NULL);
		/* The server closed its side of every connection it took. */
		REQUIRE(!c->accepted || c->fd < 0 || c->eof);
		sm_check_seen(wd, c);
		sm_check_responses(wd, c);
	}
}

void sm_world_free(struct sm_world *wd)
{
	for (unsigned i = 0; i < wd->nclients; i++) {
		struct sm_client *c = &wd->clients[i];
		if (c->fd >= 0)
			close(c->fd);
		sm_bytes_free(&c->sent);
		sm_bytes_free(&c->got);
		for (unsigned k = 0; k < c->nseen; k++)
			sm_bytes_free(&c->seen[k].body);
	}
	for (unsigned i = 0; i < wd->nbackends; i++) {
		if (wd->backends[i].fd >= 0)
			close(wd->backends[i].fd);
		sm_bytes_free(&wd->backends[i].got);
		sm_bytes_free(&wd->backends[i].sent);
	}
	sm_backends_listen(wd, false);
	/* Deferred frees run, then nothing may be left to the loop. */
	sm_settle(wd);
	httpd_server_free(&wd->srv);
	metrics_shard_retire(wd->d.metrics, wd->w.shard);
	metrics_free(wd->d.metrics);
	buf_pool_destroy(&wd->w.pool);
	loop_free(wd->loop);
	unlink(((struct sockaddr_un *)(void *)&wd->front.ss)->sun_path);
	unlink(((struct sockaddr_un *)(void *)&wd->back.ss)->sun_path);
}

struct sm_client *sm_client_of(struct sm_world *wd, const struct httpd_session *s)
{
	for (unsigned i = 0; i < wd->nclients; i++)
		if (wd->clients[i].s == s)
			return &wd->clients[i];
	return NULL;
}

static void text_set(struct sm_text *t, struct str v)
{
	t->len = v.len;
	memcpy(t->p, v.p, v.len < sizeof(t->p) ? v.len : sizeof(t->p));
}

bool sm_text_is(const struct sm_text *t, struct str v)
{
	return t->len == v.len &&
	       memcmp(t->p, v.p, v.len < sizeof(t->p) ? v.len : sizeof(t->p)) == 0;
}

struct sm_seen *sm_seen_add(struct sm_world *wd, struct httpd_session *s)
{
	struct sm_client *c = sm_client_of(wd, s);
	REQUIRE(c != NULL);
	if (c->nseen == SM_MAX_REQS)
		return NULL;
	struct sm_seen *r = &c->seen[c->nseen++];
	memset(r, 0, sizeof(*r));
	text_set(&r->method, s->req->method_name);
	text_set(&r->target, s->req->raw_target);
	text_set(&r->path, s->req->target);
	r->head = s->req->method == HTTP_HEAD;
	return r;
}

/* ---- checks ---- */

unsigned sm_parse_requests(const struct sm_bytes *b, const struct http_limits *lim,
                           struct sm_req *out, unsigned max, bool *bad)
{
	static struct http_msg m;
	size_t pos = 0;
	unsigned n = 0;
	*bad = false;
	while (pos < b->len && n < max) {
		size_t scan = 0;
		ssize_t r = http_parse_request(b->p + pos, b->len - pos, &scan, lim, &m);
		if (r == TS_AGAIN)
			break;
		if (r < 0) {
			*bad = true;
			break;
		}
		struct sm_req *q = &out[n++];
		memset(q, 0, sizeof(*q));
		q->method = m.method;
		q->method_name = m.method_name;
		q->target = m.raw_target;
		q->path = m.target;
		pos += (size_t)r;
		size_t avail = b->len - pos;
		if (m.framing == HTTP_BODY_NONE) {
			q->body_whole = true;
		} else if (m.framing == HTTP_BODY_LENGTH) {
			size_t k = (size_t)(m.content_length < avail ? m.content_length : avail);
			sm_bytes_add(&q->body, b->p + pos, k);
			pos += k;
			q->body_whole = k == m.content_length;
		} else {
			struct http_chunked ch;
			http_chunked_init(&ch, lim->max_body, (uint32_t)lim->max_head);
			while (!http_chunked_done(&ch)) {
				struct str data;
				ssize_t k = http_chunked_step(&ch, b->p + pos, b->len - pos, &data);
				if (k < 0) {
					*bad = true;
					break;
				}
				sm_bytes_add(&q->body, data.p, data.len);
				if (k == 0)
					break;
				pos += (size_t)k;
			}
			q->body_whole = http_chunked_done(&ch);
		}
		q->end = pos;
		if (!q->body_whole)
			break;
	}
	return n;
}

void sm_reqs_free(struct sm_req *r, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		sm_bytes_free(&r[i].body);
}

void sm_check_seen(const struct sm_world *wd, const struct sm_client *c)
{
	static struct sm_req reqs[SM_MAX_REQS];
	bool bad;
	unsigned n = sm_parse_requests(&c->sent, &wd->srv.limits, reqs, SM_MAX_REQS, &bad);
	if (getenv("SM_TRACE"))
		fprintf(stderr, "seen %u parsed %u bad %d\n", c->nseen, n, bad);
	REQUIRE(c->nseen <= n);
	for (unsigned k = 0; k < c->nseen; k++) {
		const struct sm_seen *s = &c->seen[k];
		REQUIRE(sm_text_is(&s->method, reqs[k].method_name));
		REQUIRE(sm_text_is(&s->target, reqs[k].target));
		if (s->has_body) {
			REQUIRE(reqs[k].body_whole);
			REQUIRE(s->body.len == reqs[k].body.len);
			REQUIRE(s->body.len == 0 ||
			        memcmp(s->body.p, reqs[k].body.p, s->body.len) == 0);
		}
	}
	sm_reqs_free(reqs, n);
}

void sm_check_responses(const struct sm_world *wd, const struct sm_client *c)
{
	static struct sm_req reqs[SM_MAX_REQS];
	static struct http_msg m;
	static const struct http_limits roomy = { .max_head = 1 << 16,
		                                  .max_headers = HTTP_MAX_HEADERS };
	bool bad;
	unsigned nreq = sm_parse_requests(&c->sent, &wd->srv.limits, reqs, SM_MAX_REQS, &bad);
	const struct sm_bytes *g = &c->got;
	size_t pos = 0;
	unsigned finals = 0;
	while (pos < g->len) {
		enum http_method method = finals < nreq ? reqs[finals].method : HTTP_GET;
		size_t scan = 0;
		ssize_t r =
		    http_parse_response(g->p + pos, g->len - pos, &scan, &roomy, method, &m);
		/* Whole heads only: a head is written in one piece. */
		REQUIRE(r > 0);
		/* An error that closes may answer a request that had not arrived
		 * whole (a 408 while the rest was still to come): not the HEAD
		 * the whole stream shows, so its body is there. */
		if (method == HTTP_HEAD && !m.keep_alive && m.status >= 400 &&
		    (size_t)r < g->len - pos) {
			scan = 0;
			r = http_parse_response(g->p + pos, g->len - pos, &scan, &roomy, HTTP_GET,
			                        &m);
			REQUIRE(r > 0);
		}
		REQUIRE(m.status >= 100 && m.status <= 599);
		pos += (size_t)r;
		if (m.status < 200)
			continue;
		finals++;
		/* At most one response per request the client sent, and one
		 * more for what came after them (400, 408, 431 ...), closing. */
		REQUIRE(finals <= nreq + 1);
		if (finals == nreq + 1)
			REQUIRE(m.status >= 400 && !m.keep_alive);
		size_t avail = g->len - pos;
		bool whole = true;
		if (m.framing == HTTP_BODY_LENGTH) {
			whole = m.content_length <= avail;
			pos += whole ? (size_t)m.content_length : avail;
		} else if (m.framing == HTTP_BODY_CHUNKED) {
			struct http_chunked ch;
			http_chunked_init(&ch, 0, 1 << 16);
			while (!http_chunked_done(&ch)) {
				struct str data;
				ssize_t k = http_chunked_step(&ch, g->p + pos, g->len - pos, &data);
				REQUIRE(k >= 0);
				if (k == 0)
					break;
				pos += (size_t)k;
			}
			whole = http_chunked_done(&ch);
		} else if (m.framing == HTTP_BODY_CLOSE) {
			REQUIRE(!m.keep_alive);
			pos = g->len;
		}
		/* A body cut short (the backend died in it) ends the stream. */
		if (!whole)
			REQUIRE(pos == g->len);
		/* Nothing follows a response that said it closes. */
		if (!m.keep_alive)
			REQUIRE(pos == g->len);
	}
	sm_reqs_free(reqs, nreq);
}
