/* ratelimit.c - limits per client address: GCRA buckets and connection
 * counts in a fixed, sharded table. See ratelimit.h. */
#include "ratelimit.h"

#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/common.h"

/* Entry indexes are 1-based so that 0 can mean "none". */
#define NIL 0u
/* Lookups free at most this many expired entries each: bounded work. */
#define EXPIRE_PER_LOOKUP 2

struct rl_entry {
	struct lb_rl_key key;
	uint64_t tat, wtat;  /* the request and write buckets' arrival times */
	uint32_t conns;      /* open connections: pinned while > 0 */
	uint32_t chain;      /* next in its hash chain, or in the free list */
	uint32_t prev, next; /* LRU list, most recent first: unpinned only */
};

struct rl_shard {
	pthread_mutex_t lock;
	struct rl_entry *e; /* e[1..cap] */
	uint32_t *heads;    /* hash chains */
	uint32_t mask;      /* chains - 1 */
	uint32_t free_list;
	uint32_t lru_head, lru_tail;
	_Atomic uint32_t used;
	_Atomic uint64_t evictions;
} __attribute__((aligned(64))); /* no false sharing between shards */

struct lb_rl_table {
	uint64_t seed;
	unsigned nshards, shift, cap;
	_Atomic unsigned refs;
	struct rl_shard *shards;
};

/* ---- GCRA ---- */

struct lb_rl_rate lb_rl_rate_make(uint32_t count, uint32_t period_ms, uint32_t burst)
{
	if (count == 0)
		return (struct lb_rl_rate){ 0, 0 };
	uint64_t interval = (uint64_t)period_ms * 1000000u / count;
	if (interval == 0)
		interval = 1;
	return (struct lb_rl_rate){ interval, (uint64_t)(burst ? burst - 1 : 0) * interval };
}

uint64_t lb_rl_gcra_wait(uint64_t tat, const struct lb_rl_rate *r, uint64_t now)
{
	if (r->interval_ns == 0 || tat <= now)
		return 0;
	uint64_t ahead = tat - now;
	return ahead > r->tolerance_ns ? ahead - r->tolerance_ns : 0;
}

uint64_t lb_rl_gcra_take(uint64_t tat, const struct lb_rl_rate *r, uint64_t now)
{
	if (r->interval_ns == 0)
		return tat;
	return MAX(tat, now) + r->interval_ns;
}

/* ---- keys and hashing ---- */

struct lb_rl_key lb_rl_key_of(const struct sockaddr *sa)
{
	struct lb_rl_key k = { 0, 0 };
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)(const void *)sa;
		k.hi = 0;
		k.lo = 0xffff00000000ull | ntohl(in->sin_addr.s_addr);
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)(const void *)sa;
		const uint8_t *b = in6->sin6_addr.s6_addr;
		uint64_t hi = 0, lo = 0;
		for (int i = 0; i < 8; i++) {
			hi = hi << 8 | b[i];
			lo = lo << 8 | b[8 + i];
		}
		/* an IPv4-mapped address is that IPv4 address; others by /64 */
		bool mapped = IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr);
		k.hi = hi;
		k.lo = mapped ? lo : 0;
	}
	return k;
}

/* MurmurHash3's finalizer: every input bit moves every output bit. */
static uint64_t mix(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdull;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ull;
	x ^= x >> 33;
	return x;
}

static uint64_t key_hash(const struct lb_rl_table *t, struct lb_rl_key k)
{
	return mix(mix(k.hi ^ t->seed) ^ k.lo ^ (t->seed >> 7));
}

static bool key_eq(struct lb_rl_key a, struct lb_rl_key b)
{
	return a.hi == b.hi && a.lo == b.lo;
}

/* The top bits pick the shard, the low bits the chain within it. */
static struct rl_shard *shard_of(struct lb_rl_table *t, uint64_t h)
{
	return &t->shards[t->shift < 64 ? h >> t->shift : 0];
}

/* ---- the table ---- */

