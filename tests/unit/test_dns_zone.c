/* The zone file reader (ldns underneath): what it accepts, how it indexes
 * it (names, empty non-terminals, RRsets in file order, duplicates dropped,
 * TTLs by RFC 1035 and 2308), and the errors it names by file:line. */
#include <arpa/inet.h>
#include <fcntl.h>
#include <ldns/ldns.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/common.h"
#include "dns_fixture.h"
#include "t.h"

#define SOA "@ 3600 SOA ns1 hostmaster 1 7200 3600 1209600 60\n"

/* The node of a presentation-format name, or NULL. */
static const struct dns_node *node(const struct dns_zone *z, const char *name)
{
	ldns_rdf *d = ldns_dname_new_frm_str(name);
	const struct dns_node *n = d ? dns_zone_find(z, ldns_rdf_data(d), ldns_rdf_size(d)) : NULL;
	ldns_rdf_deep_free(d);
	return n;
}

static uint32_t ttl_of(const struct dns_zone *z, const char *name, uint16_t type)
{
	const struct dns_node *n = node(z, name);
	const struct dns_rrset *s = n ? dns_node_rrset(n, type) : NULL;
	return s ? s->rrs[0].ttl : 0;
}

struct bad_row {
	const char *text;
	const char *err;
};

static const struct bad_row bad_rows[] = {
	{ "$ORIGIN example.\n" SOA "foo A 1.2.3\n",
	  "z.zone:3: Syntax error, could not parse the RR's rdata" },
	{ SOA "\n; a comment\n\nfoo A 1.2.3.4\nbar ( A\n  1.2.3 ) ; two lines\n",
	  "z.zone:6: Syntax error, could not parse the RR's rdata" },
	{ SOA "foo NOTATYPE 1\n", "z.zone:2: Syntax error, could not parse the RR's rdata" },
	{ "foo A 1.2.3.4\n", "z.zone: no SOA record at the apex example." },
	{ "", "z.zone: no SOA record at the apex example." },
	{ SOA "foo A 1.2.3.4\n@ SOA ns2 hostmaster 2 7200 3600 1209600 60\n",
	  "z.zone:3: example.: a second SOA" },
	{ SOA "foo SOA ns1 hostmaster 1 7200 3600 1209600 60\n",
	  "z.zone:2: foo.example.: SOA not at the zone's apex" },
	{ SOA "www.example.com. A 1.2.3.4\n",
	  "z.zone:2: www.example.com.: out of zone data: outside example." },
	{ SOA "www A 1.2.3.4\nwww CNAME host\n",
	  "z.zone:3: www.example.: CNAME and other data at the same name" },
	{ SOA "www CNAME host\nwww TXT \"x\"\n",
	  "z.zone:3: www.example.: CNAME and other data at the same name" },
	{ SOA "www CNAME host\nwww CNAME other\n",
	  "z.zone:3: www.example.: multiple CNAMEs at the same name" },
	{ SOA "foo CH A 1.2.3.4\n", "z.zone:2: foo.example.: only class IN is served" },
	{ SOA "foo DNAME bar\n", "z.zone:2: foo.example.: DNAME records are not served" },
	{ SOA "$INCLUDE other.zone\n", "z.zone:2: $INCLUDE is not supported" },
	{ SOA
	  "long TXT \"" /* 256 characters in one string */
	  "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
	  "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
	  "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\""
	  "\n",
	  "z.zone:2: Syntax error, could not parse the RR's rdata" },
};

TEST(dns_zone_errors_name_file_and_line)
{
	for (size_t i = 0; i < ARRAY_SIZE(bad_rows); i++) {
		t_case("dns_zone error \"%s\"", bad_rows[i].err);
		struct dns_zone z;
		char err[512] = "";
		CHECK_EQ(dns_fixture_load(&z, bad_rows[i].text, err, sizeof(err)), -1);
		CHECK_STR(err, bad_rows[i].err);
		CHECK(z.mem == NULL && z.table == NULL); /* nothing left behind */
	}
}

TEST(dns_zone_bad_zone_name)
{
	struct dns_zone z;
	char err[256];
	CHECK_EQ(dns_zone_load_string(&z, "z", SOA, "", 300, err, sizeof(err)), -1);
	CHECK_STR(err, "bad zone name ''");
}

