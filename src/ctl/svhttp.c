/* svhttp.c - the supervisor's /metrics: a tiny HTTP/1.0-style server that
 * lives inside the supervisor's wait between two rounds.
 *
 * It must never stall supervision: every socket is non-blocking, a round
 * waits in poll() for at most the time the supervisor would have slept, a
 * client gets SVHTTP_TIMEOUT_MS for its request and its answer, and at most
 * SVHTTP_CONNS are held at once (a new one pushes out the oldest that has not
 * sent its request yet). One request per connection; the answer closes it.
 *
 * The listening socket is made by the process that starts the supervisor
 * (errors reach `tristack up`), in the monitoring host's network namespace
 * in isolated mode: the socket keeps its namespace wherever its owner runs.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "ctl.h"

#define SVHTTP_CONNS      8
#define SVHTTP_TIMEOUT_MS 2000
#define SVHTTP_HEAD_MAX   2048

struct svconn {
	int fd; /* -1: free */
	uint64_t deadline;
	char head[SVHTTP_HEAD_MAX];
	size_t got;
	char *out; /* the answer, once the head is in */
	size_t outlen, sent;
};

static struct svconn conns[SVHTTP_CONNS];
static bool conns_ready;

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

int svhttp_listen(const struct ctl *c, char *err, size_t errlen)
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
	int fd = socket(((const struct sockaddr *)&a.ss)->sa_family,
	                SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	int one = 1, saved = 0;
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    bind(fd, (const struct sockaddr *)&a.ss, a.len) < 0 || listen(fd, 16) < 0) {
		saved = errno;
		if (fd >= 0)
			close(fd);
		fd = -1;
	}
	if (c->isolated)
		netns_leave();
	if (fd < 0) {
		snprintf(err, errlen, "cannot listen on %s for the supervisor's /metrics: %s", hp,
		         strerror(saved));
		return -1;
	}
	return fd;
}

static void conn_close(struct svconn *k)
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
		for (unsigned i = 0; i < SVHTTP_CONNS && k == NULL; i++) {
			if (conns[i].fd < 0)
				k = &conns[i];
			else if (conns[i].out == NULL &&
			         (oldest == NULL || conns[i].deadline < oldest->deadline))
				oldest = &conns[i];
		}
		if (k == NULL && oldest) {
			/* full of clients that say nothing: the oldest makes room,
			 * so idle connections cannot keep a scraper out */
			conn_close(oldest);
			k = oldest;
		}
		if (k == NULL) {
			close(fd); /* every slot is being answered: next time */
			continue;
		}
		k->fd = fd;
		k->deadline = now_ms() + SVHTTP_TIMEOUT_MS;
	}
}

/* Is the head's Host (port aside) one this listener answers to: the
 * address the connection reached, or localhost? Anything else is a name a
 * page rebound to us (DNS rebinding), as the daemons' admin listeners
 * refuse (http_admin_host_ok). No Host at all (HTTP/1.0) is answered. */
static bool host_ok(const struct svconn *k)
{
	const char *h = strcasestr(k->head, "\nhost:");
	if (h == NULL)
		return true;
	h += 6;
	h += strspn(h, " \t");
	size_t n = strcspn(h, "\r\n");
	while (n > 0 && (h[n - 1] == ' ' || h[n - 1] == '\t'))
		n--;
	char name[128];
	if (n == 0 || n >= sizeof(name))
		return false;
	memcpy(name, h, n);
	name[n] = '\0';
	/* the port goes: "a.b.c.d:9110", "[::1]:9110" */
	char *end = name[0] == '[' ? strchr(name, ']') : strrchr(name, ':');
	if (name[0] == '[') {
		if (end == NULL)
			return false;
		memmove(name, name + 1, (size_t)(end - name - 1));
		name[end - name - 1] = '\0';
	} else if (end && strchr(name, ':') == end) {
		*end = '\0';
	}
	if (strcasecmp(name, "localhost") == 0 || strcmp(name, "127.0.0.1") == 0 ||
	    strcmp(name, "::1") == 0)
		return true;
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	char here[INET6_ADDRSTRLEN] = "";
	if (getsockname(k->fd, (struct sockaddr *)&ss, &len) == 0)
		inet_ntop(ss.ss_family,
		          ss.ss_family == AF_INET
		              ? (void *)&((struct sockaddr_in *)&ss)->sin_addr
		              : (void *)&((struct sockaddr_in6 *)&ss)->sin6_addr,
		          here, sizeof(here));
	return here[0] && strcmp(name, here) == 0;
}

