/* test_http_chunked.c - the chunked transfer coding decoder (RFC 9112 7.1).
 *
 * Each body is decoded the way a connection would: bytes arrive in pieces,
 * the decoder is called until it wants more, and what it consumed is never
 * offered again. Every call gets an exact-size heap copy of the bytes it is
 * offered, so a sanitized build catches a read past them.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/http.h"
#include "t.h"

struct decoded {
	char out[4096];
	size_t outlen;
	size_t consumed;
	bool done;
	int error_status; /* 0 = no error */
	bool bad_span;    /* a data span outside the bytes offered */
};

/* Decode in[0..len) arriving in pieces that end at cuts[0] < cuts[1] < ...
 * (then the rest). */
static void decode_pieces(const char *in, size_t len, const size_t *cuts, size_t ncuts,
                          uint64_t max_body, uint32_t max_trailer, struct decoded *d)
{
	struct http_chunked c;
	http_chunked_init(&c, max_body, max_trailer);
	memset(d, 0, sizeof(*d));
	size_t avail = 0;
	for (size_t i = 0; i <= ncuts; i++) {
		avail = i < ncuts ? cuts[i] : len;
		for (;;) {
			size_t n = avail - d->consumed;
			char *copy = malloc(n ? n : 1);
			memcpy(copy, in + d->consumed, n);
			struct str data;
			ssize_t r = http_chunked_step(&c, copy, n, &data);
			if (r < 0) {
				d->error_status = c.error_status;
				free(copy);
				return;
			}
			if (data.len) {
				if (data.p < copy || data.p + data.len > copy + r ||
				    d->outlen + data.len > sizeof(d->out))
					d->bad_span = true;
				else
					memcpy(d->out + d->outlen, data.p, data.len);
				d->outlen += data.len;
			}
			free(copy);
			d->consumed += (size_t)r;
			if (http_chunked_done(&c)) {
				d->done = true;
				return;
			}
			if (r == 0 && data.len == 0)
				break; /* wants more bytes */
		}
	}
}

static void decode(const char *in, size_t len, uint64_t max_body, uint32_t max_trailer,
                   struct decoded *d)
{
	decode_pieces(in, len, NULL, 0, max_body, max_trailer, d);
}

static void check_decoded(const struct decoded *d, const char *body, size_t consumed)
{
	CHECK_EQ(d->error_status, 0);
	CHECK(!d->bad_span);
	CHECK(d->done);
	CHECK_EQ(d->consumed, consumed);
	CHECK_EQ(d->outlen, strlen(body));
	CHECK(d->outlen == strlen(body) && memcmp(d->out, body, d->outlen) == 0);
}

/* ---- well-formed bodies ---- */

