/* test_procmetrics.c - reading /proc/[pid]/stat and /proc/stat. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "core/procmetrics.h"
#include "t.h"

/* A real line of proc(5)'s format; utime 14, stime 15, starttime 22,
 * vsize 23, rss 24. */
#define STAT_TAIL                                                                                  \
	" S 1 4242 4242 0 -1 4194560 1353 0 0 0 120 35 0 0 20 0 3 0 98765 123457536 2100 "         \
	"18446744073709551615 1 1 0 0 0 0 0 4096 17663 0 0 0 17 1 0 0 0 0 0\n"

TEST(procmetrics_parse_stat_fields)
{
	static const char *const names[] = {
		"(tristack-lb)",
		"(a b)",      /* spaces in the command */
		"(x) 9 (y))", /* parentheses too: the last ')' ends it */
		"()",
	};
	for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
		char text[512];
		snprintf(text, sizeof(text), "4242 %s" STAT_TAIL, names[i]);
		t_case("procmetrics stat of %s", names[i]);
		struct procmetrics_stat st;
		CHECK_EQ(procmetrics_parse_stat(text, &st), 0);
		CHECK_EQ(st.utime, 120);
		CHECK_EQ(st.stime, 35);
		CHECK_EQ(st.starttime, 98765);
		CHECK_EQ(st.vsize, 123457536);
		CHECK_EQ(st.rss, 2100);
	}
}

TEST(procmetrics_parse_stat_refuses_short_or_odd_text)
{
	static const char *const bad[] = {
		"",
		"4242 tristack-lb S 1",                 /* no ')' */
		"4242 (lb) S 1 4242 4242 0 -1 4194560", /* cut before utime */
		"4242 (lb) S 1 4242 4242 0 -1 4194560 1353 0 0 0 120 35 0 0 20 0 3 0 98765 "
		"123457536\n", /* no rss */
		"4242 (lb) S 1 4242 4242 0 -1 4194560 1353 0 0 0 x 35 0 0 20 0 3 0 98765 1 2\n",
	};
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		t_case("procmetrics bad stat %zu", i);
		struct procmetrics_stat st;
		CHECK_EQ(procmetrics_parse_stat(bad[i], &st), -1);
	}
}

TEST(procmetrics_parse_stat_of_this_process)
{
	char text[1024];
	FILE *f = fopen("/proc/self/stat", "r");
	CHECK(f != NULL);
	if (f == NULL)
		return;
	size_t n = fread(text, 1, sizeof(text) - 1, f);
	fclose(f);
	text[n] = '\0';
	struct procmetrics_stat st;
	CHECK_EQ(procmetrics_parse_stat(text, &st), 0);
	CHECK(st.vsize > 0 && st.rss > 0);
}

TEST(procmetrics_btime_line)
{
	long long bt = 0;
	CHECK_EQ(
	    procmetrics_parse_btime("cpu  1 2 3\nintr 5\nbtime 1795700000\nprocesses 9\n", &bt), 0);
	CHECK_EQ(bt, 1795700000);
	CHECK_EQ(procmetrics_parse_btime("btime 42", &bt), 0);
	CHECK_EQ(bt, 42);
	CHECK_EQ(procmetrics_parse_btime("cpu 1\nxbtime 7\n", &bt), -1);
	CHECK_EQ(procmetrics_parse_btime("btime \n", &bt), -1);
	CHECK_EQ(procmetrics_parse_btime("", &bt), -1);
}
