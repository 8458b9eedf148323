/* The metrics registry: values summed over the threads' shards, one id per
 * name and label set, histograms with cumulative buckets, and the exact
 * Prometheus text of a small registry. */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "core/metrics.h"
#include "t.h"

static double read_double(void *arg)
{
	return *(const double *)arg;
}

static void add(struct metrics_shard *sh, const struct metrics *m, int id, int64_t v)
{
	metrics_add(sh, metrics_slot(m, id), v);
}

TEST(metrics_counters_and_gauges_sum_shards)
{
	struct metrics *m = metrics_new();
	int c = metrics_counter(m, "ts_c_total", "A counter.", NULL);
	int g = metrics_gauge(m, "ts_g", "A gauge.", NULL);
	CHECK(c >= 0);
	CHECK(g >= 0);
	CHECK(c != g);
	struct metrics_shard *sh[3];
	for (int i = 0; i < 3; i++)
		sh[i] = metrics_shard_new(m);
	CHECK_EQ(metrics_value(m, c), 0);
	CHECK_EQ(metrics_value(m, g), 0);

	add(sh[0], m, c, 1);
	add(sh[1], m, c, 2);
	add(sh[2], m, c, 4);
	add(sh[2], m, c, 100);
	CHECK_EQ(metrics_value(m, c), 107);

	/* A gauge is each thread's own part; the parts add up. */
	metrics_set(sh[0], metrics_slot(m, g), 3);
	metrics_set(sh[1], metrics_slot(m, g), 10);
	metrics_set(sh[2], metrics_slot(m, g), -1);
	CHECK_EQ(metrics_value(m, g), 12);
	metrics_set(sh[1], metrics_slot(m, g), 0);
	CHECK_EQ(metrics_value(m, g), 2);
	add(sh[0], m, g, -3);
	CHECK_EQ(metrics_value(m, g), -1);
	/* The counter was not touched by the gauge's slots. */
	CHECK_EQ(metrics_value(m, c), 107);
	metrics_free(m);
}

TEST(metrics_same_name_and_labels_same_id)
{
	struct metrics *m = metrics_new();
	int a = metrics_counter(m, "ts_req_total", "Requests.", "server=\"a\"");
	int b = metrics_counter(m, "ts_req_total", "Requests.", "server=\"b\"");
	int plain = metrics_counter(m, "ts_req_total", "Requests.", NULL);
	CHECK(a != b);
	CHECK(a != plain && b != plain);
	CHECK_EQ(metrics_counter(m, "ts_req_total", "Requests.", "server=\"a\""), a);
	CHECK_EQ(metrics_counter(m, "ts_req_total", "Requests.", "server=\"b\""), b);
	/* No labels and empty labels are the same set. */
	CHECK_EQ(metrics_counter(m, "ts_req_total", "Requests.", ""), plain);
	CHECK_EQ(metrics_counter(m, "ts_req_total", "Requests.", NULL), plain);
	/* Another name with the same labels is another metric. */
	int other = metrics_counter(m, "ts_other_total", "Other.", "server=\"a\"");
	CHECK(other != a);

	static const double bounds[] = { 1, 2 };
	int h = metrics_histogram(m, "ts_h", "H.", NULL, bounds, 2);
	CHECK_EQ(metrics_histogram(m, "ts_h", "H.", NULL, bounds, 2), h);
	int gf = metrics_gauge_fn(m, "ts_fn", "Fn.", NULL, read_double, NULL);
	CHECK_EQ(metrics_gauge_fn(m, "ts_fn", "Fn.", NULL, read_double, NULL), gf);

	/* Still true once the shards exist (looking up is not defining). */
	struct metrics_shard *sh = metrics_shard_new(m);
	CHECK_EQ(metrics_counter(m, "ts_req_total", "Requests.", "server=\"b\""), b);
	CHECK_EQ(metrics_histogram(m, "ts_h", "H.", NULL, bounds, 2), h);
	/* Both definitions of a share one value. */
	add(sh, m, metrics_counter(m, "ts_req_total", "Requests.", "server=\"a\""), 5);
	CHECK_EQ(metrics_value(m, a), 5);
	CHECK_EQ(metrics_value(m, b), 0);
	metrics_free(m);
}

