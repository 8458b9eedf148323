/* ratelimit.h - the LB's limits per client address (lb_rl_*), as HAProxy's
 * stick tables and nginx's limit_req + limit_conn.
 *
 * Each address has two GCRA buckets (nginx's leaky bucket: a theoretical
 * arrival time per bucket, no timers), one for every request and one for
 * writes (methods other than GET, HEAD, OPTIONS), and a count of its open
 * connections. A write must pass both buckets; a refused request uses up
 * nothing, so an address that backs off is served again at the rate.
 *
 * The table has a fixed size, set at creation: it is split into shards,
 * each with its own mutex, a fixed array of entries and a hash chain per
 * bucket, so a lookup takes one uncontended lock and allocates nothing.
 * Entries with open connections are pinned; the others form an LRU list
 * per shard. A new address takes a free entry, else the least recently
 * seen unpinned one: an eviction, counted when that entry still held state
 * (a bucket not yet full again), since then an address got a fresh budget.
 * Entries whose buckets are full again and that have no connection hold no
 * state: they are freed as lookups pass them (expiry), so the size gauge
 * says how many addresses are being limited or connected.
 *
 * Keys: IPv4 addresses whole; IPv6 addresses by their /64 (one host or
 * home gets a /64; keyed per /128 an attacker has 2^64 keys). Chains are
 * keyed with a random seed per table, so addresses cannot be chosen to
 * fall into one chain.
 *
 * The table outlives configurations: each generation of the LB holds a
 * reference (lb_rl_ref), so counters and connection counts go on across a
 * reload, and the last generation to let go frees it. Any thread may call
 * any function.
 */
#ifndef TS_LB_RATELIMIT_H
#define TS_LB_RATELIMIT_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

struct lb_rl_table;

/* A GCRA rate: one request per interval, up to burst at once (tolerance =
 * (burst - 1) x interval). interval 0: off. */
struct lb_rl_rate {
	uint64_t interval_ns;
	uint64_t tolerance_ns;
};

struct lb_rl_limits {
	struct lb_rl_rate req, write;
	unsigned conns; /* open connections per address; 0: no limit */
};

/* A client address: 16 bytes, IPv4 as ::ffff:a.b.c.d, IPv6 cut to /64. */
struct lb_rl_key {
	uint64_t hi, lo;
};

/* What a check says. */
enum lb_rl_verdict {
	LB_RL_OK,
	LB_RL_REQ,   /* over the request rate */
	LB_RL_WRITE, /* over the write rate */
	LB_RL_CONN,  /* over the connection limit */
	LB_RL_FULL,  /* no entry free or evictable: every one has connections */
};

/* count per period_ms, burst at once (burst >= 1); count 0: off. */
struct lb_rl_rate lb_rl_rate_make(uint32_t count, uint32_t period_ms, uint32_t burst);

/* GCRA, pure: 0 when a request at now conforms to r given the bucket's
 * theoretical arrival time tat, else how long (ns) until one would. */
uint64_t lb_rl_gcra_wait(uint64_t tat, const struct lb_rl_rate *r, uint64_t now);
/* The request at now is taken: the new tat. */
uint64_t lb_rl_gcra_take(uint64_t tat, const struct lb_rl_rate *r, uint64_t now);

/* The key of a peer address (sockaddr_in or sockaddr_in6; others: all 0). */
struct lb_rl_key lb_rl_key_of(const struct sockaddr *sa);

/* A table of at least size entries (shared out over nshards, a power of 2
 * up to 256); seed keys the hash. The caller holds one reference. */
struct lb_rl_table *lb_rl_new(unsigned size, unsigned nshards, uint64_t seed);
unsigned lb_rl_capacity(const struct lb_rl_table *t);
void lb_rl_ref(struct lb_rl_table *t);
/* Drop a reference; the last frees the table. NULL is fine. */
void lb_rl_unref(struct lb_rl_table *t);

/* A request from k at now (monotonic ns): LB_RL_OK (taken), LB_RL_REQ or
 * LB_RL_WRITE with *retry_ns set. An address with no entry and no room
 * (LB_RL_FULL) is let through: it holds no connection of ours. */
enum lb_rl_verdict lb_rl_request(struct lb_rl_table *t, struct lb_rl_key k,
                                 const struct lb_rl_limits *l, bool write, uint64_t now,
                                 uint64_t *retry_ns);
/* A connection from k opens: LB_RL_OK (counted: call lb_rl_conn_close
 * when it closes), LB_RL_CONN or LB_RL_FULL (refused, not counted). */
enum lb_rl_verdict lb_rl_conn_open(struct lb_rl_table *t, struct lb_rl_key k,
                                   const struct lb_rl_limits *l, uint64_t now);
void lb_rl_conn_close(struct lb_rl_table *t, struct lb_rl_key k, uint64_t now);

/* For metrics and tests; any thread, without locks (a moment's view). */
unsigned lb_rl_entries(const struct lb_rl_table *t); /* in use */
uint64_t lb_rl_evictions(const struct lb_rl_table *t);
/* Open connections counted for k (tests). */
unsigned lb_rl_conns(struct lb_rl_table *t, struct lb_rl_key k);

/* CLOCK_MONOTONIC in ns. */
uint64_t lb_rl_now(void);

#endif
