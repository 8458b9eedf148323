/* forward.c - `tristack forward`: in isolated mode, publish the LB on this
 * machine's 127.0.0.1, like `docker run -p`: 127.0.0.1:8080 -> the LB's
 * plain listener, :8443 -> its HTTPS listener, :8404 -> its admin listener
 * (the dashboard). The supervisor runs it in the machine's own namespace;
 * each connection it accepts gets a socket made inside the LB's namespace
 * and the bytes are copied both ways. Only 127.0.0.1 listens, so nothing
 * outside the machine reaches the lab, and the lab still has no route out.
 *
 * One thread, poll(): a handful of people with a browser, not a load
 * balancer. At most MAX_PAIRS connections; more wait in the backlog.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/log.h"
#include "ctl.h"

#define MAX_LISTEN 3
#define MAX_PAIRS  256
#define PAIR_BUF   16384

struct fwd_listener {
	int fd;
	struct addr to; /* inside the LB's namespace */
	const char *what;
	/* with a floating address: HTTP and HTTPS go to it from the client
	 * host (whichever LB holds it answers); the admin listener (the
	 * dashboard) to the LB that holds it */
	bool to_vip, to_holder;
};

/* One direction of a connection: bytes read from `from`, to go to `to`. */
struct half {
	char buf[PAIR_BUF];
	size_t len, off;
	bool eof;  /* from has no more */
	bool shut; /* to was told so: shutdown(SHUT_WR) */
};

struct pair {
	int fd[2]; /* 0: the client on 127.0.0.1; 1: the LB */
	bool connecting;
	struct half h[2]; /* h[0]: 0 -> 1, h[1]: 1 -> 0 */
};

static volatile sig_atomic_t stopping;

static void on_term(int sig)
{
	(void)sig;
	stopping = 1;
}

static void pair_close(struct pair *p)
{
	close(p->fd[0]);
	close(p->fd[1]);
	p->fd[0] = p->fd[1] = -1;
}

/* A socket made in the LB host's namespace, connecting to a. */
static int connect_in_lab(const struct ctl *c, const char *host, const struct addr *a)
{
	if (netns_enter(c, host) < 0)
		return -1;
	int fd = socket(((const struct sockaddr *)&a->ss)->sa_family,
	                SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	netns_leave();
	if (fd < 0)
		return -1;
	if (connect(fd, (const struct sockaddr *)&a->ss, a->len) < 0 && errno != EINPROGRESS) {
		close(fd);
		return -1;
	}
	return fd;
}

static int listen_local(int port)
{
	struct addr a;
	char spec[32], e[128];
	snprintf(spec, sizeof(spec), "127.0.0.1:%d", port);
	if (addr_parse(spec, NULL, &a, e, sizeof(e)) < 0)
		return -1;
	int fd = net_listen(&a, 0, 128, e, sizeof(e));
	if (fd >= 0)
		fcntl(fd, F_SETFL, O_NONBLOCK);
	return fd;
}

/* Move what one side can give and the other can take. false: the pair is
 * done (both ways finished, or an error). */
static bool pump(struct pair *p, short rev0, short rev1)
{
	short rev[2] = { rev0, rev1 };
	for (int d = 0; d < 2; d++) {
		struct half *h = &p->h[d];
		int from = p->fd[d], to = p->fd[1 - d];
		if ((rev[d] & (POLLIN | POLLHUP | POLLERR)) && !h->eof && h->len == 0) {
			ssize_t n = read(from, h->buf, sizeof(h->buf));
			if (n > 0) {
				h->len = (size_t)n;
				h->off = 0;
			} else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
				h->eof = true;
			}
		}
		if (h->len > h->off) {
			ssize_t n = write(to, h->buf + h->off, h->len - h->off);
			if (n > 0) {
				h->off += (size_t)n;
				if (h->off == h->len)
					h->len = h->off = 0;
			} else if (n < 0 && errno != EAGAIN && errno != EINTR) {
				return false;
			}
		}
		if (h->eof && h->len == 0 && !h->shut) {
			shutdown(to, SHUT_WR);
			h->shut = true;
		}
	}
	return !(p->h[0].shut && p->h[1].shut);
}

/* The listeners on 127.0.0.1 for the LB's plain, TLS and admin ports, into
 * ls: how many. A port another program holds (a loopback stack's LB, say)
 * is tried again every few seconds, so the forwarder neither dies in a loop
 * under the supervisor nor gives up for good. */
static unsigned listen_all(const struct ctl *c, const struct conf_host *lb, struct fwd_listener *ls)
{
	const struct conf *s = &c->cfg;
	unsigned nls = 0;
	const struct {
		int port;
		const char *spec, *what;
	} want[MAX_LISTEN] = {
		{ FORWARD_HTTP_PORT, s->lb.http.listen, "http" },
		{ FORWARD_HTTPS_PORT, s->lb.tls_listen, "https" },
		{ FORWARD_ADMIN_PORT, s->lb.http.admin, "admin" },
	};
	for (unsigned tries = 0; nls == 0 && !stopping; tries++) {
		for (unsigned i = 0; i < MAX_LISTEN; i++) {
			char e[256];
			struct addr to;
			if (want[i].spec == NULL || want[i].spec[0] == '\0' ||
			    conf_resolve_addr(s, want[i].spec, lb, &to, e, sizeof(e)) < 0)
				continue;
			int fd = listen_local(want[i].port);
			if (fd < 0) {
				if (tries == 0)
					log_warn("forward: cannot listen on 127.0.0.1:%d (%s): %s",
					         want[i].port, want[i].what, strerror(errno));
				continue;
			}
			bool vip = vrrp_on(c), admin = i == MAX_LISTEN - 1;
			char spec[128];
			snprintf(spec, sizeof(spec), "%s:%d", s->site.vip, addr_port(&to));
			if (vip && !admin && addr_parse(spec, NULL, &to, e, sizeof(e)) < 0) {
				close(fd);
				continue;
			}
			char t[128];
			log_info("forward: 127.0.0.1:%d -> %s %s", want[i].port,
			         vip ? (admin ? "the LB holding" : "the floating address")
			             : lb->name,
			         addr_format(&to, t, sizeof(t)));
			ls[nls++] = (struct fwd_listener){ fd, to, want[i].what, vip && !admin,
				                           vip && admin };
		}
		if (nls == 0)
			sleep(5);
	}
	return nls;
}

