/* The LB's limits per client address (src/lb/ratelimit.c): GCRA arithmetic
 * to the nanosecond, keys (IPv4, IPv4-mapped, IPv6 by /64), and the table:
 * requests and writes refused without using anything up, connection counts,
 * expiry of entries that hold nothing, a bounded size with evictions
 * counted, pinned entries, and exact counts under threads. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>

#include "lb/ratelimit.h"
#include "t.h"

#define MS 1000000ull
#define S  1000000000ull

TEST(rl_rate_make)
{
	struct lb_rl_rate r = lb_rl_rate_make(100, 1000, 200);
	CHECK_EQ(r.interval_ns, 10 * MS);
	CHECK_EQ(r.tolerance_ns, 199 * 10 * MS);
	r = lb_rl_rate_make(30, 60000, 1);
	CHECK_EQ(r.interval_ns, 2 * S);
	CHECK_EQ(r.tolerance_ns, 0);
	r = lb_rl_rate_make(0, 1000, 5);
	CHECK_EQ(r.interval_ns, 0);
	r = lb_rl_rate_make(100000000, 1000, 1); /* 1e8/s: 10 ns apart */
	CHECK_EQ(r.interval_ns, 10);
}

TEST(rl_gcra_burst_then_the_rate)
{
	struct lb_rl_rate r = lb_rl_rate_make(10, 1000, 3); /* 100 ms apart, 3 at once */
	uint64_t now = 1000 * S, tat = 0;
	for (int i = 0; i < 3; i++) {
		CHECK_EQ(lb_rl_gcra_wait(tat, &r, now), 0);
		tat = lb_rl_gcra_take(tat, &r, now);
	}
	/* the 4th at the same instant waits exactly one interval */
	CHECK_EQ(lb_rl_gcra_wait(tat, &r, now), 100 * MS);
	CHECK_EQ(lb_rl_gcra_wait(tat, &r, now + 99 * MS), 1 * MS);
	CHECK_EQ(lb_rl_gcra_wait(tat, &r, now + 100 * MS), 0);
	tat = lb_rl_gcra_take(tat, &r, now + 100 * MS);
	CHECK_EQ(lb_rl_gcra_wait(tat, &r, now + 100 * MS), 100 * MS);
	/* idle long enough, the whole burst is back, no more */
	uint64_t later = now + 10 * S;
	for (int i = 0; i < 3; i++) {
		CHECK_EQ(lb_rl_gcra_wait(tat, &r, later), 0);
		tat = lb_rl_gcra_take(tat, &r, later);
	}
	CHECK(lb_rl_gcra_wait(tat, &r, later) > 0);
}

TEST(rl_gcra_steady_rate_never_waits)
{
	struct lb_rl_rate r = lb_rl_rate_make(100, 1000, 1);
	uint64_t tat = 0, now = 5 * S;
	for (int i = 0; i < 1000; i++, now += 10 * MS) {
		CHECK_EQ(lb_rl_gcra_wait(tat, &r, now), 0);
		tat = lb_rl_gcra_take(tat, &r, now);
	}
	CHECK_EQ(lb_rl_gcra_wait(tat, &r, now - 1), 1); /* a nanosecond early */
}

TEST(rl_gcra_off)
{
	struct lb_rl_rate r = lb_rl_rate_make(0, 1000, 0);
	CHECK_EQ(lb_rl_gcra_wait(UINT64_MAX, &r, 0), 0);
	CHECK_EQ(lb_rl_gcra_take(7, &r, 100), 7);
}

static struct lb_rl_key v4(const char *ip)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	inet_pton(AF_INET, ip, &a.sin_addr);
	return lb_rl_key_of((struct sockaddr *)&a);
}

static struct lb_rl_key v6(const char *ip)
{
	struct sockaddr_in6 a = { .sin6_family = AF_INET6 };
	inet_pton(AF_INET6, ip, &a.sin6_addr);
	return lb_rl_key_of((struct sockaddr *)&a);
}

static int key_eq(struct lb_rl_key a, struct lb_rl_key b)
{
	return a.hi == b.hi && a.lo == b.lo;
}

TEST(rl_keys)
{
	CHECK(key_eq(v4("192.0.2.1"), v6("::ffff:192.0.2.1")));
	CHECK(!key_eq(v4("192.0.2.1"), v4("192.0.2.2")));
	CHECK(key_eq(v6("2001:db8:1:2::1"), v6("2001:db8:1:2:ffff:ffff:ffff:ffff")));
	CHECK(!key_eq(v6("2001:db8:1:2::1"), v6("2001:db8:1:3::1")));
	CHECK(!key_eq(v4("0.0.0.1"), v6("::1")));
	struct sockaddr un = { .sa_family = AF_UNIX };
	CHECK(key_eq(lb_rl_key_of(&un), ((struct lb_rl_key){ 0, 0 })));
}

