/* write.c - the board's writes: POST /api/posts (JSON), and the form's
 * POST /posts for page.c.
 *
 * A post is one INSERT on the primary, and the answer tells the truth
 * about it:
 *   201 / 303  stored: the primary committed it;
 *   503        not stored: the statement never reached a database (no
 *              primary, no connection before the [db] timeout, the pool
 *              down, the library could not write it) or the database
 *              refused it; it cannot appear later, and sending it again
 *              is safe;
 *   504        outcome unknown: it was sent and no answer came (the
 *              connection was lost, or the [db] timeout passed). It may
 *              have been stored, or may still be, when a hung primary
 *              wakes up with it in its socket.
 * A statement that was never sent, or that met a read-only server (a
 * promotion under way), is tried again every WRITE_RETRY_MS until the
 * [db] timeout: a switchover costs a delay, not an error.
 *
 * Idempotency. A request may carry a key: the API's Idempotency-Key
 * header, or the form's hidden per-page token (as "form:TOKEN"). The key
 * goes into the post's row in the same INSERT, in a UNIQUE column
 * (db/migrations/002_idempotency.sql), so no retry - after a 504, a
 * crashed client, a double click, on another app - can store a second row.
 * A key already used makes the INSERT fail as a duplicate; the post it made
 * is read back from the primary and the request is answered as the first
 * one was (201, the same post, the same id), or 422 when that post has
 * another author or body. Concurrent requests with one key: InnoDB makes
 * all but one wait for the first's commit, and they then fail as
 * duplicates: every one is answered with the same post. A key is kept as
 * long as its post (for ever: posts are not deleted).
 */
#include <errmsg.h>
#include <jansson.h>
#include <mysqld_error.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "app/sign.h"
#include "app/site/site.h"
#include "app/text.h"
#include "core/log.h"

#define AUTHOR_MAX_CHARS 64
#define BODY_MAX_BYTES   4000
#define WRITE_RETRY_MS   100 /* no writable primary yet (a promotion): again */
#define IDEM_HEADER      "Idempotency-Key"

static void write_submit(struct app_req *r);

/* ---- answers ---- */

/* A failed post's answer (status 503, 504, 409 or 422): JSON for the API,
 * a page for the form. */
static void write_refuse(struct app_req *r, int status, const char *json_msg,
                         const char *page_title, const char *page_msg)
{
	if (r->s && r->kind == RK_CREATE_FORM) {
		page_form_answer(r->s, status, page_title, page_msg);
		site_req_done(r);
		return;
	}
	site_reply_json(r, status, json_pack("{s:s}", "error", json_msg));
}

/* Not stored, or maybe stored: 503 or 504; why goes to the log. */
static void write_failed(struct app_req *r, bool unknown, const char *why)
{
	log_warn("write: %s (%s)", why, unknown ? "outcome unknown: 504" : "not stored: 503");
	if (unknown)
		write_refuse(r, 504,
		             "the database did not answer in time: the post may have been stored; "
		             "send it again with the same Idempotency-Key to find out",
		             "Maybe posted",
		             "The board's database did not answer in time: your post may have been "
		             "stored. Sending the form again is safe: it is never posted twice");
	else
		write_refuse(r, 503, "database unavailable: the post was not stored, try again",
		             "Not posted",
		             "The board's database is unavailable: nothing was posted. Try again "
		             "shortly");
}

/* The read-your-writes token of a commit's GTID, GTID.MAC (out holds
 * sizeof(job->gtid) + SIGN_MAC_CHARS + 1): false when the GTID is unknown
 * (or a list). The GTID is now known to be on the primary, too. */
static bool gtid_token(struct app_req *r, const char *gtid, char *out, size_t len)
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

/* A write's answer: where the post is, and its commit's token (a cookie
 * for browsers, a header for API clients). */
static int respond_written(struct app_req *r, struct db_job *job, int status, const char *type,
                           const char *body, size_t len, const char *location)
{
	struct httpd_session *s = r->s;
	char token[sizeof(job->gtid) + SIGN_MAC_CHARS + 1];
	bool has = gtid_token(r, job->gtid, token, sizeof(token));
	if (site_head_begin(s, status, type) < 0 || httpd_head_add(s, "Location", location) < 0 ||
	    (has && (site_set_cookie(s, r->https, GTID_COOKIE, token, GTID_COOKIE_AGE) < 0 ||
	             httpd_head_add(s, GTID_HEADER, token) < 0)))
		return -1;
	return site_head_finish(s, body, len);
}

