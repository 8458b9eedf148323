/* static.c - files from the document root, as nginx serves them: GET and
 * HEAD, the index file for directories (or a listing with autoindex), MIME
 * types, ETag and Last-Modified with 304, Range (206, multipart/byteranges,
 * 416), a precompressed .gz beside the file or gzip on the fly, Cache-Control
 * by path prefix, sendfile. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "core/sbuf.h"
#include "range.h"
#include "web.h"

/* Open rel beneath the root: the kernel refuses any resolution (.., a
 * symlink, a mount crossing) that would leave it. */
static int open_beneath(int root_fd, const char *rel, int flags)
{
	struct open_how how = {
		.flags = (uint64_t)(O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK | flags),
		.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS,
	};
	return (int)syscall(SYS_openat2, root_fd, rel, &how, sizeof(how));
}

/* If-None-Match: "*" or a list of entity tags, compared weakly (RFC 9110
 * 13.1.2). */
static bool etag_matches(struct str header, const char *etag)
{
	if (etag[0] == 'W' && etag[1] == '/')
		etag += 2;
	size_t n = strlen(etag);
	const char *p = header.p, *end = header.p + header.len;
	while (p < end) {
		while (p < end && (*p == ' ' || *p == '\t' || *p == ','))
			p++;
		if (p < end && *p == '*')
			return true;
		if (end - p >= 2 && p[0] == 'W' && p[1] == '/')
			p += 2;
		if ((size_t)(end - p) >= n && memcmp(p, etag, n) == 0)
			return true;
		while (p < end && *p != ',')
			p++;
	}
	return false;
}

static bool not_modified(struct httpd_session *s, const char *etag, int64_t mtime)
{
	struct str v;
	if (httpd_session_header(s, "if-none-match", &v))
		return etag_matches(v, etag);
	int64_t since;
	if (httpd_session_header(s, "if-modified-since", &v) && http_date_parse(v, &since) == 0)
		return mtime <= since;
	return false;
}

/* If-Range: the Range applies only to the representation the client has
 * (strong ETag or exact date); otherwise the whole file goes. */
static bool if_range_holds(struct httpd_session *s, const char *etag, int64_t mtime)
{
	struct str v;
	if (!httpd_session_header(s, "if-range", &v))
		return true;
	if (v.len && v.p[0] == '"')
		return v.len == strlen(etag) && memcmp(v.p, etag, v.len) == 0;
	int64_t t;
	return http_date_parse(v, &t) == 0 && t == mtime;
}

static const char *cache_control(const struct web_conf *conf, const char *path, char *buf,
                                 size_t len)
{
	for (unsigned i = 0; i < conf->ncache; i++)
		if (strncmp(path, conf->cache[i].prefix, strlen(conf->cache[i].prefix)) == 0) {
			snprintf(buf, len, "public, max-age=%llu",
			         (unsigned long long)(conf->cache[i].max_age / 1000));
			return buf;
		}
	return NULL;
}

static bool compressible(const struct web *web, const char *type)
{
	size_t n = strcspn(type, ";");
	for (unsigned i = 0; i < web->ngzip_types; i++)
		if (strlen(web->gzip_types[i]) == n && strncmp(web->gzip_types[i], type, n) == 0)
			return true;
	return false;
}

static bool client_takes_gzip(struct httpd_session *s)
{
	struct str v;
	return httpd_session_header(s, "accept-encoding", &v) && web_accepts_gzip(v);
}

/* An error answered on a connection that goes on (a custom page if one is
 * configured: httpd_error asks web_error_page). */
static int error_status(struct httpd_session *s, int status)
{
	return httpd_error(s, status, false);
}

static int method_not_allowed(struct httpd_session *s)
{
	static const char body[] = "405 Method Not Allowed\n";
	if (httpd_head_begin(s, 405) < 0 || httpd_head_add(s, "Allow", "GET, HEAD") < 0 ||
	    httpd_head_add(s, "Content-Type", "text/plain; charset=utf-8") < 0 ||
	    httpd_head_end(s, sizeof(body) - 1) < 0)
		return httpd_error(s, 500, true);
	return httpd_body(s, body, sizeof(body) - 1);
}

