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

#define METRICS_MAX 4096 /* metrics in a registry: entries never move */

struct metric {
	char *name, *help, *labels;
	enum metric_type type;
	int slot; /* first slot */
	double *bounds;
	unsigned nbounds; /* histogram: nbounds + 1 bucket slots, then the sum */
	double (*fn)(void *arg);
	void *arg;
	const void *owner;
};

struct metrics {
	struct metric *v; /* METRICS_MAX entries; v[i] is fixed once i < n */
	_Atomic int n;
	int nslots;
	const void *owner;    /* of callback gauges being defined */
	pthread_mutex_t lock; /* definitions, the shard list, scrapes */
	struct metrics_shard *shards;
	int64_t *retired; /* counts of threads that have ended */
	int nretired;
};

struct metrics *metrics_new(void)
{
	struct metrics *m = xcalloc(1, sizeof(*m));
	m->v = xcalloc(METRICS_MAX, sizeof(*m->v));
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
	free(m->retired);
	pthread_mutex_destroy(&m->lock);
	free(m);
}

/* Called with the lock held. */
static int define(struct metrics *m, const char *name, const char *help, const char *labels,
                  enum metric_type type, int nslots)
{
	int n = atomic_load(&m->n);
	for (int i = 0; i < n; i++)
		if (strcmp(m->v[i].name, name) == 0 &&
		    strcmp(m->v[i].labels ? m->v[i].labels : "", labels ? labels : "") == 0)
			return i;
	if (n == METRICS_MAX)
		abort(); /* a programming error: thousands of metrics */
	struct metric *x = &m->v[n];
	memset(x, 0, sizeof(*x));
	x->name = xstrdup(name);
	x->help = xstrdup(help);
	x->labels = labels && *labels ? xstrdup(labels) : NULL;
	x->type = type;
	x->slot = m->nslots;
	m->nslots += nslots;
	atomic_store(&m->n, n + 1); /* published whole */
	return n;
}

static int define_locked(struct metrics *m, const char *name, const char *help, const char *labels,
                         enum metric_type type, int nslots)
{
	pthread_mutex_lock(&m->lock);
	int id = define(m, name, help, labels, type, nslots);
	pthread_mutex_unlock(&m->lock);
	return id;
}

void metrics_set_owner(struct metrics *m, const void *owner)
{
	pthread_mutex_lock(&m->lock);
	m->owner = owner;
	pthread_mutex_unlock(&m->lock);
}

void metrics_release_owner(struct metrics *m, const void *owner)
{
	pthread_mutex_lock(&m->lock);
	for (int i = 0; i < m->n; i++)
		if (m->v[i].fn && m->v[i].owner == owner) {
			m->v[i].fn = NULL;
			m->v[i].arg = NULL;
		}
	pthread_mutex_unlock(&m->lock);
}

int metrics_counter(struct metrics *m, const char *name, const char *help, const char *labels)
{
	return define_locked(m, name, help, labels, METRIC_COUNTER, 1);
}

int metrics_gauge(struct metrics *m, const char *name, const char *help, const char *labels)
{
	return define_locked(m, name, help, labels, METRIC_GAUGE, 1);
}

static int define_fn(struct metrics *m, const char *name, const char *help, const char *labels,
                     enum metric_type type, double (*fn)(void *arg), void *arg)
{
	pthread_mutex_lock(&m->lock);
	int id = define(m, name, help, labels, type, 0);
	/* A new configuration takes the metric over from the old one. */
	m->v[id].fn = fn;
	m->v[id].arg = arg;
	m->v[id].owner = m->owner;
	pthread_mutex_unlock(&m->lock);
	return id;
}

int metrics_gauge_fn(struct metrics *m, const char *name, const char *help, const char *labels,
                     double (*fn)(void *arg), void *arg)
{
	return define_fn(m, name, help, labels, METRIC_GAUGE, fn, arg);
}

int metrics_counter_fn(struct metrics *m, const char *name, const char *help, const char *labels,
                       double (*fn)(void *arg), void *arg)
{
	return define_fn(m, name, help, labels, METRIC_COUNTER, fn, arg);
}

