/* http.c - the strict HTTP/1.1 head parser (requests and responses) and its
 * helpers. See http.h. The byte classes are httpchar.c, the chunked decoder
 * chunked.c, status reasons httpstatus.c, dates httpdate.c.
 */
#include "http.h"
#include "httpchar.h"

#include <string.h>

static inline char lower(char c)
{
	return (c >= 'A' && c <= 'Z') ? (char)(c + 32) : c;
}

bool http_str_ieq(struct str a, const char *b)
{
	size_t n = strlen(b);
	if (a.len != n)
		return false;
	for (size_t i = 0; i < n; i++)
		if (lower(a.p[i]) != lower(b[i]))
			return false;
	return true;
}

static bool ieq_n(const char *a, const char *b, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (lower(a[i]) != lower(b[i]))
			return false;
	return true;
}

static struct str trim(struct str s)
{
	while (s.len && ows(s.p[0])) {
		s.p++;
		s.len--;
	}
	while (s.len && ows(s.p[s.len - 1]))
		s.len--;
	return s;
}

/* Iterate over the elements of a comma-separated list (RFC 9110 5.6.1):
 * returns false when none is left; elements come back trimmed and may be
 * empty. */
static bool list_next(struct str *rest, struct str *elem)
{
	if (rest->p == NULL)
		return false;
	const char *comma = memchr(rest->p, ',', rest->len);
	if (comma) {
		*elem = trim((struct str){ rest->p, (size_t)(comma - rest->p) });
		rest->len -= (size_t)(comma - rest->p) + 1;
		rest->p = comma + 1;
	} else {
		*elem = trim(*rest);
		rest->p = NULL;
		rest->len = 0;
	}
	return true;
}

bool http_list_has(struct str value, const char *token)
{
	struct str e;
	while (list_next(&value, &e))
		if (http_str_ieq(e, token))
			return true;
	return false;
}

static bool is_token(struct str s)
{
	if (s.len == 0)
		return false;
	for (size_t i = 0; i < s.len; i++)
		if (!IS(s.p[i], C_TCHAR))
			return false;
	return true;
}

/* ---- errors ---- */

static ssize_t fail(struct http_msg *m, int status, const char *why)
{
	m->error_status = status;
	m->error = why;
	return TS_ERROR;
}

/* ---- finding the end of the head ---- */

/* Look for the blank line that ends a head starting at `start`. Every LF must
 * follow a CR. Returns the offset just past the blank line, TS_AGAIN, or
 * TS_ERROR. Only the first max_head bytes are looked at: a head cannot be
 * longer, and bytes past the limit must not decide the error, or it would
 * depend on how much had arrived (431 in pieces, 400 in one). */
static ssize_t find_head_end(const char *buf, size_t len, size_t start, size_t *scan,
                             size_t max_head, struct http_msg *m)
{
	size_t end = len - start > max_head ? start + max_head : len;
	size_t i = *scan > start ? *scan : start;
	while (i < end) {
		const char *lf = memchr(buf + i, '\n', end - i);
		if (lf == NULL)
			break;
		size_t j = (size_t)(lf - buf);
		if (j == start || buf[j - 1] != '\r')
			return fail(m, 400, "bare LF in head");
		if (j - 1 == start)
			return fail(m, 400, "empty start line");
		if (buf[j - 2] == '\n') { /* this line is empty: the head ends here */
			if (j + 1 - start > max_head)
				return fail(m, 431, "head too large");
			return (ssize_t)(j + 1);
		}
		i = j + 1;
	}
	/* Resume at the start of the unfinished line (a CR may be last). */
	*scan = i;
	if (len - start > max_head)
		return fail(m, 431, "head too large");
	return TS_AGAIN;
}

/* ---- start lines ---- */

