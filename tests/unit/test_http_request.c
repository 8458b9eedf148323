/* test_http_request.c - the request head parser against RFC 9112 and http.h.
 *
 * Expectations come from the RFCs (section numbers in the row labels) and
 * from the contract in http.h, not from what the code happens to do. Every
 * input is parsed from an exact-size heap copy, so a sanitized build catches
 * a read past the end of what was received.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/http.h"
#include "t.h"

static const struct http_limits lim = { .max_head = 8192, .max_headers = 64, .max_body = 1 << 20 };

/* The copy the last parse looked at; the message points into it, so it
 * lives until the next parse. */
static char *held;

static const char *hold(const char *s, size_t len)
{
	free(held);
	held = malloc(len ? len : 1);
	memcpy(held, s, len);
	return held;
}

static ssize_t parse_with(const char *s, size_t len, const struct http_limits *l,
                          struct http_msg *m)
{
	size_t scan = 0;
	return http_parse_request(hold(s, len), len, &scan, l, m);
}

static ssize_t parse(const char *s, size_t len, struct http_msg *m)
{
	return parse_with(s, len, &lim, m);
}

static ssize_t parse_str(const char *s, struct http_msg *m)
{
	return parse(s, strlen(s), m);
}

/* "METHOD SP target SP version CRLF fields CRLF" into out; a NULL version
 * leaves it (and its SP) out. Returns the length. */
static size_t build(char *out, size_t cap, const char *method, struct raw target,
                    const char *version, const char *fields)
{
	size_t n = 0;
	n += (size_t)snprintf(out + n, cap - n, "%s ", method);
	memcpy(out + n, target.s, target.len);
	n += target.len;
	if (version)
		n += (size_t)snprintf(out + n, cap - n, " %s", version);
	n += (size_t)snprintf(out + n, cap - n, "\r\n%s\r\n", fields);
	return n;
}

/* A successful parse consumed exactly the head. */
static void check_ok(ssize_t n, size_t head_len, const struct http_msg *m)
{
	CHECK_EQ(n, (ssize_t)head_len);
	CHECK_EQ(m->head_len, head_len);
	CHECK_EQ(m->error_status, 0);
}

static void check_fail(ssize_t n, int status, const struct http_msg *m)
{
	CHECK_EQ(n, TS_ERROR);
	CHECK_EQ(m->error_status, status);
	CHECK(m->error != NULL);
}

/* ---- methods (RFC 9110 9.1: case-sensitive tokens; extension methods) ---- */

static const struct {
	const char *name;
	enum http_method m;
	int status; /* 0 = parses */
} method_rows[] = {
	{ "GET", HTTP_GET, 0 },
	{ "HEAD", HTTP_HEAD, 0 },
	{ "POST", HTTP_POST, 0 },
	{ "PUT", HTTP_PUT, 0 },
	{ "DELETE", HTTP_DELETE, 0 },
	{ "OPTIONS", HTTP_OPTIONS, 0 },
	{ "PATCH", HTTP_PATCH, 0 },
	{ "TRACE", HTTP_TRACE, 0 },
	{ "PROPFIND", HTTP_OTHER, 0 },
	{ "M-SEARCH", HTTP_OTHER, 0 },
	{ "get", HTTP_OTHER, 0 },  /* methods are case-sensitive */
	{ "Post", HTTP_OTHER, 0 }, /* methods are case-sensitive */
	{ "GETS", HTTP_OTHER, 0 },
	{ "!#$%&'*+-.^_`|~09azAZ", HTTP_OTHER, 0 }, /* every tchar class */
	{ "GE(T", HTTP_OTHER, 400 },
	{ "GE\"T", HTTP_OTHER, 400 },
	{ "GE/T", HTTP_OTHER, 400 },
	{ "GE@T", HTTP_OTHER, 400 },
	{ "G\x01T", HTTP_OTHER, 400 },
	{ "G\xc3\x89T", HTTP_OTHER, 400 }, /* non-ASCII */
	{ "", HTTP_OTHER, 400 },           /* no method at all */
};

TEST(http_request_methods)
{
	for (size_t i = 0; i < ARRAY_SIZE(method_rows); i++) {
		t_case("request method \"%s\"", method_rows[i].name);
		char buf[256];
		size_t n = build(buf, sizeof(buf), method_rows[i].name, (struct raw)RAW("/"),
		                 "HTTP/1.1", "Host: h\r\n");
		struct http_msg m;
		ssize_t r = parse(buf, n, &m);
		if (method_rows[i].status) {
			check_fail(r, method_rows[i].status, &m);
			continue;
		}
		check_ok(r, n, &m);
		CHECK_EQ(m.method, method_rows[i].m);
		CHECK_STRN(m.method_name, method_rows[i].name);
	}
}

TEST(http_request_method_helpers)
{
	CHECK_STR(http_method_name(HTTP_GET), "GET");
	CHECK_STR(http_method_name(HTTP_OPTIONS), "OPTIONS");
	/* RFC 9110 9.2.2: GET HEAD PUT DELETE OPTIONS TRACE are idempotent. */
	CHECK(http_method_idempotent(HTTP_GET));
	CHECK(http_method_idempotent(HTTP_PUT));
	CHECK(http_method_idempotent(HTTP_DELETE));
	CHECK(!http_method_idempotent(HTTP_POST));
	CHECK(!http_method_idempotent(HTTP_PATCH));
	CHECK(!http_method_idempotent(HTTP_CONNECT));
}

/* ---- request targets (RFC 9112 3.2) ---- */

