/* site.c - the foobar.com message board.
 *
 *   GET  /                  the latest posts, newest first, and a form (HTML)
 *   POST /posts             the form: a new post, then 303 back to /
 *   GET  /api/posts         ?limit=N&before=ID: a page of posts (JSON)
 *   POST /api/posts         {"author": ..., "body": ...} -> 201 and the post
 *   GET  /api/posts/ID      one post, or 404
 *   GET  /healthz           which databases this app reaches; 503 if none
 *
 * Reads go to the replica and writes to the primary (db.c picks). A write
 * hands the client the GTID of its commit in a cookie and an
 * X-Tristack-Gtid header (write.c); a read that carries one (the header,
 * else the cookie) first waits, briefly, for the replica to have applied
 * it, else it is served by the primary: whoever posts sees the post on the
 * next page, whichever web server and app answer it. The value is GTID.MAC
 * (sign.h): one this stack did not sign, or that is ahead of what the
 * primary has, is ignored and counted (a crafted one would make every read
 * wait). A post a replica does not have is looked for on the primary before
 * the answer is 404, so a client that carries nothing still finds its own
 * fresh post by its id.
 *
 * Browsers of other sites must not post for their users: the API takes only
 * Content-Type: application/json (a cross-site fetch can send that only
 * after a CORS preflight, which the app never grants); the form refuses
 * cross-site Origin / Sec-Fetch-Site and needs the token the page gave it,
 * a MAC of a random nonce kept in a cookie (signed double submit). HTML
 * pages carry a Content-Security-Policy and X-Frame-Options, and every
 * response X-Content-Type-Options: nosniff.
 *
 * Writes (and what a failed one answers: 503 or 504) are write.c's; the
 * HTML page and its form are page.c's; site.h is what they share.
 *
 * A request that needs the database returns TS_AGAIN; the query's callback
 * writes the response and resumes the session. If the client goes away
 * first, the request lives on until its query returns and is then dropped.
 */
#include <errmsg.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "app/sign.h"
#include "app/site/site.h"
#include "app/text.h"
#include "core/log.h"

#define LIMIT_MAX 100

/* ---- requests waiting on the database ---- */

static void req_abort(struct httpd_session *s)
{
	struct app_req *r = s->stream;
	r->s = NULL;
}

static const struct httpd_stream_ops async_ops = { .abort = req_abort };

struct app_req *site_req_new(struct app_worker *aw, struct httpd_session *s, enum req_kind kind)
{
	struct app_req *r = aw->req_free;
	if (r)
		aw->req_free = r->next;
	else
		r = xmalloc(sizeof(*r));
	memset(r, 0, sizeof(*r));
	r->aw = aw;
	r->s = s;
	r->kind = kind;
	r->job.arg = r;
	r->next = aw->reqs;
	if (aw->reqs)
		aw->reqs->prev = r;
	aw->reqs = r;
	s->stream_ops = &async_ops;
	s->stream = r;
	return r;
}

static void req_free(struct app_req *r)
{
	struct app_worker *aw = r->aw;
	if (timer_armed(&r->retry))
		loop_timer_stop(aw->http.w->loop, &r->retry);
	free(r->text);
	if (r->prev)
		r->prev->next = r->next;
	else
		aw->reqs = r->next;
	if (r->next)
		r->next->prev = r->prev;
	r->next = aw->req_free;
	aw->req_free = r;
}

/* The response is queued (or the client is gone): send it, forget r. */
void site_req_done(struct app_req *r)
{
	if (r->in_handler) {
		r->finished = true; /* answered at once: the handler returns TS_OK */
		return;
	}
	struct httpd_session *s = r->s;
	req_free(r);
	if (s)
		httpd_session_resume(s);
}

/* Run the request's first step from its handler: TS_AGAIN, or TS_OK when it
 * was answered at once (say, no database connection). */
