/* fuzz_app_text.c - libFuzzer target for the app's text helpers (app/text.h).
 *
 * Byte 0 picks form_field's outlen (below 0x80: 0 to 31, so the limit is met
 * often; else body length + 1, as the app calls it), byte 1 a field or
 * cookie name; the rest, in an exact-size heap copy (so ASan sees a read past
 * the length), is the form body and the Cookie header. The whole input is
 * also given to utf8_valid, html_escape, text_id, idem_key_valid and
 * gtid_next. form_field's
 * output is an exact-size heap buffer of outlen bytes, so a write past it is
 * an ASan report. A violation is __builtin_trap(), so libFuzzer saves the
 * input:
 *   - utf8_valid agrees with a decoder written from Unicode's table of
 *     well-formed byte sequences (Table 3-7), code point count included;
 *   - form_field agrees with a reference decoder: same answer, same bytes,
 *     -2 exactly when the value (plus its NUL) does not fit outlen, and a
 *     length below outlen followed by a NUL;
 *   - cookie_value agrees with a reference; what it returns lies inside the
 *     header;
 *   - html_escape leaves none of & < > " ' raw (each '&' starts an entity),
 *     has the expected length, and unescaping gives back the input;
 *   - text_id is -1 or in [1, 10^18), and agrees with strtoll on 1 to 18
 *     digits;
 *   - idem_key_valid agrees with a reference (1 to 128 of A-Z a-z 0-9 _ - . :);
 *   - gtid_next agrees, GTID by GTID, with a reference parser of its own
 *     (values, where it stops, and a refusal that moves nothing).
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "app/text.h"
#include "core/sbuf.h"
#include "fuzz.h"

/* Field and cookie names; none is empty (an app never asks for one). */
static const char *const names[] = { "author", "body", "a",   "ab", "tristack_gtid",
	                             "sid",    "x=y",  "%41", "a+b" };

/* ---- utf8_valid ---- */

/* Unicode 15, Table 3-7: the well-formed UTF-8 byte sequences. */
static bool ref_utf8(const unsigned char *s, size_t n, size_t *chars)
{
	static const struct {
		unsigned char lead_lo, lead_hi, len, second_lo, second_hi;
	} forms[] = {
		{ 0x00, 0x7f, 1, 0, 0 },       { 0xc2, 0xdf, 2, 0x80, 0xbf },
		{ 0xe0, 0xe0, 3, 0xa0, 0xbf }, { 0xe1, 0xec, 3, 0x80, 0xbf },
		{ 0xed, 0xed, 3, 0x80, 0x9f }, { 0xee, 0xef, 3, 0x80, 0xbf },
		{ 0xf0, 0xf0, 4, 0x90, 0xbf }, { 0xf1, 0xf3, 4, 0x80, 0xbf },
		{ 0xf4, 0xf4, 4, 0x80, 0x8f },
	};
	size_t count = 0;
	for (size_t i = 0; i < n; count++) {
		size_t f = 0;
		while (f < sizeof(forms) / sizeof(forms[0]) &&
		       (s[i] < forms[f].lead_lo || s[i] > forms[f].lead_hi))
			f++;
		if (f == sizeof(forms) / sizeof(forms[0]) || n - i < forms[f].len)
			return false;
		if (forms[f].len > 1 &&
		    (s[i + 1] < forms[f].second_lo || s[i + 1] > forms[f].second_hi))
			return false;
		for (size_t k = 2; k < forms[f].len; k++)
			if (s[i + k] < 0x80 || s[i + k] > 0xbf)
				return false;
		i += forms[f].len;
	}
	*chars = count;
	return true;
}

static void check_utf8(const char *s, size_t n)
{
	size_t chars = 12345, ref_chars = 0;
	bool ok = utf8_valid(s, n, &chars);
	REQUIRE(ok == ref_utf8((const unsigned char *)s, n, &ref_chars));
	REQUIRE(ok ? chars == ref_chars : chars == 12345);
	REQUIRE(utf8_valid(s, n, NULL) == ok);
}

/* ---- form_field ---- */

