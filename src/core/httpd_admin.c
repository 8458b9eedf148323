/* httpd_admin.c - what admin listeners answer (/metrics, for Prometheus and
 * `tristack status`) and whom: a Host that names this daemon, never a
 * DNS-rebinding page's. See httpd.h.
 */
#include "httpd.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "net.h"

bool httpd_path_is(struct str target, const char *want, bool prefix)
{
	size_t n = strlen(want), len = http_target_path_len(target);
	if (prefix)
		return len >= n && memcmp(target.p, want, n) == 0;
	return len == n && memcmp(target.p, want, n) == 0;
}

int httpd_respond_metrics(struct httpd_session *s, struct metrics *m)
{
	struct sbuf out = { 0 };
	metrics_render(m, &out);
	int r = httpd_respond(s, 200, "text/plain; version=0.0.4; charset=utf-8", out.p, out.len);
	sbuf_free(&out);
	return r;
}

/* host (no port) is one of these names, whatever their case. */
static bool host_in(struct str host, const char *const *names, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (names[i] && strlen(names[i]) == host.len &&
		    strncasecmp(host.p, names[i], host.len) == 0)
			return true;
	return false;
}

/* The Host without its port; an IPv6 literal without its brackets. */
static struct str host_name(struct str a)
{
	if (a.len && a.p[0] == '[') {
		const char *end = memchr(a.p, ']', a.len);
		return end ? (struct str){ a.p + 1, (size_t)(end - a.p - 1) } : a;
	}
	const char *colon = memrchr(a.p, ':', a.len);
	return colon ? (struct str){ a.p, (size_t)(colon - a.p) } : a;
}

bool httpd_host_is_local(struct str authority, int fd, const char *const *names, size_t n)
{
	struct str host = host_name(authority);
	if (host.len == 0)
		return true; /* HTTP/1.0 without Host: no browser sends that */
	char local[64] = "";
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	if (getsockname(fd, (struct sockaddr *)&ss, &len) == 0)
		sockaddr_ip((const struct sockaddr *)&ss, local, sizeof(local));
	const char *const here[] = { "localhost", "127.0.0.1", "::1", local };
	return host_in(host, here, ARRAY_SIZE(here)) || host_in(host, names, n);
}

bool httpd_admin_host_ok(const struct httpd_session *s, const struct daemon *d)
{
	char fqdn[300] = "", www[300] = "";
	const struct daemon_ident *id = &d->id;
	const char *domain = id->domain;
	bool is_www = id->host && domain && id->www && strcmp(id->host, id->www) == 0;
	if (id->host && domain)
		snprintf(fqdn, sizeof(fqdn), "%s.%s", id->host, domain);
	if (is_www)
		snprintf(www, sizeof(www), "www.%s", domain);
	const char *const names[] = { id->address, id->host, fqdn[0] ? fqdn : NULL,
		                      www[0] ? www : NULL, is_www ? domain : NULL };
	return httpd_host_is_local(s->req->authority, s->conn.io.fd, names, ARRAY_SIZE(names));
}

int httpd_admin_handler(struct httpd_session *s)
{
	struct daemon *d = s->srv->data;
	if (!httpd_admin_host_ok(s, d))
		return httpd_error(s, 403, false);
	if (!httpd_path_is(s->req->target, "/metrics", false))
		return httpd_error(s, 404, false);
	if (s->req->method != HTTP_GET && s->req->method != HTTP_HEAD)
		return httpd_error(s, 405, false);
	return httpd_respond_metrics(s, d->metrics);
}
