/* dns.h - tristack-dns: authoritative DNS for the site's zone (ldns).
 *
 * The zone is built from the stack file: SOA and NS at the apex, an A
 * record per host (<host>.<domain>), www.<domain> pointing at the [site]
 * www host, ns1.<domain> at the DNS host. Answers carry AA; names outside
 * the zone are REFUSED (no recursion); a missing name is NXDOMAIN and a
 * missing type NODATA, both with the SOA in the authority section.
 */
#ifndef TS_DNS_H
#define TS_DNS_H

#include <ldns/ldns.h>
#include <stddef.h>
#include <stdint.h>

struct stack;

struct dns_zone {
	ldns_rdf *apex;
	ldns_rr *soa;
	ldns_rr_list *rrs; /* everything, the SOA included */
};

/* Build the zone from the stack. Returns 0, or -1 with err set. */
int dns_zone_from_stack(struct dns_zone *z, const struct stack *s, uint32_t ttl, char *err,
                        size_t errlen);
void dns_zone_free(struct dns_zone *z);

/* Answer one query (wire format). Returns the response length written to
 * out, or 0 when nothing should be sent (not a query, unparseable header).
 * max_size: the most the transport carries (512 or the EDNS size for UDP). */
size_t dns_answer(const struct dns_zone *z, const uint8_t *q, size_t qlen, uint8_t *out,
                  size_t outcap, size_t max_size);

#endif
