/* answer.c - one query in, one response out: a pure function of the zone and
 * the bytes (fuzzed by tests/fuzz/fuzz_dns.c), no allocation.
 *
 * It follows NSD 4.6 (query.c, answer.c, packet.c) step by step, because
 * NSD is the reference tests/e2e/test_dns_nsd.py holds us to:
 *   1. parse: header, one question, an OPT (FORMERR, NOTIMP, BADVERS);
 *   2. collect RRsets into sections (answer, authority, optional authority,
 *      additional A, AAAA, other), each RRset once, in order;
 *   3. encode them section by section with name compression seeded from the
 *      question, so names come out in the case the query used; an RRset of
 *      the answer or authority that does not fit sets TC and ends the
 *      message, one of the optional sections that does not fit (or would
 *      pass 1232 bytes over UDP) is left out without TC.
 */
#include <string.h>

#include "core/common.h"
#include "dns.h"

enum {
	T_A = 1,
	T_NS = 2,
	T_MD = 3,
	T_MF = 4,
	T_CNAME = 5,
	T_SOA = 6,
	T_MB = 7,
	T_MG = 8,
	T_MR = 9,
	T_PTR = 12,
	T_MINFO = 14,
	T_MX = 15,
	T_TXT = 16,
	T_X25 = 19,
	T_ISDN = 20,
	T_RT = 21,
	T_AAAA = 28,
	T_SRV = 33,
	T_KX = 36,
	T_OPT = 41,
	T_DS = 43,
	T_RRSIG = 46,
	T_NSEC = 47,
	T_DNSKEY = 48,
	T_TSIG = 250,
	T_IXFR = 251,
	T_AXFR = 252,
	T_ANY = 255,
};

enum { C_IN = 1, C_CH = 3, C_ANY = 255 };

enum {
	RCODE_OK = 0,
	RCODE_FORMERR = 1,
	RCODE_NXDOMAIN = 3,
	RCODE_NOTIMP = 4,
	RCODE_REFUSED = 5,
	RCODE_NOTAUTH = 9,
};

enum { OP_QUERY = 0, OP_NOTIFY = 4 };

/* RFC 8914 extended errors NSD sends */
enum { EDE_NONE = -1, EDE_PROHIBITED = 18, EDE_NOT_AUTHORITATIVE = 20, EDE_NOT_SUPPORTED = 21 };

enum section {
	S_ANSWER,
	S_AUTHORITY,
	S_OPT_AUTHORITY, /* the apex NS of a positive answer: may be left out */
	S_ADD_A,
	S_ADD_AAAA,
	S_ADD_OTHER,
	S_COUNT,
};

#define HEADER       12
#define OPT_SIZE     11   /* an OPT record without options */
#define MINIMAL_RESP 1232 /* NSD's MINIMAL_RESPONSES: optional sections stop here over UDP */
#define MAX_RRSETS   256  /* in one response (NSD: 10240; a CNAME chain stops here) */
#define MAX_COMPRESS 1024 /* names remembered for compression */
#define PTR_MAX      0x3fff

struct item {
	const struct dns_rrset *set;
	const uint8_t *owner; /* wire name as it is to be written */
	uint8_t ownerlen;
	uint8_t section;
	bool negative; /* the SOA of a negative answer (its own TTL) */
};

/* A node, or one made from a wildcard for a name (owner). */
struct match {
	const struct dns_node *node;
	const uint8_t *owner;
	uint8_t ownerlen;
};

struct query {
	const struct dns_zone *z;
	const uint8_t *qname; /* in the query's bytes */
	uint8_t qnamelen;
	uint16_t qtype, qclass;
	bool tcp;
	uint8_t rcode;
	bool aa;
	int ede;
	unsigned cname_count;
	const struct dns_node *delegation; /* the answer is a referral */
	unsigned nitems;
	struct item items[MAX_RRSETS];
};

/* ---- names ---- */

/* Bytes of the uncompressed wire name at p (within n bytes), or 0. */
static size_t name_len(const uint8_t *p, size_t n)
{
	size_t i = 0;
	while (i < n) {
		uint8_t c = p[i];
		if (c == 0)
			return i + 1 <= DNS_NAME_MAX ? i + 1 : 0;
		if (c & 0xc0)
			return 0;
		i += (size_t)c + 1;
	}
	return 0;
}

