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
 * The runtime API (admin.c) changes weights while picks go on: seq has
 * room for every server at LB_WEIGHT_MAX and is rewritten in place, entry
 * by entry (atomics), then its length; a pick in between reads an entry of
 * the old turn or of the new one, a server either way. A server that is
 * not READY (DRAIN, MAINT) is skipped as a down one is.
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

static unsigned weight_of(const struct lb_server *sv)
{
	return atomic_load_explicit(&sv->weight, memory_order_relaxed);
}

static bool ready(const struct lb_server *sv)
{
	return atomic_load_explicit(&sv->up, memory_order_relaxed) &&
	       atomic_load_explicit(&sv->admin, memory_order_relaxed) == LB_ADMIN_READY;
}

static bool usable(const struct lb_server *sv)
{
	return !sv->backup && weight_of(sv) > 0 && ready(sv);
}

bool lb_balance_usable(const struct lb_server *sv)
{
	return sv->backup ? ready(sv) : usable(sv);
}

void lb_balance_reweight(struct lb_balancer *b)
{
	unsigned weight[LB_MAX_SERVERS], total = 0;
	for (unsigned i = 0; i < b->n; i++) {
		weight[i] =
		    b->servers[i].backup ? 0 : MIN(weight_of(&b->servers[i]), LB_WEIGHT_MAX);
		total += weight[i];
	}
	long cur[LB_MAX_SERVERS] = { 0 };
	for (unsigned k = 0; k < total; k++) {
		int best = -1;
		for (unsigned i = 0; i < b->n; i++) {
			if (weight[i] == 0)
				continue;
			cur[i] += weight[i];
			if (best < 0 || cur[i] > cur[best])
				best = (int)i;
		}
		cur[best] -= (long)total;
		atomic_store_explicit(&b->seq[k], (uint16_t)best, memory_order_relaxed);
	}
	atomic_store_explicit(&b->len, total, memory_order_release);
}

void lb_balance_init(struct lb_balancer *b, enum lb_balance algo, struct lb_server *servers,
                     unsigned n)
{
	b->algo = algo;
	b->servers = servers;
	b->n = MIN(n, LB_MAX_SERVERS);
	atomic_store(&b->next, 0);
	b->seq = xcalloc((size_t)b->n * LB_WEIGHT_MAX + 1, sizeof(*b->seq));
	lb_balance_reweight(b);
}

void lb_balance_free(struct lb_balancer *b)
{
	free((void *)b->seq);
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
	unsigned len = atomic_load_explicit(&b->len, memory_order_acquire);
	for (unsigned tries = 0; tries < len; tries++) {
		uint64_t k = atomic_fetch_add_explicit(&b->next, 1, memory_order_relaxed);
		int s = atomic_load_explicit(&b->seq[k % len], memory_order_relaxed);
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
			if (best < 0 || a * best_w < best_a * (long)weight_of(sv)) {
				best = (int)i;
				best_a = a;
				best_w = weight_of(sv);
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
		if (!sv->backup || !ready(sv))
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
