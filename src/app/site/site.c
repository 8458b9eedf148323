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
 * hands the client the GTID of its commit in a cookie; a read that carries
 * one first waits, briefly, for the replica to have applied it, else it is
 * served by the primary: whoever posts sees the post on the next page,
 * whichever web server and app answer it. The cookie is GTID.MAC (sign.h):
 * one this stack did not sign, or that is ahead of what the primary has, is
 * ignored and counted (a crafted one would make every read wait).
 *
 * Browsers of other sites must not post for their users: the API takes only
 * Content-Type: application/json (a cross-site fetch can send that only
 * after a CORS preflight, which the app never grants); the form refuses
 * cross-site Origin / Sec-Fetch-Site and needs the token the page gave it,
 * a MAC of a random nonce kept in a cookie (signed double submit). HTML
 * pages carry a Content-Security-Policy and X-Frame-Options, and every
 * response X-Content-Type-Options: nosniff.
 *
 * A request that needs the database returns TS_AGAIN; the query's callback
 * writes the response and resumes the session. If the client goes away
 * first, the request lives on until its query returns and is then dropped.
 */
#include <errmsg.h>
#include <jansson.h>
#include <mysqld_error.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "app/app.h"
#include "app/sign.h"
#include "app/text.h"
#include "core/log.h"
#include "core/sbuf.h"

#define AUTHOR_MAX_CHARS 64
#define BODY_MAX_BYTES   4000
#define PAGE_POSTS       20
#define LIMIT_MAX        100
#define GTID_COOKIE      "tristack_gtid"
#define CSRF_COOKIE      "tristack_csrf"
/* over HTTPS: a browser takes this name only from this very origin over
 * TLS, so neither a sibling domain nor plain HTTP can plant a nonce */
#define CSRF_COOKIE_TLS "__Host-tristack_csrf"
#define CSRF_FIELD      "csrf"
#define MAC_GTID        "gtid" /* MAC labels (sign.h) */
#define MAC_CSRF        "csrf"
#define HTML_TYPE       "text/html; charset=utf-8"
#define GTID_COOKIE_AGE 300 /* s: long past any replica lag we read from */
#define WRITE_RETRY_MS  100 /* no writable primary yet (a promotion): again */

enum req_kind { RK_POST, RK_LIST, RK_HOME, RK_CREATE_JSON, RK_CREATE_FORM };

struct app_req {
	struct app_worker *aw;
	struct http_session *s; /* NULL once the client has gone */
	struct db_job job;
	enum req_kind kind;
	enum db_stmt stmt;               /* the read (after any GTID wait) */
	long long a, b;                  /* its parameters */
	bool on_primary;                 /* the read goes to the primary now */
	char gtid[64];                   /* the client's last write, from its cookie */
	struct gtid g;                   /* and parsed */
	bool pos_asked;                  /* the primary was asked whether it has it */
	bool https;                      /* the client came over HTTPS: Secure cookies */
	bool csrf_new;                   /* the page sets csrf as the client's nonce */
	char csrf[SIGN_NONCE_CHARS + 1]; /* the form's nonce (home page) */
	char created[48];                /* a write's created_at, as the API shows it */
	char created_db[48];             /* and as the statement takes it */
	bool in_handler;                 /* the handler has not returned yet */
	bool finished;                   /* the response was queued before it did */
	char *text;                      /* a write's author then body (owned) */
	size_t author_len, body_len;
	uint64_t deadline; /* a write retries until then */
	struct timer retry;
	struct app_req *prev, *next;
};

/* ---- requests waiting on the database ---- */

static void req_abort(struct http_session *s)
{
	struct app_req *r = s->stream;
	r->s = NULL;
}

static const struct http_stream_ops async_ops = { .abort = req_abort };

static struct app_req *req_new(struct app_worker *aw, struct http_session *s, enum req_kind kind)
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
static void req_done(struct app_req *r)
{
	if (r->in_handler) {
		r->finished = true; /* answered at once: the handler returns TS_OK */
		return;
	}
	struct http_session *s = r->s;
	req_free(r);
	if (s)
		http_session_resume(s);
}

/* Run the request's first step from its handler: TS_AGAIN, or TS_OK when it
 * was answered at once (say, no database connection). */
static int req_go(struct app_req *r, void (*step)(struct app_req *r))
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