int site_req_go(struct app_req *r, void (*step)(struct app_req *r))
{
	r->in_handler = true;
	step(r);
	r->in_handler = false;
	if (!r->finished)
		return TS_AGAIN;
	r->s->stream_ops = NULL;
	r->s->stream = NULL;
	req_free(r);
	return TS_OK;
}

void site_worker_free(struct app_worker *aw)
{
	while (aw->reqs)
		req_free(aw->reqs);
	while (aw->req_free) {
		struct app_req *r = aw->req_free;
		aw->req_free = r->next;
		free(r);
	}
}

/* ---- responses ---- */

void site_reply_json(struct app_req *r, int status, json_t *body)
{
	if (r->s && app_json(r->s, status, body) < 0)
		httpd_error(r->s, 500, true);
	else if (r->s == NULL)
		json_decref(body);
	site_req_done(r);
}

/* Start a response: status, type, no caching, and for a page what keeps it
 * from being framed or running anything but our own files. */
int site_head_begin(struct httpd_session *s, int status, const char *type)
{
	if (httpd_head_begin(s, status) < 0 || httpd_head_add(s, "Content-Type", type) < 0 ||
	    httpd_head_add(s, "Cache-Control", "no-store") < 0)
		return -1;
	if (strncmp(type, "text/html", 9) != 0)
		return 0;
	if (httpd_head_add(s, "Content-Security-Policy", CONF_SITE_CSP) < 0 ||
	    httpd_head_add(s, "X-Frame-Options", "DENY") < 0)
		return -1;
	return 0;
}

/* A cookie only for HTTP (no script reads it), not sent along cross-site
 * subrequests or posts, and over HTTPS never sent in clear. max_age < 0:
 * until the browser closes. */
int site_set_cookie(struct httpd_session *s, bool https, const char *name, const char *value,
                    int max_age)
{
	char age[32] = "";
	if (max_age >= 0)
		snprintf(age, sizeof(age), " Max-Age=%d;", max_age);
	return httpd_head_addf(s, "Set-Cookie", "%s=%s; Path=/;%s HttpOnly; SameSite=Lax%s", name,
	                       value, age, https ? "; Secure" : "");
}

int site_head_finish(struct httpd_session *s, const char *body, size_t len)
{
	if (httpd_head_end(s, (int64_t)len) < 0)
		return -1;
	return httpd_body(s, body, len);
}

int site_html_respond(struct httpd_session *s, int status, const char *body, size_t len)
{
	if (site_head_begin(s, status, HTML_TYPE) < 0)
		return -1;
	return site_head_finish(s, body, len);
}

void site_reply_unavailable(struct app_req *r, const char *why)
{
	log_warn("%s: %s", r->kind >= RK_CREATE_JSON ? "write" : "read", why);
	if (r->s && r->kind == RK_HOME) {
		const char page[] = "<!doctype html><title>Unavailable</title>"
		                    "<p>The message board is unavailable, try again shortly.</p>\n";
		site_html_respond(r->s, 503, page, sizeof(page) - 1);
		site_req_done(r);
		return;
	}
	site_reply_json(r, 503, json_pack("{s:s}", "error", "database unavailable"));
}

/* ---- request details ---- */

/* The query string of the request target ({NULL, 0} when none). */
struct str site_query_of(const struct httpd_session *s)
{
	struct str path = s->req->target;
	const char *q = memchr(path.p, '?', path.len);
	if (q == NULL)
		return (struct str){ NULL, 0 };
	return (struct str){ q + 1, (size_t)(path.p + path.len - q - 1) };
}

/* A positive integer query parameter: its value, 0 when absent, -1 when
 * it is not one. */
long long site_query_id(struct str q, const char *name)
{
	char v[32];
	long n = q.p ? form_field(q.p, q.len, name, v, sizeof(v)) : -1;
	if (n == -1)
		return 0;
	return n < 0 ? -1 : text_id(v, (size_t)n);
}

