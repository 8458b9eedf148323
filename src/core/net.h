/* net.h - socket addresses, listeners and outgoing connects. */
#ifndef TS_NET_H
#define TS_NET_H

#include <netinet/in.h>
#include <stdbool.h>
#include <sys/socket.h>

#include "common.h"

struct addr {
	struct sockaddr_storage ss;
	socklen_t len;
};

/* Parse "1.2.3.4:80", "[::1]:80", ":80" (host part from default_host, which
 * may be NULL for the wildcard), or "unix:/path". Host names are not
 * resolved here (the stack file maps host names itself).
 * Returns 0, or -1 with a message in err. */
int addr_parse(const char *s, const char *default_host, struct addr *a, char *err, size_t errlen);

/* "1.2.3.4:80", "[::1]:80", "unix:/path" into out; returns out. */
const char *addr_format(const struct addr *a, char *out, size_t len);
int addr_port(const struct addr *a);
bool addr_equal(const struct addr *a, const struct addr *b);

/* How a listening socket binds, besides the defaults (flags, or-ed). */
#define NET_REUSEPORT 0x1u /* SO_REUSEPORT: each worker thread can have its own */
#define NET_FREEBIND                                                                               \
	0x2u /* IP_FREEBIND: the address may not be this host's yet (a                             \
	      * floating one another host holds now): bound all the                                \
	      * same, it serves from the moment the address comes */

/* A non-blocking listening socket. Returns the fd, or -1 with err set. */
int net_listen(const struct addr *a, unsigned flags, int backlog, char *err, size_t errlen);
/* A non-blocking UDP socket bound to a; its replies leave from a's address.
 * Returns the fd, or -1 with err set. */
int net_bind_udp(const struct addr *a, unsigned flags, char *err, size_t errlen);

/* Is a's IP address this host's now: the address of one of its interfaces,
 * or inside a loopback interface's prefix (all of 127/8 on Linux)? The
 * port is ignored. 1 yes, 0 no, -1 with errno when the interfaces cannot
 * be read (getifaddrs). */
int net_addr_is_local(const struct addr *a);

/* Start a non-blocking connect. Returns the fd (connect in progress or done),
 * or -1 with errno set. */
int net_connect(const struct addr *a);
/* The same from a local address (port 0: any), as HAProxy's `source`: a
 * peer that trusts us by address sees that one, not the route's choice. */
int net_connect_from(const struct addr *a, const struct addr *source);

/* A few IP addresses (IPv4 kept as v4-mapped IPv6), to ask whether a peer
 * is one of them: the proxies whose X-Forwarded-* a server believes. */
#define NET_IPSET_MAX 64
struct net_ipset {
	unsigned n;
	struct in6_addr a[NET_IPSET_MAX];
};
/* Add a literal IPv4 or IPv6 address. -1: not one, or the set is full. */
int net_ipset_add(struct net_ipset *set, const char *ip);
bool net_ipset_has(const struct net_ipset *set, const struct sockaddr *sa);

/* The pending error of a connecting socket (0 = connected). */
int net_socket_error(int fd);

/* Format the peer address of an accepted socket (client IP only, no port). */
const char *sockaddr_ip(const struct sockaddr *sa, char *out, size_t len);

#endif
