/* Addresses, listeners, outgoing connects, and plain connections read and
 * written through conn_read / conn_write. */
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "core/conn.h"
#include "core/loop.h"
#include "core/net.h"
#include "t.h"

TEST(addr_parse_good)
{
	static const struct {
		const char *in, *default_host;
		int family, port;
		const char *formatted;
	} rows[] = {
		{ "1.2.3.4:80", NULL, AF_INET, 80, "1.2.3.4:80" },
		{ ":80", NULL, AF_INET, 80, "0.0.0.0:80" },
		{ ":80", "127.0.0.1", AF_INET, 80, "127.0.0.1:80" },
		{ ":443", "::1", AF_INET6, 443, "[::1]:443" },
		{ "[::1]:8080", NULL, AF_INET6, 8080, "[::1]:8080" },
		{ "[2001:db8::5]:1", NULL, AF_INET6, 1, "[2001:db8::5]:1" },
		{ "*:80", NULL, AF_INET, 80, "0.0.0.0:80" },
		{ "*:80", "127.0.0.1", AF_INET, 80, "0.0.0.0:80" },
		{ "10.0.0.1:0", NULL, AF_INET, 0, "10.0.0.1:0" },
		{ "10.0.0.1:65535", NULL, AF_INET, 65535, "10.0.0.1:65535" },
		{ "unix:/tmp/x.sock", NULL, AF_UNIX, 0, "unix:/tmp/x.sock" },
	};
	for (size_t i = 0; i < ARRAY_SIZE(rows); i++) {
		t_case("addr_parse \"%s\" default %s", rows[i].in,
		       rows[i].default_host ? rows[i].default_host : "(none)");
		struct addr a;
		char err[128] = "";
		CHECK_EQ(addr_parse(rows[i].in, rows[i].default_host, &a, err, sizeof(err)), 0);
		CHECK_STR(err, "");
		CHECK_EQ(((struct sockaddr *)&a.ss)->sa_family, rows[i].family);
		CHECK_EQ(addr_port(&a), rows[i].port);
		char out[128];
		CHECK_STR(addr_format(&a, out, sizeof(out)), rows[i].formatted);

		/* Round trip: the formatted text parses back to the same address. */
		struct addr back;
		CHECK_EQ(addr_parse(out, NULL, &back, err, sizeof(err)), 0);
		CHECK(addr_equal(&a, &back));
	}
}

TEST(addr_parse_bad)
{
	static const struct {
		const char *in;
		const char *err_has;
	} rows[] = {
		{ "1.2.3.4", "expected host:port" },
		{ "1.2.3.4:", "bad port" },
		{ "1.2.3.4:65536", "bad port" },
		{ "1.2.3.4:-1", "bad port" },
		{ "1.2.3.4:+80", "bad port" },
		{ "1.2.3.4: 80", "bad port" },
		{ "1.2.3.4:8x", "bad port" },
		{ "1.2.3.4:99999999999999999999", "bad port" },
		{ "host.name:80", "expected an IP address" },
		{ "1.2.3:80", "expected an IP address" },
		{ "[::1]80", "expected [ipv6]:port" },
		{ "[::1", "expected [ipv6]:port" },
		{ "[::zz]:80", "expected an IP address" },
		{ "unix:", "bad unix socket path" },
		{ "", "expected host:port" },
	};
	for (size_t i = 0; i < ARRAY_SIZE(rows); i++) {
		t_case("addr_parse rejects \"%s\"", rows[i].in);
		struct addr a;
		char err[256] = "";
		CHECK_EQ(addr_parse(rows[i].in, NULL, &a, err, sizeof(err)), -1);
		t_check(strstr(err, rows[i].err_has) != NULL, __FILE__, __LINE__,
		        "error \"%s\" mentions \"%s\"", err, rows[i].err_has);
	}
}

TEST(addr_unix_path_too_long)
{
	char in[sizeof(((struct sockaddr_un *)0)->sun_path) + 16];
	memcpy(in, "unix:/", 6);
	memset(in + 6, 'a', sizeof(in) - 7);
	in[sizeof(in) - 1] = '\0';
	struct addr a;
	char err[512] = "";
	CHECK_EQ(addr_parse(in, NULL, &a, err, sizeof(err)), -1);
	CHECK(strstr(err, "bad unix socket path") != NULL);
}

