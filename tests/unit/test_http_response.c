/* test_http_response.c - the response head parser against RFC 9112 and http.h.
 *
 * Status lines (RFC 9112 4), how a response says where its body ends (RFC
 * 9112 6.3) and that every malformed response is a 502 for the proxy.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/http.h"
#include "t.h"

static const struct http_limits lim = { .max_head = 8192, .max_headers = 64, .max_body = 1 << 20 };

/* An exact-size copy of what was received; the message points into it. */
static char *held;

static ssize_t parse_as(const char *s, size_t len, const struct http_limits *l,
                        enum http_method req, struct http_msg *m)
{
	size_t scan = 0;
	free(held);
	held = malloc(len ? len : 1);
	memcpy(held, s, len);
	return http_parse_response(held, len, &scan, l, req, m);
}

static ssize_t parse(const char *s, size_t len, struct http_msg *m)
{
	return parse_as(s, len, &lim, HTTP_GET, m);
}

static void check_ok(ssize_t n, size_t head_len, const struct http_msg *m)
{
	CHECK_EQ(n, (ssize_t)head_len);
	CHECK_EQ(m->head_len, head_len);
	CHECK_EQ(m->error_status, 0);
}

static void check_502(ssize_t n, const struct http_msg *m)
{
	CHECK_EQ(n, TS_ERROR);
	CHECK_EQ(m->error_status, 502);
	CHECK(m->error != NULL);
}

/* ---- status lines (RFC 9112 4) ---- */

static const struct {
	struct raw line; /* without its CRLF */
	bool ok;
	int status;
	int minor;
	const char *reason;
} status_rows[] = {
	{ RAW("HTTP/1.1 200 OK"), true, 200, 1, "OK" },
	{ RAW("HTTP/1.1 404 Not Found"), true, 404, 1, "Not Found" },
	{ RAW("HTTP/1.0 200 OK"), true, 200, 0, "OK" },
	{ RAW("HTTP/1.2 200 OK"), true, 200, 1, "OK" },
	{ RAW("HTTP/1.1 200 "), true, 200, 1, "" }, /* empty reason */
	{ RAW("HTTP/1.1 200"), true, 200, 1, "" },  /* no reason, no SP */
	{ RAW("HTTP/1.1 100 Continue"), true, 100, 1, "Continue" },
	{ RAW("HTTP/1.1 599 Whatever"), true, 599, 1, "Whatever" },
	{ RAW("HTTP/1.1 299 x"), true, 299, 1, "x" }, /* unknown code, known class */
	{ RAW("HTTP/1.1 200 A\tB  C "), true, 200, 1, "A\tB  C " },
	{ RAW("HTTP/1.1 200 caf\xc3\xa9"), true, 200, 1, "caf\xc3\xa9" }, /* obs-text */
	{ RAW("HTTP/1.1 200 a:b/c"), true, 200, 1, "a:b/c" },
	{ RAW("HTTP/1.1 600 Nope"), false, 0, 0, NULL },
	{ RAW("HTTP/1.1 099 Nope"), false, 0, 0, NULL },
	{ RAW("HTTP/1.1 20 OK"), false, 0, 0, NULL },
	{ RAW("HTTP/1.1 2000 OK"), false, 0, 0, NULL },
	{ RAW("HTTP/1.1 2x0 OK"), false, 0, 0, NULL },
	{ RAW("HTTP/1.1 200OK"), false, 0, 0, NULL },
	{ RAW("HTTP/1.1  200 OK"), false, 0, 0, NULL },
	{ RAW("HTTP/1.1\t200 OK"), false, 0, 0, NULL },
	{ RAW("HTTP/1.1 -20 OK"), false, 0, 0, NULL },
	{ RAW("HTTP/2.0 200 OK"), false, 0, 0, NULL },
	{ RAW("HTTP/1.10 200 OK"), false, 0, 0, NULL },
	{ RAW("http/1.1 200 OK"), false, 0, 0, NULL },
	{ RAW("HTTP/1.1"), false, 0, 0, NULL },
	{ RAW("ICY 200 OK"), false, 0, 0, NULL },
	{ RAW(" HTTP/1.1 200 OK"), false, 0, 0, NULL },
	{ RAW("HTTP/1.1 200 O\x01K"), false, 0, 0, NULL },
	{ RAW("HTTP/1.1 200 O\x7fK"), false, 0, 0, NULL },
	{ RAW("HTTP/1.1 200 O\0K"), false, 0, 0, NULL },
	{ RAW("HTTP/1.1 200 O\rK"), false, 0, 0, NULL },
	{ RAW(""), false, 0, 0, NULL },
};

