/* main.c - tristack-dns: UDP listeners on the worker loops. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/daemon.h"
#include "core/log.h"
#include "dns.h"

struct dns {
	struct daemon *d;
	struct addr listen;
	struct dns_zone zone;
};

struct dns_worker {
	struct dns *dns;
	struct io udp;
};

static void udp_ready(struct io *io)
{
	struct dns_worker *dw = container_of(io, struct dns_worker, udp);
	uint8_t q[4096], r[4096];
	/* A bounded batch per event, so one flood cannot hold the thread. */
	for (int i = 0; i < 64; i++) {
		struct sockaddr_storage peer;
		socklen_t plen = sizeof(peer);
		ssize_t n = recvfrom(io->fd, q, sizeof(q), 0, (struct sockaddr *)&peer, &plen);
		if (n < 0) {
			if (errno == EAGAIN)
				io->ready &= ~IO_READ;
			return;
		}
		size_t len = dns_answer(&dw->dns->zone, q, (size_t)n, r, sizeof(r), 512);
		if (len == 0)
			continue;
		sendto(io->fd, r, len, MSG_DONTWAIT, (struct sockaddr *)&peer, plen);
	}
}

static int dns_configure(struct daemon *d, char *err, size_t errlen)
{
	struct dns *dns = xcalloc(1, sizeof(*dns));
	d->data = dns;
	dns->d = d;
	if (d->host == NULL) {
		snprintf(err, errlen, "%s: no host has the 'dns' role (or pass --host)",
		         d->conf_path);
		return -1;
	}
	char e[256];
	if (stack_resolve_addr(&d->stack, d->stack.dns.listen, d->host, &dns->listen, e,
	                       sizeof(e)) < 0) {
		snprintf(err, errlen, "%s: [dns] listen: %s", d->conf_path, e);
		return -1;
	}
	uint32_t ttl = (uint32_t)(d->stack.dns.ttl / 1000);
	if (dns_zone_from_stack(&dns->zone, &d->stack, ttl, e, sizeof(e)) < 0) {
		snprintf(err, errlen, "%s: zone: %s", d->conf_path, e);
		return -1;
	}
	return 0;
}

static int dns_start(struct daemon *d, char *err, size_t errlen)
{
	(void)err;
	(void)errlen;
	log_set_level((enum log_level)log_level_parse(d->stack.dns.log_level));
	return 0;
}

static int dns_worker_init(struct worker *w, char *err, size_t errlen)
{
	struct dns *dns = w->d->data;
	struct dns_worker *dw = xcalloc(1, sizeof(*dw));
	w->data = dw;
	dw->dns = dns;
	dw->udp.fd = -1;
	int family = ((struct sockaddr *)&dns->listen.ss)->sa_family;
	int fd = socket(family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	int one = 1;
	char name[128];
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) < 0 ||
	    bind(fd, (struct sockaddr *)&dns->listen.ss, dns->listen.len) < 0) {
		snprintf(err, errlen, "cannot listen on %s/udp: %s",
		         addr_format(&dns->listen, name, sizeof(name)), strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	if (loop_io_add(w->loop, &dw->udp, fd, udp_ready) < 0) {
		close(fd);
		snprintf(err, errlen, "epoll: %s", strerror(errno));
		return -1;
	}
	return 0;
}

static void dns_worker_stop(struct worker *w)
{
	struct dns_worker *dw = w->data;
	loop_io_close(&dw->udp); /* UDP holds no connections: done at once */
}

static void dns_worker_free(struct worker *w)
{
	struct dns_worker *dw = w->data;
	if (dw == NULL)
		return;
	loop_io_close(&dw->udp);
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
