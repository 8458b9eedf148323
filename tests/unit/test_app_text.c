/* The app's text helpers, each against its spec: utf8_valid (RFC 3629: no
 * overlong forms, no surrogates, nothing past U+10FFFF), form_field (WHATWG
 * application/x-www-form-urlencoded, with a bad escape refused), cookie_value
 * (RFC 6265 cookie-string), html_escape, text_id (a post id), idem_key_valid
 * (an Idempotency-Key) and gtid_next (a MariaDB GTID list). Every function reads only the length it
 * is given. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app/text.h"
#include "core/common.h"
#include "core/sbuf.h"
#include "t.h"

/* A literal with its length, so rows may hold NUL and any byte (a letter
 * after a \x escape is written \x61 too, or it would join the escape). */
#define B(s) s, sizeof(s) - 1

/* ---- utf8_valid ---- */

struct utf8_row {
	const char *what;
	const char *s;
	size_t n;
	bool ok;
	size_t chars;
};

static void check_utf8(const struct utf8_row *rows, size_t nrows)
{
	for (size_t i = 0; i < nrows; i++) {
		const struct utf8_row *w = &rows[i];
		t_case("utf8_valid %s", w->what);
		/* An exact-size copy, so a read past n would be seen by ASan. */
		char *s = malloc(w->n ? w->n : 1);
		memcpy(s, w->s, w->n);
		size_t chars = 777;
		bool ok = utf8_valid(s, w->n, &chars);
		CHECK_EQ(ok, w->ok);
		/* Counted only when valid. */
		CHECK_EQ(chars, w->ok ? w->chars : 777);
		CHECK_EQ(utf8_valid(s, w->n, NULL), w->ok);
		free(s);
	}
}

TEST(utf8_valid_accepts)
{
	static const struct utf8_row rows[] = {
		{ "empty", B(""), true, 0 },
		{ "ascii", B("hello"), true, 5 },
		{ "U+0000", B("\0"), true, 1 },
		{ "NUL inside", B("a\0b"), true, 3 },
		{ "U+007F", B("\x7f"), true, 1 },
		{ "U+0080, first of 2 bytes", B("\xc2\x80"), true, 1 },
		{ "U+07FF, last of 2 bytes", B("\xdf\xbf"), true, 1 },
		{ "U+0800, first of 3 bytes", B("\xe0\xa0\x80"), true, 1 },
		{ "U+D7FF, before the surrogates", B("\xed\x9f\xbf"), true, 1 },
		{ "U+E000, after the surrogates", B("\xee\x80\x80"), true, 1 },
		{ "U+FFFD", B("\xef\xbf\xbd"), true, 1 },
		{ "U+FFFE, a noncharacter is still UTF-8", B("\xef\xbf\xbe"), true, 1 },
		{ "U+FFFF, last of 3 bytes", B("\xef\xbf\xbf"), true, 1 },
		{ "U+10000, first of 4 bytes", B("\xf0\x90\x80\x80"), true, 1 },
		{ "U+10FFFF, the last code point", B("\xf4\x8f\xbf\xbf"), true, 1 },
		{ "U+FEFF, a BOM is a character", B("\xef\xbb\xbf"), true, 1 },
		{ "mixed widths", B("h\xc3\xa9llo \xe2\x82\xac \xf0\x9f\x98\x80"), true, 9 },
		{ "ascii after 4 bytes", B("\xf0\x9f\x98\x80z"), true, 2 },
	};
	check_utf8(rows, ARRAY_SIZE(rows));
}