static const struct {
	const char *label;
	const char *method;
	struct raw target;
	int status;
	const char *path;
	const char *authority; /* the Host value is "h" */
	bool absolute;
} target_rows[] = {
	{ "origin-form root", "GET", RAW("/"), 0, "/", "h", false },
	{ "origin-form path and query", "GET", RAW("/a/b?c=d&e"), 0, "/a/b?c=d&e", "h", false },
	{ "origin-form percent-encoded", "GET", RAW("/%20x%2F"), 0, "/%20x%2F", "h", false },
	{ "absolute-form", "GET", RAW("http://example.com/x?y=1"), 0, "/x?y=1", "example.com",
	  true },
	{ "absolute-form without path", "GET", RAW("http://example.com"), 0, "/", "example.com",
	  true },
	{ "absolute-form scheme case-insensitive, port", "GET", RAW("HTTP://Example.COM:8080/p"), 0,
	  "/p", "Example.COM:8080", true },
	{ "absolute-form https", "POST", RAW("https://example.com/p"), 0, "/p", "example.com",
	  true },
	{ "absolute-form IP literal", "GET", RAW("http://[::1]:80/"), 0, "/", "[::1]:80", true },
	{ "absolute-form userinfo refused", "GET", RAW("http://user@example.com/"), 400, NULL, NULL,
	  false },
	{ "absolute-form userinfo with password refused", "GET", RAW("http://user:pw@example.com/"),
	  400, NULL, NULL, false },
	{ "absolute-form empty authority", "GET", RAW("http:///x"), 400, NULL, NULL, false },
	{ "absolute-form scheme only", "GET", RAW("http://"), 400, NULL, NULL, false },
	{ "absolute-form unknown scheme", "GET", RAW("ftp://example.com/"), 400, NULL, NULL,
	  false },
	{ "authority-form for GET", "GET", RAW("example.com:80"), 400, NULL, NULL, false },
	{ "authority-form for CONNECT", "CONNECT", RAW("example.com:443"), 0, "example.com:443",
	  "h", false },
	{ "authority-form IP literal for CONNECT", "CONNECT", RAW("[::1]:443"), 0, "[::1]:443", "h",
	  false },
	{ "CONNECT without port", "CONNECT", RAW("example.com"), 400, NULL, NULL, false },
	{ "CONNECT with empty port", "CONNECT", RAW("example.com:"), 400, NULL, NULL, false },
	{ "CONNECT with userinfo", "CONNECT", RAW("u@example.com:443"), 400, NULL, NULL, false },
	{ "CONNECT origin-form", "CONNECT", RAW("/x"), 400, NULL, NULL, false },
	{ "CONNECT asterisk-form", "CONNECT", RAW("*"), 400, NULL, NULL, false },
	{ "CONNECT absolute-form", "CONNECT", RAW("http://example.com:443/"), 400, NULL, NULL,
	  false },
	{ "asterisk-form for OPTIONS", "OPTIONS", RAW("*"), 0, "*", "h", false },
	{ "asterisk-form for GET", "GET", RAW("*"), 400, NULL, NULL, false },
	{ "asterisk-form for POST", "POST", RAW("*"), 400, NULL, NULL, false },
	{ "relative path", "GET", RAW("a/b"), 400, NULL, NULL, false },
	{ "NUL in target", "GET", RAW("/a\0b"), 400, NULL, NULL, false },
	{ "control char in target", "GET", RAW("/a\x01z"), 400, NULL, NULL, false },
	{ "VT in target", "GET", RAW("/a\x0bz"), 400, NULL, NULL, false },
	{ "DEL in target", "GET", RAW("/a\x7fz"), 400, NULL, NULL, false },
	{ "HTAB in target", "GET", RAW("/a\tb"), 400, NULL, NULL, false },
	{ "bare CR in target", "GET", RAW("/a\rb"), 400, NULL, NULL, false },
	{ "non-ASCII in target", "GET", RAW("/caf\xc3\xa9"), 400, NULL, NULL, false },
	{ "empty target", "GET", RAW(""), 400, NULL, NULL, false },
};

TEST(http_request_targets)
{
	for (size_t i = 0; i < ARRAY_SIZE(target_rows); i++) {
		t_case("request target: %s", target_rows[i].label);
		char buf[256];
		size_t n = build(buf, sizeof(buf), target_rows[i].method, target_rows[i].target,
		                 "HTTP/1.1", "Host: h\r\n");
		struct http_msg m;
		ssize_t r = parse(buf, n, &m);
		if (target_rows[i].status) {
			check_fail(r, target_rows[i].status, &m);
			continue;
		}
		check_ok(r, n, &m);
		CHECK_EQ(m.raw_target.len, target_rows[i].target.len);
		CHECK(memcmp(m.raw_target.p, target_rows[i].target.s, m.raw_target.len) == 0);
		CHECK_STRN(m.target, target_rows[i].path);
		CHECK_STRN(m.authority, target_rows[i].authority);
		CHECK_EQ(m.absolute_form, target_rows[i].absolute);
	}
}

TEST(http_request_absolute_form_overrides_host)
{
	/* RFC 9112 3.2.2: the target's authority wins over Host. */
	struct http_msg m;
	const char *r = "GET http://a.example/x HTTP/1.1\r\nHost: b.example\r\n\r\n";
	check_ok(parse_str(r, &m), strlen(r), &m);
	CHECK_STRN(m.authority, "a.example");
	CHECK_STRN(m.target, "/x");
	CHECK(m.host_index >= 0);
}

/* ---- versions (RFC 9112 2.3, RFC 9110 6.2) ---- */

static const struct {
	const char *version; /* NULL: no version at all */
	int status;
	int minor;
} version_rows[] = {
	{ "HTTP/1.1", 0, 1 },    { "HTTP/1.0", 0, 0 },    { "HTTP/1.2", 0, 1 },
	{ "HTTP/1.9", 0, 1 },    { "HTTP/2.0", 505, 0 },  { "HTTP/3.0", 505, 0 },
	{ "HTTP/0.9", 505, 0 },  { "HTTP/1", 400, 0 },    { "HTTP/1.", 400, 0 },
	{ "HTTP/1.10", 400, 0 }, { "HTTP/11.1", 400, 0 }, { "HTTP/1.1.1", 400, 0 },
	{ "http/1.1", 400, 0 },  { "HTTP/1.x", 400, 0 },  { "HTTP 1.1", 400, 0 },
	{ "HTTPS/1.1", 400, 0 }, { "HTTP/1.1 ", 400, 0 }, { "", 400, 0 },
	{ NULL, 400, 0 },
};

