/* test_dns_stats.c - what tristack-dns's counters make of dns_answer()'s
 * reports: the right series, every one there from the start. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/metrics.h"
#include "dns/stats.h"
#include "dns_fixture.h"
#include "t.h"

/* The sample of one series in a scrape, or -1. */
static long long sample(const char *text, const char *series)
{
	char want[256];
	snprintf(want, sizeof(want), "\n%s ", series);
	const char *p = strstr(text, want);
	return p ? atoll(p + strlen(want)) : -1;
}

TEST(dns_stats_count_by_transport_rcode_and_type)
{
	struct dns_zone z;
	char err[256];
	CHECK_EQ(dns_fixture_load(&z, DNS_FIXTURE_SMALL_ZONE, err, sizeof(err)), 0);
	struct metrics *m = metrics_new();
	struct dns_stats st;
	dns_stats_define(&st, m, &z);
	struct metrics_shard *sh = metrics_shard_new(m);
	static const struct {
		enum dns_transport t;
		size_t len;
		struct dns_answer_info info;
	} events[] = {
		{ DNS_UDP, 40, { 0, 1, true, false } },    /* NOERROR A, EDNS */
		{ DNS_UDP, 40, { 3, 28, false, false } },  /* NXDOMAIN AAAA */
		{ DNS_UDP, 40, { 3, 28, false, false } },  /* again */
		{ DNS_TCP, 40, { 5, 252, false, false } }, /* REFUSED AXFR */
		{ DNS_UDP, 40, { 16, 1, false, false } },  /* BADVERS: the extended rcode */
		{ DNS_UDP, 12, { 1, 0, false, false } },   /* FORMERR, no question */
		{ DNS_UDP, 40, { 11, 99, false, false } }, /* an rcode and type not named */
		{ DNS_UDP, 512, { 0, 16, true, true } },   /* truncated TXT */
		{ DNS_UDP, 0, { 0, 0, false, false } },    /* dropped */
		{ DNS_TCP, 0, { 0, 0, false, false } },    /* dropped */
	};
	for (size_t i = 0; i < ARRAY_SIZE(events); i++)
		dns_stats_answered(&st, sh, events[i].t, events[i].len, &events[i].info);
	struct sbuf out = { 0 };
	metrics_render(m, &out);
	static const struct {
		const char *series;
		long long want;
	} rows[] = {
		{ "tristack_dns_queries_total{proto=\"udp\",rcode=\"NOERROR\"}", 2 },
		{ "tristack_dns_queries_total{proto=\"udp\",rcode=\"NXDOMAIN\"}", 2 },
		{ "tristack_dns_queries_total{proto=\"tcp\",rcode=\"REFUSED\"}", 1 },
		{ "tristack_dns_queries_total{proto=\"udp\",rcode=\"BADVERS\"}", 1 },
		{ "tristack_dns_queries_total{proto=\"udp\",rcode=\"FORMERR\"}", 1 },
		{ "tristack_dns_queries_total{proto=\"udp\",rcode=\"other\"}", 1 },
		{ "tristack_dns_queries_total{proto=\"tcp\",rcode=\"NOERROR\"}",
		  0 }, /* there at 0 */
		{ "tristack_dns_queries_total{proto=\"udp\",rcode=\"SERVFAIL\"}", 0 },
		{ "tristack_dns_queries_by_type_total{type=\"A\"}", 2 },
		{ "tristack_dns_queries_by_type_total{type=\"AAAA\"}", 2 },
		{ "tristack_dns_queries_by_type_total{type=\"AXFR\"}", 1 },
		{ "tristack_dns_queries_by_type_total{type=\"TXT\"}", 1 },
		{ "tristack_dns_queries_by_type_total{type=\"other\"}", 1 }, /* not the FORMERR */
		{ "tristack_dns_queries_edns_total", 2 },
		{ "tristack_dns_responses_truncated_total", 1 },
		{ "tristack_dns_queries_dropped_total{proto=\"udp\"}", 1 },
		{ "tristack_dns_queries_dropped_total{proto=\"tcp\"}", 1 },
		{ "tristack_dns_zone_serial", 2026112601 },
		{ "tristack_dns_zone_records", 3 },
	};
	for (size_t i = 0; i < ARRAY_SIZE(rows); i++) {
		t_case("dns stats %s", rows[i].series);
		CHECK_EQ(sample(out.p, rows[i].series), rows[i].want);
	}
	sbuf_free(&out);
	metrics_free(m);
	dns_zone_free(&z);
}
