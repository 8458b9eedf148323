/* stats.c - tristack-dns's counters and admin listener. See stats.h. */
#include "stats.h"

#include <stdio.h>
#include <stdlib.h>

#include "conf/names.h"
#include "core/httpd.h"

/* The rcodes a response of ours can carry (RFC 6895), by label index. */
static const struct {
	unsigned rcode;
	const char *name;
} rcodes[DNS_STATS_RCODES - 1] = {
	{ 0, "NOERROR" }, { 1, "FORMERR" }, { 2, "SERVFAIL" }, { 3, "NXDOMAIN" },
	{ 4, "NOTIMP" },  { 5, "REFUSED" }, { 9, "NOTAUTH" },  { 16, "BADVERS" },
};

/* The query types counted by name, as NSD's num.type.* (the rest: other). */
static const struct {
	unsigned type;
	const char *name;
} types[DNS_STATS_TYPES - 1] = {
	{ 1, "A" },       { 2, "NS" },     { 5, "CNAME" },  { 6, "SOA" },   { 12, "PTR" },
	{ 15, "MX" },     { 16, "TXT" },   { 28, "AAAA" },  { 33, "SRV" },  { 43, "DS" },
	{ 48, "DNSKEY" }, { 251, "IXFR" }, { 252, "AXFR" }, { 255, "ANY" },
};

static const char *const protos[2] = { [DNS_UDP] = "udp", [DNS_TCP] = "tcp" };

static unsigned rcode_index(unsigned rcode)
{
	for (unsigned i = 0; i < ARRAY_SIZE(rcodes); i++)
		if (rcodes[i].rcode == rcode)
			return i;
	return DNS_STATS_RCODES - 1;
}

static unsigned type_index(unsigned type)
{
	for (unsigned i = 0; i < ARRAY_SIZE(types); i++)
		if (types[i].type == type)
			return i;
	return DNS_STATS_TYPES - 1;
}

static double zone_serial(void *arg)
{
	return (double)dns_zone_serial(arg);
}

static double zone_records(void *arg)
{
	const struct dns_zone *z = arg;
	return (double)z->nrecords;
}

void dns_stats_define(struct dns_stats *st, struct metrics *m, const struct dns_zone *z)
{
	char labels[96];
	for (int t = DNS_UDP; t <= DNS_TCP; t++) {
		for (unsigned i = 0; i < DNS_STATS_RCODES; i++) {
			snprintf(labels, sizeof(labels), "proto=\"%s\",rcode=\"%s\"", protos[t],
			         i < ARRAY_SIZE(rcodes) ? rcodes[i].name : "other");
			st->queries[t][i] = metrics_slot(
			    m, metrics_counter(m, METRIC_DNS METRIC_QUERIES,
			                       "Queries answered, by transport and response code",
			                       labels));
		}
	}
	for (unsigned i = 0; i < DNS_STATS_TYPES; i++) {
		snprintf(labels, sizeof(labels), "type=\"%s\"",
		         i < ARRAY_SIZE(types) ? types[i].name : "other");
		st->types[i] = metrics_slot(
		    m, metrics_counter(m, "tristack_dns_queries_by_type_total",
		                       "Queries answered, by the question's type", labels));
	}
	for (int t = DNS_UDP; t <= DNS_TCP; t++) {
		snprintf(labels, sizeof(labels), "proto=\"%s\"", protos[t]);
		st->dropped[t] = metrics_slot(
		    m, metrics_counter(m, "tristack_dns_queries_dropped_total",
		                       "Messages not answered: responses, or too short or long",
		                       labels));
	}
	st->edns = metrics_slot(
	    m, metrics_counter(m, "tristack_dns_queries_edns_total",
	                       "Queries answered that carried an EDNS OPT record", NULL));
	st->truncated =
	    metrics_slot(m, metrics_counter(m, "tristack_dns_responses_truncated_total",
	                                    "Responses sent with TC set (too big for UDP)", NULL));
	st->send_errors =
	    metrics_slot(m, metrics_counter(m, "tristack_dns_send_errors_total",
	                                    "UDP responses the socket refused", NULL));
	st->tcp_open = metrics_slot(
	    m, metrics_gauge(m, "tristack_dns_tcp_connections", "Open TCP connections", NULL));
	st->tcp_accepted =
	    metrics_slot(m, metrics_counter(m, "tristack_dns_tcp_connections_accepted_total",
	                                    "TCP connections accepted", NULL));
	st->tcp_refused = metrics_slot(
	    m, metrics_counter(m, "tristack_dns_tcp_connections_refused_total",
	                       "TCP connections closed at once: the worker was full", NULL));
	metrics_gauge_fn(m, "tristack_dns_zone_serial", "SOA serial of the zone served", NULL,
	                 zone_serial, (void *)z);
	metrics_gauge_fn(m, "tristack_dns_zone_records", "Records in the zone served", NULL,
	                 zone_records, (void *)z);
}

void dns_stats_answered(const struct dns_stats *st, struct metrics_shard *sh, enum dns_transport t,
                        size_t len, const struct dns_answer_info *info)
{
	if (len == 0) {
		metrics_add(sh, st->dropped[t], 1);
		return;
	}
	metrics_add(sh, st->queries[t][rcode_index(info->rcode)], 1);
	if (info->qtype)
		metrics_add(sh, st->types[type_index(info->qtype)], 1);
	if (info->edns)
		metrics_add(sh, st->edns, 1);
	if (info->truncated)
		metrics_add(sh, st->truncated, 1);
}

/* ---- the admin listener ---- */

struct dns_admin {
	struct httpd_server srv;
};

struct dns_admin *dns_admin_listen(struct worker *w, const struct addr *a, char *err, size_t errlen)
{
	struct dns_admin *da = xcalloc(1, sizeof(*da));
	httpd_server_init(&da->srv, w, NULL, httpd_admin_handler, w->d);
	if (httpd_server_listen(&da->srv, a, 0, err, errlen) < 0) {
		httpd_server_free(&da->srv);
		free(da);
		return NULL;
	}
	return da;
}

void dns_admin_stop(struct dns_admin *da)
{
	if (da)
		httpd_server_stop(&da->srv);
}

void dns_admin_free(struct dns_admin *da)
{
	if (da == NULL)
		return;
	httpd_server_free(&da->srv);
	free(da);
}
