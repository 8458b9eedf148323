/* conf.c - the stack file's shared sections ([site], [host NAME], [db]),
 * the schema of the whole file, host lookup, and the loader core's daemons
 * are given. See conf.h. */
#include "conf.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

/* ---- [site], [host NAME], [db] ---- */

static const struct {
	const char *name;
	unsigned bit;
} roles[] = {
	{ "lb", ROLE_LB },
	{ "dns", ROLE_DNS },
	{ "web", ROLE_WEB },
	{ "app", ROLE_APP },
	{ "db-primary", ROLE_DB_PRIMARY },
	{ "db-replica", ROLE_DB_REPLICA },
	{ "mon", ROLE_MON },
};

static int parse_roles(const char *value, unsigned *out, char *bad, size_t badlen)
{
	unsigned r = 0;
	char *copy = xstrdup(value), *save = NULL;
	for (char *tok = strtok_r(copy, ", \t", &save); tok; tok = strtok_r(NULL, ", \t", &save)) {
		unsigned bit = 0;
		for (size_t i = 0; i < ARRAY_SIZE(roles); i++)
			if (strcmp(tok, roles[i].name) == 0)
				bit = roles[i].bit;
		if (bit == 0) {
			snprintf(bad, badlen, "%s", tok);
			free(copy);
			return -1;
		}
		r |= bit;
	}
	free(copy);
	*out = r;
	return 0;
}

static int set_roles(struct cfg_ctx *L, const struct cfg_key *k, void *base, const char *value)
{
	char bad[64];
	if (parse_roles(value, (unsigned *)((char *)base + k->off), bad, sizeof(bad)) < 0) {
		cfg_fail(L, "unknown role '%s' (lb, dns, web, app, db-primary, db-replica, mon)",
		         bad);
		return -1;
	}
	return 0;
}

static void print_roles(FILE *out, const struct cfg_key *k, const void *base)
{
	unsigned r = *(const unsigned *)((const char *)base + k->off);
	const char *sep = "";
	fprintf(out, "%s = ", k->name);
	for (size_t i = 0; i < ARRAY_SIZE(roles); i++)
		if (r & roles[i].bit) {
			fprintf(out, "%s%s", sep, roles[i].name);
			sep = ", ";
		}
	fprintf(out, "\n");
}

static const struct cfg_custom roles_type = { set_roles, print_roles, NULL };

static const struct cfg_key site_keys[] = {
	CFG_KEY("domain", CFG_STR, struct conf_site, domain, "foobar.com", 0, 0),
	CFG_KEY("www", CFG_STR, struct conf_site, www, "lb-01", 0, 0),
	CFG_KEY("vip", CFG_STR, struct conf_site, vip, "", 0, 0),
	CFG_KEY("state", CFG_STR, struct conf_site, state, "var", 0, 0),
	CFG_KEY("admin", CFG_STR, struct conf_site, admin, "", 0, 0),
	CFG_KEY("user", CFG_STR, struct conf_site, user, "tristack", 0, 0),
	CFG_KEY_END,
};

static const struct cfg_key host_keys[] = {
	CFG_KEY("address", CFG_STR, struct conf_host, address, NULL, 0, 0),
	CFG_KEY_CUSTOM("roles", offsetof(struct conf_host, roles), "", &roles_type, CFG_EMPTY),
	CFG_KEY_END,
};

/* MariaDB's own names for its thread_handling */
static const char *const db_threads_choices[] = { "pool-of-threads", "one-thread-per-connection",
	                                          NULL };

const char *conf_db_threads_name(int64_t v)
{
	return v == DB_ONE_THREAD_PER_CONNECTION ? db_threads_choices[1] : db_threads_choices[0];
}

