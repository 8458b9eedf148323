/* dns_answer: one query in, one response out, against a zone built from a
 * string (dns_fixture.h). The expectations are NSD 4.6's answers to the same queries on the
 * same zone (checked with dig while writing them; tests/e2e/test_dns_nsd.py
 * keeps checking against a running NSD): sections in NSD's order, the
 * negative SOA with TTL min(TTL, MINIMUM), the apex NS in the authority of
 * positive answers, A/AAAA of in-zone targets as additional data, owner
 * names in the query's case, TC with the RRsets that fit. Responses are read
 * back with ldns. */
#include <ldns/ldns.h>
#include <stdio.h>
#include <string.h>

#include "conf/conf.h"
#include "core/common.h"
#include "dns_fixture.h"
#include "t.h"

/* ---- queries ---- */

enum { NOEDNS = -1 };

struct q {
	const char *name;
	uint16_t type;
	uint16_t klass; /* 0: IN */
	uint16_t flags; /* 0: RD only (0x0100) */
	int edns;       /* NOEDNS, or the UDP size */
	uint8_t version;
	uint16_t eflags;
};

static size_t put_name(uint8_t *p, const char *name)
{
	size_t n = 0;
	while (*name) {
		const char *dot = strchr(name, '.');
		size_t len = dot ? (size_t)(dot - name) : strlen(name);
		p[n++] = (uint8_t)len;
		memcpy(p + n, name, len);
		n += len;
		name += len + (dot ? 1 : 0);
	}
	p[n++] = 0;
	return n;
}

static size_t put_opt(uint8_t *p, uint16_t size, uint8_t version, uint16_t flags)
{
	uint8_t opt[11] = { 0,
		            0,
		            41,
		            (uint8_t)(size >> 8),
		            (uint8_t)size,
		            0,
		            version,
		            (uint8_t)(flags >> 8),
		            (uint8_t)flags,
		            0,
		            0 };
	memcpy(p, opt, sizeof(opt));
	return sizeof(opt);
}

static size_t build(uint8_t *p, const struct q *q)
{
	uint16_t flags = q->flags ? q->flags : 0x0100;
	uint8_t h[12] = { 0xbe, 0xef, (uint8_t)(flags >> 8),    (uint8_t)flags, 0, 1, 0, 0, 0,
		          0,    0,    q->edns == NOEDNS ? 0 : 1 };
	memcpy(p, h, 12);
	size_t n = 12 + put_name(p + 12, q->name);
	uint16_t klass = q->klass ? q->klass : 1;
	p[n++] = (uint8_t)(q->type >> 8);
	p[n++] = (uint8_t)q->type;
	p[n++] = (uint8_t)(klass >> 8);
	p[n++] = (uint8_t)klass;
	if (q->edns != NOEDNS)
		n += put_opt(p + n, (uint16_t)q->edns, q->version, q->eflags);
	return n;
}

/* ---- responses ---- */

static uint8_t out[65535];
static struct dns_answer_info info; /* of the last answer_raw */

static size_t answer_raw(const uint8_t *q, size_t n, enum dns_transport t)
{
	return dns_answer(dns_fixture_example(), q, n, out, sizeof(out), t, &info);
}

static ldns_pkt *ask(const struct q *q, enum dns_transport t, size_t *len)
{
	uint8_t buf[600];
	size_t n = answer_raw(buf, build(buf, q), t);
	if (len)
		*len = n;
	ldns_pkt *p = NULL;
	if (n == 0 || ldns_wire2pkt(&p, out, n) != LDNS_STATUS_OK)
		return NULL;
	return p;
}

/* A section as "owner ttl class type rdata; ..." in order. */
static const char *section(ldns_rr_list *l, char *s, size_t cap)
{
	size_t o = 0;
	s[0] = '\0';
	for (size_t i = 0; l && i < ldns_rr_list_rr_count(l); i++) {
		char *r = ldns_rr2str(ldns_rr_list_rr(l, i));
		for (char *c = r; *c; c++)
			if (*c == '\t')
				*c = ' ';
		size_t rl = strlen(r);
		if (rl && r[rl - 1] == '\n')
			r[--rl] = '\0';
		o += (size_t)snprintf(s + o, o < cap ? cap - o : 0, "%s%s", o ? "; " : "", r);
		free(r);
	}
	return s;
}

#define NS_AUTH  "example. 300 IN NS ns1.example.; example. 300 IN NS ns.other.net."
#define NS1_GLUE "ns1.example. 300 IN A 192.0.2.53; ns1.example. 300 IN AAAA 2001:db8::53"
#define NEG_SOA                                                                                    \
	"example. 60 IN SOA ns1.example. hostmaster.example. 2024010101 7200 3600 1209600 60"

enum { AA = 1, TC = 2 };

struct row {
	struct q q;
	int transport;
	int rcode; /* with the extended bits */
	int flags; /* AA, TC */
	const char *an, *ns, *ar;
};

