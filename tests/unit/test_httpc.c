/* httpc: the one HTTP exchange under the LB's health checks and
 * scrapes, on a real loop against a server thread on 127.0.0.1 - the
 * request arrives whole, the answer is handed over as it comes (DATA, then
 * EOF), a full buffer is EMSGSIZE, a refused connect an error, and an
 * owner that has enough ends it early. */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/httpc.h"
#include "core/loop.h"
#include "core/net.h"
#include "t.h"

struct server {
	int lfd;
	const char *const *pieces; /* written one by one, then it closes */
	char got[512];             /* what the client sent */
};

static void *serve(void *arg)
{
	struct server *s = arg;
	int fd = accept(s->lfd, NULL, NULL);
	if (fd < 0)
		return NULL;
	size_t n = 0;
	while (n < sizeof(s->got) - 1 && strstr(s->got, "\r\n\r\n") == NULL) {
		ssize_t r = read(fd, s->got + n, sizeof(s->got) - 1 - n);
		if (r <= 0)
			break;
		n += (size_t)r;
	}
	for (const char *const *p = s->pieces; *p; p++) {
		if (send(fd, *p, strlen(*p), MSG_NOSIGNAL) < 0)
			break;
		usleep(2000); /* so that they arrive as separate reads */
	}
	close(fd);
	return NULL;
}

struct run {
	struct httpc f;
	struct loop *loop;
	struct timer deadline; /* a test that hangs fails instead */
	int data, eof, err;
	size_t stop_at; /* end the exchange once this much has come (0: never) */
	char req[128], resp[64];
};

static void on_event(struct httpc *f, int what)
{
	struct run *r = container_of(f, struct run, f);
	if (what == HTTPC_DATA) {
		r->data++;
		if (r->stop_at == 0 || f->resp_len < r->stop_at)
			return;
	} else if (what == HTTPC_EOF) {
		r->eof++;
	} else {
		r->err = -what;
	}
	httpc_close(f);
	loop_stop(r->loop);
}

static void too_long(struct timer *t)
{
	struct run *r = container_of(t, struct run, deadline);
	r->err = ETIMEDOUT;
	httpc_close(&r->f);
	loop_stop(r->loop);
}

static void run_loop(struct run *r)
{
	r->deadline.fn = too_long;
	loop_timer_set(r->loop, &r->deadline, 5000);
	loop_run(r->loop);
	loop_timer_stop(r->loop, &r->deadline);
}

static int listen_any(struct addr *a)
{
	char err[256], text[64];
	addr_parse("127.0.0.1:0", NULL, a, err, sizeof(err));
	int lfd = net_listen(a, 0, 4, err, sizeof(err));
	fcntl(lfd, F_SETFL, 0); /* the server thread's accept waits */
	struct sockaddr_in sin;
	socklen_t len = sizeof(sin);
	getsockname(lfd, (struct sockaddr *)&sin, &len);
	snprintf(text, sizeof(text), "127.0.0.1:%d", ntohs(sin.sin_port));
	addr_parse(text, NULL, a, err, sizeof(err));
	return lfd;
}

