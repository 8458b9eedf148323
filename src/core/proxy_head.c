/* proxy_head.c - the heads the proxy writes: the request head for the
 * upstream (hop-by-hop headers dropped, Forwarded headers its own) and the
 * response head for the client. See proxy.h.
 */
#include "proxy.h"
#include "proxy_int.h"

#include <stdio.h>
#include <string.h>

#include "net.h"
#include "tls.h"

/* ---- building the upstream request head ---- */

/* Forwarded headers we write ourselves. A client's are not to be trusted
 * (the leftmost X-Forwarded-For would be its choice): only a trusted peer's
 * Proto and Host are kept, and its X-Forwarded-For is rewritten with our
 * peer appended. */
static bool replaced_header(struct str name, bool trusted)
{
	if (http_str_ieq(name, "x-forwarded-for"))
		return true;
	if (trusted)
		return false;
	return http_str_ieq(name, "x-forwarded-proto") || http_str_ieq(name, "x-forwarded-host") ||
	       http_str_ieq(name, "forwarded") || http_str_ieq(name, "x-real-ip");
}

static bool peer_trusted(const struct proxy_conf *pc, const struct httpd_session *s)
{
	return pc->trusted && net_ipset_has(pc->trusted, (const struct sockaddr *)&s->peer);
}

/* Content-Length as we understood it: one field with the number, whatever
 * leading zeros the sender used (the parser refuses lists), so the next
 * hop cannot frame the body differently. Other messages keep theirs as
 * they are (a HEAD or 304 response's is only information). */
static bool is_content_length(struct str name)
{
	return name.len == 14 && http_str_ieq(name, "content-length");
}

static int append_content_length(struct buf *b, const struct http_msg *m)
{
	if (m->framing != HTTP_BODY_LENGTH)
		return 0;
	/* on every response: digits by hand, not printf */
	char line[48] = "Content-Length: ";
	char digits[24];
	size_t nd = 0;
	uint64_t v = m->content_length;
	do
		digits[nd++] = (char)('0' + v % 10);
	while ((v /= 10) != 0);
	size_t n = sizeof("Content-Length: ") - 1;
	while (nd)
		line[n++] = digits[--nd];
	line[n++] = '\r';
	line[n++] = '\n';
	return buf_append(b, line, n);
}

