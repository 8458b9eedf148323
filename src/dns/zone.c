/* zone.c - the site's zone: read (from the stack file or an RFC 1035 zone
 * file, with ldns) and indexed for dns_answer. See dns.h.
 *
 * Loading has two passes over the records ldns parsed: the first makes the
 * nodes (every owner and the empty non-terminals between it and the apex)
 * and their RRsets and counts the records; the second copies each record's
 * rdata in wire format, dropping duplicates. Everything lives in one arena
 * freed with the zone, plus the hash table of nodes.
 */
#include <errno.h>
#include <ldns/ldns.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "conf/conf.h"
#include "core/common.h"
#include "dns.h"

/* ---- the arena ---- */

struct dns_zone_mem {
	struct dns_zone_mem *next;
	size_t used, size;
	max_align_t data[];
};

static void *zalloc(struct dns_zone *z, size_t n)
{
	n = (n + 15) & ~(size_t)15;
	struct dns_zone_mem *m = z->mem;
	if (m == NULL || m->size - m->used < n) {
		size_t size = MAX(n, (size_t)64 * 1024);
		m = xmalloc(sizeof(*m) + size);
		m->used = 0;
		m->size = size;
		m->next = z->mem;
		z->mem = m;
	}
	void *p = (char *)m->data + m->used;
	m->used += n;
	memset(p, 0, n);
	return p;
}

void dns_zone_free(struct dns_zone *z)
{
	for (struct dns_zone_mem *m = z->mem, *next; m; m = next) {
		next = m->next;
		free(m);
	}
	free(z->table);
	memset(z, 0, sizeof(*z));
}

/* ---- nodes ---- */

const struct dns_node *dns_zone_find(const struct dns_zone *z, const uint8_t *name, size_t len)
{
	if (z->table == NULL)
		return NULL;
	uint32_t h = dns_name_hash(name, len);
	for (const struct dns_node *n = z->table[h & z->mask]; n; n = n->hnext)
		if (n->hash == h && dns_name_equal(n->name, n->len, name, len))
			return n;
	return NULL;
}

const struct dns_rrset *dns_node_rrset(const struct dns_node *n, uint16_t type)
{
	for (const struct dns_rrset *s = n->rrsets; s; s = s->next)
		if (s->type == type)
			return s;
	return NULL;
}

static void table_grow(struct dns_zone *z)
{
	uint32_t size = z->table ? (z->mask + 1) * 2 : 256;
	struct dns_node **t = xcalloc(size, sizeof(*t));
	for (uint32_t i = 0; z->table && i <= z->mask; i++) {
		for (struct dns_node *n = z->table[i], *next; n; n = next) {
			next = n->hnext;
			n->hnext = t[n->hash & (size - 1)];
			t[n->hash & (size - 1)] = n;
		}
	}
	free(z->table);
	z->table = t;
	z->mask = size - 1;
}

static uint8_t label_count(const uint8_t *name)
{
	uint8_t n = 0;
	for (; *name; name += *name + 1)
		n++;
	return n;
}

/* The node of name (wire format, at or below the apex), made with the
 * empty non-terminals above it if new. name must outlive the zone (it is in
 * the arena). */
static struct dns_node *node_get(struct dns_zone *z, const uint8_t *name, size_t len)
{
	struct dns_node *n = (struct dns_node *)dns_zone_find(z, name, len);
	if (n)
		return n;
	n = zalloc(z, sizeof(*n));
	n->name = name;
	n->len = (uint8_t)len;
	n->labels = label_count(name);
	n->hash = dns_name_hash(name, len);
	if (z->apex) /* below the apex: the parent is one label up */
		n->parent = node_get(z, name + name[0] + 1, len - name[0] - 1);
	if (n->parent && name[0] == 1 && name[1] == '*')
		n->parent->wildcard = n;
	if ((z->nnodes + 1) * 2 > (z->table ? z->mask + 1 : 0))
		table_grow(z);
	n->hnext = z->table[n->hash & z->mask];
	z->table[n->hash & z->mask] = n;
	z->nnodes++;
	return n;
}

/* ---- building from parsed records ---- */

struct zone_src {
	const char *name; /* file name, for messages */
	ldns_rr **rrs;
	int *lines;
	size_t n, cap;
};

static void src_push(struct zone_src *src, ldns_rr *rr, int line)
{
	if (src->n == src->cap) {
		src->cap = src->cap ? src->cap * 2 : 64;
		src->rrs = xrealloc(src->rrs, src->cap * sizeof(*src->rrs));
		src->lines = xrealloc(src->lines, src->cap * sizeof(*src->lines));
	}
	src->rrs[src->n] = rr;
	src->lines[src->n] = line;
	src->n++;
}

