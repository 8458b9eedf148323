/* web_range_parse: a Range header (RFC 9110 14.1.2) against a file size gives
 * 206 ranges clipped to the file, 416, or NONE (the field is ignored: 200 with
 * the whole file). web_accepts_gzip: Accept-Encoding with q-values (RFC 9110
 * 12.5.3). The expectations follow the RFC. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "core/common.h"
#include "t.h"
#include "web/range.h"

#define NONE  WEB_RANGE_NONE
#define OK    WEB_RANGE_OK
#define UNSAT WEB_RANGE_UNSATISFIABLE

struct range_row {
	const char *value;
	int64_t size;
	enum web_range_result want;
	unsigned n;
	int64_t r[4][2]; /* first, last */
};

static const char *result_name(enum web_range_result r)
{
	return r == OK ? "OK" : r == UNSAT ? "UNSATISFIABLE" : r == NONE ? "NONE" : "?";
}

/* Parse into a poisoned array: n is reset whatever the answer and is 0
 * unless the answer is OK; nothing is written past WEB_MAX_RANGES, nor past
 * ranges[n) on OK. */
static enum web_range_result parse(const char *value, int64_t size, struct web_range *out,
                                   unsigned *n)
{
	struct web_range rg[WEB_MAX_RANGES + 1];
	for (size_t i = 0; i < ARRAY_SIZE(rg); i++)
		rg[i].first = rg[i].last = -7;
	*n = 99;
	enum web_range_result r =
	    web_range_parse((struct str){ value, strlen(value) }, size, rg, n);
	CHECK(*n <= WEB_MAX_RANGES);
	if (r != OK)
		CHECK_EQ(*n, 0);
	else
		CHECK(*n >= 1);
	unsigned from = r == OK && *n < WEB_MAX_RANGES ? *n : WEB_MAX_RANGES;
	for (unsigned i = from; i < ARRAY_SIZE(rg); i++)
		t_check(rg[i].first == -7 && rg[i].last == -7, __FILE__, __LINE__,
		        "range %u past n=%u untouched", i, *n);
	memcpy(out, rg, sizeof(struct web_range) * WEB_MAX_RANGES);
	return r;
}

static void check_rows(const struct range_row *rows, size_t nrows)
{
	for (size_t i = 0; i < nrows; i++) {
		const struct range_row *w = &rows[i];
		t_case("web_range \"%s\" size %lld", w->value, (long long)w->size);
		struct web_range rg[WEB_MAX_RANGES];
		unsigned n;
		enum web_range_result r = parse(w->value, w->size, rg, &n);
		t_check(r == w->want, __FILE__, __LINE__, "result %s, want %s", result_name(r),
		        result_name(w->want));
		CHECK_EQ(n, w->n);
		for (unsigned k = 0; k < n && k < w->n; k++) {
			CHECK_EQ(rg[k].first, w->r[k][0]);
			CHECK_EQ(rg[k].last, w->r[k][1]);
		}
	}
}

TEST(web_range_single)
{
	static const struct range_row rows[] = {
		{ "bytes=0-0", 1000, OK, 1, { { 0, 0 } } },
		{ "bytes=0-99", 1000, OK, 1, { { 0, 99 } } },
		{ "bytes=100-", 1000, OK, 1, { { 100, 999 } } },
		{ "bytes=-500", 1000, OK, 1, { { 500, 999 } } },
		{ "bytes=-1", 1000, OK, 1, { { 999, 999 } } },
		{ "bytes=999-", 1000, OK, 1, { { 999, 999 } } },
		{ "bytes=999-999", 1000, OK, 1, { { 999, 999 } } },
		{ "bytes=0-999", 1000, OK, 1, { { 0, 999 } } },
		{ "bytes=0-", 1000, OK, 1, { { 0, 999 } } },
		/* a suffix longer than the file is the whole file */
		{ "bytes=-1000", 1000, OK, 1, { { 0, 999 } } },
		{ "bytes=-1001", 1000, OK, 1, { { 0, 999 } } },
		{ "bytes=-999999999999999999", 1000, OK, 1, { { 0, 999 } } },
		/* a last-pos at or past the end means "to the end" */
		{ "bytes=0-1000", 1000, OK, 1, { { 0, 999 } } },
		{ "bytes=900-5000", 1000, OK, 1, { { 900, 999 } } },
		{ "bytes=0-999999999999999999", 1000, OK, 1, { { 0, 999 } } },
		/* 1*DIGIT: leading zeros are digits too */
		{ "bytes=000-099", 1000, OK, 1, { { 0, 99 } } },
		{ "bytes=-0001", 1000, OK, 1, { { 999, 999 } } },
		/* a one-byte file */
		{ "bytes=0-0", 1, OK, 1, { { 0, 0 } } },
		{ "bytes=-1", 1, OK, 1, { { 0, 0 } } },
		{ "bytes=0-", 1, OK, 1, { { 0, 0 } } },
		/* a file past 4 GiB */
		{ "bytes=4294967296-", 5000000000, OK, 1, { { 4294967296, 4999999999 } } },
		{ "bytes=-1", 5000000000, OK, 1, { { 4999999999, 4999999999 } } },
		/* range units are case-insensitive (RFC 9110 14.1) */
		{ "Bytes=0-9", 1000, OK, 1, { { 0, 9 } } },
		{ "BYTES=0-9", 1000, OK, 1, { { 0, 9 } } },
	};
	check_rows(rows, ARRAY_SIZE(rows));
}

