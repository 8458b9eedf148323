/* lb.h - tristack-lb: the load balancer. */
#ifndef TS_LB_H
#define TS_LB_H

#include <stdatomic.h>

#include "core/proxy.h"

/* The order in which servers take requests: one turn of smooth weighted
 * round robin (nginx's), computed once, walked by all threads through one
 * shared counter so that consecutive requests alternate whatever thread
 * takes them. */
struct lb_rr {
	uint16_t *seq;
	unsigned len;
	_Atomic uint64_t next;
};

struct lb {
	struct daemon *d;
	struct addr listen, admin;
	bool has_admin;
	struct proxy_server *servers;
	unsigned nservers;
	struct proxy_conf pc;
	struct lb_rr rr;
	struct http_metrics hm;
};

struct lb_worker {
	struct lb *lb;
	struct http_server http, admin;
	struct proxy_worker pw;
};

/* balance.c */
int lb_balance_build(struct lb_rr *b, const struct proxy_server *servers, unsigned n);
void lb_balance_free(struct lb_rr *b);
/* The next server; avoid >= 0 skips that one when another exists. */
int lb_balance_next(struct lb_rr *b, int avoid);

#endif