/* What to poll: the listeners (while a pair is free), then both ends of
 * every open pair. Returns the count. */
static nfds_t poll_set(const struct fwd_listener *ls, unsigned nls, const struct pair *pairs,
                       struct pollfd *pfd)
{
	unsigned n = 0, used = 0;
	for (unsigned i = 0; i < MAX_PAIRS; i++)
		used += pairs[i].fd[0] >= 0;
	for (unsigned i = 0; i < nls; i++)
		pfd[n++] = (struct pollfd){ ls[i].fd, used < MAX_PAIRS ? POLLIN : 0, 0 };
	for (unsigned i = 0; i < MAX_PAIRS; i++) {
		const struct pair *p = &pairs[i];
		if (p->fd[0] < 0)
			continue;
		for (int d = 0; d < 2; d++) {
			short ev = 0;
			if (!p->connecting && !p->h[d].eof && p->h[d].len == 0)
				ev |= POLLIN;
			if (p->h[1 - d].len > 0 || (d == 1 && p->connecting))
				ev |= POLLOUT;
			pfd[n++] = (struct pollfd){ p->fd[d], ev, 0 };
		}
	}
	return n;
}

/* Move bytes for every open pair, as poll_set laid them out after the
 * nls listeners. */
static void pump_all(struct pair *pairs, const struct pollfd *pfd, unsigned nls)
{
	unsigned k = nls;
	for (unsigned i = 0; i < MAX_PAIRS; i++) {
		struct pair *p = &pairs[i];
		if (p->fd[0] < 0)
			continue;
		short r0 = pfd[k].revents, r1 = pfd[k + 1].revents;
		k += 2;
		if (p->connecting) {
			if (!(r1 & (POLLOUT | POLLERR | POLLHUP)))
				continue;
			if (net_socket_error(p->fd[1]) != 0) {
				pair_close(p);
				continue;
			}
			p->connecting = false;
		}
		if (!pump(p, r0, r1))
			pair_close(p);
	}
}

/* A new client on a listener: a free pair, connecting to the LB. */
static void accept_one(const struct ctl *c, const struct conf_host *lb,
                       const struct fwd_listener *l, struct pair *pairs)
{
	int cfd = accept4(l->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (cfd < 0)
		return;
	struct pair *p = NULL;
	for (unsigned j = 0; j < MAX_PAIRS && p == NULL; j++)
		if (pairs[j].fd[0] < 0)
			p = &pairs[j];
	const char *from = lb->name;
	struct addr to = l->to;
	if (l->to_vip) {
		from = "client";
	} else if (l->to_holder) {
		for (unsigned i = 0; i < c->cfg.nhosts; i++) {
			const struct conf_host *h = &c->cfg.hosts[i];
			char e[128];
			if ((h->roles & ROLE_LB) && vrrp_holds(c, h) &&
			    conf_resolve_addr(&c->cfg, c->cfg.lb.http.admin, h, &to, e,
			                      sizeof(e)) == 0) {
				from = h->name;
				break;
			}
		}
	}
	int lfd = p ? connect_in_lab(c, from, &to) : -1;
	if (lfd < 0) {
		close(cfd);
		return;
	}
	memset(p, 0, sizeof(*p));
	p->fd[0] = cfd;
	p->fd[1] = lfd;
	p->connecting = true;
}

int cmd_forward(struct ctl *c)
{
	const struct conf *s = &c->cfg;
	const struct conf_host *lb = conf_host_with_role(s, ROLE_LB);
	if (!c->isolated || lb == NULL) {
		fprintf(stderr, "tristack: forward: only for an isolated stack with an LB\n");
		return 1;
	}
	log_init("tristack-forward", LL_INFO);
	signal(SIGTERM, on_term);
	signal(SIGINT, on_term);
	signal(SIGPIPE, SIG_IGN);
	struct fwd_listener ls[MAX_LISTEN];
	unsigned nls = listen_all(c, lb, ls);
	struct pair *pairs = xcalloc(MAX_PAIRS, sizeof(*pairs));
	for (unsigned i = 0; i < MAX_PAIRS; i++)
		pairs[i].fd[0] = pairs[i].fd[1] = -1;
	struct pollfd pfd[MAX_LISTEN + 2 * MAX_PAIRS];
	while (!stopping) {
		nfds_t n = poll_set(ls, nls, pairs, pfd);
		if (poll(pfd, n, 1000) < 0) {
			if (errno == EINTR)
				continue;
			log_error("forward: poll: %s", strerror(errno));
			break;
		}
		pump_all(pairs, pfd, nls);
		for (unsigned i = 0; i < nls; i++)
			if (pfd[i].revents & POLLIN)
				accept_one(c, lb, &ls[i], pairs);
	}
	for (unsigned i = 0; i < MAX_PAIRS; i++)
		if (pairs[i].fd[0] >= 0)
			pair_close(&pairs[i]);
	free(pairs);
	for (unsigned i = 0; i < nls; i++)
		close(ls[i].fd);
	log_info("forward: stopped");
	return 0;
}
