/* fuzz_http_request.c - libFuzzer target for http_parse_request.
 *
 * Beyond not crashing, every input must keep the promises of http.h (a
 * violation is __builtin_trap(), so libFuzzer saves the input):
 *   - a parsed head is a prefix of the input ending in CRLF CRLF, with no bare
 *     CR or LF in it, and every str in the message points inside it;
 *   - what the head says is consistent (framing, keep-alive, Host, limits);
 *   - errors carry one of the documented statuses;
 *   - the input arriving in pieces (split at points taken from the data, and
 *     one byte at a time for small inputs; each call sees the whole buffer so
 *     far and the same *scan) parses exactly as it does in one piece.
 * Every call gets an exact-size heap copy, so ASan sees any read past the
 * bytes received.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/http.h"
#include "fuzz.h"

/* Bytes of empty lines before the request line (RFC 9112 2.2). */
static size_t leading_crlf(const char *p, size_t len)
{
	size_t i = 0;
	while (i + 1 < len && p[i] == '\r' && p[i + 1] == '\n')
		i += 2;
	return i;
}

static void check_one(const char *buf, size_t len, const struct http_limits *lim, ssize_t r,
                      const struct http_msg *m)
{
	if (r == TS_AGAIN) {
		REQUIRE(m->error_status == 0);
		/* A complete head in the input cannot be "more bytes needed". */
		size_t start = leading_crlf(buf, len);
		REQUIRE(memmem(buf + start, len - start, "\r\n\r\n", 4) == NULL);
		REQUIRE(len - start <= lim->max_head);
		return;
	}
	if (r < 0) {
		REQUIRE(r == TS_ERROR);
		REQUIRE(m->error != NULL);
		REQUIRE(m->error_status == 400 || m->error_status == 413 ||
		        m->error_status == 431 || m->error_status == 501 || m->error_status == 505);
		return;
	}
	size_t n = (size_t)r;
	REQUIRE(n == m->head_len && n <= len && n >= 4);
	REQUIRE(memcmp(buf + n - 4, "\r\n\r\n", 4) == 0);
	REQUIRE(m->error_status == 0 && m->error == NULL);
	size_t start = leading_crlf(buf, n);
	REQUIRE(n - start <= lim->max_head);
	for (size_t i = start; i < n; i++) {
		REQUIRE(buf[i] != '\0');
		if (buf[i] == '\n')
			REQUIRE(i > 0 && buf[i - 1] == '\r');
		if (buf[i] == '\r')
			REQUIRE(i + 1 < n && buf[i + 1] == '\n');
	}
	REQUIRE(m->minor == 0 || m->minor == 1);
	REQUIRE(m->method_name.len > 0 && fuzz_inside(m->method_name, buf, n));
	REQUIRE(m->method_name.p == buf + start);
	REQUIRE(m->raw_target.len > 0 && fuzz_inside(m->raw_target, buf, n) &&
	        !fuzz_has_ctl(m->raw_target));
	REQUIRE(memchr(m->raw_target.p, ' ', m->raw_target.len) == NULL);
	REQUIRE(m->target.len > 0);
	REQUIRE(fuzz_inside(m->target, buf, n) ||
	        (m->absolute_form && m->target.len == 1 && m->target.p[0] == '/'));
	REQUIRE(fuzz_inside(m->authority, buf, n));
	if (m->absolute_form)
		REQUIRE(memchr(m->authority.p, '@', m->authority.len) == NULL);
	if (m->raw_target.len == 1 && m->raw_target.p[0] == '*')
		REQUIRE(m->method == HTTP_OPTIONS);
	if (m->method == HTTP_CONNECT) /* authority-form: host:port */
		REQUIRE(memchr(m->raw_target.p, ':', m->raw_target.len) != NULL &&
		        memchr(m->raw_target.p, '/', m->raw_target.len) == NULL &&
		        memchr(m->raw_target.p, '@', m->raw_target.len) == NULL);
	else
		REQUIRE(m->raw_target.p[0] == '/' || m->absolute_form ||
		        (m->method == HTTP_OPTIONS && m->raw_target.len == 1));
	REQUIRE(m->nheaders <= lim->max_headers && m->nheaders <= HTTP_MAX_HEADERS);
	for (unsigned i = 0; i < m->nheaders; i++) {
		const struct http_header *h = &m->headers[i];
		REQUIRE(h->name.len > 0 && fuzz_inside(h->name, buf, n) &&
		        fuzz_inside(h->value, buf, n));
		REQUIRE(memchr(h->name.p, ':', h->name.len) == NULL && !fuzz_has_ctl(h->name));
		REQUIRE(memchr(h->name.p, ' ', h->name.len) == NULL);
		REQUIRE(!fuzz_has_ctl(h->value));
		if (h->value.len) {
			char a = h->value.p[0], z = h->value.p[h->value.len - 1];
			REQUIRE(a != ' ' && a != '\t' && z != ' ' && z != '\t');
		}
	}
	if (m->minor == 1)
		REQUIRE(m->host_index >= 0);
	if (m->host_index >= 0) {
		REQUIRE((unsigned)m->host_index < m->nheaders);
		REQUIRE(http_str_ieq(m->headers[m->host_index].name, "host"));
		REQUIRE(http_find_header(m, "host", m->host_index + 1) < 0);
		REQUIRE(http_find_header(m, "host", 0) == m->host_index);
		if (!m->absolute_form) {
			REQUIRE(m->authority.p == m->headers[m->host_index].value.p);
			REQUIRE(m->authority.len == m->headers[m->host_index].value.len);
		}
	}
	bool has_cl = http_find_header(m, "content-length", 0) >= 0;
	bool has_te = http_find_header(m, "transfer-encoding", 0) >= 0;
	REQUIRE(!(has_cl && has_te));
	switch (m->framing) {
	case HTTP_BODY_NONE:
		REQUIRE(!has_te && m->content_length == 0);
		break;
	case HTTP_BODY_LENGTH:
		REQUIRE(has_cl && m->content_length > 0);
		REQUIRE(lim->max_body == 0 || m->content_length <= lim->max_body);
		break;
	case HTTP_BODY_CHUNKED:
		REQUIRE(has_te && m->minor == 1);
		break;
	default:
		REQUIRE(0); /* requests are never read until close */
	}
	bool ka = !(m->conn_flags & HTTP_CONN_CLOSE) &&
	          (m->minor == 1 || (m->conn_flags & HTTP_CONN_KEEP_ALIVE));
	REQUIRE(m->keep_alive == ka);
}