TEST(utf8_valid_refuses)
{
	static const struct utf8_row rows[] = {
		/* overlong forms (RFC 3629 3, 10) */
		{ "overlong NUL in 2 bytes", B("\xc0\x80"), false, 0 },
		{ "overlong '/' in 2 bytes", B("\xc0\xaf"), false, 0 },
		{ "overlong U+007F in 2 bytes", B("\xc1\xbf"), false, 0 },
		{ "overlong NUL in 3 bytes", B("\xe0\x80\x80"), false, 0 },
		{ "overlong '/' in 3 bytes", B("\xe0\x80\xaf"), false, 0 },
		{ "overlong U+07FF in 3 bytes", B("\xe0\x9f\xbf"), false, 0 },
		{ "overlong NUL in 4 bytes", B("\xf0\x80\x80\x80"), false, 0 },
		{ "overlong '/' in 4 bytes", B("\xf0\x80\x80\xaf"), false, 0 },
		{ "overlong U+FFFF in 4 bytes", B("\xf0\x8f\xbf\xbf"), false, 0 },
		/* UTF-16 surrogates */
		{ "U+D800", B("\xed\xa0\x80"), false, 0 },
		{ "U+DBFF", B("\xed\xaf\xbf"), false, 0 },
		{ "U+DC00", B("\xed\xb0\x80"), false, 0 },
		{ "U+DFFF", B("\xed\xbf\xbf"), false, 0 },
		{ "a CESU-8 surrogate pair", B("\xed\xa0\xbd\xed\xb8\x80"), false, 0 },
		/* past U+10FFFF */
		{ "U+110000", B("\xf4\x90\x80\x80"), false, 0 },
		{ "U+13FFFF", B("\xf4\xbf\xbf\xbf"), false, 0 },
		{ "0xF5 lead", B("\xf5\x80\x80\x80"), false, 0 },
		{ "0xF7 lead", B("\xf7\xbf\xbf\xbf"), false, 0 },
		{ "5-byte form", B("\xf8\x88\x80\x80\x80"), false, 0 },
		{ "6-byte form", B("\xfc\x84\x80\x80\x80\x80"), false, 0 },
		{ "0xFE", B("\xfe"), false, 0 },
		{ "0xFF", B("\xff"), false, 0 },
		{ "0xC0 alone", B("\xc0"), false, 0 },
		{ "0xC1 before ascii", B("\xc1\x61"), false, 0 },
		/* continuation bytes without a lead */
		{ "lone 0x80", B("\x80"), false, 0 },
		{ "lone 0xBF", B("\xbf"), false, 0 },
		{ "0x80 between ascii", B("a\x80\x62"), false, 0 },
		{ "one continuation too many", B("\xc2\x80\x80"), false, 0 },
		{ "continuation after 4 bytes", B("\xf0\x90\x80\x80\x80"), false, 0 },
		/* sequences cut short at the end */
		{ "2-byte lead at end", B("\xc2"), false, 0 },
		{ "3-byte, 1 of 2 continuations", B("\xe0\xa0"), false, 0 },
		{ "euro sign cut after ascii", B("a\xe2\x82"), false, 0 },
		{ "4-byte, 2 of 3 continuations", B("\xf0\x90\x80"), false, 0 },
		{ "0xF4 at end", B("\xf4"), false, 0 },
		/* sequences cut short by another byte */
		{ "2-byte lead then ascii", B("\xc2\x61"), false, 0 },
		{ "3-byte lead, ascii in the middle", B("\xe2\x61\x82"), false, 0 },
		{ "3-byte lead, ascii last", B("\xe2\x82\x61"), false, 0 },
		{ "4-byte lead then a new lead", B("\xf0\x90\xc2\x80"), false, 0 },
		{ "lead then NUL", B("\xc2\0"), false, 0 },
		{ "valid text then a bad byte", B("h\xc3\xa9llo\xff"), false, 0 },
	};
	check_utf8(rows, ARRAY_SIZE(rows));
}

TEST(utf8_valid_reads_only_n)
{
	t_case("utf8_valid stops at n");
	static const char buf[] = "ab\xff";
	size_t chars = 0;
	CHECK(utf8_valid(buf, 2, &chars));
	CHECK_EQ(chars, 2);
	CHECK(!utf8_valid(buf, 3, &chars));
	static const char euro[] = "\xe2\x82\xac";
	CHECK(!utf8_valid(euro, 2, NULL)); /* cut by n, not by the bytes */
	CHECK(utf8_valid(euro, 3, &chars));
	CHECK_EQ(chars, 1);
	CHECK(utf8_valid(NULL, 0, &chars));
	CHECK_EQ(chars, 0);
}

/* ---- form_field ---- */

struct form_row {
	const char *body;
	const char *name;
	size_t outlen;
	long want;
	const char *value; /* want bytes of it when want >= 0 */
};

/* Decode into a buffer with canaries after outlen: nothing may be written
 * there, and an answer >= 0 is followed by a NUL. */