#define T struct conf_db
static const struct cfg_key db_keys[] = {
	CFG_KEY("port", CFG_INT, T, port, "3306", 1, 65535),
	CFG_KEY("name", CFG_STR, T, name, "foobar", 0, 0),
	CFG_KEY("pool", CFG_INT, T, pool, "4", 1, 256),
	CFG_KEY("max_lag", CFG_DURATION, T, max_lag, "5s", 0, 0),
	CFG_KEY("gtid_wait", CFG_DURATION, T, gtid_wait, "200ms", 0, 60000),
	CFG_KEY("timeout", CFG_DURATION, T, timeout, "2s", 100, 600000),
	CFG_KEY("buffer_pool", CFG_STR, T, buffer_pool, "64M", 0, 0),
	CFG_KEY_ENUM("thread_handling", T, thread_handling, "pool-of-threads", db_threads_choices),
	CFG_KEY("semi_sync", CFG_BOOL, T, semi_sync, "on", 0, 0),
	CFG_KEY("semi_sync_timeout", CFG_DURATION, T, semi_sync_timeout, "1s", 10, 0),
	CFG_KEY("auto_failover", CFG_BOOL, T, auto_failover, "off", 0, 0),
	CFG_KEY("failover_after", CFG_DURATION, T, failover_after, "3s", 1000, 600000),
	CFG_KEY("failover_cooldown", CFG_DURATION, T, failover_cooldown, "5m", 0, 86400000),
	CFG_KEY_END,
};
#undef T

/* ---- host lookup ---- */

const struct conf_host *conf_host(const struct conf *s, const char *name)
{
	for (unsigned i = 0; i < s->nhosts; i++)
		if (strcmp(s->hosts[i].name, name) == 0)
			return &s->hosts[i];
	return NULL;
}

const struct conf_host *conf_host_with_role(const struct conf *s, unsigned role)
{
	for (unsigned i = 0; i < s->nhosts; i++)
		if (s->hosts[i].roles & role)
			return &s->hosts[i];
	return NULL;
}

const char *conf_www_address(const struct conf *s)
{
	if (s->site.vip && s->site.vip[0])
		return s->site.vip;
	const struct conf_host *h = conf_host(s, s->site.www);
	return h ? h->address : NULL;
}

bool conf_host_is_www(const struct conf *s, const struct conf_host *h)
{
	if (h == NULL)
		return false;
	if (s->site.vip && s->site.vip[0])
		return (h->roles & ROLE_LB) != 0;
	return strcmp(h->name, s->site.www) == 0;
}

int conf_vip_listen(const struct conf *s, const struct conf_host *self, const struct addr *listen,
                    struct addr *out)
{
	if (!s->site.vip[0] || self == NULL || !(self->roles & ROLE_LB))
		return 0;
	char port[8], e[128];
	snprintf(port, sizeof(port), ":%d", addr_port(listen));
	struct addr own;
	if (addr_parse(port, self->address, &own, e, sizeof(e)) < 0 || !addr_equal(&own, listen))
		return 0; /* another address, a wildcard, a unix socket: not the host's own */
	return addr_parse(port, s->site.vip, out, e, sizeof(e)) < 0 ? 0 : 1;
}

int conf_resolve_addr(const struct conf *s, const char *spec, const struct conf_host *self,
                      struct addr *a, char *err, size_t errlen)
{
	if (strncmp(spec, "unix:", 5) == 0 || spec[0] == '[')
		return addr_parse(spec, NULL, a, err, errlen);
	const char *colon = strrchr(spec, ':');
	if (colon == NULL) {
		snprintf(err, errlen, "bad address '%s' (expected host:port)", spec);
		return -1;
	}
	char name[128];
	size_t n = (size_t)(colon - spec);
	if (n >= sizeof(name)) {
		snprintf(err, errlen, "bad address '%s'", spec);
		return -1;
	}
	memcpy(name, spec, n);
	name[n] = '\0';
	const char *host_addr = NULL;
	if (n == 0) {
		host_addr = self ? self->address : NULL;
	} else {
		const struct conf_host *h = conf_host(s, name);
		if (h)
			host_addr = h->address;
		else if (!isdigit((unsigned char)name[0]) && strcmp(name, "*") != 0) {
			snprintf(err, errlen, "unknown host '%s' in '%s' (no [host %s] section)",
			         name, spec, name);
			return -1;
		}
	}
	if (host_addr) {
		char full[300];
		snprintf(full, sizeof(full), "%s%s", host_addr, colon);
		return addr_parse(full, NULL, a, err, errlen);
	}
	return addr_parse(spec, NULL, a, err, errlen);
}

/* [site] vip: an IPv4 address no host has, on a stack with an LB host to
 * hold it. */