/* The post is stored (by this request, or by the first with its key):
 * 303 to the board for the form, else 201 and the post. */
static void write_answer(struct app_req *r, struct db_job *job, long long id, const char *created)
{
	struct httpd_session *s = r->s;
	if (s == NULL) {
		site_req_done(r);
		return;
	}
	char location[48];
	snprintf(location, sizeof(location), "/api/posts/%lld", id);
	if (r->kind == RK_CREATE_FORM) {
		const char msg[] = "Posted.\n";
		if (respond_written(r, job, 303, "text/plain; charset=utf-8", msg, sizeof(msg) - 1,
		                    "/") < 0)
			httpd_error(s, 500, true);
	} else {
		json_t *post = site_post_json(id, r->text, r->author_len, r->text + r->author_len,
		                              r->body_len, created);
		char *text = json_dumps(post, JSON_COMPACT);
		json_decref(post);
		size_t n = text ? strlen(text) : 0;
		if (text)
			text[n] = '\n';
		if (text == NULL ||
		    respond_written(r, job, 201, "application/json", text, n + 1, location) < 0)
			httpd_error(s, 500, true);
		free(text);
	}
	site_req_done(r);
}

/* ---- a key used before ---- */

/* The post the key made, read back: the same answer, or 422 when the
 * request is not the same post. */
static void replay_done(struct db_job *job, bool ok)
{
	struct app_req *r = job->arg;
	if (!ok) {
		write_failed(r, false, job->errmsg); /* this request stored nothing */
		return;
	}
	if (r->s == NULL) {
		site_req_done(r);
		return;
	}
	struct fetch f;
	if (!site_fetch_bind(r->aw, job->st, &f) || !site_fetch_next(job->st, &f)) {
		/* a duplicate key is a committed row: only if it were deleted */
		write_refuse(r, 409, "a post with this Idempotency-Key is being stored: retry",
		             "Not posted", "This form is being posted: reload the board");
		return;
	}
	if (f.row.author_len != r->author_len || f.row.body_len != r->body_len ||
	    memcmp(f.row.author, r->text, r->author_len) != 0 ||
	    memcmp(f.row.body, r->text + r->author_len, r->body_len) != 0) {
		write_refuse(r, 422, "this Idempotency-Key was used for another post", "Not posted",
		             "This form was already used for another message: go back to the "
		             "board and post from a fresh page");
		return;
	}
	/* the position covers the row: the token of a single-domain one */
	job->gtid[0] = '\0';
	if (f.pos_len < sizeof(f.pos))
		snprintf(job->gtid, sizeof(job->gtid), "%.*s", (int)f.pos_len, f.pos);
	write_answer(r, job, f.row.id, f.row.created);
}

static void replay_submit(struct app_req *r, struct db_server *sv)
{
	struct db_job *job = &r->job;
	job->stmt = ST_POST_BY_KEY;
	job->done = replay_done;
	db_param_str(job, 0, r->key, strlen(r->key));
	db_submit(&r->aw->db, sv, job);
}

/* ---- the INSERT ---- */

static void write_retry(struct timer *t)
{
	write_submit(container_of(t, struct app_req, retry));
}

/* Nothing was done (no writable primary, or the statement never left):
 * try again shortly, until the deadline. */
static bool write_later(struct app_req *r)
{
	struct loop *loop = r->aw->http.w->loop;
	if (r->s == NULL || loop_now(loop) + WRITE_RETRY_MS > r->deadline)
		return false;
	r->retry.fn = write_retry;
	loop_timer_set(loop, &r->retry, WRITE_RETRY_MS);
	return true;
}

/* Did a failed statement certainly never reach the server (so it cannot
 * have run, now or later)? True when it failed before it was sent (no
 * connection, its deadline passed in the queue, the pool is down), or when
 * the library could not write it: CR_SERVER_GONE_ERROR (a failed write: the
 * server never had the whole packet, and the library closed the
 * connection) and CR_COMMANDS_OUT_OF_SYNC (refused before writing). */
static bool statement_unsent(const struct db_job *job)
{
	return !job->sent || job->err == CR_SERVER_GONE_ERROR ||
	       job->err == CR_COMMANDS_OUT_OF_SYNC;
}

/* A sent statement's error that says nothing of its outcome: no answer at
 * all (the client library's own errors), or the server's session ended
 * under it (killed, shut down), which may come after the commit. */