static void lower_copy(uint8_t *dst, const uint8_t *src, size_t len)
{
	for (size_t i = 0; i < len; i++)
		dst[i] = dns_lower(src[i]);
}

/* Is the lower-cased name (len bytes) at or below the zone's apex? */
static bool in_zone(const struct dns_zone *z, const uint8_t *lname, size_t len)
{
	const struct dns_node *apex = z->apex;
	if (len < apex->len)
		return false;
	/* the apex must be a whole-label suffix: walk labels to that offset */
	size_t off = 0;
	while (len - off > apex->len)
		off += (size_t)lname[off] + 1;
	return len - off == apex->len &&
	       dns_name_equal(lname + off, apex->len, apex->name, apex->len);
}

/* The deepest node at or above the lower-cased in-zone name (the apex at
 * worst); *exact tells whether it is the name itself. */
static const struct dns_node *closest_encloser(const struct dns_zone *z, const uint8_t *lname,
                                               size_t len, bool *exact)
{
	size_t off = 0;
	*exact = true;
	for (;;) {
		const struct dns_node *n = dns_zone_find(z, lname + off, len - off);
		if (n)
			return n;
		*exact = false;
		if (lname[off] == 0)
			return z->apex; /* not reached for an in-zone name */
		off += (size_t)lname[off] + 1;
	}
}

/* The topmost delegation (NS below the apex) at or above n, or NULL. */
static const struct dns_node *find_cut(const struct dns_zone *z, const struct dns_node *n)
{
	const struct dns_node *cut = NULL;
	for (; n && n != z->apex; n = n->parent)
		if (dns_node_rrset(n, T_NS))
			cut = n;
	return cut;
}

/* ---- collecting RRsets (NSD's answer_add_rrset and add_rrset) ---- */

/* Add an RRset once; one already there moves to a lower section. Returns
 * false when it was there already (or there is no room). */
static bool answer_add(struct query *q, enum section sec, const uint8_t *owner, size_t ownerlen,
                       const struct dns_rrset *set, bool negative)
{
	for (unsigned i = 0; i < q->nitems; i++) {
		struct item *it = &q->items[i];
		if (it->set == set && it->negative == negative &&
		    dns_name_equal(it->owner, it->ownerlen, owner, ownerlen)) {
			if (sec < it->section) {
				it->section = (uint8_t)sec;
				return true;
			}
			return false;
		}
	}
	if (q->nitems == MAX_RRSETS)
		return false;
	q->items[q->nitems++] =
	    (struct item){ set, owner, (uint8_t)ownerlen, (uint8_t)sec, negative };
	return true;
}

/* Where the name that additional processing follows sits in an rdata. */
static size_t target_offset(uint16_t type)
{
	switch (type) {
	case T_MX:
	case T_KX:
	case T_RT:
		return 2;
	case T_SRV:
		return 6;
	default:
		return 0;
	}
}

/* Is the (lower-cased, in-zone) name at or below a delegation? */
static bool is_glue(const struct dns_zone *z, const uint8_t *lname, size_t len)
{
	bool exact;
	return find_cut(z, closest_encloser(z, lname, len, &exact)) != NULL;
}

/* The A and AAAA (and for RT X25, ISDN) of the names set's records point at,
 * when the zone has them. Glue (data below a delegation) only for NS. */
static void add_additional(struct query *q, const struct dns_rrset *set, bool allow_glue)
{
	static const uint16_t types[] = { T_A, T_AAAA, T_X25, T_ISDN };
	static const uint8_t sections[] = { S_ADD_A, S_ADD_AAAA, S_ADD_OTHER, S_ADD_OTHER };
	size_t ntypes = set->type == T_RT ? 4 : 2;
	size_t at = target_offset(set->type);
	for (unsigned i = 0; i < set->count; i++) {
		const struct dns_rr *rr = &set->rrs[i];
		if (rr->rdlen <= at)
			continue;
		const uint8_t *target = rr->rdata + at;
		size_t len = name_len(target, rr->rdlen - at);
		uint8_t lname[DNS_NAME_MAX];
		if (len == 0)
			continue;
		lower_copy(lname, target, len);
		if (!in_zone(q->z, lname, len))
			continue;
		if (!allow_glue && is_glue(q->z, lname, len))
			continue;
		bool exact;
		const struct dns_node *n = closest_encloser(q->z, lname, len, &exact);
		struct match m = { n, n->name, n->len };
		if (!exact) {
			if (n->wildcard == NULL)
				continue;
			m = (struct match){ n->wildcard, target, (uint8_t)len };
		}
		for (size_t k = 0; k < ntypes; k++) {
			const struct dns_rrset *s = dns_node_rrset(m.node, types[k]);
			if (s)
				answer_add(q, (enum section)sections[k], m.owner, m.ownerlen, s,
				           false);
		}
	}
}

