/* supervisor_metrics.c - the supervisor's /metrics: a tiny HTTP/1.0-style
 * server that lives inside the supervisor's wait between two rounds.
 *
 * It must never stall supervision: every socket is non-blocking, a round
 * waits in poll() for at most the time the supervisor would have slept, a
 * client gets SVM_TIMEOUT_MS for its request and its answer, and at most
 * SVM_CONNS are held at once (a new one pushes out the oldest that has not
 * sent its request yet). One request per connection; the answer closes it.
 *
 * It is not core's HTTP server (httpd.c): that one runs on a worker's event
 * loop, inside a daemon (its buffer pools, metrics shards, reloads), and the
 * supervisor is one plain process stepping waitpid() and pid files between
 * sleeps. What the two share is core's: the listening socket (net_listen),
 * the request parser (http_parse_request), the admin listeners' Host check
 * (httpd_host_is_local) and the reason phrases.
 *
 * The listening socket is made by the process that starts the supervisor
 * (errors reach `tristack up`), in the monitoring host's network namespace
 * in isolated mode: the socket keeps its namespace wherever its owner runs.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "core/httpd.h"
#include "ctl.h"

#define SVM_CONNS      8
#define SVM_TIMEOUT_MS 2000
#define SVM_HEAD_MAX   2048

struct svconn {
	int fd; /* -1: free */
	uint64_t deadline;
	char head[SVM_HEAD_MAX];
	size_t got, scan; /* scan: the parser's, between reads */
	char *out;        /* the answer, once the head is in */
	size_t outlen, sent;
};

static struct svconn conns[SVM_CONNS];
static bool conns_ready;

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

int supervisor_metrics_listen(const struct ctl *c, char *err, size_t errlen)
{
	const char *spec = c->cfg.monitoring.supervisor;
	const struct conf_host *h = mon_conf_host(&c->cfg);
	if (spec == NULL || spec[0] == '\0' || h == NULL)
		return -2;
	struct addr a;
	char e[256], hp[128];
	if (conf_resolve_addr(&c->cfg, spec, h, &a, e, sizeof(e)) < 0) {
		snprintf(err, errlen, "[monitoring] supervisor: %s", e);
		return -1;
	}
	addr_format(&a, hp, sizeof(hp));
	if (c->isolated && netns_enter(c, h->name) < 0) {
		snprintf(err, errlen, "no namespace for %s: %s", h->name, strerror(errno));
		return -1;
	}
	int fd = net_listen(&a, 0, 16, e, sizeof(e));
	int saved = errno;
	if (c->isolated)
		netns_leave();
	if (fd < 0) {
		snprintf(err, errlen, "cannot listen on %s for the supervisor's /metrics: %s", hp,
		         strerror(saved));
		return -1;
	}
	return fd;
}

static void svconn_close(struct svconn *k)
{
	close(k->fd);
	free(k->out);
	memset(k, 0, sizeof(*k));
	k->fd = -1;
}

static void accept_all(int lfd)
{
	for (;;) {
		int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0)
			return; /* EAGAIN, or an error the next round sees again */
		struct svconn *k = NULL, *oldest = NULL;
		for (unsigned i = 0; i < SVM_CONNS && k == NULL; i++) {
			if (conns[i].fd < 0)
				k = &conns[i];
			else if (conns[i].out == NULL &&
			         (oldest == NULL || conns[i].deadline < oldest->deadline))
				oldest = &conns[i];
		}
		if (k == NULL && oldest) {
			/* full of clients that say nothing: the oldest makes room,
			 * so idle connections cannot keep a scraper out */
			svconn_close(oldest);
			k = oldest;
		}
		if (k == NULL) {
			close(fd); /* every slot is being answered: next time */
			continue;
		}
		k->fd = fd;
		k->deadline = now_ms() + SVM_TIMEOUT_MS;
	}
}

/* Queue the answer: status with body (malloc'd, taken; NULL: a line saying
 * the status), the body left out for HEAD. */
static void respond(struct svconn *k, int status, char *body, bool head_only)
{
	const char *type =
	    status == 200 ? "text/plain; version=0.0.4; charset=utf-8" : "text/plain";
	char line[64];
	snprintf(line, sizeof(line), "%d %s", status, http_status_reason(status));
	size_t blen = body ? strlen(body) : strlen(line) + 1;
	size_t cap = blen + 256;
	k->out = xmalloc(cap);
	int n = snprintf(k->out, cap,
	                 "HTTP/1.1 %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
	                 "Connection: close\r\n\r\n",
	                 line, type, blen);
	k->outlen = (size_t)n;
	if (!head_only) {
		if (body)
			memcpy(k->out + k->outlen, body, blen);
		else
			snprintf(k->out + k->outlen, cap - k->outlen, "%s\n", line);
		k->outlen += blen;
	}
	free(body);
}

