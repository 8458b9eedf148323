/* prom_next / prom_label: the Prometheus text format (0.0.4) as the LB's
 * monitor reads the other daemons' /metrics - sample lines with and
 * without labels, escapes, special values, timestamps; comments, blank
 * and malformed lines passed over; nothing read past the length. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/prom.h"
#include "t.h"

static const char exposition[] =
    "# HELP tristack_web_http_requests_total HTTP requests answered, by status class\n"
    "# TYPE tristack_web_http_requests_total counter\n"
    "tristack_web_http_requests_total{code=\"2xx\"} 1027\n"
    "tristack_web_http_requests_total{code=\"5xx\"} 3\n"
    "\n"
    "tristack_web_connections 2\r\n"
    "tristack_app_db_up{server=\"web-01\"} 1\n"
    "tristack_app_db_replica_lag_seconds{server=\"web-02\",x=\"a\\\"b\\\\c\\nd\",} 0.25 "
    "1700000000000\n"
    "tristack_web_http_request_duration_seconds_bucket{le=\"+Inf\"} 12\n"
    "nan_metric NaN\n"
    "neg -1.5e3\n"
    "inf_metric +Inf\n"
    "  indented_metric   7  \n"
    "last_without_newline 42";

struct want {
	const char *name, *labels;
	double value;
};

static const struct want wanted[] = {
	{ "tristack_web_http_requests_total", "code=\"2xx\"", 1027 },
	{ "tristack_web_http_requests_total", "code=\"5xx\"", 3 },
	{ "tristack_web_connections", "", 2 },
	{ "tristack_app_db_up", "server=\"web-01\"", 1 },
	{ "tristack_app_db_replica_lag_seconds", "server=\"web-02\",x=\"a\\\"b\\\\c\\nd\",", 0.25 },
	{ "tristack_web_http_request_duration_seconds_bucket", "le=\"+Inf\"", 12 },
	{ "nan_metric", "", NAN },
	{ "neg", "", -1500 },
	{ "inf_metric", "", INFINITY },
	{ "indented_metric", "", 7 },
	{ "last_without_newline", "", 42 },
};

static bool same_value(double a, double b)
{
	return (isnan(a) && isnan(b)) || a == b;
}

TEST(prom_reads_every_sample_of_an_exposition)
{
	size_t pos = 0;
	unsigned skipped = 0, n = 0;
	struct prom_sample s;
	while (prom_next(exposition, strlen(exposition), &pos, &s, &skipped)) {
		CHECK(n < ARRAY_SIZE(wanted));
		if (n >= ARRAY_SIZE(wanted))
			break;
		t_case("sample %u (%s)", n, wanted[n].name);
		CHECK_STRN(s.name, wanted[n].name);
		CHECK_STRN(s.labels, wanted[n].labels);
		CHECK(same_value(s.value, wanted[n].value));
		n++;
	}
	t_case("count");
	CHECK_EQ(n, ARRAY_SIZE(wanted));
	CHECK_EQ(skipped, 0);
	CHECK_EQ(pos, strlen(exposition));
	CHECK(!prom_next(exposition, strlen(exposition), &pos, &s, &skipped));
}

TEST(prom_skips_lines_that_are_no_sample)
{
	static const char *const bad[] = {
		"9starts_with_digit 1",
		"no_value",
		"no_value ",
		"two_values 1 2 3",
		"bad_value 1x",
		"hex_value 0x10",
		"spelled_value infinity",
		"unclosed{a=\"b\" 1",
		"unquoted{a=b} 1",
		"no_equals{a\"b\"} 1",
		"open_quote{a=\"b} 1",
		"double_comma{a=\"b\",,c=\"d\"} 1",
		"{a=\"b\"} 1",
		"name{a=\"b\"}1",
		"ts_not_number 1 abc",
		"name\xff 1",
	};
	for (unsigned i = 0; i < ARRAY_SIZE(bad); i++) {
		t_case("%s", bad[i]);
		char text[128];
		int len = snprintf(text, sizeof(text), "%s\nok 1\n", bad[i]);
		size_t pos = 0;
		unsigned skipped = 0;
		struct prom_sample s;
		CHECK(prom_next(text, (size_t)len, &pos, &s, &skipped) == 1);
		CHECK_STRN(s.name, "ok");
		CHECK_EQ(skipped, 1);
	}
}

/* Cut anywhere, in an exact-size heap copy (ASan sees a read past it): the
 * samples found are those of the whole text, but the cut one. */
TEST(prom_stops_at_the_length_at_every_split_point)
{
	size_t total = strlen(exposition);
	for (size_t cut = 0; cut <= total; cut++) {
		t_case("cut at %zu", cut);
		char *p = malloc(cut ? cut : 1);
		memcpy(p, exposition, cut);
		size_t pos = 0;
		unsigned n = 0, bad = 0;
		struct prom_sample s, prev = { 0 };
		while (prom_next(p, cut, &pos, &s, &bad)) {
			if (n > 0 && n - 1 < ARRAY_SIZE(wanted))
				CHECK_STRN(prev.name, wanted[n - 1].name);
			prev = s;
			n++;
		}
		CHECK(n <= ARRAY_SIZE(wanted));
		CHECK(pos == cut);
		free(p);
	}
}

TEST(prom_label_finds_and_unescapes_values)
{
	struct str labels = STR_LIT("server=\"web-02\", x=\"a\\\"b\\\\c\\nd\",empty=\"\"");
	char out[32];
	t_case("plain");
	CHECK(prom_label(labels, "server", out, sizeof(out)));
	CHECK_STR(out, "web-02");
	t_case("escapes");
	CHECK(prom_label(labels, "x", out, sizeof(out)));
	CHECK_STR(out, "a\"b\\c\nd");
	t_case("empty");
	CHECK(prom_label(labels, "empty", out, sizeof(out)));
	CHECK_STR(out, "");
	t_case("absent, and a prefix of a name is no match");
	CHECK(!prom_label(labels, "serv", out, sizeof(out)));
	CHECK(!prom_label(labels, "code", out, sizeof(out)));
	t_case("cut to the room given");
	char small[4];
	CHECK(prom_label(labels, "server", small, sizeof(small)));
	CHECK_STR(small, "web");
	t_case("none at all");
	CHECK(!prom_label((struct str){ "", 0 }, "server", out, sizeof(out)));
}
