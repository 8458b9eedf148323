/* page.c - the board's HTML page (GET /) and its form (POST /posts).
 *
 * The form is defended against other sites' pages (see site.c's opening
 * comment): a browser's Sec-Fetch-Site and Origin must say our own page,
 * and the form carries a token, the MAC of a random nonce kept in a cookie
 * (signed double submit), which a page of another site cannot read.
 *
 * Each page's form also carries a token of its own, a fresh random nonce:
 * the post's idempotency key (write.c), as "form:NONCE". A double click, or
 * a browser sending the form again after an error or a reload, makes one
 * post; a new post needs a new page.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "app/site/site.h"
#include "app/text.h"
#include "core/sbuf.h"

#define CSRF_COOKIE "tristack_csrf"
/* over HTTPS: a browser takes this name only from this very origin over
 * TLS, so neither a sibling domain nor plain HTTP can plant a nonce */
#define CSRF_COOKIE_TLS "__Host-tristack_csrf"
#define CSRF_FIELD      "csrf"
#define MAC_CSRF        "csrf"
#define IDEM_FIELD      "idem"
#define IDEM_PREFIX     "form:"

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
void page_take_csrf(struct app_req *r, struct httpd_session *s)
{
	struct str v = site_request_cookie(s, csrf_cookie(r->https));
	if (v.p && nonce_valid(v)) {
		memcpy(r->csrf, v.p, v.len);
		r->csrf[v.len] = '\0';
		return;
	}
	r->csrf_new = true;
	if (!sign_nonce(r->csrf))
		r->csrf[0] = '\0';
}

static void page_start(struct sbuf *o, const char *title)
{
	sbuf_adds(o, "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
	             "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
	             "<title>");
	html_escape(o, title, strlen(title));
	sbuf_adds(o, "</title>\n<link rel=\"stylesheet\" href=\"/static/site.css\">\n</head>\n"
	             "<body>\n");
}