/* Same str in two parses of the same bytes at different addresses. */
static bool same_str(struct str a, const char *abase, struct str b, const char *bbase)
{
	if (a.len != b.len)
		return false;
	if (a.len == 0)
		return true;
	uintptr_t ao = (uintptr_t)a.p - (uintptr_t)abase, bo = (uintptr_t)b.p - (uintptr_t)bbase;
	return ao == bo || memcmp(a.p, b.p, a.len) == 0;
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
	if (a->head_len != b->head_len || a->method != b->method || a->minor != b->minor ||
	    a->absolute_form != b->absolute_form || a->nheaders != b->nheaders ||
	    a->framing != b->framing || a->content_length != b->content_length ||
	    a->conn_flags != b->conn_flags || a->keep_alive != b->keep_alive ||
	    a->expect_continue != b->expect_continue || a->has_upgrade != b->has_upgrade ||
	    a->te_other != b->te_other || a->host_index != b->host_index)
		return false;
	if (!same_str(a->method_name, abase, b->method_name, bbase) ||
	    !same_str(a->raw_target, abase, b->raw_target, bbase) ||
	    !same_str(a->target, abase, b->target, bbase) ||
	    !same_str(a->authority, abase, b->authority, bbase))
		return false;
	for (unsigned i = 0; i < a->nheaders; i++)
		if (!same_str(a->headers[i].name, abase, b->headers[i].name, bbase) ||
		    !same_str(a->headers[i].value, abase, b->headers[i].value, bbase))
			return false;
	return true;
}

struct parse_args {
	const struct http_limits *lim;
	struct http_msg *m;
};

static ssize_t parse(const char *buf, size_t n, size_t *scan, void *arg)
{
	struct parse_args *a = arg;
	return http_parse_request(buf, n, scan, a->lim, a->m);
}

/* The input arriving in pieces, compared with the one-shot parse. */
static void check_pieces(const uint8_t *data, size_t size, const struct fuzz_pieces *p,
                         const struct http_limits *lim, ssize_t r1, const struct http_msg *one,
                         const char *one_buf)
{
	static struct http_msg m;
	char *buf;
	ssize_t r = fuzz_feed(data, size, p, parse, &(struct parse_args){ lim, &m }, &buf);
	REQUIRE(same_result(r1, one, one_buf, r, &m, buf));
	free(buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct http_msg one;
	const struct http_limits *lims[] = { &fuzz_roomy, &fuzz_tight };
	for (size_t l = 0; l < 2; l++) {
		const struct http_limits *lim = lims[l];
		char *buf = fuzz_copy(data, size);
		size_t scan = 0;
		ssize_t r1 = http_parse_request(buf, size, &scan, lim, &one);
		check_one(buf, size, lim, r1, &one);

		/* Two or three pieces, split where the data says, and one byte
		 * at a time for inputs small enough to afford it. */
		struct fuzz_pieces p;
		for (enum fuzz_plan plan = FUZZ_TWO; plan <= FUZZ_EACH; plan++)
			if (fuzz_pieces(&p, plan, data, size))
				check_pieces(data, size, &p, lim, r1, &one, buf);
		free(buf);
	}
	return 0;
}