static int check_vip(struct cfg_ctx *L, const struct conf *s)
{
	if (s->site.vip[0] == '\0')
		return 0;
	cfg_at_key(L, "site", "vip");
	struct in_addr a;
	if (inet_pton(AF_INET, s->site.vip, &a) != 1) {
		cfg_fail(L, "bad 'vip' '%s' in [site] (an IPv4 address)", s->site.vip);
		return -1;
	}
	for (unsigned i = 0; i < s->nhosts; i++)
		if (strcmp(s->hosts[i].address, s->site.vip) == 0) {
			cfg_fail(L,
			         "'vip' in [site] is [host %s]'s own address; the floating "
			         "address must be one no host has",
			         s->hosts[i].name);
			return -1;
		}
	if (s->nhosts > 0 && conf_host_with_role(s, ROLE_LB) == NULL) {
		cfg_fail(L, "'vip' in [site]: no host has the lb role to hold it");
		return -1;
	}
	return 0;
}

/* Every host has a distinct IP address; [site] www names one of them
 * (unless the site has a floating address). */
static int check_hosts(struct cfg_ctx *L, void *root)
{
	struct conf *s = root;
	for (unsigned i = 0; i < s->nhosts; i++) {
		struct conf_host *h = &s->hosts[i];
		cfg_at(L, h->line);
		if (h->address == NULL || h->address[0] == '\0') {
			cfg_fail(L, "[host %s] needs an 'address'", h->name);
			return -1;
		}
		/* An IP address only: addr_parse would also take "*" and
		 * "unix:..." which name no host (and break the DNS zone). */
		unsigned char ip[sizeof(struct in6_addr)];
		if (inet_pton(AF_INET, h->address, ip) != 1 &&
		    inet_pton(AF_INET6, h->address, ip) != 1) {
			cfg_fail(L, "bad 'address' '%s' for [host %s] (an IPv4 or IPv6 address)",
			         h->address, h->name);
			return -1;
		}
		for (unsigned j = 0; j < i; j++)
			if (strcmp(s->hosts[j].address, h->address) == 0) {
				cfg_fail(L, "[host %s] has the same address as [host %s]", h->name,
				         s->hosts[j].name);
				return -1;
			}
	}
	if (check_vip(L, s) < 0)
		return -1;
	cfg_at_key(L, "site", "www");
	if (s->nhosts > 0 && !s->site.vip[0] && conf_host(s, s->site.www) == NULL) {
		cfg_fail(L, "'www' in [site] names host '%s', which has no [host] section",
		         s->site.www);
		return -1;
	}
	return 0;
}

/* ---- the schema: every section of the file, in the order -t prints them ---- */

static const struct cfg_section site_section = {
	.name = "site",
	.keys = site_keys,
	.off = offsetof(struct conf, site),
};

static const struct cfg_section host_section = {
	.name = "host",
	.keys = host_keys,
	.off = offsetof(struct conf, hosts),
	.elem_size = sizeof(struct conf_host),
	.max = CONF_MAX_HOSTS,
	.count_off = offsetof(struct conf, nhosts),
	.name_off = offsetof(struct conf_host, name),
	.line_off = offsetof(struct conf_host, line),
	.check = check_hosts,
};

/* How long a commit waits for a replica's acknowledgement. Without
 * automatic failover: 1 s (the key's default), a replica on the same
 * network acknowledges within a millisecond, so the wait is spent only
 * when every replica is gone, and once. With it: longer than the monitor
 * takes to find the primary lost and fence it (failover_after, then a
 * probe and the fence: SEMI_SYNC_MARGIN_MS at least, SEMI_SYNC_PAD_MS
 * by default). A primary cut off from its replicas then never commits
 * alone a write the promoted replica lacks: fenced (killed) while it
 * waits, it rolls the write back when it starts again (semi-sync's crash
 * recovery truncates its binary log), so its history stays a prefix of
 * the new primary's and it rejoins by itself. */
#define SEMI_SYNC_MARGIN_MS 5000
#define SEMI_SYNC_PAD_MS    10000