static void src_free(struct zone_src *src)
{
	for (size_t i = 0; i < src->n; i++)
		ldns_rr_free(src->rrs[i]);
	free(src->rrs);
	free(src->lines);
}

static void where(const struct zone_src *src, int line, char *err, size_t errlen, const char *msg,
                  const ldns_rr *rr)
{
	char *owner = rr ? ldns_rdf2str(ldns_rr_owner(rr)) : NULL;
	if (line > 0)
		snprintf(err, errlen, "%s:%d: %s%s%s", src->name, line, owner ? owner : "",
		         owner ? ": " : "", msg);
	else
		snprintf(err, errlen, "%s: %s%s%s", src->name, owner ? owner : "",
		         owner ? ": " : "", msg);
	free(owner);
}

static bool is_below(const ldns_rdf *name, const ldns_rdf *apex)
{
	return ldns_dname_compare(name, apex) == 0 || ldns_dname_is_subdomain(name, apex);
}

/* Pass one: nodes and RRsets, with what can be checked per record. */
static int zone_index(struct dns_zone *z, const struct zone_src *src, const ldns_rdf *apex,
                      char *err, size_t errlen)
{
	uint8_t *aname = zalloc(z, ldns_rdf_size(apex));
	memcpy(aname, ldns_rdf_data(apex), ldns_rdf_size(apex));
	z->apex = node_get(z, aname, ldns_rdf_size(apex));
	for (size_t i = 0; i < src->n; i++) {
		const ldns_rr *rr = src->rrs[i];
		const ldns_rdf *owner = ldns_rr_owner(rr);
		uint16_t type = (uint16_t)ldns_rr_get_type(rr);
		if (ldns_rr_get_class(rr) != LDNS_RR_CLASS_IN) {
			where(src, src->lines[i], err, errlen, "only class IN is served", rr);
			return -1;
		}
		if (!is_below(owner, apex)) {
			char *a = ldns_rdf2str(apex), msg[512];
			snprintf(msg, sizeof(msg), "out of zone data: outside %s", a);
			free(a);
			where(src, src->lines[i], err, errlen, msg, rr);
			return -1;
		}
		if (type == LDNS_RR_TYPE_DNAME || type == LDNS_RR_TYPE_OPT ||
		    type == LDNS_RR_TYPE_TSIG || type == LDNS_RR_TYPE_ANY ||
		    type == LDNS_RR_TYPE_AXFR || type == LDNS_RR_TYPE_IXFR) {
			char *t = ldns_rr_type2str(ldns_rr_get_type(rr)), msg[128];
			snprintf(msg, sizeof(msg), "%s records are not served", t);
			free(t);
			where(src, src->lines[i], err, errlen, msg, rr);
			return -1;
		}
		if (type == LDNS_RR_TYPE_SOA && ldns_dname_compare(owner, apex) != 0) {
			where(src, src->lines[i], err, errlen, "SOA not at the zone's apex", rr);
			return -1;
		}
		size_t len = ldns_rdf_size(owner);
		struct dns_node *n = (struct dns_node *)dns_zone_find(z, ldns_rdf_data(owner), len);
		if (n == NULL) {
			uint8_t *name = zalloc(z, len);
			memcpy(name, ldns_rdf_data(owner), len);
			n = node_get(z, name, len);
		}
		struct dns_rrset **tail = &n->rrsets, *set = NULL;
		for (; *tail; tail = &(*tail)->next)
			if ((*tail)->type == type)
				set = *tail;
		if (set == NULL) {
			bool cname = type == LDNS_RR_TYPE_CNAME;
			if (n->rrsets && (cname || dns_node_rrset(n, LDNS_RR_TYPE_CNAME))) {
				where(src, src->lines[i], err, errlen,
				      "CNAME and other data at the same name", rr);
				return -1;
			}
			set = *tail = zalloc(z, sizeof(*set));
			set->type = type;
			set->node = n;
		}
		if (++set->cap == UINT16_MAX) {
			where(src, src->lines[i], err, errlen, "too many records at one name", rr);
			return -1;
		}
	}
	return 0;
}