TEST(addr_equal_compares_address_and_port)
{
	struct addr a, b, c, d;
	char err[128];
	CHECK_EQ(addr_parse("127.0.0.1:80", NULL, &a, err, sizeof(err)), 0);
	CHECK_EQ(addr_parse("127.0.0.1:80", NULL, &b, err, sizeof(err)), 0);
	CHECK_EQ(addr_parse("127.0.0.1:81", NULL, &c, err, sizeof(err)), 0);
	CHECK_EQ(addr_parse("[::1]:80", NULL, &d, err, sizeof(err)), 0);
	CHECK(addr_equal(&a, &b));
	CHECK(!addr_equal(&a, &c));
	CHECK(!addr_equal(&a, &d));
}

/* Wait (bounded) for events on fd; returns the revents, 0 on timeout. */
static short wait_fd(int fd, short events)
{
	struct pollfd p = { .fd = fd, .events = events };
	if (poll(&p, 1, 2000) != 1)
		return 0;
	return p.revents;
}

/* The port the kernel gave a socket bound to port 0. */
static int bound_port(int fd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0)
		return -1;
	return ntohs(((struct sockaddr_in *)&ss)->sin_port);
}

TEST(net_listen_connect_ephemeral)
{
	struct addr la;
	char err[256] = "";
	CHECK_EQ(addr_parse("127.0.0.1:0", NULL, &la, err, sizeof(err)), 0);
	int lfd = net_listen(&la, 0, 16, err, sizeof(err));
	CHECK(lfd >= 0);
	if (lfd < 0)
		return;
	int port = bound_port(lfd);
	CHECK(port > 0);

	char text[64];
	snprintf(text, sizeof(text), "127.0.0.1:%d", port);
	struct addr ca;
	CHECK_EQ(addr_parse(text, NULL, &ca, err, sizeof(err)), 0);
	int cfd = net_connect(&ca);
	CHECK(cfd >= 0);
	if (cfd < 0) {
		close(lfd);
		return;
	}
	/* Non-blocking connect: writable once it completes, then no pending error. */
	CHECK(wait_fd(cfd, POLLOUT) & POLLOUT);
	CHECK_EQ(net_socket_error(cfd), 0);

	CHECK(wait_fd(lfd, POLLIN) & POLLIN);
	int afd = accept(lfd, NULL, NULL);
	CHECK(afd >= 0);
	CHECK_EQ(write(cfd, "hi", 2), 2);
	char got[4] = "";
	CHECK(wait_fd(afd, POLLIN) & POLLIN);
	CHECK_EQ(read(afd, got, sizeof(got)), 2);
	CHECK(memcmp(got, "hi", 2) == 0);

	/* A second listener on the same port without SO_REUSEPORT fails, saying why. */
	CHECK_EQ(net_listen(&ca, 0, 16, err, sizeof(err)), -1);
	CHECK(strstr(err, text) != NULL);
	CHECK(strstr(err, "cannot listen on") != NULL);

	close(afd);
	close(cfd);
	close(lfd);
}

TEST(net_connect_refused)
{
	/* Learn a free port, free it again, and connect to nothing there. */
	struct addr la;
	char err[256];
	CHECK_EQ(addr_parse("127.0.0.1:0", NULL, &la, err, sizeof(err)), 0);
	int lfd = net_listen(&la, 0, 1, err, sizeof(err));
	CHECK(lfd >= 0);
	if (lfd < 0)
		return;
	int port = bound_port(lfd);
	close(lfd);

	char text[64];
	snprintf(text, sizeof(text), "127.0.0.1:%d", port);
	struct addr ca;
	CHECK_EQ(addr_parse(text, NULL, &ca, err, sizeof(err)), 0);
	int cfd = net_connect(&ca);
	if (cfd < 0) {
		/* Loopback may refuse at once. */
		CHECK_EQ(errno, ECONNREFUSED);
		return;
	}
	CHECK(wait_fd(cfd, POLLOUT) != 0);
	CHECK_EQ(net_socket_error(cfd), ECONNREFUSED);
	close(cfd);
}