static const struct lb_rl_limits limits = {
	.req = { 10 * MS, 4 * 10 * MS },     /* 100/s burst 5 */
	.write = { 100 * MS, 1 * 100 * MS }, /* 10/s burst 2 */
	.conns = 2,
};

TEST(rl_requests_per_address)
{
	struct lb_rl_table *t = lb_rl_new(64, 4, 42);
	uint64_t now = 100 * S, retry = 0;
	struct lb_rl_key a = v4("10.0.0.1"), b = v4("10.0.0.2");
	for (int i = 0; i < 5; i++)
		CHECK_EQ(lb_rl_request(t, a, &limits, false, now, &retry), LB_RL_OK);
	CHECK_EQ(lb_rl_request(t, a, &limits, false, now, &retry), LB_RL_REQ);
	CHECK_EQ(retry, 10 * MS);
	/* refused requests use up nothing: still one interval */
	CHECK_EQ(lb_rl_request(t, a, &limits, false, now, &retry), LB_RL_REQ);
	CHECK_EQ(retry, 10 * MS);
	/* another address is not touched */
	CHECK_EQ(lb_rl_request(t, b, &limits, false, now, &retry), LB_RL_OK);
	CHECK_EQ(lb_rl_request(t, a, &limits, false, now + 10 * MS, &retry), LB_RL_OK);
	lb_rl_unref(t);
}

TEST(rl_writes_are_limited_before_reads)
{
	struct lb_rl_table *t = lb_rl_new(64, 1, 1);
	uint64_t now = 100 * S, retry = 0;
	struct lb_rl_key a = v6("2001:db8::1");
	CHECK_EQ(lb_rl_request(t, a, &limits, true, now, &retry), LB_RL_OK);
	CHECK_EQ(lb_rl_request(t, a, &limits, true, now, &retry), LB_RL_OK);
	CHECK_EQ(lb_rl_request(t, a, &limits, true, now, &retry), LB_RL_WRITE);
	CHECK_EQ(retry, 100 * MS);
	/* the refused write took nothing from the request bucket: 3 reads left */
	for (int i = 0; i < 3; i++)
		CHECK_EQ(lb_rl_request(t, a, &limits, false, now, &retry), LB_RL_OK);
	CHECK_EQ(lb_rl_request(t, a, &limits, false, now, &retry), LB_RL_REQ);
	/* 100 ms later both buckets have room again */
	CHECK_EQ(lb_rl_request(t, a, &limits, true, now + 100 * MS, &retry), LB_RL_OK);
	/* a write must pass both: an empty request bucket refuses it, and the
	 * write bucket keeps what it had */
	struct lb_rl_key b = v6("2001:db8:0:1::1");
	for (int i = 0; i < 5; i++)
		CHECK_EQ(lb_rl_request(t, b, &limits, false, now, &retry), LB_RL_OK);
	CHECK_EQ(lb_rl_request(t, b, &limits, true, now, &retry), LB_RL_REQ);
	CHECK_EQ(retry, 10 * MS);
	CHECK_EQ(lb_rl_request(t, b, &limits, true, now + 10 * MS, &retry), LB_RL_OK);
	CHECK_EQ(lb_rl_request(t, b, &limits, true, now + 20 * MS, &retry), LB_RL_OK);
	CHECK_EQ(lb_rl_request(t, b, &limits, true, now + 30 * MS, &retry), LB_RL_WRITE);
	lb_rl_unref(t);
}

TEST(rl_connection_limit)
{
	struct lb_rl_table *t = lb_rl_new(64, 2, 7);
	uint64_t now = 100 * S;
	struct lb_rl_key a = v4("10.0.0.1");
	CHECK_EQ(lb_rl_conn_open(t, a, &limits, now), LB_RL_OK);
	CHECK_EQ(lb_rl_conn_open(t, a, &limits, now), LB_RL_OK);
	CHECK_EQ(lb_rl_conn_open(t, a, &limits, now), LB_RL_CONN);
	CHECK_EQ(lb_rl_conns(t, a), 2);
	lb_rl_conn_close(t, a, now);
	CHECK_EQ(lb_rl_conns(t, a), 1);
	CHECK_EQ(lb_rl_conn_open(t, a, &limits, now), LB_RL_OK);
	lb_rl_conn_close(t, a, now);
	lb_rl_conn_close(t, a, now);
	CHECK_EQ(lb_rl_conns(t, a), 0);
	lb_rl_conn_close(t, a, now); /* one too many: ignored */
	CHECK_EQ(lb_rl_conns(t, a), 0);
	lb_rl_unref(t);
}