void page_home_render(struct app_req *r, MYSQL_STMT *st)
{
	struct app_worker *aw = r->aw;
	char token[SIGN_MAC_CHARS + 1], idem[SIGN_NONCE_CHARS + 1];
	if (r->csrf[0] == '\0' ||
	    !sign_mac(&aw->sign, MAC_CSRF, (struct str){ r->csrf, strlen(r->csrf) }, token) ||
	    !sign_nonce(idem)) {
		site_reply_unavailable(r, "cannot sign the form's token");
		return;
	}
	struct sbuf o = { 0 };
	page_start(&o, "www.foobar.com message board");
	sbuf_adds(&o, "<h1>www.foobar.com</h1>\n"
	              "<form method=\"post\" action=\"/posts\" class=\"new-post\">\n");
	sbuf_addf(&o, "<input type=\"hidden\" name=\"" CSRF_FIELD "\" value=\"%s\">\n", token);
	sbuf_addf(&o, "<input type=\"hidden\" name=\"" IDEM_FIELD "\" value=\"%s\">\n", idem);
	sbuf_adds(&o, "<p><label>Name<br><input name=\"author\" maxlength=\"64\" required>"
	              "</label></p>\n"
	              "<p><label>Message<br><textarea name=\"body\" rows=\"4\" maxlength=\"4000\" "
	              "required></textarea></label></p>\n"
	              "<p><button type=\"submit\">Post</button></p>\n</form>\n");
	struct fetch f;
	unsigned n = 0;
	long long last = 0;
	if (site_fetch_bind(aw, st, &f)) {
		while (site_fetch_next(st, &f)) {
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
	struct httpd_session *s = r->s;
	if (s &&
	    (site_head_begin(s, 200, HTML_TYPE) < 0 ||
	     (r->csrf_new && site_set_cookie(s, r->https, r->https ? CSRF_COOKIE_TLS : CSRF_COOKIE,
	                                     r->csrf, -1) < 0) ||
	     site_head_finish(s, o.p, o.len) < 0))
		httpd_error(s, 500, true);
	sbuf_free(&o);
	site_req_done(r);
}

/* GET / */
int page_home(struct app_worker *aw, struct httpd_session *s)
{
	long long before = site_query_id(site_query_of(s), "before");
	if (aw->db.db->nservers == 0) {
		const char page[] = "<!doctype html><title>www.foobar.com</title>"
		                    "<p>No database in this stack.</p>\n";
		return site_html_respond(s, 503, page, sizeof(page) - 1);
	}
	if (before > 0)
		return site_start_read(aw, s, RK_HOME, ST_POSTS_BEFORE, before, PAGE_POSTS);
	return site_start_read(aw, s, RK_HOME, ST_POSTS_LATEST, 0, PAGE_POSTS);
}

int page_form_answer(struct httpd_session *s, int status, const char *title, const char *message)
{
	struct sbuf o = { 0 };
	page_start(&o, title);
	sbuf_adds(&o, "<h1>");
	html_escape(&o, title, strlen(title));
	sbuf_adds(&o, "</h1>\n<p>");
	html_escape(&o, message, strlen(message));
	sbuf_adds(&o, ".</p>\n<p><a href=\"/\">Back to the board</a></p>\n</body>\n</html>\n");
	int rc = site_html_respond(s, status, o.p, o.len);
	sbuf_free(&o);
	return rc;
}

static int form_error(struct httpd_session *s, int status, const char *message)
{
	return page_form_answer(s, status, "Not posted", message);
}

/* The form's idempotency key into key ("" for a page from before there was
 * one): NULL, or what is wrong. */
static const char *form_key(const char *b, size_t n, char *key)
{
	char v[SIGN_NONCE_CHARS + 2];
	long vl = form_field(b, n, IDEM_FIELD, v, sizeof(v));
	key[0] = '\0';
	if (vl == -1)
		return NULL;
	if (vl < 0 || !nonce_valid((struct str){ v, (size_t)vl }))
		return "the form is malformed";
	snprintf(key, IDEM_KEY_MAX + 1, IDEM_PREFIX "%s", v);
	return NULL;
}

/* The origin a browser would name for this site, as the client reached it
 * (through the LB: its X-Forwarded-Proto and -Host). */
static bool origin_is_ours(struct httpd_session *s, struct str origin)
{
	struct str host;
	if (!httpd_session_header(s, "X-Forwarded-Host", &host) &&
	    !httpd_session_header(s, "Host", &host))
		return false;
	const char *scheme = site_request_https(s) ? "https://" : "http://";
	size_t n = strlen(scheme);
	return origin.len == n + host.len && strncasecmp(origin.p, scheme, n) == 0 &&
	       strncasecmp(origin.p + n, host.p, host.len) == 0;
}

/* Why a form post did not come from our own page, or NULL. A browser says
 * where a post comes from (Sec-Fetch-Site, Origin; "null" from sandboxes
 * and data: pages); the token proves the poster read our page, which
 * another site cannot. */
static const char *form_forged(struct app_worker *aw, struct httpd_session *s, const char *b,
                               size_t n)
{
	struct str v;
	if (httpd_session_header(s, "Sec-Fetch-Site", &v) && !http_str_ieq(v, "same-origin") &&
	    !http_str_ieq(v, "none"))
		return "posts from other sites are refused";
	if (httpd_session_header(s, "Origin", &v) && !origin_is_ours(s, v))
		return "posts from other sites are refused";
	char token[SIGN_MAC_CHARS + 2];
	long tl = form_field(b, n, CSRF_FIELD, token, sizeof(token));
	struct str nonce = site_request_cookie(s, csrf_cookie(site_request_https(s)));
	if (tl < 0 || nonce.p == NULL || !nonce_valid(nonce) ||
	    !sign_check(&aw->sign, MAC_CSRF, nonce, (struct str){ token, (size_t)tl }))
		return "the form has expired or did not come from this site: reload the board "
		       "and post again";
	return NULL;
}

/* POST /posts, from the form on / */
int page_post_form(struct app_worker *aw, struct httpd_session *s)
{
	if (!site_content_type_is(s, "application/x-www-form-urlencoded", true))
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
	char key[IDEM_KEY_MAX + 1];
	long al = form_field(b, n, "author", author, n + 1);
	long bl = form_field(b, n, "body", body, n + 1);
	int rc;
	const char *bad = NULL;
	if (al == -2 || bl == -2)
		bad = "the form is malformed";
	else if (al < 0 || bl < 0)
		bad = "the form needs an author and a body";
	else if ((bad = form_key(b, n, key)) == NULL)
		bad = write_post_invalid(author, (size_t)al, body, (size_t)bl);
	if (bad)
		rc = form_error(s, 400, bad);
	else
		rc = write_start(aw, s, RK_CREATE_FORM, author, (size_t)al, body, (size_t)bl,
		                 key[0] ? key : NULL);
	free(author);
	free(body);
	return rc;
}
