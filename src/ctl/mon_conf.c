/* mon_conf.c - the [monitoring] section: keys and the check of the hosts
 * it names. See mon_conf.h. */
#include "mon_conf.h"

#include <string.h>

#include "conf/conf.h"

static const char *const mon_enabled_choices[] = { "auto", "on", "off", NULL };

#define T struct mon_conf
static const struct cfg_key monitoring_keys[] = {
	CFG_KEY_ENUM("enabled", T, enabled, "auto", mon_enabled_choices),
	CFG_KEY("host", CFG_STR, T, host, "", 0, 0),
	CFG_KEY("listen", CFG_STR, T, listen, ":9090", 0, 0),
	CFG_KEY("scrape_interval", CFG_DURATION, T, scrape_interval, "5s", 1000, 3600000),
	CFG_KEY("evaluation_interval", CFG_DURATION, T, evaluation_interval, "5s", 1000, 3600000),
	CFG_KEY("retention", CFG_DURATION, T, retention, "7d", 3600000, 0),
	CFG_KEY("mysqld_exporter", CFG_STR, T, mysqld_exporter, ":9104", 0, 0),
	CFG_KEY("supervisor", CFG_STR, T, supervisor, ":9110", 0, 0),
	CFG_KEY("alert_for", CFG_DURATION, T, alert_for, "10s", 0, 86400000),
	CFG_KEY("error_rate_for", CFG_DURATION, T, error_rate_for, "1m", 0, 86400000),
	CFG_KEY("cert_warning", CFG_DURATION, T, cert_warning, "14d", 86400000, 365 * 86400000LL),
	CFG_KEY_END,
};
#undef T

const struct conf_host *mon_conf_host(const struct conf *s)
{
	if (s->monitoring.host && s->monitoring.host[0])
		return conf_host(s, s->monitoring.host);
	const struct conf_host *h = conf_host_with_role(s, ROLE_MON);
	return h ? h : conf_host(s, s->site.www);
}

/* [monitoring]: its host exists, and so do the hosts its addresses name. */
static int check_monitoring(struct cfg_ctx *L, void *root)
{
	const struct conf *s = root;
	const struct mon_conf *m = &s->monitoring;
	if (m->host[0] && conf_host(s, m->host) == NULL) {
		cfg_at_key(L, "monitoring", "host");
		cfg_fail(L, "'host' in [monitoring] names host '%s', which has no [host] section",
		         m->host);
		return -1;
	}
	static const struct {
		const char *key;
		size_t off;
	} specs[] = {
		{ "listen", offsetof(struct mon_conf, listen) },
		{ "mysqld_exporter", offsetof(struct mon_conf, mysqld_exporter) },
		{ "supervisor", offsetof(struct mon_conf, supervisor) },
	};
	for (size_t i = 0; i < ARRAY_SIZE(specs); i++) {
		const char *spec = *(char *const *)((const char *)m + specs[i].off);
		if (spec[0] == '\0' || spec[0] == ':' || strncmp(spec, "unix:", 5) == 0)
			continue; /* ":9090" is on the host it runs on */
		struct addr a;
		char e[256];
		if (conf_resolve_addr(s, spec, NULL, &a, e, sizeof(e)) < 0) {
			cfg_at_key(L, "monitoring", specs[i].key);
			cfg_fail(L, "'%s' in [monitoring]: %s", specs[i].key, e);
			return -1;
		}
	}
	return 0;
}

const struct cfg_section mon_conf_section = {
	.name = "monitoring",
	.keys = monitoring_keys,
	.off = offsetof(struct conf, monitoring),
	.check = check_monitoring,
};