static const struct {
	const char *name;
	size_t len;
	enum http_method m;
} methods[] = {
	{ "GET", 3, HTTP_GET },     { "HEAD", 4, HTTP_HEAD },       { "POST", 4, HTTP_POST },
	{ "PUT", 3, HTTP_PUT },     { "DELETE", 6, HTTP_DELETE },   { "OPTIONS", 7, HTTP_OPTIONS },
	{ "PATCH", 5, HTTP_PATCH }, { "CONNECT", 7, HTTP_CONNECT }, { "TRACE", 5, HTTP_TRACE },
};

const char *http_method_name(enum http_method m)
{
	for (size_t i = 0; i < ARRAY_SIZE(methods); i++)
		if (methods[i].m == m)
			return methods[i].name;
	return "OTHER";
}

bool http_method_idempotent(enum http_method m)
{
	return m == HTTP_GET || m == HTTP_HEAD || m == HTTP_PUT || m == HTTP_DELETE ||
	       m == HTTP_OPTIONS || m == HTTP_TRACE;
}

/* "HTTP/1.x" at p (8 bytes available). Returns 0, or -1 malformed, -2 for
 * another major version. */
static int parse_version(const char *p, size_t n, int *minor)
{
	if (n != 8 || memcmp(p, "HTTP/", 5) != 0 || p[6] != '.' || p[5] < '0' || p[5] > '9' ||
	    p[7] < '0' || p[7] > '9')
		return -1;
	if (p[5] != '1')
		return -2;
	*minor = p[7] == '0' ? 0 : 1;
	return 0;
}

/* uri-host [":" port] (RFC 9110 7.2, RFC 3986 3.2.2): an IP-literal in
 * brackets, or a reg-name / IPv4 address; the port all digits. Characters
 * were checked already (C_HOST); this checks the shape. */
static bool host_shape_ok(struct str v)
{
	size_t i = 0;
	if (v.len && v.p[0] == '[') {
		while (i < v.len && v.p[i] != ']')
			i++;
		if (i == v.len || i == 1)
			return false; /* "[" never closed, or "[]" */
		for (size_t k = 1; k < i; k++)
			if (v.p[k] == '[')
				return false;
		i++;
	} else {
		while (i < v.len && v.p[i] != ':') {
			if (v.p[i] == '[' || v.p[i] == ']')
				return false;
			i++;
		}
	}
	if (i == v.len)
		return true;
	if (v.p[i] != ':')
		return false; /* "[::1]x" */
	for (i++; i < v.len; i++)
		if (v.p[i] < '0' || v.p[i] > '9')
			return false;
	return true;
}

/* absolute-form: http[s]://authority[/path...] -> authority and path. */
static int split_absolute(struct http_msg *m)
{
	const char *p = m->raw_target.p;
	size_t n = m->raw_target.len, skip;
	if (n > 7 && ieq_n(p, "http://", 7))
		skip = 7;
	else if (n > 8 && ieq_n(p, "https://", 8))
		skip = 8;
	else
		return -1;
	const char *a = p + skip, *end = p + n, *slash = a;
	while (slash < end && *slash != '/' && *slash != '?')
		slash++;
	if (slash == a || (slash < end && *slash == '?'))
		return -1;
	m->authority = (struct str){ a, (size_t)(slash - a) };
	for (size_t i = 0; i < m->authority.len; i++)
		if (!IS(a[i], C_HOST))
			return -1; /* userinfo ('@') included: refused */
	if (!host_shape_ok(m->authority))
		return -1;
	if (slash == end)
		m->target = STR_LIT("/");
	else
		m->target = (struct str){ slash, (size_t)(end - slash) };
	m->absolute_form = true;
	return 0;
}

/* authority-form (RFC 9112 3.2.3), CONNECT's only form: uri-host ":" port,
 * the port not left out (RFC 9110 9.3.6). */