int proxy_request_head(struct proxy_txn *t)
{
	struct httpd_session *s = t->s;
	const struct http_msg *m = s->req->msg;
	const struct proxy_conf *pc = t->pw->pc;
	struct buf *b = &t->head;
	bool trusted = peer_trusted(pc, s);
	int r = 0;
	r |= buf_append(b, m->method_name.p, m->method_name.len);
	r |= buf_append_lit(b, " ");
	r |= buf_append(b, m->target.p, m->target.len);
	/* Our own version, whatever the client's (RFC 9110 2.5: an
	 * intermediary sends its own): a 1.0 request goes on as 1.1 */
	r |= buf_append_lit(b, " HTTP/1.1\r\n");
	for (unsigned i = 0; i < m->nheaders; i++) {
		const struct http_header *h = &m->headers[i];
		if (http_hop_by_hop(m, h->name))
			continue;
		if (pc->forwarded_headers && replaced_header(h->name, trusted))
			continue;
		if (h->name.len == 6 && http_str_ieq(h->name, "expect") && m->expect_continue)
			continue; /* answered here: see proxy_handle */
		if (m->absolute_form && (int)i == m->host_index)
			continue;
		if (m->framing == HTTP_BODY_LENGTH && is_content_length(h->name))
			continue;
		r |= buf_append(b, h->name.p, h->name.len);
		r |= buf_append_lit(b, ": ");
		r |= buf_append(b, h->value.p, h->value.len);
		r |= buf_append_lit(b, "\r\n");
	}
	r |= append_content_length(b, m);
	/* absolute-form names the host; a 1.0 request may name none, and a
	 * 1.1 request must have a Host: empty when the authority is unknown
	 * (RFC 9112 3.2) */
	if (m->absolute_form || m->host_index < 0) {
		r |= buf_append_lit(b, "Host: ");
		r |= buf_append(b, m->authority.p, m->authority.len);
		r |= buf_append_lit(b, "\r\n");
	}
	if (pc->forwarded_headers) {
		/* A trusted proxy's X-Forwarded-For values come first, our
		 * peer last; from anyone else, our peer alone. */
		r |= buf_append_lit(b, "X-Forwarded-For: ");
		for (int i = trusted ? http_find_header(m, "x-forwarded-for", 0) : -1; i >= 0;
		     i = http_find_header(m, "x-forwarded-for", i + 1)) {
			r |= buf_append(b, m->headers[i].value.p, m->headers[i].value.len);
			r |= buf_append_lit(b, ", ");
		}
		struct str ip = httpd_session_client_ip_str(s);
		r |= buf_append(b, ip.p, ip.len);
		r |= buf_append_lit(b, "\r\n");
		bool keep = trusted;
		if (!keep || http_find_header(m, "x-forwarded-proto", 0) < 0) {
			r |= buf_append_lit(b, "X-Forwarded-Proto: ");
			const char *proto = conn_is_tls(&t->s->conn) ? "https" : pc->proto;
			r |= buf_append(b, proto, strlen(proto));
			r |= buf_append_lit(b, "\r\n");
		}
		if (m->authority.len && (!keep || http_find_header(m, "x-forwarded-host", 0) < 0)) {
			r |= buf_append_lit(b, "X-Forwarded-Host: ");
			r |= buf_append(b, m->authority.p, m->authority.len);
			r |= buf_append_lit(b, "\r\n");
		}
	}
	r |= buf_append_lit(b, "\r\n");
	return r ? -1 : 0;
}

/* ---- response: upstream -> client ---- */

int proxy_response_head(struct proxy_txn *t, const struct http_msg *m)
{
	struct httpd_session *s = t->s;
	const struct proxy_conf *pc = t->pw->pc;
	struct buf *o = &s->out;
	int r = 0;
	buf_attach(&t->pw->w->pool, o);
	char status[13] = "HTTP/1.1 000 ";
	status[9] = (char)('0' + m->status / 100);
	status[10] = (char)('0' + m->status / 10 % 10);
	status[11] = (char)('0' + m->status % 10);
	r |= buf_append(o, status, sizeof(status));
	r |= buf_append(o, m->reason.p, m->reason.len);
	r |= buf_append_lit(o, "\r\n");
	for (unsigned i = 0; i < m->nheaders; i++) {
		const struct http_header *h = &m->headers[i];
		if (http_hop_by_hop(m, h->name))
			continue;
		if (pc->served_by && h->name.len == 11 && http_str_ieq(h->name, "x-served-by"))
			continue;
		if (m->framing == HTTP_BODY_LENGTH && is_content_length(h->name))
			continue;
		r |= buf_append(o, h->name.p, h->name.len);
		r |= buf_append_lit(o, ": ");
		r |= buf_append(o, h->value.p, h->value.len);
		r |= buf_append_lit(o, "\r\n");
	}
	r |= append_content_length(o, m);
	if (pc->tls_headers && conn_is_tls(&s->conn))
		r |= buf_append(o, pc->tls_headers, strlen(pc->tls_headers));
	if (pc->served_by) {
		r |= buf_append_lit(o, "X-Served-By: ");
		r |= buf_append(o, pc->served_by, strlen(pc->served_by));
		r |= buf_append_lit(o, "\r\n");
	}
	if (m->status >= 200) {
		if (!t->client_keep) {
			s->announced_close = true;
			r |= buf_append_lit(o, "Connection: close\r\n");
		} else if (s->req->minor == 0)
			r |= buf_append_lit(o, "Connection: keep-alive\r\n");
	}
	r |= buf_append_lit(o, "\r\n");
	return r ? -1 : 0;
}