/* NSD's add_rrset: the RRset, then what its records point at. */
static bool add_rrset(struct query *q, enum section sec, const uint8_t *owner, size_t ownerlen,
                      const struct dns_rrset *set)
{
	bool added = answer_add(q, sec, owner, ownerlen, set, false);
	switch (set->type) {
	case T_NS:
		add_additional(q, set, true);
		break;
	case T_MB:
	case T_MX:
	case T_KX:
	case T_RT:
	case T_SRV:
		add_additional(q, set, false);
		break;
	default:
		break;
	}
	return added;
}

/* ---- the lookup (NSD's answer_lookup_zone and friends) ---- */

static void lookup_zone(struct query *q, const uint8_t *name, size_t len);

static void answer_soa(struct query *q)
{
	if (q->qclass != C_ANY)
		answer_add(q, S_AUTHORITY, q->z->apex->name, q->z->apex->len, q->z->soa, true);
}

static bool any_preferred(uint16_t type)
{
	return type == T_A || type == T_AAAA || type == T_SOA || type == T_MX || type == T_PTR;
}

static bool any_last_resort(uint16_t type)
{
	return type == T_DNSKEY || type == T_RRSIG || type == T_NSEC;
}

/* ANY gets one RRset (RFC 8482 4.1): the first of the popular small types,
 * else the last other one, else DNSKEY, RRSIG or NSEC. */
static const struct dns_rrset *any_pick(const struct dns_node *n)
{
	const struct dns_rrset *normal = NULL, *last_resort = NULL;
	for (const struct dns_rrset *s = n->rrsets; s; s = s->next) {
		if (any_preferred(s->type))
			return s;
		if (any_last_resort(s->type))
			last_resort = s;
		else
			normal = s;
	}
	return normal ? normal : last_resort;
}

static void answer_domain(struct query *q, const struct match *m)
{
	const struct dns_rrset *set;
	if (q->qtype == T_ANY) {
		set = any_pick(m->node);
		if (set == NULL) {
			answer_soa(q);
			return;
		}
		add_rrset(q, S_ANSWER, m->owner, m->ownerlen, set);
		return; /* ANY is not worth the NS RRset */
	}
	if ((set = dns_node_rrset(m->node, q->qtype)) != NULL) {
		add_rrset(q, S_ANSWER, m->owner, m->ownerlen, set);
	} else if ((set = dns_node_rrset(m->node, T_CNAME)) != NULL) {
		/* Not added: it is in the answer already, a loop. */
		if (add_rrset(q, S_ANSWER, m->owner, m->ownerlen, set) && set->count > 0) {
			const struct dns_rr *rr = &set->rrs[0];
			size_t len = name_len(rr->rdata, rr->rdlen);
			q->cname_count++;
			if (len)
				lookup_zone(q, rr->rdata, len);
		}
		return;
	} else {
		answer_soa(q); /* NODATA */
		return;
	}
	if (q->qclass != C_ANY && q->z->ns && q->qtype != T_DS && q->qtype != T_DNSKEY)
		add_rrset(q, S_OPT_AUTHORITY, q->z->apex->name, q->z->apex->len, q->z->ns);
}

static void answer_authoritative(struct query *q, const struct dns_node *ce, bool exact,
                                 const uint8_t *name, size_t len)
{
	struct match m = { ce, ce->name, ce->len };
	if (!exact) {
		if (ce->wildcard == NULL) {
			q->rcode = RCODE_NXDOMAIN;
			answer_soa(q);
			return;
		}
		m = (struct match){ ce->wildcard, name, (uint8_t)len };
	}
	answer_domain(q, &m);
}