static int check_db(struct cfg_ctx *L, void *root)
{
	const struct conf *s = root;
	const struct conf_db *db = &s->db;
	unsigned dbs = 0, primaries = 0;
	for (unsigned i = 0; i < s->nhosts; i++) {
		const struct conf_host *h = &s->hosts[i];
		dbs += (h->roles & (ROLE_DB_PRIMARY | ROLE_DB_REPLICA)) != 0;
		primaries += (h->roles & ROLE_DB_PRIMARY) != 0;
		if (dbs > CONF_MAX_DB_HOSTS || primaries > 1) {
			cfg_at(L, h->line);
			cfg_fail(L, "[host %s]: %s", h->name,
			         primaries > 1
			             ? "a second db-primary (there is one primary; "
			               "the others are db-replica)"
			             : "more than 8 database hosts (db-primary, db-replica)");
			return -1;
		}
	}
	cfg_at_key(L, "db", "semi_sync_timeout");
	if (cfg_line(L) == 0 && db->auto_failover)
		((struct conf *)root)->db.semi_sync_timeout = db->failover_after + SEMI_SYNC_PAD_MS;
	if (db->semi_sync && db->auto_failover &&
	    db->semi_sync_timeout < db->failover_after + SEMI_SYNC_MARGIN_MS) {
		cfg_fail(L,
		         "'semi_sync_timeout' in [db] (%llums) must be at least 'failover_after' "
		         "+ %ds (%llums) with auto_failover on: a primary cut off from its "
		         "replicas would commit alone writes the promoted replica never had",
		         (unsigned long long)db->semi_sync_timeout, SEMI_SYNC_MARGIN_MS / 1000,
		         (unsigned long long)(db->failover_after + SEMI_SYNC_MARGIN_MS));
		return -1;
	}
	return 0;
}

static const struct cfg_section db_section = {
	.name = "db",
	.keys = db_keys,
	.off = offsetof(struct conf, db),
	.check = check_db,
};

static const struct cfg_section *const sections[] = {
	&site_section,     &host_section, &lb_conf_section,  &web_conf_section,  &app_conf_section,
	&dns_conf_section, &db_section,   &mon_conf_section, &vrrp_conf_section, NULL,
};

/* Hosts first (the others look hosts up), then as the checks always ran. */
static const struct cfg_section *const checks[] = {
	&host_section,
	&mon_conf_section,
	&web_conf_section,
	&lb_conf_section,
	&vrrp_conf_section,
	&db_section,
	NULL,
};

static const struct cfg_schema schema = { sections, checks };

/* ---- entry points ---- */

int conf_load_string(struct conf *s, const char *name, const char *text, char *err, size_t errlen)
{
	memset(s, 0, sizeof(*s));
	s->path = xstrdup(name);
	if (cfg_load_string(&schema, s, name, text, err, errlen) < 0) {
		conf_free(s);
		return -1;
	}
	return 0;
}

int conf_load(struct conf *s, const char *path, char *err, size_t errlen)
{
	memset(s, 0, sizeof(*s)); /* "on failure *s is freed" holds on every path */
	char *text = cfg_read_file(path, err, errlen);
	if (text == NULL)
		return -1;
	int r = conf_load_string(s, path, text, err, errlen);
	free(text);
	return r;
}

void conf_free(struct conf *s)
{
	cfg_free(&schema, s);
	free(s->path);
	memset(s, 0, sizeof(*s));
}

void conf_print(const struct conf *s, FILE *out)
{
	cfg_print(&schema, s, s->path, out);
}

/* ---- the loader core's daemons are given ---- */

static void *ops_load(const char *path, char *err, size_t errlen)
{
	struct conf *s = xmalloc(sizeof(*s));
	if (conf_load(s, path, err, errlen) < 0) {
		free(s);
		return NULL;
	}
	return s;
}

static void ops_free(void *conf)
{
	conf_free(conf);
	free(conf);
}

static void ops_print(const void *conf, FILE *out)
{
	conf_print(conf, out);
}

static int ops_identify(const void *conf, const char *host_name, unsigned role, const void **host,
                        struct daemon_ident *id, char *err, size_t errlen)
{
	const struct conf *s = conf;
	const struct conf_host *h;
	if (host_name) {
		h = conf_host(s, host_name);
		if (h == NULL) {
			snprintf(err, errlen, "%s: no [host %s] section", s->path, host_name);
			return -1;
		}
	} else {
		h = conf_host_with_role(s, role);
	}
	*host = h;
	*id = (struct daemon_ident){
		.host = h ? h->name : NULL,
		.address = h ? h->address : NULL,
		.domain = s->site.domain,
		.www = conf_host_is_www(s, h) ? h->name : s->site.www,
		.state = s->site.state,
		.admin = s->site.admin,
	};
	return 0;
}

static int ops_resolve_addr(const void *conf, const char *spec, const void *host, struct addr *a,
                            char *err, size_t errlen)
{
	return conf_resolve_addr(conf, spec, host, a, err, errlen);
}

const struct daemon_conf_ops conf_daemon_ops = {
	.load = ops_load,
	.free = ops_free,
	.print = ops_print,
	.identify = ops_identify,
	.resolve_addr = ops_resolve_addr,
};