/* Pass two: each record's rdata, duplicates dropped. */
static int zone_fill(struct dns_zone *z, const struct zone_src *src, char *err, size_t errlen)
{
	ldns_buffer *buf = ldns_buffer_new(512);
	int rc = -1;
	for (size_t i = 0; i < src->n; i++) {
		const ldns_rr *rr = src->rrs[i];
		const ldns_rdf *owner = ldns_rr_owner(rr);
		const struct dns_node *n =
		    dns_zone_find(z, ldns_rdf_data(owner), ldns_rdf_size(owner));
		struct dns_rrset *set =
		    (struct dns_rrset *)dns_node_rrset(n, (uint16_t)ldns_rr_get_type(rr));
		if (set->rrs == NULL)
			set->rrs = zalloc(z, set->cap * sizeof(*set->rrs));
		ldns_buffer_clear(buf);
		if (ldns_rr_rdata2buffer_wire(buf, rr) != LDNS_STATUS_OK ||
		    ldns_buffer_position(buf) > UINT16_MAX) {
			where(src, src->lines[i], err, errlen, "record too long", rr);
			goto out;
		}
		size_t rdlen = ldns_buffer_position(buf);
		const uint8_t *rd = ldns_buffer_begin(buf);
		bool dup = false;
		for (unsigned k = 0; k < set->count && !dup; k++)
			dup =
			    set->rrs[k].rdlen == rdlen && memcmp(set->rrs[k].rdata, rd, rdlen) == 0;
		if (dup)
			continue;
		if (set->count == 1 &&
		    (set->type == LDNS_RR_TYPE_CNAME || set->type == LDNS_RR_TYPE_SOA)) {
			where(src, src->lines[i], err, errlen,
			      set->type == LDNS_RR_TYPE_SOA ? "a second SOA"
			                                    : "multiple CNAMEs at the same name",
			      rr);
			goto out;
		}
		uint8_t *copy = zalloc(z, rdlen ? rdlen : 1);
		memcpy(copy, rd, rdlen);
		set->rrs[set->count++] =
		    (struct dns_rr){ (uint32_t)ldns_rr_ttl(rr), (uint16_t)rdlen, copy };
		z->nrecords++;
	}
	rc = 0;
out:
	ldns_buffer_free(buf);
	return rc;
}

/* The index of the records in src, for the zone named apex. */
static int zone_build(struct dns_zone *z, const struct zone_src *src, const ldns_rdf *apex,
                      char *err, size_t errlen)
{
	if (zone_index(z, src, apex, err, errlen) < 0 || zone_fill(z, src, err, errlen) < 0)
		return -1;
	z->soa = (struct dns_rrset *)dns_node_rrset(z->apex, LDNS_RR_TYPE_SOA);
	if (z->soa == NULL) {
		char *a = ldns_rdf2str(apex);
		snprintf(err, errlen, "%s: no SOA record at the apex %s", src->name, a);
		free(a);
		return -1;
	}
	z->ns = (struct dns_rrset *)dns_node_rrset(z->apex, LDNS_RR_TYPE_NS);
	/* RFC 2308 section 5: a negative answer's SOA lives no longer than its
	 * MINIMUM; NSD sends min(TTL, MINIMUM). */
	const struct dns_rr *soa = &z->soa->rrs[0];
	uint32_t minimum = 0;
	if (soa->rdlen >= 4) {
		const uint8_t *m = soa->rdata + soa->rdlen - 4;
		minimum = (uint32_t)m[0] << 24 | (uint32_t)m[1] << 16 | (uint32_t)m[2] << 8 | m[3];
	}
	z->neg_ttl = MIN(soa->ttl, minimum);
	return 0;
}

static ldns_rdf *apex_name(const char *origin, char *err, size_t errlen)
{
	ldns_rdf *apex = NULL;
	char fqdn[DNS_NAME_MAX + 2];
	size_t n = strlen(origin);
	snprintf(fqdn, sizeof(fqdn), "%s%s", origin, n && origin[n - 1] == '.' ? "" : ".");
	if (n == 0 || n > DNS_NAME_MAX || ldns_str2rdf_dname(&apex, fqdn) != LDNS_STATUS_OK) {
		snprintf(err, errlen, "bad zone name '%s'", origin);
		return NULL;
	}
	ldns_dname2canonical(apex);
	return apex;
}

/* ---- a zone file ---- */

/* Where records begin, in lines: ldns counts the lines it has consumed,
 * which run past a record (and include the comments before it). */
struct lines {
	const char *text;
	size_t off; /* counted up to here */
	int line;   /* the line of off */
};

/* The line of the first thing that is not blank or a comment at or after
 * off (the start of the record ldns read from there). */
