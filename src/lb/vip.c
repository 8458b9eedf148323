/* vip.c - the floating address ([site] vip) on an LB host.
 *
 * keepalived moves the address between the LB hosts; whichever holds it
 * must answer on it at once. So each LB host listens on it as well as on
 * its own address (listen and tls_listen, not admin), bound with
 * NET_FREEBIND: the host that does not hold the address keeps its sockets
 * ready, and they serve the moment the address comes. Worker 0 looks once
 * a second whether the address is this host's now (the interfaces, as
 * `ip addr` shows them) and exports it: tristack_lb_vip_held (1 or 0) and
 * tristack_lb_vip_transitions_total (the times it came or went), which the
 * alert rules read (split brain, no holder, a move).
 */
#include <errno.h>
#include <string.h>

#include "conf/names.h"
#include "core/log.h"
#include "lb.h"

#define VIP_CHECK_INTERVAL 1000 /* ms */

int lb_vip_configure(struct lb *lb, char *err, size_t errlen)
{
	struct lb_vip *v = &lb->vip;
	const struct conf *s = conf_of(lb->d);
	const struct conf_host *self = conf_self(lb->d);
	v->held = -1;
	if (!s->site.vip[0] || self == NULL || !(self->roles & ROLE_LB))
		return 0;
	char e[256];
	if (addr_parse(":0", s->site.vip, &v->addr, e, sizeof(e)) < 0) {
		snprintf(err, errlen, "%s: [site] vip: %s", lb->d->conf_path, e);
		return -1;
	}
	v->on = true;
	v->has_listen = conf_vip_listen(s, self, &lb->listen, &v->listen) == 1;
	v->has_tls_listen =
	    lb->has_tls && conf_vip_listen(s, self, &lb->tls_listen, &v->tls_listen);
	return 0;
}

void lb_vip_carry_over(struct lb *lb, struct lb *old)
{
	/* the same address: what the last generation saw is no transition */
	if (lb->vip.on && old->vip.on && addr_equal(&lb->vip.addr, &old->vip.addr))
		atomic_store(&lb->vip.held, atomic_load(&old->vip.held));
}

static double vip_held(void *arg)
{
	return atomic_load(&((struct lb_vip *)arg)->held) == 1 ? 1 : 0;
}

void lb_vip_metrics_define(struct lb *lb, struct metrics *m)
{
	struct lb_vip *v = &lb->vip;
	if (!v->on)
		return;
	char labels[96], ip[64];
	snprintf(labels, sizeof(labels), "vip=\"%s\"",
	         sockaddr_ip((const struct sockaddr *)&v->addr.ss, ip, sizeof(ip)));
	metrics_gauge_fn(m, METRIC_LB_VIP_HELD,
	                 "1 while the floating address is one of this host's addresses", labels,
	                 vip_held, v);
	v->m_transitions =
	    metrics_counter(m, METRIC_LB_VIP_TRANSITIONS,
	                    "Times the floating address came to or left this host", labels);
}

/* Look whether the address is here; count and log a change. */
static void vip_check(struct lb_vip *v)
{
	int now = net_addr_is_local(&v->addr);
	if (now < 0) {
		log_warn("vip: cannot read the interfaces' addresses: %s", strerror(errno));
		return; /* as it was: no transition made up */
	}
	int was = atomic_exchange(&v->held, now);
	if (was < 0 || was == now)
		return;
	struct metrics *m = v->w->d->metrics;
	metrics_add(v->w->shard, metrics_slot(m, v->m_transitions), 1);
	char ip[64];
	log_info("vip %s %s", sockaddr_ip((const struct sockaddr *)&v->addr.ss, ip, sizeof(ip)),
	         now ? "came to this host: it answers on it" : "left this host");
}

static void vip_timer(struct timer *t)
{
	struct lb_vip *v = container_of(t, struct lb_vip, timer);
	vip_check(v);
	loop_timer_set(v->w->loop, &v->timer, VIP_CHECK_INTERVAL);
}

void lb_vip_start(struct lb *lb, struct worker *w)
{
	struct lb_vip *v = &lb->vip;
	if (!v->on)
		return;
	v->w = w;
	v->timer.fn = vip_timer;
	vip_check(v); /* known from the first scrape on */
	loop_timer_set(w->loop, &v->timer, VIP_CHECK_INTERVAL);
}

void lb_vip_stop(struct lb *lb)
{
	struct lb_vip *v = &lb->vip;
	if (v->w)
		loop_timer_stop(v->w->loop, &v->timer);
}
