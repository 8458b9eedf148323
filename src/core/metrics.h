/* metrics.h - a registry of counters, gauges and histograms that renders
 * the Prometheus text format (version 0.0.4).
 *
 * A metric is a family name plus an optional label set
 * ("server=\"web-01\""); instances of one family share its HELP and TYPE
 * lines. Each thread updates its own shard with plain relaxed stores (no
 * locked instructions on the hot path) and a scrape sums the shards.
 *
 * The registry outlives configurations: a reload defines its metrics again
 * (the same name and labels give the same id, so counters go on), makes
 * shards for its new threads, and retires the old threads' shards into one
 * accumulator when they end. Metrics may be defined at any time; a shard
 * only holds the slots that existed when it was made, which is all its
 * thread uses. Metrics computed by a callback belong to an owner (the
 * configuration whose objects they read) and fall silent when it goes.
 */
#ifndef TS_METRICS_H
#define TS_METRICS_H

#include <stdatomic.h>
#include <stdint.h>

#include "sbuf.h"

enum metric_type { METRIC_COUNTER, METRIC_GAUGE, METRIC_HISTOGRAM };

struct metrics;

struct metrics_shard {
	_Atomic int64_t *slots;
	int nslots;
	struct metrics_shard *next;
};

struct metrics *metrics_new(void);
void metrics_free(struct metrics *m);

/* Define a metric; returns its id (>= 0). labels may be NULL. Histogram
 * bounds are the bucket upper limits, ascending (+Inf is implied). Defining
 * the same name and labels twice returns the first id. */
int metrics_counter(struct metrics *m, const char *name, const char *help, const char *labels);
int metrics_gauge(struct metrics *m, const char *name, const char *help, const char *labels);
int metrics_histogram(struct metrics *m, const char *name, const char *help, const char *labels,
                      const double *bounds, unsigned nbounds);
/* A gauge whose value is read at scrape time by calling fn(arg). */
int metrics_gauge_fn(struct metrics *m, const char *name, const char *help, const char *labels,
                     double (*fn)(void *arg), void *arg);
/* The same for a counter someone else keeps (the kernel's CPU time): fn
 * must never go down. */
int metrics_counter_fn(struct metrics *m, const char *name, const char *help, const char *labels,
                       double (*fn)(void *arg), void *arg);

/* A shard for one thread, covering every metric defined so far. */
struct metrics_shard *metrics_shard_new(struct metrics *m);
/* The thread is gone: fold its counts into the registry's accumulator and
 * free the shard. */
void metrics_shard_retire(struct metrics *m, struct metrics_shard *sh);

/* Callback metrics defined from now on belong to owner (NULL: none). */
void metrics_set_owner(struct metrics *m, const void *owner);
/* The owner is going away: its callback metrics stop calling it (until a
 * new owner defines them again). */
void metrics_release_owner(struct metrics *m, const void *owner);

/* Slot of a metric (counters and gauges: the value; histograms: the first
 * bucket). */
int metrics_slot(const struct metrics *m, int id);

static inline void metrics_add(struct metrics_shard *sh, int slot, int64_t v)
{
	_Atomic int64_t *p = &sh->slots[slot];
	atomic_store_explicit(p, atomic_load_explicit(p, memory_order_relaxed) + v,
	                      memory_order_relaxed);
}

static inline void metrics_set(struct metrics_shard *sh, int slot, int64_t v)
{
	atomic_store_explicit(&sh->slots[slot], v, memory_order_relaxed);
}

/* Record a value (seconds for latencies) in a histogram. */
void metrics_observe(const struct metrics *m, struct metrics_shard *sh, int id, double v);

/* Sum of a counter or gauge over all shards (tests, status pages). */
int64_t metrics_value(struct metrics *m, int id);

/* A label value as the text format wants it (backslash, double quote and
 * newline escaped) into out, always terminated; returns the length it
 * needed (>= len: cut short, as snprintf). */
size_t metrics_label_escape(char *out, size_t len, const char *value);

/* Append the whole registry in Prometheus text format. */
void metrics_render(struct metrics *m, struct sbuf *out);

/* A histogram's buckets as they stand (summed over the shards, not
 * cumulative): counts[b] for values <= bounds[b], the last one (+Inf) for
 * the rest. Returns how many counts it wrote (nbounds + 1, at most max; 0
 * when id is no histogram). *bounds stays valid as long as the registry. */
unsigned metrics_histogram_read(struct metrics *m, int id, const double **bounds, int64_t *counts,
                                unsigned max);

#endif
