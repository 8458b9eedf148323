/* main.c - tristack-web: daemon wiring; each request goes to an app server
 * (the `proxy` prefixes) or to the document root. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "conf/names.h"
#include "core/log.h"
#include "core/path.h"
#include "web.h"

#define APP_FAIL_TIMEOUT_MS 10000 /* a failed app is skipped this long (nginx's fail_timeout) */

static bool proxied(const struct web_conf *conf, const char *path)
{
	for (unsigned i = 0; i < conf->nproxy; i++) {
		const char *p = conf->proxy[i];
		if (p[0] == '=' ? strcmp(path, p + 1) == 0 : strncmp(path, p, strlen(p)) == 0)
			return true; /* '=/path': that path only, like nginx's location = */
	}
	return false;
}

/* Only the app reads request bodies. One sent here (a DELETE, a POST to a
 * file) that has all arrived with its head is skipped, so the connection
 * goes on after the answer, as nginx's discard_request_body lets it; one
 * still on its way makes the answer say Connection: close (httpd_head_end). */
static void skip_arrived_body(struct httpd_session *s)
{
	size_t avail = httpd_session_body_avail(s);
	size_t n;
	if (s->req->framing == HTTP_BODY_LENGTH) {
		if (avail < s->req->content_length)
			return;
		n = (size_t)s->req->content_length;
	} else if (s->req->framing == HTTP_BODY_CHUNKED) {
		struct http_chunked ch;
		http_chunked_init(&ch, 0, (uint32_t)s->srv->limits.max_head);
		const char *p = httpd_session_body_ptr(s);
		struct str data;
		n = 0;
		while (!http_chunked_done(&ch)) {
			ssize_t k = http_chunked_step(&ch, p + n, avail - n, &data);
			if (k <= 0)
				return; /* malformed, or not all here */
			n += (size_t)k;
		}
	} else {
		return;
	}
	httpd_session_body_consume(s, n);
	s->req->body_consumed = true;
}

/* OPTIONS * (RFC 9110 9.3.7) asks about the server, not a resource: what
 * its files answer to (the app's prefixes answer for themselves). */
static int options_star(struct httpd_session *s)
{
	if (httpd_head_begin(s, 200) < 0 || httpd_head_add(s, "Allow", "GET, HEAD") < 0 ||
	    httpd_head_end(s, 0) < 0)
		return httpd_error(s, 500, true);
	return TS_OK;
}

static int web_handler(struct httpd_session *s)
{
	struct web_worker *ww = s->srv->data;
	char path[WEB_PATH_BUF];
	/* Prefixes match the normalised path, as nginx's locations do; a
	 * control byte encoded in it (%0d) is the app's business, not a file */
	long n = path_normalize(s->req->target.p, s->req->target.len, path, WEB_PATH_MAX,
	                        PATH_CONTROL_OK);
	if (n >= 0 && proxied(&conf_of(ww->web->d)->web, path))
		return proxy_handle(&ww->pw, s);
	skip_arrived_body(s);
	if (s->req->method == HTTP_CONNECT)
		return httpd_error(s, 405, true); /* no tunnels, as the proxy answers */
	if (s->req->target.len == 1 && s->req->target.p[0] == '*')
		return options_star(s); /* the parser lets only OPTIONS have it */
	n = path_normalize(s->req->target.p, s->req->target.len, path, WEB_PATH_MAX, 0);
	if (n < 0) /* a target we cannot read: the connection ends, as nginx's 400 */
		return httpd_error(s, (int)-n, true);
	/* 404, not 403: whether a .git is there is nobody's business */
	if (!conf_of(ww->web->d)->web.dotfiles && path_hidden(path))
		return httpd_error(s, 404, false);
	return web_static(ww, s, path, (size_t)n);
}

/* ---- app servers: round robin, a failed one skipped for a while ---- */

static int pick_app(struct proxy_worker *pw, unsigned attempt, int avoid)
{
	struct web *web = pw->pc->pick_data;
	(void)attempt;
	uint64_t now = loop_now(pw->w->loop);
	unsigned start = atomic_fetch_add_explicit(&web->rr, 1, memory_order_relaxed);
	int fallback = -1;
	for (unsigned k = 0; k < web->napps; k++) {
		int i = (int)((start + k) % web->napps);
		if (i == avoid && web->napps > 1)
			continue;
		if (atomic_load_explicit(&web->apps[i].down_until, memory_order_relaxed) > now) {
			if (fallback < 0)
				fallback = i;
			continue;
		}
		return i;
	}
	/* all recently failed: try one anyway rather than refuse outright */
	return fallback >= 0 ? fallback : avoid;
}