static int redirect_dir(struct httpd_session *s, const char *path)
{
	/* A directory named without its slash: send the browser to it, so
	 * relative links inside resolve (what nginx does). */
	struct str q = { NULL, 0 };
	const char *qm = memchr(s->req->target.p, '?', s->req->target.len);
	if (qm)
		q = (struct str){ qm, s->req->target.len - (size_t)(qm - s->req->target.p) };
	static const char body[] = "301 Moved Permanently\n";
	if (httpd_head_begin(s, 301) < 0 ||
	    httpd_head_addf(s, "Location", "%s/%.*s", path, (int)q.len, q.p ? q.p : "") < 0 ||
	    httpd_head_add(s, "Content-Type", "text/plain; charset=utf-8") < 0 ||
	    httpd_head_end(s, sizeof(body) - 1) < 0)
		return httpd_error(s, 500, true);
	return httpd_body(s, body, sizeof(body) - 1);
}

/* ---- autoindex ---- */

static void html_escape(struct sbuf *o, const char *s)
{
	for (; *s; s++) {
		switch (*s) {
		case '<':
			sbuf_adds(o, "&lt;");
			break;
		case '>':
			sbuf_adds(o, "&gt;");
			break;
		case '&':
			sbuf_adds(o, "&amp;");
			break;
		case '"':
			sbuf_adds(o, "&quot;");
			break;
		case '\'':
			sbuf_adds(o, "&#39;");
			break;
		default:
			sbuf_add(o, s, 1);
		}
	}
}

static void url_escape(struct sbuf *o, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		bool plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		             (c >= '0' && c <= '9') || strchr("-._~", c);
		if (plain) {
			sbuf_add(o, s, 1);
		} else {
			char e[3] = { '%', hex[c >> 4], hex[c & 15] };
			sbuf_add(o, e, 3);
		}
	}
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* A listing of the directory (dotfiles left out), names escaped. */
static int autoindex(struct httpd_session *s, int dir_fd, const char *path)
{
	DIR *d = fdopendir(dir_fd);
	if (d == NULL) {
		close(dir_fd);
		return httpd_error(s, 500, false);
	}
	char **names = NULL;
	size_t n = 0, cap = 0;
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 64;
			names = xrealloc(names, cap * sizeof(*names));
		}
		bool is_dir = e->d_type == DT_DIR;
		size_t len = strlen(e->d_name);
		names[n] = xmalloc(len + 2);
		memcpy(names[n], e->d_name, len);
		names[n][len] = is_dir ? '/' : '\0';
		names[n][len + 1] = '\0';
		n++;
	}
	closedir(d);
	if (n > 1)
		qsort(names, n, sizeof(*names), cmp_names);
	struct sbuf o = { 0 };
	sbuf_adds(&o, "<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>Index of ");
	html_escape(&o, path);
	sbuf_adds(&o, "</title></head><body>\n<h1>Index of ");
	html_escape(&o, path);
	sbuf_adds(&o, "</h1>\n<ul>\n<li><a href=\"../\">../</a></li>\n");
	for (size_t i = 0; i < n; i++) {
		size_t len = strlen(names[i]);
		bool is_dir = len && names[i][len - 1] == '/';
		if (is_dir)
			names[i][len - 1] = '\0';
		sbuf_adds(&o, "<li><a href=\"");
		url_escape(&o, names[i]);
		sbuf_adds(&o, is_dir ? "/\">" : "\">");
		html_escape(&o, names[i]);
		sbuf_adds(&o, is_dir ? "/</a></li>\n" : "</a></li>\n");
		free(names[i]);
	}
	free(names);
	sbuf_adds(&o, "</ul>\n</body></html>\n");
	int r = httpd_respond(s, 200, "text/html; charset=utf-8", o.p, o.len);
	sbuf_free(&o);
	return r;
}

/* ---- ranges ---- */

/* Copy bytes [off, off+len) of the file to dst (memory or pread). */
static int file_read(const struct web_file *f, char *dst, size_t len, int64_t off)
{
	if (f->data) {
		memcpy(dst, f->data + off, len);
		return 0;
	}
	return pread(f->fd, dst, len, (off_t)off) == (ssize_t)len ? 0 : -1;
}

static void file_send(struct httpd_session *s, struct web_file *f, int64_t off, int64_t len);

/* A multipart/byteranges body on its way out, one piece at a time: a part's
 * head, then its bytes (sendfile from the held fd, or copied from the cached
 * content as room allows), then the closing boundary. Whatever the ranges,
 * a response costs this struct, from the worker's free list. */
struct web_parts {
	struct web_worker *ww;
	struct web_file f; /* its cache entry held until the body is whole */
	const char *type;
	struct web_range rg[WEB_MAX_RANGES];
	unsigned n, i; /* parts, the part being sent (n: the tail) */
	int64_t pos;   /* next byte of part i; -1: its head first */
	struct web_parts *next_free;
};