static const struct row rows[] = {
	/* positive answers: the apex NS in the authority, its glue */
	{ { "host.example", LDNS_RR_TYPE_A, 0, 0, NOEDNS, 0, 0 },
	  DNS_UDP,
	  0,
	  AA,
	  "host.example. 300 IN A 192.0.2.10",
	  NS_AUTH,
	  NS1_GLUE },
	{ { "host.example", LDNS_RR_TYPE_AAAA, 0, 0, NOEDNS, 0, 0 },
	  DNS_UDP,
	  0,
	  AA,
	  "host.example. 300 IN AAAA 2001:db8::10",
	  NS_AUTH,
	  NS1_GLUE },
	{ { "example", LDNS_RR_TYPE_SOA, 0, 0, NOEDNS, 0, 0 },
	  DNS_UDP,
	  0,
	  AA,
	  "example. 3600 IN SOA ns1.example. hostmaster.example. 2024010101 7200 3600 1209600 60",
	  NS_AUTH,
	  NS1_GLUE },
	{ { "example", LDNS_RR_TYPE_NS, 0, 0, NOEDNS, 0, 0 },
	  DNS_UDP,
	  0,
	  AA,
	  NS_AUTH,
	  "",
	  NS1_GLUE },
	{ { "example", LDNS_RR_TYPE_MX, 0, 0, NOEDNS, 0, 0 },
	  DNS_UDP,
	  0,
	  AA,
	  "example. 300 IN MX 10 mail.example.; example. 300 IN MX 20 mx.other.net.",
	  NS_AUTH,
	  "mail.example. 300 IN A 192.0.2.25; " NS1_GLUE },
	{ { "txt.example", LDNS_RR_TYPE_TXT, 0, 0, NOEDNS, 0, 0 },
	  DNS_UDP,
	  0,
	  AA,
	  "txt.example. 300 IN TXT \"hello world\" \"say \\\"hi\\\"\"",
	  NS_AUTH,
	  NS1_GLUE },
	{ { "a.b.example", LDNS_RR_TYPE_A, 0, 0, NOEDNS, 0, 0 },
	  DNS_UDP,
	  0,
	  AA,
	  "a.b.example. 300 IN A 192.0.2.20",
	  NS_AUTH,
	  NS1_GLUE },
	/* an in-zone target of NS gets its A and AAAA, of MX only if not glue */
	{ { "mxglue.example", LDNS_RR_TYPE_MX, 0, 0, NOEDNS, 0, 0 },
	  DNS_UDP,
	  0,
	  AA,
	  "mxglue.example. 300 IN MX 10 ns1.sub.example.",
	  NS_AUTH,
	  NS1_GLUE },
	{ { "srv.example", LDNS_RR_TYPE_SRV, 0, 0, NOEDNS, 0, 0 },
	  DNS_UDP,
	  0,
	  AA,
	  "srv.example. 300 IN SRV 0 5 5060 host.example.",
	  NS_AUTH,
	  "host.example. 300 IN A 192.0.2.10; ns1.example. 300 IN A 192.0.2.53; "
	  "host.example. 300 IN AAAA 2001:db8::10; ns1.example. 300 IN AAAA 2001:db8::53" },
	/* the name asked for is in the answer once, not again as additional */
	{ { "ns1.example", LDNS_RR_TYPE_A, 0, 0, NOEDNS, 0, 0 },
	  DNS_UDP,
	  0,
	  AA,
	  "ns1.example. 300 IN A 192.0.2.53",
	  NS_AUTH,
	  "ns1.example. 300 IN AAAA 2001:db8::53" },
	/* CNAMEs: answered, then followed inside the zone */
	{ { "www.example", LDNS_RR_TYPE_A, 0, 0, NOEDNS, 0, 0 },
	  DNS_UDP,
	  0,
	  AA,
	  "www.example. 300 IN CNAME host.example.; host.example. 300 IN A 192.0.2.10",
	  NS_AUTH,
	  NS1_GLUE },
	{ { "www.example", LDNS_RR_TYPE_AAAA, 0, 0, NOEDNS, 0, 0 },
	  DNS_UDP,
	  0,
	  AA,
	  "www.example. 300 IN CNAME host.example.; host.example. 300 IN AAAA 2001:db8::10",
	  NS_AUTH,
	  NS1_GLUE },
	{ { "www.example", LDNS_RR_TYPE_CNAME, 0, 0, NOEDNS, 0, 0 },
	  DNS_UDP,
	  0,
	  AA,
	  "www.example. 300 IN CNAME host.example.",
	  NS_AUTH,
	  NS1_GLUE },
	{ { "www.example", LDNS_RR_TYPE_MX, 0, 0, NOEDNS, 0, 0 },
	  DNS_UDP,
	  0,
	  AA,
	  "www.example. 300 IN CNAME host.example.",
	  NEG_SOA,
	  "" },
	{ { "c1.example", LDNS_RR_TYPE_A, 0, 0, NOEDNS, 0, 0 },
	  DNS_UDP,
	  0,
	  AA,
	  "c1.example. 300 IN CNAME c2.example.; c2.example. 300 IN CNAME host.example.; "
	  "host.example. 300 IN A 192.0.2.10",
	  NS_AUTH,
	  NS1_GLUE },
	{ { "out.example", LDNS_RR_TYPE_A, 0, 0, NOEDNS, 0, 0 },
	  DNS_UDP,
	  0,
	  AA,
	  "out.example. 300 IN CNAME www.other.net.",
	  "",
	  "" },
	{ { "dangling.example", LDNS_RR_TYPE_A, 0, 0, NOEDNS, 0, 0 },
	  DNS_UDP,
	  LDNS_RCODE_NXDOMAIN,
	  AA,
	  "dangling.example. 300 IN CNAME nothere.example.",
	  NEG_SOA,
	  "" },
	{ { "loop1.example", LDNS_RR_TYPE_A, 0, 0, NOEDNS, 0, 0 },
	  DNS_UDP,
	  0,
	  AA,
	  "loop1.example. 300 IN CNAME loop2.example.; loop2.example. 300 IN CNAME loop1.example.",
	  "",
	  "" },
	/* NXDOMAIN and NODATA, the SOA with TTL min(3600, 60) */
	{ { "nx.example", LDNS_RR_TYPE_A, 0, 0, NOEDNS, 0, 0 },
	  DNS_UDP,
	  LDNS_RCODE_NXDOMAIN,
	  AA,
	  "",
	  NEG_SOA,
	  "" },
	{ { "x.nx.example", LDNS_RR_TYPE_A, 0, 0, NOEDNS, 0, 0 },
	  DNS_UDP,
	  LDNS_RCODE_NXDOMAIN,
	  AA,
	  "",
	  NEG_SOA,
	  "" },
	{ { "x.www.example", LDNS_RR_TYPE_A, 0, 0, NOEDNS, 0, 0 },
	  DNS_UDP,
	  LDNS_RCODE_NXDOMAIN,
	  AA,
	  "",
	  NEG_SOA,
	  "" },
	{ { "host.example", LDNS_RR_TYPE_MX, 0, 0, NOEDNS, 0, 0 },
	  DNS_UDP,
	  0,
	  AA,
	  "",
	  NEG_SOA,
	  "" },
	{ { "b.example", LDNS_RR_TYPE_A, 0, 0, NOEDNS, 0, 0 }, DNS_UDP, 0, AA, "", NEG_SOA, "" },
	{ { "b.example", LDNS_RR_TYPE_ANY, 0, 0, NOEDNS, 0, 0 }, DNS_UDP, 0, AA, "", NEG_SOA, "" },
	/* wildcards */
	{ { "foo.wild.example", LDNS_RR_TYPE_A, 0, 0, NOEDNS, 0, 0 },
	  DNS_UDP,
	  0,
	  AA,
	  "foo.wild.example. 300 IN A 10.2.2.2",
	  NS_AUTH,
	  NS1_GLUE },
	{ { "foo.wild.example", LDNS_RR_TYPE_TXT, 0, 0, NOEDNS, 0, 0 },
	  DNS_UDP,
	  0,
	  AA,
	  "",
	  NEG_SOA,
	  "" },
	{ { "wild.example", LDNS_RR_TYPE_A, 0, 0, NOEDNS, 0, 0 }, DNS_UDP, 0, AA, "", NEG_SOA, "" },
	{ { "wc.example", LDNS_RR_TYPE_A, 0, 0, NOEDNS, 0, 0 },
	  DNS_UDP,
	  0,
	  AA,
	  "wc.example. 300 IN CNAME foo.wild.example.; foo.wild.example. 300 IN A 10.2.2.2",
	  NS_AUTH,
	  NS1_GLUE },
	/* a delegation: a referral with glue, not authoritative */
	{ { "sub.example", LDNS_RR_TYPE_A, 0, 0, NOEDNS, 0, 0 },
	  DNS_UDP,
	  0,
	  0,
	  "",
	  "sub.example. 300 IN NS ns1.sub.example.; sub.example. 300 IN NS ns.other.net.",
	  "ns1.sub.example. 300 IN A 10.1.1.1" },
	{ { "www.sub.example", LDNS_RR_TYPE_AAAA, 0, 0, NOEDNS, 0, 0 },
	  DNS_UDP,
	  0,
	  0,
	  "",
	  "sub.example. 300 IN NS ns1.sub.example.; sub.example. 300 IN NS ns.other.net.",
	  "ns1.sub.example. 300 IN A 10.1.1.1" },
	{ { "sub.example", LDNS_RR_TYPE_DS, 0, 0, NOEDNS, 0, 0 }, DNS_UDP, 0, AA, "", NEG_SOA, "" },
	{ { "todeleg.example", LDNS_RR_TYPE_A, 0, 0, NOEDNS, 0, 0 },
	  DNS_UDP,
	  0,
	  AA,
	  "todeleg.example. 300 IN CNAME www.sub.example.",
	  "sub.example. 300 IN NS ns1.sub.example.; sub.example. 300 IN NS ns.other.net.",
	  "ns1.sub.example. 300 IN A 10.1.1.1" },
	/* ANY: one RRset, the first of A/AAAA/SOA/MX/PTR, else the last */
	{ { "example", LDNS_RR_TYPE_ANY, 0, 0, NOEDNS, 0, 0 },
	  DNS_UDP,
	  0,
	  AA,
	  "example. 3600 IN SOA ns1.example. hostmaster.example. 2024010101 7200 3600 1209600 60",
	  "",
	  "" },
	{ { "multi.example", LDNS_RR_TYPE_ANY, 0, 0, NOEDNS, 0, 0 },
	  DNS_UDP,
	  0,
	  AA,
	  "multi.example. 300 IN MX 1 mail.example.",
	  "",
	  "mail.example. 300 IN A 192.0.2.25" },
	{ { "txt.example", LDNS_RR_TYPE_ANY, 0, 0, NOEDNS, 0, 0 },
	  DNS_TCP,
	  0,
	  AA,
	  "txt.example. 300 IN TXT \"hello world\" \"say \\\"hi\\\"\"",
	  "",
	  "" },
	/* not ours */
	{ { "example.com", LDNS_RR_TYPE_A, 0, 0, NOEDNS, 0, 0 },
	  DNS_UDP,
	  LDNS_RCODE_REFUSED,
	  0,
	  "",
	  "",
	  "" },
	{ { "", LDNS_RR_TYPE_SOA, 0, 0, NOEDNS, 0, 0 },
	  DNS_UDP,
	  LDNS_RCODE_REFUSED,
	  0,
	  "",
	  "",
	  "" },
	{ { "host.example", LDNS_RR_TYPE_TXT, LDNS_RR_CLASS_CH, 0, NOEDNS, 0, 0 },
	  DNS_UDP,
	  LDNS_RCODE_REFUSED,
	  0,
	  "",
	  "",
	  "" },
	/* class ANY: not authoritative, no SOA or NS added */
	{ { "host.example", LDNS_RR_TYPE_A, LDNS_RR_CLASS_ANY, 0, NOEDNS, 0, 0 },
	  DNS_UDP,
	  0,
	  0,
	  "host.example. 300 IN A 192.0.2.10",
	  "",
	  "" },
	{ { "nx.example", LDNS_RR_TYPE_A, LDNS_RR_CLASS_ANY, 0, NOEDNS, 0, 0 },
	  DNS_UDP,
	  LDNS_RCODE_NXDOMAIN,
	  0,
	  "",
	  "",
	  "" },
	/* truncation: 40 A records are 660 bytes */
	{ { "big.example", LDNS_RR_TYPE_A, 0, 0, NOEDNS, 0, 0 }, DNS_UDP, 0, AA | TC, "", "", "" },
	{ { "big.example", LDNS_RR_TYPE_A, 0, 0, 512, 0, 0 }, DNS_UDP, 0, AA | TC, "", "", "" },
	{ { "big.example", LDNS_RR_TYPE_A, 0, 0, 100, 0, 0 }, DNS_UDP, 0, AA | TC, "", "", "" },
	/* zone transfers are nobody's */
	{ { "example", LDNS_RR_TYPE_AXFR, 0, 0, NOEDNS, 0, 0 },
	  DNS_UDP,
	  LDNS_RCODE_NOTIMPL,
	  0,
	  "",
	  "",
	  "" },
	{ { "example", LDNS_RR_TYPE_AXFR, 0, 0, NOEDNS, 0, 0 },
	  DNS_TCP,
	  LDNS_RCODE_REFUSED,
	  0,
	  "",
	  "",
	  "" },
	{ { "host.example", LDNS_RR_TYPE_AXFR, 0, 0, NOEDNS, 0, 0 },
	  DNS_TCP,
	  LDNS_RCODE_NOTAUTH,
	  0,
	  "",
	  "",
	  "" },
	{ { "example", LDNS_RR_TYPE_IXFR, 0, 0, NOEDNS, 0, 0 },
	  DNS_UDP,
	  LDNS_RCODE_REFUSED,
	  0,
	  "",
	  "",
	  "" },
};