TEST(dns_zone_indexes_names_and_rrsets)
{
	struct dns_zone z;
	char err[256] = "";
	int rc =
	    dns_fixture_load(&z,
	                     "$TTL 300\n" SOA "@ NS ns1\n@ A 192.0.2.1\na.b.c A 192.0.2.2\n"
	                     "*.w TXT \"w\"\nMixed.Case A 192.0.2.3\nmixed.case AAAA ::1\n"
	                     "host TXT \"t\"\nhost A 192.0.2.4\nhost TXT \"u\"\nhost A 192.0.2.4\n",
	                     err, sizeof(err));
	CHECK_EQ(rc, 0);
	if (rc < 0) {
		printf("%s\n", err);
		return;
	}
	CHECK_EQ(z.nrecords, 10); /* the second host A is a duplicate */
	CHECK(z.soa && z.ns && z.apex && z.apex->parent == NULL);
	CHECK_EQ(z.neg_ttl, 60);
	t_case("dns_zone empty non-terminals are nodes without RRsets");
	const struct dns_node *b = node(&z, "b.c.example."), *c = node(&z, "c.example.");
	CHECK(b && b->rrsets == NULL && c && c->rrsets == NULL);
	CHECK(b && c && b->parent == c && c->parent == z.apex);
	CHECK(node(&z, "x.example.") == NULL);
	t_case("dns_zone wildcard child");
	const struct dns_node *w = node(&z, "w.example.");
	CHECK(w && w->wildcard == node(&z, "*.w.example."));
	t_case("dns_zone names are found whatever their case");
	CHECK(node(&z, "MIXED.case.EXAMPLE.") != NULL);
	CHECK(node(&z, "mixed.case.example.") == node(&z, "Mixed.Case.example."));
	t_case("dns_zone RRsets in the order of the file");
	const struct dns_node *h = node(&z, "host.example.");
	CHECK(h && h->rrsets && h->rrsets->type == LDNS_RR_TYPE_TXT);
	CHECK(h && h->rrsets && h->rrsets->next && h->rrsets->next->type == LDNS_RR_TYPE_A);
	CHECK(h && dns_node_rrset(h, LDNS_RR_TYPE_TXT)->count == 2);
	CHECK(h && dns_node_rrset(h, LDNS_RR_TYPE_A)->count == 1);
	dns_zone_free(&z);
	CHECK(z.mem == NULL);
}

TEST(dns_zone_ttls)
{
	struct dns_zone z;
	char err[256] = "";
	t_case("dns_zone without $TTL: the last TTL given, else the default");
	CHECK_EQ(dns_fixture_load(
	             &z, "a A 192.0.2.1\n" SOA "b A 192.0.2.2\nc 7 A 192.0.2.3\nd A 192.0.2.4\n",
	             err, sizeof(err)),
	         0);
	CHECK_EQ(ttl_of(&z, "a.example.", LDNS_RR_TYPE_A), 300);
	CHECK_EQ(ttl_of(&z, "b.example.", LDNS_RR_TYPE_A), 3600);
	CHECK_EQ(ttl_of(&z, "d.example.", LDNS_RR_TYPE_A), 7);
	dns_zone_free(&z);
	t_case("dns_zone with $TTL: $TTL");
	CHECK_EQ(dns_fixture_load(&z,
	                          "$TTL 1h\n" SOA "b A 192.0.2.2\nc 7 A 192.0.2.3\nd A 192.0.2.4\n",
	                          err, sizeof(err)),
	         0);
	CHECK_EQ(ttl_of(&z, "b.example.", LDNS_RR_TYPE_A), 3600);
	CHECK_EQ(ttl_of(&z, "c.example.", LDNS_RR_TYPE_A), 7);
	CHECK_EQ(ttl_of(&z, "d.example.", LDNS_RR_TYPE_A), 3600);
	dns_zone_free(&z);
	t_case("dns_zone negative TTL is the SOA's TTL when lower than MINIMUM");
	CHECK_EQ(dns_fixture_load(&z, "@ 30 SOA ns1 hostmaster 1 7200 3600 1209600 600\n", err,
	                          sizeof(err)),
	         0);
	CHECK_EQ(z.neg_ttl, 30);
	dns_zone_free(&z);
}

TEST(dns_zone_origin_and_multiline)
{
	struct dns_zone z;
	char err[256] = "";
	int rc = dns_fixture_load(
	    &z,
	    "$ORIGIN example.\n@ IN SOA ns1 hostmaster (\n  2024 ; serial\n  7200 3600\n"
	    "  1209600 60 )\n$ORIGIN sub.example.\nwww A 192.0.2.9\n"
	    "$ORIGIN example.\n  TXT \"same owner as above\"\n",
	    err, sizeof(err));
	CHECK_EQ(rc, 0);
	if (rc < 0) {
		printf("%s\n", err);
		return;
	}
	CHECK(node(&z, "www.sub.example.") != NULL);
	const struct dns_node *www = node(&z, "www.sub.example.");
	CHECK(www && dns_node_rrset(www, LDNS_RR_TYPE_TXT) != NULL);
	dns_zone_free(&z);
}