TEST(net_listen_connect_unix)
{
	char dir[] = "/tmp/ts-net-XXXXXX";
	CHECK(mkdtemp(dir) != NULL);
	char text[128];
	snprintf(text, sizeof(text), "unix:%s/s.sock", dir);
	struct addr a;
	char err[256] = "";
	CHECK_EQ(addr_parse(text, NULL, &a, err, sizeof(err)), 0);
	int lfd = net_listen(&a, 0, 4, err, sizeof(err));
	CHECK(lfd >= 0);
	int cfd = net_connect(&a);
	CHECK(cfd >= 0);
	CHECK(wait_fd(cfd, POLLOUT) & POLLOUT);
	CHECK_EQ(net_socket_error(cfd), 0);
	/* A stale socket file is replaced, not an error. */
	close(lfd);
	lfd = net_listen(&a, 0, 4, err, sizeof(err));
	CHECK(lfd >= 0);
	if (cfd >= 0)
		close(cfd);
	if (lfd >= 0)
		close(lfd);
	snprintf(text, sizeof(text), "%s/s.sock", dir);
	unlink(text);
	rmdir(dir);
}

/* An address no interface of the machine has (TEST-NET-1), for
 * NET_FREEBIND: with it a listener binds an address before the host has
 * it, as the LB host that does not hold the floating address does. */
TEST(net_listen_freebind)
{
	struct addr a;
	char err[256] = "";
	CHECK_EQ(addr_parse("192.0.2.201:0", NULL, &a, err, sizeof(err)), 0);
	CHECK_EQ(net_addr_is_local(&a), 0);
	int fd = net_listen(&a, 0, 4, err, sizeof(err));
	CHECK_EQ(fd, -1);
	CHECK(strstr(err, "Cannot assign requested address") != NULL);
	fd = net_listen(&a, NET_FREEBIND | NET_REUSEPORT, 4, err, sizeof(err));
	CHECK(fd >= 0);
	if (fd >= 0)
		close(fd);
	t_case("net_bind_udp with NET_FREEBIND");
	fd = net_bind_udp(&a, 0, err, sizeof(err));
	CHECK_EQ(fd, -1);
	CHECK(strstr(err, "/udp") != NULL);
	fd = net_bind_udp(&a, NET_FREEBIND, err, sizeof(err));
	CHECK(fd >= 0);
	if (fd >= 0)
		close(fd);
}

TEST(net_addr_is_local_rows)
{
	static const struct {
		const char *addr;
		int want;
	} rows[] = {
		{ "127.0.0.1:0", 1 },      { "127.45.6.7:80", 1 }, /* the loopback interface's whole
		                                                      prefix */
		{ "[::1]:0", 1 },          { "192.0.2.201:0", 0 }, { "[2001:db8::201]:0", 0 },
		{ "unix:/tmp/x.sock", 0 },
	};
	for (size_t i = 0; i < ARRAY_SIZE(rows); i++) {
		t_case("net_addr_is_local %s", rows[i].addr);
		struct addr a;
		char err[128];
		CHECK_EQ(addr_parse(rows[i].addr, NULL, &a, err, sizeof(err)), 0);
		CHECK_EQ(net_addr_is_local(&a), rows[i].want);
	}
}

TEST(sockaddr_ip_formats_client)
{
	struct addr a;
	char err[128], ip[64];
	CHECK_EQ(addr_parse("192.0.2.7:4242", NULL, &a, err, sizeof(err)), 0);
	CHECK_STR(sockaddr_ip((struct sockaddr *)&a.ss, ip, sizeof(ip)), "192.0.2.7");
	CHECK_EQ(addr_parse("[2001:db8::1]:1", NULL, &a, err, sizeof(err)), 0);
	CHECK_STR(sockaddr_ip((struct sockaddr *)&a.ss, ip, sizeof(ip)), "2001:db8::1");
}

/* ---- plain connections over a socketpair ---- */

static void conn_cb_unused(struct io *io)
{
	(void)io;
}

