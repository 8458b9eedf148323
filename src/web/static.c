/* static.c - files from the document root: GET/HEAD, index.html, MIME type,
 * Last-Modified/ETag and 304, sendfile. */
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "path.h"
#include "web.h"

/* Open rel beneath the root: the kernel refuses any resolution (.., a
 * symlink, a mount crossing) that would leave it. */
static int open_beneath(int root_fd, const char *rel)
{
	struct open_how how = {
		.flags = O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK,
		.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS,
	};
	return (int)syscall(SYS_openat2, root_fd, rel, &how, sizeof(how));
}

static bool etag_matches(struct str header, const char *etag)
{
	/* If-None-Match: "*" or a list of entity tags (weak ones compare too) */
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

static int not_modified(struct http_session *s, const char *etag, int64_t mtime)
{
	struct str v;
	if (http_session_header(s, "if-none-match", &v))
		return etag_matches(v, etag);
	int64_t since;
	if (http_session_header(s, "if-modified-since", &v) && http_date_parse(v, &since) == 0)
		return mtime <= since;
	return false;
}

static int redirect_dir(struct web_worker *ww, struct http_session *s, const char *path)
{
	/* A directory named without its slash: send the browser to it, so
	 * relative links inside resolve (what nginx does). */
	struct str q = { NULL, 0 };
	const char *qm = memchr(s->req.path.p, '?', s->req.path.len);
	if (qm)
		q = (struct str){ qm, s->req.path.len - (size_t)(qm - s->req.path.p) };
	static const char body[] = "301 Moved Permanently\n";
	if (http_head_begin(s, 301) < 0 ||
	    http_head_addf(s, "Location", "%s/%.*s", path, (int)q.len, q.p ? q.p : "") < 0 ||
	    http_head_add(s, "Content-Type", "text/plain; charset=utf-8") < 0 ||
	    http_head_add(s, "X-Served-By", ww->web->host) < 0 ||
	    http_head_end(s, sizeof(body) - 1) < 0)
		return http_error(s, 500, true);
	return http_body(s, body, sizeof(body) - 1);
}

static int error_page(struct web_worker *ww, struct http_session *s, int status)
{
	char body[96];
	int n = snprintf(body, sizeof(body), "%d %s\n", status, http_status_reason(status));
	if (http_head_begin(s, status) < 0 ||
	    http_head_add(s, "Content-Type", "text/plain; charset=utf-8") < 0 ||
	    http_head_add(s, "X-Served-By", ww->web->host) < 0 ||
	    (status == 405 && http_head_add(s, "Allow", "GET, HEAD") < 0) ||
	    http_head_end(s, n) < 0)
		return http_error(s, 500, true);
	return http_body(s, body, (size_t)n);
}

int web_error_page(struct web_worker *ww, struct http_session *s, int status)
{
	return error_page(ww, s, status);
}

int web_static(struct web_worker *ww, struct http_session *s, char *path, size_t n)
{
	if (s->req.method != HTTP_GET && s->req.method != HTTP_HEAD)
		return error_page(ww, s, 405);
	bool dir = path[n - 1] == '/';
	if (dir)
		memcpy(path + n, "index.html", 11);
	/* Relative to the root: "/" + "index.html" -> "index.html" */
	int fd = open_beneath(ww->web->root_fd, path + 1);
	if (fd < 0) {
		int e = errno;
		if (e == ENOENT || e == ENOTDIR || e == ENAMETOOLONG)
			return error_page(ww, s, 404);
		return error_page(ww, s, 403); /* EXDEV: a way out of the root; EACCES */
	}
	struct stat st;
	if (fstat(fd, &st) < 0) {
		close(fd);
		return error_page(ww, s, 500);
	}
	if (S_ISDIR(st.st_mode)) {
		close(fd);
		if (dir)
			return error_page(ww, s, 404); /* index.html is a directory */
		return redirect_dir(ww, s, path);
	}
	if (!S_ISREG(st.st_mode)) {
		close(fd);
		return error_page(ww, s, 403);
	}
	char etag[48], lastmod[30];
	snprintf(etag, sizeof(etag), "\"%llx-%llx\"", (unsigned long long)st.st_mtime,
	         (unsigned long long)st.st_size);
	http_date((int64_t)st.st_mtime, lastmod);
	bool fresh = not_modified(s, etag, (int64_t)st.st_mtime);
	if (http_head_begin(s, fresh ? 304 : 200) < 0 ||
	    http_head_add(s, "Content-Type", web_mime_type(path)) < 0 ||
	    http_head_add(s, "Last-Modified", lastmod) < 0 || http_head_add(s, "ETag", etag) < 0 ||
	    http_head_add(s, "Accept-Ranges", "bytes") < 0 ||
	    http_head_add(s, "X-Served-By", ww->web->host) < 0) {
		close(fd);
		return http_error(s, 500, true);
	}
	if (fresh) {
		close(fd);
		/* 304 carries no body and no Content-Length of its own */
		return http_head_end(s, HTTP_LENGTH_NONE) < 0 ? http_error(s, 500, true) : TS_OK;
	}
	if (http_head_end(s, (int64_t)st.st_size) < 0) {
		close(fd);
		return http_error(s, 500, true);
	}
	http_body_file(s, fd, 0, (off_t)st.st_size);
	return TS_OK;
}