TEST(http_request_versions)
{
	for (size_t i = 0; i < ARRAY_SIZE(version_rows); i++) {
		const char *v = version_rows[i].version;
		t_case("request version \"%s\"", v ? v : "(missing)");
		char buf[256];
		size_t n = build(buf, sizeof(buf), "GET", (struct raw)RAW("/"), v, "Host: h\r\n");
		struct http_msg m;
		ssize_t r = parse(buf, n, &m);
		if (version_rows[i].status) {
			check_fail(r, version_rows[i].status, &m);
			continue;
		}
		check_ok(r, n, &m);
		CHECK_EQ(m.minor, version_rows[i].minor);
	}
}

/* ---- body framing (RFC 9112 6.1-6.3, RFC 9110 8.6) ---- */

static const struct {
	const char *label;
	const char *version;
	const char *fields;
	int status;
	enum http_framing framing;
	uint64_t content_length;
	bool te_other;
} framing_rows[] = {
	{ "no body headers", "HTTP/1.1", "", 0, HTTP_BODY_NONE, 0, false },
	{ "Content-Length: 0", "HTTP/1.1", "Content-Length: 0\r\n", 0, HTTP_BODY_NONE, 0, false },
	{ "Content-Length: 5", "HTTP/1.1", "Content-Length: 5\r\n", 0, HTTP_BODY_LENGTH, 5, false },
	{ "Content-Length with OWS", "HTTP/1.1", "Content-Length: \t 5 \t\r\n", 0, HTTP_BODY_LENGTH,
	  5, false },
	{ "Content-Length in HTTP/1.0", "HTTP/1.0", "Content-Length: 7\r\n", 0, HTTP_BODY_LENGTH, 7,
	  false },
	/* a list, even of equal values, is refused (nginx does; RFC 9110 8.6
	 * allows it) */
	{ "identical duplicate Content-Length", "HTTP/1.1",
	  "Content-Length: 5\r\nContent-Length: 5\r\n", 400, 0, 0, false },
	{ "Content-Length list \"5, 5\"", "HTTP/1.1", "Content-Length: 5, 5\r\n", 400, 0, 0,
	  false },
	{ "Content-Length list \"5,5\"", "HTTP/1.1", "Content-Length: 5,5\r\n", 400, 0, 0, false },
	{ "Content-Length list \"1000,1000\"", "HTTP/1.1", "Content-Length: 1000,1000\r\n", 400, 0,
	  0, false },
	{ "Content-Length trailing comma", "HTTP/1.1", "Content-Length: 5,\r\n", 400, 0, 0, false },
	{ "Content-Length equal to max_body", "HTTP/1.1", "Content-Length: 1048576\r\n", 0,
	  HTTP_BODY_LENGTH, 1048576, false },
	{ "Content-Length with leading zeros", "HTTP/1.1", "Content-Length: 0005\r\n", 0,
	  HTTP_BODY_LENGTH, 5, false },
	{ "differing duplicate Content-Length", "HTTP/1.1",
	  "Content-Length: 5\r\nContent-Length: 6\r\n", 400, 0, 0, false },
	{ "differing Content-Length list \"5, 6\"", "HTTP/1.1", "Content-Length: 5, 6\r\n", 400, 0,
	  0, false },
	{ "Content-Length empty", "HTTP/1.1", "Content-Length: \r\n", 400, 0, 0, false },
	{ "Content-Length non-numeric", "HTTP/1.1", "Content-Length: abc\r\n", 400, 0, 0, false },
	{ "Content-Length trailing junk", "HTTP/1.1", "Content-Length: 5a\r\n", 400, 0, 0, false },
	{ "Content-Length negative", "HTTP/1.1", "Content-Length: -5\r\n", 400, 0, 0, false },
	{ "Content-Length plus sign", "HTTP/1.1", "Content-Length: +5\r\n", 400, 0, 0, false },
	{ "Content-Length decimal", "HTTP/1.1", "Content-Length: 5.0\r\n", 400, 0, 0, false },
	{ "Content-Length hex", "HTTP/1.1", "Content-Length: 0x5\r\n", 400, 0, 0, false },
	{ "Content-Length inner space", "HTTP/1.1", "Content-Length: 1 2\r\n", 400, 0, 0, false },
	{ "Content-Length 2^64 overflows", "HTTP/1.1", "Content-Length: 18446744073709551616\r\n",
	  400, 0, 0, false },
	{ "Content-Length far past 2^64", "HTTP/1.1",
	  "Content-Length: 99999999999999999999999999\r\n", 400, 0, 0, false },
	{ "Content-Length over max_body", "HTTP/1.1", "Content-Length: 1048577\r\n", 413, 0, 0,
	  false },
	{ "Transfer-Encoding: chunked", "HTTP/1.1", "Transfer-Encoding: chunked\r\n", 0,
	  HTTP_BODY_CHUNKED, 0, false },
	{ "Transfer-Encoding: Chunked (case)", "HTTP/1.1", "Transfer-Encoding: Chunked\r\n", 0,
	  HTTP_BODY_CHUNKED, 0, false },
	{ "Transfer-Encoding: gzip, chunked", "HTTP/1.1", "Transfer-Encoding: gzip, chunked\r\n", 0,
	  HTTP_BODY_CHUNKED, 0, true },
	{ "Transfer-Encoding over two lines", "HTTP/1.1",
	  "Transfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n", 0, HTTP_BODY_CHUNKED, 0,
	  true },
	{ "Transfer-Encoding: chunked, gzip", "HTTP/1.1", "Transfer-Encoding: chunked, gzip\r\n",
	  400, 0, 0, false },
	{ "Transfer-Encoding: gzip", "HTTP/1.1", "Transfer-Encoding: gzip\r\n", 400, 0, 0, false },
	{ "Transfer-Encoding: xchunked", "HTTP/1.1", "Transfer-Encoding: xchunked\r\n", 400, 0, 0,
	  false },
	{ "Transfer-Encoding: chunkedx", "HTTP/1.1", "Transfer-Encoding: chunkedx\r\n", 400, 0, 0,
	  false },
	{ "Transfer-Encoding: chunked, chunked", "HTTP/1.1",
	  "Transfer-Encoding: chunked, chunked\r\n", 400, 0, 0, false },
	{ "Transfer-Encoding chunked on two lines", "HTTP/1.1",
	  "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n", 400, 0, 0, false },
	{ "Transfer-Encoding chunked then gzip lines", "HTTP/1.1",
	  "Transfer-Encoding: chunked\r\nTransfer-Encoding: gzip\r\n", 400, 0, 0, false },
	{ "Transfer-Encoding: identity", "HTTP/1.1", "Transfer-Encoding: identity\r\n", 400, 0, 0,
	  false },
	{ "Transfer-Encoding empty", "HTTP/1.1", "Transfer-Encoding: \r\n", 400, 0, 0, false },
	{ "Transfer-Encoding with Content-Length", "HTTP/1.1",
	  "Transfer-Encoding: chunked\r\nContent-Length: 5\r\n", 400, 0, 0, false },
	{ "Content-Length with Transfer-Encoding", "HTTP/1.1",
	  "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n", 400, 0, 0, false },
	{ "Content-Length: 0 with Transfer-Encoding", "HTTP/1.1",
	  "Content-Length: 0\r\nTransfer-Encoding: chunked\r\n", 400, 0, 0, false },
	{ "Transfer-Encoding in HTTP/1.0", "HTTP/1.0", "Transfer-Encoding: chunked\r\n", 400, 0, 0,
	  false },
};