static bool is_authority_form(struct str t)
{
	size_t colon = 0;
	for (size_t i = 0; i < t.len; i++) {
		if (!IS(t.p[i], C_HOST))
			return false; /* userinfo ('@'), '/', '*' ... */
		if (t.p[i] == ':')
			colon = i;
	}
	if (colon == 0 || colon + 1 == t.len)
		return false;
	for (size_t i = colon + 1; i < t.len; i++)
		if (t.p[i] < '0' || t.p[i] > '9')
			return false;
	return true;
}

static ssize_t parse_request_line(const char *p, size_t n, struct http_msg *m)
{
	size_t i = 0;
	while (i < n && IS(p[i], C_TCHAR))
		i++;
	if (i == 0 || i == n || p[i] != ' ')
		return fail(m, 400, "bad method");
	m->method_name = (struct str){ p, i };
	m->method = HTTP_OTHER;
	for (size_t k = 0; k < ARRAY_SIZE(methods); k++)
		if (methods[k].len == i && memcmp(methods[k].name, p, i) == 0)
			m->method = methods[k].m;
	size_t t = ++i;
	while (i < n && IS(p[i], C_TARGET))
		i++;
	if (i == t || i == n || p[i] != ' ') {
		if (i < n && p[i] != ' ')
			return fail(m, 400, "bad character in request target");
		return fail(m, 400, "bad request line");
	}
	m->raw_target = (struct str){ p + t, i - t };
	i++;
	int r = parse_version(p + i, n - i, &m->minor);
	if (r == -2)
		return fail(m, 505, "HTTP version not supported");
	if (r < 0)
		return fail(m, 400, "bad HTTP version");

	if (m->method == HTTP_CONNECT) {
		if (!is_authority_form(m->raw_target))
			return fail(m, 400, "CONNECT needs host:port");
		m->target = m->raw_target; /* authority-form: the daemon decides */
	} else if (m->raw_target.p[0] == '/') {
		m->target = m->raw_target;
	} else if (m->raw_target.len == 1 && m->raw_target.p[0] == '*') {
		if (m->method != HTTP_OPTIONS)
			return fail(m, 400, "asterisk-form is only for OPTIONS");
		m->target = m->raw_target;
	} else if (split_absolute(m) < 0) {
		return fail(m, 400, "bad request target");
	}
	return TS_OK;
}

static ssize_t parse_status_line(const char *p, size_t n, struct http_msg *m)
{
	if (n < 12 || p[8] != ' ')
		return fail(m, 502, "bad status line");
	int r = parse_version(p, 8, &m->minor);
	if (r < 0)
		return fail(m, 502, "bad HTTP version in status line");
	if (p[9] < '1' || p[9] > '5' || p[10] < '0' || p[10] > '9' || p[11] < '0' || p[11] > '9')
		return fail(m, 502, "bad status code");
	m->status = (p[9] - '0') * 100 + (p[10] - '0') * 10 + (p[11] - '0');
	m->reason = (struct str){ p + 12, 0 };
	if (n > 12) {
		if (p[12] != ' ')
			return fail(m, 502, "bad status line");
		for (size_t i = 13; i < n; i++)
			if (!IS(p[i], C_FIELD))
				return fail(m, 502, "bad character in reason phrase");
		m->reason = (struct str){ p + 13, n - 13 };
	}
	return TS_OK;
}

/* ---- fields ---- */

/* One decimal number, nothing else. A list, even of equal values ("5, 5"),
 * is refused as nginx does: RFC 9110 8.6 lets a recipient take it, but an
 * edge that normalises what its peers might split differently invites a
 * desync. */
static int parse_content_length(struct str v, uint64_t *out)
{
	struct str e;
	if (!list_next(&v, &e) || v.p != NULL || e.len == 0 || e.len > 19)
		return -1;
	uint64_t x = 0;
	for (size_t i = 0; i < e.len; i++) {
		if (e.p[i] < '0' || e.p[i] > '9')
			return -1;
		x = x * 10 + (uint64_t)(e.p[i] - '0');
	}
	*out = x;
	return 0;
}

struct field_state {
	bool has_cl, has_te, te_chunked_last, te_chunked_seen;
	unsigned nhost;
};