static long form(const char *body, size_t n, const char *name, char *out, size_t outlen)
{
	char *copy = malloc(n ? n : 1);
	memcpy(copy, body, n);
	char *buf = malloc(outlen + 16);
	memset(buf, 0xee, outlen + 16);
	long r = form_field(copy, n, name, buf, outlen);
	for (size_t i = outlen; i < outlen + 16; i++)
		if ((unsigned char)buf[i] != 0xee) {
			t_check(0, __FILE__, __LINE__, "wrote past outlen %zu at %zu", outlen, i);
			break;
		}
	CHECK(r >= -2);
	if (r >= 0) {
		t_check((size_t)r < outlen, __FILE__, __LINE__, "length %ld < outlen %zu", r,
		        outlen);
		if ((size_t)r < outlen) {
			CHECK_EQ(buf[r], '\0');
			memcpy(out, buf, (size_t)r + 1);
		}
	}
	free(buf);
	free(copy);
	return r;
}

static void check_form(const struct form_row *rows, size_t nrows)
{
	for (size_t i = 0; i < nrows; i++) {
		const struct form_row *w = &rows[i];
		t_case("form_field \"%s\" %s outlen %zu", w->body, w->name, w->outlen);
		char out[256];
		long r = form(w->body, strlen(w->body), w->name, out, w->outlen);
		CHECK_EQ(r, w->want);
		if (r >= 0 && r == w->want)
			t_check(memcmp(out, w->value, (size_t)r) == 0, __FILE__, __LINE__,
			        "value \"%.*s\", want \"%s\"", (int)r, out, w->value);
	}
}

TEST(form_field_finds)
{
	static const struct form_row rows[] = {
		{ "author=bob&body=hi", "author", 64, 3, "bob" },
		{ "author=bob&body=hi", "body", 64, 2, "hi" },
		{ "a=1&author=bob&b=2", "author", 64, 3, "bob" },
		{ "x=1&y=2&body=last", "body", 64, 4, "last" },
		/* empty values: "name=" and "name" alone (no '=') */
		{ "author=&body=x", "author", 64, 0, "" },
		{ "body=x&author=", "author", 64, 0, "" },
		{ "author&body=x", "author", 64, 0, "" },
		{ "body=x&author", "author", 64, 0, "" },
		/* the value runs to the next '&': a later '=' is part of it */
		{ "author=a=b&body=x", "author", 64, 3, "a=b" },
		/* the first of repeated fields */
		{ "author=1&author=2", "author", 64, 1, "1" },
		/* a name that is a prefix or a suffix of another */
		{ "authors=x&author=y", "author", 64, 1, "y" },
		{ "author=y&authors=x", "authors", 64, 1, "x" },
		{ "xauthor=1&author=2", "author", 64, 1, "2" },
		/* empty sequences are skipped */
		{ "&&author=x&&", "author", 64, 1, "x" },
		{ "=x&author=y", "author", 64, 1, "y" },
		/* a bad escape in another field is not this field's problem */
		{ "body=%zz&author=ok", "author", 64, 2, "ok" },
		{ "author=ok&body=%4", "author", 64, 2, "ok" },
	};
	check_form(rows, ARRAY_SIZE(rows));
}

TEST(form_field_absent)
{
	static const struct form_row rows[] = {
		{ "", "author", 64, -1, NULL },
		{ "body=x", "author", 64, -1, NULL },
		{ "authors=x", "author", 64, -1, NULL },
		{ "author=x", "authors", 64, -1, NULL },
		{ "xauthor=x", "author", 64, -1, NULL },
		{ "Author=x", "author", 64, -1, NULL }, /* names are compared exactly */
		{ "author =x", "author", 64, -1, NULL },
		{ "&", "author", 64, -1, NULL },
		{ "=author", "author", 64, -1, NULL },
	};
	check_form(rows, ARRAY_SIZE(rows));
}

