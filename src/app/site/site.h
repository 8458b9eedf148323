/* site.h - what the board's files share (site.c: requests, reads, the JSON
 * API's reads; write.c: posting, idempotency, what a failed write answers;
 * page.c: the HTML page and its form). Private to site/. */
#ifndef TS_APP_SITE_H
#define TS_APP_SITE_H

#include "app/app.h"
#include "app/sign.h"
#include "app/text.h"

#define PAGE_POSTS 20
#define HTML_TYPE  "text/html; charset=utf-8"

/* Read-your-writes: a write hands out its commit's GTID, signed (GTID.MAC,
 * sign.h), in a cookie for browsers and a header for API clients; a read
 * takes it from the header, else the cookie. */
#define GTID_COOKIE     "tristack_gtid"
#define GTID_HEADER     "X-Tristack-Gtid"
#define MAC_GTID        "gtid" /* the MAC's label */
#define GTID_COOKIE_AGE 300    /* s: long past any replica lag we read from */

enum req_kind { RK_POST, RK_LIST, RK_HOME, RK_CREATE_JSON, RK_CREATE_FORM };

struct app_req {
	struct app_worker *aw;
	struct httpd_session *s; /* NULL once the client has gone */
	struct db_job job;
	enum req_kind kind;
	enum db_stmt stmt;               /* the read (after any GTID wait) */
	long long a, b;                  /* its parameters */
	bool on_primary;                 /* the read goes to the primary now */
	char gtid[64];                   /* the client's last write (header or cookie) */
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
	char key[IDEM_KEY_MAX + 1]; /* its idempotency key; "" when none */
	uint64_t deadline;          /* a write retries until then */
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
	MYSQL_BIND out[5];
	MYSQL_TIME t;
	struct row row;
	/* a fifth column, when the statement has one (ST_POST_BY_KEY's
	 * position): pos_len > sizeof(pos) - 1 means cut short */
	char pos[64];
	unsigned long pos_len;
};

/* ---- site.c ---- */

/* The response is queued (or the client is gone): send it, forget r. */
void site_req_done(struct app_req *r);
/* 503, as a page for the home page, else as JSON; why goes to the log. */
void site_reply_unavailable(struct app_req *r, const char *why);
/* A JSON answer (body owned), then site_req_done. */
void site_reply_json(struct app_req *r, int status, struct json_t *body);
struct json_t *site_post_json(long long id, const char *author, size_t author_len, const char *body,
                              size_t body_len, const char *created);

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

/* A read (stmt with a and b), from a handler: its return value. */
int site_start_read(struct app_worker *aw, struct httpd_session *s, enum req_kind kind,
                    enum db_stmt stmt, long long a, long long b);
/* A request from the pool, as the session's stream (site_req_done frees
 * it), and its first step run from the handler: the handler's return. */
struct app_req *site_req_new(struct app_worker *aw, struct httpd_session *s, enum req_kind kind);
int site_req_go(struct app_req *r, void (*step)(struct app_req *r));

/* ---- write.c ---- */

/* POST /api/posts */
int write_api_post(struct app_worker *aw, struct httpd_session *s);
/* Check a post's fields; NULL when they are fine, else what is wrong. */
const char *write_post_invalid(const char *author, size_t author_len, const char *body,
                               size_t body_len);
/* Store a post (key: its idempotency key, NUL-terminated and valid, or
 * NULL), from a handler: its return value. */
int write_start(struct app_worker *aw, struct httpd_session *s, enum req_kind kind,
                const char *author, size_t author_len, const char *body, size_t body_len,
                const char *key);

/* ---- page.c ---- */

/* GET / and POST /posts (the form on it). */
int page_home(struct app_worker *aw, struct httpd_session *s);
int page_post_form(struct app_worker *aw, struct httpd_session *s);
/* The home page from its rows. */
void page_home_render(struct app_req *r, MYSQL_STMT *st);
/* The nonce the page's form token is made from, into r->csrf. */
void page_take_csrf(struct app_req *r, struct httpd_session *s);
/* A page that says what became of a form's post (title, then message). */
int page_form_answer(struct httpd_session *s, int status, const char *title, const char *message);

#endif