static int line_of_record(struct lines *l, size_t off, size_t end)
{
	const char *t = l->text;
	while (off < end) {
		if (t[off] == ';')
			while (off < end && t[off] != '\n')
				off++;
		else if (t[off] == ' ' || t[off] == '\t' || t[off] == '\r' || t[off] == '\n')
			off++;
		else
			break;
	}
	for (; l->off < off; l->off++)
		if (t[l->off] == '\n')
			l->line++;
	return l->line;
}

/* Read every record of the text (ldns' own zone reader skips a second SOA
 * silently and says only where it stopped: this loop sees each record). */
static int zone_read(struct zone_src *src, const char *text, size_t len, const ldns_rdf *apex,
                     uint32_t default_ttl, char *err, size_t errlen)
{
	if (len == 0)
		return 0; /* nothing (fmemopen wants a byte) */
	FILE *fp = fmemopen((void *)text, len, "r");
	if (fp == NULL) {
		snprintf(err, errlen, "%s: %s", src->name, strerror(errno));
		return -1;
	}
	ldns_rdf *origin = ldns_rdf_clone(apex), *prev = ldns_rdf_clone(apex);
	struct lines lines = { text, 0, 1 };
	uint32_t ttl = default_ttl;
	bool dollar_ttl = false;
	int ldns_line = 1, rc = -1;
	while (!feof(fp)) {
		ldns_rr *rr = NULL;
		long before = ftell(fp);
		ldns_status st = ldns_rr_new_frm_fp_l(&rr, fp, &ttl, &origin, &prev, &ldns_line);
		long after = ftell(fp);
		int line =
		    line_of_record(&lines, (size_t)MAX(before, 0L), (size_t)MAX(after, before));
		switch (st) {
		case LDNS_STATUS_OK:
			/* RFC 1035 5.1: without $TTL a record takes the last TTL given */
			if (!dollar_ttl)
				ttl = ldns_rr_ttl(rr);
			src_push(src, rr, line);
			break;
		case LDNS_STATUS_SYNTAX_TTL:
			dollar_ttl = true;
			break;
		case LDNS_STATUS_SYNTAX_ORIGIN:
		case LDNS_STATUS_SYNTAX_EMPTY:
			break;
		case LDNS_STATUS_SYNTAX_INCLUDE:
			snprintf(err, errlen, "%s:%d: $INCLUDE is not supported", src->name, line);
			goto out;
		default:
			snprintf(err, errlen, "%s:%d: %s", src->name, line,
			         ldns_get_errorstr_by_id(st));
			goto out;
		}
	}
	rc = 0;
out:
	fclose(fp);
	ldns_rdf_deep_free(origin);
	ldns_rdf_deep_free(prev);
	return rc;
}

/* The end of every load: the zone of src's records under apex when both
 * were had (read_rc is 0; else err says why), src and apex freed either way.
 * Returns 0, or -1 with err set and z empty. */
static int zone_finish(struct dns_zone *z, struct zone_src *src, ldns_rdf *apex, int read_rc,
                       char *err, size_t errlen)
{
	int rc = -1;
	if (apex && read_rc == 0 && zone_build(z, src, apex, err, errlen) == 0)
		rc = 0;
	src_free(src);
	if (apex)
		ldns_rdf_deep_free(apex);
	if (rc < 0)
		dns_zone_free(z);
	return rc;
}

int dns_zone_load_string(struct dns_zone *z, const char *name, const char *text, const char *origin,
                         uint32_t default_ttl, char *err, size_t errlen)
{
	memset(z, 0, sizeof(*z));
	struct zone_src src = { .name = name };
	ldns_rdf *apex = apex_name(origin, err, errlen);
	int read_rc =
	    apex ? zone_read(&src, text, strlen(text), apex, default_ttl, err, errlen) : -1;
	return zone_finish(z, &src, apex, read_rc, err, errlen);
}

#define ZONE_FILE_MAX (64u << 20)

int dns_zone_load_file(struct dns_zone *z, const char *path, const char *origin,
                       uint32_t default_ttl, char *err, size_t errlen)
{
	memset(z, 0, sizeof(*z));
	FILE *fp = fopen(path, "r");
	if (fp == NULL) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	/* Whole, so that lines can be told (and NUL-terminated for ldns). */
	size_t len = 0, cap = 64 * 1024;
	char *text = xmalloc(cap);
	for (;;) {
		size_t n = fread(text + len, 1, cap - len - 1, fp);
		len += n;
		if (n == 0 || len > ZONE_FILE_MAX)
			break;
		if (cap - len - 1 == 0)
			text = xrealloc(text, cap *= 2);
	}
	int bad = ferror(fp);
	fclose(fp);
	int rc = -1;
	if (bad)
		snprintf(err, errlen, "%s: read error", path);
	else if (len > ZONE_FILE_MAX)
		snprintf(err, errlen, "%s: larger than %u MB", path, ZONE_FILE_MAX >> 20);
	else if (memchr(text, '\0', len))
		snprintf(err, errlen, "%s: not a text file (a NUL byte)", path);
	else {
		text[len] = '\0';
		rc = dns_zone_load_string(z, path, text, origin, default_ttl, err, errlen);
	}
	free(text);
	return rc;
}

