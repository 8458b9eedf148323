/* metrics.c - the metrics registry. See metrics.h. */
#include "metrics.h"

#include <math.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Histogram sums are kept as integers in millionths, so one relaxed add
 * records them like any counter. */
#define SUM_SCALE 1e6

struct metric {
	char *name, *help, *labels;
	enum metric_type type;
	int slot; /* first slot */
	double *bounds;
	unsigned nbounds; /* histogram: slots = nbounds + 1 buckets, then count... see below */
	double (*fn)(void *arg);
	void *arg;
};

struct metrics {
	struct metric *v;
	int n, cap;
	int nslots;
	pthread_mutex_t lock;
	struct metrics_shard *shards;
};

struct metrics *metrics_new(void)
{
	struct metrics *m = xcalloc(1, sizeof(*m));
	pthread_mutex_init(&m->lock, NULL);
	return m;
}

void metrics_free(struct metrics *m)
{
	if (m == NULL)
		return;
	for (int i = 0; i < m->n; i++) {
		free(m->v[i].name);
		free(m->v[i].help);
		free(m->v[i].labels);
		free(m->v[i].bounds);
	}
	free(m->v);
	for (struct metrics_shard *s = m->shards, *next; s; s = next) {
		next = s->next;
		free(s->slots);
		free(s);
	}
	pthread_mutex_destroy(&m->lock);
	free(m);
}

static int define(struct metrics *m, const char *name, const char *help, const char *labels,
                  enum metric_type type, int nslots)
{
	for (int i = 0; i < m->n; i++)
		if (strcmp(m->v[i].name, name) == 0 &&
		    strcmp(m->v[i].labels ? m->v[i].labels : "", labels ? labels : "") == 0)
			return i;
	if (m->shards) {
		/* Programming error: shards are sized already. */
		abort();
	}
	if (m->n == m->cap) {
		m->cap = m->cap ? m->cap * 2 : 32;
		m->v = xrealloc(m->v, (size_t)m->cap * sizeof(*m->v));
	}
	struct metric *x = &m->v[m->n];
	memset(x, 0, sizeof(*x));
	x->name = xstrdup(name);
	x->help = xstrdup(help);
	x->labels = labels && *labels ? xstrdup(labels) : NULL;
	x->type = type;
	x->slot = m->nslots;
	m->nslots += nslots;
	return m->n++;
}

int metrics_counter(struct metrics *m, const char *name, const char *help, const char *labels)
{
	return define(m, name, help, labels, METRIC_COUNTER, 1);
}

int metrics_gauge(struct metrics *m, const char *name, const char *help, const char *labels)
{
	return define(m, name, help, labels, METRIC_GAUGE, 1);
}

int metrics_gauge_fn(struct metrics *m, const char *name, const char *help, const char *labels,
                     double (*fn)(void *arg), void *arg)
{
	int id = define(m, name, help, labels, METRIC_GAUGE, 0);
	m->v[id].fn = fn;
	m->v[id].arg = arg;
	return id;
}

int metrics_histogram(struct metrics *m, const char *name, const char *help, const char *labels,
                      const double *bounds, unsigned nbounds)
{
	/* slots: one per bucket (non-cumulative), +Inf bucket, then the sum */
	int id = define(m, name, help, labels, METRIC_HISTOGRAM, (int)nbounds + 2);
	struct metric *x = &m->v[id];
	if (x->bounds == NULL) {
		x->bounds = xmalloc(nbounds * sizeof(double));
		memcpy(x->bounds, bounds, nbounds * sizeof(double));
		x->nbounds = nbounds;
	}
	return id;
}

struct metrics_shard *metrics_shard_new(struct metrics *m)
{
	struct metrics_shard *s = xcalloc(1, sizeof(*s));
	s->slots = xcalloc((size_t)(m->nslots ? m->nslots : 1), sizeof(*s->slots));
	pthread_mutex_lock(&m->lock);
	s->next = m->shards;
	m->shards = s;
	pthread_mutex_unlock(&m->lock);
	return s;
}

int metrics_slot(const struct metrics *m, int id)
{
	return m->v[id].slot;
}