/* A cookie of the request, from whichever Cookie header has it first. */
struct str site_request_cookie(struct httpd_session *s, const char *name)
{
	if (s->req->msg == NULL)
		return (struct str){ NULL, 0 };
	for (int i = http_find_header(s->req->msg, "Cookie", 0); i >= 0;
	     i = http_find_header(s->req->msg, "Cookie", i + 1)) {
		struct str v = cookie_value(s->req->msg->headers[i].value, name);
		if (v.p)
			return v;
	}
	return (struct str){ NULL, 0 };
}

/* Did the client reach the site over HTTPS? The LB says so, and only the
 * web servers (behind the LB) reach the app. */
bool site_request_https(struct httpd_session *s)
{
	struct str v;
	return httpd_session_header(s, "X-Forwarded-Proto", &v) && http_str_ieq(v, "https");
}

static void gtid_rejected(struct app_worker *aw, int metric)
{
	metrics_add(aw->http.w->shard, metrics_slot(aw->http.w->d->metrics, metric), 1);
}

/* The client's last write, GTID.MAC, from its X-Tristack-Gtid header (API
 * clients without a cookie jar) or else its cookie: only one this stack
 * signed is taken, else a crafted one would tie up the replica. */
static void take_gtid(struct app_req *r, struct httpd_session *s)
{
	struct str v;
	if (!httpd_session_header(s, GTID_HEADER, &v))
		v = site_request_cookie(s, GTID_COOKIE);
	if (v.p == NULL)
		return;
	const char *dot = memrchr(v.p, '.', v.len);
	struct str gtid = { v.p, dot ? (size_t)(dot - v.p) : 0 };
	struct str mac = { dot ? dot + 1 : NULL, dot ? (size_t)(v.p + v.len - dot - 1) : 0 };
	struct str rest = gtid;
	if (dot == NULL || gtid.len >= sizeof(r->gtid) ||
	    !sign_check(&r->aw->sign, MAC_GTID, gtid, mac) || !gtid_next(&rest, &r->g) ||
	    rest.len != 0) {
		gtid_rejected(r->aw, r->aw->app->m_gtid_rejected_signature);
		return;
	}
	memcpy(r->gtid, gtid.p, gtid.len);
	r->gtid[gtid.len] = '\0';
}

/* Does the request's Content-Type (if any) name this media type? */
bool site_content_type_is(struct httpd_session *s, const char *type, bool absent_ok)
{
	struct str v;
	if (!httpd_session_header(s, "Content-Type", &v))
		return absent_ok;
	size_t n = strlen(type);
	if (v.len < n || strncasecmp(v.p, type, n) != 0)
		return false;
	return v.len == n || v.p[n] == ';' || v.p[n] == ' ' || v.p[n] == '\t';
}

/* ---- rows ---- */

bool site_fetch_bind(struct app_worker *aw, MYSQL_STMT *st, struct fetch *f)
{
	memset(f, 0, sizeof(*f));
	f->out[0].buffer_type = MYSQL_TYPE_LONGLONG;
	f->out[0].buffer = &f->row.id;
	f->out[1].buffer_type = MYSQL_TYPE_STRING;
	f->out[1].buffer = aw->row_author;
	f->out[1].buffer_length = APP_ROW_AUTHOR;
	f->out[1].length = &f->row.author_len;
	f->out[2].buffer_type = MYSQL_TYPE_STRING;
	f->out[2].buffer = aw->row_body;
	f->out[2].buffer_length = APP_ROW_BODY;
	f->out[2].length = &f->row.body_len;
	f->out[3].buffer_type = MYSQL_TYPE_DATETIME;
	f->out[3].buffer = &f->t;
	f->row.author = aw->row_author;
	f->row.body = aw->row_body;
	if (mysql_stmt_field_count(st) == 5) {
		f->out[4].buffer_type = MYSQL_TYPE_STRING;
		f->out[4].buffer = f->pos;
		f->out[4].buffer_length = sizeof(f->pos);
		f->out[4].length = &f->pos_len;
	}
	return mysql_stmt_bind_result(st, f->out) == 0;
}

