/* balance.c - choosing a server: roundrobin, leastconn, first, backups.
 *
 * Shared by the worker threads: each server's up flag and active count are
 * atomics; every pick reserves a slot on the server it returns (active + 1,
 * refused at maxconn) and the request gives it back with lb_balance_release().
 *
 * roundrobin is nginx's smooth weighted round robin: every pick, each
 * server's current weight grows by its weight; the largest wins and pays
 * back the total. For weights 5,1,1 this gives a a b a c a a rather than
 * a a a a a b c. The order repeats every sum(weights) picks, so it is
 * computed once into seq[] and the threads walk it with one atomic counter,
 * skipping servers that are down or full: the others keep their shares.
 *
 * leastconn takes the up server with the fewest active requests for its
 * weight, ties broken in turn; first takes the first up server (in the
 * file's order) that has a free slot. Backup servers take requests only
 * when no other server is up, the first one up in the file's order (as
 * HAProxy does without allbackups).
 */
#include <stdlib.h>

#include "lb.h"

static bool take_slot(struct lb_server *sv)
{
	if (sv->maxconn == 0) {
		atomic_fetch_add_explicit(&sv->active, 1, memory_order_relaxed);
		return true;
	}
	int a = atomic_load_explicit(&sv->active, memory_order_relaxed);
	while (a < (int)sv->maxconn)
		if (atomic_compare_exchange_weak(&sv->active, &a, a + 1))
			return true;
	return false;
}

void lb_balance_release(struct lb_balancer *b, int server)
{
	atomic_fetch_sub_explicit(&b->servers[server].active, 1, memory_order_relaxed);
}

static bool usable(const struct lb_server *sv)
{
	return !sv->backup && sv->weight > 0 && atomic_load_explicit(&sv->up, memory_order_relaxed);
}

static void build_seq(struct lb_balancer *b)
{
	unsigned total = 0;
	for (unsigned i = 0; i < b->n; i++)
		if (!b->servers[i].backup)
			total += b->servers[i].weight;
	b->len = total;
	b->seq = total ? xcalloc(total, sizeof(*b->seq)) : NULL;
	if (total == 0)
		return;
	long *cur = xcalloc(b->n, sizeof(*cur));
	for (unsigned k = 0; k < total; k++) {
		int best = -1;
		for (unsigned i = 0; i < b->n; i++) {
			const struct lb_server *sv = &b->servers[i];
			if (sv->backup || sv->weight == 0)
				continue;
			cur[i] += sv->weight;
			if (best < 0 || cur[i] > cur[best])
				best = (int)i;
		}
		cur[best] -= (long)total;
		b->seq[k] = (uint16_t)best;
	}
	free(cur);
}

void lb_balance_init(struct lb_balancer *b, enum lb_balance algo, struct lb_server *servers,
                     unsigned n)
{
	b->algo = algo;
	b->servers = servers;
	b->n = n;
	atomic_store(&b->next, 0);
	build_seq(b);
}

void lb_balance_free(struct lb_balancer *b)
{
	free(b->seq);
	b->seq = NULL;
	b->len = 0;
}

/* Is a server other than `avoid` up? (then avoid is avoided) */
static bool other_up(const struct lb_balancer *b, int avoid)
{
	for (unsigned i = 0; i < b->n; i++)
		if ((int)i != avoid && usable(&b->servers[i]))
			return true;
	return false;
}

static int pick_first(struct lb_balancer *b, int avoid, bool *full);

static int pick_roundrobin(struct lb_balancer *b, int avoid, bool *full)
{
	for (unsigned tries = 0; tries < b->len; tries++) {
		uint64_t k = atomic_fetch_add_explicit(&b->next, 1, memory_order_relaxed);
		int s = b->seq[k % b->len];
		if (s == avoid || !usable(&b->servers[s]))
			continue;
		if (take_slot(&b->servers[s]))
			return s;
		*full = true;
	}
	/* Other threads walk the same order: len steps of ours may all have
	 * fallen on servers that are down while theirs took the good ones. A
	 * usable server must not be missed for that: take any. */
	return pick_first(b, avoid, full);
}

static int pick_leastconn(struct lb_balancer *b, int avoid, bool *full)
{
	/* Start the scan at a turning point, so that ties take turns. */
	unsigned start = (unsigned)(atomic_fetch_add_explicit(&b->next, 1, memory_order_relaxed) %
	                            (b->n ? b->n : 1));
	uint64_t tried = 0; /* servers found full this pick (n <= 64) */
	for (;;) {
		int best = -1;
		long best_a = 0, best_w = 1;
		for (unsigned j = 0; j < b->n; j++) {
			unsigned i = (start + j) % b->n;
			const struct lb_server *sv = &b->servers[i];
			if ((int)i == avoid || !usable(sv) || (tried >> i & 1))
				continue;
			long a = atomic_load_explicit(&sv->active, memory_order_relaxed) + 1;
			/* a / weight < best_a / best_w, without division */
			if (best < 0 || a * best_w < best_a * (long)sv->weight) {
				best = (int)i;
				best_a = a;
				best_w = sv->weight;
			}
		}
		if (best < 0)
			return -1;
		if (take_slot(&b->servers[best]))
			return best;
		*full = true;
		tried |= 1ull << best;
	}
}

static int pick_first(struct lb_balancer *b, int avoid, bool *full)
{
	for (unsigned i = 0; i < b->n; i++) {
		if ((int)i == avoid || !usable(&b->servers[i]))
			continue;
		if (take_slot(&b->servers[i]))
			return (int)i;
		*full = true;
	}
	return -1;
}

static int pick_backup(struct lb_balancer *b, bool *full)
{
	for (unsigned i = 0; i < b->n; i++) {
		struct lb_server *sv = &b->servers[i];
		if (!sv->backup || !atomic_load_explicit(&sv->up, memory_order_relaxed))
			continue;
		if (take_slot(sv))
			return (int)i;
		*full = true;
	}
	return -1;
}

int lb_balance_pick(struct lb_balancer *b, int avoid)
{
	if (avoid >= 0 && !other_up(b, avoid))
		avoid = -1; /* the failed one is all there is: try it again */
	bool full = false;
	int s;
	switch (b->algo) {
	case LB_LEASTCONN:
		s = pick_leastconn(b, avoid, &full);
		break;
	case LB_FIRST:
		s = pick_first(b, avoid, &full);
		break;
	default:
		s = pick_roundrobin(b, avoid, &full);
		break;
	}
	if (s >= 0)
		return s;
	if (full)
		return LB_BALANCE_FULL;
	if (other_up(b, -1))
		return LB_BALANCE_NONE; /* only weight 0 or the avoided one is up */
	s = pick_backup(b, &full);
	if (s >= 0)
		return s;
	return full ? LB_BALANCE_FULL : LB_BALANCE_NONE;
}

unsigned lb_balance_up(const struct lb_balancer *b)
{
	unsigned n = 0;
	for (unsigned i = 0; i < b->n; i++)
		n += atomic_load_explicit(&b->servers[i].up, memory_order_relaxed);
	return n;
}