TEST(http_response_status_lines)
{
	for (size_t i = 0; i < ARRAY_SIZE(status_rows); i++) {
		t_case("status line \"%.*s\"", (int)status_rows[i].line.len, status_rows[i].line.s);
		char buf[256];
		size_t n = status_rows[i].line.len;
		memcpy(buf, status_rows[i].line.s, n);
		memcpy(buf + n, "\r\nContent-Length: 0\r\n\r\n", 23);
		n += 23;
		struct http_msg m;
		ssize_t r = parse(buf, n, &m);
		if (!status_rows[i].ok) {
			check_502(r, &m);
			continue;
		}
		check_ok(r, n, &m);
		CHECK_EQ(m.status, status_rows[i].status);
		CHECK_EQ(m.minor, status_rows[i].minor);
		CHECK_STRN(m.reason, status_rows[i].reason);
	}
}

/* ---- framing (RFC 9112 6.3) and persistence (RFC 9112 9.3) ---- */

static const struct {
	const char *label;
	enum http_method req;
	const char *head; /* status line and fields, without the blank line */
	bool ok;
	enum http_framing framing;
	uint64_t content_length;
	bool keep_alive;
} framing_rows[] = {
	{ "Content-Length", HTTP_GET, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n", true,
	  HTTP_BODY_LENGTH, 5, true },
	{ "Content-Length: 0", HTTP_GET, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n", true,
	  HTTP_BODY_NONE, 0, true },
	{ "chunked", HTTP_GET, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n", true,
	  HTTP_BODY_CHUNKED, 0, true },
	{ "gzip, chunked", HTTP_POST, "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n",
	  true, HTTP_BODY_CHUNKED, 0, true },
	{ "nothing: read until close", HTTP_GET, "HTTP/1.1 200 OK\r\n", true, HTTP_BODY_CLOSE, 0,
	  false },
	{ "nothing, keep-alive asked: still until close", HTTP_GET,
	  "HTTP/1.1 200 OK\r\nConnection: keep-alive\r\n", true, HTTP_BODY_CLOSE, 0, false },
	{ "Transfer-Encoding gzip: until close", HTTP_GET,
	  "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n", true, HTTP_BODY_CLOSE, 0, false },
	{ "Transfer-Encoding chunked, gzip: until close", HTTP_GET,
	  "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n", true, HTTP_BODY_CLOSE, 0,
	  false },
	{ "HEAD with Content-Length", HTTP_HEAD, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n", true,
	  HTTP_BODY_NONE, 5, true },
	{ "HEAD with chunked", HTTP_HEAD, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n", true,
	  HTTP_BODY_NONE, 0, true },
	{ "HEAD with nothing", HTTP_HEAD, "HTTP/1.1 200 OK\r\n", true, HTTP_BODY_NONE, 0, true },
	{ "100", HTTP_GET, "HTTP/1.1 100 Continue\r\n", true, HTTP_BODY_NONE, 0, true },
	{ "101", HTTP_GET,
	  "HTTP/1.1 101 Switching Protocols\r\nConnection: upgrade\r\n"
	  "Upgrade: websocket\r\n",
	  true, HTTP_BODY_NONE, 0, true },
	{ "103", HTTP_GET, "HTTP/1.1 103 Early Hints\r\nLink: </s.css>\r\n", true, HTTP_BODY_NONE,
	  0, true },
	{ "204", HTTP_DELETE, "HTTP/1.1 204 No Content\r\n", true, HTTP_BODY_NONE, 0, true },
	{ "204 with Content-Length", HTTP_GET, "HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n",
	  true, HTTP_BODY_NONE, 5, true },
	{ "304 with Content-Length", HTTP_GET, "HTTP/1.1 304 Not Modified\r\nContent-Length: 5\r\n",
	  true, HTTP_BODY_NONE, 5, true },
	{ "304 with chunked", HTTP_GET,
	  "HTTP/1.1 304 Not Modified\r\nTransfer-Encoding: chunked\r\n", true, HTTP_BODY_NONE, 0,
	  true },
	{ "205 with Content-Length: 0", HTTP_GET, "HTTP/1.1 205 Reset\r\nContent-Length: 0\r\n",
	  true, HTTP_BODY_NONE, 0, true },
	{ "Connection: close", HTTP_GET,
	  "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: close\r\n", true, HTTP_BODY_LENGTH,
	  5, false },
	{ "HTTP/1.0 with Content-Length", HTTP_GET, "HTTP/1.0 200 OK\r\nContent-Length: 5\r\n",
	  true, HTTP_BODY_LENGTH, 5, false },
	{ "HTTP/1.0 keep-alive with Content-Length", HTTP_GET,
	  "HTTP/1.0 200 OK\r\nContent-Length: 5\r\nConnection: keep-alive\r\n", true,
	  HTTP_BODY_LENGTH, 5, true },
	{ "HTTP/1.0 with nothing", HTTP_GET, "HTTP/1.0 200 OK\r\n", true, HTTP_BODY_CLOSE, 0,
	  false },
	{ "Content-Length with Transfer-Encoding", HTTP_GET,
	  "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n", false, 0, 0,
	  false },
	/* a list, even of equal values, is refused as in requests */
	{ "identical duplicate Content-Length", HTTP_GET,
	  "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 5\r\n", false, 0, 0, false },
	{ "Content-Length \"5, 5\"", HTTP_GET, "HTTP/1.1 200 OK\r\nContent-Length: 5, 5\r\n", false,
	  0, 0, false },
	{ "differing Content-Length", HTTP_GET,
	  "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n", false, 0, 0, false },
	{ "differing Content-Length list", HTTP_GET, "HTTP/1.1 200 OK\r\nContent-Length: 5, 6\r\n",
	  false, 0, 0, false },
	{ "non-numeric Content-Length", HTTP_GET, "HTTP/1.1 200 OK\r\nContent-Length: five\r\n",
	  false, 0, 0, false },
	{ "signed Content-Length", HTTP_GET, "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n", false, 0,
	  0, false },
	{ "overflowing Content-Length", HTTP_GET,
	  "HTTP/1.1 200 OK\r\nContent-Length: 18446744073709551616\r\n", false, 0, 0, false },
	{ "chunked, chunked", HTTP_GET,
	  "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, chunked\r\n", false, 0, 0, false },
	{ "Transfer-Encoding in HTTP/1.0", HTTP_GET,
	  "HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n", false, 0, 0, false },
	{ "obs-fold", HTTP_GET, "HTTP/1.1 200 OK\r\nX: a\r\n b\r\nContent-Length: 0\r\n", false, 0,
	  0, false },
	{ "whitespace before colon", HTTP_GET, "HTTP/1.1 200 OK\r\nContent-Length : 5\r\n", false,
	  0, 0, false },
	{ "bare LF in a field", HTTP_GET, "HTTP/1.1 200 OK\nContent-Length: 0\r\n", false, 0, 0,
	  false },
	{ "bare CR in a field", HTTP_GET, "HTTP/1.1 200 OK\r\nX: a\rb\r\nContent-Length: 0\r\n",
	  false, 0, 0, false },
	{ "control char in a value", HTTP_GET, "HTTP/1.1 200 OK\r\nX: a\x01z\r\n", false, 0, 0,
	  false },
	{ "empty field name", HTTP_GET, "HTTP/1.1 200 OK\r\n: a\r\n", false, 0, 0, false },
	{ "empty status line", HTTP_GET, "", false, 0, 0, false },
};