TEST(web_range_several)
{
	static const struct range_row rows[] = {
		{ "bytes=0-0,-1", 1000, OK, 2, { { 0, 0 }, { 999, 999 } } },
		/* the order of the request is kept */
		{ "bytes=500-599,0-99", 1000, OK, 2, { { 500, 599 }, { 0, 99 } } },
		{ "bytes=-100,0-0,10-19", 1000, OK, 3, { { 900, 999 }, { 0, 0 }, { 10, 19 } } },
		/* touching is not overlapping */
		{ "bytes=0-9,10-19", 1000, OK, 2, { { 0, 9 }, { 10, 19 } } },
		{ "bytes=10-19,0-9", 1000, OK, 2, { { 10, 19 }, { 0, 9 } } },
		/* 1#range-spec: empty list elements are allowed */
		{ "bytes=0-1,,2-3", 1000, OK, 2, { { 0, 1 }, { 2, 3 } } },
		{ "bytes=,0-1", 1000, OK, 1, { { 0, 1 } } },
		{ "bytes=0-1,", 1000, OK, 1, { { 0, 1 } } },
		{ "bytes=,,0-1,,", 1000, OK, 1, { { 0, 1 } } },
		/* OWS around elements */
		{ "bytes=0-1, 2-3", 1000, OK, 2, { { 0, 1 }, { 2, 3 } } },
		{ "bytes=0-1 ,2-3", 1000, OK, 2, { { 0, 1 }, { 2, 3 } } },
		{ "bytes= 0-1 , \t2-3\t", 1000, OK, 2, { { 0, 1 }, { 2, 3 } } },
		{ "bytes= , 0-1 ,\t, 5-6 ,", 1000, OK, 2, { { 0, 1 }, { 5, 6 } } },
		{ "  bytes=0-1  ", 1000, OK, 1, { { 0, 1 } } },
		/* ranges wholly past the end are dropped, the others kept */
		{ "bytes=0-1,2000-3000,5-6", 1000, OK, 2, { { 0, 1 }, { 5, 6 } } },
		{ "bytes=1000-,-0,0-0", 1000, OK, 1, { { 0, 0 } } },
		{ "bytes=5000-,-2", 1000, OK, 1, { { 998, 999 } } },
		/* an unsatisfiable range does not make a valid header invalid */
		{ "bytes=-0,1-1", 1000, OK, 1, { { 1, 1 } } },
	};
	check_rows(rows, ARRAY_SIZE(rows));
}

/* Ranges that share a byte are refused as a set (the whole file goes, 200):
 * the defence against a 206 many times the file (RFC 9110 17.15), nginx's
 * "more than the file" rule made exact. */
TEST(web_range_overlaps_ignored)
{
	static const struct range_row rows[] = {
		{ "bytes=0-99,50-149", 1000, NONE, 0, { { 0 } } },
		{ "bytes=0-99,99-199", 1000, NONE, 0, { { 0 } } }, /* one byte shared */
		{ "bytes=0-0,0-0", 1000, NONE, 0, { { 0 } } },
		{ "bytes=-100,0-0,10-", 1000, NONE, 0, { { 0 } } },
		{ "bytes=500-599,0-99,550-", 1000, NONE, 0, { { 0 } } }, /* not sorted */
		{ "bytes=0-,-1", 1000, NONE, 0, { { 0 } } },
		/* overlapping once clipped to the file */
		{ "bytes=900-5000,950-6000", 1000, NONE, 0, { { 0 } } },
		{ "bytes=-2000,0-0", 1000, NONE, 0, { { 0 } } },
		/* a range dropped as past the end overlaps nothing */
		{ "bytes=0-9,1000-2000,1500-", 1000, OK, 1, { { 0, 9 } } },
		/* disjoint ranges that cover the whole file are fine */
		{ "bytes=0-499,500-", 1000, OK, 2, { { 0, 499 }, { 500, 999 } } },
	};
	check_rows(rows, ARRAY_SIZE(rows));
}

