/* stats.h - tristack-dns's monitoring: its HTTP admin listener (/metrics).
 *
 * Kept apart from main.c: the admin side is core's HTTP server, whose
 * names (conn_*) main.c's TCP connections would clash with.
 */
#ifndef TS_DNS_STATS_H
#define TS_DNS_STATS_H

#include <stddef.h>

struct addr;
struct worker;
struct dns_admin;

/* A worker's admin listener on a, serving the daemon's /metrics. Returns
 * it, or NULL with err set. */
struct dns_admin *dns_admin_listen(struct worker *w, const struct addr *a, char *err,
                                   size_t errlen);
/* Stop accepting; sessions end after their response. NULL is fine. */
void dns_admin_stop(struct dns_admin *da);
/* After the worker's loop has returned. NULL is fine. */
void dns_admin_free(struct dns_admin *da);

#endif
