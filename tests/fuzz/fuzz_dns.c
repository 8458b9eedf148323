/* fuzz_dns.c - libFuzzer target for dns_answer, over three zones loaded
 * once: the ones tristack-dns makes from conf/foobar.conf (an embedded copy)
 * and from the hosts of conf/foobar-ha.conf (www at the vip, two name
 * servers with glue), and a zone file with every case answer.c handles (CNAME chains and loops,
 * wildcards, a delegation with glue, an empty non-terminal, RRsets too big
 * for UDP).
 *
 * Any bytes as a query, answered over UDP, over TCP, and into a tight
 * output. Checked on every response: it fits the output it was given (an
 * exact-size heap block, so ASan sees any write past it); it is at least a
 * header, echoes the query's id and has QR; over UDP it is at most 512
 * bytes, or 1232 when the query carried an OPT; over TCP the answer to a
 * standard query is not truncated; and ldns parses it back with the counts the header gives
 * (compression pointers, lengths, every record well formed). Never a crash
 * or a leak. A violation is __builtin_trap(), so libFuzzer saves the input.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ldns/ldns.h>

#include "../unit/dns_fixture.h"
#include "conf/conf.h"
#include "dns/dns.h"
#include "fuzz.h"

/* conf/foobar.conf, its header comment left out. */
static const char foobar_conf[] =
    "[site]\n"
    "domain = foobar.com\n"
    "www    = lb-01          ; www.foobar.com resolves to this host\n"
    "state  = var            ; datadirs, secrets, logs, pids\n"
    "\n"
    "[host lb-01]\n"
    "address = 127.0.0.1\n"
    "roles   = lb, dns\n"
    "\n"
    "[host web-01]\n"
    "address = 127.0.0.2\n"
    "roles   = web, app, db-primary\n"
    "\n"
    "[host web-02]\n"
    "address = 127.0.0.3\n"
    "roles   = web, app, db-replica\n"
    "\n"
    "[lb]\n"
    "listen     = :8080\n"
    "admin      = :8404      ; /metrics\n"
    "balance    = roundrobin\n"
    "access_log = {state}/log/{host}.lb.access.log\n"
    "server     = web-01:8080 weight=1\n"
    "server     = web-02:8080 weight=1\n"
    "\n"
    "[web]\n"
    "listen     = :8080\n"
    "admin      = :8405\n"
    "root       = www\n"
    "proxy      = /api/      ; sent to the app on the same host\n"
    "proxy      = /healthz\n"
    "upstream   = :9000\n"
    "access_log = {state}/log/{host}.web.access.log  ; nginx \"combined\" format\n"
    "\n"
    "[app]\n"
    "listen = :9000\n"
    "\n"
    "[dns]\n"
    "listen = :5353\n";

/* conf/foobar-ha.conf's site and hosts. */
static const char foobar_ha_conf[] = "[site]\ndomain = foobar.com\nvip = 10.0.0.1\n"
                                     "[host lb-01]\naddress = 10.0.0.11\nroles = lb, dns\n"
                                     "[host lb-02]\naddress = 10.0.0.12\nroles = lb, dns\n"
                                     "[host web-01]\naddress = 10.0.0.2\nroles = web, app\n"
                                     "[host web-02]\naddress = 10.0.0.3\nroles = web, app\n";

#define T10  "tttttttttt"
#define T100 T10 T10 T10 T10 T10 T10 T10 T10 T10 T10

/* The unit tests' zone (the one of tests/e2e/test_dns_nsd.py, and then
 * some), with a wildcard MX and an RRset too big for UDP in one record. */
static const char example_zone[] =
    DNS_FIXTURE_EXAMPLE_ZONE "*.wild MX 5 mail\n"
                             "big TXT \"" T100 T100 "\" \"" T100 "\"\n";

static struct conf conf, conf_ha;
static struct dns_zone zones[3];