static int row_rcode(const ldns_pkt *p)
{
	return (int)ldns_pkt_get_rcode(p) |
	       (ldns_pkt_edns(p) ? ldns_pkt_edns_extended_rcode(p) << 4 : 0);
}

TEST(dns_answer_rows)
{
	CHECK(dns_fixture_example() != NULL);
	if (dns_fixture_example() == NULL)
		return;
	for (size_t i = 0; i < ARRAY_SIZE(rows); i++) {
		const struct row *r = &rows[i];
		char an[4096], ns[1024], ar[2048];
		t_case("dns_answer %s %d class %u over %s", r->q.name, r->q.type,
		       r->q.klass ? r->q.klass : 1, r->transport == DNS_TCP ? "TCP" : "UDP");
		ldns_pkt *p = ask(&r->q, (enum dns_transport)r->transport, NULL);
		CHECK(p != NULL);
		if (p == NULL)
			continue;
		CHECK_EQ(ldns_pkt_id(p), 0xbeef);
		CHECK(ldns_pkt_qr(p));
		CHECK_EQ(row_rcode(p), r->rcode);
		CHECK_EQ(ldns_pkt_aa(p), !!(r->flags & AA));
		CHECK_EQ(ldns_pkt_tc(p), !!(r->flags & TC));
		/* what the statistics are told agrees with the response */
		CHECK_EQ(info.rcode, r->rcode);
		CHECK_EQ(info.truncated, !!(r->flags & TC));
		CHECK_EQ(info.qtype, r->q.type);
		CHECK_EQ(info.edns, r->q.edns != NOEDNS && r->q.version == 0);
		CHECK(ldns_pkt_rd(p));
		CHECK(!ldns_pkt_ra(p));
		CHECK_STR(section(ldns_pkt_answer(p), an, sizeof(an)), r->an);
		CHECK_STR(section(ldns_pkt_authority(p), ns, sizeof(ns)), r->ns);
		CHECK_STR(section(ldns_pkt_additional(p), ar, sizeof(ar)), r->ar);
		ldns_pkt_free(p);
	}
}

