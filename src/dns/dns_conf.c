/* dns_conf.c - the [dns] section's keys. See dns_conf.h. */
#include "dns_conf.h"

#include "conf/conf.h"

#define T struct dns_conf
static const struct cfg_key dns_keys[] = {
	CFG_KEY("listen", CFG_STR, T, listen, ":5353", 0, 0),
	CFG_KEY("admin", CFG_STR, T, admin, ":8406", 0, 0),
	CFG_KEY("zone_file", CFG_STR, T, zone_file, "", 0, 0),
	/* RFC 2181 section 8: a TTL is at most 2^31 - 1 seconds. */
	CFG_KEY("ttl", CFG_DURATION, T, ttl, "5m", 1000, 2147483647LL * 1000),
	CFG_KEY("log_level", CFG_LEVEL, T, log_level, "info", 0, 0),
	CFG_KEY_END,
};
#undef T

const struct cfg_section dns_conf_section = {
	.name = "dns",
	.keys = dns_keys,
	.off = offsetof(struct conf, dns),
};