TEST(dns_zone_from_a_file)
{
	char path[] = "/tmp/tristack-test-zone-XXXXXX";
	int fd = mkstemp(path);
	CHECK(fd >= 0);
	if (fd < 0)
		return;
	const char text[] = DNS_FIXTURE_SMALL_ZONE;
	CHECK_EQ(write(fd, text, sizeof(text) - 1), (ssize_t)(sizeof(text) - 1));
	close(fd);
	struct dns_zone z;
	char err[512] = "";
	CHECK_EQ(dns_zone_load_file(&z, path, "example.", 300, err, sizeof(err)), 0);
	CHECK_EQ(z.nrecords, 3);
	dns_zone_free(&z);

	t_case("dns_zone_load_file names the file in errors");
	fd = open(path, O_WRONLY | O_APPEND);
	CHECK(write(fd, "bad A x\n", 8) == 8);
	close(fd);
	char want[600];
	snprintf(want, sizeof(want), "%s:5: Syntax error, could not parse the RR's rdata", path);
	CHECK_EQ(dns_zone_load_file(&z, path, "example.", 300, err, sizeof(err)), -1);
	CHECK_STR(err, want);

	t_case("dns_zone_load_file refuses a binary file");
	fd = open(path, O_WRONLY | O_TRUNC);
	CHECK(write(fd, "a\0b", 3) == 3);
	close(fd);
	CHECK_EQ(dns_zone_load_file(&z, path, "example.", 300, err, sizeof(err)), -1);
	CHECK(strstr(err, "not a text file") != NULL);
	unlink(path);

	t_case("dns_zone_load_file of a missing file");
	CHECK_EQ(dns_zone_load_file(&z, path, "example.", 300, err, sizeof(err)), -1);
	snprintf(want, sizeof(want), "%s: No such file or directory", path);
	CHECK_STR(err, want);
}

/* ---- the zone of the stack file ---- */

/* An RRset's rdata i is the address text (A or AAAA). */
static bool rdata_is_addr(const struct dns_rrset *set, unsigned i, const char *text)
{
	uint8_t want[16];
	int family = strchr(text, ':') ? AF_INET6 : AF_INET;
	size_t n = family == AF_INET ? 4 : 16;
	if (set == NULL || i >= set->count || inet_pton(family, text, want) != 1)
		return false;
	return set->rrs[i].rdlen == n && memcmp(set->rrs[i].rdata, want, n) == 0;
}

/* An RRset's rdata i (NS) or its first name (SOA MNAME) is name. */
static bool rdata_is_name(const struct dns_rrset *set, unsigned i, const char *name)
{
	ldns_rdf *d = ldns_dname_new_frm_str(name);
	bool ok =
	    d && set && i < set->count && set->rrs[i].rdlen >= ldns_rdf_size(d) &&
	    dns_name_equal(set->rrs[i].rdata, ldns_rdf_size(d), ldns_rdf_data(d), ldns_rdf_size(d));
	ldns_rdf_deep_free(d);
	return ok;
}

static const struct dns_rrset *rrset(const struct dns_zone *z, const char *name, uint16_t type)
{
	const struct dns_node *n = node(z, name);
	return n ? dns_node_rrset(n, type) : NULL;
}

#define SEED_HOSTS                                                                                 \
	"[host lb-01]\naddress = 10.0.0.1\nroles = lb, dns\n"                                      \
	"[host web-01]\naddress = 10.0.0.2\nroles = web, app\n"                                    \
	"[host web-02]\naddress = 10.0.0.3\nroles = web, app\n"