struct lb_rl_table *lb_rl_new(unsigned size, unsigned nshards, uint64_t seed)
{
	struct lb_rl_table *t = xcalloc(1, sizeof(*t));
	unsigned bits = 0;
	while ((1u << bits) < nshards && bits < 8)
		bits++;
	t->nshards = 1u << bits;
	t->shift = 64 - bits; /* 64: one shard */
	t->seed = seed;
	atomic_init(&t->refs, 1);
	uint32_t per = (size + t->nshards - 1) / t->nshards;
	per = MAX(per, 1u);
	uint32_t chains = 1;
	while (chains < per)
		chains <<= 1;
	t->cap = per * t->nshards;
	t->shards = xcalloc(t->nshards, sizeof(*t->shards));
	for (unsigned s = 0; s < t->nshards; s++) {
		struct rl_shard *sh = &t->shards[s];
		pthread_mutex_init(&sh->lock, NULL);
		sh->e = xcalloc((size_t)per + 1, sizeof(*sh->e));
		sh->heads = xcalloc(chains, sizeof(*sh->heads));
		sh->mask = chains - 1;
		for (uint32_t i = per; i >= 1; i--) {
			sh->e[i].chain = sh->free_list;
			sh->free_list = i;
		}
	}
	return t;
}

unsigned lb_rl_capacity(const struct lb_rl_table *t)
{
	return t->cap;
}

void lb_rl_ref(struct lb_rl_table *t)
{
	atomic_fetch_add(&t->refs, 1);
}

void lb_rl_unref(struct lb_rl_table *t)
{
	if (t == NULL || atomic_fetch_sub(&t->refs, 1) != 1)
		return;
	for (unsigned s = 0; s < t->nshards; s++) {
		pthread_mutex_destroy(&t->shards[s].lock);
		free(t->shards[s].e);
		free(t->shards[s].heads);
	}
	free(t->shards);
	free(t);
}

/* ---- inside a shard, under its lock ---- */

static void lru_unlink(struct rl_shard *sh, uint32_t i)
{
	struct rl_entry *e = &sh->e[i];
	if (e->prev)
		sh->e[e->prev].next = e->next;
	else
		sh->lru_head = e->next;
	if (e->next)
		sh->e[e->next].prev = e->prev;
	else
		sh->lru_tail = e->prev;
	e->prev = e->next = NIL;
}

static void lru_push(struct rl_shard *sh, uint32_t i)
{
	struct rl_entry *e = &sh->e[i];
	e->prev = NIL;
	e->next = sh->lru_head;
	if (sh->lru_head)
		sh->e[sh->lru_head].prev = i;
	else
		sh->lru_tail = i;
	sh->lru_head = i;
}

static uint32_t *chain_of(struct rl_shard *sh, uint64_t h)
{
	return &sh->heads[h & sh->mask];
}

static uint32_t find(struct rl_shard *sh, struct lb_rl_key k, uint64_t h)
{
	uint32_t i = *chain_of(sh, h);
	while (i && !key_eq(sh->e[i].key, k))
		i = sh->e[i].chain;
	return i;
}

/* Take entry i (unpinned) out of its chain and the LRU list. */
static void detach(struct lb_rl_table *t, struct rl_shard *sh, uint32_t i)
{
	uint32_t *link = chain_of(sh, key_hash(t, sh->e[i].key));
	while (*link != i)
		link = &sh->e[*link].chain;
	*link = sh->e[i].chain;
	lru_unlink(sh, i);
}

/* No connection and both buckets full again: nothing worth keeping. */
static bool holds_nothing(const struct rl_entry *e, uint64_t now)
{
	return e->conns == 0 && e->tat <= now && e->wtat <= now;
}

/* Free the least recently seen entries that hold nothing any more. */
static void expire(struct lb_rl_table *t, struct rl_shard *sh, uint64_t now)
{
	for (int n = 0; n < EXPIRE_PER_LOOKUP; n++) {
		uint32_t i = sh->lru_tail;
		if (i == NIL || !holds_nothing(&sh->e[i], now))
			return;
		detach(t, sh, i);
		sh->e[i].chain = sh->free_list;
		sh->free_list = i;
		atomic_fetch_sub_explicit(&sh->used, 1, memory_order_relaxed);
	}
}

/* k's entry, made if need be from a free one or the least recently seen
 * unpinned one; NIL when every entry is pinned. Most recent in the LRU. */