/* Look at one field line's meaning for framing and connection handling. */
static ssize_t interpret_field(struct http_msg *m, struct field_state *fs, struct http_header *h,
                               int bad)
{
	const char *n = h->name.p;
	switch (h->name.len) {
	case 4:
		if (ieq_n(n, "host", 4)) {
			fs->nhost++;
			m->host_index = (int)m->nheaders;
			for (size_t i = 0; i < h->value.len; i++)
				if (!IS(h->value.p[i], C_HOST))
					return fail(m, bad, "bad Host");
			if (!host_shape_ok(h->value))
				return fail(m, bad, "bad Host");
		}
		break;
	case 6:
		if (ieq_n(n, "expect", 6) && http_str_ieq(h->value, "100-continue"))
			m->expect_continue = true;
		break;
	case 7:
		if (ieq_n(n, "upgrade", 7))
			m->has_upgrade = true;
		break;
	case 10:
		if (ieq_n(n, "connection", 10)) {
			struct str rest = h->value, e;
			while (list_next(&rest, &e)) {
				if (e.len == 0)
					continue;
				if (!is_token(e))
					return fail(m, bad, "bad Connection");
				if (http_str_ieq(e, "close"))
					m->conn_flags |= HTTP_CONN_CLOSE;
				else if (http_str_ieq(e, "keep-alive"))
					m->conn_flags |= HTTP_CONN_KEEP_ALIVE;
				else if (http_str_ieq(e, "upgrade"))
					m->conn_flags |= HTTP_CONN_UPGRADE;
				else
					m->conn_flags |= HTTP_CONN_OTHER;
			}
		}
		break;
	case 14:
		if (ieq_n(n, "content-length", 14)) {
			uint64_t v;
			if (parse_content_length(h->value, &v) < 0)
				return fail(m, bad, "bad Content-Length");
			if (fs->has_cl) /* a list in two field lines */
				return fail(m, bad, "more than one Content-Length");
			fs->has_cl = true;
			m->content_length = v;
		}
		break;
	case 17:
		if (ieq_n(n, "transfer-encoding", 17)) {
			struct str rest = h->value, e;
			fs->has_te = true;
			while (list_next(&rest, &e)) {
				if (e.len == 0)
					continue;
				if (!is_token(e))
					return fail(m, bad, "bad Transfer-Encoding");
				if (http_str_ieq(e, "chunked")) {
					if (fs->te_chunked_seen)
						return fail(m, bad, "chunked applied twice");
					fs->te_chunked_seen = fs->te_chunked_last = true;
					continue;
				}
				/* RFC 9112 6.3: a request must end in chunked; a response
				 * that does not is read until the server closes. */
				if (fs->te_chunked_last && bad == 400)
					return fail(m, bad, "chunked is not the final coding");
				fs->te_chunked_last = false;
				m->te_other = true;
			}
		}
		break;
	}
	return TS_OK;
}

/* Parse the field lines in p[0..n) (each ending CRLF, the blank line
 * excluded). `bad` is the status for malformed input. */
static ssize_t parse_fields(const char *p, size_t n, const struct http_limits *lim,
                            struct http_msg *m, struct field_state *fs, int bad)
{
	size_t i = 0;
	unsigned max = lim->max_headers && lim->max_headers < HTTP_MAX_HEADERS ? lim->max_headers
	                                                                       : HTTP_MAX_HEADERS;
	while (i < n) {
		const char *line = p + i;
		if (ows(line[0]))
			return fail(m, bad, "obsolete line folding");
		size_t k = 0;
		while (IS(line[k], C_TCHAR))
			k++;
		if (line[k] != ':') {
			if (ows(line[k]))
				return fail(m, bad, "whitespace before colon");
			return fail(m, bad, "bad character in header name");
		}
		if (k == 0)
			return fail(m, bad, "empty header name");
		/* The head is known to end in CRLF CRLF, so a CR is always found. */
		size_t v = k + 1;
		size_t e = v;
		while (IS(line[e], C_FIELD))
			e++;
		if (line[e] != '\r' || line[e + 1] != '\n')
			return fail(m, bad, "control character in header value");
		if (m->nheaders == max)
			return fail(m, bad == 400 ? 431 : bad, "too many headers");
		struct http_header *h = &m->headers[m->nheaders];
		h->name = (struct str){ line, k };
		h->value = trim((struct str){ line + v, e - v });
		if (interpret_field(m, fs, h, bad) < 0)
			return TS_ERROR;
		m->nheaders++;
		i += e + 2;
	}
	return TS_OK;
}

