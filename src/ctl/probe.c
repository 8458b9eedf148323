/* probe.c - asking a daemon whether it answers: an HTTP GET (core's
 * client) or a DNS query, each one try with short timeouts. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/httpc.h"
#include "core/prom.h"
#include "ctl.h"

static int connect_timeout(const struct addr *a, int type, int timeout_ms)
{
	int fd = socket(((const struct sockaddr *)&a->ss)->sa_family,
	                type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	if (connect(fd, (const struct sockaddr *)&a->ss, a->len) < 0 && errno != EINPROGRESS) {
		close(fd);
		return -1;
	}
	struct pollfd p = { .fd = fd, .events = POLLOUT };
	if (poll(&p, 1, timeout_ms) != 1 || net_socket_error(fd) != 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* A GET of path at a, the answer read into resp (cap bytes at most): its
 * length, or -1. */
static ssize_t get(const struct addr *a, const char *host, const char *path, const char *agent,
                   char *resp, size_t cap, unsigned connect_ms, unsigned idle_ms)
{
	char req[512];
	int n = snprintf(req, sizeof(req),
	                 "GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: %s\r\n"
	                 "Connection: close\r\n\r\n",
	                 path, host, agent);
	if (n < 0 || (size_t)n >= sizeof(req))
		return -1;
	return httpc_get(a, req, (size_t)n, resp, cap, connect_ms, idle_ms);
}

int http_get_status(const struct addr *a, const char *host, const char *path, int timeout_ms,
                    char *body, size_t bodylen)
{
	char resp[8192];
	ssize_t got = get(a, host, path, "tristack-probe", resp, sizeof(resp), (unsigned)timeout_ms,
	                  (unsigned)timeout_ms);
	struct str b;
	int status = got < 0 ? -1 : httpc_status(resp, (size_t)got, &b);
	if (status >= 0 && body && bodylen)
		snprintf(body, bodylen, "%.*s", (int)b.len, b.p);
	return status;
}

double metric_total(const struct addr *a, const char *host, const char *path, const char *name)
{
	size_t cap = 1 << 20;
	char *resp = xmalloc(cap);
	ssize_t got = get(a, host, path, "tristack-status", resp, cap, 500, 1000);
	struct str b;
	double total = -1;
	if (got >= 0 && httpc_status(resp, (size_t)got, &b) == 200) {
		struct prom_sample s;
		size_t pos = 0;
		total = 0;
		while (prom_next(b.p, b.len, &pos, &s, NULL))
			if (prom_name_is(&s, name))
				total += s.value;
	}
	free(resp);
	return total;
}

/* A query for "<name> A" with recursion not desired. */
static size_t dns_query(uint8_t *out, size_t cap, const char *name, uint16_t id)
{
	size_t o = 0;
	uint8_t hdr[12] = { (uint8_t)(id >> 8), (uint8_t)id, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0 };
	memcpy(out, hdr, sizeof(hdr));
	o = sizeof(hdr);
	const char *p = name;
	while (*p) {
		const char *dot = strchr(p, '.');
		size_t n = dot ? (size_t)(dot - p) : strlen(p);
		if (n == 0 || n > 63 || o + n + 6 > cap)
			return 0;
		out[o++] = (uint8_t)n;
		memcpy(out + o, p, n);
		o += n;
		p += n + (dot ? 1 : 0);
	}
	out[o++] = 0;
	out[o++] = 0, out[o++] = 1; /* A */
	out[o++] = 0, out[o++] = 1; /* IN */
	return o;
}

static bool dns_answers(const struct addr *a, const char *name, int timeout_ms)
{
	uint8_t q[300], r[1500];
	uint16_t id = (uint16_t)(getpid() ^ 0x5a5a);
	size_t n = dns_query(q, sizeof(q), name, id);
	if (n == 0)
		return false;
	int fd = connect_timeout(a, SOCK_DGRAM, timeout_ms);
	if (fd < 0)
		return false;
	bool ok = false;
	if (send(fd, q, n, 0) == (ssize_t)n) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		if (poll(&p, 1, timeout_ms) == 1) {
			ssize_t got = recv(fd, r, sizeof(r), 0);
			/* same id, a response, RCODE NOERROR */
			ok = got >= 12 && r[0] == q[0] && r[1] == q[1] && (r[2] & 0x80) &&
			     (r[3] & 0x0f) == 0;
		}
	}
	close(fd);
	return ok;
}

static bool answers(const struct ctl *c, const struct unit *u, char *why, size_t whylen);

bool unit_answers(const struct ctl *c, const struct unit *u, char *why, size_t whylen)
{
	if (u->probe_kind == PROBE_DB)
		return mdb_answers(c, u, why, whylen); /* over its Unix socket */
	if (u->probe_kind == PROBE_VRRP)
		return vrrp_describe(c, u, why, whylen); /* what its agent wrote */
	if (!c->isolated || u->root_ns)
		return answers(c, u, why, whylen);
	/* the host's address is only reachable from inside its namespace */
	if (netns_enter(c, u->host->name) < 0) {
		snprintf(why, whylen, "no namespace for %s", u->host->name);
		return false;
	}
	bool ok = answers(c, u, why, whylen);
	netns_leave();
	return ok;
}

static bool answers(const struct ctl *c, const struct unit *u, char *why, size_t whylen)
{
	if (u->probe_kind == PROBE_DNS) {
		char name[300];
		snprintf(name, sizeof(name), "www.%s", c->cfg.site.domain);
		if (dns_answers(&u->probe, name, 500))
			return true;
		snprintf(why, whylen, "no DNS answer for %s", name);
		return false;
	}
	int st = http_get_status(&u->probe, u->host->address, u->probe_path, 500, NULL, 0);
	/* with HTTPS on, the LB's plain listener answers with a redirect */
	if (st == 200 || (st == 301 && (strcmp(u->role, "lb") == 0 || u->root_ns)))
		return true;
	if (st < 0)
		snprintf(why, whylen, "no HTTP answer on %s", u->probe_path);
	else
		snprintf(why, whylen, "GET %s answered %d", u->probe_path, st);
	return false;
}
