/* The listening sockets' hand-over (core/handover.h): the message's text
 * read back as written, whole only at its end (every split point), every
 * malformed one refused; then real sockets over a socketpair: the ones
 * that match arrive usable, and a count, type, address or state that does
 * not match is refused with every descriptor closed. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/handover.h"
#include "t.h"

static struct handover_entry entry(const char *spec, int socktype)
{
	struct handover_entry e = { .socktype = socktype, .fd = -1 };
	char err[128];
	addr_parse(spec, NULL, &e.addr, err, sizeof(err));
	return e;
}

static long parse(const char *text, struct handover *h, char *err, size_t errlen)
{
	return handover_parse(text, strlen(text), h->e, &h->n, err, errlen);
}

TEST(handover_text_reads_back_as_written)
{
	struct handover_entry e[] = {
		entry("127.0.0.1:8080", SOCK_STREAM),
		entry("127.0.0.1:8080", SOCK_STREAM),
		entry("[::1]:8443", SOCK_STREAM),
		entry("0.0.0.0:5353", SOCK_DGRAM),
	};
	for (unsigned n = 0; n <= ARRAY_SIZE(e); n++) {
		t_case("%u listeners", n);
		char text[HANDOVER_TEXT_MAX], err[160] = "";
		long len = handover_format(e, n, text, sizeof(text));
		CHECK(len > 0 && (size_t)len == strlen(text));
		struct handover h;
		CHECK_EQ(parse(text, &h, err, sizeof(err)), len);
		CHECK_EQ(h.n, n);
		for (unsigned i = 0; i < h.n; i++) {
			CHECK(addr_equal(&h.e[i].addr, &e[i].addr));
			CHECK_EQ(h.e[i].socktype, e[i].socktype);
			CHECK_EQ(h.e[i].fd, -1);
		}
		/* a prefix is never whole, and never wrong */
		for (long cut = 0; cut < len; cut++)
			CHECK_EQ(handover_parse(text, (size_t)cut, h.e, &h.n, err, sizeof(err)), 0);
	}
	char text[HANDOVER_TEXT_MAX];
	CHECK_STR((handover_format(e, 1, text, sizeof(text)), text),
	          "listeners 1\nstream 127.0.0.1:8080\n\n");
	CHECK_EQ(handover_format(e, 1, text, 20), -1);
	CHECK_EQ(handover_format(e, HANDOVER_MAX + 1, text, sizeof(text)), -1);
}

TEST(handover_text_refuses_what_is_not_one)
{
	static const struct {
		const char *text, *says;
	} rows[] = {
		{ "error: not now\n\n", "the old process refuses: not now" },
		{ "hello\n\n", "not a hand-over message" },
		{ "listeners\n\n", "not a hand-over message" },
		{ "listeners -1\n\n", "not a hand-over message" },
		{ "listeners 01\nstream 127.0.0.1:80\n\n", "not a hand-over message" },
		{ "listeners 65\n", "not a hand-over message" },
		{ "listeners 1000\n", "not a hand-over message" },
		{ "listeners 1\nseqpacket 127.0.0.1:80\n\n", "listener 1 of 1" },
		{ "listeners 1\nstream unix:/tmp/x\n\n", "listener 1 of 1" },
		{ "listeners 1\nstream :80\n\n", "listener 1 of 1" },
		{ "listeners 1\nstream 127.0.0.1:080\n\n", "listener 1 of 1" },
		{ "listeners 1\nstream 127.0.0.1\n\n", "listener 1 of 1" },
		{ "listeners 1\nstream  127.0.0.1:80\n\n", "listener 1 of 1" },
		{ "listeners 1\nstream 127.0.0.1:80 \n\n", "listener 1 of 1" },
		{ "listeners 1\nstream 127.0.0.1:8\x01\n\n", "listener 1 of 1" },
		{ "listeners 1\n\n", "listener 1 of 1" },
		{ "listeners 0\nstream 127.0.0.1:80\n\n", "does not end with an empty line" },
		{ "listeners 1\nstream 127.0.0.1:80\nstream 127.0.0.1:81\n\n",
		  "does not end with an empty line" },
	};
	for (size_t i = 0; i < ARRAY_SIZE(rows); i++) {
		t_case("'%s'", rows[i].text);
		struct handover h;
		char err[160] = "";
		CHECK_EQ(parse(rows[i].text, &h, err, sizeof(err)), -1);
		CHECK(strstr(err, rows[i].says) != NULL);
		CHECK_EQ(h.n, 0);
	}
	t_case("a line that never ends");
	char longline[200];
	memset(longline, 'x', sizeof(longline));
	struct handover h;
	char err[160];
	CHECK_EQ(handover_parse(longline, sizeof(longline), h.e, &h.n, err, sizeof(err)), -1);
}

/* A socket of type bound on 127.0.0.1 (port chosen by the kernel),
 * listening if a stream and listen; its address into e. */
static int sock_on(int type, bool listen_too, struct handover_entry *e)
{
	int fd = socket(AF_INET, type | SOCK_CLOEXEC, 0);
	struct handover_entry any = entry("127.0.0.1:0", type);
	if (fd < 0 || bind(fd, (struct sockaddr *)&any.addr.ss, any.addr.len) < 0 ||
	    (listen_too && listen(fd, 8) < 0))
		return -1;
	*e = any;
	e->addr.len = sizeof(e->addr.ss);
	getsockname(fd, (struct sockaddr *)&e->addr.ss, &e->addr.len);
	e->fd = fd;
	return fd;
}

static bool is_open(int fd)
{
	return fcntl(fd, F_GETFD) >= 0 || errno != EBADF;
}