static void reset(struct http_msg *m)
{
	m->method = HTTP_OTHER;
	m->method_name = m->raw_target = m->target = m->authority = m->reason =
	    (struct str){ NULL, 0 };
	m->absolute_form = false;
	m->status = 0;
	m->minor = 1;
	m->nheaders = 0;
	m->framing = HTTP_BODY_NONE;
	m->content_length = 0;
	m->conn_flags = 0;
	m->keep_alive = false;
	m->expect_continue = m->has_upgrade = m->te_other = false;
	m->host_index = -1;
	m->head_len = 0;
	m->error_status = 0;
	m->error = NULL;
}

static bool wants_keep_alive(const struct http_msg *m)
{
	if (m->conn_flags & HTTP_CONN_CLOSE)
		return false;
	return m->minor >= 1 || (m->conn_flags & HTTP_CONN_KEEP_ALIVE);
}

ssize_t http_parse_request(const char *buf, size_t len, size_t *scan, const struct http_limits *lim,
                           struct http_msg *m)
{
	reset(m);
	/* RFC 9112 2.2: ignore empty lines before the request line. */
	size_t start = 0;
	while (start + 1 < len && buf[start] == '\r' && buf[start + 1] == '\n')
		start += 2;
	if (start < len && buf[start] == '\n')
		return fail(m, 400, "bare LF in head");
	if (start > lim->max_head)
		return fail(m, 400, "too many empty lines before the request");
	if (start >= len || (start + 1 == len && buf[start] == '\r'))
		return TS_AGAIN;
	ssize_t end = find_head_end(buf, len, start, scan, lim->max_head, m);
	if (end < 0)
		return end;
	const char *p = buf + start;
	const char *crlf = memchr(p, '\r', (size_t)end - start);
	if (crlf[1] != '\n')
		return fail(m, 400, "bare CR in request line");
	if (parse_request_line(p, (size_t)(crlf - p), m) < 0)
		return TS_ERROR;
	struct field_state fs = { 0 };
	const char *fields = crlf + 2;
	size_t nfields = (size_t)(buf + end - 2 - fields);
	if (parse_fields(fields, nfields, lim, m, &fs, 400) < 0)
		return TS_ERROR;

	if (m->minor == 1 && fs.nhost == 0)
		return fail(m, 400, "missing Host");
	if (fs.nhost > 1)
		return fail(m, 400, "more than one Host");
	if (!m->absolute_form && m->host_index >= 0)
		m->authority = m->headers[m->host_index].value;
	if (fs.has_te) {
		if (fs.has_cl)
			return fail(m, 400, "both Content-Length and Transfer-Encoding");
		if (m->minor == 0)
			return fail(m, 400, "Transfer-Encoding in HTTP/1.0");
		if (!fs.te_chunked_last)
			return fail(m, 400, "Transfer-Encoding without a final chunked");
		m->framing = HTTP_BODY_CHUNKED;
	} else if (fs.has_cl && m->content_length > 0) {
		if (lim->max_body && m->content_length > lim->max_body)
			return fail(m, 413, "body too large");
		m->framing = HTTP_BODY_LENGTH;
	}
	m->keep_alive = wants_keep_alive(m);
	m->head_len = (size_t)end;
	return end;
}