static const struct {
	const char *label;
	struct raw in;
	const char *body;
	size_t after; /* bytes after the body, left alone */
} good_rows[] = {
	{ "single chunk", RAW("5\r\nhello\r\n0\r\n\r\n"), "hello", 0 },
	{ "two chunks", RAW("5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"), "hello world", 0 },
	{ "many one-byte chunks", RAW("1\r\na\r\n1\r\nb\r\n1\r\nc\r\n1\r\nd\r\n0\r\n\r\n"), "abcd",
	  0 },
	{ "empty body", RAW("0\r\n\r\n"), "", 0 },
	{ "uppercase hex", RAW("A\r\n0123456789\r\n0\r\n\r\n"), "0123456789", 0 },
	{ "lowercase hex", RAW("b\r\n0123456789a\r\n0\r\n\r\n"), "0123456789a", 0 },
	{ "mixed-case hex", RAW("1A\r\nabcdefghijklmnopqrstuvwxyz\r\n0\r\n\r\n"),
	  "abcdefghijklmnopqrstuvwxyz", 0 },
	{ "leading zeros", RAW("0005\r\nhello\r\n000\r\n\r\n"), "hello", 0 },
	{ "many leading zeros", RAW("000000000000000000000005\r\nhello\r\n0\r\n\r\n"), "hello", 0 },
	{ "data bytes that look like framing", RAW("8\r\n0\r\n\r\n\r\n\n\r\n0\r\n\r\n"),
	  "0\r\n\r\n\r\n\n", 0 },
	{ "extension name only", RAW("5;ext\r\nhello\r\n0\r\n\r\n"), "hello", 0 },
	{ "extension token value", RAW("5;name=value\r\nhello\r\n0\r\n\r\n"), "hello", 0 },
	{ "extension quoted value", RAW("5;name=\"quoted; value=x\"\r\nhello\r\n0\r\n\r\n"),
	  "hello", 0 },
	{ "extension quoted-pair", RAW("5;a=\"q\\\"x\\\\\"\r\nhello\r\n0\r\n\r\n"), "hello", 0 },
	{ "extension empty quoted value", RAW("5;a=\"\"\r\nhello\r\n0\r\n\r\n"), "hello", 0 },
	{ "several extensions", RAW("5;a=b;c=\"d\";e\r\nhello\r\n0\r\n\r\n"), "hello", 0 },
	{ "BWS before ';'", RAW("5 ;a=b\r\nhello\r\n0\r\n\r\n"), "hello", 0 },
	{ "HTAB BWS before ';'", RAW("5\t;a\r\nhello\r\n0\r\n\r\n"), "hello", 0 },
	{ "BWS everywhere", RAW("5 ; a = b ; c = \"d\" \r\nhello\r\n0\r\n\r\n"), "hello", 0 },
	{ "extension on the last chunk", RAW("5\r\nhello\r\n0;last=yes\r\n\r\n"), "hello", 0 },
	{ "one trailer field", RAW("5\r\nhello\r\n0\r\nX-Checksum: abc\r\n\r\n"), "hello", 0 },
	{ "two trailer fields", RAW("5\r\nhello\r\n0\r\nA: 1\r\nB-2: two words\r\n\r\n"), "hello",
	  0 },
	{ "trailer field with empty value", RAW("0\r\nX:\r\n\r\n"), "", 0 },
	{ "bytes after the body", RAW("5\r\nhello\r\n0\r\n\r\nGET / HTTP/1.1\r\n\r\n"), "hello",
	  18 },
	{ "next chunked body after the body", RAW("0\r\n\r\n0\r\n\r\n"), "", 5 },
};

TEST(http_chunked_good)
{
	for (size_t i = 0; i < ARRAY_SIZE(good_rows); i++) {
		t_case("chunked ok: %s", good_rows[i].label);
		struct decoded d;
		decode(good_rows[i].in.s, good_rows[i].in.len, 0, 0, &d);
		check_decoded(&d, good_rows[i].body, good_rows[i].in.len - good_rows[i].after);
	}
}

TEST(http_chunked_incomplete)
{
	struct decoded d;
	t_case("chunked: 15 significant hex digits are accepted");
	const char *in = "fffffffffffffff\r\nabc";
	decode(in, strlen(in), 0, 0, &d);
	CHECK_EQ(d.error_status, 0);
	CHECK(!d.done);
	CHECK_EQ(d.consumed, strlen(in));
	CHECK_EQ(d.outlen, 3);

	t_case("chunked: incomplete body is not done");
	in = "5\r\nhello\r\n0\r\n";
	decode(in, strlen(in), 0, 0, &d);
	CHECK_EQ(d.error_status, 0);
	CHECK(!d.done);
	CHECK_EQ(d.outlen, 5);

	t_case("chunked: nothing yet");
	decode("", 0, 0, 0, &d);
	CHECK_EQ(d.error_status, 0);
	CHECK(!d.done);
	CHECK_EQ(d.consumed, 0);
}

TEST(http_chunked_one_span_per_call)
{
	/* http.h: the call returns at the end of the data it points to. */
	struct http_chunked c;
	struct str data;
	const char *in = "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n";
	http_chunked_init(&c, 0, 0);
	ssize_t r = http_chunked_step(&c, in, strlen(in), &data);
	CHECK_EQ(r, 8);
	CHECK_STRN(data, "hello");
	in += r;
	r = http_chunked_step(&c, in, strlen(in), &data);
	CHECK_EQ(r, 11);
	CHECK_STRN(data, " world");
	in += r;
	r = http_chunked_step(&c, in, strlen(in), &data);
	CHECK_EQ(r, 7);
	CHECK_EQ(data.len, 0);
	CHECK(http_chunked_done(&c));
	r = http_chunked_step(&c, "x", 1, &data);
	CHECK_EQ(r, 0); /* done: nothing more is consumed */
	CHECK_EQ(data.len, 0);
}

/* ---- malformed bodies ---- */

