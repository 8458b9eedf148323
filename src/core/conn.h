/* conn.h - a non-blocking stream connection, plain (conn.c) or TLS (tls.c).
 *
 * The owner drives it from its io callback. Every I/O call returns a byte
 * count, 0 for end of stream (read only), TS_AGAIN (readiness bit cleared:
 * wait for the next event) or TS_ERROR (errno set). TLS supplies another
 * conn_ops and keeps its state in c->tls (conn_tls_accept, conn_is_tls and
 * conn_shutdown_write are in tls.h); the owners do not change.
 */
#ifndef TS_CONN_H
#define TS_CONN_H

#include <sys/types.h>
#include <sys/uio.h>

#include "loop.h"

struct conn;

struct conn_ops {
	ssize_t (*read)(struct conn *c, char *p, size_t n);
	/* flags: CONN_MORE = more follows at once (coalesce into one segment) */
	ssize_t (*writev)(struct conn *c, const struct iovec *iov, int iovcnt, unsigned flags);
	/* Send n bytes of file fd from *off, advancing it. */
	ssize_t (*sendfile)(struct conn *c, int fd, off_t *off, size_t n);
	/* Release per-connection state (TLS session); the fd is closed by conn_close. */
	void (*release)(struct conn *c);
};

#define CONN_MORE 0x1u

struct conn {
	struct io io;
	const struct conn_ops *ops;
	void *tls;
};

extern const struct conn_ops conn_plain_ops;

/* Adopt an fd (already non-blocking) into the loop. Returns 0 or -1. */
int conn_init(struct conn *c, struct loop *loop, int fd, io_fn fn);
/* Release state and close the fd (idempotent). */
void conn_close(struct conn *c);

static inline ssize_t conn_read(struct conn *c, char *p, size_t n)
{
	return c->ops->read(c, p, n);
}

static inline ssize_t conn_writev(struct conn *c, const struct iovec *iov, int iovcnt)
{
	return c->ops->writev(c, iov, iovcnt, 0);
}

/* A head that a sendfile body follows: held back to share its segment. */
static inline ssize_t conn_writev_more(struct conn *c, const struct iovec *iov, int iovcnt)
{
	return c->ops->writev(c, iov, iovcnt, CONN_MORE);
}

static inline ssize_t conn_write(struct conn *c, const void *p, size_t n)
{
	struct iovec iov = { .iov_base = (void *)p, .iov_len = n };
	return c->ops->writev(c, &iov, 1, 0);
}

static inline ssize_t conn_sendfile(struct conn *c, int fd, off_t *off, size_t n)
{
	return c->ops->sendfile(c, fd, off, n);
}

static inline bool conn_readable(const struct conn *c)
{
	return (c->io.ready & IO_READ) != 0;
}

static inline bool conn_writable(const struct conn *c)
{
	return (c->io.ready & IO_WRITE) != 0;
}

static inline bool conn_open(const struct conn *c)
{
	return c->io.fd >= 0;
}

#endif