ssize_t http_parse_response(const char *buf, size_t len, size_t *scan,
                            const struct http_limits *lim, enum http_method req_method,
                            struct http_msg *m)
{
	reset(m);
	if (len == 0)
		return TS_AGAIN;
	ssize_t end = find_head_end(buf, len, 0, scan, lim->max_head, m);
	if (end < 0) {
		if (m->error_status)
			m->error_status = 502;
		return end;
	}
	const char *crlf = memchr(buf, '\r', (size_t)end);
	if (crlf[1] != '\n')
		return fail(m, 502, "bare CR in status line");
	if (parse_status_line(buf, (size_t)(crlf - buf), m) < 0)
		return TS_ERROR;
	struct field_state fs = { 0 };
	const char *fields = crlf + 2;
	if (parse_fields(fields, (size_t)(buf + end - 2 - fields), lim, m, &fs, 502) < 0)
		return TS_ERROR;

	m->keep_alive = wants_keep_alive(m);
	if (req_method == HTTP_HEAD || m->status < 200 || m->status == 204 || m->status == 304) {
		m->framing = HTTP_BODY_NONE;
	} else if (fs.has_te) {
		if (fs.has_cl)
			return fail(m, 502, "both Content-Length and Transfer-Encoding");
		/* RFC 9112 6.1: in HTTP/1.0 the framing is faulty. */
		if (m->minor == 0)
			return fail(m, 502, "Transfer-Encoding in HTTP/1.0");
		if (fs.te_chunked_last) {
			m->framing = HTTP_BODY_CHUNKED;
		} else {
			m->framing = HTTP_BODY_CLOSE;
			m->keep_alive = false;
		}
	} else if (fs.has_cl) {
		m->framing = m->content_length ? HTTP_BODY_LENGTH : HTTP_BODY_NONE;
	} else {
		m->framing = HTTP_BODY_CLOSE;
		m->keep_alive = false;
	}
	m->head_len = (size_t)end;
	return end;
}

/* ---- lookups ---- */

int http_find_header(const struct http_msg *m, const char *name, int from)
{
	for (unsigned i = (unsigned)(from < 0 ? 0 : from); i < m->nheaders; i++)
		if (http_str_ieq(m->headers[i].name, name))
			return (int)i;
	return -1;
}

bool http_hop_by_hop(const struct http_msg *m, struct str name)
{
	/* On every header of every proxied message: decided by length first. */
	const char *n = name.p;
	switch (name.len) {
	case 2:
		if (ieq_n(n, "te", 2))
			return true;
		break;
	case 7:
		if (ieq_n(n, "trailer", 7) || ieq_n(n, "upgrade", 7))
			return true;
		break;
	case 10:
		if (ieq_n(n, "connection", 10) || ieq_n(n, "keep-alive", 10))
			return true;
		break;
	case 16:
		if (ieq_n(n, "proxy-connection", 16))
			return true;
		break;
	case 18:
		if (ieq_n(n, "proxy-authenticate", 18))
			return true;
		break;
	case 19:
		if (ieq_n(n, "proxy-authorization", 19))
			return true;
		break;
	}
	if (!(m->conn_flags & HTTP_CONN_OTHER))
		return false;
	/* Connection may name any field, but taking away the framing or the
	 * Host would make the next hop read the message differently from us:
	 * "Connection: Content-Length" is a request smuggling trick. */
	if ((name.len == 14 && ieq_n(n, "content-length", 14)) ||
	    (name.len == 17 && ieq_n(n, "transfer-encoding", 17)) ||
	    (name.len == 4 && ieq_n(n, "host", 4)))
		return false;
	for (int i = http_find_header(m, "connection", 0); i >= 0;
	     i = http_find_header(m, "connection", i + 1)) {
		struct str rest = m->headers[i].value, e;
		while (list_next(&rest, &e))
			if (e.len == name.len && ieq_n(e.p, name.p, e.len))
				return true;
	}
	return false;
}