static bool is_hex(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* The first field named `name`, decoded into out (room for n bytes): its
 * length, -1 when absent, -2 on a bad escape. */
static long ref_form(const char *b, size_t n, const char *name, char *out)
{
	size_t nlen = strlen(name);
	for (size_t i = 0; i < n;) {
		size_t j = i, k;
		while (j < n && b[j] != '&')
			j++;
		for (k = i; k < j && b[k] != '='; k++)
			;
		if (k - i == nlen && memcmp(b + i, name, nlen) == 0) {
			long len = 0;
			for (size_t v = k < j ? k + 1 : j; v < j; v++) {
				if (b[v] == '%') {
					if (j - v < 3 || !is_hex(b[v + 1]) || !is_hex(b[v + 2]))
						return -2;
					char hex[3] = { b[v + 1], b[v + 2], '\0' };
					out[len++] = (char)strtol(hex, NULL, 16);
					v += 2;
				} else {
					out[len++] = b[v] == '+' ? ' ' : b[v];
				}
			}
			return len;
		}
		i = j + 1;
	}
	return -1;
}

static void check_form(const char *body, size_t n, const char *name, size_t outlen)
{
	char *want = malloc(n ? n : 1);
	long ref = ref_form(body, n, name, want);
	char *out = malloc(outlen);
	long r = form_field(body, n, name, out, outlen);
	if (ref >= 0 && (size_t)ref + 1 > outlen)
		ref = -2; /* no room for it and its NUL */
	REQUIRE(r == ref);
	if (r >= 0) {
		REQUIRE((size_t)r < outlen && out[r] == '\0');
		REQUIRE(memcmp(out, want, (size_t)r) == 0);
	}
	free(out);
	free(want);
}

/* ---- cookie_value ---- */

/* The first "name=value" pair, value trimmed of trailing blanks and of one
 * pair of quotes: its offset and length, or -1. */
static long ref_cookie(const char *h, size_t n, const char *name, size_t *len)
{
	size_t nlen = strlen(name);
	for (size_t i = 0; i < n;) {
		while (i < n && (h[i] == ' ' || h[i] == '\t'))
			i++;
		size_t j = i;
		while (j < n && h[j] != ';')
			j++;
		if (j - i > nlen && memcmp(h + i, name, nlen) == 0 && h[i + nlen] == '=') {
			size_t v = i + nlen + 1, e = j;
			while (e > v && (h[e - 1] == ' ' || h[e - 1] == '\t'))
				e--;
			if (e - v >= 2 && h[v] == '"' && h[e - 1] == '"')
				v++, e--;
			*len = e - v;
			return (long)v;
		}
		i = j + 1;
	}
	return -1;
}

static void check_cookie(const char *h, size_t n, const char *name)
{
	if (strchr(name, '=') || strchr(name, ';'))
		return; /* not a cookie-name */
	struct str v = cookie_value((struct str){ h, n }, name);
	size_t len = 0;
	long off = ref_cookie(h, n, name, &len);
	if (off < 0) {
		REQUIRE(v.p == NULL && v.len == 0);
		return;
	}
	REQUIRE(v.p != NULL && v.p >= h && v.len <= n && v.p + v.len <= h + n);
	REQUIRE(v.p - h == off && v.len == len);
	REQUIRE(memchr(v.p, ';', v.len) == NULL);
}

/* ---- html_escape ---- */

static const char *const entities[][2] = {
	{ "&", "&amp;" }, { "<", "&lt;" }, { ">", "&gt;" }, { "\"", "&quot;" }, { "'", "&#39;" },
};

static void check_html(const char *s, size_t n)
{
	struct sbuf o = { 0 };
	html_escape(&o, s, n);
	size_t want = n;
	for (size_t i = 0; i < n; i++)
		for (size_t e = 0; e < 5; e++)
			if (s[i] == entities[e][0][0])
				want += strlen(entities[e][1]) - 1;
	REQUIRE(o.len == want);
	/* Unescape: every '&' starts an entity, nothing else is special. */
	size_t k = 0;
	for (size_t i = 0; i < o.len; k++) {
		REQUIRE(k < n);
		char c = o.p[i];
		REQUIRE(c != '<' && c != '>' && c != '"' && c != '\'');
		if (c != '&') {
			REQUIRE(s[k] == c);
			i++;
			continue;
		}
		size_t e = 0;
		while (e < 5 && (o.len - i < strlen(entities[e][1]) ||
		                 memcmp(o.p + i, entities[e][1], strlen(entities[e][1])) != 0))
			e++;
		REQUIRE(e < 5);
		REQUIRE(s[k] == entities[e][0][0]);
		i += strlen(entities[e][1]);
	}
	REQUIRE(k == n);
	sbuf_free(&o);
}

/* ---- idem_key_valid ---- */

static void check_key(const char *p, size_t n)
{
	static const char allowed[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	                              "0123456789_-.:";
	bool want = n >= 1 && n <= 128;
	for (size_t i = 0; want && i < n; i++)
		want = p[i] != '\0' && memchr(allowed, p[i], sizeof(allowed) - 1) != NULL;
	REQUIRE(idem_key_valid(p, n) == want);
}

/* ---- text_id ---- */

static void check_id(const char *p, size_t n)
{
	long long id = text_id(p, n);
	REQUIRE(id == -1 || (id >= 1 && id < 1000000000000000000LL));
	bool digits = n >= 1 && n <= 18;
	for (size_t i = 0; digits && i < n; i++)
		digits = p[i] >= '0' && p[i] <= '9';
	if (!digits) {
		REQUIRE(id == -1);
		return;
	}
	char buf[19];
	memcpy(buf, p, n);
	buf[n] = '\0';
	long long want = strtoll(buf, NULL, 10);
	REQUIRE(id == (want == 0 ? -1 : want));
}

/* ---- gtid_next ---- */

/* Digits (at least one) worth at most max, then `end` (or, for ',', the
 * end of the input, but not a trailing ','): a reference written apart
 * from text.c's, with overflow found by the compiler's checked arithmetic. */
static bool ref_number(const char *p, size_t n, size_t *i, char end, uint64_t max, uint64_t *v)
{
	size_t start = *i;
	*v = 0;
	for (; *i < n && p[*i] >= '0' && p[*i] <= '9'; (*i)++)
		if (__builtin_mul_overflow(*v, 10, v) ||
		    __builtin_add_overflow(*v, (uint64_t)(p[*i] - '0'), v) || *v > max)
			return false;
	if (*i == start)
		return false;
	if (end == ',' && *i == n)
		return true;
	if (*i >= n || p[*i] != end || (end == ',' && *i + 1 == n))
		return false;
	(*i)++;
	return true;
}

static void check_gtid(const char *p, size_t n)
{
	struct str l = { p, n };
	size_t i = 0;
	for (;;) {
		struct gtid g;
		uint64_t d, s, q;
		size_t at = i;
		bool want = i < n && ref_number(p, n, &i, '-', UINT32_MAX, &d) &&
		            ref_number(p, n, &i, '-', UINT32_MAX, &s) &&
		            ref_number(p, n, &i, ',', UINT64_MAX, &q);
		bool got = gtid_next(&l, &g);
		REQUIRE(got == want);
		if (!got) {
			/* a refusal leaves the list where it was */
			REQUIRE(l.p == p + at && l.len == n - at);
			return;
		}
		REQUIRE(g.domain == d && g.server == s && g.seq == q);
		REQUIRE(l.p == p + i && l.len == n - i);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *whole = fuzz_copy(data, size);
	check_utf8(whole, size);
	check_html(whole, size);
	check_id(whole, size);
	check_key(whole, size);
	check_gtid(whole, size);
	free(whole);

	if (size < 2)
		return 0;
	size_t n = size - 2;
	char *rest = fuzz_copy(data + 2, n);
	const char *name = names[data[1] % (sizeof(names) / sizeof(names[0]))];
	check_form(rest, n, name, n + 1);
	check_form(rest, n, name, data[0] < 0x80 ? data[0] & 0x1f : n + 1);
	check_cookie(rest, n, name);
	/* The rest on its own, as a post id or a GTID cookie value would come. */
	check_id(rest, n);
	check_key(rest, n);
	check_gtid(rest, n);
	free(rest);
	return 0;
}
