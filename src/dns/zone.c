/* zone.c - the site's zone, made from the stack file. */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "core/stack.h"
#include "dns.h"

static int add(struct dns_zone *z, const char *text, char *err, size_t errlen)
{
	ldns_rr *rr = NULL;
	ldns_status st = ldns_rr_new_frm_str(&rr, text, 0, NULL, NULL);
	if (st != LDNS_STATUS_OK) {
		snprintf(err, errlen, "bad record '%s': %s", text, ldns_get_errorstr_by_id(st));
		return -1;
	}
	ldns_rr_list_push_rr(z->rrs, rr);
	return 0;
}

int dns_zone_from_stack(struct dns_zone *z, const struct stack *s, uint32_t ttl, char *err,
                        size_t errlen)
{
	memset(z, 0, sizeof(*z));
	const char *d = s->site.domain;
	char text[1024];
	z->rrs = ldns_rr_list_new();
	z->apex = ldns_dname_new_frm_str(d);
	if (z->apex == NULL) {
		snprintf(err, errlen, "bad domain '%s'", d);
		return -1;
	}
	/* A serial that grows with every start, as dates do. */
	uint32_t serial = (uint32_t)time(NULL);
	snprintf(text, sizeof(text), "%s. %u IN SOA ns1.%s. hostmaster.%s. %u 3600 600 604800 %u",
	         d, ttl, d, d, serial, ttl);
	if (add(z, text, err, errlen) < 0)
		return -1;
	z->soa = ldns_rr_list_rr(z->rrs, 0);
	snprintf(text, sizeof(text), "%s. %u IN NS ns1.%s.", d, ttl, d);
	if (add(z, text, err, errlen) < 0)
		return -1;
	const struct stack_host *dns = stack_host_with_role(s, ROLE_DNS);
	const struct stack_host *www = stack_host(s, s->site.www);
	for (unsigned i = 0; i < s->nhosts; i++) {
		const struct stack_host *h = &s->hosts[i];
		const char *type = strchr(h->address, ':') ? "AAAA" : "A";
		snprintf(text, sizeof(text), "%s.%s. %u IN %s %s", h->name, d, ttl, type,
		         h->address);
		if (add(z, text, err, errlen) < 0)
			return -1;
	}
	if (dns) {
		snprintf(text, sizeof(text), "ns1.%s. %u IN %s %s", d, ttl,
		         strchr(dns->address, ':') ? "AAAA" : "A", dns->address);
		if (add(z, text, err, errlen) < 0)
			return -1;
	}
	if (www) {
		snprintf(text, sizeof(text), "www.%s. %u IN %s %s", d, ttl,
		         strchr(www->address, ':') ? "AAAA" : "A", www->address);
		if (add(z, text, err, errlen) < 0)
			return -1;
	}
	return 0;
}

void dns_zone_free(struct dns_zone *z)
{
	if (z->rrs)
		ldns_rr_list_deep_free(z->rrs);
	if (z->apex)
		ldns_rdf_deep_free(z->apex);
	memset(z, 0, sizeof(*z));
}