/* The issue 13 request: sixteen "0-524287" of an 800 kB file asked 8 MiB
 * of one; now it is the whole file. */
TEST(web_range_sixteen_overlapping)
{
	char value[1024];
	struct web_range rg[WEB_MAX_RANGES];
	unsigned n;
	int len = snprintf(value, sizeof(value), "bytes=");
	for (int i = 0; i < WEB_MAX_RANGES; i++)
		len +=
		    snprintf(value + len, sizeof(value) - (size_t)len, "%s0-524287", i ? "," : "");
	t_case("web_range 16 x 0-524287 of 800000 bytes");
	CHECK_EQ(parse(value, 800000, rg, &n), NONE);
	CHECK_EQ(n, 0);
}

TEST(web_range_unsatisfiable)
{
	static const struct range_row rows[] = {
		/* every first-pos at or past the end */
		{ "bytes=1000-", 1000, UNSAT, 0, { { 0 } } },
		{ "bytes=1000-1000", 1000, UNSAT, 0, { { 0 } } },
		{ "bytes=1000-2000", 1000, UNSAT, 0, { { 0 } } },
		{ "bytes=5000-6000, 1000-", 1000, UNSAT, 0, { { 0 } } },
		{ "bytes=999999999999999999-", 1000, UNSAT, 0, { { 0 } } },
		{ "bytes=1-1", 1, UNSAT, 0, { { 0 } } },
		/* a suffix of zero bytes */
		{ "bytes=-0", 1000, UNSAT, 0, { { 0 } } },
		{ "bytes=-000", 1000, UNSAT, 0, { { 0 } } },
		{ "bytes=-0, 1000-", 1000, UNSAT, 0, { { 0 } } },
		{ "bytes=,-0,", 1000, UNSAT, 0, { { 0 } } },
		/* an empty file: no int-range is satisfiable */
		{ "bytes=0-", 0, UNSAT, 0, { { 0 } } },
		{ "bytes=0-0", 0, UNSAT, 0, { { 0 } } },
		{ "bytes=0-99", 0, UNSAT, 0, { { 0 } } },
		{ "bytes=-0", 0, UNSAT, 0, { { 0 } } },
		{ "bytes=-0,0-", 0, UNSAT, 0, { { 0 } } },
	};
	check_rows(rows, ARRAY_SIZE(rows));
}

/* RFC 9110 14.1.1: on an empty file a non-zero suffix-range is the one
 * satisfiable form, yet no 206 can carry zero bytes: the field is ignored
 * and the (empty) file sent with 200, never a 416. */
TEST(web_range_empty_file_suffix)
{
	static const struct range_row rows[] = {
		{ "bytes=-1", 0, NONE, 0, { { 0 } } },
		{ "bytes=-500", 0, NONE, 0, { { 0 } } },
		{ "bytes=0-, -5", 0, NONE, 0, { { 0 } } },
		{ "bytes=-5, 7-x", 0, NONE, 0, { { 0 } } }, /* invalid anyway */
	};
	check_rows(rows, ARRAY_SIZE(rows));
}

