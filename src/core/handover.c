/* handover.c - listening sockets from an old process to its successor:
 * the message (format, parse), sending it, fetching and checking it. See
 * handover.h. */
#include "handover.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#define LINE_MAX_LEN 80 /* "stream [v6 address]:port" and room */

static const char *type_word(int socktype)
{
	return socktype == SOCK_STREAM ? "stream" : socktype == SOCK_DGRAM ? "dgram" : NULL;
}

long handover_format(const struct handover_entry *e, unsigned n, char *out, size_t len)
{
	if (n > HANDOVER_MAX)
		return -1;
	size_t o = 0;
	int k = snprintf(out, len, "listeners %u\n", n);
	if (k < 0 || (size_t)k >= len)
		return -1;
	o = (size_t)k;
	for (unsigned i = 0; i < n; i++) {
		char name[INET6_ADDRSTRLEN + 16];
		const char *type = type_word(e[i].socktype);
		if (type == NULL)
			return -1;
		k = snprintf(out + o, len - o, "%s %s\n", type,
		             addr_format(&e[i].addr, name, sizeof(name)));
		if (k < 0 || (size_t)k >= len - o)
			return -1;
		o += (size_t)k;
	}
	if (o + 2 > len)
		return -1;
	out[o++] = '\n';
	out[o] = '\0';
	return (long)o;
}

/* The next line of p[0..len) from *off: its length (without "\n"), -2
 * when it has no "\n" yet, -1 when it is too long or not printable. */
static long next_line(const char *p, size_t len, size_t off)
{
	for (size_t i = off; i < len; i++) {
		unsigned char c = (unsigned char)p[i];
		if (c == '\n')
			return (long)(i - off);
		if (i - off >= LINE_MAX_LEN || c < 0x20 || c > 0x7e)
			return -1;
	}
	return len - off > LINE_MAX_LEN ? -1 : -2;
}

/* "listeners N": N, or -1. */
static int parse_count(const char *s, size_t n)
{
	static const char word[] = "listeners ";
	size_t w = sizeof(word) - 1;
	if (n <= w || n > w + 3 || memcmp(s, word, w) != 0)
		return -1;
	unsigned v = 0;
	for (size_t i = w; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (unsigned)(s[i] - '0');
	}
	if ((s[w] == '0' && n > w + 1) || v > HANDOVER_MAX)
		return -1;
	return (int)v;
}

/* "stream ADDR" or "dgram ADDR", the address in addr_format's own form
 * (so one socket has one spelling), IPv4 or IPv6. 0, or -1. */
static int parse_entry(const char *s, size_t n, struct handover_entry *e)
{
	char line[LINE_MAX_LEN + 1], back[LINE_MAX_LEN + 1], err[128];
	memcpy(line, s, n);
	line[n] = '\0';
	char *sp = strchr(line, ' ');
	if (sp == NULL)
		return -1;
	*sp = '\0';
	memset(e, 0, sizeof(*e));
	e->fd = -1;
	if (strcmp(line, "stream") == 0)
		e->socktype = SOCK_STREAM;
	else if (strcmp(line, "dgram") == 0)
		e->socktype = SOCK_DGRAM;
	else
		return -1;
	const char *spec = sp + 1;
	if (strncmp(spec, "unix:", 5) == 0 ||
	    addr_parse(spec, NULL, &e->addr, err, sizeof(err)) < 0)
		return -1;
	return strcmp(addr_format(&e->addr, back, sizeof(back)), spec) == 0 ? 0 : -1;
}

long handover_parse(const char *p, size_t len, struct handover_entry *e, unsigned *n, char *err,
                    size_t errlen)
{
	*n = 0;
	long l = next_line(p, len, 0);
	if (l == -2)
		return 0;
	if (l >= 6 && memcmp(p, "error:", 6) == 0) {
		size_t skip = l > 6 && p[6] == ' ' ? 7 : 6;
		snprintf(err, errlen, "the old process refuses: %.*s", (int)((size_t)l - skip),
		         p + skip);
		return -1;
	}
	int count = l < 0 ? -1 : parse_count(p, (size_t)l);
	if (count < 0) {
		snprintf(err, errlen, "not a hand-over message (\"listeners N\" expected first)");
		return -1;
	}
	size_t off = (size_t)l + 1;
	for (int i = 0; i <= count; i++) {
		l = next_line(p, len, off);
		if (l == -2)
			return 0;
		if (i == count) {
			if (l != 0)
				break;
			*n = (unsigned)count;
			return (long)(off + 1);
		}
		if (l < 0 || parse_entry(p + off, (size_t)l, &e[i]) < 0) {
			snprintf(err, errlen,
			         "listener %d of %d: not \"stream|dgram ADDRESS:PORT\"", i + 1,
			         count);
			return -1;
		}
		off += (size_t)l + 1;
	}
	snprintf(err, errlen, "the message does not end with an empty line after %d listeners",
	         count);
	return -1;
}

