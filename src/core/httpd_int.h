/* httpd_int.h - what the httpd*.c files share, and no one else may call.
 *
 * httpd.c owns the server and its sessions, httpd_cycle.c a session's
 * request cycle, httpd_resp.c the response being written, httpd_log.c the
 * request's metrics and log line. Daemons use httpd.h only.
 */
#ifndef TS_HTTPD_INT_H
#define TS_HTTPD_INT_H

#include "httpd.h"

/* A server's timeout (ms) from its configuration, or def without one. */
static inline uint64_t httpd_conf_ms(const struct httpd_server *srv, size_t off, uint64_t def)
{
	return srv->conf ? *(const uint64_t *)((const char *)srv->conf + off) : def;
}

#define TIMEOUT(srv, field, def) httpd_conf_ms((srv), offsetof(struct http_conf, field), (def))

/* httpd.c: the request state, from a per-worker stock: made when a head
 * begins, given back (its body, file and pieces let go) when the connection
 * goes idle. */
struct httpd_req *httpd_req_get(struct httpd_session *s);
void httpd_req_put(struct httpd_session *s);

/* httpd_cycle.c: a session's io and timer callbacks. */
void httpd_on_io(struct io *io);
void httpd_on_timeout(struct timer *t);

/* httpd_resp.c: remake the Date line and what follows it, once a second. */
void httpd_refresh_common(struct httpd_server *srv);
/* Done with the response's file: closed, or given back to its owner. */
void httpd_req_file_done(struct httpd_req *r);
/* Done with a body made piece by piece: its done() called. */
void httpd_req_pieces_done(struct httpd_req *r);

/* httpd_log.c: count the request answered and write its access log line. */
void httpd_count_request(struct httpd_session *s);
/* The access log's time for this second, into srv->log_time. */
void httpd_log_time_format(struct httpd_server *srv, int64_t now);

#endif