static const struct {
	const char *label;
	struct raw in;
	uint64_t max_body;
	uint32_t max_trailer;
	int status;
} bad_rows[] = {
	{ "empty size", RAW("\r\nhello\r\n0\r\n\r\n"), 0, 0, 400 },
	{ "size 'g'", RAW("g\r\n"), 0, 0, 400 },
	{ "size '-1'", RAW("-1\r\n"), 0, 0, 400 },
	{ "size '+1'", RAW("+1\r\nx\r\n"), 0, 0, 400 },
	{ "size '0x5'", RAW("0x5\r\nhello\r\n0\r\n\r\n"), 0, 0, 400 },
	{ "size '5 ' not followed by ';'", RAW("5 \r\nhello\r\n0\r\n\r\n"), 0, 0, 400 },
	{ "size '5 5'", RAW("5 5\r\nhello\r\n"), 0, 0, 400 },
	{ "leading SP before size", RAW(" 5\r\nhello\r\n"), 0, 0, 400 },
	{ "16 significant hex digits", RAW("1000000000000000\r\n"), 0, 0, 400 },
	{ "2^64 - 1", RAW("ffffffffffffffff\r\n"), 0, 0, 400 },
	{ "2^64 + 5 (wraps to 5)", RAW("10000000000000005\r\nhello\r\n0\r\n\r\n"), 0, 0, 400 },
	{ "bare LF after size", RAW("5\nhello\r\n0\r\n\r\n"), 0, 0, 400 },
	{ "bare LF after extension", RAW("5;a=b\nhello\r\n0\r\n\r\n"), 0, 0, 400 },
	{ "bare CR after size", RAW("5\rhello\r\n0\r\n\r\n"), 0, 0, 400 },
	{ "';' without extension name", RAW("5;\r\nhello\r\n0\r\n\r\n"), 0, 0, 400 },
	{ "extension without name", RAW("5;=x\r\nhello\r\n0\r\n\r\n"), 0, 0, 400 },
	{ "extension '=' without value", RAW("5;a=\r\nhello\r\n0\r\n\r\n"), 0, 0, 400 },
	{ "extension unterminated quote", RAW("5;a=\"x\r\nhello\r\n0\r\n\r\n"), 0, 0, 400 },
	{ "extension bad char in name", RAW("5;a(b)\r\nhello\r\n0\r\n\r\n"), 0, 0, 400 },
	{ "extension two tokens", RAW("5;a b\r\nhello\r\n0\r\n\r\n"), 0, 0, 400 },
	{ "extension control char in quotes", RAW("5;a=\"\x01\"\r\nhello\r\n0\r\n\r\n"), 0, 0,
	  400 },
	{ "missing CRLF after data", RAW("5\r\nhello0\r\n\r\n"), 0, 0, 400 },
	{ "LF only after data", RAW("5\r\nhello\n0\r\n\r\n"), 0, 0, 400 },
	{ "CR only after data", RAW("5\r\nhello\r0\r\n\r\n"), 0, 0, 400 },
	{ "data longer than declared", RAW("3\r\nhello\r\n0\r\n\r\n"), 0, 0, 400 },
	{ "no final CRLF, bare LF", RAW("0\r\n\n"), 0, 0, 400 },
	{ "final CR not followed by LF", RAW("0\r\n\rX"), 0, 0, 400 },
	{ "trailer: SP before colon", RAW("0\r\nX : y\r\n\r\n"), 0, 0, 400 },
	{ "trailer: obs-fold", RAW("0\r\nX: y\r\n z\r\n\r\n"), 0, 0, 400 },
	{ "trailer: bare LF", RAW("0\r\nX: y\n\r\n"), 0, 0, 400 },
	{ "trailer: control char", RAW("0\r\nX: a\x01z\r\n\r\n"), 0, 0, 400 },
	{ "trailer: empty name", RAW("0\r\n: y\r\n\r\n"), 0, 0, 400 },
	{ "trailer: no colon", RAW("0\r\nXY\r\n\r\n"), 0, 0, 400 },
	{ "body over max_body in one chunk", RAW("5\r\nhello\r\n0\r\n\r\n"), 4, 0, 413 },
	{ "body over max_body over two chunks", RAW("3\r\nabc\r\n3\r\ndef\r\n0\r\n\r\n"), 5, 0,
	  413 },
	{ "huge chunk under a limit", RAW("fffffffffffffff\r\n"), 1 << 20, 0, 413 },
	{ "trailer over max_trailer",
	  RAW("0\r\nX-Long: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\n"), 0, 16,
	  400 },
	{ "many trailers over max_trailer", RAW("0\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\n\r\n"), 0, 16,
	  400 },
};

