/* dns.h - tristack-dns: authoritative DNS for the site's zone (ldns).
 *
 * The zone comes from the stack file (dns_zone_from_stack: SOA and NS at the
 * apex, an A or AAAA record per host, www.<domain> at [site] vip or else the
 * [site] www host, ns1.<domain>, ns2.<domain>... at the hosts with the dns
 * role, one NS each) or from an RFC 1035 zone file read with ldns
 * (dns_zone_load_file). Either way it ends up in one read-only index shared by
 * the workers: a node per name (empty non-terminals included), its RRsets in
 * the order the file gave them, each RR's rdata in wire format.
 *
 * dns_answer() is a pure function from (zone, query bytes) to response bytes
 * and answers the way NSD 4.6 does (our reference; tests/e2e/test_dns_nsd.py
 * compares the two): AA on authoritative data, CNAMEs followed inside the
 * zone, NXDOMAIN vs NODATA with the SOA (TTL capped by its minimum) in the
 * authority section, the apex NS RRset in the authority section of positive
 * answers and the A/AAAA of in-zone NS/MX/SRV targets in the additional one,
 * referrals below a delegation, wildcards, one RRset for ANY (RFC 8482),
 * owner names in the case of the query (NSD's name compression against the
 * question), REFUSED outside the zone, FORMERR/NOTIMP for what it cannot
 * parse or does not do, EDNS(0) with BADVERS for other versions, and TC with
 * the RRsets that fit when the response exceeds the transport.
 */
#ifndef TS_DNS_H
#define TS_DNS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct conf;

#define DNS_NAME_MAX    255   /* wire bytes of a domain name, root label included */
#define DNS_UDP_MAX     512   /* a response over UDP without EDNS */
#define DNS_EDNS_SIZE   1232  /* our EDNS UDP size (DNS flag day 2020), as NSD's default */
#define DNS_MESSAGE_MAX 65535 /* over TCP (the 2-byte length prefix) */

enum dns_transport { DNS_UDP, DNS_TCP };

static inline uint8_t dns_lower(uint8_t c)
{
	return c >= 'A' && c <= 'Z' ? (uint8_t)(c + ('a' - 'A')) : c;
}

/* Are two wire names (uncompressed) the same, but for case? */
static inline bool dns_name_equal(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
	if (alen != blen)
		return false;
	for (size_t i = 0; i < alen; i++)
		if (dns_lower(a[i]) != dns_lower(b[i]))
			return false;
	return true;
}

/* FNV-1a of a wire name's bytes, lower-cased: equal for names that differ
 * only in case (length bytes are below 'A', so they pass unchanged). */
static inline uint32_t dns_name_hash(const uint8_t *name, size_t len)
{
	uint32_t h = 2166136261u;
	for (size_t i = 0; i < len; i++)
		h = (h ^ dns_lower(name[i])) * 16777619u;
	return h;
}

struct dns_rr {
	uint32_t ttl;
	uint16_t rdlen;
	const uint8_t *rdata; /* wire format, names uncompressed, in the zone's case */
};

struct dns_node;

struct dns_rrset {
	uint16_t type;
	uint16_t count;
	struct dns_rr *rrs;
	struct dns_node *node;
	struct dns_rrset *next; /* at the same node, in the order of the file */
	uint16_t cap;           /* (while loading) room in rrs */
};

struct dns_node {
	const uint8_t *name;       /* wire format, spelt as the zone first spelt it */
	uint8_t len;               /* bytes of name */
	uint8_t labels;            /* not counting the root */
	uint32_t hash;             /* of the lower-cased name */
	struct dns_node *parent;   /* NULL at the apex */
	struct dns_node *hnext;    /* hash chain */
	struct dns_node *wildcard; /* "*.<this name>", when the zone has it */
	struct dns_rrset *rrsets;  /* NULL: an empty non-terminal */
};

struct dns_zone_mem;

struct dns_zone {
	struct dns_node *apex;
	struct dns_rrset *soa;
	struct dns_rrset *ns;    /* at the apex, or NULL */
	uint32_t neg_ttl;        /* of the SOA in negative answers: min(TTL, MINIMUM) */
	struct dns_node **table; /* hash of every node */
	uint32_t mask;           /* table size - 1 */
	uint32_t nnodes;
	uint32_t nrecords;
	struct dns_zone_mem *mem; /* everything above lives here */
};

/* The zone made from the stack file, every record with the given TTL.
 * Returns 0, or -1 with err set. */
int dns_zone_from_stack(struct dns_zone *z, const struct conf *s, uint32_t ttl, char *err,
                        size_t errlen);

/* An RFC 1035 zone file ($ORIGIN, $TTL, relative names, parentheses, the
 * record types ldns knows) for the zone named origin ("example.com"):
 * relative names start from origin until an $ORIGIN line; records without a
 * TTL take $TTL, else the last TTL given, else default_ttl. The zone must
 * have exactly one SOA, at origin; every record must be at or below origin
 * and of class IN; a name with a CNAME has nothing else; DNAME and $INCLUDE
 * are refused. Duplicate records are dropped. Returns 0, or -1 with
 * "path:line: message" in err. */
int dns_zone_load_file(struct dns_zone *z, const char *path, const char *origin,
                       uint32_t default_ttl, char *err, size_t errlen);
/* The same from a string (tests); name stands for the path in messages. */
int dns_zone_load_string(struct dns_zone *z, const char *name, const char *text, const char *origin,
                         uint32_t default_ttl, char *err, size_t errlen);
void dns_zone_free(struct dns_zone *z);
/* The serial of the zone's SOA. */
uint32_t dns_zone_serial(const struct dns_zone *z);

/* The node of a wire name (any case), or NULL. */
const struct dns_node *dns_zone_find(const struct dns_zone *z, const uint8_t *name, size_t len);
const struct dns_rrset *dns_node_rrset(const struct dns_node *n, uint16_t type);

/* What one dns_answer() did, for the statistics (NSD's num.rcode.*,
 * num.type.*, num.edns, num.truncated). */
struct dns_answer_info {
	uint16_t rcode; /* of the response, extended bits included (16 = BADVERS) */
	uint16_t qtype; /* of the question; 0 when none was read */
	bool edns;      /* the query carried a valid OPT record */
	bool truncated; /* the response has TC set */
};

/* Answer one query (wire format, qlen bytes) into out (outcap bytes).
 * Returns the response length, or 0 when nothing should be sent (shorter
 * than a header, a response, or no room in out). A response never exceeds
 * outcap, nor over UDP 512 bytes (without EDNS) or min(the client's EDNS
 * size, 1232) (with it), nor 65535 over TCP: what does not fit is left out
 * by whole RRsets, with TC set when the answer or authority is cut. info,
 * if not NULL, is filled in (zeroed when nothing is sent). */
size_t dns_answer(const struct dns_zone *z, const uint8_t *q, size_t qlen, uint8_t *out,
                  size_t outcap, enum dns_transport transport, struct dns_answer_info *info);

#endif
