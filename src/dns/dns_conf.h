/* dns_conf.h - the [dns] section of the stack file (dns_conf.c). */
#ifndef TS_DNS_CONF_H
#define TS_DNS_CONF_H

#include <stdint.h>

#include "core/cfg.h"

struct dns_conf {
	char *listen;
	char *admin;     /* admin listener (/metrics); "" = none */
	char *zone_file; /* an RFC 1035 zone file instead of the zone made from the stack */
	uint64_t ttl;
	char *log_level;
};

extern const struct cfg_section dns_conf_section;

#endif
