/* net.c - addresses and sockets. See net.h. */
#include "net.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>
#include <unistd.h>

static int parse_port(const char *s, int *port)
{
	char *end;
	if (*s == '\0')
		return -1;
	long v = strtol(s, &end, 10);
	if (*end != '\0' || v < 0 || v > 65535 || !(*s >= '0' && *s <= '9'))
		return -1;
	*port = (int)v;
	return 0;
}

int addr_parse(const char *s, const char *default_host, struct addr *a, char *err, size_t errlen)
{
	memset(a, 0, sizeof(*a));
	if (strncmp(s, "unix:", 5) == 0) {
		struct sockaddr_un *un = (struct sockaddr_un *)&a->ss;
		const char *path = s + 5;
		if (*path == '\0' || strlen(path) >= sizeof(un->sun_path)) {
			snprintf(err, errlen, "bad unix socket path '%s'", path);
			return -1;
		}
		un->sun_family = AF_UNIX;
		strcpy(un->sun_path, path);
		a->len = sizeof(*un);
		return 0;
	}
	char host[256];
	const char *colon;
	if (s[0] == '[') {
		const char *close = strchr(s, ']');
		if (close == NULL || close[1] != ':') {
			snprintf(err, errlen, "bad address '%s' (expected [ipv6]:port)", s);
			return -1;
		}
		size_t n = (size_t)(close - s - 1);
		if (n >= sizeof(host))
			goto bad;
		memcpy(host, s + 1, n);
		host[n] = '\0';
		colon = close + 1;
	} else {
		colon = strrchr(s, ':');
		if (colon == NULL) {
			snprintf(err, errlen, "bad address '%s' (expected host:port)", s);
			return -1;
		}
		size_t n = (size_t)(colon - s);
		if (n >= sizeof(host))
			goto bad;
		memcpy(host, s, n);
		host[n] = '\0';
		if (n == 0 && default_host)
			snprintf(host, sizeof(host), "%s", default_host);
	}
	int port;
	if (parse_port(colon + 1, &port) < 0) {
		snprintf(err, errlen, "bad port in '%s'", s);
		return -1;
	}
	struct sockaddr_in *in4 = (struct sockaddr_in *)&a->ss;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&a->ss;
	if (host[0] == '\0' || strcmp(host, "*") == 0) {
		in4->sin_family = AF_INET;
		in4->sin_addr.s_addr = htonl(INADDR_ANY);
		in4->sin_port = htons((uint16_t)port);
		a->len = sizeof(*in4);
		return 0;
	}
	if (inet_pton(AF_INET, host, &in4->sin_addr) == 1) {
		in4->sin_family = AF_INET;
		in4->sin_port = htons((uint16_t)port);
		a->len = sizeof(*in4);
		return 0;
	}
	if (inet_pton(AF_INET6, host, &in6->sin6_addr) == 1) {
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons((uint16_t)port);
		a->len = sizeof(*in6);
		return 0;
	}
bad:
	snprintf(err, errlen, "bad address '%s' (expected an IP address and port)", s);
	return -1;
}

const char *addr_format(const struct addr *a, char *out, size_t len)
{
	char ip[INET6_ADDRSTRLEN];
	const struct sockaddr *sa = (const struct sockaddr *)&a->ss;
	switch (sa->sa_family) {
	case AF_INET: {
		const struct sockaddr_in *in4 = (const void *)sa;
		inet_ntop(AF_INET, &in4->sin_addr, ip, sizeof(ip));
		snprintf(out, len, "%s:%d", ip, ntohs(in4->sin_port));
		break;
	}
	case AF_INET6: {
		const struct sockaddr_in6 *in6 = (const void *)sa;
		inet_ntop(AF_INET6, &in6->sin6_addr, ip, sizeof(ip));
		snprintf(out, len, "[%s]:%d", ip, ntohs(in6->sin6_port));
		break;
	}
	case AF_UNIX:
		snprintf(out, len, "unix:%s",
		         ((const struct sockaddr_un *)(const void *)sa)->sun_path);
		break;
	default:
		snprintf(out, len, "?");
	}
	return out;
}

int addr_port(const struct addr *a)
{
	const struct sockaddr *sa = (const struct sockaddr *)&a->ss;
	if (sa->sa_family == AF_INET)
		return ntohs(((const struct sockaddr_in *)(const void *)sa)->sin_port);
	if (sa->sa_family == AF_INET6)
		return ntohs(((const struct sockaddr_in6 *)(const void *)sa)->sin6_port);
	return 0;
}

bool addr_equal(const struct addr *a, const struct addr *b)
{
	return a->len == b->len && memcmp(&a->ss, &b->ss, a->len) == 0;
}

const char *sockaddr_ip(const struct sockaddr *sa, char *out, size_t len)
{
	if (sa->sa_family == AF_INET)
		inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, out,
		          (socklen_t)len);
	else if (sa->sa_family == AF_INET6)
		inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr,
		          out, (socklen_t)len);
	else
		snprintf(out, len, "unix");
	return out;
}

/* The flags' socket options on an IP socket. 0, or -1 with errno. */
static int set_flags(int fd, unsigned flags)
{
	int one = 1;
	if ((flags & NET_REUSEPORT) &&
	    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) < 0)
		return -1;
	/* IP_FREEBIND is read by IPv6 sockets too (inet_sk(sk)->freebind) */
	if ((flags & NET_FREEBIND) &&
	    setsockopt(fd, IPPROTO_IP, IP_FREEBIND, &one, sizeof(one)) < 0)
		return -1;
	return 0;
}