/* The head of a part (with the CRLF ending the part before it). */
static size_t part_head(char *buf, size_t len, const struct web *web, const char *type,
                        const struct web_range *r, int64_t size)
{
	int k = snprintf(
	    buf, len, "\r\n--%s\r\nContent-Type: %s\r\nContent-Range: bytes %lld-%lld/%lld\r\n\r\n",
	    web->boundary, type, (long long)r->first, (long long)r->last, (long long)size);
	return (size_t)MIN(k, (int)len - 1);
}

static size_t parts_tail(char *buf, size_t len, const struct web *web)
{
	return (size_t)snprintf(buf, len, "\r\n--%s--\r\n", web->boundary);
}

static int parts_next(struct httpd_session *s, void *arg)
{
	struct web_parts *p = arg;
	const struct web *web = p->ww->web;
	char h[512];
	if (p->i == p->n) {
		p->i++;
		return httpd_body(s, h, parts_tail(h, sizeof(h), web)) < 0 ? -1 : 1;
	}
	if (p->i > p->n)
		return 0;
	const struct web_range *r = &p->rg[p->i];
	if (p->pos < 0) {
		if (httpd_body(s, h, part_head(h, sizeof(h), web, p->type, r, p->f.st.st_size)) < 0)
			return -1;
		p->pos = r->first;
	}
	int64_t len = r->last + 1 - p->pos;
	if (p->f.data) {
		/* no more than the output buffer holds: nothing is allocated */
		len = MIN(len, (int64_t)buf_room(&s->out));
		if (httpd_body(s, p->f.data + p->pos, (size_t)len) < 0)
			return -1;
	} else {
		web_filecache_hold(p->f.cached);
		httpd_body_file_ref(s, p->f.fd, (off_t)p->pos, (off_t)len, web_filecache_release,
		                    p->f.cached);
	}
	p->pos += len;
	if (p->pos > r->last) {
		p->i++;
		p->pos = -1;
	}
	return 1;
}

static void parts_done(void *arg)
{
	struct web_parts *p = arg;
	web_filecache_release(p->f.cached);
	p->next_free = p->ww->parts_free;
	p->ww->parts_free = p;
}

void web_static_free(struct web_worker *ww)
{
	for (struct web_parts *p = ww->parts_free, *next; p; p = next) {
		next = p->next_free;
		free(p);
	}
	ww->parts_free = NULL;
}

/* Several ranges: multipart/byteranges, its length known before a byte is
 * read, its body streamed (parts_next). */
static int send_multipart(struct web_worker *ww, struct httpd_session *s, struct web_file *f,
                          const char *type, const struct web_range *rg, unsigned n)
{
	char h[512];
	int64_t total = (int64_t)parts_tail(h, sizeof(h), ww->web);
	for (unsigned i = 0; i < n; i++)
		total += (int64_t)part_head(h, sizeof(h), ww->web, type, &rg[i], f->st.st_size) +
		         rg[i].last - rg[i].first + 1;
	char ct[96];
	snprintf(ct, sizeof(ct), "multipart/byteranges; boundary=%s", ww->web->boundary);
	if (httpd_head_begin(s, 206) < 0 || httpd_head_add(s, "Content-Type", ct) < 0 ||
	    httpd_head_end(s, total) < 0)
		return httpd_error(s, 500, true);
	struct web_parts *p = ww->parts_free;
	if (p)
		ww->parts_free = p->next_free;
	else
		p = xmalloc(sizeof(*p));
	p->ww = ww;
	p->f = *f;
	p->type = type;
	memcpy(p->rg, rg, n * sizeof(*rg));
	p->n = n;
	p->i = 0;
	p->pos = -1;
	web_filecache_hold(f->cached);
	httpd_body_pieces(s, parts_next, parts_done, p);
	return TS_OK;
}

static int send_ranges(struct web_worker *ww, struct httpd_session *s, struct web_file *f,
                       const char *type, const struct web_range *rg, unsigned n)
{
	if (n > 1)
		return send_multipart(ww, s, f, type, rg, n);
	char cr[96];
	snprintf(cr, sizeof(cr), "bytes %lld-%lld/%lld", (long long)rg[0].first,
	         (long long)rg[0].last, (long long)f->st.st_size);
	int64_t len = rg[0].last - rg[0].first + 1;
	if (httpd_head_begin(s, 206) < 0 || httpd_head_add(s, "Content-Type", type) < 0 ||
	    httpd_head_add(s, "Content-Range", cr) < 0 || httpd_head_end(s, len) < 0)
		return httpd_error(s, 500, true);
	file_send(s, f, rg[0].first, len);
	return TS_OK;
}