/* One exchange against a server answering with pieces; resp of cap bytes. */
static void exchange(struct run *r, const char *const *pieces, size_t cap, struct server *s)
{
	struct addr a;
	memset(s, 0, sizeof(*s));
	s->lfd = listen_any(&a);
	s->pieces = pieces;
	CHECK(s->lfd >= 0);
	pthread_t th;
	pthread_create(&th, NULL, serve, s);
	r->loop = loop_new();
	r->f.req = r->req;
	r->f.req_len =
	    (size_t)snprintf(r->req, sizeof(r->req),
	                     "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
	r->f.resp = r->resp;
	r->f.resp_cap = cap;
	r->f.event = on_event;
	CHECK_EQ(httpc_start(&r->f, r->loop, &a), 0);
	CHECK(httpc_open(&r->f));
	run_loop(r);
	CHECK(!httpc_open(&r->f));
	close(s->lfd); /* the server thread is past accept: it has our connection */
	pthread_join(th, NULL);
	loop_free(r->loop);
}

TEST(fetch_sends_the_request_and_hands_the_answer_over_as_it_comes)
{
	static const char *const pieces[] = { "HTTP/1.1 200 OK\r\n", "Content-Length: 2\r\n\r\n",
		                              "ok", NULL };
	struct run r = { 0 };
	struct server s;
	exchange(&r, pieces, sizeof(r.resp), &s);
	CHECK_STR(s.got, "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
	CHECK_EQ(r.eof, 1);
	CHECK_EQ(r.err, 0);
	CHECK(r.data >= 2); /* pieces 2 ms apart: more than one read */
	CHECK_EQ(r.f.resp_len, strlen("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"));
	CHECK(memcmp(r.resp, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", r.f.resp_len) == 0);
}

TEST(fetch_says_emsgsize_when_the_buffer_is_full)
{
	static const char *const pieces[] = { "HTTP/1.1 200 OK\r\nX-Long: 0123456789abcdef\r\n",
		                              "X-More: 0123456789abcdef0123456789\r\n\r\n", NULL };
	struct run r = { 0 };
	struct server s;
	exchange(&r, pieces, 32, &s);
	CHECK_EQ(r.err, EMSGSIZE);
	CHECK_EQ(r.eof, 0);
	CHECK_EQ(r.f.resp_len, 32u);
}

TEST(fetch_can_be_ended_by_its_owner_before_the_server_closes)
{
	static const char *const pieces[] = { "HTTP/1.1 204 No Content\r\n\r\n", "trailing", NULL };
	struct run r = { .stop_at = 10 };
	struct server s;
	exchange(&r, pieces, sizeof(r.resp), &s);
	CHECK_EQ(r.data, 1);
	CHECK_EQ(r.eof, 0);
	CHECK_EQ(r.err, 0);
	CHECK_EQ(r.f.resp_len, strlen("HTTP/1.1 204 No Content\r\n\r\n"));
}

TEST(fetch_reports_a_refused_connect)
{
	struct addr a;
	int lfd = listen_any(&a);
	close(lfd); /* nobody there any more */
	struct run r = { 0 };
	r.loop = loop_new();
	r.f.req = "GET / HTTP/1.1\r\n\r\n";
	r.f.req_len = strlen(r.f.req);
	r.f.resp = r.resp;
	r.f.resp_cap = sizeof(r.resp);
	r.f.event = on_event;
	int e = httpc_start(&r.f, r.loop, &a);
	if (e == 0) /* refused later, through the loop */
		run_loop(&r);
	else
		r.err = e;
	CHECK_EQ(r.err, ECONNREFUSED);
	CHECK(!httpc_open(&r.f));
	CHECK_EQ(r.data, 0);
	loop_free(r.loop);
}

TEST(httpc_get_runs_an_exchange_to_its_end_and_reads_the_status)
{
	static const char *const pieces[] = { "HTTP/1.1 200 OK\r\n", "Content-Length: 2\r\n\r\n",
		                              "ok", NULL };
	struct server s = { 0 };
	struct addr a;
	s.lfd = listen_any(&a);
	s.pieces = pieces;
	pthread_t th;
	pthread_create(&th, NULL, serve, &s);
	static const char req[] = "GET /x HTTP/1.1\r\nHost: y\r\n\r\n";
	char resp[128];
	ssize_t n = httpc_get(&a, req, strlen(req), resp, sizeof(resp), 1000, 1000);
	close(s.lfd);
	pthread_join(th, NULL);
	CHECK_STR(s.got, req);
	CHECK_EQ(n, (ssize_t)strlen("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"));
	struct str body;
	CHECK_EQ(httpc_status(resp, (size_t)n, &body), 200);
	CHECK(body.len == 2 && memcmp(body.p, "ok", 2) == 0);
	CHECK_EQ(httpc_status(resp, 10, NULL), -1); /* no whole head */
}

TEST(httpc_get_fails_when_nobody_listens)
{
	struct addr a;
	close(listen_any(&a));
	char resp[16];
	CHECK_EQ(httpc_get(&a, "GET / HTTP/1.1\r\n\r\n", 18, resp, sizeof(resp), 500, 500), -1);
}
