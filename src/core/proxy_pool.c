/* proxy_pool.c - upstream connections: made, kept idle in a pool per server
 * (most recent first) for the next request, tracked while busy, closed.
 * See proxy.h.
 */
#include "proxy.h"
#include "proxy_int.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

unsigned proxy_idle_count(const struct proxy_worker *pw, int server)
{
	return pw->nidle[server];
}

static void up_free_deferred(struct defer *d)
{
	struct upconn *up = container_of(d, struct upconn, free_defer);
	up->next = up->pw->up_free;
	up->pw->up_free = up;
}

static void pool_unlink(struct upconn *up)
{
	struct proxy_worker *pw = up->pw;
	if (up->prev)
		up->prev->next = up->next;
	else
		pw->idle[up->server] = up->next;
	if (up->next)
		up->next->prev = up->prev;
	up->next = up->prev = NULL;
	pw->nidle[up->server]--;
}

/* Connections serving a txn are on the worker's busy list (so a server
 * found down can be let go of); idle ones are in the pool. */
static void busy_link(struct upconn *up)
{
	struct proxy_worker *pw = up->pw;
	up->prev = NULL;
	up->next = pw->busy_list;
	if (up->next)
		up->next->prev = up;
	pw->busy_list = up;
	pw->busy++;
}

static void busy_unlink(struct upconn *up)
{
	struct proxy_worker *pw = up->pw;
	if (up->prev)
		up->prev->next = up->next;
	else
		pw->busy_list = up->next;
	if (up->next)
		up->next->prev = up->prev;
	up->next = up->prev = NULL;
	pw->busy--;
}

/* Close the socket; the memory goes back after the current batch of events. */
static void up_destroy(struct upconn *up)
{
	struct proxy_worker *pw = up->pw;
	up->txn = NULL;
	conn_close(&up->conn);
	loop_timer_stop(pw->w->loop, &up->timer);
	buf_release(&pw->w->pool, &up->in);
	loop_defer(pw->w->loop, &up->free_defer, up_free_deferred);
}

/* Close an upstream connection, idle in the pool or serving a txn. */
void proxy_up_close(struct upconn *up)
{
	if (up->txn)
		busy_unlink(up);
	else
		pool_unlink(up);
	up_destroy(up);
}

/* Park a connection whose response is complete, for the next request. */
void proxy_pool_put(struct upconn *up)
{
	struct proxy_worker *pw = up->pw;
	struct proxy_conf *pc = pw->pc;
	if (!buf_empty(&up->in) || up->eof || pw->w->stopping ||
	    pw->nidle[up->server] >= pc->pool_max) {
		proxy_up_close(up);
		return;
	}
	busy_unlink(up);
	up->txn = NULL;
	buf_release(&pw->w->pool, &up->in);
	up->next = pw->idle[up->server];
	up->prev = NULL;
	if (up->next)
		up->next->prev = up;
	pw->idle[up->server] = up;
	pw->nidle[up->server]++;
	loop_timer_set(pw->w->loop, &up->timer, pc->timeout_pool);
}

/* A pooled connection that is still good, or NULL. */
struct upconn *proxy_pool_take(struct proxy_worker *pw, int server)
{
	while (pw->idle[server]) {
		struct upconn *up = pw->idle[server];
		pool_unlink(up);
		if (up->conn.io.ready & (IO_HUP | IO_ERR | IO_READ)) {
			/* The server closed it (or sent bytes nobody asked for). */
			up_destroy(up);
			continue;
		}
		busy_link(up);
		loop_timer_stop(pw->w->loop, &up->timer);
		up->reused = true;
		return up;
	}
	return NULL;
}

void proxy_worker_close_idle(struct proxy_worker *pw)
{
	if (pw->pc == NULL)
		return;
	for (unsigned i = 0; i < pw->pc->nservers; i++)
		while (pw->idle[i])
			proxy_up_close(pw->idle[i]);
}

void proxy_worker_free(struct proxy_worker *pw)
{
	if (pw->pc == NULL)
		return; /* never initialised */
	proxy_worker_close_idle(pw);
	/* The loop has stopped: deferred frees will not run, and no event can
	 * point at these any more. */
	for (struct upconn *up = pw->up_free, *next; up; up = next) {
		next = up->next;
		free(up);
	}
	for (struct proxy_txn *t = pw->txn_free, *next; t; t = next) {
		next = t->next_free;
		free(t->scratch);
		free(t);
	}
	free(pw->idle);
	free(pw->nidle);
}

struct upconn *proxy_up_new(struct proxy_worker *pw, int fd, int server)
{
	struct upconn *up = pw->up_free;
	if (up)
		pw->up_free = up->next;
	else
		up = xmalloc(sizeof(*up));
	memset(up, 0, sizeof(*up));
	up->pw = pw;
	up->server = server;
	up->timer.fn = proxy_up_timeout;
	if (conn_init(&up->conn, pw->w->loop, fd, proxy_up_io) < 0) {
		close(fd);
		up->next = pw->up_free;
		pw->up_free = up;
		return NULL;
	}
	busy_link(up);
	return up;
}