/* ---- gzip ---- */

/* The file compressed: cached once for small files, made per request for
 * others up to WEB_GZIP_MAX; -1 when it cannot be. *owned tells whether the
 * caller frees *out. */
static int gzip_content(struct web_file *f, const char **out, size_t *outlen, bool *owned)
{
	*owned = false;
	if (f->cached && f->data)
		return web_filecache_gzip(f->cached, out, outlen);
	if (f->st.st_size > (off_t)WEB_GZIP_MAX)
		return -1;
	char *raw = xmalloc((size_t)f->st.st_size + 1), *z = NULL;
	int r = -1;
	if (file_read(f, raw, (size_t)f->st.st_size, 0) == 0)
		r = web_gzip(raw, (size_t)f->st.st_size, 6, &z, outlen);
	free(raw);
	*out = z;
	*owned = r == 0;
	return r;
}

/* ---- the handler ---- */

/* Common headers of a file response. */
static int file_head(struct httpd_session *s, int status, const char *type, const char *etag,
                     const char *lastmod, const char *cc, bool vary)
{
	if (httpd_head_begin(s, status) < 0 || httpd_head_add(s, "Content-Type", type) < 0 ||
	    httpd_head_add(s, "Last-Modified", lastmod) < 0 ||
	    httpd_head_add(s, "ETag", etag) < 0 || httpd_head_add(s, "Accept-Ranges", "bytes") < 0)
		return -1;
	if (cc && httpd_head_add(s, "Cache-Control", cc) < 0)
		return -1;
	if (vary && httpd_head_add(s, "Vary", "Accept-Encoding") < 0)
		return -1;
	/* no guessing a type from the bytes; a page is never framed */
	if (httpd_head_add(s, "X-Content-Type-Options", "nosniff") < 0)
		return -1;
	const char *csp = conf_of(((struct web_worker *)s->srv->data)->web->d)->web.csp;
	if (strncmp(type, "text/html", 9) == 0 && csp && csp[0] &&
	    (httpd_head_add(s, "Content-Security-Policy", csp) < 0 ||
	     httpd_head_add(s, "X-Frame-Options", "DENY") < 0))
		return -1;
	return 0;
}

/* The body: bytes from memory, or sendfile from the (held) cached fd. */
static void file_send(struct httpd_session *s, struct web_file *f, int64_t off, int64_t len)
{
	if (f->data) {
		httpd_body(s, f->data + off, (size_t)len);
	} else if (f->cached) {
		web_filecache_hold(f->cached);
		httpd_body_file_ref(s, f->fd, (off_t)off, (off_t)len, web_filecache_release,
		                    f->cached);
	}
}

/* A precompressed "<path>.gz" beside the file (nginx's gzip_static), opened
 * through the cache too. */
static int open_gz(struct web_worker *ww, const char *rel, struct web_file *gz)
{
	char name[WEB_PATH_BUF + 4];
	if (snprintf(name, sizeof(name), "%s.gz", rel) >= (int)sizeof(name))
		return -1;
	if (web_filecache_open(ww->files, ww->web->root_fd, name, loop_now(ww->http.w->loop), gz,
	                       open_beneath) < 0)
		return -1;
	if (gz->cached == NULL) {
		close(gz->fd); /* not a regular file */
		return -1;
	}
	return 0;
}

static int not_a_file(struct httpd_session *s, struct web_file *f, bool dir, const char *path)
{
	bool is_dir = S_ISDIR(f->st.st_mode);
	close(f->fd);
	if (!is_dir)
		return error_status(s, 403);
	if (dir)
		return error_status(s, 404); /* the index name is a directory */
	return redirect_dir(s, path);
}

