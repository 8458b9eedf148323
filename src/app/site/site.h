/* site.h - what the board's files share (site.c: requests, the database,
 * the JSON API; page.c: the HTML page and its form). Private to site/. */
#ifndef TS_APP_SITE_H
#define TS_APP_SITE_H

#include "app/app.h"
#include "app/sign.h"
#include "app/text.h"

#define PAGE_POSTS 20
#define HTML_TYPE  "text/html; charset=utf-8"

enum req_kind { RK_POST, RK_LIST, RK_HOME, RK_CREATE_JSON, RK_CREATE_FORM };

struct app_req {
	struct app_worker *aw;
	struct httpd_session *s; /* NULL once the client has gone */
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

/* ---- site.c ---- */

/* The response is queued (or the client is gone): send it, forget r. */
void site_req_done(struct app_req *r);
/* 503, as a page for the home page, else as JSON; why goes to the log. */
void site_reply_unavailable(struct app_req *r, const char *why);

/* Responses: a head (status, type, no caching; for HTML, what keeps a page
 * from being framed or running anything else), a cookie, the body. Each
 * returns 0 or -1. */
int site_head_begin(struct httpd_session *s, int status, const char *type);
int site_set_cookie(struct httpd_session *s, bool https, const char *name, const char *value,
                    int max_age);
int site_head_finish(struct httpd_session *s, const char *body, size_t len);
int site_html_respond(struct httpd_session *s, int status, const char *body, size_t len);

/* Request details. */
struct str site_query_of(const struct httpd_session *s);
long long site_query_id(struct str q, const char *name);
struct str site_request_cookie(struct httpd_session *s, const char *name);
bool site_request_https(struct httpd_session *s);
bool site_content_type_is(struct httpd_session *s, const char *type, bool absent_ok);

/* A statement's rows, one at a time, into f->row. */
bool site_fetch_bind(struct app_worker *aw, MYSQL_STMT *st, struct fetch *f);
bool site_fetch_next(MYSQL_STMT *st, struct fetch *f);

/* A read (stmt with a and b) or a write of a post, from a handler: its
 * return value. */
int site_start_read(struct app_worker *aw, struct httpd_session *s, enum req_kind kind,
                    enum db_stmt stmt, long long a, long long b);
const char *site_post_invalid(const char *author, size_t author_len, const char *body,
                              size_t body_len);
int site_start_write(struct app_worker *aw, struct httpd_session *s, enum req_kind kind,
                     const char *author, size_t author_len, const char *body, size_t body_len);

/* ---- page.c ---- */

/* GET / and POST /posts (the form on it). */
int page_home(struct app_worker *aw, struct httpd_session *s);
int page_post_form(struct app_worker *aw, struct httpd_session *s);
/* The home page from its rows. */
void page_home_render(struct app_req *r, MYSQL_STMT *st);
/* The nonce the page's form token is made from, into r->csrf. */
void page_take_csrf(struct app_req *r, struct httpd_session *s);

#endif
