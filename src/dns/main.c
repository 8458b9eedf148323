/* main.c - tristack-dns: UDP and TCP listeners on the worker loops.
 *
 * Each worker has its own SO_REUSEPORT UDP socket and TCP listener on the
 * [dns] listen address; on SIGHUP the new generation (its zone read again)
 * takes both over from the old worker of the same number, so no datagram
 * and no connection in the accept queue is lost.
 *
 * TCP follows RFC 7766: a 2-byte length before each message, several
 * queries per connection, answered in order as they come (pipelining). A
 * connection is closed after TCP_IDLE_MS without progress (no query
 * answered, no response taken by the client), so a silent, slow or
 * half-open client holds a slot for that long at most; a worker holds at
 * most TCP_MAX_CONNS (the next ones are accepted and closed at once), and
 * serves at most TCP_BATCH queries of one connection before the others get
 * their turn. A connection holds no buffer while idle.
 *
 * On an LB host of a site with a floating address ([site] vip, which
 * keepalived moves between the LB hosts), the same is done on the vip too,
 * bound with NET_FREEBIND: whichever host holds it answers on it at once,
 * from it (a UDP socket bound to the vip replies from the vip).
 *
 * Every message is counted in the worker's metrics shard (stats.c), and
 * the [dns] admin listener serves them over HTTP at /metrics.
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "conf/conf.h"
#include "core/daemon.h"
#include "core/log.h"
#include "dns.h"
#include "stats.h"

#define TCP_IDLE_MS   10000
#define TCP_MAX_CONNS 512  /* per worker */
#define TCP_QUERY_MAX 4096 /* a longer message closes the connection */
#define TCP_BATCH     32   /* queries of one connection per turn of the loop */
#define UDP_BATCH     64   /* datagrams per readiness event */
#define ACCEPT_BATCH  64

/* The addresses a worker listens on: the host's, and the floating one. */
#define DNS_MAX_ADDRS 2

struct dns {
	struct daemon *d;
	struct addr listen[DNS_MAX_ADDRS]; /* [1]: the vip's twin of [0] */
	unsigned naddrs;
	struct addr admin; /* HTTP: /metrics, when has_admin */
	bool has_admin;
	struct dns_stats stats; /* metric slots */
	struct dns_zone zone;
	char zone_from[4096]; /* the zone file, or "" for the stack's zone */
};

struct dns_worker;

struct dns_conn {
	struct io io;
	struct timer timer;
	struct defer more; /* more to do after the other connections' turn */
	struct defer free_defer;
	struct dns_worker *dw;
	struct dns_conn *prev, *next;
	struct buf in; /* what came and is not answered yet */
	uint8_t *out;  /* the rest of a response the client has not taken */
	size_t out_len, out_off;
};

/* One address's UDP socket and TCP listener. */
struct dns_listener {
	struct dns_worker *dw;
	struct io udp, tcp;
	struct defer udp_more;    /* datagrams left after a batch */
	struct defer accept_more; /* connections left after a batch */
};

struct dns_worker {
	struct dns *dns;
	struct worker *w;
	struct dns_listener ls[DNS_MAX_ADDRS];
	struct dns_admin *admin;
	struct dns_conn *conns;
	unsigned nconns;
	bool stopping;
	bool freeing; /* the loop has ended: nothing can name a connection */
	uint8_t query[DNS_MESSAGE_MAX];
	uint8_t resp[2 + DNS_MESSAGE_MAX]; /* room for TCP's length */
};

/* ---- UDP ---- */

static void udp_more(struct defer *d);