static void reply_json(struct app_req *r, int status, json_t *body)
{
	if (r->s && app_json(r->s, status, body) < 0)
		http_error(r->s, 500, true);
	else if (r->s == NULL)
		json_decref(body);
	req_done(r);
}

/* Start a response: status, type, no caching, and for a page what keeps it
 * from being framed or running anything but our own files. */
static int head_begin(struct http_session *s, int status, const char *type)
{
	if (http_head_begin(s, status) < 0 || http_head_add(s, "Content-Type", type) < 0 ||
	    http_head_add(s, "Cache-Control", "no-store") < 0)
		return -1;
	if (strncmp(type, "text/html", 9) != 0)
		return 0;
	if (http_head_add(s, "Content-Security-Policy", CONF_SITE_CSP) < 0 ||
	    http_head_add(s, "X-Frame-Options", "DENY") < 0)
		return -1;
	return 0;
}

/* A cookie only for HTTP (no script reads it), not sent along cross-site
 * subrequests or posts, and over HTTPS never sent in clear. max_age < 0:
 * until the browser closes. */
static int set_cookie(struct http_session *s, bool https, const char *name, const char *value,
                      int max_age)
{
	char age[32] = "";
	if (max_age >= 0)
		snprintf(age, sizeof(age), " Max-Age=%d;", max_age);
	return http_head_addf(s, "Set-Cookie", "%s=%s; Path=/;%s HttpOnly; SameSite=Lax%s", name,
	                      value, age, https ? "; Secure" : "");
}

static int head_finish(struct http_session *s, const char *body, size_t len)
{
	if (http_head_end(s, (int64_t)len) < 0)
		return -1;
	return http_body(s, body, len);
}

static int html_respond(struct http_session *s, int status, const char *body, size_t len)
{
	if (head_begin(s, status, HTML_TYPE) < 0)
		return -1;
	return head_finish(s, body, len);
}

static void reply_unavailable(struct app_req *r, const char *why)
{
	log_warn("%s: %s", r->kind >= RK_CREATE_JSON ? "write" : "read", why);
	if (r->s && r->kind == RK_HOME) {
		const char page[] = "<!doctype html><title>Unavailable</title>"
		                    "<p>The message board is unavailable, try again shortly.</p>\n";
		html_respond(r->s, 503, page, sizeof(page) - 1);
		req_done(r);
		return;
	}
	reply_json(r, 503, json_pack("{s:s}", "error", "database unavailable"));
}

/* ---- request details ---- */

/* The query string of the request target ({NULL, 0} when none). */
static struct str query_of(const struct http_session *s)
{
	struct str path = s->req->path;
	const char *q = memchr(path.p, '?', path.len);
	if (q == NULL)
		return (struct str){ NULL, 0 };
	return (struct str){ q + 1, (size_t)(path.p + path.len - q - 1) };
}

/* A positive integer query parameter: its value, 0 when absent, -1 when
 * it is not one. */
static long long query_id(struct str q, const char *name)
{
	char v[32];
	long n = q.p ? form_field(q.p, q.len, name, v, sizeof(v)) : -1;
	if (n == -1)
		return 0;
	return n < 0 ? -1 : text_id(v, (size_t)n);
}

/* A cookie of the request, from whichever Cookie header has it first. */
static struct str request_cookie(struct http_session *s, const char *name)
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
static bool request_https(struct http_session *s)
{
	struct str v;
	return http_session_header(s, "X-Forwarded-Proto", &v) && http_str_ieq(v, "https");
}

static void gtid_rejected(struct app_worker *aw, int metric)
{
	metrics_add(aw->http.w->shard, metrics_slot(aw->http.w->d->metrics, metric), 1);
}

/* The client's last write, from its cookie (GTID.MAC): only one this stack
 * signed is taken, else a crafted one would tie up the replica. */
static void take_gtid(struct app_req *r, struct http_session *s)
{
	struct str v = request_cookie(s, GTID_COOKIE);
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

/* The form's cookie: its name for this scheme. */
static const char *csrf_cookie(bool https)
{
	return https ? CSRF_COOKIE_TLS : CSRF_COOKIE;
}

/* Is v a nonce as sign_nonce makes them? */
static bool nonce_valid(struct str v)
{
	if (v.len != SIGN_NONCE_CHARS)
		return false;
	for (size_t i = 0; i < v.len; i++) {
		char c = v.p[i];
		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		      c == '-' || c == '_'))
			return false;
	}
	return true;
}