TEST(form_field_decodes)
{
	static const struct form_row rows[] = {
		{ "author=a+b", "author", 64, 3, "a b" },
		{ "author=++", "author", 64, 2, "  " },
		{ "author=a%2Bb", "author", 64, 3, "a+b" },
		{ "author=a%2bb", "author", 64, 3, "a+b" },
		{ "author=%41%62", "author", 64, 2, "Ab" },
		{ "author=%e2%82%AC", "author", 64, 3, "\xe2\x82\xac" },
		{ "author=100%25", "author", 64, 4, "100%" },
		{ "author=a%26b&body=c", "author", 64, 3, "a&b" },
		{ "author=a%3Db", "author", 64, 3, "a=b" },
		{ "author=%2525", "author", 64, 3, "%25" }, /* decoded once */
		{ "author=%20+%20", "author", 64, 3, "   " },
		{ "author=a%00b", "author", 64, 3, "a\0b" },
		{ "author=%FF", "author", 64, 1, "\xff" }, /* a byte, not a check of UTF-8 */
	};
	check_form(rows, ARRAY_SIZE(rows));
}

TEST(form_field_malformed)
{
	static const struct form_row rows[] = {
		{ "author=%zz", "author", 64, -2, NULL },
		{ "author=%g0", "author", 64, -2, NULL },
		{ "author=%0g", "author", 64, -2, NULL },
		{ "author=%4", "author", 64, -2, NULL },
		{ "author=%4&body=x", "author", 64, -2, NULL },
		{ "author=%", "author", 64, -2, NULL },
		{ "author=%&body=x", "author", 64, -2, NULL },
		{ "author=ab%", "author", 64, -2, NULL },
		{ "author=% 41", "author", 64, -2, NULL },
		{ "author=%+41", "author", 64, -2, NULL },
		{ "author=%-1", "author", 64, -2, NULL },
	};
	check_form(rows, ARRAY_SIZE(rows));
}

/* outlen counts the NUL: a value of L bytes needs outlen L + 1. */
TEST(form_field_outlen)
{
	static const struct form_row rows[] = {
		{ "author=abcd", "author", 5, 4, "abcd" },
		{ "author=abcd", "author", 4, -2, NULL },
		{ "author=abcd", "author", 1, -2, NULL },
		{ "author=abcd&body=xyz", "author", 5, 4, "abcd" },
		{ "author=%41%42", "author", 3, 2, "AB" }, /* decoded length counts */
		{ "author=%41%42", "author", 2, -2, NULL },
		{ "author=a+b", "author", 4, 3, "a b" },
		{ "author=a+b", "author", 3, -2, NULL },
		{ "author=", "author", 1, 0, "" },
		{ "author", "author", 1, 0, "" },
		{ "author=a", "author", 1, -2, NULL },
		{ "author=a", "author", 2, 1, "a" },
		/* no room even for the NUL */
		{ "author=", "author", 0, -2, NULL },
		{ "author=a", "author", 0, -2, NULL },
		{ "author", "author", 0, -2, NULL },
		/* absent stays absent, whatever the room */
		{ "body=x", "author", 0, -1, NULL },
	};
	check_form(rows, ARRAY_SIZE(rows));
}

TEST(form_field_reads_only_n)
{
	char out[16];
	t_case("form_field stops at n");
	static const char buf[] = "author=bob&x=1";
	CHECK_EQ(form(buf, 9, "author", out, sizeof(out)), 2);
	CHECK(memcmp(out, "bo", 3) == 0);
	CHECK_EQ(form(buf, 6, "author", out, sizeof(out)), 0);  /* "author": no '=', empty */
	CHECK_EQ(form(buf, 5, "author", out, sizeof(out)), -1); /* "autho" */
	static const char esc[] = "author=%41";
	CHECK_EQ(form(esc, 9, "author", out, sizeof(out)), -2); /* "%4" at the end */
	CHECK_EQ(form(esc, 10, "author", out, sizeof(out)), 1);
}

/* ---- cookie_value ---- */