TEST(web_range_ignored)
{
	static const struct range_row rows[] = {
		/* not "bytes=" */
		{ "", 1000, NONE, 0, { { 0 } } },
		{ "bytes", 1000, NONE, 0, { { 0 } } },
		{ "bytes 0-1", 1000, NONE, 0, { { 0 } } },
		{ "bytes:0-1", 1000, NONE, 0, { { 0 } } },
		{ "bytes =0-1", 1000, NONE, 0, { { 0 } } },
		{ "items=0-1", 1000, NONE, 0, { { 0 } } },
		{ "bytesx=0-1", 1000, NONE, 0, { { 0 } } },
		{ "=0-1", 1000, NONE, 0, { { 0 } } },
		/* 1#range-spec: at least one element */
		{ "bytes=", 1000, NONE, 0, { { 0 } } },
		{ "bytes= ", 1000, NONE, 0, { { 0 } } },
		{ "bytes=,", 1000, NONE, 0, { { 0 } } },
		{ "bytes=, ,\t,", 1000, NONE, 0, { { 0 } } },
		/* no '-' */
		{ "bytes=0", 1000, NONE, 0, { { 0 } } },
		{ "bytes=100", 1000, NONE, 0, { { 0 } } },
		{ "bytes=0-1,5", 1000, NONE, 0, { { 0 } } },
		{ "bytes=-", 1000, NONE, 0, { { 0 } } },
		{ "bytes=0-1,-", 1000, NONE, 0, { { 0 } } },
		/* letters, signs, other separators */
		{ "bytes=abc", 1000, NONE, 0, { { 0 } } },
		{ "bytes=a-b", 1000, NONE, 0, { { 0 } } },
		{ "bytes=0-x", 1000, NONE, 0, { { 0 } } },
		{ "bytes=0x10-", 1000, NONE, 0, { { 0 } } },
		{ "bytes=1e3-", 1000, NONE, 0, { { 0 } } },
		{ "bytes=+1-2", 1000, NONE, 0, { { 0 } } },
		{ "bytes=1-+2", 1000, NONE, 0, { { 0 } } },
		{ "bytes=--1", 1000, NONE, 0, { { 0 } } },
		{ "bytes=-+1", 1000, NONE, 0, { { 0 } } },
		{ "bytes=-1-", 1000, NONE, 0, { { 0 } } },
		{ "bytes=0-1-2", 1000, NONE, 0, { { 0 } } },
		{ "bytes=0-1;2-3", 1000, NONE, 0, { { 0 } } },
		{ "bytes=0.5-1", 1000, NONE, 0, { { 0 } } },
		/* spaces inside a range-spec */
		{ "bytes=0 -1", 1000, NONE, 0, { { 0 } } },
		{ "bytes=0- 1", 1000, NONE, 0, { { 0 } } },
		{ "bytes=- 1", 1000, NONE, 0, { { 0 } } },
		{ "bytes=1 0-20", 1000, NONE, 0, { { 0 } } },
		{ "bytes=0-2 0", 1000, NONE, 0, { { 0 } } },
		/* last-pos < first-pos: invalid, so the whole field is */
		{ "bytes=5-4", 1000, NONE, 0, { { 0 } } },
		{ "bytes=0-1,5-4", 1000, NONE, 0, { { 0 } } },
		{ "bytes=2000-1999", 1000, NONE, 0, { { 0 } } },
		/* one bad element spoils the ranges already read */
		{ "bytes=0-1,x", 1000, NONE, 0, { { 0 } } },
		{ "bytes=0-1,2-3,4-", 1000, OK, 3, { { 0, 1 }, { 2, 3 }, { 4, 999 } } },
		{ "bytes=0-1,2-3,4-,z", 1000, NONE, 0, { { 0 } } },
		/* numbers past 18 digits are not read: ignored */
		{ "bytes=0-1234567890123456789", 1000, NONE, 0, { { 0 } } },
		{ "bytes=1234567890123456789-", 1000, NONE, 0, { { 0 } } },
		{ "bytes=-1234567890123456789", 1000, NONE, 0, { { 0 } } },
		{ "bytes=0-99999999999999999999999999999", 1000, NONE, 0, { { 0 } } },
		{ "bytes=0000000000000000000-", 1000, NONE, 0, { { 0 } } },
	};
	check_rows(rows, ARRAY_SIZE(rows));
}

/* WEB_MAX_RANGES range-specs are served; one more and the field is ignored
 * (a defence against range amplification, RFC 9110 17.15). */
TEST(web_range_count_limit)
{
	char value[1024];
	struct web_range rg[WEB_MAX_RANGES];
	unsigned n;

	t_case("web_range %d ranges", WEB_MAX_RANGES);
	int len = snprintf(value, sizeof(value), "bytes=");
	for (int i = 0; i < WEB_MAX_RANGES; i++)
		len += snprintf(value + len, sizeof(value) - (size_t)len, "%s%d-%d", i ? "," : "",
		                i * 10, i * 10 + 4);
	CHECK_EQ(parse(value, 1000, rg, &n), OK);
	CHECK_EQ(n, WEB_MAX_RANGES);
	for (unsigned i = 0; i < n; i++) {
		CHECK_EQ(rg[i].first, i * 10);
		CHECK_EQ(rg[i].last, i * 10 + 4);
	}

	t_case("web_range %d ranges and empty elements", WEB_MAX_RANGES);
	len = snprintf(value, sizeof(value), "bytes=,");
	for (int i = 0; i < WEB_MAX_RANGES; i++)
		len += snprintf(value + len, sizeof(value) - (size_t)len, "%d-%d, ,", i, i);
	CHECK_EQ(parse(value, 1000, rg, &n), OK);
	CHECK_EQ(n, WEB_MAX_RANGES);

	t_case("web_range %d ranges", WEB_MAX_RANGES + 1);
	len = snprintf(value, sizeof(value), "bytes=");
	for (int i = 0; i <= WEB_MAX_RANGES; i++)
		len += snprintf(value + len, sizeof(value) - (size_t)len, "%s%d-", i ? "," : "", i);
	CHECK_EQ(parse(value, 1000, rg, &n), NONE);
	CHECK_EQ(n, 0);

	/* Unsatisfiable specs count too: the limit is on what was asked. */
	t_case("web_range %d ranges, most past the end", WEB_MAX_RANGES + 1);
	len = snprintf(value, sizeof(value), "bytes=0-0");
	for (int i = 0; i < WEB_MAX_RANGES; i++)
		len += snprintf(value + len, sizeof(value) - (size_t)len, ",%d-", 5000 + i);
	CHECK_EQ(parse(value, 1000, rg, &n), NONE);
	CHECK_EQ(n, 0);
}