/* The next row, or false at the end. */
bool site_fetch_next(MYSQL_STMT *st, struct fetch *f)
{
	int rc = mysql_stmt_fetch(st);
	if (rc != 0 && rc != MYSQL_DATA_TRUNCATED)
		return false;
	f->row.author_len = MIN(f->row.author_len, (unsigned long)APP_ROW_AUTHOR);
	f->row.body_len = MIN(f->row.body_len, (unsigned long)APP_ROW_BODY);
	snprintf(f->row.created, sizeof(f->row.created), "%04u-%02u-%02uT%02u:%02u:%02u.%06luZ",
	         f->t.year % 10000, f->t.month % 100, f->t.day % 100, f->t.hour % 100,
	         f->t.minute % 100, f->t.second % 100, f->t.second_part % 1000000);
	return true;
}

json_t *site_post_json(long long id, const char *author, size_t author_len, const char *body,
                       size_t body_len, const char *created)
{
	return json_pack("{s:I, s:s%, s:s%, s:s}", "id", (json_int_t)id, "author", author,
	                 author_len, "body", body, body_len, "created_at", created);
}

static void render_list(struct app_req *r, MYSQL_STMT *st)
{
	struct fetch f;
	json_t *posts = json_array();
	long long last = 0;
	if (site_fetch_bind(r->aw, st, &f))
		while (site_fetch_next(st, &f)) {
			json_array_append_new(posts, site_post_json(f.row.id, f.row.author,
			                                            f.row.author_len, f.row.body,
			                                            f.row.body_len, f.row.created));
			last = f.row.id;
		}
	json_t *next = json_null();
	/* a full page: there may be more, before the last one */
	if (json_array_size(posts) == (size_t)r->b && last > 1) {
		char url[96];
		snprintf(url, sizeof(url), "/api/posts?limit=%lld&before=%lld", r->b, last);
		json_decref(next);
		next = json_string(url);
	}
	site_reply_json(r, 200, json_pack("{s:o, s:o}", "posts", posts, "next", next));
}

static void read_submit(struct app_req *r);

/* GET /api/posts/ID's answer. A replica that does not have the post may
 * only be behind (a client without the cookie or header, reading its own
 * fresh post): the primary is asked before the answer is 404. */
static void render_post(struct app_req *r, struct db_job *job)
{
	struct fetch f;
	if (site_fetch_bind(r->aw, job->st, &f) && site_fetch_next(job->st, &f)) {
		site_reply_json(r, 200,
		                site_post_json(f.row.id, f.row.author, f.row.author_len, f.row.body,
		                               f.row.body_len, f.row.created));
		return;
	}
	if (!r->on_primary && atomic_load(&job->server->role) != DB_ROLE_PRIMARY) {
		r->on_primary = true;
		read_submit(r);
		return;
	}
	site_reply_json(r, 404, json_pack("{s:s}", "error", "no such post"));
}

/* ---- reads ---- */

static bool connection_error(unsigned err)
{
	return err >= CR_MIN_ERROR && err <= CR_MAX_ERROR;
}

static void read_done(struct db_job *job, bool ok)
{
	struct app_req *r = job->arg;
	struct db *db = r->aw->db.db;
	if (!ok) {
		/* a replica that went away: the primary answers instead */
		if (!r->on_primary && connection_error(job->err) &&
		    atomic_load(&job->server->role) != DB_ROLE_PRIMARY) {
			metrics_add(r->aw->http.w->shard,
			            metrics_slot(r->aw->http.w->d->metrics, db->m_fallback_down),
			            1);
			r->on_primary = true;
			read_submit(r);
			return;
		}
		site_reply_unavailable(r, job->errmsg);
		return;
	}
	if (r->s == NULL) {
		site_req_done(r);
		return;
	}
	switch (r->kind) {
	case RK_POST:
		render_post(r, job);
		break;
	case RK_LIST:
		render_list(r, job->st);
		break;
	case RK_HOME:
		page_home_render(r, job->st);
		break;
	default:
		site_req_done(r);
		break;
	}
}

