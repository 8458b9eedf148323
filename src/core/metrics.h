/* metrics.h - a registry of counters, gauges and histograms that renders
 * the Prometheus text format (version 0.0.4).
 *
 * Metrics are defined at start-up, before the worker threads exist; each
 * thread then updates its own shard with plain relaxed stores (no locked
 * instructions on the hot path) and a scrape sums the shards. A metric is a
 * family name plus an optional label set ("server=\"web-01\""); instances of
 * one family share its HELP and TYPE lines.
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

/* A shard for one thread; freed with the registry. No metric may be defined
 * after the first shard is made. */
struct metrics_shard *metrics_shard_new(struct metrics *m);

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
int64_t metrics_value(const struct metrics *m, int id);

/* Append the whole registry in Prometheus text format. */
void metrics_render(const struct metrics *m, struct sbuf *out);

#endif