int handover_check(int fd, const struct handover_entry *e, char *err, size_t errlen)
{
	int type = 0, domain = 0, listening = 0;
	socklen_t len = sizeof(int);
	struct addr a = { .len = sizeof(a.ss) };
	char want[INET6_ADDRSTRLEN + 16], got[INET6_ADDRSTRLEN + 16];
	addr_format(&e->addr, want, sizeof(want));
	if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) < 0 ||
	    getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &(socklen_t){ sizeof(int) }) < 0 ||
	    getsockname(fd, (struct sockaddr *)&a.ss, &a.len) < 0) {
		snprintf(err, errlen, "%s: not a socket (%s)", want, strerror(errno));
		return -1;
	}
	if (type != e->socktype) {
		snprintf(err, errlen, "%s: a socket of type %d, not %s", want, type,
		         type_word(e->socktype));
		return -1;
	}
	if (domain != ((const struct sockaddr *)&e->addr.ss)->sa_family ||
	    !addr_equal(&a, &e->addr)) {
		snprintf(err, errlen, "%s: the socket is bound to %s", want,
		         addr_format(&a, got, sizeof(got)));
		return -1;
	}
	if (type == SOCK_STREAM && (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening,
	                                       &(socklen_t){ sizeof(int) }) < 0 ||
	                            !listening)) {
		snprintf(err, errlen, "%s: the socket is not listening", want);
		return -1;
	}
	return 0;
}

int handover_send(int sock, const struct handover_entry *e, unsigned n, char *err, size_t errlen)
{
	char text[HANDOVER_TEXT_MAX];
	long len = handover_format(e, n, text, sizeof(text));
	if (len < 0) {
		snprintf(err, errlen, "too many listeners to hand over (%u; %d at most)", n,
		         HANDOVER_MAX);
		return -1;
	}
	union {
		char buf[CMSG_SPACE(sizeof(int) * HANDOVER_MAX)];
		struct cmsghdr align;
	} ctl;
	memset(&ctl, 0, sizeof(ctl));
	struct iovec iov = { text, (size_t)len };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };
	if (n > 0) {
		msg.msg_control = ctl.buf;
		msg.msg_controllen = CMSG_SPACE(sizeof(int) * n);
		struct cmsghdr *cm = CMSG_FIRSTHDR(&msg);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int) * n);
		for (unsigned i = 0; i < n; i++)
			memcpy(CMSG_DATA(cm) + i * sizeof(int), &e[i].fd, sizeof(int));
	}
	ssize_t w;
	do
		w = sendmsg(sock, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
	while (w < 0 && errno == EINTR);
	if (w != (ssize_t)len) {
		snprintf(err, errlen, "sending the listeners: %s",
		         w < 0 ? strerror(errno) : "short write");
		return -1;
	}
	return 0;
}

/* ---- the new process's side ---- */

static void close_fds(const int *fds, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		close(fds[i]);
}

/* The descriptors of msg's SCM_RIGHTS appended to fds (up to
 * HANDOVER_MAX; the rest closed). false when there were too many. */
static bool take_fds(struct msghdr *msg, int *fds, unsigned *nfds)
{
	bool ok = true;
	for (struct cmsghdr *cm = CMSG_FIRSTHDR(msg); cm; cm = CMSG_NXTHDR(msg, cm)) {
		if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
			continue;
		size_t k = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t i = 0; i < k; i++) {
			int fd;
			memcpy(&fd, CMSG_DATA(cm) + i * sizeof(int), sizeof(int));
			if (*nfds < HANDOVER_MAX)
				fds[(*nfds)++] = fd;
			else
				close(fd), ok = false;
		}
	}
	return ok;
}