TEST(cookie_value_rows)
{
	static const struct {
		const char *header;
		const char *name;
		const char *want; /* NULL: absent */
	} rows[] = {
		{ "tristack_gtid=0-1-2", "tristack_gtid", "0-1-2" },
		{ "a=1; tristack_gtid=0-1-2; b=2", "tristack_gtid", "0-1-2" },
		{ "a=1; b=2; sid=last", "sid", "last" },
		{ "sid=first; b=2", "sid", "first" },
		/* the separator is "; " but be lenient about the space */
		{ "a=1;sid=x", "sid", "x" },
		{ "a=1;  \tsid=x", "sid", "x" },
		{ "sid=x ; b=2", "sid", "x" },
		{ "sid=x\t", "sid", "x" },
		/* DQUOTE *cookie-octet DQUOTE: the quotes are not the value */
		{ "sid=\"0-1-2\"", "sid", "0-1-2" },
		{ "a=1; sid=\"abc\"; b=2", "sid", "abc" },
		{ "sid=\"\"", "sid", "" },
		{ "sid=\"", "sid", "\"" },
		{ "sid=\"abc", "sid", "\"abc" },
		{ "sid=abc\"", "sid", "abc\"" },
		/* present and empty */
		{ "sid=", "sid", "" },
		{ "sid=; b=2", "sid", "" },
		/* the value runs to ';': a later '=' is part of it */
		{ "sid=a=b", "sid", "a=b" },
		/* the first of repeated cookies (RFC 6265 5.4: longer paths first) */
		{ "sid=1; sid=2", "sid", "1" },
		/* similar names */
		{ "xsid=1; sid=2", "sid", "2" },
		{ "sidx=1; sid=2", "sid", "2" },
		{ "sid2=1", "sid", NULL },
		{ "xsid=1", "sid", NULL },
		{ "SID=1", "sid", NULL }, /* cookie names are case-sensitive */
		{ "a=sid=3", "sid", NULL },
		/* no '=': not a cookie-pair */
		{ "sid", "sid", NULL },
		{ "sid; sid=5", "sid", "5" },
		/* empty pairs and trailing separators */
		{ ";;sid=7;;", "sid", "7" },
		{ "a=1;", "a", "1" },
		{ "", "sid", NULL },
		{ " ", "sid", NULL },
		{ ";", "sid", NULL },
		{ "a=1; b=2", "sid", NULL },
	};
	for (size_t i = 0; i < ARRAY_SIZE(rows); i++) {
		t_case("cookie_value \"%s\" %s", rows[i].header, rows[i].name);
		size_t n = strlen(rows[i].header);
		char *h = malloc(n ? n : 1);
		memcpy(h, rows[i].header, n);
		struct str v = cookie_value((struct str){ h, n }, rows[i].name);
		if (rows[i].want == NULL) {
			CHECK(v.p == NULL);
			CHECK_EQ(v.len, 0);
		} else {
			CHECK(v.p != NULL);
			/* a slice of the header, not a copy */
			CHECK(v.p >= h && v.p + v.len <= h + n);
			CHECK_STRN(v, rows[i].want);
		}
		free(h);
	}
}

TEST(cookie_value_reads_only_len)
{
	t_case("cookie_value stops at len");
	static const char buf[] = "sid=12345; x=1";
	CHECK_STRN(cookie_value((struct str){ buf, 6 }, "sid"), "12");
	CHECK(cookie_value((struct str){ buf, 3 }, "sid").p == NULL);
	CHECK(cookie_value((struct str){ buf, 12 }, "x").p == NULL);
}

/* ---- html_escape ---- */

static void check_escape(const char *s, size_t n, const char *want, size_t wantlen)
{
	struct sbuf o = { 0 };
	char *copy = malloc(n ? n : 1);
	memcpy(copy, s, n);
	html_escape(&o, copy, n);
	t_check(o.len == wantlen && (wantlen == 0 || memcmp(o.p, want, wantlen) == 0), __FILE__,
	        __LINE__, "got \"%.*s\", want \"%s\"", (int)o.len, o.p ? o.p : "", want);
	free(copy);
	sbuf_free(&o);
}

