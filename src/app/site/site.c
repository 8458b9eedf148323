/* site.c - the foobar.com application's routes. */
#include <jansson.h>

#include "app/app.h"

/* GET /healthz: the app answers; no database yet. */
static int healthz(struct app_worker *aw, struct http_session *s)
{
	return app_json(s, 200, json_pack("{s:s, s:s}", "status", "ok", "host", aw->app->host));
}

/* GET /api/hello: which host answered (the round robin made visible). */
static int hello(struct app_worker *aw, struct http_session *s)
{
	char msg[128];
	snprintf(msg, sizeof(msg), "Hello from %s", aw->app->host);
	return app_json(s, 200, json_pack("{s:s, s:s}", "host", aw->app->host, "message", msg));
}

const struct app_route site_routes[] = {
	{ HTTP_GET, "/healthz", false, healthz },
	{ HTTP_GET, "/api/hello", false, hello },
	{ HTTP_OTHER, NULL, false, NULL },
};
