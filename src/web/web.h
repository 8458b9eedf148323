/* web.h - tristack-web: static files and the reverse proxy to the app. */
#ifndef TS_WEB_H
#define TS_WEB_H

#include <stdatomic.h>
#include <sys/stat.h>

#include "conf/conf.h"
#include "core/proxy.h"
#include "mime.h"

/* Longest normalised path; the buffer holding it has room for the index
 * file name more. */
#define WEB_PATH_MAX 1024
#define WEB_PATH_BUF (WEB_PATH_MAX + 256)

/* Files up to this size are gzipped on the fly (larger ones go as they are). */
#define WEB_GZIP_MAX (8u << 20)

struct fc_entry;
struct web_filecache;
struct web_parts;

/* A file to answer with, from the worker's open-file cache or not. */
struct web_file {
	int fd; /* -1 when the content is in data */
	struct stat st;
	char etag[48];
	char lastmod[30];
	char *data; /* the whole content (small cached files), or NULL */
	char *gz;   /* data gzipped, made on first need */
	size_t gz_len;
	struct fc_entry *cached; /* NULL: not cached, the caller closes fd */
};

struct web_error_page {
	int status;
	char *body;
	size_t len;
	const char *type;
};

/* An app server, as the upstream list names it. */
struct web_upstream {
	struct proxy_server px;      /* the engine's view: name, address, metric ids */
	_Atomic uint64_t down_until; /* loop ms: skipped after a failure (nginx's fail_timeout) */
};

struct web {
	struct daemon *d;
	const char *host;    /* this host's name, in X-Served-By */
	char served_by[160]; /* "X-Served-By: web-01\r\n" */
	int root_fd;         /* the document root, opened once */
	struct addr listen, admin;
	bool has_admin;
	struct web_upstream *apps;
	struct proxy_server **app_px; /* &apps[i].px, the engine's list (pc.servers) */
	unsigned napps;
	_Atomic unsigned rr;
	struct proxy_conf pc;
	struct httpd_metrics hm;
	struct web_mime *mime;
	char **gzip_types;
	unsigned ngzip_types;
	struct web_error_page *error_pages;
	unsigned nerror_pages;
	char boundary[40]; /* multipart/byteranges */
};

struct web_worker {
	struct web *web;
	struct httpd_server http, admin;
	struct proxy_worker pw;
	struct web_filecache *files;
	struct web_parts *parts_free; /* multipart/byteranges bodies, for reuse */
};

/* static.c: answer a GET or HEAD for path (normalised, n bytes, in a buffer
 * of WEB_PATH_BUF) from the document root. */
int web_static(struct web_worker *ww, struct httpd_session *s, char *path, size_t n);
/* Free what web_static kept for reuse (the worker is going). */
void web_static_free(struct web_worker *ww);
/* The configured page for an error status (httpd_server's error_page hook). */
int web_error_page(struct httpd_session *s, int status);
/* filecache.c */
struct web_filecache *web_filecache_new(unsigned max, uint64_t valid_ms);
void web_filecache_free(struct web_filecache *c);
/* The file at rel (relative to the root): 0 with f filled (f->cached set
 * for a regular file; NULL, with f->fd to close, for anything else), or -1
 * with errno. */
int web_filecache_open(struct web_filecache *c, int root_fd, const char *rel, uint64_t now,
                       struct web_file *f, int (*open_beneath)(int, const char *, int));
/* A response will send from the entry's fd: keep it until released. */
void web_filecache_hold(struct fc_entry *e);
void web_filecache_release(void *entry);
/* The gzipped content of a small cached file, made once. */
int web_filecache_gzip(struct fc_entry *e, const char **out, size_t *len);

/* gzip.c */
int web_gzip(const void *in, size_t n, int level, char **out, size_t *outlen);

#endif