static void read_run(struct app_req *r, struct db_server *sv)
{
	struct db_job *job = &r->job;
	job->stmt = r->stmt;
	job->done = read_done;
	if (r->stmt == ST_POST_BY_ID) {
		db_param_ll(job, 0, r->a);
	} else if (r->stmt == ST_POSTS_LATEST) {
		db_param_ll(job, 0, r->b);
	} else {
		db_param_ll(job, 0, r->a);
		db_param_ll(job, 1, r->b);
	}
	db_submit(&r->aw->db, sv, job);
}

static void gtid_waited(struct db_job *job, bool ok)
{
	struct app_req *r = job->arg;
	struct app_worker *aw = r->aw;
	long long v = -1;
	my_bool is_null = 1;
	if (ok) {
		MYSQL_BIND out;
		memset(&out, 0, sizeof(out));
		out.buffer_type = MYSQL_TYPE_LONGLONG;
		out.buffer = &v;
		out.is_null = &is_null;
		if (mysql_stmt_bind_result(job->st, &out) != 0 || mysql_stmt_fetch(job->st) != 0)
			is_null = 1;
	}
	if (ok && !is_null && v == 0) {
		read_run(r, job->server); /* the replica has the client's write */
		return;
	}
	metrics_add(aw->http.w->shard,
	            metrics_slot(aw->http.w->d->metrics, aw->db.db->m_fallback_gtid), 1);
	r->on_primary = true;
	read_submit(r);
}

static void gtid_pos_done(struct db_job *job, bool ok)
{
	struct app_req *r = job->arg;
	if (ok) {
		char pos[512];
		unsigned long len = 0;
		MYSQL_BIND out;
		memset(&out, 0, sizeof(out));
		out.buffer_type = MYSQL_TYPE_STRING;
		out.buffer = pos;
		out.buffer_length = sizeof(pos);
		out.length = &len;
		int rc = mysql_stmt_bind_result(job->st, &out) == 0 ? mysql_stmt_fetch(job->st) : 1;
		/* cut short, a list loses digits: never a higher number */
		struct str list = { pos, MIN(len, (unsigned long)sizeof(pos)) };
		struct gtid g;
		if (rc == 0 || rc == MYSQL_DATA_TRUNCATED)
			while (gtid_next(&list, &g))
				db_gtid_seen_raise(r->aw->db.db, g.domain, g.seq);
	}
	if (r->s == NULL) {
		site_req_done(r);
		return;
	}
	read_submit(r); /* covered now, or refused */
}

/* A signed GTID ahead of what this app has seen on the primary: a write the
 * other app made since, or one the primary does not have (lost in a
 * failover, a restored backup). Ask the primary, once; a GTID it does not
 * have is ignored: waiting for it would only time out. */
static void gtid_check_primary(struct app_req *r)
{
	struct db_worker *dw = &r->aw->db;
	struct db_server *p = r->pos_asked ? NULL : db_pick(dw, DB_PRIMARY);
	if (p == NULL) {
		gtid_rejected(r->aw, r->aw->app->m_gtid_rejected_ahead);
		r->gtid[0] = '\0';
		read_submit(r);
		return;
	}
	r->pos_asked = true;
	r->job.stmt = ST_GTID_POS;
	r->job.done = gtid_pos_done;
	db_submit(dw, p, &r->job);
}

static void read_submit(struct app_req *r)
{
	struct db_worker *dw = &r->aw->db;
	struct db_server *sv = db_pick(dw, r->on_primary ? DB_PRIMARY : DB_REPLICA);
	if (sv == NULL) {
		site_reply_unavailable(r, "no database to read from");
		return;
	}
	if (r->gtid[0] && !r->on_primary && atomic_load(&sv->role) == DB_ROLE_REPLICA) {
		if (!db_gtid_seen_covers(dw->db, r->g.domain, r->g.seq)) {
			gtid_check_primary(r);
			return;
		}
		struct db_job *job = &r->job;
		job->stmt = ST_GTID_WAIT;
		job->done = gtid_waited;
		db_param_str(job, 0, r->gtid, strlen(r->gtid));
		db_param_ll(job, 1, (long long)dw->db->gtid_wait_ms);
		metrics_add(dw->w->shard, metrics_slot(dw->w->d->metrics, dw->db->m_gtid_waits), 1);
		db_submit(dw, sv, job);
		return;
	}
	read_run(r, sv);
}