int handover_recv(int sock, struct handover *h, char *err, size_t errlen)
{
	char text[HANDOVER_TEXT_MAX];
	size_t len = 0;
	int fds[HANDOVER_MAX];
	unsigned nfds = 0;
	long whole = 0;
	while (whole == 0) {
		union {
			char buf[CMSG_SPACE(sizeof(int) * HANDOVER_MAX)];
			struct cmsghdr align;
		} ctl;
		struct iovec iov = { text + len, sizeof(text) - len };
		struct msghdr msg = { .msg_iov = &iov,
			              .msg_iovlen = 1,
			              .msg_control = ctl.buf,
			              .msg_controllen = sizeof(ctl.buf) };
		ssize_t r = len < sizeof(text) ? recvmsg(sock, &msg, MSG_CMSG_CLOEXEC) : 0;
		if (r < 0 && errno == EINTR)
			continue;
		if (r > 0 && (!take_fds(&msg, fds, &nfds) || (msg.msg_flags & MSG_CTRUNC))) {
			snprintf(err, errlen, "more descriptors than a hand-over has (%d)",
			         HANDOVER_MAX);
			goto fail;
		}
		if (r <= 0) {
			snprintf(err, errlen, "%s",
			         r == 0 ? "the old process closed "
			                  "before its whole answer"
			         : errno == EAGAIN || errno == EWOULDBLOCK ? "no answer in time"
			                                                   : strerror(errno));
			goto fail;
		}
		len += (size_t)r;
		whole = handover_parse(text, len, h->e, &h->n, err, errlen);
		if (whole < 0)
			goto fail;
	}
	if (nfds != h->n) {
		snprintf(err, errlen, "%u descriptors for %u listeners", nfds, h->n);
		goto fail;
	}
	for (unsigned i = 0; i < h->n; i++) {
		if (handover_check(fds[i], &h->e[i], err, errlen) < 0)
			goto fail;
		int fl = fcntl(fds[i], F_GETFL);
		if (fl < 0 || fcntl(fds[i], F_SETFL, fl | O_NONBLOCK) < 0) {
			snprintf(err, errlen, "fcntl: %s", strerror(errno));
			goto fail;
		}
	}
	for (unsigned i = 0; i < h->n; i++)
		h->e[i].fd = fds[i];
	return 0;
fail:
	close_fds(fds, nfds);
	h->n = 0;
	return -1;
}

int handover_fetch(const char *path, unsigned timeout_ms, struct handover *h, char *err,
                   size_t errlen)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	h->n = 0;
	if (strlen(path) >= sizeof(sa.sun_path)) {
		snprintf(err, errlen, "%s: too long for a Unix socket", path);
		return -1;
	}
	strcpy(sa.sun_path, path);
	struct timeval tv = { timeout_ms / 1000, (long)(timeout_ms % 1000) * 1000 };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	static const char ask[] = HANDOVER_ASK "\n";
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) < 0 ||
	    connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    send(fd, ask, sizeof(ask) - 1, MSG_NOSIGNAL) != (ssize_t)(sizeof(ask) - 1)) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	char e[256];
	if (handover_recv(fd, h, e, sizeof(e)) < 0) {
		snprintf(err, errlen, "%s: %s", path, e);
		close(fd);
		return -1;
	}
	return fd;
}

int handover_finish(int sock, char *answer, size_t len)
{
	static const char done[] = HANDOVER_DONE "\n";
	char in[1024];
	size_t got = 0;
	snprintf(answer, len, "no answer");
	if (send(sock, done, sizeof(done) - 1, MSG_NOSIGNAL) != (ssize_t)(sizeof(done) - 1)) {
		snprintf(answer, len, "%s", strerror(errno));
		close(sock);
		return -1;
	}
	while (got + 1 < sizeof(in)) {
		ssize_t r = recv(sock, in + got, sizeof(in) - got - 1, 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		got += (size_t)r;
		in[got] = '\0';
		if (strstr(in, "\n\n"))
			break;
	}
	close(sock);
	in[got] = '\0';
	char *nl = strchr(in, '\n');
	if (nl)
		*nl = '\0';
	if (got)
		snprintf(answer, len, "%s", in);
	return strncmp(in, "ok:", 3) == 0 ? 0 : -1;
}

unsigned handover_close_untaken(struct handover *h)
{
	unsigned closed = 0;
	for (unsigned i = 0; i < h->n; i++)
		if (!h->e[i].taken && h->e[i].fd >= 0) {
			close(h->e[i].fd);
			h->e[i].fd = -1;
			closed++;
		}
	return closed;
}

unsigned handover_most(const struct handover *h)
{
	unsigned most = 0;
	for (unsigned i = 0; i < h->n; i++) {
		unsigned same = 0;
		for (unsigned j = 0; j < h->n; j++)
			same += h->e[j].socktype == h->e[i].socktype &&
			        addr_equal(&h->e[j].addr, &h->e[i].addr);
		most = same > most ? same : most;
	}
	return most;
}