TEST(http_response_framing)
{
	for (size_t i = 0; i < ARRAY_SIZE(framing_rows); i++) {
		t_case("response framing: %s", framing_rows[i].label);
		char buf[512];
		size_t n = (size_t)snprintf(buf, sizeof(buf), "%s\r\n", framing_rows[i].head);
		struct http_msg m;
		ssize_t r = parse_as(buf, n, &lim, framing_rows[i].req, &m);
		if (!framing_rows[i].ok) {
			check_502(r, &m);
			continue;
		}
		check_ok(r, n, &m);
		CHECK_EQ(m.framing, framing_rows[i].framing);
		CHECK_EQ(m.content_length, framing_rows[i].content_length);
		CHECK_EQ(m.keep_alive, framing_rows[i].keep_alive);
	}
}

TEST(http_response_limits)
{
	static char buf[4096];
	struct http_limits l = lim;
	struct http_msg m;
	size_t n = (size_t)snprintf(buf, sizeof(buf), "HTTP/1.1 200 OK\r\nX-Pad: ");
	while (n < 996)
		buf[n++] = 'p';
	memcpy(buf + n, "\r\n\r\n", 4);
	n += 4;

	t_case("response head of exactly max_head bytes");
	l.max_head = 1000;
	check_ok(parse_as(buf, n, &l, HTTP_GET, &m), n, &m);

	t_case("response head over max_head -> 502");
	l.max_head = 990;
	check_502(parse_as(buf, n, &l, HTTP_GET, &m), &m);

	t_case("incomplete response head over max_head -> 502");
	l.max_head = 500;
	check_502(parse_as(buf, 600, &l, HTTP_GET, &m), &m);

	t_case("response with more than max_headers fields -> 502");
	l = lim;
	l.max_headers = 2;
	const char *r = "HTTP/1.1 200 OK\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n";
	check_502(parse_as(r, strlen(r), &l, HTTP_GET, &m), &m);
	r = "HTTP/1.1 200 OK\r\nA: 1\r\nB: 2\r\n\r\n";
	check_ok(parse_as(r, strlen(r), &l, HTTP_GET, &m), strlen(r), &m);
}

