/* vrrp_conf.c - the [vrrp] section: keys and their check. See vrrp_conf.h. */
#include "vrrp_conf.h"

#include <string.h>

#include "conf/conf.h"

#define T struct vrrp_conf
static const struct cfg_key vrrp_keys[] = {
	CFG_KEY("router_id", CFG_INT, T, router_id, "51", 1, 255),
	CFG_KEY("interface", CFG_STR, T, interface, "eth0", 0, 0),
	CFG_KEY("advert_int", CFG_DURATION, T, advert_int, "1s", 100, 40000),
	CFG_KEY("preempt", CFG_BOOL, T, preempt, "off", 0, 0),
	CFG_KEY("preempt_delay", CFG_DURATION, T, preempt_delay, "0s", 0, 1000000),
	CFG_KEY("check_interval", CFG_DURATION, T, check_interval, "500ms", 100, 60000),
	CFG_KEY("check_timeout", CFG_DURATION, T, check_timeout, "1s", 100, 60000),
	CFG_KEY("check_fall", CFG_INT, T, check_fall, "2", 1, 100),
	CFG_KEY("check_rise", CFG_INT, T, check_rise, "2", 1, 100),
	CFG_KEY("priority", CFG_INT, T, priority, "150", 2, 254),
	CFG_KEY_END,
};
#undef T

/* An interface name the kernel would take, nothing a config file could be
 * made to say more with. */
static int check_vrrp(struct cfg_ctx *L, void *root)
{
	const struct conf *s = root;
	const char *i = s->vrrp.interface;
	size_t n = strlen(i);
	if (n == 0 || n > 15 ||
	    strspn(i, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	              "0123456789._-@") != n) {
		cfg_at_key(L, "vrrp", "interface");
		cfg_fail(L, "bad 'interface' '%s' in [vrrp] (a network interface name)", i);
		return -1;
	}
	return 0;
}

const struct cfg_section vrrp_conf_section = {
	.name = "vrrp",
	.keys = vrrp_keys,
	.off = offsetof(struct conf, vrrp),
	.check = check_vrrp,
};