static uint32_t get(struct lb_rl_table *t, struct rl_shard *sh, struct lb_rl_key k, uint64_t h,
                    uint64_t now)
{
	uint32_t i = find(sh, k, h);
	if (i) {
		if (sh->e[i].conns == 0) {
			lru_unlink(sh, i);
			lru_push(sh, i);
		}
		return i;
	}
	if (sh->free_list) {
		i = sh->free_list;
		sh->free_list = sh->e[i].chain;
		atomic_fetch_add_explicit(&sh->used, 1, memory_order_relaxed);
	} else if (sh->lru_tail) {
		i = sh->lru_tail;
		if (!holds_nothing(&sh->e[i], now))
			atomic_fetch_add_explicit(&sh->evictions, 1, memory_order_relaxed);
		detach(t, sh, i);
	} else {
		return NIL;
	}
	uint32_t *head = chain_of(sh, h);
	sh->e[i] = (struct rl_entry){ .key = k, .chain = *head };
	*head = i;
	lru_push(sh, i);
	return i;
}

/* Lock k's shard, free what holds nothing there, and find or make k's
 * entry (*i; NIL when none can be had). The caller unlocks. */
static struct rl_shard *lock_entry(struct lb_rl_table *t, struct lb_rl_key k, uint64_t now,
                                   uint32_t *i)
{
	uint64_t h = key_hash(t, k);
	struct rl_shard *sh = shard_of(t, h);
	pthread_mutex_lock(&sh->lock);
	expire(t, sh, now);
	*i = get(t, sh, k, h, now);
	return sh;
}

/* ---- the API ---- */

enum lb_rl_verdict lb_rl_request(struct lb_rl_table *t, struct lb_rl_key k,
                                 const struct lb_rl_limits *l, bool write, uint64_t now,
                                 uint64_t *retry_ns)
{
	uint32_t i;
	struct rl_shard *sh = lock_entry(t, k, now, &i);
	enum lb_rl_verdict v = LB_RL_OK;
	if (i) {
		struct rl_entry *e = &sh->e[i];
		uint64_t ww = write ? lb_rl_gcra_wait(e->wtat, &l->write, now) : 0;
		uint64_t wr = lb_rl_gcra_wait(e->tat, &l->req, now);
		if (ww || wr) {
			/* the write limit is the stricter: name it when both refuse */
			v = ww ? LB_RL_WRITE : LB_RL_REQ;
			*retry_ns = MAX(ww, wr);
		} else {
			if (write)
				e->wtat = lb_rl_gcra_take(e->wtat, &l->write, now);
			e->tat = lb_rl_gcra_take(e->tat, &l->req, now);
		}
	}
	pthread_mutex_unlock(&sh->lock);
	return v;
}

enum lb_rl_verdict lb_rl_conn_open(struct lb_rl_table *t, struct lb_rl_key k,
                                   const struct lb_rl_limits *l, uint64_t now)
{
	uint32_t i;
	struct rl_shard *sh = lock_entry(t, k, now, &i);
	enum lb_rl_verdict v = LB_RL_OK;
	if (i == NIL) {
		v = LB_RL_FULL;
	} else if (l->conns && sh->e[i].conns >= l->conns) {
		v = LB_RL_CONN;
	} else {
		if (sh->e[i].conns++ == 0)
			lru_unlink(sh, i); /* pinned: its count must outlive any eviction */
	}
	pthread_mutex_unlock(&sh->lock);
	return v;
}

void lb_rl_conn_close(struct lb_rl_table *t, struct lb_rl_key k, uint64_t now)
{
	uint64_t h = key_hash(t, k);
	struct rl_shard *sh = shard_of(t, h);
	pthread_mutex_lock(&sh->lock);
	uint32_t i = find(sh, k, h);
	if (i && sh->e[i].conns && --sh->e[i].conns == 0)
		lru_push(sh, i);
	expire(t, sh, now);
	pthread_mutex_unlock(&sh->lock);
}

unsigned lb_rl_entries(const struct lb_rl_table *t)
{
	unsigned n = 0;
	for (unsigned s = 0; s < t->nshards; s++)
		n += atomic_load_explicit(&t->shards[s].used, memory_order_relaxed);
	return n;
}

uint64_t lb_rl_evictions(const struct lb_rl_table *t)
{
	uint64_t n = 0;
	for (unsigned s = 0; s < t->nshards; s++)
		n += atomic_load_explicit(&t->shards[s].evictions, memory_order_relaxed);
	return n;
}

unsigned lb_rl_conns(struct lb_rl_table *t, struct lb_rl_key k)
{
	uint64_t h = key_hash(t, k);
	struct rl_shard *sh = shard_of(t, h);
	pthread_mutex_lock(&sh->lock);
	uint32_t i = find(sh, k, h);
	unsigned n = i ? sh->e[i].conns : 0;
	pthread_mutex_unlock(&sh->lock);
	return n;
}

uint64_t lb_rl_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}