/* The nonce the page's token is made from: the client's own (another tab's
 * form stays valid), else a new one the page sets. Left empty when there
 * are no random bytes: the page is then a 503. */
static void take_csrf(struct app_req *r, struct http_session *s)
{
	struct str v = request_cookie(s, csrf_cookie(r->https));
	if (v.p && nonce_valid(v)) {
		memcpy(r->csrf, v.p, v.len);
		r->csrf[v.len] = '\0';
		return;
	}
	r->csrf_new = true;
	if (!sign_nonce(r->csrf))
		r->csrf[0] = '\0';
}

/* Does the request's Content-Type (if any) name this media type? */
static bool content_type_is(struct http_session *s, const char *type, bool absent_ok)
{
	struct str v;
	if (!http_session_header(s, "Content-Type", &v))
		return absent_ok;
	size_t n = strlen(type);
	if (v.len < n || strncasecmp(v.p, type, n) != 0)
		return false;
	return v.len == n || v.p[n] == ';' || v.p[n] == ' ' || v.p[n] == '\t';
}

/* ---- rows ---- */

struct row {
	long long id;
	const char *author, *body;
	unsigned long author_len, body_len;
	char created[32];
};

struct fetch {
	MYSQL_BIND out[4];
	MYSQL_TIME t;
	struct row row;
};

static bool fetch_bind(struct app_worker *aw, MYSQL_STMT *st, struct fetch *f)
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
	return mysql_stmt_bind_result(st, f->out) == 0;
}

/* The next row, or false at the end. */
static bool fetch_next(MYSQL_STMT *st, struct fetch *f)
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

static json_t *post_json(long long id, const char *author, size_t author_len, const char *body,
                         size_t body_len, const char *created)
{
	return json_pack("{s:I, s:s%, s:s%, s:s}", "id", (json_int_t)id, "author", author,
	                 author_len, "body", body, body_len, "created_at", created);
}

static void html_page_start(struct sbuf *o, const char *title)
{
	sbuf_adds(o, "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
	             "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
	             "<title>");
	html_escape(o, title, strlen(title));
	sbuf_adds(o, "</title>\n<link rel=\"stylesheet\" href=\"/static/site.css\">\n</head>\n"
	             "<body>\n");
}

static void render_home(struct app_req *r, MYSQL_STMT *st)
{
	struct app_worker *aw = r->aw;
	char token[SIGN_MAC_CHARS + 1];
	if (r->csrf[0] == '\0' ||
	    !sign_mac(&aw->sign, MAC_CSRF, (struct str){ r->csrf, strlen(r->csrf) }, token)) {
		reply_unavailable(r, "cannot sign the form's token");
		return;
	}
	struct sbuf o = { 0 };
	html_page_start(&o, "www.foobar.com message board");
	sbuf_adds(&o, "<h1>www.foobar.com</h1>\n"
	              "<form method=\"post\" action=\"/posts\" class=\"new-post\">\n");
	sbuf_addf(&o, "<input type=\"hidden\" name=\"" CSRF_FIELD "\" value=\"%s\">\n", token);
	sbuf_adds(&o, "<p><label>Name<br><input name=\"author\" maxlength=\"64\" required>"
	              "</label></p>\n"
	              "<p><label>Message<br><textarea name=\"body\" rows=\"4\" maxlength=\"4000\" "
	              "required></textarea></label></p>\n"
	              "<p><button type=\"submit\">Post</button></p>\n</form>\n");
	struct fetch f;
	unsigned n = 0;
	long long last = 0;
	if (fetch_bind(aw, st, &f)) {
		while (fetch_next(st, &f)) {
			n++;
			last = f.row.id;
			sbuf_addf(&o, "<article id=\"post-%lld\">\n<header><strong>", f.row.id);
			html_escape(&o, f.row.author, f.row.author_len);
			sbuf_addf(&o,
			          "</strong> <time datetime=\"%s\">%.10s %.8s</time> "
			          "<a href=\"/api/posts/%lld\">#%lld</a></header>\n<p>",
			          f.row.created, f.row.created, f.row.created + 11, f.row.id,
			          f.row.id);
			html_escape(&o, f.row.body, f.row.body_len);
			sbuf_adds(&o, "</p>\n</article>\n");
		}
	}
	if (n == 0)
		sbuf_adds(&o, "<p class=\"empty\">No posts yet.</p>\n");
	if (n == (unsigned)r->b)
		sbuf_addf(&o, "<p><a href=\"/?before=%lld\">Older posts</a></p>\n", last);
	sbuf_addf(&o, "<footer>Served by %s.</footer>\n</body>\n</html>\n", aw->app->host);
	struct http_session *s = r->s;
	if (s && (head_begin(s, 200, HTML_TYPE) < 0 ||
	          (r->csrf_new && set_cookie(s, r->https, r->https ? CSRF_COOKIE_TLS : CSRF_COOKIE,
	                                     r->csrf, -1) < 0) ||
	          head_finish(s, o.p, o.len) < 0))
		http_error(s, 500, true);
	sbuf_free(&o);
	req_done(r);
}

