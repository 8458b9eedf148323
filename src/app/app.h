/* app.h - tristack-app: the foobar.com application server.
 *
 * Requests reach it from the web servers (the `proxy` prefixes of [web]).
 * A route table maps method + path to a handler in site/; handlers answer
 * with HTML or JSON, at once or, when they need the database, later (they
 * return TS_AGAIN and resume the session from the query's callback).
 */
#ifndef TS_APP_H
#define TS_APP_H

#include "conf/conf.h"
#include "core/httpd.h"
#include "db.h"
#include "sign.h"

struct app {
	struct daemon *d;
	const char *host; /* this host's name, shown in responses */
	struct addr listen;
	struct addr admin; /* /metrics, when has_admin */
	bool has_admin;
	struct httpd_metrics hm;
	struct db db;
	struct sign_key key; /* {state}/secrets/cookie.key: cookies, form tokens */
	/* metric ids */
	int m_gtid_rejected_signature, m_gtid_rejected_ahead, m_form_rejected;
};

struct app_req;

struct app_worker {
	struct app *app;
	struct httpd_server http;
	struct httpd_server admin;
	struct db_worker db;
	struct sign sign;
	struct app_req *reqs; /* waiting on the database */
	struct app_req *req_free;
	/* where a row is fetched into (the callbacks run one at a time): room
	 * for the longest VARCHAR(64) and TEXT */
	char *row_author, *row_body;
};

#define APP_ROW_AUTHOR (64 * 4 + 1)
#define APP_ROW_BODY   65536

typedef int (*app_handler_fn)(struct app_worker *aw, struct httpd_session *s);

struct app_route {
	enum http_method method; /* HTTP_OTHER = any */
	const char *path;
	bool prefix; /* path is a prefix */
	app_handler_fn fn;
};

/* The site's routes, ending with a NULL path (site/site.c). */
extern const struct app_route site_routes[];
/* Frees the requests still waiting when a worker goes away (site/site.c). */
void site_worker_free(struct app_worker *aw);

/* JSON response helpers (jansson): takes ownership of body. */
struct json_t;
int app_json(struct httpd_session *s, int status, struct json_t *body);
int app_json_error(struct httpd_session *s, int status, const char *message);

#endif