/* What arrives on b once a's side sent e[0..n), sent as they claim to be
 * (the descriptors of fds, or e's when fds is NULL). */
static int pass(struct handover_entry *e, unsigned n, const int *fds, unsigned nfds,
                struct handover *h, char *err, size_t errlen)
{
	int sp[2];
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) < 0)
		return -2;
	struct handover_entry sent[8];
	for (unsigned i = 0; i < n; i++) {
		sent[i] = e[i];
		if (fds)
			sent[i].fd = i < nfds ? fds[i] : fds[0];
	}
	int r = -2;
	if (fds && nfds != n) {
		/* a text for n and nfds descriptors: the message by hand */
		char text[HANDOVER_TEXT_MAX];
		long len = handover_format(sent, n, text, sizeof(text));
		union {
			char buf[CMSG_SPACE(sizeof(int) * 8)];
			struct cmsghdr align;
		} ctl = { 0 };
		struct iovec iov = { text, (size_t)len };
		struct msghdr msg = { .msg_iov = &iov,
			              .msg_iovlen = 1,
			              .msg_control = ctl.buf,
			              .msg_controllen = CMSG_SPACE(sizeof(int) * nfds) };
		struct cmsghdr *cm = CMSG_FIRSTHDR(&msg);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
		memcpy(CMSG_DATA(cm), fds, sizeof(int) * nfds);
		if (sendmsg(sp[0], &msg, 0) != len)
			goto out;
	} else if (handover_send(sp[0], sent, n, err, errlen) < 0) {
		goto out;
	}
	r = handover_recv(sp[1], h, err, errlen);
out:
	close(sp[0]);
	close(sp[1]);
	return r;
}

TEST(handover_passes_listening_sockets)
{
	struct handover_entry e[3];
	int a = sock_on(SOCK_STREAM, true, &e[0]);
	int b = sock_on(SOCK_STREAM, true, &e[1]);
	int u = sock_on(SOCK_DGRAM, false, &e[2]);
	CHECK(a >= 0 && b >= 0 && u >= 0);
	struct handover h;
	char err[160] = "";
	CHECK_EQ(pass(e, 3, NULL, 0, &h, err, sizeof(err)), 0);
	CHECK_EQ(h.n, 3);
	for (unsigned i = 0; i < h.n; i++) {
		t_case("listener %u", i);
		CHECK(h.e[i].fd >= 0 && h.e[i].fd != e[i].fd);
		CHECK(addr_equal(&h.e[i].addr, &e[i].addr));
		CHECK(fcntl(h.e[i].fd, F_GETFL) & O_NONBLOCK);
		CHECK(fcntl(h.e[i].fd, F_GETFD) & FD_CLOEXEC);
		CHECK_EQ(handover_check(h.e[i].fd, &e[i], err, sizeof(err)), 0);
	}
	t_case("the most sharing one address");
	CHECK_EQ(handover_most(&h), 1);
	h.e[1].addr = h.e[0].addr;
	CHECK_EQ(handover_most(&h), 2);
	t_case("untaken ones closed");
	h.e[0].taken = true;
	int kept = h.e[0].fd, gone = h.e[1].fd;
	CHECK_EQ(handover_close_untaken(&h), 2);
	CHECK(is_open(kept) && !is_open(gone));
	close(kept);
	close(a);
	close(b);
	close(u);
}

TEST(handover_refuses_sockets_that_do_not_match)
{
	struct handover_entry e[2], other, idle;
	int a = sock_on(SOCK_STREAM, true, &e[0]);
	int u = sock_on(SOCK_DGRAM, false, &e[1]);
	int o = sock_on(SOCK_STREAM, true, &other);
	int q = sock_on(SOCK_STREAM, false, &idle);
	CHECK(a >= 0 && u >= 0 && o >= 0 && q >= 0);
	static const struct {
		const char *name, *says;
		unsigned n, nfds;
		int fds[2];   /* 0 a, 1 u, 2 o, 3 q */
		bool idle_is; /* the first line is q's address */
	} rows[] = {
		{ "fewer descriptors than lines", "1 descriptors for 2 listeners", 2, 1, { 0 }, 0 },
		{ "more descriptors than lines",
		  "2 descriptors for 1 listeners",
		  1,
		  2,
		  { 0, 2 },
		  0 },
		{ "a datagram socket said to be a stream", "a socket of type 2", 1, 1, { 1 }, 0 },
		{ "a stream said to be a datagram socket",
		  "a socket of type 1",
		  2,
		  2,
		  { 0, 0 },
		  0 },
		{ "another port", "the socket is bound to", 1, 1, { 2 }, 0 },
		{ "bound, not listening", "is not listening", 1, 1, { 3 }, 1 },
	};
	int by[] = { a, u, o, q };
	for (size_t i = 0; i < ARRAY_SIZE(rows); i++) {
		t_case("%s", rows[i].name);
		int fds[2];
		for (unsigned k = 0; k < rows[i].nfds; k++)
			fds[k] = by[rows[i].fds[k]];
		/* a known descriptor number after: what the refusal closed is free */
		int probe = dup(a);
		close(probe);
		struct handover h;
		char err[160] = "";
		struct handover_entry ent[2] = { rows[i].idle_is ? idle : e[0], e[1] };
		CHECK_EQ(pass(ent, rows[i].n, fds, rows[i].nfds, &h, err, sizeof(err)), -1);
		CHECK(strstr(err, rows[i].says) != NULL);
		CHECK_EQ(h.n, 0);
		int again = dup(a);
		CHECK_EQ(again, probe); /* nothing received was left open */
		close(again);
	}
	close(a);
	close(u);
	close(o);
	close(q);
}