TEST(http_response_partial_and_pipelined)
{
	const char *r =
	    "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhelloHTTP/1.1 204 No Content\r\n\r\n";
	size_t head = strlen("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n");
	struct http_msg m;

	t_case("response head ends at its blank line, the body is left alone");
	check_ok(parse(r, strlen(r), &m), head, &m);
	CHECK(memcmp(held + head, "hello", 5) == 0);

	t_case("incomplete response heads -> AGAIN");
	for (size_t k = 0; k < head; k++) {
		ssize_t n = parse(r, k, &m);
		if (n != TS_AGAIN) {
			CHECK_EQ(n, TS_AGAIN);
			break;
		}
	}
	CHECK_EQ(m.error_status, 0);

	t_case("the next response after the body");
	const char *next = r + head + 5;
	check_ok(parse(next, strlen(next), &m), strlen(next), &m);
	CHECK_EQ(m.status, 204);
}

/* ---- split points ---- */

static bool str_same(struct str a, struct str b)
{
	return a.len == b.len && (a.len == 0 || memcmp(a.p, b.p, a.len) == 0);
}

static bool same_result(ssize_t ra, const struct http_msg *a, ssize_t rb, const struct http_msg *b)
{
	if (ra != rb)
		return false;
	if (ra == TS_ERROR)
		return a->error_status == b->error_status;
	if (ra < 0)
		return true;
	if (a->head_len != b->head_len || a->status != b->status ||
	    !str_same(a->reason, b->reason) || a->minor != b->minor || a->nheaders != b->nheaders ||
	    a->framing != b->framing || a->content_length != b->content_length ||
	    a->keep_alive != b->keep_alive || a->conn_flags != b->conn_flags)
		return false;
	for (unsigned i = 0; i < a->nheaders; i++)
		if (!str_same(a->headers[i].name, b->headers[i].name) ||
		    !str_same(a->headers[i].value, b->headers[i].value))
			return false;
	return true;
}

