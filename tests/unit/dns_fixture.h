/* dns_fixture.h - the zones the DNS tests ask their questions of.
 *
 * DNS_FIXTURE_EXAMPLE_ZONE is the zone "example." with a case of each thing
 * dns_answer handles: CNAME chains, a loop and a dangling one, a wildcard, a
 * delegation with glue, an empty non-terminal, an RRset too big for UDP.
 * NSD 4.6 gave the answers that test_dns_answer.c expects of it (and
 * tests/e2e/test_dns_nsd.py keeps asking a running NSD); fuzz_dns asks it
 * anything, with a few records added.
 *
 * DNS_FIXTURE_SMALL_ZONE is the least a zone has: $TTL, SOA (serial
 * 2026112601), NS and the name server's address, one a line: 3 records.
 */
#ifndef TS_TEST_DNS_FIXTURE_H
#define TS_TEST_DNS_FIXTURE_H

#include <stddef.h>
#include <stdint.h>

#include "conf/conf.h"
#include "dns/dns.h"

#define DNS_FIXTURE_EXAMPLE_ZONE                                                                   \
	"$ORIGIN example.\n"                                                                       \
	"$TTL 300\n"                                                                               \
	"@ 3600 SOA ns1 hostmaster 2024010101 7200 3600 1209600 60\n"                              \
	"@ NS ns1\n"                                                                               \
	"@ NS ns.other.net.\n"                                                                     \
	"@ A 192.0.2.1\n"                                                                          \
	"@ MX 10 mail\n"                                                                           \
	"@ MX 20 mx.other.net.\n"                                                                  \
	"ns1 A 192.0.2.53\n"                                                                       \
	"ns1 AAAA 2001:db8::53\n"                                                                  \
	"mail A 192.0.2.25\n"                                                                      \
	"host A 192.0.2.10\n"                                                                      \
	"host AAAA 2001:db8::10\n"                                                                 \
	"www CNAME host\n"                                                                         \
	"out CNAME www.other.net.\n"                                                               \
	"c1 CNAME c2\n"                                                                            \
	"c2 CNAME host\n"                                                                          \
	"dangling CNAME nothere\n"                                                                 \
	"loop1 CNAME loop2\n"                                                                      \
	"loop2 CNAME loop1\n"                                                                      \
	"txt TXT \"hello world\" \"say \\\"hi\\\"\"\n"                                             \
	"a.b A 192.0.2.20\n"                                                                       \
	"*.wild A 10.2.2.2\n"                                                                      \
	"wc CNAME foo.wild\n"                                                                      \
	"sub NS ns1.sub\n"                                                                         \
	"sub NS ns.other.net.\n"                                                                   \
	"ns1.sub A 10.1.1.1\n"                                                                     \
	"todeleg CNAME www.sub\n"                                                                  \
	"mxglue MX 10 ns1.sub\n"                                                                   \
	"srv SRV 0 5 5060 host\n"                                                                  \
	"multi TXT \"one\"\n"                                                                      \
	"multi MX 1 mail\n"                                                                        \
	"multi A 10.3.3.3\n"                                                                       \
	"big A 10.0.0.1\nbig A 10.0.0.2\nbig A 10.0.0.3\nbig A 10.0.0.4\nbig A 10.0.0.5\n"         \
	"big A 10.0.0.6\nbig A 10.0.0.7\nbig A 10.0.0.8\nbig A 10.0.0.9\nbig A 10.0.0.10\n"        \
	"big A 10.0.0.11\nbig A 10.0.0.12\nbig A 10.0.0.13\nbig A 10.0.0.14\n"                     \
	"big A 10.0.0.15\nbig A 10.0.0.16\nbig A 10.0.0.17\nbig A 10.0.0.18\n"                     \
	"big A 10.0.0.19\nbig A 10.0.0.20\nbig A 10.0.0.21\nbig A 10.0.0.22\n"                     \
	"big A 10.0.0.23\nbig A 10.0.0.24\nbig A 10.0.0.25\nbig A 10.0.0.26\n"                     \
	"big A 10.0.0.27\nbig A 10.0.0.28\nbig A 10.0.0.29\nbig A 10.0.0.30\n"                     \
	"big A 10.0.0.31\nbig A 10.0.0.32\nbig A 10.0.0.33\nbig A 10.0.0.34\n"                     \
	"big A 10.0.0.35\nbig A 10.0.0.36\nbig A 10.0.0.37\nbig A 10.0.0.38\n"                     \
	"big A 10.0.0.39\nbig A 10.0.0.40\n"

#define DNS_FIXTURE_SMALL_ZONE                                                                     \
	"$TTL 300\n"                                                                               \
	"@ IN SOA ns1 hostmaster 2026112601 7200 3600 1209600 60\n"                                \
	"@ IN NS ns1\n"                                                                            \
	"ns1 IN A 192.0.2.1\n"

/* Load text as the zone "example." from a file called "z.zone" (errors
 * read "z.zone:LINE: ..."), 300 s for records without a TTL. 0, or -1 with
 * the reason in err. */
int dns_fixture_load(struct dns_zone *z, const char *text, char *err, size_t errlen);

/* DNS_FIXTURE_EXAMPLE_ZONE, loaded on first use and kept; NULL (the reason
 * printed) when it does not load. */
const struct dns_zone *dns_fixture_example(void);

/* The zone tristack-dns makes without a zone file, from the stack file
 * text conf (loaded into *s, which the caller frees with conf_free), its
 * TTL ttl seconds. 0, or -1 with the reason in err. */
int dns_fixture_from_stack(struct dns_zone *z, struct conf *s, const char *conf, uint32_t ttl,
                           char *err, size_t errlen);

#endif