TEST(http_request_framing)
{
	for (size_t i = 0; i < ARRAY_SIZE(framing_rows); i++) {
		t_case("request framing: %s", framing_rows[i].label);
		char fields[512], buf[1024];
		snprintf(fields, sizeof(fields), "Host: h\r\n%s", framing_rows[i].fields);
		size_t n = build(buf, sizeof(buf), "POST", (struct raw)RAW("/"),
		                 framing_rows[i].version, fields);
		struct http_msg m;
		ssize_t r = parse(buf, n, &m);
		if (framing_rows[i].status) {
			check_fail(r, framing_rows[i].status, &m);
			continue;
		}
		check_ok(r, n, &m);
		CHECK_EQ(m.framing, framing_rows[i].framing);
		if (m.framing == HTTP_BODY_LENGTH)
			CHECK_EQ(m.content_length, framing_rows[i].content_length);
		CHECK_EQ(m.te_other, framing_rows[i].te_other);
	}
}

TEST(http_request_body_limit_off)
{
	/* max_body 0 = no limit. */
	struct http_limits l = lim;
	l.max_body = 0;
	const char *r = "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 9999999999999999999\r\n\r\n";
	struct http_msg m;
	check_ok(parse_with(r, strlen(r), &l, &m), strlen(r), &m);
	CHECK_EQ(m.framing, HTTP_BODY_LENGTH);
	CHECK(m.content_length == 9999999999999999999ull);
}

/* ---- persistence (RFC 9112 9.3) ---- */

static const struct {
	const char *version;
	const char *fields;
	bool keep_alive;
	unsigned flags;
} keep_alive_rows[] = {
	{ "HTTP/1.1", "", true, 0 },
	{ "HTTP/1.1", "Connection: close\r\n", false, HTTP_CONN_CLOSE },
	{ "HTTP/1.1", "Connection: CLOSE\r\n", false, HTTP_CONN_CLOSE },
	{ "HTTP/1.1", "Connection: keep-alive\r\n", true, HTTP_CONN_KEEP_ALIVE },
	{ "HTTP/1.1", "Connection: keep-alive, close\r\n", false,
	  HTTP_CONN_KEEP_ALIVE | HTTP_CONN_CLOSE },
	{ "HTTP/1.1", "Connection: foo,  close\r\n", false, HTTP_CONN_OTHER | HTTP_CONN_CLOSE },
	{ "HTTP/1.1", "Connection: keep-alive\r\nConnection: close\r\n", false,
	  HTTP_CONN_KEEP_ALIVE | HTTP_CONN_CLOSE },
	{ "HTTP/1.1", "Connection: upgrade\r\nUpgrade: websocket\r\n", true, HTTP_CONN_UPGRADE },
	{ "HTTP/1.1", "Connection: closed\r\n", true, HTTP_CONN_OTHER },
	{ "HTTP/1.0", "", false, 0 },
	{ "HTTP/1.0", "Connection: keep-alive\r\n", true, HTTP_CONN_KEEP_ALIVE },
	{ "HTTP/1.0", "Connection: Keep-Alive\r\n", true, HTTP_CONN_KEEP_ALIVE },
	{ "HTTP/1.0", "Connection: close\r\n", false, HTTP_CONN_CLOSE },
	{ "HTTP/1.0", "Connection: keep-alive, close\r\n", false,
	  HTTP_CONN_KEEP_ALIVE | HTTP_CONN_CLOSE },
};

TEST(http_request_keep_alive)
{
	for (size_t i = 0; i < ARRAY_SIZE(keep_alive_rows); i++) {
		t_case("keep-alive: %s + \"%.*s\"", keep_alive_rows[i].version,
		       (int)strcspn(keep_alive_rows[i].fields, "\r"), keep_alive_rows[i].fields);
		char fields[512], buf[1024];
		snprintf(fields, sizeof(fields), "Host: h\r\n%s", keep_alive_rows[i].fields);
		size_t n = build(buf, sizeof(buf), "GET", (struct raw)RAW("/"),
		                 keep_alive_rows[i].version, fields);
		struct http_msg m;
		check_ok(parse(buf, n, &m), n, &m);
		CHECK_EQ(m.keep_alive, keep_alive_rows[i].keep_alive);
		CHECK_EQ(m.conn_flags, keep_alive_rows[i].flags);
	}
}