/* Arrival in pieces ending at cuts[], each call given all bytes so far (an
 * exact-size copy) and the same scan; *keep is the last copy. */
static ssize_t parse_pieces(const char *s, size_t len, const size_t *cuts, size_t ncuts,
                            enum http_method req, struct http_msg *m, char **keep)
{
	size_t scan = 0;
	ssize_t r = TS_AGAIN;
	*keep = NULL;
	for (size_t i = 0; i <= ncuts && r == TS_AGAIN; i++) {
		size_t n = i < ncuts ? cuts[i] : len;
		free(*keep);
		*keep = malloc(n ? n : 1);
		memcpy(*keep, s, n);
		r = http_parse_response(*keep, n, &scan, &lim, req, m);
	}
	return r;
}

static const struct {
	const char *label;
	enum http_method req;
	struct raw resp;
} split_rows[] = {
	{ "chunked response with fields", HTTP_GET,
	  RAW("HTTP/1.1 200 OK\r\nDate: Sun, 06 Nov 1994 08:49:37 GMT\r\n"
	      "Content-Type: text/html; charset=utf-8\r\nTransfer-Encoding: chunked\r\n"
	      "Connection: keep-alive\r\n\r\n5\r\nhello\r\n0\r\n\r\n") },
	{ "Content-Length response", HTTP_GET,
	  RAW("HTTP/1.0 404 Not Found\r\nContent-Length: 9\r\n\r\nnot found") },
	{ "HEAD response, no reason", HTTP_HEAD,
	  RAW("HTTP/1.1 200\r\nContent-Length: 1234\r\n\r\n") },
	{ "close-delimited response", HTTP_GET, RAW("HTTP/1.1 200 OK\r\nServer: x\r\n\r\nabc") },
	{ "CL + TE response (an error)", HTTP_GET,
	  RAW("HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n") },
};

TEST(http_response_split_points)
{
	for (size_t i = 0; i < ARRAY_SIZE(split_rows); i++) {
		const char *s = split_rows[i].resp.s;
		size_t len = split_rows[i].resp.len;
		enum http_method req = split_rows[i].req;
		struct http_msg one, inc;
		char *one_buf, *inc_buf;
		ssize_t r1 = parse_pieces(s, len, NULL, 0, req, &one, &one_buf);
		CHECK(r1 != TS_AGAIN);

		t_case("response split in two at every byte: %s", split_rows[i].label);
		long bad = -1;
		for (size_t k = 0; k <= len && bad < 0; k++) {
			ssize_t r2 = parse_pieces(s, len, &k, 1, req, &inc, &inc_buf);
			if (!same_result(r1, &one, r2, &inc))
				bad = (long)k;
			free(inc_buf);
		}
		CHECK_EQ(bad, -1);

		t_case("response one byte at a time: %s", split_rows[i].label);
		size_t *cuts = malloc(len * sizeof(*cuts));
		for (size_t k = 0; k < len; k++)
			cuts[k] = k + 1;
		ssize_t r3 = parse_pieces(s, len, cuts, len, req, &inc, &inc_buf);
		CHECK(same_result(r1, &one, r3, &inc));
		free(inc_buf);
		free(cuts);
		free(one_buf);
	}
}

TEST(http_response_reasons_and_dates)
{
	CHECK_STR(http_status_reason(200), "OK");
	CHECK_STR(http_status_reason(413), "Content Too Large"); /* RFC 9110 15.5.14 */
	CHECK_STR(http_status_reason(431), "Request Header Fields Too Large");
	CHECK_STR(http_status_reason(505), "HTTP Version Not Supported");
	char d[30];
	http_date(784111777, d); /* RFC 9110 5.6.7's example */
	CHECK_STR(d, "Sun, 06 Nov 1994 08:49:37 GMT");
	http_date(0, d);
	CHECK_STR(d, "Thu, 01 Jan 1970 00:00:00 GMT");
}