TEST(metrics_gauge_fn_reads_at_scrape)
{
	struct metrics *m = metrics_new();
	double v = 1.5;
	int id = metrics_gauge_fn(m, "ts_uptime_seconds", "Uptime.", NULL, read_double, &v);
	metrics_shard_new(m);
	CHECK_EQ(metrics_value(m, id), 1);
	v = 42;
	CHECK_EQ(metrics_value(m, id), 42);
	struct sbuf out = { 0 };
	v = 0.25;
	metrics_render(m, &out);
	CHECK_STR(out.p, "# HELP ts_uptime_seconds Uptime.\n"
	                 "# TYPE ts_uptime_seconds gauge\n"
	                 "ts_uptime_seconds 0.25\n");
	sbuf_free(&out);

	/* Values in the text format's own spelling. */
	static const struct {
		double v;
		const char *want;
	} rows[] = {
		{ 0.1, "0.1" },
		{ 1e6, "1e+06" },
		{ 123456789, "123456789" },
		{ -2, "-2" },
		{ 1.0 / 3, "0.3333333333333333" },
		{ INFINITY, "+Inf" },
		{ -INFINITY, "-Inf" },
		{ NAN, "NaN" },
	};
	for (size_t i = 0; i < ARRAY_SIZE(rows); i++) {
		t_case("metrics gauge_fn value %s", rows[i].want);
		v = rows[i].v;
		struct sbuf o = { 0 };
		metrics_render(m, &o);
		char want[128];
		snprintf(want, sizeof(want), "\nts_uptime_seconds %s\n", rows[i].want);
		t_check(o.p && strstr(o.p, want) != NULL, __FILE__, __LINE__, "\"%s\" has \"%s\"",
		        o.p ? o.p : "", want + 1);
		sbuf_free(&o);
	}
	metrics_free(m);
}

/* A counter kept elsewhere (the kernel's CPU time) is read at scrape and
 * typed as a counter; callback metrics of an owner fall silent when it
 * goes, ownerless ones stay. */
TEST(metrics_counter_fn_and_owners)
{
	struct metrics *m = metrics_new();
	double cpu = 2.5, lag = 0.5;
	int id = metrics_counter_fn(m, "ts_cpu_seconds_total", "CPU.", NULL, read_double, &cpu);
	int cfg = 1;
	metrics_set_owner(m, &cfg);
	metrics_gauge_fn(m, "ts_lag_seconds", "Lag.", "server=\"a\"", read_double, &lag);
	metrics_counter_fn(m, "ts_reads_total", "Reads.", NULL, read_double, &cpu);
	struct sbuf out = { 0 };
	metrics_render(m, &out);
	CHECK_STR(out.p, "# HELP ts_cpu_seconds_total CPU.\n"
	                 "# TYPE ts_cpu_seconds_total counter\n"
	                 "ts_cpu_seconds_total 2.5\n"
	                 "# HELP ts_lag_seconds Lag.\n"
	                 "# TYPE ts_lag_seconds gauge\n"
	                 "ts_lag_seconds{server=\"a\"} 0.5\n"
	                 "# HELP ts_reads_total Reads.\n"
	                 "# TYPE ts_reads_total counter\n"
	                 "ts_reads_total 2.5\n");
	sbuf_free(&out);
	cpu = 3;
	CHECK_EQ(metrics_value(m, id), 3);
	metrics_release_owner(m, &cfg);
	struct sbuf after = { 0 };
	metrics_render(m, &after);
	CHECK(strstr(after.p, "\nts_cpu_seconds_total 3\n") != NULL);
	CHECK(strstr(after.p, "ts_lag_seconds{") == NULL);
	CHECK(strstr(after.p, "\nts_reads_total ") == NULL);
	sbuf_free(&after);
	metrics_free(m);
}