int web_static(struct web_worker *ww, struct httpd_session *s, char *path, size_t n)
{
	struct web *web = ww->web;
	const struct web_conf *conf = &conf_of(web->d)->web;
	if (s->req->method != HTTP_GET && s->req->method != HTTP_HEAD)
		return method_not_allowed(s);
	bool dir = path[n - 1] == '/';
	if (dir)
		snprintf(path + n, WEB_PATH_BUF - n, "%s", conf->index);
	const char *rel = path + 1; /* relative to the root: "index.html" */
	struct web_file f;
	if (web_filecache_open(ww->files, web->root_fd, *rel ? rel : ".",
	                       loop_now(ww->http.w->loop), &f, open_beneath) < 0) {
		int e = errno;
		if (dir && e == ENOENT) {
			path[n] = '\0';
			if (!conf->autoindex)
				return error_status(s, 403); /* as nginx: no index, no listing */
			int dfd = open_beneath(web->root_fd, n > 1 ? path + 1 : ".", O_DIRECTORY);
			if (dfd < 0)
				return error_status(s, 404);
			return autoindex(s, dfd, path);
		}
		if (e == ENOENT || e == ENOTDIR || e == ENAMETOOLONG)
			return error_status(s, 404);
		return error_status(s, 403); /* EXDEV: a way out of the root; EACCES */
	}
	if (f.cached == NULL)
		return not_a_file(s, &f, dir, path);
	const char *type = web_mime_type(web->mime, path);
	char ccbuf[64];
	const char *cc = cache_control(conf, path, ccbuf, sizeof(ccbuf));
	bool gz_type = (conf->gzip || conf->gzip_static) && compressible(web, type);
	struct str range;
	bool has_range = s->req->method == HTTP_GET && httpd_session_header(s, "range", &range) &&
	                 if_range_holds(s, f.etag, (int64_t)f.st.st_mtime);

	if (not_modified(s, f.etag, (int64_t)f.st.st_mtime)) {
		if (file_head(s, 304, type, f.etag, f.lastmod, cc, gz_type) < 0 ||
		    httpd_head_end(s, HTTPD_LENGTH_NONE) < 0)
			return httpd_error(s, 500, true);
		return TS_OK;
	}
	if (has_range) {
		struct web_range rg[WEB_MAX_RANGES];
		unsigned nr;
		enum web_range_result rr = web_range_parse(range, f.st.st_size, rg, &nr);
		if (rr == WEB_RANGE_UNSATISFIABLE) {
			char cr[48];
			snprintf(cr, sizeof(cr), "bytes */%lld", (long long)f.st.st_size);
			static const char body[] = "416 Range Not Satisfiable\n";
			if (httpd_head_begin(s, 416) < 0 ||
			    httpd_head_add(s, "Content-Range", cr) < 0 ||
			    httpd_head_add(s, "Content-Type", "text/plain; charset=utf-8") < 0 ||
			    httpd_head_end(s, sizeof(body) - 1) < 0)
				return httpd_error(s, 500, true);
			return httpd_body(s, body, sizeof(body) - 1);
		}
		if (rr == WEB_RANGE_OK)
			return send_ranges(ww, s, &f, type, rg, nr);
	}
	if (gz_type && client_takes_gzip(s)) {
		struct web_file gz;
		if (conf->gzip_static && open_gz(ww, rel, &gz) == 0) {
			if (file_head(s, 200, type, gz.etag, gz.lastmod, cc, true) < 0 ||
			    httpd_head_add(s, "Content-Encoding", "gzip") < 0 ||
			    httpd_head_end(s, (int64_t)gz.st.st_size) < 0)
				return httpd_error(s, 500, true);
			file_send(s, &gz, 0, gz.st.st_size);
			return TS_OK;
		}
		const char *z;
		size_t zlen;
		bool owned;
		if (conf->gzip && f.st.st_size >= (off_t)conf->gzip_min_size &&
		    gzip_content(&f, &z, &zlen, &owned) == 0) {
			char weak[52];
			snprintf(weak, sizeof(weak), "W/%s",
			         f.etag); /* same content, another encoding */
			int r = -1;
			if (file_head(s, 200, type, weak, f.lastmod, cc, true) == 0 &&
			    httpd_head_add(s, "Content-Encoding", "gzip") == 0 &&
			    httpd_head_end(s, (int64_t)zlen) == 0)
				r = httpd_body(s, z, zlen);
			if (owned)
				free((char *)z);
			return r < 0 ? httpd_error(s, 500, true) : TS_OK;
		}
	}
	if (file_head(s, 200, type, f.etag, f.lastmod, cc, gz_type) < 0 ||
	    httpd_head_end(s, (int64_t)f.st.st_size) < 0)
		return httpd_error(s, 500, true);
	file_send(s, &f, 0, f.st.st_size);
	return TS_OK;
}

/* ---- custom error pages ---- */

int web_error_page(struct httpd_session *s, int status)
{
	struct web_worker *ww = s->srv->data;
	const struct web *web = ww->web;
	for (unsigned i = 0; i < web->nerror_pages; i++) {
		const struct web_error_page *p = &web->error_pages[i];
		if (p->status != status)
			continue;
		if (httpd_head_begin(s, status) < 0 ||
		    httpd_head_add(s, "Content-Type", p->type) < 0 ||
		    httpd_head_end(s, (int64_t)p->len) < 0)
			return -1;
		return httpd_body(s, p->body, p->len);
	}
	return -1;
}