static void load_zones(void)
{
	static int ready;
	if (ready)
		return;
	char err[512];
	if (conf_load_string(&conf, "foobar.conf", foobar_conf, err, sizeof(err)) < 0 ||
	    dns_zone_from_stack(&zones[0], &conf, (uint32_t)(conf.dns.ttl / 1000), err,
	                        sizeof(err)) < 0 ||
	    dns_zone_load_string(&zones[1], "example.zone", example_zone, "example", 300, err,
	                         sizeof(err)) < 0 ||
	    conf_load_string(&conf_ha, "foobar-ha.conf", foobar_ha_conf, err, sizeof(err)) < 0 ||
	    dns_zone_from_stack(&zones[2], &conf_ha, 300, err, sizeof(err)) < 0) {
		fprintf(stderr, "fuzz_dns: %s\n", err);
		abort();
	}
	ready = 1;
}

/* Could the query carry an OPT record (EDNS)? A loose test: the bytes of
 * one somewhere after the header. */
static int has_opt(const uint8_t *q, size_t qlen)
{
	for (size_t i = 12; i + 3 <= qlen; i++)
		if (q[i] == 0 && q[i + 1] == 0 && q[i + 2] == 41)
			return 1;
	return 0;
}

/* ldns reads the response back, with the counts of its header. Over TCP
 * the answer to a standard query is never truncated (these zones fit any
 * TCP answer); only BADVERS, like NOTIMP and NOTIFY replies, echoes the
 * query's flags, TC among them. */
static void check_parses(const uint8_t *q, const uint8_t *r, size_t n, int tcp_whole)
{
	ldns_pkt *p = NULL;
	REQUIRE(ldns_wire2pkt(&p, r, n) == LDNS_STATUS_OK);
	unsigned ar = (unsigned)r[10] << 8 | r[11];
	REQUIRE(ldns_pkt_qdcount(p) == ((unsigned)r[4] << 8 | r[5]));
	REQUIRE(ldns_pkt_ancount(p) == ((unsigned)r[6] << 8 | r[7]));
	REQUIRE(ldns_pkt_nscount(p) == ((unsigned)r[8] << 8 | r[9]));
	/* ldns takes the OPT out of the additional section */
	REQUIRE(ldns_pkt_arcount(p) + (ldns_pkt_edns(p) ? 1u : 0u) == ar);
	int badvers = ldns_pkt_edns(p) && ldns_pkt_edns_extended_rcode(p) == 1;
	if (tcp_whole && (q[2] & 0x78) == 0 && !badvers)
		REQUIRE(!ldns_pkt_tc(p));
	ldns_pkt_free(p);
}

static void answer(const struct dns_zone *z, const uint8_t *q, size_t qlen, size_t outcap,
                   enum dns_transport t)
{
	uint8_t *out = malloc(outcap ? outcap : 1);
	size_t n = dns_answer(z, q, qlen, out, outcap, t, NULL);
	REQUIRE(n <= outcap);
	if (n > 0) {
		REQUIRE(n >= 12);
		REQUIRE(qlen >= 2 && out[0] == q[0] && out[1] == q[1]);
		REQUIRE(out[2] & 0x80);
		if (t == DNS_UDP)
			REQUIRE(n <= 512 || (n <= 1232 && has_opt(q, qlen)));
		check_parses(q, out, n, t == DNS_TCP && outcap >= 65535);
	}
	free(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	load_zones();
	/* An exact-size copy: a read past the query is caught too. */
	uint8_t *q = (uint8_t *)fuzz_copy(data, size);
	for (size_t i = 0; i < ARRAY_SIZE(zones); i++) {
		answer(&zones[i], q, size, 1232, DNS_UDP);
		answer(&zones[i], q, size, 65535, DNS_TCP);
		answer(&zones[i], q, size, size % 300, DNS_UDP); /* less room than the transport */
	}
	free(q);
	return 0;
}