int site_start_read(struct app_worker *aw, struct httpd_session *s, enum req_kind kind,
                    enum db_stmt stmt, long long a, long long b)
{
	if (aw->db.db->nservers == 0)
		return app_json_error(s, 503, "no database in this stack");
	struct app_req *r = site_req_new(aw, s, kind);
	r->stmt = stmt;
	r->a = a;
	r->b = b;
	r->https = site_request_https(s);
	take_gtid(r, s);
	if (kind == RK_HOME)
		page_take_csrf(r, s);
	return site_req_go(r, read_submit);
}

/* GET /api/posts/ID */
static int get_post(struct app_worker *aw, struct httpd_session *s)
{
	struct str path = s->req->target;
	size_t pre = strlen("/api/posts/");
	size_t end = http_target_path_len(path);
	long long id = text_id(path.p + pre, end - pre);
	if (id < 0)
		return app_json_error(s, 404, "no such post");
	return site_start_read(aw, s, RK_POST, ST_POST_BY_ID, id, 0);
}

/* GET /api/posts?limit=N&before=ID */
static int list_posts(struct app_worker *aw, struct httpd_session *s)
{
	struct str q = site_query_of(s);
	long long limit = site_query_id(q, "limit"), before = site_query_id(q, "before");
	if (limit < 0 || limit > LIMIT_MAX)
		return app_json_error(s, 400, "limit must be an integer from 1 to 100");
	if (before < 0)
		return app_json_error(s, 400, "before must be a post id");
	if (limit == 0)
		limit = PAGE_POSTS;
	if (before)
		return site_start_read(aw, s, RK_LIST, ST_POSTS_BEFORE, before, limit);
	return site_start_read(aw, s, RK_LIST, ST_POSTS_LATEST, 0, limit);
}

/* ---- the rest ---- */

/* GET /healthz: 200 while a database answers (or the stack has none). */
static int healthz(struct app_worker *aw, struct httpd_session *s)
{
	char dbs[1024];
	unsigned up = db_reachable(aw->db.db, dbs, sizeof(dbs));
	bool ok = up > 0 || aw->db.db->nservers == 0;
	char body[1200];
	int n =
	    snprintf(body, sizeof(body), "{\"status\":\"%s\",\"host\":\"%s\",\"databases\":{%s}}\n",
	             ok ? "ok" : "no database reachable", aw->app->host, dbs);
	if (n < 0 || (size_t)n >= sizeof(body))
		return httpd_error(s, 500, false);
	return httpd_respond(s, ok ? 200 : 503, "application/json", body, (size_t)n);
}

/* GET /api/hello: which host answered (the round robin made visible). */
static int hello(struct app_worker *aw, struct httpd_session *s)
{
	char msg[128];
	snprintf(msg, sizeof(msg), "Hello from %s", aw->app->host);
	return app_json(s, 200, json_pack("{s:s, s:s}", "host", aw->app->host, "message", msg));
}

const struct app_route site_routes[] = {
	{ HTTP_GET, "/", false, page_home },
	{ HTTP_POST, "/posts", false, page_post_form },
	{ HTTP_GET, "/api/posts", false, list_posts },
	{ HTTP_POST, "/api/posts", false, write_api_post },
	{ HTTP_GET, "/api/posts/", true, get_post },
	{ HTTP_GET, "/healthz", false, healthz },
	{ HTTP_GET, "/api/hello", false, hello },
	{ HTTP_OTHER, NULL, false, NULL },
};