/* The answer to a parsed head m: GET or HEAD /metrics, from a Host that is
 * this listener's address or localhost (anything else is a name a page
 * rebound to us, DNS rebinding, as the daemons' admin listeners refuse). */
static void answer(struct svconn *k, const struct http_msg *m, char *(*render)(void *arg),
                   void *arg)
{
	bool head_only = m->method == HTTP_HEAD;
	if (!httpd_host_is_local(m->authority, k->fd, NULL, 0))
		respond(k, 403, NULL, head_only);
	else if (m->method != HTTP_GET && !head_only)
		respond(k, 405, NULL, head_only);
	else if (!httpd_path_is(m->target, "/metrics", false))
		respond(k, 404, NULL, head_only);
	else {
		char *body = render(arg);
		respond(k, body ? 200 : 500, body, head_only);
	}
}

/* The head so far, parsed: answered once whole (a malformed one with the
 * parser's status); one longer than SVM_HEAD_MAX is no scraper's, and is
 * closed. Returns false when the connection was closed. */
static bool head_in(struct svconn *k, char *(*render)(void *arg), void *arg)
{
	static struct http_msg m; /* one thread, one head at a time */
	struct http_limits lim = { .max_head = sizeof(k->head), .max_headers = 32 };
	ssize_t r = http_parse_request(k->head, k->got, &k->scan, &lim, &m);
	if (r == TS_AGAIN)
		return true;
	if (r < 0 && m.error_status == 431) {
		svconn_close(k);
		return false;
	}
	if (r < 0)
		respond(k, m.error_status, NULL, false);
	else
		answer(k, &m, render, arg);
	return true;
}

static void serve(struct svconn *k, short revents, char *(*render)(void *arg), void *arg)
{
	if (revents & (POLLERR | POLLNVAL)) {
		svconn_close(k);
		return;
	}
	if (k->out == NULL && (revents & (POLLIN | POLLHUP))) {
		ssize_t n = read(k->fd, k->head + k->got, sizeof(k->head) - k->got);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		if (n <= 0) {
			svconn_close(k);
			return;
		}
		k->got += (size_t)n;
		if (!head_in(k, render, arg) || k->out == NULL)
			return;
	}
	if (k->out) {
		ssize_t n = send(k->fd, k->out + k->sent, k->outlen - k->sent, MSG_NOSIGNAL);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		if (n <= 0) {
			svconn_close(k);
			return;
		}
		k->sent += (size_t)n;
		if (k->sent == k->outlen)
			svconn_close(k);
	}
}

void supervisor_metrics_serve(int lfd, unsigned ms, char *(*render)(void *arg), void *arg)
{
	if (!conns_ready) {
		for (unsigned i = 0; i < SVM_CONNS; i++)
			conns[i].fd = -1;
		conns_ready = true;
	}
	uint64_t until = now_ms() + ms;
	for (;;) {
		uint64_t now = now_ms();
		if (now >= until)
			return;
		struct pollfd p[SVM_CONNS + 1];
		struct svconn *who[SVM_CONNS + 1];
		nfds_t n = 0;
		uint64_t wake = until;
		if (lfd >= 0) {
			p[n] = (struct pollfd){ .fd = lfd, .events = POLLIN };
			who[n++] = NULL;
		}
		for (unsigned i = 0; i < SVM_CONNS; i++) {
			struct svconn *k = &conns[i];
			if (k->fd < 0)
				continue;
			if (now >= k->deadline) {
				svconn_close(k); /* too slow: never held longer */
				continue;
			}
			wake = k->deadline < wake ? k->deadline : wake;
			p[n] = (struct pollfd){ .fd = k->fd, .events = k->out ? POLLOUT : POLLIN };
			who[n++] = k;
		}
		int r = poll(p, n, (int)(wake - now));
		if (r < 0 && errno == EINTR)
			return; /* a signal (SIGTERM): let the supervisor look */
		if (r < 0) {
			/* never a busy loop: sleep out the round instead */
			struct timespec ts = { (time_t)((until - now) / 1000),
				               (long)((until - now) % 1000) * 1000000L };
			nanosleep(&ts, NULL);
			return;
		}
		for (nfds_t i = 0; i < n; i++) {
			if (p[i].revents == 0)
				continue;
			if (who[i] == NULL)
				accept_all(lfd);
			else
				serve(who[i], p[i].revents, render, arg);
		}
	}
}
