/* The event loop: the timer heap, cached io readiness, closing an io with its
 * event still in the batch, deferred work, and the two cross-thread calls
 * (loop_post, loop_stop).
 *
 * Every test that runs the loop arms a 2 s guard timer that stops it and
 * records that it fired: a broken loop fails the test instead of hanging it. */
#include <errno.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "core/loop.h"
#include "t.h"

static struct loop *tl; /* the loop under test */
static struct timer guard;
static bool guard_fired;

static void guard_fn(struct timer *t)
{
	(void)t;
	guard_fired = true;
	loop_stop(tl);
}

/* A fresh loop with its guard armed. */
static struct loop *loop_with_guard(void)
{
	tl = loop_new();
	if (tl == NULL)
		return NULL;
	guard_fired = false;
	memset(&guard, 0, sizeof(guard));
	guard.fn = guard_fn;
	loop_timer_set(tl, &guard, 2000);
	return tl;
}

static void loop_done(void)
{
	CHECK(!guard_fired);
	loop_timer_stop(tl, &guard);
	loop_free(tl);
	tl = NULL;
}

/* xorshift64: the same "random" timers on every run. */
static uint64_t rng_state;

static uint32_t rng(uint32_t below)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return (uint32_t)(rng_state % below);
}

TEST(loop_time_is_cached)
{
	struct loop *loop = loop_new();
	CHECK(loop != NULL);
	if (loop == NULL)
		return;
	uint64_t t0 = loop_now(loop);
	CHECK(t0 != 0);
	CHECK_EQ(loop_now(loop), t0);
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	uint64_t mono = (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
	loop_update_time(loop);
	CHECK(loop_now(loop) >= t0);
	CHECK(loop_now(loop) >= mono && loop_now(loop) <= mono + 1000);
	int64_t wall = (int64_t)time(NULL);
	CHECK(loop_wall(loop) >= wall - 2 && loop_wall(loop) <= wall + 2);
	CHECK(!loop_stopping(loop));
	loop_free(loop);
}

/* ---- timers ---- */

#define NTIMERS 400

struct ttimer {
	struct timer t;
	int id;
	uint64_t deadline; /* t.when when last armed */
	bool armed;        /* what the test believes */
	int fired;
	int victim;         /* another timer this one stops when it fires, or -1 */
	bool rearm_on_fire; /* re-arm itself once, at a random delay */
};

static struct ttimer tt[NTIMERS];
static uint64_t last_deadline;
static int fires_left, order_errors, early_errors, stopped_fired, count_errors;
static size_t believed_armed;

static void tt_arm(struct ttimer *x, uint64_t ms)
{
	if (!x->armed)
		believed_armed++;
	loop_timer_set(tl, &x->t, ms);
	x->armed = true;
	x->deadline = x->t.when;
}

static void tt_stop(struct ttimer *x)
{
	if (x->armed)
		believed_armed--;
	loop_timer_stop(tl, &x->t);
	x->armed = false;
}

static void tt_fire(struct timer *t)
{
	struct ttimer *x = container_of(t, struct ttimer, t);
	if (!x->armed) {
		stopped_fired++;
		return;
	}
	x->armed = false;
	believed_armed--;
	x->fired++;
	if (x->deadline < last_deadline)
		order_errors++;
	if (x->deadline > loop_now(tl))
		early_errors++;
	last_deadline = x->deadline;
	/* Every armed timer but this one (already out of the heap) and the guard. */
	if (loop_timer_count(tl) != believed_armed + 1)
		count_errors++;
	if (timer_armed(t))
		count_errors++;

	if (x->victim >= 0 && tt[x->victim].armed) {
		tt_stop(&tt[x->victim]); /* wherever it sits in the heap */
		fires_left--;
	}
	if (x->rearm_on_fire) {
		x->rearm_on_fire = false;
		tt_arm(x, 1 + rng(20));
		fires_left++;
	}
	if (--fires_left == 0)
		loop_stop(tl);
}

TEST(loop_timers_fire_in_deadline_order)
{
	struct loop *loop = loop_with_guard();
	CHECK(loop != NULL);
	if (loop == NULL)
		return;
	rng_state = 0x9e3779b97f4a7c15u;
	memset(tt, 0, sizeof(tt));
	last_deadline = 0;
	order_errors = early_errors = stopped_fired = count_errors = 0;
	believed_armed = 0;

	for (int i = 0; i < NTIMERS; i++) {
		tt[i].id = i;
		tt[i].t.fn = tt_fire;
		tt[i].victim = -1;
		tt_arm(&tt[i], rng(40));
	}
	CHECK_EQ(loop_timer_count(loop), NTIMERS + 1);
	/* Re-arm a third, earlier or later (the heap moves them up or down). */
	for (int i = 0; i < NTIMERS; i += 3)
		tt_arm(&tt[i], rng(40));
	CHECK_EQ(loop_timer_count(loop), NTIMERS + 1);
	/* Stop every fifth: these sit anywhere in the heap, mostly the middle. */
	int stopped = 0;
	for (int i = 2; i < NTIMERS; i += 5) {
		tt_stop(&tt[i]);
		stopped++;
	}
	CHECK_EQ(loop_timer_count(loop), NTIMERS - stopped + 1);
	CHECK_EQ(believed_armed, NTIMERS - stopped);
	/* Stopping a stopped timer changes nothing. */
	loop_timer_stop(loop, &tt[2].t);
	CHECK_EQ(loop_timer_count(loop), NTIMERS - stopped + 1);
	/* While running: some timers stop another, some re-arm themselves once. */
	for (int i = 0; i < NTIMERS; i += 7)
		tt[i].victim = (int)rng(NTIMERS);
	for (int i = 1; i < NTIMERS; i += 4)
		tt[i].rearm_on_fire = true;

	fires_left = (int)believed_armed;
	CHECK_EQ(loop_run(loop), 0);

	CHECK_EQ(fires_left, 0);
	CHECK_EQ(order_errors, 0);
	CHECK_EQ(early_errors, 0);
	CHECK_EQ(stopped_fired, 0);
	CHECK_EQ(count_errors, 0);
	CHECK_EQ(believed_armed, 0);
	int total = 0, twice = 0;
	for (int i = 0; i < NTIMERS; i++) {
		CHECK(!timer_armed(&tt[i].t));
		total += tt[i].fired;
		twice += tt[i].fired == 2;
		if (i % 5 == 2)
			CHECK_EQ(tt[i].fired, 0); /* stopped before the run */
	}
	CHECK(total > NTIMERS / 2);
	CHECK(twice > 0);
	CHECK_EQ(loop_timer_count(loop), 1); /* the guard */
	loop_done();
}

TEST(loop_timer_heap_stop_anywhere)
{
	/* No run: arm, stop from every position, and the count follows. */
	struct loop *loop = loop_new();
	CHECK(loop != NULL);
	if (loop == NULL)
		return;
	tl = loop;
	rng_state = 12345;
	memset(tt, 0, sizeof(tt));
	believed_armed = 0;
	for (int i = 0; i < NTIMERS; i++) {
		tt[i].t.fn = tt_fire;
		tt_arm(&tt[i], 1 + rng(1000));
	}
	CHECK_EQ(loop_timer_count(loop), NTIMERS);
	int errors = 0;
	for (int n = NTIMERS; n > 0; n--) {
		int i;
		do
			i = (int)rng(NTIMERS);
		while (!tt[i].armed);
		tt_stop(&tt[i]);
		if (timer_armed(&tt[i].t) || loop_timer_count(loop) != (size_t)n - 1)
			errors++;
	}
	CHECK_EQ(errors, 0);
	CHECK_EQ(loop_timer_count(loop), 0);
	loop_free(loop);
	tl = NULL;
}

static struct timer self_timer;
static int self_fires;
static uint64_t self_at[4];

static void self_rearm_fn(struct timer *t)
{
	self_at[self_fires++] = loop_now(tl);
	if (self_fires < 4)
		loop_timer_set(tl, t, 5);
	else
		loop_stop(tl);
}

TEST(loop_timer_rearmed_from_own_callback)
{
	struct loop *loop = loop_with_guard();
	CHECK(loop != NULL);
	if (loop == NULL)
		return;
	memset(&self_timer, 0, sizeof(self_timer));
	self_timer.fn = self_rearm_fn;
	self_fires = 0;
	uint64_t start = loop_now(loop);
	loop_timer_set(loop, &self_timer, 5);
	CHECK(timer_armed(&self_timer));
	CHECK_EQ(loop_run(loop), 0);
	CHECK_EQ(self_fires, 4);
	CHECK(self_at[0] >= start + 5);
	for (int i = 1; i < 4; i++)
		CHECK(self_at[i] >= self_at[i - 1] + 5);
	CHECK(!timer_armed(&self_timer));
	CHECK_EQ(loop_timer_count(loop), 1);
	loop_done();
}

/* A delay as long as a stack file allows ("timeout_client = 213503982334d")
 * must not wrap around the clock into "due now". */
static struct timer huge_timer, soon_timer;
static bool huge_fired;

static void huge_fn(struct timer *t)
{
	(void)t;
	huge_fired = true;
}

static void soon_fn(struct timer *t)
{
	(void)t;
	loop_stop(tl);
}

TEST(loop_timer_huge_delay_does_not_wrap)
{
	struct loop *loop = loop_with_guard();
	CHECK(loop != NULL);
	if (loop == NULL)
		return;
	memset(&huge_timer, 0, sizeof(huge_timer));
	memset(&soon_timer, 0, sizeof(soon_timer));
	huge_timer.fn = huge_fn;
	soon_timer.fn = soon_fn;
	huge_fired = false;
	loop_timer_set(loop, &huge_timer, UINT64_MAX);
	CHECK(timer_armed(&huge_timer));
	CHECK(huge_timer.when > loop_now(loop));
	loop_timer_set(loop, &soon_timer, 10);
	CHECK_EQ(loop_run(loop), 0);
	CHECK(!huge_fired);
	CHECK(timer_armed(&huge_timer));
	/* Re-armed with a huge delay, it stays far away too. */
	loop_timer_set(loop, &huge_timer, UINT64_MAX - 1);
	CHECK(huge_timer.when > loop_now(loop));
	loop_timer_stop(loop, &huge_timer);
	loop_done();
}

/* A defer counts loop turns: it runs once at the end of each. */
static struct defer turn_defer;
static int turns;
static struct timer zero_timer, other_zero;
static int zero_fires, other_fires, zero_same_turn;
static int zero_fire_turn[3];

static void turn_fn(struct defer *d)
{
	(void)d;
	turns++;
}

static void other_zero_fn(struct timer *t)
{
	(void)t;
	other_fires++;
	if (turns == zero_fire_turn[0])
		zero_same_turn++;
}

static void zero_fn(struct timer *t)
{
	zero_fire_turn[zero_fires++] = turns;
	loop_defer(tl, &turn_defer, turn_fn);
	if (zero_fires == 1)
		loop_timer_set(tl, &other_zero, 0); /* another timer, for "now" */
	if (zero_fires < 3)
		loop_timer_set(tl, t, 0); /* itself, for "now" */
	else
		loop_stop(tl);
}

TEST(loop_timer_zero_fires_next_turn)
{
	struct loop *loop = loop_with_guard();
	CHECK(loop != NULL);
	if (loop == NULL)
		return;
	memset(&zero_timer, 0, sizeof(zero_timer));
	memset(&other_zero, 0, sizeof(other_zero));
	memset(&turn_defer, 0, sizeof(turn_defer));
	zero_timer.fn = zero_fn;
	other_zero.fn = other_zero_fn;
	turns = zero_fires = other_fires = zero_same_turn = 0;

	/* Armed for 0 before the run: due on the first turn. */
	loop_timer_set(loop, &zero_timer, 0);
	CHECK(timer_armed(&zero_timer));
	CHECK_EQ(loop_run(loop), 0);

	CHECK_EQ(zero_fires, 3);
	CHECK_EQ(zero_fire_turn[0], 0);
	/* Re-armed for 0 from a timer callback: the next turn, not the same pass
	 * again (which would spin forever on a timer that keeps re-arming). */
	CHECK_EQ(zero_fire_turn[1], 1);
	CHECK_EQ(zero_fire_turn[2], 2);
	CHECK_EQ(other_fires, 1);
	CHECK_EQ(zero_same_turn, 0);
	loop_done();
}

/* ---- stepping the loop, and moving its clock ---- */

static int stepped_fires;

static void stepped_fn(struct timer *t)
{
	(void)t;
	stepped_fires++;
}

TEST(loop_run_once_and_advance)
{
	struct loop *loop = loop_new();
	CHECK(loop != NULL);
	if (loop == NULL)
		return;
	struct timer t = { .fn = stepped_fn };
	stepped_fires = 0;
	uint64_t before = loop_now(loop);
	int64_t wall = loop_wall(loop);
	loop_timer_set(loop, &t, 60000);
	/* The first turn reports the wake eventfd's first edge (writable);
	 * then a turn that finds nothing ready returns at once, firing nothing. */
	CHECK(loop_run_once(loop, 0) >= 0);
	CHECK_EQ(loop_run_once(loop, 0), 0);
	CHECK_EQ(stepped_fires, 0);
	CHECK(timer_armed(&t));
	/* A minute passes at once: the timer is due on the next turn. */
	loop_advance(loop, 60000);
	CHECK(loop_now(loop) >= before + 60000);
	CHECK(loop_wall(loop) >= wall + 60);
	CHECK_EQ(loop_run_once(loop, 0), 0);
	CHECK_EQ(stepped_fires, 1);
	CHECK(!timer_armed(&t));
	/* The clock stays ahead: it does not fall back on the next turn. */
	uint64_t ahead = loop_now(loop);
	CHECK_EQ(loop_run_once(loop, 0), 0);
	CHECK(loop_now(loop) >= ahead);
	/* Events are counted: a post wakes the loop through its eventfd. */
	CHECK_EQ(loop_post(loop, (void (*)(void *))free, malloc(1)), 0);
	CHECK_EQ(loop_run_once(loop, 1000), 1);
	loop_free(loop);
}

/* ---- io readiness ---- */

struct watch {
	struct io io;
	int peer;
	int calls;
	uint32_t seen[8];
	char got[16];
	size_t ngot;
	bool eof;
};

static void watch_fn(struct io *io)
{
	struct watch *w = container_of(io, struct watch, io);
	if (w->calls < 8)
		w->seen[w->calls] = io->ready;
	w->calls++;
	if (w->calls == 1) {
		/* Registered, nothing sent yet: writable only. Send some bytes. */
		CHECK_EQ(write(w->peer, "hello", 5), 5);
		return;
	}
	while (io->ready & IO_READ) {
		ssize_t r = read(io->fd, w->got + w->ngot, sizeof(w->got) - w->ngot);
		if (r > 0) {
			w->ngot += (size_t)r;
		} else if (r == 0) {
			w->eof = true;
			loop_stop(tl);
			return;
		} else {
			CHECK_EQ(errno, EAGAIN);
			io->ready &= ~IO_READ; /* the owner's part of the contract */
		}
	}
	if (w->ngot == 5 && w->peer >= 0) {
		close(w->peer);
		w->peer = -1;
	}
}

TEST(loop_io_readiness_cached)
{
	struct loop *loop = loop_with_guard();
	CHECK(loop != NULL);
	if (loop == NULL)
		return;
	int sv[2];
	CHECK_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
	struct watch w = { .peer = sv[1] };
	CHECK_EQ(loop_io_add(loop, &w.io, sv[0], watch_fn), 0);
	CHECK_EQ(w.io.fd, sv[0]);
	CHECK_EQ(w.io.ready, 0);
	CHECK(w.io.loop == loop);
	CHECK_EQ(loop_run(loop), 0);

	CHECK(w.calls >= 3);
	CHECK_EQ(w.seen[0], IO_WRITE);
	/* Bytes arrived: IO_READ, no HUP yet. */
	CHECK(w.seen[1] & IO_READ);
	CHECK(!(w.seen[1] & IO_HUP));
	CHECK(w.seen[1] & IO_WRITE); /* still cached */
	/* The peer closed: IO_HUP, with IO_READ to read the end of stream. */
	uint32_t last = w.seen[MIN(w.calls, 8) - 1];
	CHECK((last & (IO_HUP | IO_READ)) == (IO_HUP | IO_READ));
	CHECK(w.eof);
	CHECK_EQ(w.ngot, 5);
	CHECK(memcmp(w.got, "hello", 5) == 0);

	loop_io_close(&w.io);
	CHECK_EQ(w.io.fd, -1);
	CHECK_EQ(w.io.ready, 0);
	loop_io_close(&w.io); /* idempotent */
	loop_done();
}

TEST(loop_io_del_keeps_fd_open)
{
	struct loop *loop = loop_new();
	CHECK(loop != NULL);
	if (loop == NULL)
		return;
	int sv[2];
	CHECK_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
	struct io io;
	CHECK_EQ(loop_io_add(loop, &io, sv[0], NULL), 0);
	loop_io_del(&io);
	CHECK_EQ(io.fd, -1);
	CHECK_EQ(write(sv[0], "x", 1), 1); /* still ours, still open */
	/* And it can be watched again, by another loop even. */
	struct loop *other = loop_new();
	CHECK_EQ(loop_io_add(other, &io, sv[0], NULL), 0);
	loop_io_close(&io);
	CHECK_EQ(io.fd, -1);
	CHECK_EQ(send(sv[1], "x", 1, MSG_NOSIGNAL), -1); /* peer gone: it was closed */
	close(sv[1]);
	loop_free(other);
	loop_free(loop);
}

/* ---- closing an io whose event is still queued in the batch ---- */

struct pair_io {
	struct io io;
	struct defer d;
	int peer;
	int idx;
};

static struct pair_io *pair[2];
static int pair_calls, pair_freed;

static void pair_free(struct defer *d)
{
	struct pair_io *p = container_of(d, struct pair_io, d);
	close(p->peer);
	free(p); /* a later dispatch would be a use-after-free: ASan catches it */
	pair_freed++;
	loop_stop(tl);
}

static void pair_fn(struct io *io)
{
	struct pair_io *p = container_of(io, struct pair_io, io);
	pair_calls++;
	struct pair_io *other = pair[1 - p->idx];
	if (other != NULL) {
		/* The other io's event is in this same batch (both were writable at
		 * once); it must not be dispatched once closed. */
		loop_io_close(&other->io);
		loop_defer(tl, &other->d, pair_free);
		pair[1 - p->idx] = NULL;
	}
}

TEST(loop_io_close_skips_queued_event)
{
	struct loop *loop = loop_with_guard();
	CHECK(loop != NULL);
	if (loop == NULL)
		return;
	pair_calls = pair_freed = 0;
	for (int i = 0; i < 2; i++) {
		int sv[2];
		CHECK_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
		pair[i] = calloc(1, sizeof(*pair[i]));
		pair[i]->idx = i;
		pair[i]->peer = sv[1];
		CHECK_EQ(loop_io_add(loop, &pair[i]->io, sv[0], pair_fn), 0);
	}
	CHECK_EQ(loop_run(loop), 0);
	CHECK_EQ(pair_calls, 1);
	CHECK_EQ(pair_freed, 1);
	struct pair_io *survivor = pair[0] ? pair[0] : pair[1];
	CHECK(survivor != NULL && (pair[0] == NULL || pair[1] == NULL));
	if (survivor != NULL) {
		loop_io_close(&survivor->io);
		close(survivor->peer);
		free(survivor);
	}
	pair[0] = pair[1] = NULL;
	loop_done();
}

/* ---- deferred work ---- */

static struct defer dd;
static int dd_runs, dd_io_calls, dd_io_calls_at_first_run, dd_queued_twice;
static bool dd_queued_in_fn;

static void dd_fn(struct defer *d)
{
	if (++dd_runs > 100) {
		/* Queued twice, it is linked to itself: the batch never ends and the
		 * guard cannot fire. Fail loudly rather than hang. */
		t_check(0, __FILE__, __LINE__, "a deferred fn runs over and over");
		abort();
	}
	if (d->queued)
		dd_queued_in_fn = true;
	if (dd_runs == 1) {
		dd_io_calls_at_first_run = dd_io_calls;
		/* No longer queued: queueing it again from its own fn works. */
		loop_defer(tl, d, dd_fn);
	} else {
		loop_stop(tl);
	}
}

static void dd_io_fn(struct io *io)
{
	(void)io;
	dd_io_calls++;
	loop_defer(tl, &dd, dd_fn);
	loop_defer(tl, &dd, dd_fn); /* idempotent while queued */
	if (dd.queued && dd_runs == 0)
		dd_queued_twice++;
}

TEST(loop_defer_after_batch_once)
{
	struct loop *loop = loop_with_guard();
	CHECK(loop != NULL);
	if (loop == NULL)
		return;
	memset(&dd, 0, sizeof(dd));
	dd_runs = dd_io_calls = dd_io_calls_at_first_run = dd_queued_twice = 0;
	dd_queued_in_fn = false;
	struct io ios[3];
	int peers[3];
	for (int i = 0; i < 3; i++) {
		int sv[2];
		CHECK_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
		peers[i] = sv[1];
		CHECK_EQ(loop_io_add(loop, &ios[i], sv[0], dd_io_fn), 0);
	}
	CHECK_EQ(loop_run(loop), 0);
	/* Three ios in one batch queued it six times: it ran once after all three,
	 * then once more because its own fn queued it again. */
	CHECK_EQ(dd_io_calls, 3);
	CHECK_EQ(dd_io_calls_at_first_run, 3);
	CHECK_EQ(dd_queued_twice, 3);
	CHECK_EQ(dd_runs, 2);
	CHECK(!dd_queued_in_fn);
	CHECK(!dd.queued);
	for (int i = 0; i < 3; i++) {
		loop_io_close(&ios[i]);
		close(peers[i]);
	}
	loop_done();
}

static struct defer exit_defer;
static bool exit_defer_ran;

static void exit_defer_fn(struct defer *d)
{
	(void)d;
	exit_defer_ran = true;
}

static void stop_and_defer_fn(struct timer *t)
{
	(void)t;
	loop_stop(tl);
	loop_defer(tl, &exit_defer, exit_defer_fn);
}

TEST(loop_defer_runs_on_the_way_out)
{
	struct loop *loop = loop_with_guard();
	CHECK(loop != NULL);
	if (loop == NULL)
		return;
	/* Stopped from a timer: the deferred work of that last turn still runs. */
	memset(&exit_defer, 0, sizeof(exit_defer));
	exit_defer_ran = false;
	struct timer t = { .fn = stop_and_defer_fn };
	loop_timer_set(loop, &t, 1);
	CHECK_EQ(loop_run(loop), 0);
	CHECK(exit_defer_ran);
	CHECK(loop_stopping(loop));
	loop_done();

	/* Stopped before it ran: loop_run returns at once, and still runs what
	 * was deferred (callers free memory there). */
	loop = loop_with_guard();
	CHECK(loop != NULL);
	if (loop == NULL)
		return;
	exit_defer_ran = false;
	loop_defer(loop, &exit_defer, exit_defer_fn);
	loop_stop(loop);
	CHECK(loop_stopping(loop));
	CHECK_EQ(loop_run(loop), 0);
	CHECK(exit_defer_ran);
	CHECK(!exit_defer.queued);
	loop_done();
}

/* ---- other threads: loop_post and loop_stop ---- */

#define NPOSTS 200

static pthread_t loop_thread;
static int posts_ran, posts_out_of_order, posts_wrong_thread;
static int post_args[NPOSTS];
static atomic_int post_failures;

static void post_fn(void *arg)
{
	int i = *(int *)arg;
	if (i != posts_ran)
		posts_out_of_order++;
	if (!pthread_equal(pthread_self(), loop_thread))
		posts_wrong_thread++;
	if (++posts_ran == NPOSTS)
		loop_stop(tl);
}

static void *poster(void *arg)
{
	struct loop *loop = arg;
	for (int i = 0; i < NPOSTS; i++)
		if (loop_post(loop, post_fn, &post_args[i]) != 0)
			atomic_fetch_add(&post_failures, 1);
	return NULL;
}

TEST(loop_post_from_another_thread)
{
	struct loop *loop = loop_with_guard();
	CHECK(loop != NULL);
	if (loop == NULL)
		return;
	loop_thread = pthread_self();
	posts_ran = posts_out_of_order = posts_wrong_thread = 0;
	atomic_store(&post_failures, 0);
	for (int i = 0; i < NPOSTS; i++)
		post_args[i] = i;
	pthread_t th;
	CHECK_EQ(pthread_create(&th, NULL, poster, loop), 0);
	CHECK_EQ(loop_run(loop), 0);
	pthread_join(th, NULL);
	CHECK_EQ(atomic_load(&post_failures), 0);
	CHECK_EQ(posts_ran, NPOSTS);
	CHECK_EQ(posts_out_of_order, 0);
	CHECK_EQ(posts_wrong_thread, 0);
	loop_done();
}

static void never_run(void *arg)
{
	(void)arg;
	t_check(0, __FILE__, __LINE__, "a post to a loop that never ran ran");
}

TEST(loop_free_drops_pending_posts)
{
	/* Posted, never run: loop_free releases them (ASan checks the memory). */
	struct loop *loop = loop_new();
	CHECK(loop != NULL);
	if (loop == NULL)
		return;
	CHECK_EQ(loop_post(loop, never_run, NULL), 0);
	CHECK_EQ(loop_post(loop, never_run, NULL), 0);
	loop_free(loop);
}

static sem_t loop_running;
static bool stopper_waited;

static void running_fn(struct timer *t)
{
	(void)t;
	sem_post(&loop_running);
}

static void *stopper(void *arg)
{
	struct timespec until;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += 3;
	/* Wait until the loop is inside loop_run, so the stop has to wake it from
	 * epoll_wait (it has nothing to do for 2 s). */
	stopper_waited = sem_timedwait(&loop_running, &until) == 0;
	loop_stop(arg);
	return NULL;
}

TEST(loop_stop_from_another_thread)
{
	struct loop *loop = loop_with_guard();
	CHECK(loop != NULL);
	if (loop == NULL)
		return;
	CHECK_EQ(sem_init(&loop_running, 0, 0), 0);
	stopper_waited = false;
	struct timer t = { .fn = running_fn };
	loop_timer_set(loop, &t, 0);
	pthread_t th;
	CHECK_EQ(pthread_create(&th, NULL, stopper, loop), 0);
	CHECK_EQ(loop_run(loop), 0);
	pthread_join(th, NULL);
	CHECK(stopper_waited);
	CHECK(loop_stopping(loop));
	sem_destroy(&loop_running);
	loop_done(); /* the guard did not fire: the stop woke the loop */
}
