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
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/http.h"
#include "fuzz.h"

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
	REQUIRE(fuzz_inside(m->reason, buf, n) && !fuzz_has_ctl(m->reason));
	REQUIRE(m->nheaders <= lim->max_headers);
	for (unsigned i = 0; i < m->nheaders; i++) {
		const struct http_header *h = &m->headers[i];
		REQUIRE(h->name.len > 0 && fuzz_inside(h->name, buf, n) &&
		        fuzz_inside(h->value, buf, n));
		REQUIRE(memchr(h->name.p, ':', h->name.len) == NULL && !fuzz_has_ctl(h->name));
		REQUIRE(memchr(h->name.p, ' ', h->name.len) == NULL);
		REQUIRE(!fuzz_has_ctl(h->value));
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

struct parse_args {
	const struct http_limits *lim;
	enum http_method req;
	struct http_msg *m;
};

static ssize_t parse(const char *buf, size_t n, size_t *scan, void *arg)
{
	struct parse_args *a = arg;
	return http_parse_response(buf, n, scan, a->lim, a->req, a->m);
}

/* The input arriving in pieces, compared with the one-shot parse. */
static void check_pieces(const uint8_t *data, size_t size, const struct fuzz_pieces *p,
                         const struct http_limits *lim, enum http_method req, ssize_t r1,
                         const struct http_msg *one, const char *one_buf)
{
	static struct http_msg m;
	char *buf;
	ssize_t r = fuzz_feed(data, size, p, parse, &(struct parse_args){ lim, req, &m }, &buf);
	REQUIRE(same_result(r1, one, one_buf, r, &m, buf));
	free(buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct http_msg one;
	const struct http_limits *lims[] = { &fuzz_roomy, &fuzz_tight };
	const enum http_method reqs[] = { HTTP_GET, HTTP_HEAD };
	for (size_t l = 0; l < 2; l++) {
		for (size_t q = 0; q < 2; q++) {
			const struct http_limits *lim = lims[l];
			enum http_method req = reqs[q];
			char *buf = fuzz_copy(data, size);
			size_t scan = 0;
			ssize_t r1 = http_parse_response(buf, size, &scan, lim, req, &one);
			check_one(buf, size, lim, req, r1, &one);

			/* Two or three pieces, split where the data says, and
			 * (roomy limits only) one byte at a time. */
			struct fuzz_pieces p;
			enum fuzz_plan most = l == 0 ? FUZZ_EACH : FUZZ_THREE;
			for (enum fuzz_plan plan = FUZZ_TWO; plan <= most; plan++)
				if (fuzz_pieces(&p, plan, data, size))
					check_pieces(data, size, &p, lim, req, r1, &one, buf);
			free(buf);
		}
	}
	return 0;
}