TEST(http_request_expect_and_upgrade)
{
	struct http_msg m;
	const char *r = "PUT /x HTTP/1.1\r\nHost: h\r\nExpect: 100-Continue\r\n"
	                "Content-Length: 3\r\nUpgrade: h2c\r\n\r\n";
	check_ok(parse_str(r, &m), strlen(r), &m);
	CHECK(m.expect_continue);
	CHECK(m.has_upgrade);
	r = "PUT /x HTTP/1.1\r\nHost: h\r\nExpect: 200-ok\r\n\r\n";
	check_ok(parse_str(r, &m), strlen(r), &m);
	CHECK(!m.expect_continue);
	CHECK(!m.has_upgrade);
}

/* ---- Host (RFC 9112 3.2, RFC 9110 7.2) ---- */

static const struct {
	const char *label;
	const char *version;
	const char *fields;
	int status;
	const char *authority;
} host_rows[] = {
	{ "present", "HTTP/1.1", "Host: example.com\r\n", 0, "example.com" },
	{ "with port", "HTTP/1.1", "Host: example.com:8080\r\n", 0, "example.com:8080" },
	{ "IP literal", "HTTP/1.1", "Host: [2001:db8::1]:80\r\n", 0, "[2001:db8::1]:80" },
	{ "name case-insensitive", "HTTP/1.1", "hOsT: example.com\r\n", 0, "example.com" },
	{ "empty value allowed", "HTTP/1.1", "Host:\r\n", 0, "" },
	{ "OWS trimmed", "HTTP/1.1", "Host: \t example.com \t\r\n", 0, "example.com" },
	{ "absent in HTTP/1.0", "HTTP/1.0", "", 0, "" },
	{ "present in HTTP/1.0", "HTTP/1.0", "Host: a\r\n", 0, "a" },
	{ "missing in HTTP/1.1", "HTTP/1.1", "", 400, NULL },
	{ "missing in HTTP/1.2", "HTTP/1.2", "", 400, NULL },
	{ "duplicate, same value", "HTTP/1.1", "Host: a\r\nHost: a\r\n", 400, NULL },
	{ "duplicate, different values", "HTTP/1.1", "Host: a\r\nX: y\r\nhost: b\r\n", 400, NULL },
	{ "duplicate in HTTP/1.0", "HTTP/1.0", "Host: a\r\nHost: b\r\n", 400, NULL },
	{ "space inside", "HTTP/1.1", "Host: a b\r\n", 400, NULL },
	{ "userinfo", "HTTP/1.1", "Host: user@a\r\n", 400, NULL },
	{ "slash", "HTTP/1.1", "Host: a/b\r\n", 400, NULL },
	{ "quote", "HTTP/1.1", "Host: a\"b\r\n", 400, NULL },
	{ "comma list", "HTTP/1.1", "Host: a, b\r\n", 400, NULL },
	{ "non-ASCII", "HTTP/1.1", "Host: caf\xc3\xa9\r\n", 400, NULL },
	{ "IP literal, no port", "HTTP/1.1", "Host: [::1]\r\n", 0, "[::1]" },
	{ "empty port", "HTTP/1.1", "Host: a:\r\n", 0, "a:" },
	{ "sub-delims in reg-name", "HTTP/1.1", "Host: a,b\r\n", 0, "a,b" },
	{ "port not digits", "HTTP/1.1", "Host: a:x\r\n", 400, NULL },
	{ "two colons", "HTTP/1.1", "Host: a:1:2\r\n", 400, NULL },
	{ "bracket never closed", "HTTP/1.1", "Host: [a\r\n", 400, NULL },
	{ "empty brackets", "HTTP/1.1", "Host: []\r\n", 400, NULL },
	{ "bracket inside a name", "HTTP/1.1", "Host: a[b]\r\n", 400, NULL },
	{ "text after the literal", "HTTP/1.1", "Host: [::1]x\r\n", 400, NULL },
	{ "closing bracket alone", "HTTP/1.1", "Host: a]\r\n", 400, NULL },
};

TEST(http_request_host)
{
	for (size_t i = 0; i < ARRAY_SIZE(host_rows); i++) {
		t_case("Host: %s", host_rows[i].label);
		char buf[512];
		size_t n = build(buf, sizeof(buf), "GET", (struct raw)RAW("/"),
		                 host_rows[i].version, host_rows[i].fields);
		struct http_msg m;
		ssize_t r = parse(buf, n, &m);
		if (host_rows[i].status) {
			check_fail(r, host_rows[i].status, &m);
			continue;
		}
		check_ok(r, n, &m);
		CHECK_STRN(m.authority, host_rows[i].authority);
		if (host_rows[i].fields[0])
			CHECK(m.host_index >= 0 &&
			      http_str_ieq(m.headers[m.host_index].name, "host"));
		else
			CHECK_EQ(m.host_index, -1);
	}
}

TEST(http_request_absolute_form_still_needs_host)
{
	/* RFC 9112 3.2: a 1.1 request without Host is a 400 whatever its target. */
	struct http_msg m;
	check_fail(parse_str("GET http://a/ HTTP/1.1\r\n\r\n", &m), 400, &m);
	const char *r = "GET http://a/ HTTP/1.0\r\n\r\n";
	check_ok(parse_str(r, &m), strlen(r), &m);
	CHECK_STRN(m.authority, "a");
}

/* ---- limits ---- */

/* A request whose head is exactly `size` bytes (size >= 64). */
static size_t sized_request(char *buf, size_t size)
{
	const char *pre = "GET / HTTP/1.1\r\nHost: h\r\nX-Pad: ";
	size_t n = strlen(pre);
	memcpy(buf, pre, n);
	while (n < size - 4)
		buf[n++] = 'p';
	memcpy(buf + n, "\r\n\r\n", 4);
	return n + 4;
}

