/* answer.c - one query in, one response out (a pure function of the zone
 * and the bytes, so it can be fuzzed). */
#include <string.h>

#include "core/common.h"
#include "dns.h"

#define EDNS_SIZE 1232 /* the DNS flag day 2020 value */

/* Write a header-only response (FORMERR and friends) echoing the id. */
static size_t bare_response(const uint8_t *q, size_t qlen, uint8_t *out, size_t outcap,
                            uint8_t rcode)
{
	if (qlen < 12 || outcap < 12)
		return 0;
	memcpy(out, q, 2);
	out[2] = (uint8_t)(0x80 | (q[2] & 0x79)); /* QR, opcode and RD echoed */
	out[3] = rcode & 0x0f;
	memset(out + 4, 0, 8);
	return 12;
}

static void add_soa(ldns_pkt *p, const struct dns_zone *z)
{
	ldns_pkt_push_rr(p, LDNS_SECTION_AUTHORITY, ldns_rr_clone(z->soa));
}

size_t dns_answer(const struct dns_zone *z, const uint8_t *q, size_t qlen, uint8_t *out,
                  size_t outcap, size_t max_size)
{
	if (qlen < 12 || (q[2] & 0x80))
		return 0; /* too short to answer, or a response: drop */
	uint8_t opcode = (q[2] >> 3) & 0x0f;
	if (opcode != LDNS_PACKET_QUERY)
		return bare_response(q, qlen, out, outcap, LDNS_RCODE_NOTIMPL);
	ldns_pkt *query = NULL;
	if (ldns_wire2pkt(&query, q, qlen) != LDNS_STATUS_OK)
		return bare_response(q, qlen, out, outcap, LDNS_RCODE_FORMERR);
	size_t len = 0;
	ldns_pkt *resp = NULL;
	if (ldns_pkt_qdcount(query) != 1 || ldns_pkt_ancount(query) || ldns_pkt_nscount(query)) {
		len = bare_response(q, qlen, out, outcap, LDNS_RCODE_FORMERR);
		goto out;
	}
	ldns_rr *question = ldns_rr_list_rr(ldns_pkt_question(query), 0);
	ldns_rdf *qname = ldns_rr_owner(question);
	ldns_rr_type qtype = ldns_rr_get_type(question);
	resp = ldns_pkt_new();
	ldns_pkt_set_id(resp, ldns_pkt_id(query));
	ldns_pkt_set_qr(resp, true);
	ldns_pkt_set_rd(resp, ldns_pkt_rd(query));
	ldns_pkt_set_opcode(resp, LDNS_PACKET_QUERY);
	ldns_pkt_push_rr(resp, LDNS_SECTION_QUESTION, ldns_rr_clone(question));
	if (ldns_pkt_edns(query)) {
		ldns_pkt_set_edns_udp_size(resp, EDNS_SIZE);
		if (ldns_pkt_edns_version(query) != 0) {
			/* BADVERS is 16: 0 in the header, 1 in the OPT extended rcode */
			ldns_pkt_set_edns_extended_rcode(resp, 1);
			ldns_pkt_set_rcode(resp, 0);
			goto render;
		}
		if (ldns_pkt_edns_udp_size(query) > 512)
			max_size =
			    MIN(max_size, MAX(512u, MIN((size_t)EDNS_SIZE,
			                                (size_t)ldns_pkt_edns_udp_size(query))));
	}
	if (ldns_rr_get_class(question) != LDNS_RR_CLASS_IN) {
		ldns_pkt_set_rcode(resp, LDNS_RCODE_REFUSED);
		goto render;
	}
	if (!ldns_dname_is_subdomain(qname, z->apex) && ldns_dname_compare(qname, z->apex) != 0) {
		ldns_pkt_set_rcode(resp, LDNS_RCODE_REFUSED); /* not ours; no recursion */
		goto render;
	}
	ldns_pkt_set_aa(resp, true);
	bool name_exists = false;
	for (size_t i = 0; i < ldns_rr_list_rr_count(z->rrs); i++) {
		ldns_rr *rr = ldns_rr_list_rr(z->rrs, i);
		if (ldns_dname_compare(ldns_rr_owner(rr), qname) != 0)
			continue;
		name_exists = true;
		if (qtype == ldns_rr_get_type(rr) || qtype == LDNS_RR_TYPE_ANY)
			ldns_pkt_push_rr(resp, LDNS_SECTION_ANSWER, ldns_rr_clone(rr));
	}
	if (!name_exists) {
		ldns_pkt_set_rcode(resp, LDNS_RCODE_NXDOMAIN);
		add_soa(resp, z);
	} else if (ldns_pkt_ancount(resp) == 0) {
		add_soa(resp, z); /* NODATA */
	} else if (qtype != LDNS_RR_TYPE_NS && qtype != LDNS_RR_TYPE_SOA) {
		/* nothing more: the zone is small and flat */
	}
render:;
	uint8_t *wire = NULL;
	size_t wlen = 0;
	if (ldns_pkt2wire(&wire, resp, &wlen) != LDNS_STATUS_OK)
		goto out;
	if (wlen > max_size) {
		/* Does not fit: the question alone with TC, the client asks again
		 * over TCP. */
		ldns_rr_list_deep_free(ldns_pkt_answer(resp));
		ldns_pkt_set_answer(resp, ldns_rr_list_new());
		ldns_rr_list_deep_free(ldns_pkt_authority(resp));
		ldns_pkt_set_authority(resp, ldns_rr_list_new());
		ldns_pkt_set_ancount(resp, 0);
		ldns_pkt_set_nscount(resp, 0);
		ldns_pkt_set_tc(resp, true);
		LDNS_FREE(wire);
		wire = NULL;
		if (ldns_pkt2wire(&wire, resp, &wlen) != LDNS_STATUS_OK)
			goto out;
	}
	if (wlen <= outcap) {
		memcpy(out, wire, wlen);
		len = wlen;
	}
	LDNS_FREE(wire);
out:
	if (resp)
		ldns_pkt_free(resp);
	ldns_pkt_free(query);
	return len;
}
