/* loop.h - the event loop: one per worker thread, epoll + a timer heap.
 *
 * Readiness is edge-triggered and cached in io->ready: the loop ORs in what
 * epoll reports and calls io->fn; the owner clears IO_READ / IO_WRITE when a
 * read or write returns EAGAIN. So a connection that stops reading (its
 * buffer is full) never has to touch epoll to start again: it knows whether
 * the socket still has bytes.
 *
 * Lifetimes: an io may be closed from inside any callback (loop_io_close);
 * events still queued for it in the same batch are skipped. Memory that a
 * queued event may point at is freed through loop_defer(), which runs after
 * the batch.
 *
 * Everything here is for the loop's own thread, except loop_post() and
 * loop_stop(), which any thread may call.
 */
#ifndef TS_LOOP_H
#define TS_LOOP_H

#include <stdbool.h>
#include <stdint.h>

#include "common.h"

#define IO_READ  0x1u
#define IO_WRITE 0x2u
#define IO_HUP   0x4u /* peer closed its side (read will return 0 once drained) */
#define IO_ERR   0x8u

struct loop;
struct io;

typedef void (*io_fn)(struct io *io);

struct io {
	int fd;         /* -1 once closed */
	uint32_t ready; /* cached readiness, IO_* */
	io_fn fn;       /* called with new readiness */
	struct loop *loop;
};

struct timer;
typedef void (*timer_fn)(struct timer *t);

struct timer {
	uint64_t when; /* loop ms; 0 = not armed */
	uint32_t idx;  /* position in the heap */
	timer_fn fn;
};

struct defer;
typedef void (*defer_fn)(struct defer *d);

struct defer {
	struct defer *next;
	defer_fn fn;
	bool queued;
};

struct loop *loop_new(void);
void loop_free(struct loop *loop);

/* Run until loop_stop(); returns 0. */
int loop_run(struct loop *loop);
/* One turn of loop_run, waiting at most max_wait_ms for an event (0: only
 * what is ready; -1: until the next timer). Returns the number of events
 * dispatched, or -1. For drivers that step the loop themselves (tests, the
 * fuzz targets). */
int loop_run_once(struct loop *loop, int max_wait_ms);
/* Ask the loop to return after the current iteration (any thread). */
void loop_stop(struct loop *loop);
bool loop_stopping(const struct loop *loop);

/* Milliseconds on the monotonic clock, cached once per iteration. */
uint64_t loop_now(const struct loop *loop);
/* Refresh the cached clock (after a long callback). */
void loop_update_time(struct loop *loop);
/* Move the loop's clocks ms ahead for good, as if that time had passed
 * (tests: due timers fire on the next turn, without the wait). */
void loop_advance(struct loop *loop, uint64_t ms);
/* Wall-clock seconds, cached once per iteration (for Date headers, logs). */
int64_t loop_wall(const struct loop *loop);

/* Watch fd for reading and writing, edge-triggered. Returns 0 or -1. */
int loop_io_add(struct loop *loop, struct io *io, int fd, io_fn fn);
/* Stop watching and close the fd; io->fd becomes -1. */
void loop_io_close(struct io *io);
/* Stop watching without closing (hand the fd to another owner). */
void loop_io_del(struct io *io);

/* Arm (or re-arm) a timer to fire ms from now; ms == 0 fires next turn. */
void loop_timer_set(struct loop *loop, struct timer *t, uint64_t ms);
void loop_timer_stop(struct loop *loop, struct timer *t);
static inline bool timer_armed(const struct timer *t)
{
	return t->when != 0;
}

/* Run d->fn after the current batch of events (idempotent while queued). */
void loop_defer(struct loop *loop, struct defer *d, defer_fn fn);

/* Run fn(arg) on the loop's thread, from any thread. Returns 0 or -1. */
int loop_post(struct loop *loop, void (*fn)(void *arg), void *arg);

/* Number of armed timers (tests). */
size_t loop_timer_count(const struct loop *loop);

#endif