TEST(http_request_head_limit)
{
	static char buf[4096];
	struct http_limits l = lim;
	struct http_msg m;
	size_t n = sized_request(buf, 1000);

	t_case("head of exactly max_head bytes parses");
	l.max_head = 1000;
	check_ok(parse_with(buf, n, &l, &m), n, &m);

	t_case("complete head over max_head -> 431");
	l.max_head = 990;
	check_fail(parse_with(buf, n, &l, &m), 431, &m);

	t_case("incomplete head over max_head -> 431");
	l.max_head = 500;
	check_fail(parse_with(buf, 600, &l, &m), 431, &m);

	t_case("incomplete head under max_head -> AGAIN");
	l.max_head = 1000;
	CHECK_EQ(parse_with(buf, 600, &l, &m), TS_AGAIN);
	CHECK_EQ(m.error_status, 0);

	t_case("complete head over max_head with bytes after it -> 431");
	memcpy(buf + n, "GET / HTTP/1.1\r\n", 16);
	l.max_head = 990;
	check_fail(parse_with(buf, n + 16, &l, &m), 431, &m);

	/* Bytes past the limit cannot decide the error: a server that got the
	 * first 600 bytes has already answered 431. */
	t_case("bare LF past max_head -> 431, in one piece and in two");
	buf[700] = '\n';
	l.max_head = 500;
	check_fail(parse_with(buf, n, &l, &m), 431, &m);
	size_t scan = 0;
	CHECK_EQ(http_parse_request(buf, 400, &scan, &l, &m), TS_AGAIN);
	CHECK_EQ(http_parse_request(buf, n, &scan, &l, &m), TS_ERROR);
	CHECK_EQ(m.error_status, 431);

	t_case("bare LF inside max_head -> 400 even if the head is too long");
	buf[300] = '\n';
	check_fail(parse_with(buf, n, &l, &m), 400, &m);
}

/* "GET / HTTP/1.1" with Host and then `extra` more fields. */
static size_t many_fields(char *buf, size_t cap, unsigned extra)
{
	size_t n = (size_t)snprintf(buf, cap, "GET / HTTP/1.1\r\nHost: h\r\n");
	for (unsigned i = 0; i < extra; i++)
		n += (size_t)snprintf(buf + n, cap - n, "X-%u: v\r\n", i);
	n += (size_t)snprintf(buf + n, cap - n, "\r\n");
	return n;
}

TEST(http_request_header_count_limit)
{
	static char buf[8192];
	struct http_limits l = lim;
	struct http_msg m;

	t_case("exactly max_headers fields parse");
	l.max_headers = 8;
	size_t n = many_fields(buf, sizeof(buf), 7);
	check_ok(parse_with(buf, n, &l, &m), n, &m);
	CHECK_EQ(m.nheaders, 8);

	t_case("max_headers + 1 fields -> 431");
	n = many_fields(buf, sizeof(buf), 8);
	check_fail(parse_with(buf, n, &l, &m), 431, &m);

	t_case("HTTP_MAX_HEADERS fields parse");
	l.max_headers = HTTP_MAX_HEADERS;
	n = many_fields(buf, sizeof(buf), HTTP_MAX_HEADERS - 1);
	check_ok(parse_with(buf, n, &l, &m), n, &m);
	CHECK_EQ(m.nheaders, HTTP_MAX_HEADERS);

	t_case("HTTP_MAX_HEADERS + 1 fields -> 431");
	n = many_fields(buf, sizeof(buf), HTTP_MAX_HEADERS);
	check_fail(parse_with(buf, n, &l, &m), 431, &m);
}

/* ---- malformed heads: every one is a 400 (RFC 9112 2.2, 5, 5.2; RFC 9110 5.5) ---- */

static const struct {
	const char *label;
	struct raw req;
} bad_rows[] = {
	{ "obs-fold (SP)", RAW("GET / HTTP/1.1\r\nHost: h\r\nX: a\r\n b\r\n\r\n") },
	{ "obs-fold (HTAB)", RAW("GET / HTTP/1.1\r\nHost: h\r\nX: a\r\n\tb\r\n\r\n") },
	{ "whitespace before the first field", RAW("GET / HTTP/1.1\r\n Host: h\r\n\r\n") },
	{ "SP before colon", RAW("GET / HTTP/1.1\r\nHost : h\r\n\r\n") },
	{ "HTAB before colon", RAW("GET / HTTP/1.1\r\nHost\t: h\r\n\r\n") },
	{ "SP before colon of Content-Length",
	  RAW("POST / HTTP/1.1\r\nHost: h\r\nContent-Length : 5\r\n\r\n") },
	{ "SP before colon of Transfer-Encoding",
	  RAW("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding : chunked\r\n\r\n") },
	{ "NUL in field name", RAW("GET / HTTP/1.1\r\nHost: h\r\nX\0Y: z\r\n\r\n") },
	{ "NUL in field value", RAW("GET / HTTP/1.1\r\nHost: h\r\nX: a\0b\r\n\r\n") },
	{ "VT in field name", RAW("GET / HTTP/1.1\r\nHost: h\r\nX\x0b"
	                          "Y: z\r\n\r\n") },
	{ "VT in field value", RAW("GET / HTTP/1.1\r\nHost: h\r\nX: a\x0b"
	                           "b\r\n\r\n") },
	{ "DEL in field name", RAW("GET / HTTP/1.1\r\nHost: h\r\nX\x7fY: z\r\n\r\n") },
	{ "DEL in field value", RAW("GET / HTTP/1.1\r\nHost: h\r\nX: a\x7f"
	                            "b\r\n\r\n") },
	{ "ESC in field value", RAW("GET / HTTP/1.1\r\nHost: h\r\nX: a\x1b"
	                            "b\r\n\r\n") },
	{ "bare CR in field name", RAW("GET / HTTP/1.1\r\nHost: h\r\nX\rY: z\r\n\r\n") },
	{ "bare CR in field value", RAW("GET / HTTP/1.1\r\nHost: h\r\nX: a\rb\r\n\r\n") },
	{ "bare CR ending a field", RAW("GET / HTTP/1.1\r\nHost: h\r\nX: a\r\r\n\r\n") },
	{ "bare CR ending the request line", RAW("GET / HTTP/1.1\rHost: h\r\n\r\n") },
	{ "bare CR as the blank line", RAW("GET / HTTP/1.1\r\nHost: h\r\n\r\r\n\r\n") },
	{ "bare LF ending the request line", RAW("GET / HTTP/1.1\nHost: h\r\n\r\n") },
	{ "bare LF ending a field", RAW("GET / HTTP/1.1\r\nHost: h\nX: y\r\n\r\n") },
	{ "bare LF inside a field value", RAW("GET / HTTP/1.1\r\nHost: h\r\nX: a\nb\r\n\r\n") },
	{ "bare LF as the blank line", RAW("GET / HTTP/1.1\r\nHost: h\r\n\n") },
	{ "bare LF only", RAW("GET / HTTP/1.1\nHost: h\n\n") },
	{ "bare LF before the request line", RAW("\nGET / HTTP/1.1\r\nHost: h\r\n\r\n") },
	{ "bare LF after a leading CRLF", RAW("\r\n\nGET / HTTP/1.1\r\nHost: h\r\n\r\n") },
	{ "empty field name", RAW("GET / HTTP/1.1\r\nHost: h\r\n: x\r\n\r\n") },
	{ "field line without colon", RAW("GET / HTTP/1.1\r\nHost: h\r\nNoColon\r\n\r\n") },
	{ "SP inside field name", RAW("GET / HTTP/1.1\r\nHost: h\r\nX Y: z\r\n\r\n") },
	{ "separator in field name", RAW("GET / HTTP/1.1\r\nHost: h\r\nX(Y): z\r\n\r\n") },
	{ "non-ASCII in field name", RAW("GET / HTTP/1.1\r\nHost: h\r\nX\xc3\xa9: z\r\n\r\n") },
	{ "HTAB between method and target", RAW("GET\t/ HTTP/1.1\r\nHost: h\r\n\r\n") },
	{ "two SP between method and target", RAW("GET  / HTTP/1.1\r\nHost: h\r\n\r\n") },
	{ "two SP before the version", RAW("GET /  HTTP/1.1\r\nHost: h\r\n\r\n") },
	{ "leading SP before the method", RAW(" GET / HTTP/1.1\r\nHost: h\r\n\r\n") },
	{ "empty request line after CRLFs", RAW("\r\n \r\nHost: h\r\n\r\n") },
	{ "Connection with a non-token",
	  RAW("GET / HTTP/1.1\r\nHost: h\r\nConnection: a b\r\n\r\n") },
};