static void udp_ready(struct io *io)
{
	struct dns_listener *l = container_of(io, struct dns_listener, udp);
	struct dns_worker *dw = l->dw;
	/* A bounded batch per event, so one flood cannot hold the thread;
	 * the rest is read after the other events of this turn. */
	for (int i = 0; i < UDP_BATCH; i++) {
		struct sockaddr_storage peer;
		socklen_t plen = sizeof(peer);
		ssize_t n = recvfrom(io->fd, dw->query, sizeof(dw->query), 0,
		                     (struct sockaddr *)&peer, &plen);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				io->ready &= ~IO_READ;
			return;
		}
		struct dns_answer_info info;
		size_t len = dns_answer(&dw->dns->zone, dw->query, (size_t)n, dw->resp,
		                        sizeof(dw->resp), DNS_UDP, &info);
		dns_stats_answered(&dw->dns->stats, dw->w->shard, DNS_UDP, len, &info);
		if (len > 0 &&
		    sendto(io->fd, dw->resp, len, MSG_DONTWAIT, (struct sockaddr *)&peer, plen) < 0)
			metrics_add(dw->w->shard, dw->dns->stats.send_errors, 1);
	}
	if (io->ready & IO_READ)
		loop_defer(dw->w->loop, &l->udp_more, udp_more);
}

static void udp_more(struct defer *d)
{
	struct dns_listener *l = container_of(d, struct dns_listener, udp_more);
	if (l->udp.fd >= 0)
		udp_ready(&l->udp);
}

/* ---- TCP connections ---- */

static void conn_io(struct io *io);

static void conn_free_deferred(struct defer *d)
{
	free(container_of(d, struct dns_conn, free_defer));
}

static void dns_conn_close(struct dns_conn *c)
{
	struct dns_worker *dw = c->dw;
	struct worker *w = dw->w;
	if (c->io.fd < 0)
		return;
	loop_io_close(&c->io);
	loop_timer_stop(w->loop, &c->timer);
	buf_release(&w->pool, &c->in);
	free(c->out);
	c->out = NULL;
	if (c->prev)
		c->prev->next = c->next;
	else
		dw->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	dw->nconns--;
	w->nconns--;
	metrics_add(w->shard, dw->dns->stats.tcp_open, -1);
	/* events of this batch may still name c->io: free after it */
	if (dw->freeing)
		free(c);
	else
		loop_defer(w->loop, &c->free_defer, conn_free_deferred);
	worker_check_drained(w);
}

static void conn_timeout(struct timer *t)
{
	dns_conn_close(container_of(t, struct dns_conn, timer));
}

/* Nothing received but not answered, nothing unsent. */
static bool conn_idle(const struct dns_conn *c)
{
	return buf_empty(&c->in) && c->out == NULL;
}

/* Send the rest of a response the client was slow to take. Returns 0 when
 * all is sent, TS_AGAIN, or -1. */
static int conn_flush(struct dns_conn *c)
{
	while (c->out_off < c->out_len) {
		ssize_t n = send(c->io.fd, c->out + c->out_off, c->out_len - c->out_off,
		                 MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK) {
				c->io.ready &= ~IO_WRITE;
				return TS_AGAIN;
			}
			if (errno == EINTR)
				continue;
			return -1;
		}
		c->out_off += (size_t)n;
	}
	free(c->out);
	c->out = NULL;
	c->out_len = c->out_off = 0;
	loop_timer_set(c->dw->w->loop, &c->timer, TCP_IDLE_MS); /* progress */
	return 0;
}

/* Send a response from the worker's buffer; what the socket does not take
 * now is kept (the only copy, and only for a client slow to read).
 * Returns 0, TS_AGAIN (kept) or -1. */
static int conn_send(struct dns_conn *c, const uint8_t *p, size_t len)
{
	size_t off = 0;
	while (off < len) {
		ssize_t n = send(c->io.fd, p + off, len - off, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				return -1;
			c->io.ready &= ~IO_WRITE;
			c->out_len = len - off;
			c->out_off = 0;
			c->out = xmalloc(c->out_len);
			memcpy(c->out, p + off, c->out_len);
			return TS_AGAIN;
		}
		off += (size_t)n;
	}
	loop_timer_set(c->dw->w->loop, &c->timer, TCP_IDLE_MS); /* progress */
	return 0;
}

