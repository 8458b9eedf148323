/* main.c - tristack-app: daemon wiring, routing; /metrics on the admin
 * listener. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "conf/names.h"
#include "core/log.h"

int app_json(struct httpd_session *s, int status, json_t *body)
{
	char *text = json_dumps(body, JSON_COMPACT);
	json_decref(body);
	if (text == NULL)
		return httpd_error(s, 500, true);
	size_t n = strlen(text);
	text[n] = '\n'; /* replaces the NUL: the body is sent by length */
	int r = httpd_respond(s, status, "application/json", text, n + 1);
	free(text);
	return r;
}

int app_json_error(struct httpd_session *s, int status, const char *message)
{
	return app_json(s, status, json_pack("{s:s}", "error", message));
}

/* Errors the server itself answers (413, 431, 408 ...) in JSON too. */
static int app_error_page(struct httpd_session *s, int status)
{
	return app_json_error(s, status, http_status_reason(status));
}

static int app_handler(struct httpd_session *s)
{
	struct app_worker *aw = s->srv->data;
	struct str path = s->req->target;
	bool path_known = false;
	for (const struct app_route *r = site_routes; r->path; r++) {
		if (!httpd_path_is(path, r->path, r->prefix))
			continue;
		path_known = true;
		bool head_as_get = s->req->method == HTTP_HEAD && r->method == HTTP_GET;
		if (r->method == HTTP_OTHER || r->method == s->req->method || head_as_get)
			return r->fn(aw, s);
	}
	if (path_known)
		return app_json_error(s, 405, "method not allowed");
	return app_json_error(s, 404, "not found");
}

/* ---- daemon ---- */

static int app_configure(struct daemon *d, char *err, size_t errlen)
{
	struct app *app = xcalloc(1, sizeof(*app));
	d->data = app;
	app->d = d;
	d->http = &conf_of(d)->app.http;
	if (conf_self(d) == NULL) {
		snprintf(err, errlen, "%s: no host has the 'app' role (or pass --host)",
		         d->conf_path);
		return -1;
	}
	app->host = conf_self(d)->name;
	char e[256];
	if (conf_resolve_addr(conf_of(d), d->http->listen, conf_self(d), &app->listen, e,
	                      sizeof(e)) < 0) {
		snprintf(err, errlen, "%s: [app] listen: %s", d->conf_path, e);
		return -1;
	}
	int r = daemon_admin_addr(d, "app", d->http->admin, &app->listen, &app->admin, err, errlen);
	if (r < 0)
		return -1;
	app->has_admin = r > 0;
	return db_setup(&app->db, d, err, errlen);
}

static void app_metrics_define(struct app *app, struct metrics *m)
{
	const char *h = "Read-your-writes cookies ignored, by reason: not signed by this stack, "
	                "or a GTID the primary does not have";
	app->m_gtid_rejected_signature = metrics_counter(
	    m, "tristack_app_gtid_cookie_rejected_total", h, "reason=\"signature\"");
	app->m_gtid_rejected_ahead =
	    metrics_counter(m, "tristack_app_gtid_cookie_rejected_total", h, "reason=\"ahead\"");
	app->m_form_rejected = metrics_counter(
	    m, "tristack_app_form_rejected_total",
	    "Form posts refused as cross-site (Origin, Sec-Fetch-Site) or without a valid token",
	    NULL);
}

static int app_start(struct daemon *d, char *err, size_t errlen)
{
	struct app *app = d->data;
	char path[TS_PATH_MAX + 100];
	if (db_read_password(&app->db, d, err, errlen) < 0)
		return -1;
	/* made here if need be, not by -t: checking a file writes nothing */
	if (daemon_path(d, "{state}/" STATE_SECRETS "/" SECRET_COOKIE_KEY, path, sizeof(path)) <
	    0) {
		snprintf(err, errlen, "the state folder's path is too long");
		return -1;
	}
	if (sign_key_load(&app->key, path, err, errlen) < 0)
		return -1;
	httpd_metrics_define(d->metrics, METRIC_APP, &app->hm);
	db_metrics_define(&app->db, d->metrics);
	app_metrics_define(app, d->metrics);
	return 0;
}

static int app_worker_init(struct worker *w, char *err, size_t errlen)
{
	struct app *app = w->d->data;
	struct app_worker *aw = xcalloc(1, sizeof(*aw));
	w->data = aw;
	aw->app = app;
	httpd_server_init(&aw->http, w, w->d->http, app_handler, aw);
	httpd_server_use_metrics(&aw->http, w->d->metrics, &app->hm);
	httpd_server_buffer_bodies(&aw->http);
	aw->http.error_page = app_error_page;
	/* every answer, JSON and errors too: a browser takes the type we say */
	aw->http.extra_headers = "X-Content-Type-Options: nosniff\r\n";
	if (sign_init(&aw->sign, &app->key) < 0) {
		snprintf(err, errlen, "cannot set up HMAC-SHA256 (OpenSSL)");
		return -1;
	}
	aw->row_author = xmalloc(APP_ROW_AUTHOR);
	aw->row_body = xmalloc(APP_ROW_BODY);
	db_worker_init(&aw->db, &app->db, w);
	if (httpd_server_listen(&aw->http, &app->listen, 0, err, errlen) < 0)
		return -1;
	httpd_server_init(&aw->admin, w, NULL, httpd_admin_handler, w->d);
	if (app->has_admin && httpd_server_listen(&aw->admin, &app->admin, 0, err, errlen) < 0)
		return -1;
	return 0;
}

static void app_worker_stop(struct worker *w)
{
	struct app_worker *aw = w->data;
	httpd_server_stop(&aw->http);
	httpd_server_stop(&aw->admin);
	db_worker_stop(&aw->db);
}

static void app_worker_free(struct worker *w)
{
	struct app_worker *aw = w->data;
	if (aw == NULL)
		return;
	httpd_server_free(&aw->http); /* aborts the requests waiting on queries */
	httpd_server_free(&aw->admin);
	if (aw->db.db)
		db_worker_free(&aw->db); /* fails the queries: their requests are freed */
	site_worker_free(aw);
	sign_free(&aw->sign);
	free(aw->row_author);
	free(aw->row_body);
	free(aw);
	w->data = NULL;
}

static void app_finish(struct daemon *d)
{
	free(d->data);
	d->data = NULL;
}

static const struct daemon_def app_def = {
	.name = "tristack-app",
	.role = ROLE_APP,
	.conf = &conf_daemon_ops,
	.configure = app_configure,
	.start = app_start,
	.worker_init = app_worker_init,
	.worker_stop = app_worker_stop,
	.worker_free = app_worker_free,
	.finish = app_finish,
};

int main(int argc, char **argv)
{
	/* not thread-safe: once, before the workers call mysql_init */
	if (mysql_library_init(0, NULL, NULL) != 0) {
		fprintf(stderr, "tristack-app: cannot initialise the MariaDB client library\n");
		return 1;
	}
	int r = daemon_main(&app_def, argc, argv);
	mysql_library_end();
	return r;
}