/* ---- one behaviour per test ---- */

TEST(dns_answer_echoes_the_question)
{
	struct q q = { "Host.EXAMPLE", LDNS_RR_TYPE_A, 0, 0, NOEDNS, 0, 0 };
	ldns_pkt *p = ask(&q, DNS_UDP, NULL);
	CHECK(p && ldns_pkt_qdcount(p) == 1);
	if (!p)
		return;
	char *s = ldns_rdf2str(ldns_rr_owner(ldns_rr_list_rr(ldns_pkt_question(p), 0)));
	CHECK_STR(s, "Host.EXAMPLE.");
	free(s);
	ldns_pkt_free(p);
}

/* NSD compresses names against the question, so they come back in the
 * query's case. */
TEST(dns_answer_owner_names_in_the_query_case)
{
	char an[512], ns[512], ar[512];
	struct q q = { "WWW.Example", LDNS_RR_TYPE_A, 0, 0, NOEDNS, 0, 0 };
	ldns_pkt *p = ask(&q, DNS_UDP, NULL);
	CHECK(p != NULL);
	if (!p)
		return;
	CHECK_STR(section(ldns_pkt_answer(p), an, sizeof(an)),
	          "WWW.Example. 300 IN CNAME host.Example.; host.Example. 300 IN A 192.0.2.10");
	CHECK_STR(section(ldns_pkt_authority(p), ns, sizeof(ns)),
	          "Example. 300 IN NS ns1.Example.; Example. 300 IN NS ns.other.net.");
	CHECK_STR(section(ldns_pkt_additional(p), ar, sizeof(ar)),
	          "ns1.Example. 300 IN A 192.0.2.53; ns1.Example. 300 IN AAAA 2001:db8::53");
	ldns_pkt_free(p);
}