static void render_list(struct app_req *r, MYSQL_STMT *st)
{
	struct fetch f;
	json_t *posts = json_array();
	long long last = 0;
	if (fetch_bind(r->aw, st, &f))
		while (fetch_next(st, &f)) {
			json_array_append_new(posts,
			                      post_json(f.row.id, f.row.author, f.row.author_len,
			                                f.row.body, f.row.body_len, f.row.created));
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
	reply_json(r, 200, json_pack("{s:o, s:o}", "posts", posts, "next", next));
}

static void render_post(struct app_req *r, MYSQL_STMT *st)
{
	struct fetch f;
	if (fetch_bind(r->aw, st, &f) && fetch_next(st, &f)) {
		reply_json(r, 200,
		           post_json(f.row.id, f.row.author, f.row.author_len, f.row.body,
		                     f.row.body_len, f.row.created));
		return;
	}
	reply_json(r, 404, json_pack("{s:s}", "error", "no such post"));
}

/* ---- reads ---- */

static void read_submit(struct app_req *r);

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
		reply_unavailable(r, job->errmsg);
		return;
	}
	if (r->s == NULL) {
		req_done(r);
		return;
	}
	switch (r->kind) {
	case RK_POST:
		render_post(r, job->st);
		break;
	case RK_LIST:
		render_list(r, job->st);
		break;
	case RK_HOME:
		render_home(r, job->st);
		break;
	default:
		req_done(r);
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
		req_done(r);
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
		reply_unavailable(r, "no database to read from");
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

static int start_read(struct app_worker *aw, struct http_session *s, enum req_kind kind,
                      enum db_stmt stmt, long long a, long long b)
{
	if (aw->db.db->nservers == 0)
		return app_json_error(s, 503, "no database in this stack");
	struct app_req *r = req_new(aw, s, kind);
	r->stmt = stmt;
	r->a = a;
	r->b = b;
	r->https = request_https(s);
	take_gtid(r, s);
	if (kind == RK_HOME)
		take_csrf(r, s);
	return req_go(r, read_submit);
}

/* GET /api/posts/ID */
static int get_post(struct app_worker *aw, struct http_session *s)
{
	struct str path = s->req->path;
	size_t pre = strlen("/api/posts/");
	const char *q = memchr(path.p, '?', path.len);
	size_t end = q ? (size_t)(q - path.p) : path.len;
	long long id = text_id(path.p + pre, end - pre);
	if (id < 0)
		return app_json_error(s, 404, "no such post");
	return start_read(aw, s, RK_POST, ST_POST_BY_ID, id, 0);
}

/* GET /api/posts?limit=N&before=ID */
static int list_posts(struct app_worker *aw, struct http_session *s)
{
	struct str q = query_of(s);
	long long limit = query_id(q, "limit"), before = query_id(q, "before");
	if (limit < 0 || limit > LIMIT_MAX)
		return app_json_error(s, 400, "limit must be an integer from 1 to 100");
	if (before < 0)
		return app_json_error(s, 400, "before must be a post id");
	if (limit == 0)
		limit = PAGE_POSTS;
	if (before)
		return start_read(aw, s, RK_LIST, ST_POSTS_BEFORE, before, limit);
	return start_read(aw, s, RK_LIST, ST_POSTS_LATEST, 0, limit);
}

/* GET / */
static int home(struct app_worker *aw, struct http_session *s)
{
	long long before = query_id(query_of(s), "before");
	if (aw->db.db->nservers == 0) {
		const char page[] = "<!doctype html><title>www.foobar.com</title>"
		                    "<p>No database in this stack.</p>\n";
		return html_respond(s, 503, page, sizeof(page) - 1);
	}
	if (before > 0)
		return start_read(aw, s, RK_HOME, ST_POSTS_BEFORE, before, PAGE_POSTS);
	return start_read(aw, s, RK_HOME, ST_POSTS_LATEST, 0, PAGE_POSTS);
}

/* ---- writes ---- */

static void write_submit(struct app_req *r);

static void write_retry(struct timer *t)
{
	write_submit(container_of(t, struct app_req, retry));
}

/* No primary that takes writes right now (a promotion under way, or the
 * statement never left): try again shortly, until the deadline. */
static bool write_later(struct app_req *r)
{
	struct loop *loop = r->aw->http.w->loop;
	if (r->s == NULL || loop_now(loop) + WRITE_RETRY_MS > r->deadline)
		return false;
	r->retry.fn = write_retry;
	loop_timer_set(loop, &r->retry, WRITE_RETRY_MS);
	return true;
}

/* The read-your-writes cookie for a commit's GTID (GTID.MAC, out holds
 * sizeof(job->gtid) + SIGN_MAC_CHARS + 1): false when the commit's GTID is
 * unknown. The GTID is now known to be on the primary, too. */
static bool gtid_cookie(struct app_req *r, const char *gtid, char *out, size_t len)
{
	struct str v = { gtid, strlen(gtid) }, rest = v;
	struct gtid g;
	char mac[SIGN_MAC_CHARS + 1];
	if (!gtid_next(&rest, &g) || rest.len != 0 || !sign_mac(&r->aw->sign, MAC_GTID, v, mac))
		return false;
	db_gtid_seen_raise(r->aw->db.db, g.domain, g.seq);
	snprintf(out, len, "%s.%s", gtid, mac);
	return true;
}

/* A write's answer: where the post is, and the cookie of its commit. */
static int respond_written(struct app_req *r, struct db_job *job, int status, const char *type,
                           const char *body, size_t len, const char *location)
{
	struct http_session *s = r->s;
	char cookie[sizeof(job->gtid) + SIGN_MAC_CHARS + 1];
	bool has = gtid_cookie(r, job->gtid, cookie, sizeof(cookie));
	if (head_begin(s, status, type) < 0 || http_head_add(s, "Location", location) < 0 ||
	    (has && set_cookie(s, r->https, GTID_COOKIE, cookie, GTID_COOKIE_AGE) < 0))
		return -1;
	return head_finish(s, body, len);
}

static void write_done(struct db_job *job, bool ok)
{
	struct app_req *r = job->arg;
	if (!ok) {
		/* Read-only (no longer the primary), or never sent: safe to send
		 * again. A connection lost mid-statement is not: the commit may
		 * have happened, so the client hears 503 and decides. */
		bool unsent =
		    job->err == ER_OPTION_PREVENTS_STATEMENT || job->err == CR_CONNECTION_ERROR;
		if (job->err == ER_OPTION_PREVENTS_STATEMENT)
			atomic_store(&job->server->role, DB_ROLE_REPLICA);
		if (unsent && write_later(r))
			return;
		reply_unavailable(r, job->errmsg);
		return;
	}
	struct http_session *s = r->s;
	if (s == NULL) {
		req_done(r);
		return;
	}
	char location[48];
	snprintf(location, sizeof(location), "/api/posts/%lld", job->insert_id);
	if (r->kind == RK_CREATE_FORM) {
		const char msg[] = "Posted.\n";
		if (respond_written(r, job, 303, "text/plain; charset=utf-8", msg, sizeof(msg) - 1,
		                    "/") < 0)
			http_error(s, 500, true);
	} else {
		json_t *post = post_json(job->insert_id, r->text, r->author_len,
		                         r->text + r->author_len, r->body_len, r->created);
		char *text = json_dumps(post, JSON_COMPACT);
		json_decref(post);
		size_t n = text ? strlen(text) : 0;
		if (text)
			text[n] = '\n';
		if (text == NULL ||
		    respond_written(r, job, 201, "application/json", text, n + 1, location) < 0)
			http_error(s, 500, true);
		free(text);
	}
	req_done(r);
}

static void write_submit(struct app_req *r)
{
	struct db_worker *dw = &r->aw->db;
	struct db_server *sv = db_pick(dw, DB_PRIMARY);
	if (sv == NULL) {
		if (!write_later(r))
			reply_unavailable(r, "no primary database");
		return;
	}
	struct db_job *job = &r->job;
	job->stmt = ST_POST_INSERT;
	job->done = write_done;
	db_param_str(job, 0, r->text, r->author_len);
	db_param_str(job, 1, r->text + r->author_len, r->body_len);
	db_param_str(job, 2, r->created_db, strlen(r->created_db));
	db_submit(dw, sv, job);
}

/* Check a post's fields; NULL when they are fine, else what is wrong. */
static const char *post_invalid(const char *author, size_t author_len, const char *body,
                                size_t body_len)
{
	size_t chars;
	if (!utf8_valid(author, author_len, &chars) || !utf8_valid(body, body_len, NULL))
		return "author and body must be UTF-8";
	if (chars < 1 || chars > AUTHOR_MAX_CHARS)
		return "author must be 1 to 64 characters";
	if (body_len < 1 || body_len > BODY_MAX_BYTES)
		return "body must be 1 to 4000 bytes";
	if (memchr(author, '\0', author_len) || memchr(body, '\0', body_len))
		return "author and body must not contain NUL";
	return NULL;
}

static int start_write(struct app_worker *aw, struct http_session *s, enum req_kind kind,
                       const char *author, size_t author_len, const char *body, size_t body_len)
{
	if (aw->db.db->nservers == 0)
		return app_json_error(s, 503, "no database in this stack");
	struct app_req *r = req_new(aw, s, kind);
	r->https = request_https(s);
	r->text = xmalloc(author_len + body_len + 1);
	memcpy(r->text, author, author_len);
	memcpy(r->text + author_len, body, body_len);
	r->author_len = author_len;
	r->body_len = body_len;
	struct timespec ts;
	struct tm tm;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	char base[24];
	strftime(base, sizeof(base), "%Y-%m-%d %H:%M:%S", &tm);
	int us = (int)(ts.tv_nsec / 1000) % 1000000;
	snprintf(r->created_db, sizeof(r->created_db), "%.19s.%06d", base, us);
	base[10] = 'T';
	snprintf(r->created, sizeof(r->created), "%.19s.%06dZ", base, us);
	r->deadline = loop_now(aw->http.w->loop) + aw->db.db->timeout_ms;
	return req_go(r, write_submit);
}

/* POST /api/posts {"author": ..., "body": ...} */
static int create_post(struct app_worker *aw, struct http_session *s)
{
	/* required: a body of any other type (or none) is what a page of any
	 * site can make a browser send without asking (no CORS preflight) */
	if (!content_type_is(s, "application/json", false))
		return app_json_error(s, 415, "send the post as Content-Type: application/json");
	json_error_t e;
	json_t *doc = json_loadb(s->req->body ? s->req->body : "", s->req->body_len,
	                         JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &e);
	if (doc == NULL || !json_is_object(doc)) {
		json_decref(doc);
		return app_json_error(s, 400, "the body must be a JSON object");
	}
	json_t *author = json_object_get(doc, "author"), *body = json_object_get(doc, "body");
	if (!json_is_string(author) || !json_is_string(body)) {
		json_decref(doc);
		return app_json_error(s, 400, "author and body are required strings");
	}
	const char *bad = post_invalid(json_string_value(author), json_string_length(author),
	                               json_string_value(body), json_string_length(body));
	if (bad) {
		json_decref(doc);
		return app_json_error(s, 400, bad);
	}
	int rc = start_write(aw, s, RK_CREATE_JSON, json_string_value(author),
	                     json_string_length(author), json_string_value(body),
	                     json_string_length(body));
	json_decref(doc);
	return rc;
}

static int form_error(struct http_session *s, int status, const char *message)
{
	struct sbuf o = { 0 };
	html_page_start(&o, "Not posted");
	sbuf_adds(&o, "<h1>Not posted</h1>\n<p>");
	html_escape(&o, message, strlen(message));
	sbuf_adds(&o, ".</p>\n<p><a href=\"/\">Back to the board</a></p>\n</body>\n</html>\n");
	int rc = html_respond(s, status, o.p, o.len);
	sbuf_free(&o);
	return rc;
}

/* The origin a browser would name for this site, as the client reached it
 * (through the LB: its X-Forwarded-Proto and -Host). */
static bool origin_is_ours(struct http_session *s, struct str origin)
{
	struct str host;
	if (!http_session_header(s, "X-Forwarded-Host", &host) &&
	    !http_session_header(s, "Host", &host))
		return false;
	const char *scheme = request_https(s) ? "https://" : "http://";
	size_t n = strlen(scheme);
	return origin.len == n + host.len && strncasecmp(origin.p, scheme, n) == 0 &&
	       strncasecmp(origin.p + n, host.p, host.len) == 0;
}

/* Why a form post did not come from our own page, or NULL. A browser says
 * where a post comes from (Sec-Fetch-Site, Origin; "null" from sandboxes
 * and data: pages); the token proves the poster read our page, which
 * another site cannot. */
static const char *form_forged(struct app_worker *aw, struct http_session *s, const char *b,
                               size_t n)
{
	struct str v;
	if (http_session_header(s, "Sec-Fetch-Site", &v) && !http_str_ieq(v, "same-origin") &&
	    !http_str_ieq(v, "none"))
		return "posts from other sites are refused";
	if (http_session_header(s, "Origin", &v) && !origin_is_ours(s, v))
		return "posts from other sites are refused";
	char token[SIGN_MAC_CHARS + 2];
	long tl = form_field(b, n, CSRF_FIELD, token, sizeof(token));
	struct str nonce = request_cookie(s, csrf_cookie(request_https(s)));
	if (tl < 0 || nonce.p == NULL || !nonce_valid(nonce) ||
	    !sign_check(&aw->sign, MAC_CSRF, nonce, (struct str){ token, (size_t)tl }))
		return "the form has expired or did not come from this site: reload the board "
		       "and post again";
	return NULL;
}

/* POST /posts, from the form on / */
static int create_post_form(struct app_worker *aw, struct http_session *s)
{
	if (!content_type_is(s, "application/x-www-form-urlencoded", true))
		return form_error(s, 415,
		                  "the form must be sent as application/x-www-form-urlencoded");
	const char *b = s->req->body ? s->req->body : "";
	size_t n = s->req->body_len;
	const char *forged = form_forged(aw, s, b, n);
	if (forged) {
		metrics_add(aw->http.w->shard,
		            metrics_slot(aw->http.w->d->metrics, aw->app->m_form_rejected), 1);
		return form_error(s, 403, forged);
	}
	/* decoded fields are never longer than the body */
	char *author = xmalloc(n + 1), *body = xmalloc(n + 1);
	long al = form_field(b, n, "author", author, n + 1);
	long bl = form_field(b, n, "body", body, n + 1);
	int rc;
	const char *bad = NULL;
	if (al == -2 || bl == -2)
		bad = "the form is malformed";
	else if (al < 0 || bl < 0)
		bad = "the form needs an author and a body";
	else
		bad = post_invalid(author, (size_t)al, body, (size_t)bl);
	if (bad)
		rc = form_error(s, 400, bad);
	else
		rc = start_write(aw, s, RK_CREATE_FORM, author, (size_t)al, body, (size_t)bl);
	free(author);
	free(body);
	return rc;
}

/* ---- the rest ---- */

/* GET /healthz: 200 while a database answers (or the stack has none). */
static int healthz(struct app_worker *aw, struct http_session *s)
{
	char dbs[1024];
	unsigned up = db_reachable(aw->db.db, dbs, sizeof(dbs));
	bool ok = up > 0 || aw->db.db->nservers == 0;
	char body[1200];
	int n =
	    snprintf(body, sizeof(body), "{\"status\":\"%s\",\"host\":\"%s\",\"databases\":{%s}}\n",
	             ok ? "ok" : "no database reachable", aw->app->host, dbs);
	if (n < 0 || (size_t)n >= sizeof(body))
		return http_error(s, 500, false);
	return http_respond(s, ok ? 200 : 503, "application/json", body, (size_t)n);
}

/* GET /api/hello: which host answered (the round robin made visible). */
static int hello(struct app_worker *aw, struct http_session *s)
{
	char msg[128];
	snprintf(msg, sizeof(msg), "Hello from %s", aw->app->host);
	return app_json(s, 200, json_pack("{s:s, s:s}", "host", aw->app->host, "message", msg));
}

const struct app_route site_routes[] = {
	{ HTTP_GET, "/", false, home },
	{ HTTP_POST, "/posts", false, create_post_form },
	{ HTTP_GET, "/api/posts", false, list_posts },
	{ HTTP_POST, "/api/posts", false, create_post },
	{ HTTP_GET, "/api/posts/", true, get_post },
	{ HTTP_GET, "/healthz", false, healthz },
	{ HTTP_GET, "/api/hello", false, hello },
	{ HTTP_OTHER, NULL, false, NULL },
};
