/* net.c - addresses and sockets. See net.h. */
#include "net.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
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

int net_listen(const struct addr *a, bool reuseport, int backlog, char *err, size_t errlen)
{
	char name[128];
	int family = ((const struct sockaddr *)&a->ss)->sa_family;
	int fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		goto fail;
	int one = 1;
	if (family != AF_UNIX) {
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (reuseport && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) < 0)
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

int net_bind_udp(const struct addr *a, char *err, size_t errlen)
{
	char name[128];
	int family = ((const struct sockaddr *)&a->ss)->sa_family;
	int fd = socket(family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	int one = 1;
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) < 0 ||
	    bind(fd, (const struct sockaddr *)&a->ss, a->len) < 0) {
		snprintf(err, errlen, "cannot listen on %s/udp: %s",
		         addr_format(a, name, sizeof(name)), strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
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