TEST(conn_plain_read_write)
{
	struct loop *loop = loop_new();
	CHECK(loop != NULL);
	if (loop == NULL)
		return;
	int sv[2];
	CHECK_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
	struct conn c;
	CHECK_EQ(conn_init(&c, loop, sv[0], conn_cb_unused), 0);
	CHECK(c.ops == &conn_plain_ops);
	CHECK(conn_open(&c));
	/* The loop never runs here: readiness is set by hand, as epoll would. */
	CHECK_EQ(c.io.ready, 0);

	c.io.ready = IO_WRITE;
	CHECK_EQ(conn_write(&c, "ping", 4), 4);
	CHECK(conn_writable(&c));
	char got[64];
	CHECK_EQ(read(sv[1], got, sizeof(got)), 4);
	CHECK(memcmp(got, "ping", 4) == 0);

	struct iovec iov[2] = { { "ab", 2 }, { "cde", 3 } };
	CHECK_EQ(conn_writev(&c, iov, 2), 5);
	CHECK_EQ(read(sv[1], got, sizeof(got)), 5);
	CHECK(memcmp(got, "abcde", 5) == 0);

	/* Nothing to read: TS_AGAIN and the cached IO_READ bit is dropped. */
	c.io.ready = IO_READ | IO_WRITE;
	CHECK_EQ(conn_read(&c, got, sizeof(got)), TS_AGAIN);
	CHECK(!conn_readable(&c));
	CHECK(conn_writable(&c));

	/* A short read drained the socket: the bit goes without another read. */
	CHECK_EQ(write(sv[1], "pong", 4), 4);
	c.io.ready |= IO_READ;
	CHECK_EQ(conn_read(&c, got, sizeof(got)), 4);
	CHECK(memcmp(got, "pong", 4) == 0);
	CHECK(!conn_readable(&c));

	/* A read that filled the caller's space may have left bytes: keep the bit. */
	CHECK_EQ(write(sv[1], "12345678", 8), 8);
	c.io.ready |= IO_READ;
	CHECK_EQ(conn_read(&c, got, 4), 4);
	CHECK(conn_readable(&c));
	CHECK_EQ(conn_read(&c, got + 4, 4), 4);
	CHECK(memcmp(got, "12345678", 8) == 0);
	CHECK_EQ(conn_read(&c, got, 4), TS_AGAIN);
	CHECK(!conn_readable(&c));

	/* Peer closed: pending bytes, then 0 (end of stream). */
	CHECK_EQ(write(sv[1], "bye", 3), 3);
	close(sv[1]);
	c.io.ready |= IO_READ | IO_HUP;
	CHECK_EQ(conn_read(&c, got, sizeof(got)), 3);
	CHECK(conn_readable(&c)); /* HUP: keep reading until the 0 */
	CHECK_EQ(conn_read(&c, got, sizeof(got)), 0);

	/* Writing to a closed peer is an error (and no SIGPIPE). */
	CHECK_EQ(conn_write(&c, "x", 1), TS_ERROR);
	CHECK_EQ(errno, EPIPE);

	conn_close(&c);
	CHECK(!conn_open(&c));
	CHECK_EQ(c.io.fd, -1);
	conn_close(&c); /* idempotent */
	loop_free(loop);
}

TEST(conn_plain_write_full_clears_writable)
{
	struct loop *loop = loop_new();
	CHECK(loop != NULL);
	if (loop == NULL)
		return;
	int sv[2];
	CHECK_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
	struct conn c;
	CHECK_EQ(conn_init(&c, loop, sv[0], conn_cb_unused), 0);
	static char chunk[65536];
	memset(chunk, 'z', sizeof(chunk));

	/* Fill the socket: some write comes up short or would block, and from then on
	 * the IO_WRITE bit is clear. Bounded: a socketpair buffers a few MB at most. */
	c.io.ready = IO_WRITE;
	size_t sent = 0;
	ssize_t r = 0;
	int rounds = 0;
	while (conn_writable(&c) && rounds++ < 1024) {
		r = conn_write(&c, chunk, sizeof(chunk));
		if (r > 0)
			sent += (size_t)r;
		if (r < 0 || (size_t)r < sizeof(chunk))
			break;
	}
	CHECK(r == TS_AGAIN || (r >= 0 && (size_t)r < sizeof(chunk)));
	CHECK(!conn_writable(&c));
	CHECK(sent > 0);
	/* Writing again while full: TS_AGAIN. */
	c.io.ready |= IO_WRITE;
	if (r >= 0)
		CHECK_EQ(conn_write(&c, chunk, sizeof(chunk)), TS_AGAIN);
	else
		CHECK_EQ(conn_write(&c, chunk, 1), TS_AGAIN);
	CHECK(!conn_writable(&c));

	conn_close(&c);
	close(sv[1]);
	loop_free(loop);
}