/* Answer the message at the front of c->in (len bytes after its length). */
static int conn_answer(struct dns_conn *c, size_t len)
{
	struct dns_worker *dw = c->dw;
	const uint8_t *q = (const uint8_t *)buf_rptr(&c->in) + 2;
	struct dns_answer_info info;
	size_t n =
	    dns_answer(&dw->dns->zone, q, len, dw->resp + 2, DNS_MESSAGE_MAX, DNS_TCP, &info);
	dns_stats_answered(&dw->dns->stats, dw->w->shard, DNS_TCP, n, &info);
	buf_consume(&c->in, 2 + len);
	if (n == 0)
		return 0; /* not a query: nothing to say */
	dw->resp[0] = (uint8_t)(n >> 8);
	dw->resp[1] = (uint8_t)n;
	return conn_send(c, dw->resp, n + 2);
}

/* Read more into c->in. Returns bytes read, 0 at the end, TS_AGAIN, -1. */
static ssize_t conn_read(struct dns_conn *c)
{
	struct worker *w = c->dw->w;
	buf_attach(&w->pool, &c->in);
	if (buf_room(&c->in) < 2 + TCP_QUERY_MAX)
		buf_compact(&c->in);
	for (;;) {
		ssize_t n = recv(c->io.fd, buf_wptr(&c->in), buf_room(&c->in), 0);
		if (n > 0) {
			buf_produced(&c->in, (size_t)n);
			return n;
		}
		if (n == 0)
			return 0;
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN || errno == EWOULDBLOCK) {
			c->io.ready &= ~IO_READ;
			return TS_AGAIN;
		}
		return -1;
	}
}

static void conn_more(struct defer *d)
{
	struct dns_conn *c = container_of(d, struct dns_conn, more);
	if (c->io.fd >= 0)
		conn_io(&c->io);
}

/* Answer the queries that are whole, read more while the socket has some,
 * up to TCP_BATCH answers this turn. */
static void conn_io(struct io *io)
{
	struct dns_conn *c = container_of(io, struct dns_conn, io);
	struct worker *w = c->dw->w;
	if (io->ready & IO_ERR)
		goto close;
	if (c->out) {
		int r = conn_flush(c);
		if (r == TS_AGAIN)
			return; /* the client is not reading: neither do we */
		if (r < 0)
			goto close;
	}
	int answered = 0;
	for (;;) {
		size_t have = buf_len(&c->in), len = 0;
		if (have >= 2) {
			const uint8_t *p = (const uint8_t *)buf_rptr(&c->in);
			len = (size_t)p[0] << 8 | p[1];
			if (len > TCP_QUERY_MAX) {
				metrics_add(w->shard, c->dw->dns->stats.dropped[DNS_TCP], 1);
				goto close; /* no query is that long */
			}
		}
		if (have >= 2 && have >= 2 + len) {
			if (answered == TCP_BATCH) {
				loop_defer(w->loop, &c->more, conn_more);
				return;
			}
			answered++;
			int r = conn_answer(c, len);
			if (r == TS_AGAIN)
				return;
			if (r < 0)
				goto close;
			continue;
		}
		if (!(io->ready & IO_READ))
			break;
		ssize_t n = conn_read(c);
		if (n == TS_AGAIN)
			break;
		if (n <= 0)
			goto close; /* the client is done (a partial query is dropped) */
	}
	buf_release_if_empty(&w->pool, &c->in);
	/* Stopping, a connection goes once it owes nothing; for a reload, once
	 * it has had one more answer (a query sent meanwhile is not lost) or
	 * when it times out. */
	if (c->dw->stopping && conn_idle(c) && (!w->reloading || answered > 0))
		goto close;
	return;
close:
	dns_conn_close(c);
}

static void accept_ready(struct io *io);

static void accept_more(struct defer *d)
{
	struct dns_listener *l = container_of(d, struct dns_listener, accept_more);
	if (l->tcp.fd >= 0)
		accept_ready(&l->tcp);
}

