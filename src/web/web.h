/* web.h - tristack-web: static files and the reverse proxy to the app. */
#ifndef TS_WEB_H
#define TS_WEB_H

#include "core/proxy.h"

struct web {
	struct daemon *d;
	const char *host; /* this host's name, in X-Served-By */
	int root_fd;      /* the document root, opened once */
	struct addr listen, admin, upstream;
	bool has_admin;
	struct proxy_server app;
	struct proxy_conf pc;
	struct http_metrics hm;
};

struct web_worker {
	struct web *web;
	struct http_server http, admin;
	struct proxy_worker pw;
};

/* Longest normalised path; the buffer holding it has room for
 * "index.html" more. */
#define WEB_PATH_MAX 1024

/* static.c: answer a GET or HEAD for path (normalised, n bytes) from the
 * document root. */
int web_static(struct web_worker *ww, struct http_session *s, char *path, size_t n);
/* A short error page carrying X-Served-By. */
int web_error_page(struct web_worker *ww, struct http_session *s, int status);
/* mime.c: the Content-Type for a file name. */
const char *web_mime_type(const char *path);

#endif