TEST(metrics_histogram_buckets)
{
	struct metrics *m = metrics_new();
	static const double bounds[] = { 0.1, 0.5, 1 };
	int h = metrics_histogram(m, "ts_lat_seconds", "Latency.", NULL, bounds, 3);
	struct metrics_shard *s1 = metrics_shard_new(m), *s2 = metrics_shard_new(m);
	metrics_observe(m, s1, h, 0.05); /* le 0.1 */
	metrics_observe(m, s2, h, 0.1);  /* le 0.1: a bound is inclusive */
	metrics_observe(m, s1, h, 0.2);  /* le 0.5 */
	metrics_observe(m, s2, h, 3);    /* +Inf only */
	metrics_observe(m, s2, h, 0);    /* le 0.1 */
	struct sbuf out = { 0 };
	metrics_render(m, &out);
	CHECK_STR(out.p, "# HELP ts_lat_seconds Latency.\n"
	                 "# TYPE ts_lat_seconds histogram\n"
	                 "ts_lat_seconds_bucket{le=\"0.1\"} 3\n"
	                 "ts_lat_seconds_bucket{le=\"0.5\"} 4\n"
	                 "ts_lat_seconds_bucket{le=\"1\"} 4\n"
	                 "ts_lat_seconds_bucket{le=\"+Inf\"} 5\n"
	                 "ts_lat_seconds_sum 3.350000\n"
	                 "ts_lat_seconds_count 5\n");
	sbuf_free(&out);
	t_case("metrics_histogram_buckets: read, not cumulative, summed over shards");
	const double *b = NULL;
	int64_t counts[8] = { 0 };
	CHECK_EQ(metrics_histogram_read(m, h, &b, counts, 8), 4);
	CHECK(b != NULL && b[0] == 0.1 && b[2] == 1);
	CHECK(counts[0] == 3 && counts[1] == 1 && counts[2] == 0 && counts[3] == 1);
	t_case("metrics_histogram_buckets: read into less room");
	counts[2] = 42;
	CHECK_EQ(metrics_histogram_read(m, h, &b, counts, 2), 2);
	CHECK(counts[2] == 42);
	t_case("metrics_histogram_buckets: no histogram");
	int c = metrics_counter(m, "ts_c_total", "C.", NULL);
	CHECK_EQ(metrics_histogram_read(m, c, &b, counts, 8), 0);
	metrics_free(m);
}

/* Bucket bounds as Prometheus clients write them: the shortest text that
 * reads back as the same number, so le="0.1" matches in queries. */
TEST(metrics_histogram_bound_text)
{
	static const double bounds[] = { 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
		                         0.5,    1,     2.5,    5,     10,   100,   1e6,  1e-5 };
	static const char *const want[] = { "0.0005", "0.001", "0.0025", "0.005", "0.01", "0.025",
		                            "0.05",   "0.1",   "0.25",   "0.5",   "1",    "2.5",
		                            "5",      "10",    "100",    "1e+06", "1e-05" };
	struct metrics *m = metrics_new();
	metrics_histogram(m, "h", "H.", NULL, bounds, ARRAY_SIZE(bounds));
	metrics_shard_new(m);
	struct sbuf out = { 0 };
	metrics_render(m, &out);
	for (size_t i = 0; i < ARRAY_SIZE(want); i++) {
		t_case("metrics le=\"%s\"", want[i]);
		char line[64];
		snprintf(line, sizeof(line), "h_bucket{le=\"%s\"} 0\n", want[i]);
		t_check(strstr(out.p, line) != NULL, __FILE__, __LINE__, "rendered has %s", line);
	}
	sbuf_free(&out);
	metrics_free(m);
}