static void report_app(struct proxy_worker *pw, int server, bool ok)
{
	struct web *web = pw->pc->pick_data;
	if (!ok)
		atomic_store(&web->apps[server].down_until,
		             loop_now(pw->w->loop) + APP_FAIL_TIMEOUT_MS);
}

/* ---- daemon ---- */

static int setup_upstreams(struct daemon *d, struct web *web, char *err, size_t errlen)
{
	const char *list = conf_of(d)->web.upstream;
	char *copy = xstrdup(list), *save = NULL;
	unsigned n = 0;
	for (char *t = strtok_r(copy, " \t,", &save); t; t = strtok_r(NULL, " \t,", &save))
		n++;
	free(copy);
	if (n == 0) {
		snprintf(err, errlen, "%s: [web] upstream: no address", d->conf_path);
		return -1;
	}
	web->apps = xcalloc(n, sizeof(*web->apps));
	web->app_px = xcalloc(n, sizeof(*web->app_px));
	copy = xstrdup(list);
	save = NULL;
	char e[256];
	for (char *t = strtok_r(copy, " \t,", &save); t; t = strtok_r(NULL, " \t,", &save)) {
		struct proxy_server *a = &web->apps[web->napps].px;
		if (conf_resolve_addr(conf_of(d), t, conf_self(d), &a->addr, e, sizeof(e)) < 0) {
			snprintf(err, errlen, "%s: [web] upstream: %s", d->conf_path, e);
			free(copy);
			return -1;
		}
		char name[128];
		addr_format(&a->addr, name, sizeof(name));
		a->name = xstrdup(n == 1 ? "app" : name);
		web->app_px[web->napps++] = a;
	}
	free(copy);
	return 0;
}

static int web_configure(struct daemon *d, char *err, size_t errlen)
{
	struct web *web = xcalloc(1, sizeof(*web));
	d->data = web;
	web->d = d;
	web->root_fd = -1;
	struct web_conf *conf = &conf_of(d)->web;
	d->http = &conf->http;
	if (conf_self(d) == NULL) {
		snprintf(err, errlen, "%s: no host has the 'web' role (or pass --host)",
		         d->conf_path);
		return -1;
	}
	web->host = conf_self(d)->name;
	snprintf(web->served_by, sizeof(web->served_by), "X-Served-By: %s\r\n", web->host);
	char e[256];
	if (conf_resolve_addr(conf_of(d), conf->http.listen, conf_self(d), &web->listen, e,
	                      sizeof(e)) < 0) {
		snprintf(err, errlen, "%s: [web] listen: %s", d->conf_path, e);
		return -1;
	}
	int r =
	    daemon_admin_addr(d, "web", conf->http.admin, &web->listen, &web->admin, err, errlen);
	if (r < 0)
		return -1;
	web->has_admin = r > 0;
	if (setup_upstreams(d, web, err, errlen) < 0)
		return -1;
	struct stat st;
	if (stat(conf->root, &st) < 0 || !S_ISDIR(st.st_mode)) {
		snprintf(err, errlen, "%s: [web] root '%s' is not a directory", d->conf_path,
		         conf->root);
		return -1;
	}
	if (strchr(conf->index, '/') || conf->index[0] == '\0' || strlen(conf->index) > 200) {
		snprintf(err, errlen, "%s: [web] index '%s' must be a plain file name",
		         d->conf_path, conf->index);
		return -1;
	}
	char *types = xstrdup(conf->gzip_types), *save = NULL;
	for (char *t = strtok_r(types, " \t,", &save); t; t = strtok_r(NULL, " \t,", &save)) {
		web->gzip_types =
		    xrealloc(web->gzip_types, (web->ngzip_types + 1) * sizeof(*web->gzip_types));
		web->gzip_types[web->ngzip_types++] = xstrdup(t);
	}
	free(types);
	struct proxy_conf *pc = &web->pc;
	/* nginx's proxy_next_upstream error: connect failures and dead
	 * connections (the default retry_on) */
	proxy_conf_defaults(pc, conf->http.max_header_size);
	pc->servers = web->app_px;
	pc->nservers = web->napps;
	pc->timeout_connect = conf->timeout_connect;
	pc->timeout_server = conf->timeout_server;
	pc->timeout_pool = conf->timeout_server_keep_alive;
	pc->timeout_queue = conf->timeout_connect;
	/* nginx's proxy_next_upstream: each app server once, then one more
	 * attempt on the last (a restarting app) */
	pc->retries = web->napps;
	pc->trusted = &conf->trusted; /* the LB in front sets them */
	pc->served_by = web->host;
	pc->pick = pick_app;
	pc->report = report_app;
	pc->pick_data = web;
	return 0;
}