/* Byte for byte the size NSD sends: the same compression. */
TEST(dns_answer_compresses_as_nsd)
{
	size_t n;
	struct q q = { "www.example", LDNS_RR_TYPE_A, 0, 0, NOEDNS, 0, 0 };
	ldns_pkt *p = ask(&q, DNS_UDP, &n);
	CHECK_EQ(n, 152);
	ldns_pkt_free(p);
	q.edns = 1232;
	p = ask(&q, DNS_UDP, &n);
	CHECK_EQ(n, 163);
	ldns_pkt_free(p);
	struct q nx = { "nx.example", LDNS_RR_TYPE_A, 0, 0, 4096, 0, 0 };
	p = ask(&nx, DNS_UDP, &n);
	CHECK_EQ(n, 90);
	ldns_pkt_free(p);
}

TEST(dns_answer_edns)
{
	struct q q = { "host.example", LDNS_RR_TYPE_A, 0, 0, 4096, 0, 0 };
	ldns_pkt *p = ask(&q, DNS_UDP, NULL);
	CHECK(p && ldns_pkt_edns(p));
	if (!p)
		return;
	CHECK_EQ(ldns_pkt_edns_udp_size(p), 1232);
	CHECK_EQ(ldns_pkt_edns_version(p), 0);
	CHECK(!ldns_pkt_edns_do(p));
	ldns_pkt_free(p);

	t_case("dns_answer echoes DO");
	q.eflags = 0x8000;
	p = ask(&q, DNS_UDP, NULL);
	CHECK(p && ldns_pkt_edns_do(p));
	ldns_pkt_free(p);

	t_case("dns_answer without EDNS sends no OPT");
	q.edns = NOEDNS;
	p = ask(&q, DNS_UDP, NULL);
	CHECK(p && !ldns_pkt_edns(p) && ldns_pkt_arcount(p) == 2);
	ldns_pkt_free(p);
}

