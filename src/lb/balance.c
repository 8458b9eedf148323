/* balance.c - smooth weighted round robin, shared by the worker threads.
 *
 * nginx's algorithm: every pick, each server's current weight grows by its
 * weight; the largest wins and pays back the total. For weights 5,1,1 this
 * gives a a b a c a a rather than a a a a a b c. The order repeats every
 * sum(weights) picks, so it is computed once into seq[] and the threads walk
 * it with one atomic counter.
 */
#include <stdlib.h>

#include "lb.h"

int lb_balance_build(struct lb_rr *b, const struct proxy_server *servers, unsigned n)
{
	unsigned total = 0;
	for (unsigned i = 0; i < n; i++)
		if (!servers[i].backup)
			total += servers[i].weight;
	b->len = total;
	b->seq = total ? xcalloc(total, sizeof(*b->seq)) : NULL;
	atomic_store(&b->next, 0);
	if (total == 0)
		return 0;
	long *cur = xcalloc(n, sizeof(*cur));
	for (unsigned k = 0; k < total; k++) {
		int best = -1;
		for (unsigned i = 0; i < n; i++) {
			if (servers[i].backup || servers[i].weight == 0)
				continue;
			cur[i] += servers[i].weight;
			if (best < 0 || cur[i] > cur[best])
				best = (int)i;
		}
		cur[best] -= (long)total;
		b->seq[k] = (uint16_t)best;
	}
	free(cur);
	return 0;
}

void lb_balance_free(struct lb_rr *b)
{
	free(b->seq);
	b->seq = NULL;
	b->len = 0;
}

int lb_balance_next(struct lb_rr *b, int avoid)
{
	if (b->len == 0)
		return -1;
	for (unsigned tries = 0; tries < b->len; tries++) {
		uint64_t k = atomic_fetch_add_explicit(&b->next, 1, memory_order_relaxed);
		int s = b->seq[k % b->len];
		if (s != avoid)
			return s;
	}
	return avoid; /* the only server there is */
}