TEST(html_escape_rows)
{
	static const struct {
		const char *in;
		const char *want;
	} rows[] = {
		{ "", "" },
		{ "plain text", "plain text" },
		{ "&", "&amp;" },
		{ "<", "&lt;" },
		{ ">", "&gt;" },
		{ "\"", "&quot;" },
		{ "'", "&#39;" },
		{ "a&b", "a&amp;b" },
		{ "&&", "&amp;&amp;" },
		{ "<>", "&lt;&gt;" },
		{ "&amp;", "&amp;amp;" }, /* escaped again: the input is text */
		{ "<script>alert('x')</script>",
		  "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" },
		{ "<a href=\"x\" title='y'>", "&lt;a href=&quot;x&quot; title=&#39;y&#39;&gt;" },
		{ "caf\xc3\xa9 & th\xc3\xa9", "caf\xc3\xa9 &amp; th\xc3\xa9" },
		{ "\xff<", "\xff&lt;" }, /* bytes pass through */
		{ "x\n<", "x\n&lt;" },
	};
	for (size_t i = 0; i < ARRAY_SIZE(rows); i++) {
		t_case("html_escape \"%s\"", rows[i].in);
		check_escape(rows[i].in, strlen(rows[i].in), rows[i].want, strlen(rows[i].want));
	}

	t_case("html_escape with a NUL");
	check_escape(B("a\0<"), B("a\0&lt;"));

	t_case("html_escape reads only n");
	check_escape("a<b", 2, B("a&lt;"));

	t_case("html_escape appends");
	struct sbuf o = { 0 };
	sbuf_adds(&o, "x");
	html_escape(&o, "<", 1);
	html_escape(&o, "y", 1);
	CHECK_STRN(((struct str){ o.p, o.len }), "x&lt;y");
	CHECK_EQ(o.p[o.len], '\0');
	sbuf_free(&o);
}

TEST(html_escape_long_mixed)
{
	t_case("html_escape 10000 mixed bytes");
	static const char cycle[] = "ab&<c>\"d'e";
	size_t n = 10000;
	char *in = malloc(n);
	struct sbuf want = { 0 };
	for (size_t i = 0; i < n; i++) {
		char c = cycle[i % (sizeof(cycle) - 1)];
		in[i] = c;
		switch (c) {
		case '&':
			sbuf_adds(&want, "&amp;");
			break;
		case '<':
			sbuf_adds(&want, "&lt;");
			break;
		case '>':
			sbuf_adds(&want, "&gt;");
			break;
		case '"':
			sbuf_adds(&want, "&quot;");
			break;
		case '\'':
			sbuf_adds(&want, "&#39;");
			break;
		default:
			sbuf_add(&want, &c, 1);
		}
	}
	/* each cycle of 10 bytes: 5 plain, then 5+4+4+6+5 */
	CHECK_EQ(want.len, n / 10 * 29);
	check_escape(in, n, want.p, want.len);
	free(in);
	sbuf_free(&want);
}

/* ---- text_id ---- */

TEST(text_id_rows)
{
	static const struct {
		const char *s;
		long long want;
	} rows[] = {
		{ "1", 1 },
		{ "42", 42 },
		{ "9", 9 },
		{ "007", 7 }, /* 1 to 18 digits: leading zeros are digits */
		{ "000000000000000001", 1 },
		{ "999999999999999999", 999999999999999999LL },
		{ "100000000000000000", 100000000000000000LL },
		{ "1000000000000000000", -1 }, /* 19 digits */
		{ "0000000000000000001", -1 },
		{ "9999999999999999999", -1 },
		{ "99999999999999999999999", -1 },
		{ "0", -1 },
		{ "000", -1 },
		{ "000000000000000000", -1 },
		{ "", -1 },
		{ "-1", -1 },
		{ "+1", -1 },
		{ " 1", -1 },
		{ "1 ", -1 },
		{ "1a", -1 },
		{ "a1", -1 },
		{ "0x10", -1 },
		{ "1.0", -1 },
		{ "1e3", -1 },
		{ "12/", -1 },
		{ "/", -1 },
		{ ":", -1 },
		{ "\xd9\xa1", -1 }, /* ARABIC-INDIC DIGIT ONE is not a decimal digit here */
	};
	for (size_t i = 0; i < ARRAY_SIZE(rows); i++) {
		t_case("text_id \"%s\"", rows[i].s);
		size_t n = strlen(rows[i].s);
		char *p = malloc(n ? n : 1);
		memcpy(p, rows[i].s, n);
		CHECK_EQ(text_id(p, n), rows[i].want);
		free(p);
	}
	t_case("text_id reads only n");
	CHECK_EQ(text_id("123abc", 3), 123);
	CHECK_EQ(text_id("1\0002", 1), 1);
	CHECK_EQ(text_id("1\0002", 3), -1);
	CHECK_EQ(text_id(NULL, 0), -1);
}

/* ---- idem_key_valid ---- */