static void accept_ready(struct io *io)
{
	struct dns_listener *l = container_of(io, struct dns_listener, tcp);
	struct dns_worker *dw = l->dw;
	struct worker *w = dw->w;
	for (int i = 0; i < ACCEPT_BATCH && io->fd >= 0; i++) {
		int fd = worker_accept(io, NULL, NULL);
		if (fd < 0)
			return; /* none left, or EMFILE and friends: on the next event */
		if (dw->nconns >= TCP_MAX_CONNS) {
			/* Full: closed at once rather than left in the queue, where
			 * it would hold the client until it times out. */
			close(fd);
			metrics_add(w->shard, dw->dns->stats.tcp_refused, 1);
			continue;
		}
		int one = 1;
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		struct dns_conn *c = xcalloc(1, sizeof(*c));
		c->dw = dw;
		c->timer.fn = conn_timeout;
		if (loop_io_add(w->loop, &c->io, fd, conn_io) < 0) {
			close(fd);
			free(c);
			continue;
		}
		c->next = dw->conns;
		if (c->next)
			c->next->prev = c;
		dw->conns = c;
		dw->nconns++;
		w->nconns++;
		metrics_add(w->shard, dw->dns->stats.tcp_accepted, 1);
		metrics_add(w->shard, dw->dns->stats.tcp_open, 1);
		loop_timer_set(w->loop, &c->timer, TCP_IDLE_MS);
	}
	/* Edge-triggered: connections left after a batch bring no new event;
	 * they are taken after the other events of this turn. */
	if (io->fd >= 0)
		loop_defer(w->loop, &l->accept_more, accept_more);
}

/* ---- the daemon ---- */

static int dns_configure(struct daemon *d, char *err, size_t errlen)
{
	struct dns *dns = xcalloc(1, sizeof(*dns));
	d->data = dns;
	dns->d = d;
	if (conf_self(d) == NULL) {
		snprintf(err, errlen, "%s: no host has the 'dns' role (or pass --host)",
		         d->conf_path);
		return -1;
	}
	char e[1024];
	if (conf_resolve_addr(conf_of(d), conf_of(d)->dns.listen, conf_self(d), &dns->listen[0], e,
	                      sizeof(e)) < 0) {
		snprintf(err, errlen, "%s: [dns] listen: %s", d->conf_path, e);
		return -1;
	}
	dns->naddrs = 1;
	/* one of the LB pair: the floating address too */
	if (conf_vip_listen(conf_of(d), conf_self(d), &dns->listen[0], &dns->listen[1]) == 1)
		dns->naddrs = 2;
	int family = ((struct sockaddr *)&dns->listen[0].ss)->sa_family;
	if (family != AF_INET && family != AF_INET6) {
		snprintf(err, errlen, "%s: [dns] listen: an IP address and port, not '%s'",
		         d->conf_path, conf_of(d)->dns.listen);
		return -1;
	}
	int r = daemon_admin_addr(d, "dns", conf_of(d)->dns.admin, &dns->listen[0], &dns->admin,
	                          err, errlen);
	if (r < 0)
		return -1;
	dns->has_admin = r > 0;
	uint32_t ttl = (uint32_t)(conf_of(d)->dns.ttl / 1000);
	const char *zone_file = conf_of(d)->dns.zone_file;
	if (zone_file && zone_file[0]) {
		if (daemon_path(d, zone_file, dns->zone_from, sizeof(dns->zone_from)) < 0) {
			snprintf(err, errlen, "%s: [dns] zone_file: path too long", d->conf_path);
			return -1;
		}
		if (dns_zone_load_file(&dns->zone, dns->zone_from, conf_of(d)->site.domain, ttl, e,
		                       sizeof(e)) < 0) {
			snprintf(err, errlen, "%s: [dns] zone_file: %s", d->conf_path, e);
			return -1;
		}
	} else if (dns_zone_from_stack(&dns->zone, conf_of(d), ttl, e, sizeof(e)) < 0) {
		snprintf(err, errlen, "%s: zone: %s", d->conf_path, e);
		return -1;
	}
	return 0;
}

