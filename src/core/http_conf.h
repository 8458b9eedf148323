/* http_conf.h - the settings every HTTP daemon shares (listeners, limits,
 * timeouts, logs), read by core/httpd and core/daemon, and the part of a
 * section's key table that fills them: a daemon's section embeds a struct
 * http_conf named `http` and puts HTTP_CONF_KEYS in its table.
 */
#ifndef TS_HTTP_CONF_H
#define TS_HTTP_CONF_H

#include <stdint.h>

#include "cfg.h"

struct http_conf {
	char *listen;
	char *admin;     /* admin listener (/metrics, stats); "" = none (lb, web) */
	int64_t threads; /* 0 = one per core */
	int64_t maxconn;
	uint64_t bufsize;
	uint64_t max_header_size;
	uint64_t max_body_size; /* 0 = no limit */
	uint64_t timeout_client;
	uint64_t timeout_http_request;
	uint64_t timeout_http_keep_alive;
	int64_t keepalive_requests; /* a connection closes after this many; 0 = no limit */
	char *access_log;           /* "" = off */
	char *error_log;            /* "" = stderr */
	char *log_level;
};

/* The keys of T's `http` member, with the defaults that differ by daemon. */
#define HTTP_CONF_KEYS(T, def_listen, def_body, def_kareq)                                         \
	CFG_KEY("listen", CFG_STR, T, http.listen, def_listen, 0, 0),                              \
	    { .name = "threads",                                                                   \
	      .type = CFG_INT,                                                                     \
	      .off = offsetof(T, http.threads),                                                    \
	      .def = "0",                                                                          \
	      .max = 256,                                                                          \
	      .flags = CFG_AUTO },                                                                 \
	    CFG_KEY("maxconn", CFG_INT, T, http.maxconn, "9000", 1, 1000000),                      \
	    CFG_KEY("bufsize", CFG_SIZE, T, http.bufsize, "16k", 4096, 1 << 20),                   \
	    CFG_KEY("max_header_size", CFG_SIZE, T, http.max_header_size, "8k", 1024, 1 << 20),    \
	    CFG_KEY("max_body_size", CFG_SIZE, T, http.max_body_size, def_body, 0, 0),             \
	    CFG_KEY("timeout_client", CFG_DURATION, T, http.timeout_client, "60s", 1, 0),          \
	    CFG_KEY("timeout_http_request", CFG_DURATION, T, http.timeout_http_request, "10s", 1,  \
	            0),                                                                            \
	    CFG_KEY("timeout_http_keep_alive", CFG_DURATION, T, http.timeout_http_keep_alive,      \
	            "10s", 1, 0),                                                                  \
	    CFG_KEY("keepalive_requests", CFG_INT, T, http.keepalive_requests, def_kareq, 0,       \
	            1000000000),                                                                   \
	    CFG_KEY("access_log", CFG_STR, T, http.access_log, "", 0, 0),                          \
	    CFG_KEY("error_log", CFG_STR, T, http.error_log, "", 0, 0),                            \
	    CFG_KEY("log_level", CFG_LEVEL, T, http.log_level, "info", 0, 0)

#endif