TEST(dns_zone_from_stack_seed_layout)
{
	struct conf s;
	struct dns_zone z;
	char err[256] = "";
	int rc = dns_fixture_from_stack(
	    &z, &s, "[site]\ndomain = foobar.com\nwww = lb-01\n" SEED_HOSTS, 300, err, sizeof(err));
	CHECK_EQ(rc, 0);
	if (rc < 0) {
		printf("%s\n", err);
		return;
	}
	/* SOA, NS, three hosts, ns1, www: as before the floating address */
	CHECK_EQ(z.nrecords, 7);
	CHECK(rdata_is_name(z.soa, 0, "ns1.foobar.com."));
	CHECK(z.ns && z.ns->count == 1 && rdata_is_name(z.ns, 0, "ns1.foobar.com."));
	CHECK(rdata_is_addr(rrset(&z, "ns1.foobar.com.", LDNS_RR_TYPE_A), 0, "10.0.0.1"));
	CHECK(rdata_is_addr(rrset(&z, "www.foobar.com.", LDNS_RR_TYPE_A), 0, "10.0.0.1"));
	CHECK(rdata_is_addr(rrset(&z, "web-02.foobar.com.", LDNS_RR_TYPE_A), 0, "10.0.0.3"));
	t_case("dns_zone from the stack: no A record at the apex");
	CHECK(rrset(&z, "foobar.com.", LDNS_RR_TYPE_A) == NULL);
	CHECK(node(&z, "ns2.foobar.com.") == NULL);
	dns_zone_free(&z);
	conf_free(&s);

	t_case("dns_zone from the stack: www names another host");
	rc =
	    dns_fixture_from_stack(&z, &s, "[site]\ndomain = foobar.com\nwww = web-02\n" SEED_HOSTS,
	                           300, err, sizeof(err));
	CHECK_EQ(rc, 0);
	if (rc == 0) {
		CHECK(rdata_is_addr(rrset(&z, "www.foobar.com.", LDNS_RR_TYPE_A), 0, "10.0.0.3"));
		dns_zone_free(&z);
		conf_free(&s);
	}

	t_case("dns_zone from the stack: no host has the dns role");
	rc = dns_fixture_from_stack(&z, &s,
	                            "[site]\ndomain = foobar.com\nwww = web-01\n"
	                            "[host web-01]\naddress = 10.0.0.2\nroles = web\n",
	                            300, err, sizeof(err));
	CHECK_EQ(rc, 0);
	if (rc == 0) {
		CHECK(z.ns && z.ns->count == 1 && rdata_is_name(z.ns, 0, "ns1.foobar.com."));
		CHECK(node(&z, "ns1.foobar.com.") == NULL);
		dns_zone_free(&z);
		conf_free(&s);
	}
}

/* conf/foobar-ha.conf's hosts: two LBs, both name servers, and the vip. */
#define HA_STACK                                                                                   \
	"[site]\ndomain = foobar.com\nvip = 10.0.0.1\n"                                            \
	"[host lb-01]\naddress = 10.0.0.11\nroles = lb, dns\n"                                     \
	"[host lb-02]\naddress = 10.0.0.12\nroles = lb, dns\n"                                     \
	"[host web-01]\naddress = 10.0.0.2\nroles = web, app\n"                                    \
	"[host web-02]\naddress = 10.0.0.3\nroles = web, app\n"

TEST(dns_zone_from_stack_ha_layout)
{
	struct conf s;
	struct dns_zone z;
	char err[256] = "";
	int rc = dns_fixture_from_stack(&z, &s, HA_STACK, 300, err, sizeof(err));
	CHECK_EQ(rc, 0);
	if (rc < 0) {
		printf("%s\n", err);
		return;
	}
	/* SOA, two NS, four hosts, ns1 and ns2, www */
	CHECK_EQ(z.nrecords, 10);
	t_case("dns_zone HA: www is the floating address");
	CHECK(rdata_is_addr(rrset(&z, "www.foobar.com.", LDNS_RR_TYPE_A), 0, "10.0.0.1"));
	CHECK_EQ(rrset(&z, "www.foobar.com.", LDNS_RR_TYPE_A)->count, 1);
	t_case("dns_zone HA: a name server per dns host, in host order, with glue");
	CHECK(z.ns && z.ns->count == 2);
	CHECK(rdata_is_name(z.ns, 0, "ns1.foobar.com."));
	CHECK(rdata_is_name(z.ns, 1, "ns2.foobar.com."));
	CHECK(rdata_is_addr(rrset(&z, "ns1.foobar.com.", LDNS_RR_TYPE_A), 0, "10.0.0.11"));
	CHECK(rdata_is_addr(rrset(&z, "ns2.foobar.com.", LDNS_RR_TYPE_A), 0, "10.0.0.12"));
	CHECK(rdata_is_name(z.soa, 0, "ns1.foobar.com."));
	t_case("dns_zone HA: each host keeps its own name and address");
	CHECK(rdata_is_addr(rrset(&z, "lb-02.foobar.com.", LDNS_RR_TYPE_A), 0, "10.0.0.12"));
	CHECK(rrset(&z, "foobar.com.", LDNS_RR_TYPE_A) == NULL);
	dns_zone_free(&z);
	conf_free(&s);
}
