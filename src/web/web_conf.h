/* web_conf.h - the [web] section of the stack file: its struct and key
 * table (web_conf.c), documented in docs/configuration.md. */
#ifndef TS_WEB_CONF_H
#define TS_WEB_CONF_H

#include <stdbool.h>
#include <stdint.h>

#include "core/cfg.h"
#include "core/http_conf.h"
#include "core/net.h"

#define WEB_MAX_PROXY      32
#define WEB_MAX_CACHE      16
#define WEB_MAX_ERROR_PAGE 32

struct web_cache_rule {
	char *prefix;     /* path prefix */
	uint64_t max_age; /* ms */
};

struct web_error_page_conf {
	int status;
	char *path; /* a file under root */
};

struct web_conf {
	struct http_conf http;
	char *root;
	char *index;
	bool autoindex;
	bool dotfiles;              /* serve paths with a segment starting '.' */
	char *csp;                  /* Content-Security-Policy of static HTML; "" = none */
	char *proxy[WEB_MAX_PROXY]; /* path prefixes sent to the app */
	unsigned nproxy;
	int proxy_line;
	char *upstream; /* the apps: ":9000" = this host's; several, space-separated */
	uint64_t timeout_connect;
	uint64_t timeout_server;
	uint64_t timeout_server_keep_alive;
	char *mime_types;    /* a mime.types file; "" = the built-in table */
	uint64_t file_cache; /* how long a cached open file is trusted, ms */
	bool gzip, gzip_static;
	uint64_t gzip_min_size;
	char *gzip_types;
	struct web_cache_rule cache[WEB_MAX_CACHE];
	unsigned ncache;
	struct web_error_page_conf error_pages[WEB_MAX_ERROR_PAGE];
	unsigned nerror_pages;
	char *trusted_proxies;    /* as written; "" = the hosts with the lb role */
	struct net_ipset trusted; /* what it names: whose X-Forwarded-* are believed */
};

/* The section, for the stack file's schema (src/conf); its check turns
 * trusted_proxies into addresses. */
extern const struct cfg_section web_conf_section;

#endif