TEST(dns_answer_badvers)
{
	struct q q = { "host.example", LDNS_RR_TYPE_A, 0, 0, 1232, 1, 0 };
	for (int t = DNS_UDP; t <= DNS_TCP; t++) {
		t_case("dns_answer BADVERS over %s", t == DNS_UDP ? "UDP" : "TCP");
		ldns_pkt *p = ask(&q, (enum dns_transport)t, NULL);
		CHECK(p != NULL);
		if (!p)
			continue;
		CHECK_EQ(row_rcode(p), 16);
		CHECK_EQ(info.rcode, 16);
		CHECK(!ldns_pkt_aa(p));
		CHECK_EQ(ldns_pkt_qdcount(p), 1);
		CHECK_EQ(ldns_pkt_ancount(p) + ldns_pkt_nscount(p), 0);
		CHECK_EQ(ldns_pkt_edns_version(p), 0);
		ldns_pkt_free(p);
	}
}

/* A message that is not answered tells the statistics nothing; one without
 * a question has no type. */
TEST(dns_answer_info_of_dropped_and_malformed_messages)
{
	uint8_t q[600];
	struct q ok = { "host.example", LDNS_RR_TYPE_A, 0, 0, NOEDNS, 0, 0 };
	size_t n = build(q, &ok);
	q[2] |= 0x80; /* a response */
	CHECK_EQ(answer_raw(q, n, DNS_UDP), 0);
	CHECK(info.rcode == 0 && info.qtype == 0 && !info.edns && !info.truncated);
	q[2] &= 0x7f;
	CHECK(answer_raw(q, 14, DNS_UDP) > 0); /* the question cut short */
	CHECK_EQ(info.rcode, 1);               /* FORMERR */
	CHECK_EQ(info.qtype, 0);
	CHECK(dns_answer(dns_fixture_example(), q, n, out, sizeof(out), DNS_UDP, NULL) >
	      0); /* info optional */
}

/* The 1232 EDNS size holds 40 A records; TCP holds anything. */
TEST(dns_answer_big_rrset_fits_with_edns_and_tcp)
{
	size_t n;
	struct q q = { "big.example", LDNS_RR_TYPE_A, 0, 0, 4096, 0, 0 };
	ldns_pkt *p = ask(&q, DNS_UDP, &n);
	CHECK(p && !ldns_pkt_tc(p) && ldns_pkt_ancount(p) == 40);
	CHECK(n > 512 && n <= 1232);
	ldns_pkt_free(p);
	q.edns = NOEDNS;
	p = ask(&q, DNS_TCP, &n);
	CHECK(p && !ldns_pkt_tc(p) && ldns_pkt_ancount(p) == 40);
	ldns_pkt_free(p);
}

/* TC keeps what fits by whole RRsets: the answer without the optional NS
 * and glue rather than TC. */
TEST(dns_answer_leaves_optional_sections_out_before_truncating)
{
	size_t n;
	struct q q = { "big.example", LDNS_RR_TYPE_A, 0, 0, 700, 0, 0 };
	ldns_pkt *p = ask(&q, DNS_UDP, &n);
	CHECK(p && !ldns_pkt_tc(p) && ldns_pkt_ancount(p) == 40);
	CHECK(p && ldns_pkt_nscount(p) == 0 && ldns_pkt_arcount(p) == 0);
	CHECK(n <= 700);
	ldns_pkt_free(p);
}

TEST(dns_answer_rd_echoed_other_flags_cleared)
{
	/* RD off; AA, TC, Z, AD and CD set in the query */
	struct q q = { "host.example", LDNS_RR_TYPE_A, 0, 0x0670, NOEDNS, 0, 0 };
	uint8_t buf[100];
	size_t n = answer_raw(buf, build(buf, &q), DNS_UDP);
	CHECK(n > 12);
	CHECK_EQ(out[2], 0x84); /* QR AA */
	CHECK_EQ(out[3], 0x00);
	q.flags = 0x0100;
	n = answer_raw(buf, build(buf, &q), DNS_UDP);
	CHECK_EQ(out[2], 0x85); /* QR AA RD */
}

static size_t raw(const uint8_t *q, size_t n, enum dns_transport t)
{
	return answer_raw(q, n, t);
}