void metrics_observe(const struct metrics *m, struct metrics_shard *sh, int id, double v)
{
	const struct metric *x = &m->v[id];
	unsigned b = 0;
	while (b < x->nbounds && v > x->bounds[b])
		b++;
	metrics_add(sh, x->slot + (int)b, 1);
	metrics_add(sh, x->slot + (int)x->nbounds + 1, (int64_t)llround(v * SUM_SCALE));
}

static int64_t sum_slot(const struct metrics *m, int slot)
{
	int64_t v = 0;
	for (struct metrics_shard *s = m->shards; s; s = s->next)
		v += atomic_load_explicit(&s->slots[slot], memory_order_relaxed);
	return v;
}

int64_t metrics_value(const struct metrics *m, int id)
{
	const struct metric *x = &m->v[id];
	if (x->fn)
		return (int64_t)x->fn(x->arg);
	return sum_slot(m, x->slot);
}

/* A double as the shortest text that reads back as the same number ("0.1",
 * not "0.10000000000000001"), as Prometheus' clients write it: bucket bounds
 * are label values, and queries match them as text (le="0.1"). At least
 * six digits' worth of %g, so that 10 stays "10" rather than "1e+01". */
static const char *fmt_double(char *out, size_t len, double v)
{
	if (isnan(v))
		return "NaN";
	if (isinf(v))
		return v > 0 ? "+Inf" : "-Inf";
	int prec = 17;
	for (int p = 1; p < 17; p++) {
		snprintf(out, len, "%.*g", p, v);
		if (strtod(out, NULL) == v) {
			prec = MAX(p, 6);
			break;
		}
	}
	snprintf(out, len, "%.*g", prec, v);
	return out;
}

static void add_sample(struct sbuf *out, const char *name, const char *suffix, const char *labels,
                       const char *extra)
{
	sbuf_adds(out, name);
	sbuf_adds(out, suffix);
	if (labels || extra) {
		sbuf_adds(out, "{");
		if (labels)
			sbuf_adds(out, labels);
		if (labels && extra)
			sbuf_adds(out, ",");
		if (extra)
			sbuf_adds(out, extra);
		sbuf_adds(out, "}");
	}
	sbuf_adds(out, " ");
}

static void render_one(const struct metrics *m, const struct metric *x, struct sbuf *out)
{
	char num[64];
	if (x->type != METRIC_HISTOGRAM) {
		add_sample(out, x->name, "", x->labels, NULL);
		if (x->fn)
			sbuf_addf(out, "%s\n", fmt_double(num, sizeof(num), x->fn(x->arg)));
		else
			sbuf_addf(out, "%lld\n", (long long)sum_slot(m, x->slot));
		return;
	}
	int64_t cum = 0;
	char le[64];
	for (unsigned b = 0; b <= x->nbounds; b++) {
		cum += sum_slot(m, x->slot + (int)b);
		if (b < x->nbounds)
			snprintf(le, sizeof(le), "le=\"%s\"",
			         fmt_double(num, sizeof(num), x->bounds[b]));
		else
			snprintf(le, sizeof(le), "le=\"+Inf\"");
		add_sample(out, x->name, "_bucket", x->labels, le);
		sbuf_addf(out, "%lld\n", (long long)cum);
	}
	add_sample(out, x->name, "_sum", x->labels, NULL);
	sbuf_addf(out, "%.6f\n", (double)sum_slot(m, x->slot + (int)x->nbounds + 1) / SUM_SCALE);
	add_sample(out, x->name, "_count", x->labels, NULL);
	sbuf_addf(out, "%lld\n", (long long)cum);
}

void metrics_render(const struct metrics *m, struct sbuf *out)
{
	static const char *const types[] = { "counter", "gauge", "histogram" };
	/* Families in order of first definition; each family's instances
	 * together under one HELP/TYPE. */
	for (int i = 0; i < m->n; i++) {
		bool first = true;
		for (int j = 0; j < i; j++)
			if (strcmp(m->v[j].name, m->v[i].name) == 0)
				first = false;
		if (!first)
			continue;
		sbuf_addf(out, "# HELP %s %s\n# TYPE %s %s\n", m->v[i].name, m->v[i].help,
		          m->v[i].name, types[m->v[i].type]);
		for (int j = i; j < m->n; j++)
			if (strcmp(m->v[j].name, m->v[i].name) == 0)
				render_one(m, &m->v[j], out);
	}
}
