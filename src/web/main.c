/* main.c - tristack-web: daemon wiring; each request goes to the app (the
 * `proxy` prefixes) or to the document root. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/log.h"
#include "path.h"
#include "web.h"

static bool proxied(const struct stack_web *conf, const char *path)
{
	for (unsigned i = 0; i < conf->nproxy; i++)
		if (strncmp(path, conf->proxy[i], strlen(conf->proxy[i])) == 0)
			return true;
	return false;
}

static int web_handler(struct http_session *s)
{
	struct web_worker *ww = s->srv->data;
	char path[WEB_PATH_MAX + 16];
	long n = web_path_normalize(s->req.path.p, s->req.path.len, path, WEB_PATH_MAX);
	if (n < 0)
		return web_error_page(ww, s, (int)-n);
	/* Prefixes match the normalised path, as nginx's locations do. */
	if (proxied(&ww->web->d->stack.web, path))
		return proxy_handle(&ww->pw, s);
	return web_static(ww, s, path, (size_t)n);
}

/* One app server; the engine's retries go back to it. */
static int pick_app(struct proxy_worker *pw, unsigned attempt, int avoid)
{
	(void)pw;
	(void)attempt;
	(void)avoid;
	return 0;
}

/* ---- daemon ---- */

static int web_configure(struct daemon *d, char *err, size_t errlen)
{
	struct web *web = xcalloc(1, sizeof(*web));
	d->data = web;
	web->d = d;
	web->root_fd = -1;
	struct stack_web *conf = &d->stack.web;
	d->http = &conf->http;
	if (d->host == NULL) {
		snprintf(err, errlen, "%s: no host has the 'web' role (or pass --host)",
		         d->conf_path);
		return -1;
	}
	web->host = d->host->name;
	char e[256];
	if (stack_resolve_addr(&d->stack, conf->http.listen, d->host, &web->listen, e, sizeof(e)) <
	    0) {
		snprintf(err, errlen, "%s: [web] listen: %s", d->conf_path, e);
		return -1;
	}
	if (conf->http.admin[0]) {
		if (stack_resolve_addr(&d->stack, conf->http.admin, d->host, &web->admin, e,
		                       sizeof(e)) < 0) {
			snprintf(err, errlen, "%s: [web] admin: %s", d->conf_path, e);
			return -1;
		}
		web->has_admin = true;
	}
	if (stack_resolve_addr(&d->stack, conf->upstream, d->host, &web->upstream, e, sizeof(e)) <
	    0) {
		snprintf(err, errlen, "%s: [web] upstream: %s", d->conf_path, e);
		return -1;
	}
	struct stat st;
	if (stat(conf->root, &st) < 0 || !S_ISDIR(st.st_mode)) {
		snprintf(err, errlen, "%s: [web] root '%s' is not a directory", d->conf_path,
		         conf->root);
		return -1;
	}
	web->app = (struct proxy_server){ .name = "app", .addr = web->upstream, .weight = 1 };
	struct proxy_conf *pc = &web->pc;
	pc->servers = &web->app;
	pc->nservers = 1;
	pc->timeout_connect = conf->timeout_connect;
	pc->timeout_server = conf->timeout_server;
	pc->timeout_pool = conf->timeout_server_keep_alive;
	pc->retries = 1;
	pc->pool_max = 256;
	pc->resp_limits =
	    (struct http_limits){ .max_head = conf->http.max_header_size, .max_headers = 100 };
	pc->forwarded_headers = true;
	pc->trust_forwarded = true; /* the LB in front sets Proto and Host */
	pc->proto = "http";
	pc->served_by = web->host;
	pc->pick = pick_app;
	return 0;
}

static int web_start(struct daemon *d, char *err, size_t errlen)
{
	struct web *web = d->data;
	web->root_fd = open(d->stack.web.root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (web->root_fd < 0) {
		snprintf(err, errlen, "cannot open root '%s': %s", d->stack.web.root,
		         strerror(errno));
		return -1;
	}
	http_metrics_define(d->metrics, "tristack_web", &web->hm);
	proxy_metrics_define(&web->pc, d->metrics, "tristack_web");
	return 0;
}

static int web_worker_init(struct worker *w, char *err, size_t errlen)
{
	struct web *web = w->d->data;
	struct web_worker *ww = xcalloc(1, sizeof(*ww));
	w->data = ww;
	ww->web = web;
	proxy_worker_init(&ww->pw, &web->pc, w);
	http_server_init(&ww->http, w, w->d->http, web_handler, ww);
	http_server_use_metrics(&ww->http, w->d->metrics, &web->hm);
	if (http_server_listen(&ww->http, &web->listen, err, errlen) < 0)
		return -1;
	http_server_init(&ww->admin, w, NULL, http_admin_handler, w->d);
	if (web->has_admin && http_server_listen(&ww->admin, &web->admin, err, errlen) < 0)
		return -1;
	return 0;
}

static void web_worker_stop(struct worker *w)
{
	struct web_worker *ww = w->data;
	http_server_stop(&ww->http);
	http_server_stop(&ww->admin);
	proxy_worker_close_idle(&ww->pw);
}

static void web_worker_free(struct worker *w)
{
	struct web_worker *ww = w->data;
	if (ww == NULL)
		return;
	http_server_free(&ww->http);
	http_server_free(&ww->admin);
	proxy_worker_free(&ww->pw);
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
	free(web->pc.workers);
	free(web);
	d->data = NULL;
}

static const struct daemon_def web_def = {
	.name = "tristack-web",
	.role = ROLE_WEB,
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