static bool outcome_unknown(unsigned err)
{
	return (err >= CR_MIN_ERROR && err <= CR_MAX_ERROR) || err == ER_CONNECTION_KILLED ||
	       err == ER_SERVER_SHUTDOWN || err == ER_QUERY_INTERRUPTED;
}

static void write_done(struct db_job *job, bool ok)
{
	struct app_req *r = job->arg;
	if (ok) {
		write_answer(r, job, job->insert_id, r->created);
		return;
	}
	if (job->err == ER_DUP_ENTRY && r->key[0]) {
		replay_submit(r, job->server);
		return;
	}
	/* read-only (no longer the primary) or never sent: safe to send
	 * again; anything else is answered now */
	bool refused = job->err == ER_OPTION_PREVENTS_STATEMENT;
	if (refused)
		atomic_store(&job->server->role, DB_ROLE_REPLICA);
	bool unsent = statement_unsent(job);
	if ((refused || unsent) && write_later(r))
		return;
	write_failed(r, !unsent && outcome_unknown(job->err), job->errmsg);
}

static void write_submit(struct app_req *r)
{
	struct db_worker *dw = &r->aw->db;
	struct db_server *sv = db_pick(dw, DB_PRIMARY);
	if (sv == NULL) {
		if (!write_later(r))
			write_failed(r, false, "no primary database");
		return;
	}
	struct db_job *job = &r->job;
	job->stmt = ST_POST_INSERT;
	job->done = write_done;
	db_param_str(job, 0, r->text, r->author_len);
	db_param_str(job, 1, r->text + r->author_len, r->body_len);
	db_param_str(job, 2, r->created_db, strlen(r->created_db));
	if (r->key[0])
		db_param_str(job, 3, r->key, strlen(r->key));
	else
		db_param_null(job, 3);
	db_submit(dw, sv, job);
}

const char *write_post_invalid(const char *author, size_t author_len, const char *body,
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

int write_start(struct app_worker *aw, struct httpd_session *s, enum req_kind kind,
                const char *author, size_t author_len, const char *body, size_t body_len,
                const char *key)
{
	if (aw->db.db->nservers == 0)
		return app_json_error(s, 503, "no database in this stack");
	struct app_req *r = site_req_new(aw, s, kind);
	r->https = site_request_https(s);
	r->text = xmalloc(author_len + body_len + 1);
	memcpy(r->text, author, author_len);
	memcpy(r->text + author_len, body, body_len);
	r->author_len = author_len;
	r->body_len = body_len;
	snprintf(r->key, sizeof(r->key), "%s", key ? key : "");
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
	return site_req_go(r, write_submit);
}

/* ---- POST /api/posts ---- */

/* The request's Idempotency-Key into key (IDEM_KEY_MAX + 1 bytes; "" when
 * there is none): NULL, or what is wrong with it. */
static const char *request_key(struct httpd_session *s, char *key)
{
	key[0] = '\0';
	int i = s->req->msg ? http_find_header(s->req->msg, IDEM_HEADER, 0) : -1;
	if (i < 0)
		return NULL;
	if (http_find_header(s->req->msg, IDEM_HEADER, i + 1) >= 0)
		return "send one Idempotency-Key header, not several";
	struct str v = s->req->msg->headers[i].value;
	if (!idem_key_valid(v.p, v.len))
		return "Idempotency-Key must be 1 to 128 characters of A-Z a-z 0-9 _ - . :";
	memcpy(key, v.p, v.len);
	key[v.len] = '\0';
	return NULL;
}

/* POST /api/posts {"author": ..., "body": ...}, Idempotency-Key: optional */
int write_api_post(struct app_worker *aw, struct httpd_session *s)
{
	/* required: a body of any other type (or none) is what a page of any
	 * site can make a browser send without asking (no CORS preflight) */
	if (!site_content_type_is(s, "application/json", false))
		return app_json_error(s, 415, "send the post as Content-Type: application/json");
	char key[IDEM_KEY_MAX + 1];
	const char *bad_key = request_key(s, key);
	if (bad_key)
		return app_json_error(s, 400, bad_key);
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
	const char *bad = write_post_invalid(json_string_value(author), json_string_length(author),
	                                     json_string_value(body), json_string_length(body));
	if (bad) {
		json_decref(doc);
		return app_json_error(s, 400, bad);
	}
	int rc = write_start(aw, s, RK_CREATE_JSON, json_string_value(author),
	                     json_string_length(author), json_string_value(body),
	                     json_string_length(body), key[0] ? key : NULL);
	json_decref(doc);
	return rc;
}
