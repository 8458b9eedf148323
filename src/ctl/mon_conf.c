/* mon_conf.c - the [monitoring] section: keys and the check of the hosts
 * it names. See mon_conf.h. */
#include "mon_conf.h"

#include <stdlib.h>
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
	CFG_KEY("alertmanager", CFG_STR, T, alertmanager, ":9093", 0, 0),
	CFG_KEY("alert_webhook", CFG_STR, T, alert_webhook, "", 0, 0),
	CFG_KEY("alert_email", CFG_STR, T, alert_email, "", 0, 0),
	CFG_KEY("alert_smarthost", CFG_STR, T, alert_smarthost, "", 0, 0),
	CFG_KEY("alert_from", CFG_STR, T, alert_from, "", 0, 0),
	CFG_KEY("alert_smtp_user", CFG_STR, T, alert_smtp_user, "", 0, 0),
	/* Alertmanager's own defaults (docs/monitoring.md: the times to expect) */
	CFG_KEY("alert_group_wait", CFG_DURATION, T, alert_group_wait, "30s", 0, 3600000),
	CFG_KEY("alert_group_interval", CFG_DURATION, T, alert_group_interval, "5m", 1000,
	        86400000),
	CFG_KEY("alert_repeat", CFG_DURATION, T, alert_repeat, "4h", 1000, 30 * 86400000LL),
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

/* ---- where alerts go: values Alertmanager's YAML takes as they are ---- */

/* Characters no value written into alertmanager.yml may hold: it is
 * written in single quotes, one value a line. */
static bool yaml_safe(const char *v)
{
	for (const unsigned char *p = (const unsigned char *)v; *p; p++)
		if (*p < 0x21 || *p == 0x7f || *p == '\'' || *p == '"' || *p == '\\')
			return false;
	return true;
}

/* An http:// or https:// URL with a host. NULL, or what is wrong. */
const char *mon_conf_check_url(const char *v)
{
	size_t skip = strncmp(v, "http://", 7) == 0 ? 7 : strncmp(v, "https://", 8) == 0 ? 8 : 0;
	if (skip == 0)
		return "not an http:// or https:// URL";
	if (!yaml_safe(v) || strlen(v) > 1000)
		return "spaces, quotes or control characters in the URL";
	size_t host = strcspn(v + skip, "/?#");
	if (host == 0 || v[skip] == ':' || v[skip] == '@')
		return "no host in the URL";
	return NULL;
}

/* One address: local@domain, each part non-empty, no second @. */
static bool one_address(const char *v, size_t n)
{
	const char *at = memchr(v, '@', n);
	if (at == NULL || at == v || at + 1 == v + n ||
	    memchr(at + 1, '@', (size_t)(v + n - at - 1)))
		return false;
	for (size_t i = 0; i < n; i++)
		if (strchr("<>(),;:[]", v[i]) != NULL)
			return false;
	return v[n - 1] != '.' && at[1] != '.';
}

/* Addresses separated by commas (and spaces): what Alertmanager's `to`
 * takes. NULL, or what is wrong. */
const char *mon_conf_check_email(const char *v, bool many)
{
	if (strlen(v) > 1000)
		return "too long";
	unsigned count = 0;
	while (*v) {
		v += strspn(v, " ,");
		size_t n = strcspn(v, " ,");
		if (n == 0)
			break;
		char one[256];
		if (n >= sizeof(one))
			return "an address too long";
		memcpy(one, v, n);
		one[n] = '\0';
		if (!yaml_safe(one) || !one_address(one, n))
			return "not an e-mail address (name@domain)";
		count++;
		v += n;
	}
	if (count == 0)
		return "no address";
	return count > 1 && !many ? "one address only" : NULL;
}

/* host:port or [v6]:port, the port 1 to 65535. NULL, or what is wrong. */
const char *mon_conf_check_hostport(const char *v)
{
	const char *colon = strrchr(v, ':');
	if (!yaml_safe(v) || colon == NULL || colon == v || strlen(v) > 300)
		return "not host:port";
	if (v[0] == '[' ? colon[-1] != ']' : memchr(v, ':', (size_t)(colon - v)) != NULL)
		return "not host:port (an IPv6 address goes in brackets)";
	char *end;
	long port = strtol(colon + 1, &end, 10);
	if (colon[1] < '0' || colon[1] > '9' || *end != '\0' || port < 1 || port > 65535)
		return "the port is not 1 to 65535";
	return NULL;
}

/* [monitoring]'s alert_* keys: valid values, and what they need. */
static int check_alerts(struct cfg_ctx *L, const struct mon_conf *m)
{
	const struct {
		const char *key, *value, *bad;
	} v[] = {
		{ "alert_webhook", m->alert_webhook,
		  m->alert_webhook[0] ? mon_conf_check_url(m->alert_webhook) : NULL },
		{ "alert_email", m->alert_email,
		  m->alert_email[0] ? mon_conf_check_email(m->alert_email, true) : NULL },
		{ "alert_from", m->alert_from,
		  m->alert_from[0] ? mon_conf_check_email(m->alert_from, false) : NULL },
		{ "alert_smarthost", m->alert_smarthost,
		  m->alert_smarthost[0] ? mon_conf_check_hostport(m->alert_smarthost) : NULL },
		{ "alert_smtp_user", m->alert_smtp_user,
		  yaml_safe(m->alert_smtp_user) ? NULL : "spaces, quotes or control characters" },
	};
	for (size_t i = 0; i < ARRAY_SIZE(v); i++) {
		if (v[i].bad == NULL)
			continue;
		cfg_at_key(L, "monitoring", v[i].key);
		cfg_fail(L, "'%s' in [monitoring]: '%s': %s", v[i].key, v[i].value, v[i].bad);
		return -1;
	}
	if (m->alert_email[0] && m->alert_smarthost[0] == '\0') {
		cfg_at_key(L, "monitoring", "alert_email");
		cfg_fail(L,
		         "'alert_email' in [monitoring] needs 'alert_smarthost' (the SMTP server, "
		         "host:port)");
		return -1;
	}
	if ((m->alert_email[0] || m->alert_webhook[0]) && m->alertmanager[0] == '\0') {
		const char *key = m->alert_webhook[0] ? "alert_webhook" : "alert_email";
		cfg_at_key(L, "monitoring", key);
		cfg_fail(L, "'%s' in [monitoring] needs Alertmanager: 'alertmanager' is empty",
		         key);
		return -1;
	}
	if (m->alert_repeat < m->alert_group_interval) {
		cfg_at_key(L, "monitoring", "alert_repeat");
		cfg_fail(L,
		         "'alert_repeat' in [monitoring] is shorter than 'alert_group_interval'");
		return -1;
	}
	return 0;
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
		{ "alertmanager", offsetof(struct mon_conf, alertmanager) },
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
	return check_alerts(L, m);
}

const struct cfg_section mon_conf_section = {
	.name = "monitoring",
	.keys = monitoring_keys,
	.off = offsetof(struct conf, monitoring),
	.check = check_monitoring,
};