/* Read the configured error pages once: an error never touches the disk. */
static int load_error_pages(struct web *web, char *err, size_t errlen)
{
	const struct web_conf *conf = &conf_of(web->d)->web;
	web->error_pages =
	    xcalloc(conf->nerror_pages ? conf->nerror_pages : 1, sizeof(*web->error_pages));
	for (unsigned i = 0; i < conf->nerror_pages; i++) {
		const struct web_error_page_conf *ep = &conf->error_pages[i];
		char full[TS_PATH_MAX];
		snprintf(full, sizeof(full), "%s%s", conf->root, ep->path);
		FILE *f = fopen(full, "r");
		if (f == NULL) {
			snprintf(err, errlen, "error_page %d: cannot read %s: %s", ep->status, full,
			         strerror(errno));
			return -1;
		}
		struct web_error_page *p = &web->error_pages[web->nerror_pages++];
		p->status = ep->status;
		p->body = xmalloc(65536);
		p->len = fread(p->body, 1, 65536, f);
		fclose(f);
		p->type = web_mime_type(web->mime, ep->path);
	}
	return 0;
}

static int web_start(struct daemon *d, char *err, size_t errlen)
{
	struct web *web = d->data;
	web->root_fd = open(conf_of(d)->web.root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (web->root_fd < 0) {
		snprintf(err, errlen, "cannot open root '%s': %s", conf_of(d)->web.root,
		         strerror(errno));
		return -1;
	}
	web->mime = web_mime_load(conf_of(d)->web.mime_types, err, errlen);
	if (web->mime == NULL || load_error_pages(web, err, errlen) < 0)
		return -1;
	uint64_t rnd = 0;
	if (getrandom(&rnd, sizeof(rnd), 0) != sizeof(rnd))
		rnd = (uint64_t)getpid() * 2654435761u;
	snprintf(web->boundary, sizeof(web->boundary), "tristack%016llx", (unsigned long long)rnd);
	httpd_metrics_define(d->metrics, METRIC_WEB, &web->hm);
	proxy_metrics_define(&web->pc, d->metrics, METRIC_WEB);
	return 0;
}

static int web_worker_init(struct worker *w, char *err, size_t errlen)
{
	struct web *web = w->d->data;
	struct web_worker *ww = xcalloc(1, sizeof(*ww));
	w->data = ww;
	ww->web = web;
	proxy_worker_init(&ww->pw, &web->pc, w);
	ww->files = web_filecache_new(1024, conf_of(w->d)->web.file_cache);
	httpd_server_init(&ww->http, w, w->d->http, web_handler, ww);
	httpd_server_use_metrics(&ww->http, w->d->metrics, &web->hm);
	ww->http.extra_headers = web->served_by;
	ww->http.error_page = web_error_page;
	ww->http.real_ip_from = &conf_of(w->d)->web.trusted;
	if (httpd_server_listen(&ww->http, &web->listen, 0, err, errlen) < 0)
		return -1;
	httpd_server_init(&ww->admin, w, NULL, httpd_admin_handler, w->d);
	if (web->has_admin && httpd_server_listen(&ww->admin, &web->admin, 0, err, errlen) < 0)
		return -1;
	return 0;
}

static void web_worker_stop(struct worker *w)
{
	struct web_worker *ww = w->data;
	httpd_server_stop(&ww->http);
	httpd_server_stop(&ww->admin);
	proxy_worker_close_idle(&ww->pw);
}

static void web_worker_free(struct worker *w)
{
	struct web_worker *ww = w->data;
	if (ww == NULL)
		return;
	httpd_server_free(&ww->http);
	httpd_server_free(&ww->admin);
	proxy_worker_free(&ww->pw);
	web_static_free(ww); /* after the sessions, which give theirs back */
	web_filecache_free(ww->files);
	free(ww);
	w->data = NULL;
}

static void web_finish(struct daemon *d)
{
	struct web *web = d->data;
	if (web == NULL)
		return;
	if (web->root_fd >= 0)
		close(web->root_fd);
	for (unsigned i = 0; i < web->napps; i++)
		free(web->apps[i].px.name);
	free(web->apps);
	free(web->app_px);
	for (unsigned i = 0; i < web->ngzip_types; i++)
		free(web->gzip_types[i]);
	free(web->gzip_types);
	for (unsigned i = 0; i < web->nerror_pages; i++)
		free(web->error_pages[i].body);
	free(web->error_pages);
	web_mime_free(web->mime);
	free(web->pc.workers);
	free(web);
	d->data = NULL;
}

static const struct daemon_def web_def = {
	.name = "tristack-web",
	.role = ROLE_WEB,
	.conf = &conf_daemon_ops,
	.configure = web_configure,
	.start = web_start,
	.worker_init = web_worker_init,
	.worker_stop = web_worker_stop,
	.worker_free = web_worker_free,
	.finish = web_finish,
};

int main(int argc, char **argv)
{
	return daemon_main(&web_def, argc, argv);
}
