/* httpc.c - the HTTP client: one exchange over a connection of its own, on
 * a loop. See httpc.h.
 */
#include <errno.h>
#include <unistd.h>

#include "httpc.h"
#include "httpd.h" /* http_now_us */

static void httpc_io(struct io *io)
{
	struct httpc *f = container_of(io, struct httpc, conn.io);
	if (!f->connected) {
		if (!(io->ready & (IO_WRITE | IO_ERR | IO_HUP)))
			return;
		int e = net_socket_error(io->fd);
		if (e) {
			f->event(f, -e);
			return;
		}
		f->connected = true;
	}
	while (f->sent < f->req_len) {
		ssize_t n = conn_write(&f->conn, f->req + f->sent, f->req_len - f->sent);
		if (n == TS_AGAIN)
			return;
		if (n < 0) {
			f->event(f, -errno);
			return;
		}
		f->sent += (size_t)n;
	}
	/* until the owner ends it: after each read it may have what it needs */
	while (httpc_open(f)) {
		if (f->resp_len == f->resp_cap) {
			f->event(f, -EMSGSIZE);
			return;
		}
		ssize_t n = conn_read(&f->conn, f->resp + f->resp_len, f->resp_cap - f->resp_len);
		if (n == TS_AGAIN)
			return;
		if (n < 0) {
			f->event(f, -errno);
			return;
		}
		if (n == 0) {
			f->event(f, HTTPC_EOF);
			return;
		}
		f->resp_len += (size_t)n;
		f->event(f, HTTPC_DATA);
	}
}

int httpc_start(struct httpc *f, struct loop *loop, const struct addr *a)
{
	f->t_start_us = http_now_us();
	f->resp_len = 0;
	f->sent = 0;
	f->connected = false;
	int fd = net_connect(a);
	if (fd < 0 || conn_init(&f->conn, loop, fd, httpc_io) < 0) {
		int e = errno;
		if (fd >= 0)
			close(fd);
		f->conn.io.fd = -1;
		return e;
	}
	return 0;
}

void httpc_close(struct httpc *f)
{
	conn_close(&f->conn);
}
