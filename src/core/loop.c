/* loop.c - epoll event loop with a binary timer heap. See loop.h. */
#include "loop.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

#define LOOP_MAX_EVENTS 256

struct post {
	struct post *next;
	void (*fn)(void *arg);
	void *arg;
};

struct loop {
	int epfd;
	atomic_bool stop;
	uint64_t now;  /* monotonic ms */
	uint64_t skew; /* loop_advance: added to the clock */
	int64_t wall;  /* realtime s */
	struct timer **heap;
	uint32_t nheap, capheap;
	bool in_timers; /* run_timers is firing: see loop_timer_set */
	struct defer *defer_head, **defer_tail;
	/* cross-thread posts */
	struct io wake;
	pthread_mutex_t post_lock;
	struct post *posts, **posts_tail;
};

static uint64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

void loop_update_time(struct loop *loop)
{
	/* Never 0: a timer's when == 0 means "not armed". */
	loop->now = mono_ms() + 1 + loop->skew;
	loop->wall = (int64_t)time(NULL) + (int64_t)(loop->skew / 1000);
}

void loop_advance(struct loop *loop, uint64_t ms)
{
	loop->skew += ms;
	loop_update_time(loop);
}

uint64_t loop_now(const struct loop *loop)
{
	return loop->now;
}

int64_t loop_wall(const struct loop *loop)
{
	return loop->wall;
}

static void run_posts(struct io *io)
{
	struct loop *loop = io->loop;
	uint64_t v;
	while (read(io->fd, &v, sizeof(v)) > 0)
		;
	io->ready &= ~IO_READ;
	pthread_mutex_lock(&loop->post_lock);
	struct post *p = loop->posts;
	loop->posts = NULL;
	loop->posts_tail = &loop->posts;
	pthread_mutex_unlock(&loop->post_lock);
	while (p) {
		struct post *next = p->next;
		p->fn(p->arg);
		free(p);
		p = next;
	}
}

struct loop *loop_new(void)
{
	struct loop *loop = xcalloc(1, sizeof(*loop));
	loop->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (loop->epfd < 0) {
		free(loop);
		return NULL;
	}
	loop->defer_tail = &loop->defer_head;
	loop->posts_tail = &loop->posts;
	pthread_mutex_init(&loop->post_lock, NULL);
	int efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (efd < 0 || loop_io_add(loop, &loop->wake, efd, run_posts) < 0) {
		if (efd >= 0)
			close(efd);
		close(loop->epfd);
		free(loop);
		return NULL;
	}
	loop_update_time(loop);
	return loop;
}

void loop_free(struct loop *loop)
{
	if (loop == NULL)
		return;
	/* Posts never run are dropped with their memory. */
	for (struct post *p = loop->posts, *n; p; p = n) {
		n = p->next;
		free(p);
	}
	loop_io_close(&loop->wake);
	close(loop->epfd);
	pthread_mutex_destroy(&loop->post_lock);
	free(loop->heap);
	free(loop);
}

void loop_stop(struct loop *loop)
{
	atomic_store(&loop->stop, true);
	uint64_t one = 1;
	ssize_t r = write(loop->wake.fd, &one, sizeof(one));
	(void)r;
}

bool loop_stopping(const struct loop *loop)
{
	return atomic_load(&loop->stop);
}

int loop_post(struct loop *loop, void (*fn)(void *arg), void *arg)
{
	struct post *p = malloc(sizeof(*p));
	if (p == NULL)
		return -1;
	p->next = NULL;
	p->fn = fn;
	p->arg = arg;
	pthread_mutex_lock(&loop->post_lock);
	*loop->posts_tail = p;
	loop->posts_tail = &p->next;
	pthread_mutex_unlock(&loop->post_lock);
	uint64_t one = 1;
	ssize_t r = write(loop->wake.fd, &one, sizeof(one));
	(void)r;
	return 0;
}

int loop_io_add(struct loop *loop, struct io *io, int fd, io_fn fn)
{
	io->fd = fd;
	io->ready = 0;
	io->fn = fn;
	io->loop = loop;
	struct epoll_event ev = {
		.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET,
		.data.ptr = io,
	};
	return epoll_ctl(loop->epfd, EPOLL_CTL_ADD, fd, &ev);
}

void loop_io_del(struct io *io)
{
	if (io->fd < 0)
		return;
	epoll_ctl(io->loop->epfd, EPOLL_CTL_DEL, io->fd, NULL);
	io->fd = -1;
	io->ready = 0;
}

void loop_io_close(struct io *io)
{
	if (io->fd < 0)
		return;
	int fd = io->fd;
	/* close() alone removes the fd from epoll unless it was dup'd; be explicit. */
	loop_io_del(io);
	close(fd);
}

/* ---- timers: a binary min-heap keyed on when ---- */

static void heap_swap(struct loop *loop, uint32_t a, uint32_t b)
{
	struct timer *t = loop->heap[a];
	loop->heap[a] = loop->heap[b];
	loop->heap[b] = t;
	loop->heap[a]->idx = a;
	loop->heap[b]->idx = b;
}

static void heap_up(struct loop *loop, uint32_t i)
{
	while (i > 0) {
		uint32_t parent = (i - 1) / 2;
		if (loop->heap[parent]->when <= loop->heap[i]->when)
			break;
		heap_swap(loop, i, parent);
		i = parent;
	}
}