TEST(http_request_malformed)
{
	for (size_t i = 0; i < ARRAY_SIZE(bad_rows); i++) {
		t_case("malformed -> 400: %s", bad_rows[i].label);
		struct http_msg m;
		check_fail(parse(bad_rows[i].req.s, bad_rows[i].req.len, &m), 400, &m);
	}
}

/* ---- what a good head looks like after parsing ---- */

TEST(http_request_fields)
{
	const char *r = "GET /p HTTP/1.1\r\n"
	                "Host: h\r\n"
	                "X-Trim:  \t a b \t \r\n"
	                "X-Empty:\r\n"
	                "X-Obs-Text: caf\xc3\xa9\r\n"
	                "X-Tab: a\tb\r\n"
	                "x-trim: second\r\n"
	                "\r\n";
	struct http_msg m;
	check_ok(parse_str(r, &m), strlen(r), &m);
	CHECK_EQ(m.nheaders, 6);
	CHECK_STRN(m.headers[0].name, "Host");
	CHECK_STRN(m.headers[1].name, "X-Trim");
	CHECK_STRN(m.headers[1].value, "a b");
	CHECK_STRN(m.headers[2].value, "");
	CHECK_STRN(m.headers[3].value, "caf\xc3\xa9");
	CHECK_STRN(m.headers[4].value, "a\tb");
	CHECK_EQ(http_find_header(&m, "x-TRIM", 0), 1);
	CHECK_EQ(http_find_header(&m, "x-trim", 2), 5);
	CHECK_EQ(http_find_header(&m, "x-missing", 0), -1);
	CHECK_EQ(m.host_index, 0);
}

TEST(http_request_hop_by_hop)
{
	const char *r = "GET / HTTP/1.1\r\nHost: h\r\nConnection: X-Secret, keep-alive\r\n"
	                "X-Secret: 1\r\nX-Public: 2\r\n\r\n";
	struct http_msg m;
	check_ok(parse_str(r, &m), strlen(r), &m);
	CHECK(http_hop_by_hop(&m, STR_LIT("Connection")));
	CHECK(http_hop_by_hop(&m, STR_LIT("keep-alive")));
	CHECK(http_hop_by_hop(&m, STR_LIT("Upgrade")));
	CHECK(http_hop_by_hop(&m, STR_LIT("x-secret")));
	CHECK(!http_hop_by_hop(&m, STR_LIT("X-Public")));
	/* naming the framing or Host in Connection does not take them away */
	r = "POST / HTTP/1.1\r\nHost: h\r\nConnection: Content-Length, Host, "
	    "transfer-encoding\r\nContent-Length: 3\r\n\r\n";
	check_ok(parse_str(r, &m), strlen(r), &m);
	CHECK(!http_hop_by_hop(&m, STR_LIT("Content-Length")));
	CHECK(!http_hop_by_hop(&m, STR_LIT("host")));
	CHECK(!http_hop_by_hop(&m, STR_LIT("Transfer-Encoding")));
	CHECK(http_hop_by_hop(&m, STR_LIT("connection")));
	CHECK(http_list_has(STR_LIT("a, B ,c"), "b"));
	CHECK(!http_list_has(STR_LIT("ab, c"), "b"));
}