int net_listen(const struct addr *a, unsigned flags, int backlog, char *err, size_t errlen)
{
	char name[128];
	int family = ((const struct sockaddr *)&a->ss)->sa_family;
	int fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		goto fail;
	int one = 1;
	if (family != AF_UNIX) {
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (set_flags(fd, flags) < 0)
			goto fail;
	} else {
		unlink(((const struct sockaddr_un *)(const void *)&a->ss)->sun_path);
	}
	if (bind(fd, (const struct sockaddr *)&a->ss, a->len) < 0)
		goto fail;
	if (listen(fd, backlog) < 0)
		goto fail;
	return fd;
fail:
	snprintf(err, errlen, "cannot listen on %s: %s", addr_format(a, name, sizeof(name)),
	         strerror(errno));
	if (fd >= 0)
		close(fd);
	return -1;
}

int net_bind_udp(const struct addr *a, unsigned flags, char *err, size_t errlen)
{
	char name[128];
	int family = ((const struct sockaddr *)&a->ss)->sa_family;
	int fd = socket(family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0 || set_flags(fd, flags) < 0 ||
	    bind(fd, (const struct sockaddr *)&a->ss, a->len) < 0) {
		snprintf(err, errlen, "cannot listen on %s/udp: %s",
		         addr_format(a, name, sizeof(name)), strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

/* Is ip inside (or equal to, when mask is NULL) ifa's address? n bytes. */
static bool in_prefix(const uint8_t *ip, const uint8_t *ifa, const uint8_t *mask, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if ((ip[i] ^ ifa[i]) & (mask ? mask[i] : 0xff))
			return false;
	return true;
}

/* The address bytes of an AF_INET or AF_INET6 sockaddr (n set), or NULL. */
static const uint8_t *ip_bytes(const struct sockaddr *sa, size_t *n)
{
	if (sa == NULL)
		return NULL;
	if (sa->sa_family == AF_INET) {
		*n = 4;
		return (const uint8_t *)&((const struct sockaddr_in *)(const void *)sa)->sin_addr;
	}
	if (sa->sa_family == AF_INET6) {
		*n = 16;
		return (const uint8_t *)&((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr;
	}
	return NULL;
}

int net_addr_is_local(const struct addr *a)
{
	size_t n = 0, m = 0;
	const struct sockaddr *want = (const struct sockaddr *)&a->ss;
	const uint8_t *ip = ip_bytes(want, &n);
	if (ip == NULL)
		return 0;
	struct ifaddrs *all;
	if (getifaddrs(&all) < 0)
		return -1;
	int found = 0;
	for (const struct ifaddrs *i = all; i && !found; i = i->ifa_next) {
		const uint8_t *have = ip_bytes(i->ifa_addr, &m);
		if (have == NULL || i->ifa_addr->sa_family != want->sa_family)
			continue;
		/* the kernel routes a loopback interface's whole prefix to the
		 * host itself (local 127.0.0.0/8 dev lo) */
		bool loopback = (i->ifa_flags & IFF_LOOPBACK) != 0;
		const uint8_t *mask = loopback ? ip_bytes(i->ifa_netmask, &m) : NULL;
		found = in_prefix(ip, have, mask, n);
	}
	freeifaddrs(all);
	return found;
}

int net_connect(const struct addr *a)
{
	return net_connect_from(a, NULL);
}

int net_connect_from(const struct addr *a, const struct addr *source)
{
	int family = ((const struct sockaddr *)&a->ss)->sa_family;
	int fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	if (family != AF_UNIX) {
		int one = 1;
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	}
	if (source && family != AF_UNIX &&
	    ((const struct sockaddr *)&source->ss)->sa_family == family) {
		/* the port is chosen at connect, per destination, so a busy
		 * proxy does not run out of ports at bind */
		int one = 1;
		setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one));
		if (bind(fd, (const struct sockaddr *)&source->ss, source->len) < 0) {
			int e = errno;
			close(fd);
			errno = e;
			return -1;
		}
	}
	if (connect(fd, (const struct sockaddr *)&a->ss, a->len) < 0 && errno != EINPROGRESS) {
		int e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

int net_socket_error(int fd)
{
	int e = 0;
	socklen_t len = sizeof(e);
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &len) < 0)
		return errno;
	return e;
}

static struct in6_addr mapped(const struct in_addr *v4)
{
	struct in6_addr a = { 0 };
	a.s6_addr[10] = 0xff;
	a.s6_addr[11] = 0xff;
	memcpy(&a.s6_addr[12], v4, 4);
	return a;
}

int net_ipset_add(struct net_ipset *set, const char *ip)
{
	struct in_addr v4;
	struct in6_addr v6;
	if (inet_pton(AF_INET, ip, &v4) == 1)
		v6 = mapped(&v4);
	else if (inet_pton(AF_INET6, ip, &v6) != 1)
		return -1;
	if (set->n == NET_IPSET_MAX)
		return -1;
	set->a[set->n++] = v6;
	return 0;
}

bool net_ipset_has(const struct net_ipset *set, const struct sockaddr *sa)
{
	struct in6_addr a;
	if (sa->sa_family == AF_INET)
		a = mapped(&((const struct sockaddr_in *)(const void *)sa)->sin_addr);
	else if (sa->sa_family == AF_INET6)
		a = ((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr;
	else
		return false; /* a Unix socket's peer names no proxy */
	for (unsigned i = 0; i < set->n; i++)
		if (memcmp(&set->a[i], &a, sizeof(a)) == 0)
			return true;
	return false;
}