/* name: as it is to be written (the question's or a CNAME's target). */
static void lookup_zone(struct query *q, const uint8_t *name, size_t len)
{
	uint8_t lname[DNS_NAME_MAX];
	lower_copy(lname, name, len);
	if (!in_zone(q->z, lname, len)) {
		if (q->cname_count == 0) {
			q->rcode = RCODE_REFUSED; /* not ours; no recursion */
			q->ede = EDE_NOT_AUTHORITATIVE;
		}
		return; /* a CNAME out of the zone: the client follows it */
	}
	bool exact;
	const struct dns_node *ce = closest_encloser(q->z, lname, len, &exact);
	bool ds_at = exact && q->qtype == T_DS;
	if (ds_at && ce == q->z->apex) {
		/* DS belongs to the parent zone, which is not ours */
		q->aa = q->qclass != C_ANY;
		answer_soa(q);
		return;
	}
	const struct dns_node *cut = find_cut(q->z, ce);
	if (cut == NULL || (ds_at && ce == cut)) {
		q->aa = q->qclass != C_ANY;
		answer_authoritative(q, ce, exact, name, len);
		return;
	}
	/* A referral: authoritative only for the CNAMEs that led here. */
	q->aa = q->cname_count > 0;
	q->delegation = cut;
	add_rrset(q, S_AUTHORITY, cut->name, cut->len, dns_node_rrset(cut, T_NS));
}

/* ---- encoding ---- */

struct comp {
	uint32_t hash;
	uint16_t off;
	uint16_t next; /* index + 1 of the next in the bucket */
};

struct enc {
	uint8_t *p;
	size_t pos;
	size_t limit; /* the records stop here; the OPT goes after */
	bool overflow;
	bool tcp;
	uint16_t count[S_COUNT];
	uint16_t ncomp;
	uint16_t bucket[256];
	struct comp comp[MAX_COMPRESS];
};

static void put(struct enc *e, const void *p, size_t n)
{
	if (e->overflow || n > e->limit - e->pos) {
		e->overflow = true;
		return;
	}
	memcpy(e->p + e->pos, p, n);
	e->pos += n;
}

static void put16(struct enc *e, uint16_t v)
{
	uint8_t b[2] = { (uint8_t)(v >> 8), (uint8_t)v };
	put(e, b, 2);
}

