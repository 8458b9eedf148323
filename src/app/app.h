/* app.h - tristack-app: the foobar.com application server.
 *
 * Requests reach it from the web servers (the `proxy` prefixes of [web]).
 * A route table maps method + path to a handler in site/; handlers answer
 * with HTML or JSON.
 */
#ifndef TS_APP_H
#define TS_APP_H

#include "core/httpd.h"

struct app {
	struct daemon *d;
	const char *host; /* this host's name, shown in responses */
	struct addr listen;
	struct http_metrics hm;
};

struct app_worker {
	struct app *app;
	struct http_server http;
};

typedef int (*app_handler_fn)(struct app_worker *aw, struct http_session *s);

struct app_route {
	enum http_method method; /* HTTP_OTHER = any */
	const char *path;
	bool prefix; /* path is a prefix */
	app_handler_fn fn;
};

/* The site's routes, ending with a NULL path (site/site.c). */
extern const struct app_route site_routes[];

/* JSON response helpers (jansson): takes ownership of body. */
struct json_t;
int app_json(struct http_session *s, int status, struct json_t *body);
int app_json_error(struct http_session *s, int status, const char *message);

#endif