TEST(metrics_render_small_registry)
{
	struct metrics *m = metrics_new();
	/* Defined interleaved: each family still renders under one HELP/TYPE,
	 * in the order of its first definition. */
	int req_a = metrics_counter(m, "ts_requests_total", "Requests answered.", "server=\"a\"");
	int conns = metrics_gauge(m, "ts_connections", "Open connections.", NULL);
	int req_b = metrics_counter(m, "ts_requests_total", "Requests answered.", "server=\"b\"");
	static const double bounds[] = { 0.1, 0.5 };
	int lat_a =
	    metrics_histogram(m, "ts_latency_seconds", "Latency.", "server=\"a\"", bounds, 2);
	int req_c = metrics_counter(m, "ts_requests_total", "Requests answered.",
	                            "server=\"c\",code=\"2xx\"");
	int lat_b =
	    metrics_histogram(m, "ts_latency_seconds", "Latency.", "server=\"b\"", bounds, 2);
	double up = 12.5;
	metrics_gauge_fn(m, "ts_uptime_seconds", "Uptime.", NULL, read_double, &up);
	(void)lat_b;

	struct metrics_shard *sh[3];
	for (int i = 0; i < 3; i++)
		sh[i] = metrics_shard_new(m);
	add(sh[0], m, req_a, 1);
	add(sh[1], m, req_a, 2);
	add(sh[2], m, req_a, 4);
	add(sh[1], m, req_b, 5);
	add(sh[2], m, req_c, 1);
	metrics_set(sh[0], metrics_slot(m, conns), 3);
	metrics_set(sh[2], metrics_slot(m, conns), -1);
	metrics_observe(m, sh[0], lat_a, 0.05);
	metrics_observe(m, sh[1], lat_a, 0.1);
	metrics_observe(m, sh[2], lat_a, 0.3);
	metrics_observe(m, sh[0], lat_a, 2);

	struct sbuf out = { 0 };
	metrics_render(m, &out);
	CHECK_STR(out.p, "# HELP ts_requests_total Requests answered.\n"
	                 "# TYPE ts_requests_total counter\n"
	                 "ts_requests_total{server=\"a\"} 7\n"
	                 "ts_requests_total{server=\"b\"} 5\n"
	                 "ts_requests_total{server=\"c\",code=\"2xx\"} 1\n"
	                 "# HELP ts_connections Open connections.\n"
	                 "# TYPE ts_connections gauge\n"
	                 "ts_connections 2\n"
	                 "# HELP ts_latency_seconds Latency.\n"
	                 "# TYPE ts_latency_seconds histogram\n"
	                 "ts_latency_seconds_bucket{server=\"a\",le=\"0.1\"} 2\n"
	                 "ts_latency_seconds_bucket{server=\"a\",le=\"0.5\"} 3\n"
	                 "ts_latency_seconds_bucket{server=\"a\",le=\"+Inf\"} 4\n"
	                 "ts_latency_seconds_sum{server=\"a\"} 2.450000\n"
	                 "ts_latency_seconds_count{server=\"a\"} 4\n"
	                 "ts_latency_seconds_bucket{server=\"b\",le=\"0.1\"} 0\n"
	                 "ts_latency_seconds_bucket{server=\"b\",le=\"0.5\"} 0\n"
	                 "ts_latency_seconds_bucket{server=\"b\",le=\"+Inf\"} 0\n"
	                 "ts_latency_seconds_sum{server=\"b\"} 0.000000\n"
	                 "ts_latency_seconds_count{server=\"b\"} 0\n"
	                 "# HELP ts_uptime_seconds Uptime.\n"
	                 "# TYPE ts_uptime_seconds gauge\n"
	                 "ts_uptime_seconds 12.5\n");

	/* Every family has exactly one HELP and one TYPE line. */
	static const char *const families[] = { "ts_requests_total", "ts_connections",
		                                "ts_latency_seconds", "ts_uptime_seconds" };
	for (size_t i = 0; i < ARRAY_SIZE(families); i++) {
		t_case("metrics one HELP/TYPE for %s", families[i]);
		char help[64], type[64];
		snprintf(help, sizeof(help), "# HELP %s ", families[i]);
		snprintf(type, sizeof(type), "# TYPE %s ", families[i]);
		int nhelp = 0, ntype = 0;
		for (const char *p = out.p; (p = strstr(p, help)) != NULL; p++)
			nhelp++;
		for (const char *p = out.p; (p = strstr(p, type)) != NULL; p++)
			ntype++;
		CHECK_EQ(nhelp, 1);
		CHECK_EQ(ntype, 1);
	}

	/* A second render of the same values is the same text. */
	t_case("metrics render twice");
	struct sbuf again = { 0 };
	metrics_render(m, &again);
	CHECK_STR(again.p, out.p);
	sbuf_free(&again);
	sbuf_free(&out);
	metrics_free(m);
}