TEST(dns_answer_formerr)
{
	struct q base = { "host.example", LDNS_RR_TYPE_A, 0, 0, NOEDNS, 0, 0 };
	uint8_t q[200];
	size_t n = build(q, &base);

	t_case("dns_answer FORMERR for two questions (flags cleared)");
	q[5] = 2;
	CHECK_EQ(raw(q, n, DNS_UDP), 12);
	CHECK_EQ(out[2], 0x80);
	CHECK_EQ(out[3], LDNS_RCODE_FORMERR);
	q[5] = 1;

	t_case("dns_answer FORMERR for an answer in a query (RD kept)");
	q[7] = 1;
	CHECK_EQ(raw(q, n, DNS_UDP), 12);
	CHECK_EQ(out[2], 0x81);
	CHECK_EQ(out[3], LDNS_RCODE_FORMERR);
	CHECK(out[4] == 0 && out[5] == 0 && out[11] == 0);
	q[7] = 0;

	t_case("dns_answer FORMERR for a cut question");
	CHECK_EQ(raw(q, n - 3, DNS_UDP), 12);
	CHECK_EQ(out[3], LDNS_RCODE_FORMERR);

	t_case("dns_answer FORMERR for a header alone");
	CHECK_EQ(raw(q, 12, DNS_UDP), 12);
	CHECK_EQ(out[3], LDNS_RCODE_FORMERR);

	t_case("dns_answer FORMERR for a pointer in the question");
	uint8_t ptr[] = { 1, 2, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xc0, 12, 0, 1, 0, 1 };
	CHECK_EQ(raw(ptr, sizeof(ptr), DNS_UDP), 12);
	CHECK_EQ(out[3], LDNS_RCODE_FORMERR);

	t_case("dns_answer FORMERR for two OPTs");
	struct q e = base;
	e.edns = 1232;
	n = build(q, &e);
	n += put_opt(q + n, 1232, 0, 0);
	q[11] = 2;
	CHECK_EQ(raw(q, n, DNS_UDP), 12);
	CHECK_EQ(out[3], LDNS_RCODE_FORMERR);

	t_case("dns_answer FORMERR for an OPT option longer than the OPT");
	n = build(q, &e);
	q[n - 1] = 4; /* rdlen 4 */
	memcpy(q + n, "\x00\x0a\x00\x09", 4);
	CHECK_EQ(raw(q, n + 4, DNS_UDP), 12);
	CHECK_EQ(out[3], LDNS_RCODE_FORMERR);

	t_case("dns_answer FORMERR for a query with an rcode");
	n = build(q, &base);
	q[3] = 3;
	CHECK_EQ(raw(q, n, DNS_UDP), 12);
	CHECK_EQ(out[3], LDNS_RCODE_FORMERR);
}

TEST(dns_answer_drops_what_is_not_a_query)
{
	struct q base = { "host.example", LDNS_RR_TYPE_A, 0, 0, NOEDNS, 0, 0 };
	uint8_t q[200];
	size_t n = build(q, &base);
	CHECK_EQ(raw(q, 11, DNS_UDP), 0);
	q[2] |= 0x80; /* a response */
	CHECK_EQ(raw(q, n, DNS_UDP), 0);
	CHECK_EQ(raw(q, 0, DNS_TCP), 0);
}

TEST(dns_answer_notimp_for_other_opcodes)
{
	struct q base = { "host.example", LDNS_RR_TYPE_A, 0, 0x1110, NOEDNS, 0, 0 }; /* STATUS */
	uint8_t q[200];
	size_t n = build(q, &base);
	CHECK_EQ(raw(q, n, DNS_UDP), 12);
	CHECK_EQ(out[2], 0x91); /* QR, opcode 2, RD */
	CHECK_EQ(out[3], 0x10 | LDNS_RCODE_NOTIMPL);
	t_case("dns_answer NOTIMP for UPDATE");
	q[2] = 0x28;
	CHECK_EQ(raw(q, n, DNS_UDP), 12);
	CHECK_EQ(out[3] & 0x0f, LDNS_RCODE_NOTIMPL);
	t_case("dns_answer REFUSED for NOTIFY of the zone");
	struct q notify = { "example", LDNS_RR_TYPE_SOA, 0, 0x2000, NOEDNS, 0, 0 };
	n = build(q, &notify);
	CHECK_EQ(raw(q, n, DNS_UDP), 12);
	CHECK_EQ(out[3] & 0x0f, LDNS_RCODE_REFUSED);
}

/* RFC 8914 extended errors, as NSD sends them (EDNS queries only). */
TEST(dns_answer_extended_errors)
{
	struct q q = { "example.com", LDNS_RR_TYPE_A, 0, 0, 1232, 0, 0 };
	uint8_t buf[200];
	size_t n = raw(buf, build(buf, &q), DNS_UDP);
	/* question, then OPT: ... rdlen 6, EDE (15) len 2, info 20 */
	CHECK(n > 6 && memcmp(out + n - 6, "\x00\x0f\x00\x02\x00\x14", 6) == 0);
	t_case("dns_answer EDE 21 for class HS, no question");
	q.name = "host.example";
	q.klass = 4;
	n = raw(buf, build(buf, &q), DNS_UDP);
	CHECK_EQ(n, 12 + 17);
	CHECK_EQ(out[5], 0);
	CHECK(memcmp(out + n - 6, "\x00\x0f\x00\x02\x00\x15", 6) == 0);
}

TEST(dns_answer_edns_probe_without_question)
{
	uint8_t q[12 + 11] = { 7, 7, 1, 0, 0, 0, 0, 0, 0, 0, 0, 1 };
	put_opt(q + 12, 1232, 0, 0);
	CHECK_EQ(raw(q, sizeof(q), DNS_UDP), 23);
	CHECK_EQ(out[3], 0);
	CHECK_EQ(out[11], 1);
}

