/* fuzz_http_response.c - libFuzzer target for http_parse_response.
 *
 * Each input is parsed as the answer to a GET and to a HEAD, with roomy and
 * with tight limits. Invariants (a violation is __builtin_trap()):
 *   - a parsed head is a prefix of the input ending in CRLF CRLF, with no bare
 *     CR or LF, and every str in the message points inside it;
 *   - the framing follows RFC 9112 6.3: none for HEAD, 1xx, 204 and 304;
 *     read-until-close never keeps the connection; chunked only in 1.1;
 *   - every error is a 502;
 *   - the input arriving in pieces (split where the data says, and one byte
 *     at a time for small inputs) parses exactly as in one piece.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/http.h"

#define REQUIRE(c)                                                                                 \
	do {                                                                                       \
		if (!(c))                                                                          \
			__builtin_trap();                                                          \
	} while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const struct http_limits roomy = { .max_head = 8192,
	                                  .max_headers = HTTP_MAX_HEADERS,
	                                  .max_body = 1 << 20 };
static const struct http_limits tight = { .max_head = 96, .max_headers = 4, .max_body = 10 };

static char *copy_of(const uint8_t *data, size_t n)
{
	char *p = malloc(n ? n : 1);
	if (n)
		memcpy(p, data, n);
	return p;
}

static bool inside(struct str s, const char *base, size_t len)
{
	uintptr_t p = (uintptr_t)s.p, b = (uintptr_t)base;
	return s.len == 0 || (s.p && p >= b && p - b <= len && s.len <= len - (p - b));
}

static bool has_ctl(struct str s)
{
	for (size_t i = 0; i < s.len; i++) {
		unsigned char c = (unsigned char)s.p[i];
		if ((c < 0x20 && c != '\t') || c == 0x7f)
			return true;
	}
	return false;
}

static void check_one(const char *buf, size_t len, const struct http_limits *lim,
                      enum http_method req, ssize_t r, const struct http_msg *m)
{
	if (r == TS_AGAIN) {
		REQUIRE(m->error_status == 0);
		REQUIRE(memmem(buf, len, "\r\n\r\n", 4) == NULL);
		REQUIRE(len <= lim->max_head);
		return;
	}
	if (r < 0) {
		REQUIRE(r == TS_ERROR && m->error_status == 502 && m->error != NULL);
		return;
	}
	size_t n = (size_t)r;
	REQUIRE(n == m->head_len && n <= len && n >= 16 && n <= lim->max_head);
	REQUIRE(memcmp(buf + n - 4, "\r\n\r\n", 4) == 0);
	REQUIRE(memcmp(buf, "HTTP/1.", 7) == 0);
	REQUIRE(m->error_status == 0 && m->error == NULL);
	for (size_t i = 0; i < n; i++) {
		REQUIRE(buf[i] != '\0');
		if (buf[i] == '\n')
			REQUIRE(i > 0 && buf[i - 1] == '\r');
		if (buf[i] == '\r')
			REQUIRE(i + 1 < n && buf[i + 1] == '\n');
	}
	REQUIRE(m->minor == 0 || m->minor == 1);
	REQUIRE(m->status >= 100 && m->status <= 599);
	REQUIRE(inside(m->reason, buf, n) && !has_ctl(m->reason));
	REQUIRE(m->nheaders <= lim->max_headers);
	for (unsigned i = 0; i < m->nheaders; i++) {
		const struct http_header *h = &m->headers[i];
		REQUIRE(h->name.len > 0 && inside(h->name, buf, n) && inside(h->value, buf, n));
		REQUIRE(memchr(h->name.p, ':', h->name.len) == NULL && !has_ctl(h->name));
		REQUIRE(memchr(h->name.p, ' ', h->name.len) == NULL);
		REQUIRE(!has_ctl(h->value));
	}
	bool no_body = req == HTTP_HEAD || m->status < 200 || m->status == 204 || m->status == 304;
	bool has_te = http_find_header(m, "transfer-encoding", 0) >= 0;
	bool has_cl = http_find_header(m, "content-length", 0) >= 0;
	if (no_body)
		REQUIRE(m->framing == HTTP_BODY_NONE);
	switch (m->framing) {
	case HTTP_BODY_NONE:
		REQUIRE(no_body || (has_cl && !has_te && m->content_length == 0));
		break;
	case HTTP_BODY_LENGTH:
		REQUIRE(has_cl && !has_te && m->content_length > 0);
		break;
	case HTTP_BODY_CHUNKED:
		REQUIRE(has_te && !has_cl && m->minor == 1);
		break;
	case HTTP_BODY_CLOSE:
		REQUIRE(!m->keep_alive && !has_cl);
		break;
	default:
		REQUIRE(0);
	}
	if (m->keep_alive)
		REQUIRE(!(m->conn_flags & HTTP_CONN_CLOSE) &&
		        (m->minor == 1 || (m->conn_flags & HTTP_CONN_KEEP_ALIVE)));
}

static bool same_str(struct str a, const char *abase, struct str b, const char *bbase)
{
	if (a.len != b.len)
		return false;
	if (a.len == 0)
		return true;
	return (uintptr_t)a.p - (uintptr_t)abase == (uintptr_t)b.p - (uintptr_t)bbase;
}

static bool same_result(ssize_t ra, const struct http_msg *a, const char *abase, ssize_t rb,
                        const struct http_msg *b, const char *bbase)
{
	if (ra != rb)
		return false;
	if (ra == TS_ERROR)
		return a->error_status == b->error_status;
	if (ra < 0)
		return true;
	if (a->head_len != b->head_len || a->status != b->status || a->minor != b->minor ||
	    a->nheaders != b->nheaders || a->framing != b->framing ||
	    a->content_length != b->content_length || a->conn_flags != b->conn_flags ||
	    a->keep_alive != b->keep_alive || a->te_other != b->te_other ||
	    !same_str(a->reason, abase, b->reason, bbase))
		return false;
	for (unsigned i = 0; i < a->nheaders; i++)
		if (!same_str(a->headers[i].name, abase, b->headers[i].name, bbase) ||
		    !same_str(a->headers[i].value, abase, b->headers[i].value, bbase))
			return false;
	return true;
}

static void check_pieces(const uint8_t *data, size_t size, const size_t *cuts, size_t ncuts,
                         const struct http_limits *lim, enum http_method req, ssize_t r1,
                         const struct http_msg *one, const char *one_buf)
{
	static struct http_msg m;
	size_t scan = 0;
	ssize_t r = TS_AGAIN;
	char *buf = NULL;
	for (size_t i = 0; i <= ncuts && r == TS_AGAIN; i++) {
		size_t n = i < ncuts ? cuts[i] : size;
		free(buf);
		buf = copy_of(data, n);
		r = http_parse_response(buf, n, &scan, lim, req, &m);
		REQUIRE(scan <= n);
	}
	REQUIRE(same_result(r1, one, one_buf, r, &m, buf));
	free(buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct http_msg one;
	const struct http_limits *lims[] = { &roomy, &tight };
	const enum http_method reqs[] = { HTTP_GET, HTTP_HEAD };
	for (size_t l = 0; l < 2; l++) {
		for (size_t q = 0; q < 2; q++) {
			const struct http_limits *lim = lims[l];
			enum http_method req = reqs[q];
			char *buf = copy_of(data, size);
			size_t scan = 0;
			ssize_t r1 = http_parse_response(buf, size, &scan, lim, req, &one);
			check_one(buf, size, lim, req, r1, &one);

			size_t h =
			    size ? (size_t)data[0] * 131 + (size_t)data[size - 1] * 7 + size : 0;
			size_t k1 = size ? h % (size + 1) : 0;
			size_t cuts[2] = { k1, k1 + (size - k1) / 2 };
			check_pieces(data, size, cuts, 1, lim, req, r1, &one, buf);
			check_pieces(data, size, cuts, 2, lim, req, r1, &one, buf);
			if (size <= 300 && l == 0) {
				size_t each[300];
				for (size_t i = 0; i < size; i++)
					each[i] = i + 1;
				check_pieces(data, size, each, size, lim, req, r1, &one, buf);
			}
			free(buf);
		}
	}
	return 0;
}
