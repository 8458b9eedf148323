/* stats.h - tristack-dns's monitoring: its counters (what NSD's
 * `nsd-control stats` reports, as Prometheus metrics) and its HTTP admin
 * listener (/metrics).
 *
 * Each worker counts into its own metrics shard (w->shard); a scrape sums
 * them. Kept apart from main.c: the admin side is core's HTTP server, whose
 * names (conn_*) main.c's TCP connections would clash with.
 */
#ifndef TS_DNS_STATS_H
#define TS_DNS_STATS_H

#include <stddef.h>

#include "core/metrics.h"
#include "dns.h"

struct addr;
struct worker;
struct dns_admin;

#define DNS_STATS_RCODES 9  /* NOERROR ... BADVERS, then "other" */
#define DNS_STATS_TYPES  15 /* A ... ANY, then "other" */

/* Metric slots, resolved once per generation for the workers. */
struct dns_stats {
	int queries[2][DNS_STATS_RCODES]; /* by transport (DNS_UDP, DNS_TCP), rcode */
	int types[DNS_STATS_TYPES];
	int dropped[2];
	int edns, truncated, send_errors;
	int tcp_open, tcp_accepted, tcp_refused;
};

/* Define the metrics (again, on a reload: the counts go on) and the zone's
 * gauges, read from z at scrape time. */
void dns_stats_define(struct dns_stats *st, struct metrics *m, const struct dns_zone *z);

/* A message came over t and dns_answer() said info (returning len bytes;
 * 0: nothing sent, the message is dropped). */
void dns_stats_answered(const struct dns_stats *st, struct metrics_shard *sh, enum dns_transport t,
                        size_t len, const struct dns_answer_info *info);

/* A worker's admin listener on a, serving the daemon's /metrics. Returns
 * it, or NULL with err set. */
struct dns_admin *dns_admin_listen(struct worker *w, const struct addr *a, char *err,
                                   size_t errlen);
/* Stop accepting; sessions end after their response. NULL is fine. */
void dns_admin_stop(struct dns_admin *da);
/* After the worker's loop has returned. NULL is fine. */
void dns_admin_free(struct dns_admin *da);

#endif