/* Only value.len bytes are read: no NUL is needed, and what follows is not
 * part of the field. */
TEST(web_range_reads_only_len)
{
	struct web_range rg[WEB_MAX_RANGES];
	unsigned n = 99;
	static const char buf[] = "bytes=0-99,5-4";
	CHECK_EQ(web_range_parse((struct str){ buf, 10 }, 1000, rg, &n), OK);
	CHECK_EQ(n, 1);
	CHECK_EQ(rg[0].first, 0);
	CHECK_EQ(rg[0].last, 99);
	n = 99;
	CHECK_EQ(web_range_parse((struct str){ buf, 9 }, 1000, rg, &n), OK);
	CHECK_EQ(rg[0].last, 9);
	n = 99;
	CHECK_EQ(web_range_parse((struct str){ NULL, 0 }, 1000, rg, &n), NONE);
	CHECK_EQ(n, 0);
}

TEST(web_accepts_gzip_values)
{
	static const struct {
		const char *value;
		bool want;
	} rows[] = {
		{ "gzip", true },
		{ "GZIP", true },
		{ "Gzip", true },
		{ "  gzip  ", true },
		{ "deflate, gzip", true },
		{ "gzip, deflate, br", true },
		{ "gzip,", true },
		{ ",gzip", true },
		{ "gzip;q=1", true },
		{ "gzip;q=1.0", true },
		{ "gzip;q=1.000", true },
		{ "gzip; q=0.5", true },
		{ "gzip ;q=0.5", true },
		{ "gzip;q=0.001", true },
		{ "br;q=1.0, gzip;q=0.8, *;q=0.1", true },
		/* q=0 is "not acceptable" (RFC 9110 12.4.2) */
		{ "gzip;q=0", false },
		{ "gzip;q=0.", false },
		{ "gzip;q=0.0", false },
		{ "gzip;q=0.000", false },
		{ "gzip; q=0", false },
		{ "gzip;Q=0", false }, /* parameter names are case-insensitive */
		{ "br, gzip;q=0", false },
		/* "*" stands for codings not listed */
		{ "*", true },
		{ "*;q=0.5", true },
		{ "br, *", true },
		{ "*;q=0", false },
		{ "gzip;q=0, *", false }, /* listed and refused: "*" does not undo it */
		{ "*, gzip;q=0", false },
		{ "*;q=0, gzip", true },
		{ "*;q=0, gzip;q=0.1", true },
		/* gzip not asked for */
		{ "br, deflate", false },
		{ "", false },
		{ " ", false },
		{ ",", false },
		{ "identity", false },
		{ "identity;q=0", false },
		{ "compress", false },
		{ "gzipx", false },
		{ "xgzip", false },
		{ "gz", false },
		{ "**", false },
	};
	for (size_t i = 0; i < ARRAY_SIZE(rows); i++) {
		t_case("web_accepts_gzip \"%s\"", rows[i].value);
		CHECK_EQ(web_accepts_gzip((struct str){ rows[i].value, strlen(rows[i].value) }),
		         rows[i].want);
	}
	t_case("web_accepts_gzip reads only len");
	static const char buf[] = "br, gzip";
	CHECK_EQ(web_accepts_gzip((struct str){ buf, 6 }), false); /* "br, gz" */
	CHECK_EQ(web_accepts_gzip((struct str){ buf, 8 }), true);
	CHECK_EQ(web_accepts_gzip((struct str){ NULL, 0 }), false);
}