TEST(rl_entries_expire_when_they_hold_nothing)
{
	struct lb_rl_table *t = lb_rl_new(16, 1, 3);
	uint64_t now = 100 * S, retry;
	for (int i = 0; i < 10; i++) {
		struct lb_rl_key k = { 0, 0xffff0a000000ull + (uint64_t)i };
		lb_rl_request(t, k, &limits, false, now, &retry);
	}
	CHECK_EQ(lb_rl_entries(t), 10);
	/* the buckets are full again 50 ms later; each lookup frees a few */
	struct lb_rl_key other = v4("192.0.2.9");
	for (int i = 0; i < 10; i++)
		lb_rl_request(t, other, &limits, false, now + (uint64_t)(1 + i) * S, &retry);
	CHECK_EQ(lb_rl_entries(t), 1); /* other's own */
	CHECK_EQ(lb_rl_evictions(t), 0);
	lb_rl_unref(t);
}

TEST(rl_table_size_is_bounded_and_evictions_counted)
{
	struct lb_rl_table *t = lb_rl_new(8, 1, 5);
	CHECK_EQ(lb_rl_capacity(t), 8);
	uint64_t now = 100 * S, retry;
	/* 1000 addresses at one instant, each leaving state behind */
	for (uint64_t i = 0; i < 1000; i++) {
		struct lb_rl_key k = { 0x20010db800000000ull + i, 0 };
		CHECK_EQ(lb_rl_request(t, k, &limits, true, now, &retry), LB_RL_OK);
	}
	CHECK_EQ(lb_rl_entries(t), 8);
	CHECK_EQ(lb_rl_evictions(t), 1000 - 8);
	/* the most recent stay: the last address is still limited */
	struct lb_rl_key last = { 0x20010db800000000ull + 999, 0 };
	CHECK_EQ(lb_rl_request(t, last, &limits, true, now, &retry), LB_RL_OK);
	CHECK_EQ(lb_rl_request(t, last, &limits, true, now, &retry), LB_RL_WRITE);
	lb_rl_unref(t);
}

TEST(rl_connected_addresses_are_never_evicted)
{
	struct lb_rl_table *t = lb_rl_new(4, 1, 9);
	uint64_t now = 100 * S, retry;
	for (uint64_t i = 0; i < 4; i++)
		CHECK_EQ(lb_rl_conn_open(t, (struct lb_rl_key){ 1, i }, &limits, now), LB_RL_OK);
	/* no room: a fifth connection is refused, its requests let through */
	struct lb_rl_key fifth = { 2, 0 };
	CHECK_EQ(lb_rl_conn_open(t, fifth, &limits, now), LB_RL_FULL);
	CHECK_EQ(lb_rl_request(t, fifth, &limits, true, now, &retry), LB_RL_OK);
	CHECK_EQ(lb_rl_evictions(t), 0);
	for (uint64_t i = 0; i < 4; i++)
		CHECK_EQ(lb_rl_conns(t, (struct lb_rl_key){ 1, i }), 1);
	lb_rl_conn_close(t, (struct lb_rl_key){ 1, 0 }, now);
	CHECK_EQ(lb_rl_conn_open(t, fifth, &limits, now), LB_RL_OK);
	CHECK_EQ(lb_rl_conns(t, (struct lb_rl_key){ 1, 0 }), 0);
	lb_rl_unref(t);
}

struct hammer {
	struct lb_rl_table *t;
	int ok;
};

static void *hammer_run(void *arg)
{
	struct hammer *h = arg;
	static const struct lb_rl_limits burst1000 = { .req = { S, 999 * S } };
	uint64_t retry;
	for (int i = 0; i < 1000; i++) {
		struct lb_rl_key k = { 0, 0xffff7f000001ull };
		lb_rl_conn_open(h->t, k, &burst1000, 50 * S);
		h->ok += lb_rl_request(h->t, k, &burst1000, false, 50 * S, &retry) == LB_RL_OK;
		lb_rl_conn_close(h->t, k, 50 * S);
	}
	return NULL;
}

TEST(rl_threads_share_one_count)
{
	struct lb_rl_table *t = lb_rl_new(1024, 64, 11);
	struct hammer h[4];
	pthread_t th[4];
	for (int i = 0; i < 4; i++) {
		h[i] = (struct hammer){ t, 0 };
		pthread_create(&th[i], NULL, hammer_run, &h[i]);
	}
	int ok = 0;
	for (int i = 0; i < 4; i++) {
		pthread_join(th[i], NULL);
		ok += h[i].ok;
	}
	CHECK_EQ(ok, 1000); /* the burst, exactly, of 4000 at one instant */
	CHECK_EQ(lb_rl_conns(t, ((struct lb_rl_key){ 0, 0xffff7f000001ull })), 0);
	lb_rl_ref(t);
	lb_rl_unref(t);
	CHECK_EQ(lb_rl_entries(t), 1);
	lb_rl_unref(t);
}