TEST(http_chunked_bad)
{
	for (size_t i = 0; i < ARRAY_SIZE(bad_rows); i++) {
		t_case("chunked error: %s", bad_rows[i].label);
		struct decoded d;
		decode(bad_rows[i].in.s, bad_rows[i].in.len, bad_rows[i].max_body,
		       bad_rows[i].max_trailer, &d);
		CHECK_EQ(d.error_status, bad_rows[i].status);
		CHECK(!d.done);
	}
}

TEST(http_chunked_limits_ok)
{
	struct decoded d;
	const char *in = "3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n";
	t_case("body of exactly max_body bytes");
	decode(in, strlen(in), 5, 0, &d);
	check_decoded(&d, "abcde", strlen(in));

	t_case("small trailer under max_trailer");
	in = "0\r\nA: 1\r\n\r\n";
	decode(in, strlen(in), 0, 16, &d);
	check_decoded(&d, "", strlen(in));

	t_case("after an error, the decoder stays failed");
	struct http_chunked c;
	struct str data;
	http_chunked_init(&c, 0, 0);
	CHECK_EQ(http_chunked_step(&c, "x", 1, &data), TS_ERROR);
	CHECK_EQ(c.error_status, 400);
	CHECK_EQ(http_chunked_step(&c, "0\r\n\r\n", 5, &data), TS_ERROR);
	CHECK(!http_chunked_done(&c));
}

/* ---- split points: the decoder is resumable at any byte ---- */

static bool same_decoded(const struct decoded *a, const struct decoded *b)
{
	return a->error_status == b->error_status && a->done == b->done &&
	       a->bad_span == b->bad_span && (a->error_status || a->consumed == b->consumed) &&
	       a->outlen == b->outlen && memcmp(a->out, b->out, a->outlen) == 0;
}

static const struct {
	const char *label;
	struct raw in;
	uint64_t max_body;
} split_rows[] = {
	{ "extensions and trailers",
	  RAW("5;a=b\r\nhello\r\n1A ; name=\"quo\\\"ted\" ; x\r\nabcdefghijklmnopqrstuvwxyz\r\n"
	      "000;end\r\nX-Sum: 1234\r\nY: \r\n\r\nGET /"),
	  0 },
	{ "many small chunks", RAW("1\r\na\r\n2\r\nbc\r\n3\r\ndef\r\n0\r\n\r\n"), 0 },
	{ "body over max_body", RAW("4\r\nabcd\r\n4\r\nefgh\r\n0\r\n\r\n"), 6 },
	{ "data longer than declared", RAW("3\r\nabcd\r\n0\r\n\r\n"), 0 },
	{ "bad trailer", RAW("2\r\nab\r\n0\r\nX: y\r\n z\r\n\r\n"), 0 },
};

TEST(http_chunked_split_points)
{
	for (size_t i = 0; i < ARRAY_SIZE(split_rows); i++) {
		const char *in = split_rows[i].in.s;
		size_t len = split_rows[i].in.len;
		uint64_t max = split_rows[i].max_body;
		struct decoded *one = malloc(sizeof(*one)), *inc = malloc(sizeof(*inc));
		decode(in, len, max, 0, one);

		t_case("chunked split in two at every byte: %s", split_rows[i].label);
		long bad = -1;
		for (size_t k = 0; k <= len && bad < 0; k++) {
			decode_pieces(in, len, &k, 1, max, 0, inc);
			if (!same_decoded(one, inc))
				bad = (long)k;
		}
		CHECK_EQ(bad, -1);

		t_case("chunked one byte at a time: %s", split_rows[i].label);
		size_t *cuts = malloc(len * sizeof(*cuts));
		for (size_t k = 0; k < len; k++)
			cuts[k] = k + 1;
		decode_pieces(in, len, cuts, len, max, 0, inc);
		CHECK(same_decoded(one, inc));
		free(cuts);
		free(one);
		free(inc);
	}
	t_case("chunked split: the one-shot results are as expected");
	struct decoded d;
	decode(split_rows[0].in.s, split_rows[0].in.len, 0, 0, &d);
	check_decoded(&d, "helloabcdefghijklmnopqrstuvwxyz", split_rows[0].in.len - 5);
	decode(split_rows[2].in.s, split_rows[2].in.len, 6, 0, &d);
	CHECK_EQ(d.error_status, 413);
}