TEST(http_request_leading_crlf)
{
	/* RFC 9112 2.2: empty lines before the request line are ignored. */
	const char *rows[] = {
		"\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n",
		"\r\n\r\n\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n",
	};
	for (size_t i = 0; i < ARRAY_SIZE(rows); i++) {
		t_case("leading CRLF x%zu ignored", i ? (size_t)3 : (size_t)1);
		struct http_msg m;
		check_ok(parse_str(rows[i], &m), strlen(rows[i]), &m);
		CHECK_EQ(m.method, HTTP_GET);
		CHECK_STRN(m.target, "/");
	}
	t_case("only CRLFs so far -> AGAIN");
	struct http_msg m;
	CHECK_EQ(parse_str("\r\n\r\n", &m), TS_AGAIN);
	CHECK_EQ(parse_str("\r\n\r", &m), TS_AGAIN);
	CHECK_EQ(parse_str("", &m), TS_AGAIN);
}

TEST(http_request_pipelined)
{
	const char *r = "POST /a HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\n"
	                "hello"
	                "GET /b HTTP/1.1\r\nHost: h\r\n\r\n"
	                "GET /c HTTP/1.1\r\n";
	size_t len = strlen(r),
	       head1 = strlen("POST /a HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\n");
	struct http_msg m;

	t_case("pipelined: first head ends at its blank line");
	check_ok(parse(r, len, &m), head1, &m);
	CHECK_EQ(m.framing, HTTP_BODY_LENGTH);
	CHECK_EQ(m.content_length, 5);
	CHECK_STRN(m.target, "/a");
	CHECK(memcmp(held + head1, "hello", 5) == 0); /* the body is left alone */

	t_case("pipelined: second head after the body");
	size_t off = head1 + 5, head2 = strlen("GET /b HTTP/1.1\r\nHost: h\r\n\r\n");
	check_ok(parse(r + off, len - off, &m), head2, &m);
	CHECK_STRN(m.target, "/b");

	t_case("pipelined: third head still incomplete");
	off += head2;
	CHECK_EQ(parse(r + off, len - off, &m), TS_AGAIN);
}

/* ---- split points: a head parses identically whatever its boundaries ---- */

/* Do two parses of the same bytes (maybe at different addresses) agree? */
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
	if (a->head_len != b->head_len || a->method != b->method ||
	    !str_same(a->method_name, b->method_name) || !str_same(a->raw_target, b->raw_target) ||
	    !str_same(a->target, b->target) || !str_same(a->authority, b->authority) ||
	    a->minor != b->minor || a->nheaders != b->nheaders || a->framing != b->framing ||
	    a->content_length != b->content_length || a->keep_alive != b->keep_alive ||
	    a->conn_flags != b->conn_flags || a->host_index != b->host_index)
		return false;
	for (unsigned i = 0; i < a->nheaders; i++)
		if (!str_same(a->headers[i].name, b->headers[i].name) ||
		    !str_same(a->headers[i].value, b->headers[i].value))
			return false;
	return true;
}

/* Parse s as it would arrive in pieces ending at cuts[0] < cuts[1] < ...
 * < len, each call given the whole buffer so far (an exact-size copy) and
 * the same scan. The message points into *keep, which the caller frees. */
static ssize_t parse_pieces(const char *s, size_t len, const size_t *cuts, size_t ncuts,
                            struct http_msg *m, char **keep)
{
	size_t scan = 0;
	ssize_t r = TS_AGAIN;
	*keep = NULL;
	for (size_t i = 0; i <= ncuts && r == TS_AGAIN; i++) {
		size_t n = i < ncuts ? cuts[i] : len;
		free(*keep);
		*keep = malloc(n ? n : 1);
		memcpy(*keep, s, n);
		r = http_parse_request(*keep, n, &scan, &lim, m);
	}
	return r;
}

static const struct {
	const char *label;
	struct raw req;
} split_rows[] = {
	{ "GET with fields", RAW("GET /index.html?q=1 HTTP/1.1\r\nHost: example.com\r\n"
	                         "User-Agent: t/1.0\r\nAccept: */*\r\nX-Empty:\r\n\r\n") },
	{ "POST with Content-Length and body",
	  RAW("POST /submit HTTP/1.1\r\nHost: h\r\nContent-Length: 11\r\n"
	      "Content-Type: text/plain\r\n\r\nhello world") },
	{ "absolute-form chunked PUT after a CRLF",
	  RAW("\r\nPUT http://example.com:8080/x HTTP/1.1\r\nHost: example.com\r\n"
	      "Transfer-Encoding: gzip, chunked\r\nConnection: close\r\n\r\n"
	      "5\r\nhello\r\n0\r\n\r\n") },
	{ "HTTP/1.0 keep-alive, pipelined",
	  RAW("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET /next HTTP/1.0\r\n\r\n") },
	{ "obs-fold (an error)", RAW("GET / HTTP/1.1\r\nHost: h\r\nX: a\r\n b\r\n\r\n") },
	{ "bare LF (an error)", RAW("GET / HTTP/1.1\r\nHost: h\r\nX: a\nY: b\r\n\r\n") },
	{ "smuggling CL + TE (an error)", RAW("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\n"
	                                      "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n") },
};

TEST(http_request_split_points)
{
	for (size_t i = 0; i < ARRAY_SIZE(split_rows); i++) {
		const char *s = split_rows[i].req.s;
		size_t len = split_rows[i].req.len;
		struct http_msg one, inc;
		char *one_buf, *inc_buf;
		ssize_t r1 = parse_pieces(s, len, NULL, 0, &one, &one_buf);
		CHECK(r1 != TS_AGAIN);

		t_case("split in two at every byte: %s", split_rows[i].label);
		long bad = -1;
		for (size_t k = 0; k <= len && bad < 0; k++) {
			ssize_t r2 = parse_pieces(s, len, &k, 1, &inc, &inc_buf);
			if (!same_result(r1, &one, r2, &inc))
				bad = (long)k;
			free(inc_buf);
		}
		CHECK_EQ(bad, -1);

		t_case("one byte at a time: %s", split_rows[i].label);
		size_t *cuts = malloc(len * sizeof(*cuts));
		for (size_t k = 0; k < len; k++)
			cuts[k] = k + 1;
		ssize_t r3 = parse_pieces(s, len, cuts, len, &inc, &inc_buf);
		CHECK(same_result(r1, &one, r3, &inc));
		free(inc_buf);
		free(cuts);
		free(one_buf);
	}
}
