/* vrrp_conf.h - the [vrrp] section of the stack file, the CLI's: how the LB
 * hosts share [site] vip with keepalived (vrrp_conf.c; src/ctl/vrrp.c makes
 * keepalived's configuration from it). */
#ifndef TS_VRRP_CONF_H
#define TS_VRRP_CONF_H

#include <stdbool.h>
#include <stdint.h>

#include "core/cfg.h"

struct conf;

struct vrrp_conf {
	int64_t router_id;       /* virtual_router_id, 1..255: one per network segment */
	char *interface;         /* where VRRP speaks and the address goes: eth0 in the lab */
	uint64_t advert_int;     /* ms between the holder's advertisements */
	bool preempt;            /* a returning higher priority takes the address back */
	uint64_t preempt_delay;  /* ms it waits first, when preempt is on */
	uint64_t check_interval; /* ms between the checks of the local LB */
	uint64_t check_timeout;  /* ms a check may take */
	int64_t check_fall;      /* failed checks in a row that give the address up */
	int64_t check_rise;      /* good checks in a row that make the host eligible again */
	int64_t priority;        /* the first LB host's; each next one 10 less */
};

extern const struct cfg_section vrrp_conf_section;

#endif