static void put32(struct enc *e, uint32_t v)
{
	uint8_t b[4] = { (uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v };
	put(e, b, 4);
}

/* Does the (possibly compressed) name written at off equal name? */
static bool written_equal(const struct enc *e, size_t off, const uint8_t *name, size_t len)
{
	size_t i = 0;
	for (int hops = 0; off < e->pos;) {
		uint8_t c = e->p[off];
		if ((c & 0xc0) == 0xc0) {
			if (++hops > 64 || off + 1 >= e->pos)
				return false;
			off = (size_t)(c & 0x3f) << 8 | e->p[off + 1];
			continue;
		}
		if (i >= len || name[i] != c || off + c >= e->pos || i + c >= len)
			return false;
		if (c == 0)
			return i + 1 == len;
		for (size_t k = 1; k <= c; k++)
			if (dns_lower(e->p[off + k]) != dns_lower(name[i + k]))
				return false;
		i += (size_t)c + 1;
		off += (size_t)c + 1;
	}
	return false;
}

static int comp_find(const struct enc *e, const uint8_t *name, size_t len)
{
	uint32_t h = dns_name_hash(name, len);
	for (uint16_t i = e->bucket[h & 255]; i; i = e->comp[i - 1].next)
		if (e->comp[i - 1].hash == h && written_equal(e, e->comp[i - 1].off, name, len))
			return e->comp[i - 1].off;
	return -1;
}

static void comp_add(struct enc *e, const uint8_t *name, size_t len, size_t off)
{
	if (off > PTR_MAX || e->ncomp == MAX_COMPRESS)
		return;
	uint32_t h = dns_name_hash(name, len);
	e->comp[e->ncomp] = (struct comp){ h, (uint16_t)off, e->bucket[h & 255] };
	e->bucket[h & 255] = ++e->ncomp;
}

/* Back to a mark: what was written after it, and the names it taught. */
static void rollback(struct enc *e, size_t mark)
{
	e->pos = mark;
	e->overflow = false;
	while (e->ncomp && e->comp[e->ncomp - 1].off >= mark) {
		struct comp *c = &e->comp[--e->ncomp];
		e->bucket[c->hash & 255] = c->next;
	}
}

/* A name, compressed against what was written before (NSD's
 * encode_dname): the labels not seen yet, then a pointer. */
static void put_name(struct enc *e, const uint8_t *name, size_t len)
{
	size_t at = 0;
	int ptr = -1;
	for (; name[at]; at += (size_t)name[at] + 1)
		if ((ptr = comp_find(e, name + at, len - at)) >= 0)
			break;
	for (size_t i = 0; i < at; i += (size_t)name[i] + 1) {
		comp_add(e, name + i, len - i, e->pos);
		put(e, name + i, (size_t)name[i] + 1);
	}
	if (ptr >= 0)
		put16(e, (uint16_t)(0xc000 | ptr));
	else
		put(e, "", 1);
}

/* The names of these types are compressed (RFC 1035's well-known types,
 * RFC 3597 section 4): where they are in the rdata. */
static int compressed_names(uint16_t type, size_t *first)
{
	switch (type) {
	case T_NS:
	case T_MD:
	case T_MF:
	case T_CNAME:
	case T_MB:
	case T_MG:
	case T_MR:
	case T_PTR:
		*first = 0;
		return 1;
	case T_SOA:
	case T_MINFO:
		*first = 0;
		return 2;
	case T_MX:
		*first = 2;
		return 1;
	default:
		return 0;
	}
}

static void put_rdata(struct enc *e, uint16_t type, const uint8_t *rd, size_t rdlen)
{
	size_t at;
	int names = compressed_names(type, &at);
	if (names && at <= rdlen) {
		put(e, rd, at);
		for (int i = 0; i < names; i++) {
			size_t len = name_len(rd + at, rdlen - at);
			if (len == 0)
				break;
			put_name(e, rd + at, len);
			at += len;
		}
		put(e, rd + at, rdlen - at);
		return;
	}
	put(e, rd, rdlen);
}

static bool put_rr(struct enc *e, const struct item *it, const struct dns_rr *rr)
{
	size_t mark = e->pos;
	put_name(e, it->owner, it->ownerlen);
	put16(e, it->set->type);
	put16(e, C_IN);
	put32(e, rr->ttl);
	size_t rdlen_at = e->pos;
	put16(e, 0);
	put_rdata(e, it->set->type, rr->rdata, rr->rdlen);
	if (e->overflow) {
		rollback(e, mark);
		return false;
	}
	size_t rdlen = e->pos - rdlen_at - 2;
	e->p[rdlen_at] = (uint8_t)(rdlen >> 8);
	e->p[rdlen_at + 1] = (uint8_t)rdlen;
	return true;
}

/* NSD's packet_encode_rrset. Returns the records written; sets *tc when an
 * answer or authority RRset did not fit, *done when an optional one was
 * left out (nothing after it is tried). */
static unsigned put_rrset(struct enc *e, const struct item *it, uint32_t neg_ttl, bool *tc,
                          bool *done)
{
	size_t mark = e->pos;
	unsigned added = 0;
	bool all = true;
	for (unsigned i = 0; i < it->set->count; i++) {
		struct dns_rr rr = it->set->rrs[i];
		if (it->negative)
			rr.ttl = neg_ttl;
		if (!put_rr(e, it, &rr)) {
			all = false;
			break;
		}
		added++;
	}
	bool optional = it->section >= S_OPT_AUTHORITY;
	if (optional && !e->tcp && (!all || e->pos > MINIMAL_RESP)) {
		rollback(e, mark);
		*done = true;
		return 0;
	}
	if (!optional && !all) {
		rollback(e, mark);
		*tc = true;
		return 0;
	}
	return added;
}

/* Every collected RRset that fits, section by section (NSD's
 * encode_answer). Returns TC. */
static bool encode_sections(struct enc *e, const struct query *q)
{
	bool tc = false;
	for (int sec = 0; sec < S_COUNT && !tc; sec++) {
		bool done = false;
		for (unsigned i = 0; i < q->nitems && !tc; i++)
			if (q->items[i].section == sec)
				e->count[sec] +=
				    (uint16_t)put_rrset(e, &q->items[i], q->z->neg_ttl, &tc, &done);
		if (done) {
			/* a referral without a single address is of no use */
			if (sec == S_ADD_A && e->count[S_ADD_A] == 0 && q->delegation)
				tc = true;
			break;
		}
	}
	return tc;
}

/* ---- the request ---- */

struct edns {
	int status; /* 0 none, 1 ok, -1 a version we do not speak */
	uint16_t size;
	bool do_bit;
};

/* The question at p: a name without pointers, type and class. Returns the
 * bytes it takes, or 0. */
static size_t parse_question(const uint8_t *p, size_t n, struct query *q)
{
	size_t len = name_len(p, n);
	if (len == 0 || n - len < 4)
		return 0;
	q->qname = p;
	q->qnamelen = (uint8_t)len;
	q->qtype = (uint16_t)(p[len] << 8 | p[len + 1]);
	q->qclass = (uint16_t)(p[len + 2] << 8 | p[len + 3]);
	return len + 4;
}

/* A resource record's size at p (a compressed owner allowed), or 0. */
static size_t skip_rr(const uint8_t *p, size_t n)
{
	size_t i = 0;
	while (i < n && p[i] != 0 && (p[i] & 0xc0) == 0)
		i += (size_t)p[i] + 1;
	if (i >= n)
		return 0;
	i += (p[i] & 0xc0) ? 2 : 1;
	if (i + 10 > n)
		return 0;
	size_t rdlen = (size_t)p[i + 8] << 8 | p[i + 9];
	return i + 10 + rdlen <= n ? i + 10 + rdlen : 0;
}

/* An OPT record at p? Returns its size (status set), 0 when it is not one
 * or is malformed (NSD's edns_parse_record). */
static size_t parse_opt(const uint8_t *p, size_t n, struct edns *edns)
{
	if (n < OPT_SIZE || p[0] != 0 || p[1] != 0 || p[2] != T_OPT)
		return 0;
	uint16_t size = (uint16_t)(p[3] << 8 | p[4]);
	uint8_t version = p[6];
	uint16_t flags = (uint16_t)(p[7] << 8 | p[8]);
	size_t rdlen = (size_t)p[9] << 8 | p[10];
	if (version != 0) {
		edns->status = -1;
		return OPT_SIZE;
	}
	if (rdlen > n - OPT_SIZE || rdlen > 65530)
		return 0;
	const uint8_t *o = p + OPT_SIZE;
	size_t left = rdlen;
	while (left >= 4) {
		size_t optlen = (size_t)o[2] << 8 | o[3];
		left -= 4;
		if (left < optlen)
			return 0;
		left -= optlen;
		o += 4 + optlen;
	}
	if (left != 0)
		return 0;
	edns->status = 1;
	edns->size = size;
	edns->do_bit = flags & 0x8000;
	return OPT_SIZE + rdlen;
}

static void set_counts(uint8_t *out, unsigned qd, unsigned an, unsigned ns, unsigned ar)
{
	unsigned v[4] = { qd, an, ns, ar };
	for (int i = 0; i < 4; i++) {
		out[4 + 2 * i] = (uint8_t)(v[i] >> 8);
		out[5 + 2 * i] = (uint8_t)v[i];
	}
}

/* NSD's query_error: the header back with QR, AD cleared, an rcode, no
 * sections. */
static size_t header_reply(const uint8_t *q, uint8_t *out, size_t outcap, uint8_t rcode)
{
	if (outcap < HEADER)
		return 0;
	memcpy(out, q, 4);
	out[2] |= 0x80;
	out[3] = (uint8_t)((q[3] & 0xd0) | rcode);
	set_counts(out, 0, 0, 0, 0);
	return HEADER;
}

/* FORMERR: only the opcode and RD are kept (NSD's query_formerr). */
static size_t formerr(const uint8_t *q, uint8_t *out, size_t outcap, bool keep_flags)
{
	if (outcap < HEADER)
		return 0;
	memcpy(out, q, 2);
	out[2] = (uint8_t)(0x80 | (keep_flags ? q[2] & 0x79 : 0));
	out[3] = RCODE_FORMERR;
	set_counts(out, 0, 0, 0, 0);
	return HEADER;
}

/* Our OPT: size 1232, version 0, DO echoed, an extended error if any.
 * Returns the bytes written (0 if they do not fit). */
static size_t put_opt(uint8_t *p, size_t room, uint8_t ext_rcode, bool do_bit, int ede)
{
	if (room < OPT_SIZE)
		return 0;
	bool with_ede = ede != EDE_NONE && room >= OPT_SIZE + 6;
	uint8_t opt[OPT_SIZE + 6] = {
		0,
		0,
		T_OPT,
		DNS_EDNS_SIZE >> 8,
		DNS_EDNS_SIZE & 0xff,
		ext_rcode,
		0,
		do_bit ? 0x80 : 0,
		0,
		0,
		with_ede ? 6 : 0,
		0,
		15,
		0,
		2,
		(uint8_t)(ede >> 8),
		(uint8_t)ede,
	};
	size_t n = with_ede ? sizeof(opt) : OPT_SIZE;
	memcpy(p, opt, n);
	return n;
}

/* BADVERS: the question and an OPT with extended rcode 1 (16 = BADVERS). */
static size_t badvers(const uint8_t *q, const struct query *qq, uint8_t *out, size_t outcap)
{
	size_t qlen = (size_t)qq->qnamelen + 4;
	if (outcap < HEADER + qlen + OPT_SIZE)
		return 0;
	memcpy(out, q, 4);
	out[2] |= 0x80;
	out[3] = q[3] & 0xd0;
	set_counts(out, 1, 0, 0, 1);
	memcpy(out + HEADER, qq->qname, qlen);
	return HEADER + qlen + put_opt(out + HEADER + qlen, OPT_SIZE, 1, false, EDE_NONE);
}

static bool is_chaos_id(const uint8_t *lname, size_t len)
{
	static const char *names[] = { "\2id\6server", "\10hostname\4bind", "\7version\6server",
		                       "\7version\4bind" };
	for (size_t i = 0; i < ARRAY_SIZE(names); i++)
		if (len == strlen(names[i]) + 1 && memcmp(lname, names[i], len) == 0)
			return true;
	return false;
}

/* Decide what goes into the answer (or that there is none: rcode only).
 * Returns false for a header-only reply with q->rcode. */
static bool resolve(struct query *q)
{
	uint8_t lname[DNS_NAME_MAX];
	lower_copy(lname, q->qname, q->qnamelen);
	if (q->qclass != C_IN && q->qclass != C_ANY) {
		q->rcode = RCODE_REFUSED;
		q->ede = EDE_NOT_SUPPORTED;
		if (q->qclass != C_CH)
			return false;
		/* CHAOS: id.server and friends are not told (NSD's hide-*) */
		if ((q->qtype == T_TXT || q->qtype == T_ANY) && is_chaos_id(lname, q->qnamelen))
			q->ede = EDE_PROHIBITED;
		return true;
	}
	if (q->qtype == T_AXFR || q->qtype == T_IXFR) {
		if (q->qtype == T_AXFR && !q->tcp) {
			q->rcode = RCODE_NOTIMP;
			return true;
		}
		/* no transfers to anyone */
		bool apex = dns_name_equal(lname, q->qnamelen, q->z->apex->name, q->z->apex->len);
		q->rcode = apex ? RCODE_REFUSED : RCODE_NOTAUTH;
		q->ede = apex ? EDE_PROHIBITED : EDE_NONE;
		return true;
	}
	lookup_zone(q, q->qname, q->qnamelen);
	return true;
}

static size_t answer(const struct dns_zone *z, const uint8_t *pkt, size_t len, uint8_t *out,
                     size_t outcap, enum dns_transport transport, struct dns_answer_info *info)
{
	if (len < HEADER || (pkt[2] & 0x80))
		return 0; /* not a query: drop */
	uint8_t opcode = (pkt[2] >> 3) & 0x0f;
	if (opcode != OP_QUERY && opcode != OP_NOTIFY)
		return header_reply(pkt, out, outcap, RCODE_NOTIMP);
	struct query q;
	q.z = z;
	q.nitems = 0;
	size_t at = HEADER, n;
	if ((pkt[3] & 0x0f) != 0 || (n = parse_question(pkt + at, len - at, &q)) == 0)
		return formerr(pkt, out, outcap, true);
	info->qtype = q.qtype;
	if (opcode == OP_NOTIFY) {
		/* we are the primary: nobody notifies us */
		uint8_t lname[DNS_NAME_MAX];
		lower_copy(lname, q.qname, q.qnamelen);
		bool apex = dns_name_equal(lname, q.qnamelen, z->apex->name, z->apex->len);
		return header_reply(pkt, out, outcap, apex ? RCODE_REFUSED : RCODE_NXDOMAIN);
	}
	unsigned qd = (unsigned)pkt[4] << 8 | pkt[5], an = (unsigned)pkt[6] << 8 | pkt[7];
	unsigned ns = (unsigned)pkt[8] << 8 | pkt[9], ar = (unsigned)pkt[10] << 8 | pkt[11];
	struct edns edns = { 0 };
	if (qd != 1) {
		/* no question, only an OPT: an EDNS probe, answered with ours */
		if (qd == 0 && an == 0 && ns == 0 && ar == 1 &&
		    parse_opt(pkt + HEADER, len - HEADER, &edns) && edns.status == 1 &&
		    outcap >= HEADER + OPT_SIZE) {
			memcpy(out, pkt, 2);
			out[2] = (uint8_t)(0x80 | (pkt[2] & 0x79));
			out[3] = 0;
			set_counts(out, 0, 0, 0, 1);
			return HEADER + put_opt(out + HEADER, OPT_SIZE, 0, edns.do_bit, EDE_NONE);
		}
		return formerr(pkt, out, outcap, false);
	}
	at += n;
	if (an != 0 || (ns != 0 && q.qtype != T_IXFR) || ns > 64)
		return formerr(pkt, out, outcap, true);
	for (unsigned i = 0; i < ns; i++) { /* an IXFR's SOA */
		if ((n = skip_rr(pkt + at, len - at)) == 0)
			return formerr(pkt, out, outcap, true);
		at += n;
	}
	if (ar > 0 && (n = parse_opt(pkt + at, len - at, &edns)) > 0)
		ar--;
	if (ar > 0) /* anything but one OPT (a TSIG we could not check) */
		return formerr(pkt, out, outcap, true);
	/* trailing bytes are ignored, as NSD does */
	if (edns.status < 0) {
		info->rcode = 16; /* the OPT's extended rcode 1, over the header's 0 */
		return badvers(pkt, &q, out, outcap);
	}
	info->edns = edns.status == 1;

	q.tcp = transport == DNS_TCP;
	q.rcode = RCODE_OK;
	q.aa = false;
	q.ede = EDE_NONE;
	q.cname_count = 0;
	q.delegation = NULL;
	size_t maxlen = q.tcp ? DNS_MESSAGE_MAX : DNS_UDP_MAX;
	if (!q.tcp && edns.status == 1 && edns.size > DNS_UDP_MAX)
		maxlen = MIN((size_t)edns.size, (size_t)DNS_EDNS_SIZE);
	maxlen = MIN(maxlen, outcap);
	size_t reserved = edns.status == 1 ? OPT_SIZE : 0;
	size_t qsize = (size_t)q.qnamelen + 4;
	if (maxlen < HEADER + qsize + reserved)
		return 0;

	bool sections = resolve(&q);

	/* The header and the question, as the query had it. */
	memcpy(out, pkt, 2);
	out[2] = (uint8_t)(0x80 | (pkt[2] & 0x01) | (q.aa ? 0x04 : 0));
	out[3] = q.rcode;
	struct enc e;
	e.p = out;
	e.pos = HEADER;
	e.limit = maxlen - reserved;
	e.overflow = false;
	e.tcp = q.tcp;
	e.ncomp = 0;
	memset(e.count, 0, sizeof(e.count));
	memset(e.bucket, 0, sizeof(e.bucket));
	if (sections) {
		put(&e, q.qname, qsize);
		/* The question's name and its parents are known names: the
		 * records' names point at them, in the query's case. */
		for (size_t i = 0; q.qname[i]; i += (size_t)q.qname[i] + 1)
			comp_add(&e, q.qname + i, q.qnamelen - i, HEADER + i);
		if (encode_sections(&e, &q))
			out[2] |= 0x02; /* TC */
	}
	unsigned arcount = e.count[S_ADD_A] + e.count[S_ADD_AAAA] + e.count[S_ADD_OTHER];
	size_t end = e.pos;
	if (edns.status == 1) {
		size_t o = put_opt(out + end, outcap - end, 0, edns.do_bit, q.ede);
		end += o;
		arcount += o ? 1 : 0;
	}
	set_counts(out, sections ? 1 : 0, e.count[S_ANSWER],
	           e.count[S_AUTHORITY] + e.count[S_OPT_AUTHORITY], arcount);
	return end;
}

size_t dns_answer(const struct dns_zone *z, const uint8_t *pkt, size_t len, uint8_t *out,
                  size_t outcap, enum dns_transport transport, struct dns_answer_info *info)
{
	struct dns_answer_info none;
	if (info == NULL)
		info = &none;
	memset(info, 0, sizeof(*info));
	size_t n = answer(z, pkt, len, out, outcap, transport, info);
	if (n < HEADER) {
		memset(info, 0, sizeof(*info));
		return n;
	}
	info->rcode |= out[3] & 0x0f;
	info->truncated = (out[2] & 0x02) != 0;
	return n;
}
