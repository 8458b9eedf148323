/* HTTP dates: http_date writes IMF-fixdate, http_date_parse reads it back
 * and refuses everything else (bad fields, impossible days, a weekday that
 * is not the date's, the obsolete RFC 850 and asctime forms). */
#include <stdio.h>
#include <string.h>

#include "core/http.h"
#include "t.h"

static struct str str_of(const char *s)
{
	return (struct str){ s, strlen(s) };
}

TEST(httpdate_parse_valid)
{
	static const struct {
		const char *s;
		int64_t t;
	} rows[] = {
		{ "Sun, 06 Nov 1994 08:49:37 GMT", 784111777 }, /* RFC 9110's example */
		{ "Thu, 01 Jan 1970 00:00:00 GMT", 0 },
		{ "Tue, 29 Feb 2000 12:00:00 GMT", 951825600 }, /* 2000 is a leap year */
		{ "Thu, 29 Feb 2024 00:00:00 GMT", 1709164800 },
		{ "Tue, 19 Jan 2038 03:14:07 GMT", 2147483647 },
		{ "Tue, 19 Jan 2038 03:14:08 GMT", 2147483648LL }, /* past 32 bits */
		{ "Fri, 31 Dec 9999 23:59:59 GMT", 253402300799LL },
		{ "Sat, 31 Dec 2016 23:59:59 GMT", 1483228799 },
		{ "Wed, 01 Jan 2025 00:00:00 GMT", 1735689600 },
	};
	for (size_t i = 0; i < ARRAY_SIZE(rows); i++) {
		t_case("http_date_parse \"%s\"", rows[i].s);
		int64_t t = -12345;
		CHECK_EQ(http_date_parse(str_of(rows[i].s), &t), 0);
		CHECK_EQ(t, rows[i].t);
		/* and back */
		char out[30];
		http_date(rows[i].t, out);
		CHECK_STR(out, rows[i].s);
	}
}

TEST(httpdate_parse_refused)
{
	static const char *const rows[] = {
		/* the obsolete forms */
		"Sunday, 06-Nov-94 08:49:37 GMT", /* RFC 850 */
		"Sun Nov  6 08:49:37 1994",       /* asctime */
		"Sun Nov 06 08:49:37 1994 GMT",
		/* the weekday: unknown, in another case, or not the date's */
		"Xyz, 06 Nov 1994 08:49:37 GMT",
		"sun, 06 Nov 1994 08:49:37 GMT",
		"SUN, 06 Nov 1994 08:49:37 GMT",
		"Mon, 06 Nov 1994 08:49:37 GMT", /* a Sunday */
		"Fri, 01 Jan 2000 00:00:00 GMT", /* a Saturday */
		/* impossible days */
		"Fri, 31 Feb 2023 00:00:00 GMT",
		"Tue, 29 Feb 2023 00:00:00 GMT",
		"Thu, 29 Feb 1900 00:00:00 GMT",
		"Mon, 31 Apr 2024 00:00:00 GMT",
		"Sun, 00 Nov 1994 08:49:37 GMT",
		"Sun, 32 Nov 1994 08:49:37 GMT",
		/* bad fields */
		"Sun, 06 Nox 1994 08:49:37 GMT",
		"Sun, 06 nov 1994 08:49:37 GMT",
		"Sun, 06 Nov 1994 24:00:00 GMT",
		"Sun, 06 Nov 1994 08:60:37 GMT",
		"Sun, 06 Nov 1994 08:49:61 GMT",
		"Sun, 06 Nov 19x4 08:49:37 GMT",
		"Sun, 6  Nov 1994 08:49:37 GMT",
		"Sun,  6 Nov 1994 08:49:37 GMT",
		"Sun, 06 Nov 1994 08:49:37 UTC",
		"Sun, 06 Nov 1994 08:49:37 gmt",
		"Sun, 06 Nov 1994 08:49:37 +0000",
		"Sun, 06 Nov 1994 08-49-37 GMT",
		"Sun, 06-Nov-1994 08:49:37 GMT",
		"Sun 06 Nov 1994 08:49:37 GMT ",
		"Sun,06 Nov 1994 08:49:37 GMT ",
		"Sun, 06 Nov 1994 8:49:37 GMT ",
		"Sun, 06 Nov 1994 08:49:37  GMT",
		"Sun, +6 Nov 1994 08:49:37 GMT",
		"Sun, 06 Nov 1994 08:49:-7 GMT",
		/* bad lengths */
		"",
		"Sun",
		"Sun, 06 Nov 1994 08:49:37 GM",
		"Sun, 06 Nov 1994 08:49:37 GMT ",
		" Sun, 06 Nov 1994 08:49:37 GMT",
		"Sun, 06 Nov 1994 08:49:37 GMTX",
		"Sun, 06 Nov 1994 08:49:37",
		"Sun, 06 Nov 01994 08:49:37 GMT",
	};
	for (size_t i = 0; i < ARRAY_SIZE(rows); i++) {
		t_case("http_date_parse refuses \"%s\"", rows[i]);
		int64_t t = 777;
		CHECK_EQ(http_date_parse(str_of(rows[i]), &t), -1);
		CHECK_EQ(t, 777); /* untouched */
	}
}

/* Only s.len bytes are read: a date inside a longer header value. */
TEST(httpdate_parse_reads_only_len)
{
	static const char buf[] = "Sun, 06 Nov 1994 08:49:37 GMT; length=123";
	int64_t t = 0;
	CHECK_EQ(http_date_parse((struct str){ buf, 29 }, &t), 0);
	CHECK_EQ(t, 784111777);
	CHECK_EQ(http_date_parse((struct str){ buf, 28 }, &t), -1);
	CHECK_EQ(http_date_parse((struct str){ buf, 30 }, &t), -1);
}

TEST(httpdate_round_trip)
{
	/* Every day boundary of a few years, then scattered seconds up to 9999. */
	int64_t checked = 0, bad = 0;
	for (int64_t t = 0; t < 40LL * 366 * 86400; t += 86400 - 1) {
		char out[30];
		http_date(t, out);
		int64_t back = -1;
		if (strlen(out) != 29 || http_date_parse(str_of(out), &back) != 0 || back != t) {
			if (bad++ < 5)
				t_check(0, __FILE__, __LINE__, "%lld -> \"%s\" -> %lld",
				        (long long)t, out, (long long)back);
		}
		checked++;
	}
	uint64_t x = 88172645463325252ull;
	for (int i = 0; i < 100000; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		int64_t t = (int64_t)(x % 253402300800ull);
		char out[30];
		http_date(t, out);
		int64_t back = -1;
		if (http_date_parse(str_of(out), &back) != 0 || back != t) {
			if (bad++ < 5)
				t_check(0, __FILE__, __LINE__, "%lld -> \"%s\" -> %lld",
				        (long long)t, out, (long long)back);
		}
		checked++;
	}
	CHECK_EQ(bad, 0);
	CHECK(checked > 100000);
}