/* The answer to a complete head. */
static void answer(struct svconn *k, char *(*render)(void *arg), void *arg)
{
	char *body = NULL;
	const char *status = "200 OK", *type = "text/plain; version=0.0.4; charset=utf-8";
	bool head_only = strncmp(k->head, "HEAD ", 5) == 0;
	if (!host_ok(k))
		status = "403 Forbidden", type = "text/plain";
	else if (strncmp(k->head, "GET ", 4) != 0 && !head_only)
		status = "405 Method Not Allowed", type = "text/plain";
	else if (strncmp(k->head + (head_only ? 5 : 4), "/metrics ", 9) == 0 ||
	         strncmp(k->head + (head_only ? 5 : 4), "/metrics?", 9) == 0)
		body = render(arg);
	else
		status = "404 Not Found", type = "text/plain";
	if (body == NULL && strcmp(status, "200 OK") == 0)
		status = "500 Internal Server Error", type = "text/plain";
	size_t blen = body ? strlen(body) : strlen(status) + 1;
	size_t cap = blen + 256;
	k->out = xmalloc(cap);
	int n = snprintf(k->out, cap,
	                 "HTTP/1.1 %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
	                 "Connection: close\r\n\r\n",
	                 status, type, blen);
	k->outlen = (size_t)n;
	if (!head_only) {
		if (body)
			memcpy(k->out + k->outlen, body, blen);
		else
			snprintf(k->out + k->outlen, cap - k->outlen, "%s\n", status);
		k->outlen += blen;
	}
	free(body);
}

static void serve(struct svconn *k, short revents, char *(*render)(void *arg), void *arg)
{
	if (revents & (POLLERR | POLLNVAL)) {
		conn_close(k);
		return;
	}
	if (k->out == NULL && (revents & (POLLIN | POLLHUP))) {
		ssize_t n = read(k->fd, k->head + k->got, sizeof(k->head) - 1 - k->got);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		if (n <= 0) {
			conn_close(k);
			return;
		}
		k->got += (size_t)n;
		k->head[k->got] = '\0';
		if (strstr(k->head, "\r\n\r\n") == NULL && strstr(k->head, "\n\n") == NULL) {
			if (k->got == sizeof(k->head) - 1)
				conn_close(k); /* no head this long is ours */
			return;
		}
		answer(k, render, arg);
	}
	if (k->out) {
		ssize_t n = send(k->fd, k->out + k->sent, k->outlen - k->sent, MSG_NOSIGNAL);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		if (n <= 0) {
			conn_close(k);
			return;
		}
		k->sent += (size_t)n;
		if (k->sent == k->outlen)
			conn_close(k);
	}
}

void svhttp_wait(int lfd, unsigned ms, char *(*render)(void *arg), void *arg)
{
	if (!conns_ready) {
		for (unsigned i = 0; i < SVHTTP_CONNS; i++)
			conns[i].fd = -1;
		conns_ready = true;
	}
	uint64_t until = now_ms() + ms;
	for (;;) {
		uint64_t now = now_ms();
		if (now >= until)
			return;
		struct pollfd p[SVHTTP_CONNS + 1];
		struct svconn *who[SVHTTP_CONNS + 1];
		nfds_t n = 0;
		uint64_t wake = until;
		if (lfd >= 0) {
			p[n] = (struct pollfd){ .fd = lfd, .events = POLLIN };
			who[n++] = NULL;
		}
		for (unsigned i = 0; i < SVHTTP_CONNS; i++) {
			struct svconn *k = &conns[i];
			if (k->fd < 0)
				continue;
			if (now >= k->deadline) {
				conn_close(k); /* too slow: never held longer */
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