TEST(idem_key_valid_rows)
{
	static const struct {
		const char *what, *s;
		bool ok;
	} rows[] = {
		{ "one letter", "a", true },
		{ "a UUID", "3f2c9a0e-7b1d-4c55-9e2a-0d8f6b1c2e3a", true },
		{ "every kind of character", "AZaz09_-.:", true },
		{ "the form's own", "form:Qx3_Rk-8uV2bN4mT6pL1wA", true },
		{ "empty", "", false },
		{ "a space", "a b", false },
		{ "a leading space", " ab", false },
		{ "a slash", "a/b", false },
		{ "a plus", "a+b", false },
		{ "an equals sign", "a=b", false },
		{ "a comma", "a,b", false },
		{ "a semicolon", "a;b", false },
		{ "a quote", "a\"b", false },
		{ "a percent escape", "a%20b", false },
		{ "a tab", "a\tb", false },
		{ "a CR LF", "a\r\nX: y", false },
		{ "UTF-8", "caf\xc3\xa9", false },
		{ "a byte 0xff", "a\xff", false },
		{ "a tilde", "a~b", false },
	};
	for (size_t i = 0; i < ARRAY_SIZE(rows); i++) {
		t_case("idem_key_valid %s", rows[i].what);
		size_t n = strlen(rows[i].s);
		char *p = malloc(n ? n : 1); /* exact size: ASan sees a read past n */
		memcpy(p, rows[i].s, n);
		CHECK_EQ(idem_key_valid(p, n), rows[i].ok);
		free(p);
	}
}

TEST(idem_key_valid_lengths)
{
	char k[IDEM_KEY_MAX + 2];
	memset(k, 'k', sizeof(k));
	t_case("128 characters, the most");
	CHECK(idem_key_valid(k, IDEM_KEY_MAX));
	t_case("129 characters");
	CHECK(!idem_key_valid(k, IDEM_KEY_MAX + 1));
	t_case("reads only n: a NUL past it is not seen");
	CHECK(idem_key_valid("ab\0c", 2));
	t_case("a NUL inside n");
	CHECK(!idem_key_valid("ab\0c", 4));
	t_case("nothing at all");
	CHECK(!idem_key_valid(NULL, 0));
}

/* ---- gtid_next ---- */

TEST(gtid_next_takes_each_gtid_of_a_list)
{
	static const char list[] = "0-1-5,4294967295-4294967295-18446744073709551615,7-2-0";
	struct str l = { list, sizeof(list) - 1 };
	struct gtid g;
	t_case("first");
	CHECK(gtid_next(&l, &g));
	CHECK(g.domain == 0 && g.server == 1 && g.seq == 5);
	t_case("the largest numbers MariaDB has");
	CHECK(gtid_next(&l, &g));
	CHECK(g.domain == UINT32_MAX && g.server == UINT32_MAX && g.seq == UINT64_MAX);
	t_case("last, then the end");
	CHECK(gtid_next(&l, &g));
	CHECK(g.domain == 7 && g.server == 2 && g.seq == 0);
	CHECK_EQ(l.len, 0);
	CHECK(!gtid_next(&l, &g));
}

TEST(gtid_next_refuses_what_is_not_a_gtid)
{
	static const char *const bad[] = {
		"",
		"0",
		"0-1",
		"0-1-",
		"-0-1-2",
		"0--2",
		"a-1-2",
		"0-1-x",
		"0-1-2-3",
		"0-1-2,",
		"0-1-2 ",
		" 0-1-2",
		"+0-1-2",
		"0-1-0x2",
		"4294967296-1-2",
		"0-4294967296-2",
		"0-1-18446744073709551616",
		"0-1-99999999999999999999",
		"0-1-2;1-2-3",
		"0-1-2.abc",
	};
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		t_case("gtid_next \"%s\"", bad[i]);
		size_t n = strlen(bad[i]);
		char *p = malloc(n ? n : 1); /* exact size: ASan sees a read past n */
		memcpy(p, bad[i], n);
		struct str l = { p, n }, before = l;
		struct gtid g;
		bool ok = gtid_next(&l, &g);
		/* one that parses must leave what follows (never a whole list) */
		CHECK(!ok || l.len > 0);
		CHECK(ok || (l.p == before.p && l.len == before.len));
		free(p);
	}
}