int metrics_histogram(struct metrics *m, const char *name, const char *help, const char *labels,
                      const double *bounds, unsigned nbounds)
{
	pthread_mutex_lock(&m->lock);
	/* slots: one per bucket (non-cumulative), +Inf bucket, then the sum */
	int id = define(m, name, help, labels, METRIC_HISTOGRAM, (int)nbounds + 2);
	struct metric *x = &m->v[id];
	if (x->bounds == NULL) {
		x->bounds = xmalloc(nbounds * sizeof(double));
		memcpy(x->bounds, bounds, nbounds * sizeof(double));
		x->nbounds = nbounds;
	}
	pthread_mutex_unlock(&m->lock);
	return id;
}

struct metrics_shard *metrics_shard_new(struct metrics *m)
{
	struct metrics_shard *s = xcalloc(1, sizeof(*s));
	pthread_mutex_lock(&m->lock);
	s->nslots = m->nslots;
	s->slots = xcalloc((size_t)(s->nslots ? s->nslots : 1), sizeof(*s->slots));
	s->next = m->shards;
	m->shards = s;
	pthread_mutex_unlock(&m->lock);
	return s;
}

void metrics_shard_retire(struct metrics *m, struct metrics_shard *sh)
{
	pthread_mutex_lock(&m->lock);
	if (sh->nslots > m->nretired) {
		m->retired = xrealloc(m->retired, (size_t)sh->nslots * sizeof(*m->retired));
		memset(m->retired + m->nretired, 0,
		       (size_t)(sh->nslots - m->nretired) * sizeof(*m->retired));
		m->nretired = sh->nslots;
	}
	for (int i = 0; i < sh->nslots; i++)
		m->retired[i] += atomic_load(&sh->slots[i]);
	for (struct metrics_shard **p = &m->shards; *p; p = &(*p)->next)
		if (*p == sh) {
			*p = sh->next;
			break;
		}
	pthread_mutex_unlock(&m->lock);
	free(sh->slots);
	free(sh);
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

/* Called with the lock held. */
static int64_t sum_slot(const struct metrics *m, int slot)
{
	int64_t v = slot < m->nretired ? m->retired[slot] : 0;
	for (struct metrics_shard *s = m->shards; s; s = s->next)
		if (slot < s->nslots)
			v += atomic_load_explicit(&s->slots[slot], memory_order_relaxed);
	return v;
}

int64_t metrics_value(struct metrics *m, int id)
{
	pthread_mutex_lock(&m->lock);
	const struct metric *x = &m->v[id];
	int64_t v;
	if (x->owner != NULL)
		v = x->fn ? (int64_t)x->fn(x->arg) : 0;
	else if (x->fn)
		v = (int64_t)x->fn(x->arg);
	else
		v = sum_slot(m, x->slot);
	pthread_mutex_unlock(&m->lock);
	return v;
}

unsigned metrics_histogram_read(struct metrics *m, int id, const double **bounds, int64_t *counts,
                                unsigned max)
{
	pthread_mutex_lock(&m->lock);
	const struct metric *x = &m->v[id];
	unsigned n = 0;
	if (x->type == METRIC_HISTOGRAM) {
		*bounds = x->bounds;
		n = MIN(x->nbounds + 1, max);
		for (unsigned b = 0; b < n; b++)
			counts[b] = sum_slot(m, x->slot + (int)b);
	}
	pthread_mutex_unlock(&m->lock);
	return n;
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
	if (x->fn == NULL && x->owner != NULL)
		return; /* its configuration is gone */
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

size_t metrics_label_escape(char *out, size_t len, const char *value)
{
	size_t n = 0, end = 0; /* needed, written: they part at the first that does not fit */
	for (const char *p = value; *p; p++) {
		const char *esc = *p == '\\'   ? "\\\\"
		                  : *p == '"'  ? "\\\""
		                  : *p == '\n' ? "\\n"
		                               : NULL;
		size_t k = esc ? 2 : 1;
		if (end == n && n + k < len) {
			memcpy(out + n, esc ? esc : p, k);
			end = n + k;
		}
		n += k;
	}
	if (len)
		out[end] = '\0';
	return n;
}

void metrics_render(struct metrics *m, struct sbuf *out)
{
	static const char *const types[] = { "counter", "gauge", "histogram" };
	pthread_mutex_lock(&m->lock);
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
	pthread_mutex_unlock(&m->lock);
}
