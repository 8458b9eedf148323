/* conn.c - plain (non-TLS) connections. See conn.h. */
#include "conn.h"

#include <errno.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <unistd.h>

/* With edge-triggered epoll, a read that returns less than asked has drained
 * the socket: any byte arriving later raises a new edge. So the readiness bit
 * can be dropped at once, saving the read that would return EAGAIN. The same
 * holds for a short write and the send buffer. */

/* A failed call's outcome: 1 to try again (EINTR), else TS_AGAIN with the
 * readiness bit dropped (EAGAIN), or TS_ERROR with errno set. */
static int io_failed(struct conn *c, unsigned bit)
{
	if (errno == EINTR)
		return 1;
	if (errno == EAGAIN) {
		c->io.ready &= ~bit;
		return TS_AGAIN;
	}
	return TS_ERROR;
}

static ssize_t plain_read(struct conn *c, char *p, size_t n)
{
	for (;;) {
		ssize_t r = read(c->io.fd, p, n);
		if (r > 0) {
			if ((size_t)r < n && !(c->io.ready & IO_HUP))
				c->io.ready &= ~IO_READ;
			return r;
		}
		if (r == 0)
			return 0;
		int f = io_failed(c, IO_READ);
		if (f <= 0)
			return f;
	}
}

static ssize_t plain_writev(struct conn *c, const struct iovec *iov, int iovcnt, unsigned flags)
{
	int mflags = MSG_NOSIGNAL | ((flags & CONN_MORE) ? MSG_MORE : 0);
	size_t want = 0;
	for (int i = 0; i < iovcnt; i++)
		want += iov[i].iov_len;
	for (;;) {
		ssize_t r;
		if (iovcnt == 1) {
			r = send(c->io.fd, iov[0].iov_base, iov[0].iov_len, mflags);
		} else {
			struct msghdr mh = { .msg_iov = (struct iovec *)iov,
				             .msg_iovlen = (size_t)iovcnt };
			r = sendmsg(c->io.fd, &mh, mflags);
		}
		if (r >= 0) {
			if ((size_t)r < want)
				c->io.ready &= ~IO_WRITE;
			return r;
		}
		int f = io_failed(c, IO_WRITE);
		if (f <= 0)
			return f;
	}
}

static ssize_t plain_sendfile(struct conn *c, int fd, off_t *off, size_t n)
{
	for (;;) {
		/* A short sendfile may mean the file shrank, not a full socket:
		 * keep the readiness bit and let the next call tell. */
		ssize_t r = sendfile(c->io.fd, fd, off, n);
		if (r >= 0)
			return r;
		int f = io_failed(c, IO_WRITE);
		if (f <= 0)
			return f;
	}
}

static void plain_release(struct conn *c)
{
	(void)c;
}

const struct conn_ops conn_plain_ops = {
	.read = plain_read,
	.writev = plain_writev,
	.sendfile = plain_sendfile,
	.release = plain_release,
};

int conn_init(struct conn *c, struct loop *loop, int fd, io_fn fn)
{
	c->ops = &conn_plain_ops;
	c->tls = NULL;
	return loop_io_add(loop, &c->io, fd, fn);
}

void conn_close(struct conn *c)
{
	if (c->io.fd < 0)
		return;
	c->ops->release(c);
	loop_io_close(&c->io);
}