TEST(dns_answer_ignores_trailing_bytes)
{
	struct q base = { "host.example", LDNS_RR_TYPE_A, 0, 0, NOEDNS, 0, 0 };
	uint8_t q[200];
	size_t n = build(q, &base);
	memcpy(q + n, "garbage", 7);
	CHECK(raw(q, n + 7, DNS_UDP) > 12);
	CHECK_EQ(out[3], 0);
	CHECK_EQ(out[7], 1);
}

TEST(dns_answer_respects_the_output_room)
{
	struct q base = { "big.example", LDNS_RR_TYPE_A, 0, 0, NOEDNS, 0, 0 };
	uint8_t q[200], small[40];
	size_t n = build(q, &base);
	CHECK_EQ(dns_answer(dns_fixture_example(), q, n, small, 20, DNS_TCP, NULL),
	         0); /* not even the question */
	size_t r = dns_answer(dns_fixture_example(), q, n, small, sizeof(small), DNS_TCP, NULL);
	CHECK_EQ(r, 29);
	CHECK(small[2] & 0x02); /* TC */
}

/* The zone tristack-dns makes without a zone file. */
TEST(dns_answer_stack_zone)
{
	static const char conf[] = "[site]\ndomain = foobar.com\nwww = lb-01\n"
	                           "[host lb-01]\naddress = 10.0.0.1\nroles = lb, dns\n"
	                           "[host web-01]\naddress = 10.0.0.2\nroles = web\n";
	struct conf s;
	struct dns_zone z;
	char err[256];
	int rc = dns_fixture_from_stack(&z, &s, conf, 300, err, sizeof(err));
	CHECK_EQ(rc, 0);
	if (rc < 0) {
		printf("%s\n", err);
		return;
	}
	struct q rows2[] = {
		{ "www.foobar.com", LDNS_RR_TYPE_A, 0, 0, NOEDNS, 0, 0 },
		{ "ns1.foobar.com", LDNS_RR_TYPE_A, 0, 0, NOEDNS, 0, 0 },
		{ "web-01.foobar.com", LDNS_RR_TYPE_A, 0, 0, NOEDNS, 0, 0 },
	};
	const char *want[] = { "www.foobar.com. 300 IN A 10.0.0.1",
		               "ns1.foobar.com. 300 IN A 10.0.0.1",
		               "web-01.foobar.com. 300 IN A 10.0.0.2" };
	for (size_t i = 0; i < ARRAY_SIZE(rows2); i++) {
		t_case("dns_answer stack zone %s", rows2[i].name);
		uint8_t q[200];
		size_t n = dns_answer(&z, q, build(q, &rows2[i]), out, sizeof(out), DNS_UDP, NULL);
		ldns_pkt *p = NULL;
		char an[256];
		CHECK(n > 0 && ldns_wire2pkt(&p, out, n) == LDNS_STATUS_OK);
		if (!p)
			continue;
		CHECK(ldns_pkt_aa(p));
		CHECK_STR(section(ldns_pkt_answer(p), an, sizeof(an)), want[i]);
		ldns_pkt_free(p);
	}
	dns_zone_free(&z);
	conf_free(&s);
}

/* The stack zone of the two-LB layout: www at the floating address, both
 * name servers in the authority section, their addresses as glue. */
TEST(dns_answer_stack_zone_with_a_vip)
{
	static const char conf[] = "[site]\ndomain = foobar.com\nvip = 10.0.0.1\n"
	                           "[host lb-01]\naddress = 10.0.0.11\nroles = lb, dns\n"
	                           "[host lb-02]\naddress = 10.0.0.12\nroles = lb, dns\n"
	                           "[host web-01]\naddress = 10.0.0.2\nroles = web\n";
	struct conf s;
	struct dns_zone z;
	char err[256];
	int rc = dns_fixture_from_stack(&z, &s, conf, 300, err, sizeof(err));
	CHECK_EQ(rc, 0);
	if (rc < 0) {
		printf("%s\n", err);
		return;
	}
	struct q www = { "www.foobar.com", LDNS_RR_TYPE_A, 0, 0, NOEDNS, 0, 0 };
	uint8_t q[200];
	size_t n = dns_answer(&z, q, build(q, &www), out, sizeof(out), DNS_UDP, NULL);
	ldns_pkt *p = NULL;
	CHECK(n > 0 && ldns_wire2pkt(&p, out, n) == LDNS_STATUS_OK);
	if (p) {
		char an[512];
		CHECK(ldns_pkt_aa(p));
		CHECK_STR(section(ldns_pkt_answer(p), an, sizeof(an)),
		          "www.foobar.com. 300 IN A 10.0.0.1");
		CHECK_STR(
		    section(ldns_pkt_authority(p), an, sizeof(an)),
		    "foobar.com. 300 IN NS ns1.foobar.com.; foobar.com. 300 IN NS ns2.foobar.com.");
		CHECK_STR(section(ldns_pkt_additional(p), an, sizeof(an)),
		          "ns1.foobar.com. 300 IN A 10.0.0.11; ns2.foobar.com. 300 IN A 10.0.0.12");
		ldns_pkt_free(p);
	}
	dns_zone_free(&z);
	conf_free(&s);
}