TEST(metrics_render_empty_registry)
{
	struct metrics *m = metrics_new();
	struct sbuf out = { 0 };
	metrics_render(m, &out);
	CHECK_EQ(out.len, 0);
	metrics_shard_new(m);
	metrics_render(m, &out);
	CHECK_EQ(out.len, 0);
	sbuf_free(&out);
	metrics_free(m);
	metrics_free(NULL); /* allowed */
}

/* Each thread on its own shard, no locks: the sum is exact afterwards. */
struct adder {
	struct metrics *m;
	struct metrics_shard *sh;
	int id, h;
};

static void *adder_run(void *arg)
{
	struct adder *a = arg;
	for (int i = 0; i < 100000; i++) {
		add(a->sh, a->m, a->id, 1);
		if (i % 100 == 0)
			metrics_observe(a->m, a->sh, a->h, 0.001);
	}
	return NULL;
}

TEST(metrics_threads_on_their_shards)
{
	struct metrics *m = metrics_new();
	int id = metrics_counter(m, "ts_n_total", "N.", NULL);
	static const double bounds[] = { 0.01 };
	int h = metrics_histogram(m, "ts_h_seconds", "H.", NULL, bounds, 1);
	struct adder a[4];
	pthread_t t[4];
	for (int i = 0; i < 4; i++) {
		a[i] = (struct adder){ m, metrics_shard_new(m), id, h };
		CHECK_EQ(pthread_create(&t[i], NULL, adder_run, &a[i]), 0);
	}
	for (int i = 0; i < 4; i++)
		pthread_join(t[i], NULL);
	CHECK_EQ(metrics_value(m, id), 400000);
	struct sbuf out = { 0 };
	metrics_render(m, &out);
	CHECK(strstr(out.p, "ts_n_total 400000\n") != NULL);
	CHECK(strstr(out.p, "ts_h_seconds_bucket{le=\"0.01\"} 4000\n") != NULL);
	CHECK(strstr(out.p, "ts_h_seconds_sum 4.000000\n") != NULL);
	CHECK(strstr(out.p, "ts_h_seconds_count 4000\n") != NULL);
	sbuf_free(&out);
	metrics_free(m);
}

TEST(metrics_label_values_escaped)
{
	static const struct {
		const char *in;
		size_t len;
		const char *want;
		size_t need;
	} rows[] = {
		{ "www.foobar.com", 64, "www.foobar.com", 14 },
		{ "a\"b", 64, "a\\\"b", 4 },
		{ "a\\b", 64, "a\\\\b", 4 },
		{ "a\nb", 64, "a\\nb", 4 },
		{ "", 64, "", 0 },
		{ "abcdef", 4, "abc", 6 },    /* cut, terminated */
		{ "ab\"cd", 4, "ab", 6 },     /* no half an escape */
		{ "ab\"cd", 5, "ab\\\"", 6 }, /* the escape just fits */
	};
	for (size_t i = 0; i < ARRAY_SIZE(rows); i++) {
		t_case("metrics label escape %zu", i);
		char out[64];
		memset(out, 'x', sizeof(out));
		CHECK_EQ(metrics_label_escape(out, rows[i].len, rows[i].in), rows[i].need);
		CHECK_STR(out, rows[i].want);
	}
	CHECK_EQ(metrics_label_escape(NULL, 0, "a\""), 3); /* only the length */
}