static void heap_down(struct loop *loop, uint32_t i)
{
	for (;;) {
		uint32_t l = 2 * i + 1, r = l + 1, m = i;
		if (l < loop->nheap && loop->heap[l]->when < loop->heap[m]->when)
			m = l;
		if (r < loop->nheap && loop->heap[r]->when < loop->heap[m]->when)
			m = r;
		if (m == i)
			return;
		heap_swap(loop, i, m);
		i = m;
	}
}

void loop_timer_stop(struct loop *loop, struct timer *t)
{
	if (t->when == 0)
		return;
	uint32_t i = t->idx;
	t->when = 0;
	loop->nheap--;
	if (i != loop->nheap) {
		loop->heap[i] = loop->heap[loop->nheap];
		loop->heap[i]->idx = i;
		heap_down(loop, i);
		heap_up(loop, i);
	}
}

void loop_timer_set(struct loop *loop, struct timer *t, uint64_t ms)
{
	/* Saturate: a huge delay (a stack file's "213503982334d") must not wrap
	 * around into "due now". */
	uint64_t when = ms > UINT64_MAX - loop->now ? UINT64_MAX : loop->now + ms;
	/* Armed for "now" from a timer callback, a timer would be due in the very
	 * pass that is firing: re-armed from its own callback it would fire again
	 * at once, forever, with the clock never moving. Next turn means next turn. */
	if (ms == 0 && loop->in_timers)
		when++;
	if (t->when != 0) {
		uint64_t old = t->when;
		t->when = when;
		if (when < old)
			heap_up(loop, t->idx);
		else if (when > old)
			heap_down(loop, t->idx);
		return;
	}
	if (loop->nheap == loop->capheap) {
		loop->capheap = loop->capheap ? loop->capheap * 2 : 64;
		loop->heap = xrealloc(loop->heap, loop->capheap * sizeof(*loop->heap));
	}
	t->when = when;
	t->idx = loop->nheap;
	loop->heap[loop->nheap++] = t;
	heap_up(loop, t->idx);
}

size_t loop_timer_count(const struct loop *loop)
{
	return loop->nheap;
}

static void run_timers(struct loop *loop)
{
	loop->in_timers = true;
	while (loop->nheap > 0 && loop->heap[0]->when <= loop->now) {
		struct timer *t = loop->heap[0];
		loop_timer_stop(loop, t);
		t->fn(t);
	}
	loop->in_timers = false;
}

/* ---- deferred work ---- */

void loop_defer(struct loop *loop, struct defer *d, defer_fn fn)
{
	if (d->queued)
		return;
	d->queued = true;
	d->fn = fn;
	d->next = NULL;
	*loop->defer_tail = d;
	loop->defer_tail = &d->next;
}

/* Runs what was queued before the call; what the callbacks queue runs on
 * the next turn, after epoll has been asked again (no starvation). */
static void run_deferred(struct loop *loop)
{
	struct defer *d = loop->defer_head;
	loop->defer_head = NULL;
	loop->defer_tail = &loop->defer_head;
	while (d) {
		struct defer *next = d->next;
		d->queued = false;
		d->fn(d);
		d = next;
	}
}

static int next_timeout(struct loop *loop)
{
	if (loop->defer_head)
		return 0;
	if (loop->nheap == 0)
		return -1;
	uint64_t when = loop->heap[0]->when;
	if (when <= loop->now)
		return 0;
	uint64_t d = when - loop->now;
	return d > 60000 ? 60000 : (int)d;
}

/* One turn: wait for events (max_wait_ms at most, -1: as long as the timers
 * allow), dispatch them, then fire due timers and deferred work. */
int loop_run_once(struct loop *loop, int max_wait_ms)
{
	struct epoll_event evs[LOOP_MAX_EVENTS];
	int wait = next_timeout(loop);
	if (max_wait_ms >= 0 && (wait < 0 || wait > max_wait_ms))
		wait = max_wait_ms;
	int n = epoll_wait(loop->epfd, evs, LOOP_MAX_EVENTS, wait);
	if (n < 0 && errno != EINTR) {
		log_error("epoll_wait: %s", strerror(errno));
		return -1;
	}
	loop_update_time(loop);
	for (int i = 0; i < n; i++) {
		struct io *io = evs[i].data.ptr;
		if (io->fd < 0)
			continue; /* closed earlier in this batch */
		uint32_t e = evs[i].events;
		if (e & EPOLLIN)
			io->ready |= IO_READ;
		if (e & EPOLLOUT)
			io->ready |= IO_WRITE;
		if (e & (EPOLLRDHUP | EPOLLHUP))
			io->ready |= IO_HUP | IO_READ;
		if (e & EPOLLERR)
			io->ready |= IO_ERR | IO_READ | IO_WRITE;
		io->fn(io);
	}
	run_timers(loop);
	run_deferred(loop);
	return n > 0 ? n : 0;
}

int loop_run(struct loop *loop)
{
	while (!atomic_load_explicit(&loop->stop, memory_order_relaxed))
		if (loop_run_once(loop, -1) < 0)
			return -1;
	/* Work queued on the way out still runs: callers free memory there. */
	while (loop->defer_head)
		run_deferred(loop);
	return 0;
}