/* ---- the zone of the stack file ---- */

static int add(struct zone_src *src, const char *text, char *err, size_t errlen)
{
	ldns_rr *rr = NULL;
	ldns_status st = ldns_rr_new_frm_str(&rr, text, 0, NULL, NULL);
	if (st != LDNS_STATUS_OK) {
		snprintf(err, errlen, "bad record '%s': %s", text, ldns_get_errorstr_by_id(st));
		return -1;
	}
	src_push(src, rr, 0);
	return 0;
}

/* "A" or "AAAA" for an address. */
static const char *addr_type(const char *address)
{
	return strchr(address, ':') ? "AAAA" : "A";
}

/* The apex: SOA (MNAME ns1), then one NS per host with the dns role,
 * ns1.<domain>, ns2.<domain>... in the stack file's order (ns1 alone when
 * none has it, as always). */
static int apex_records(struct zone_src *src, const struct conf *s, uint32_t ttl, char *err,
                        size_t errlen)
{
	const char *d = s->site.domain;
	char text[1024];
	/* A serial that grows with every start, as dates do. */
	uint32_t serial = (uint32_t)time(NULL);
	snprintf(text, sizeof(text), "%s. %u IN SOA ns1.%s. hostmaster.%s. %u 3600 600 604800 %u",
	         d, ttl, d, d, serial, ttl);
	if (add(src, text, err, errlen) < 0)
		return -1;
	unsigned n = 0;
	for (unsigned i = 0; i < s->nhosts; i++)
		n += (s->hosts[i].roles & ROLE_DNS) != 0;
	for (unsigned k = 1; k <= MAX(n, 1u); k++) {
		snprintf(text, sizeof(text), "%s. %u IN NS ns%u.%s.", d, ttl, k, d);
		if (add(src, text, err, errlen) < 0)
			return -1;
	}
	return 0;
}

/* A record per host, the name servers' addresses (glue), and www.<domain>:
 * [site] vip when the site has one, else the [site] www host's address. */
static int stack_records(struct zone_src *src, const struct conf *s, uint32_t ttl, char *err,
                         size_t errlen)
{
	const char *d = s->site.domain;
	char text[1024];
	if (apex_records(src, s, ttl, err, errlen) < 0)
		return -1;
	for (unsigned i = 0; i < s->nhosts; i++) {
		const struct conf_host *h = &s->hosts[i];
		snprintf(text, sizeof(text), "%s.%s. %u IN %s %s", h->name, d, ttl,
		         addr_type(h->address), h->address);
		if (add(src, text, err, errlen) < 0)
			return -1;
	}
	unsigned k = 0;
	for (unsigned i = 0; i < s->nhosts; i++) {
		const struct conf_host *h = &s->hosts[i];
		if (!(h->roles & ROLE_DNS))
			continue;
		snprintf(text, sizeof(text), "ns%u.%s. %u IN %s %s", ++k, d, ttl,
		         addr_type(h->address), h->address);
		if (add(src, text, err, errlen) < 0)
			return -1;
	}
	const char *www = conf_www_address(s);
	if (www) {
		snprintf(text, sizeof(text), "www.%s. %u IN %s %s", d, ttl, addr_type(www), www);
		if (add(src, text, err, errlen) < 0)
			return -1;
	}
	return 0;
}

int dns_zone_from_stack(struct dns_zone *z, const struct conf *s, uint32_t ttl, char *err,
                        size_t errlen)
{
	memset(z, 0, sizeof(*z));
	struct zone_src src = { .name = "the stack file's zone" };
	ldns_rdf *apex = apex_name(s->site.domain, err, errlen);
	int read_rc = apex ? stack_records(&src, s, ttl, err, errlen) : -1;
	return zone_finish(z, &src, apex, read_rc, err, errlen);
}

uint32_t dns_zone_serial(const struct dns_zone *z)
{
	const struct dns_rr *soa = &z->soa->rrs[0];
	if (soa->rdlen < 20)
		return 0;
	const uint8_t *p = soa->rdata + soa->rdlen - 20;
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}