static int dns_start(struct daemon *d, char *err, size_t errlen)
{
	(void)err;
	(void)errlen;
	struct dns *dns = d->data;
	log_set_level((enum log_level)log_level_parse(conf_of(d)->dns.log_level));
	log_info("zone %s (from %s): %u records, %u names, serial %u", conf_of(d)->site.domain,
	         dns->zone_from[0] ? dns->zone_from : "the stack file", dns->zone.nrecords,
	         dns->zone.nnodes, dns_zone_serial(&dns->zone));
	dns_stats_define(&dns->stats, d->metrics, &dns->zone);
	return 0;
}

static int dns_worker_init(struct worker *w, char *err, size_t errlen)
{
	struct dns *dns = w->d->data;
	struct dns_worker *dw = xcalloc(1, sizeof(*dw));
	w->data = dw;
	dw->dns = dns;
	dw->w = w;
	for (unsigned i = 0; i < DNS_MAX_ADDRS; i++) {
		dw->ls[i].dw = dw;
		dw->ls[i].udp.fd = dw->ls[i].tcp.fd = -1;
	}
	for (unsigned i = 0; i < dns->naddrs; i++) {
		struct dns_listener *l = &dw->ls[i];
		const struct addr *a = &dns->listen[i];
		unsigned flags = i > 0 ? NET_FREEBIND : 0; /* the vip: maybe not here yet */
		if (worker_listen(w, &l->udp, a, SOCK_DGRAM, flags, udp_ready, err, errlen) < 0 ||
		    worker_listen(w, &l->tcp, a, SOCK_STREAM, flags, accept_ready, err, errlen) < 0)
			return -1;
	}
	if (dns->has_admin && (dw->admin = dns_admin_listen(w, &dns->admin, err, errlen)) == NULL)
		return -1;
	return 0;
}

static void dns_worker_stop(struct worker *w)
{
	struct dns_worker *dw = w->data;
	dw->stopping = true;
	for (unsigned i = 0; i < DNS_MAX_ADDRS; i++) {
		worker_unlisten(w, &dw->ls[i].udp);
		worker_unlisten(w, &dw->ls[i].tcp);
	}
	dns_admin_stop(dw->admin);
	/* On a stop an idle connection goes now; one with a query in hand goes
	 * once it is answered. On a reload each is answered once more first. */
	for (struct dns_conn *c = dw->conns, *next; c; c = next) {
		next = c->next;
		if (!w->reloading && conn_idle(c))
			dns_conn_close(c);
	}
}

static void dns_worker_free(struct worker *w)
{
	struct dns_worker *dw = w->data;
	if (dw == NULL)
		return;
	for (unsigned i = 0; i < DNS_MAX_ADDRS; i++) {
		worker_unlisten(w, &dw->ls[i].udp);
		worker_unlisten(w, &dw->ls[i].tcp);
	}
	dns_admin_free(dw->admin);
	dw->freeing = true;
	while (dw->conns)
		dns_conn_close(dw->conns);
	free(dw);
	w->data = NULL;
}

static void dns_finish(struct daemon *d)
{
	struct dns *dns = d->data;
	if (dns == NULL)
		return;
	dns_zone_free(&dns->zone);
	free(dns);
	d->data = NULL;
}

static const struct daemon_def dns_def = {
	.name = "tristack-dns",
	.role = ROLE_DNS,
	.conf = &conf_daemon_ops,
	.configure = dns_configure,
	.start = dns_start,
	.worker_init = dns_worker_init,
	.worker_stop = dns_worker_stop,
	.worker_free = dns_worker_free,
	.finish = dns_finish,
};

int main(int argc, char **argv)
{
	return daemon_main(&dns_def, argc, argv);
}
