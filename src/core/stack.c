/* stack.c - loading the stack file with inih: key tables, units, checks.
 * See stack.h. */
#include "stack.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <ini.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

/* ---- the key tables: the user's contract, documented in docs/configuration.md ---- */

enum ktype {
	K_STR,
	K_INT,
	K_DURATION,
	K_SIZE,
	K_BOOL,
	K_ENUM,
	K_ROLES,
	K_SERVER,
	K_PREFIX,
	K_CHECK,
	K_CACHE,
	K_ERRPAGE,
	K_TLSCERT,
	K_LEVEL,
	K_RETRY,
	K_RATE,    /* struct lb_rate: "100/s burst 200" or "off" */
	K_PORTMAP, /* struct lb_portmap: "8080:8443 8081:8444" */
	K_INT_OFF, /* a whole number >= min, or "off" (stored as 0) */
};

struct key {
	const char *name;
	enum ktype type;
	size_t off;
	const char *def; /* parsed like a value from the file; NULL = none */
	const char *const *choices;
	int64_t min, max;
};

static const char *const balance_choices[] = { "roundrobin", "leastconn", "first", NULL };

#define HTTP_KEYS(T, def_listen, def_body, def_kareq)                                              \
	{ "listen", K_STR, offsetof(T, http.listen), def_listen, NULL, 0, 0 },                     \
	    { "threads", K_INT, offsetof(T, http.threads), "0", NULL, 0, 256 },                    \
	    { "maxconn", K_INT, offsetof(T, http.maxconn), "9000", NULL, 1, 1000000 },             \
	    { "bufsize", K_SIZE, offsetof(T, http.bufsize), "16k", NULL, 4096, 1 << 20 },          \
	    { "max_header_size",                                                                   \
	      K_SIZE,                                                                              \
	      offsetof(T, http.max_header_size),                                                   \
	      "8k",                                                                                \
	      NULL,                                                                                \
	      1024,                                                                                \
	      1 << 20 },                                                                           \
	    { "max_body_size", K_SIZE, offsetof(T, http.max_body_size), def_body, NULL, 0, 0 },    \
	    { "timeout_client", K_DURATION, offsetof(T, http.timeout_client), "60s", NULL, 1, 0 }, \
	    { "timeout_http_request",                                                              \
	      K_DURATION,                                                                          \
	      offsetof(T, http.timeout_http_request),                                              \
	      "10s",                                                                               \
	      NULL,                                                                                \
	      1,                                                                                   \
	      0 },                                                                                 \
	    { "timeout_http_keep_alive",                                                           \
	      K_DURATION,                                                                          \
	      offsetof(T, http.timeout_http_keep_alive),                                           \
	      "10s",                                                                               \
	      NULL,                                                                                \
	      1,                                                                                   \
	      0 },                                                                                 \
	    { "keepalive_requests",                                                                \
	      K_INT,                                                                               \
	      offsetof(T, http.keepalive_requests),                                                \
	      def_kareq,                                                                           \
	      NULL,                                                                                \
	      0,                                                                                   \
	      1000000000 },                                                                        \
	    { "access_log", K_STR, offsetof(T, http.access_log), "", NULL, 0, 0 },                 \
	    { "error_log", K_STR, offsetof(T, http.error_log), "", NULL, 0, 0 },                   \
	{                                                                                          \
		"log_level", K_LEVEL, offsetof(T, http.log_level), "info", NULL, 0, 0              \
	}

static const struct key site_keys[] = {
	{ "domain", K_STR, offsetof(struct conf_site, domain), "foobar.com", NULL, 0, 0 },
	{ "www", K_STR, offsetof(struct conf_site, www), "lb-01", NULL, 0, 0 },
	{ "state", K_STR, offsetof(struct conf_site, state), "var", NULL, 0, 0 },
	{ "admin", K_STR, offsetof(struct conf_site, admin), "", NULL, 0, 0 },
	{ "user", K_STR, offsetof(struct conf_site, user), "tristack", NULL, 0, 0 },
	{ NULL, 0, 0, NULL, NULL, 0, 0 },
};

static const struct key host_keys[] = {
	{ "address", K_STR, offsetof(struct conf_host, address), NULL, NULL, 0, 0 },
	{ "roles", K_ROLES, offsetof(struct conf_host, roles), "", NULL, 0, 0 },
	{ NULL, 0, 0, NULL, NULL, 0, 0 },
};

static const struct key lb_keys[] = {
	HTTP_KEYS(struct lb_conf, ":8080", "0", "0"),
	{ "admin", K_STR, offsetof(struct lb_conf, http.admin), ":8404", NULL, 0, 0 },
	{ "balance", K_ENUM, offsetof(struct lb_conf, balance), "roundrobin", balance_choices, 0,
	  0 },
	{ "server", K_SERVER, 0, NULL, NULL, 0, 0 },
	{ "timeout_connect", K_DURATION, offsetof(struct lb_conf, timeout_connect), "5s", NULL, 1,
	  0 },
	{ "timeout_server", K_DURATION, offsetof(struct lb_conf, timeout_server), "60s", NULL, 1,
	  0 },
	{ "timeout_server_keep_alive", K_DURATION,
	  offsetof(struct lb_conf, timeout_server_keep_alive), "4s", NULL, 1, 0 },
	{ "timeout_queue", K_DURATION, offsetof(struct lb_conf, timeout_queue), "5s", NULL, 1, 0 },
	{ "retries", K_INT, offsetof(struct lb_conf, retries), "3", NULL, 0, 100 },
	{ "retry_on", K_RETRY, offsetof(struct lb_conf, retry_on),
	  "conn-failure empty-response 502 503 504", NULL, 0, 0 },
	{ "check", K_CHECK, offsetof(struct lb_conf, check), NULL, NULL, 0, 0 },
	{ "tls_listen", K_STR, offsetof(struct lb_conf, tls_listen), "", NULL, 0, 0 },
	{ "tls_cert", K_TLSCERT, 0, NULL, NULL, 0, 0 },
	{ "hsts", K_DURATION, offsetof(struct lb_conf, hsts), "365d", NULL, 0, 0 },
	{ "tls_ticket_rotate", K_DURATION, offsetof(struct lb_conf, tls_ticket_rotate), "1h", NULL,
	  60000, 7 * 86400000LL },
	{ "tls_tickets", K_BOOL, offsetof(struct lb_conf, tls_tickets), "yes", NULL, 0, 0 },
	{ "tls_session_cache", K_INT, offsetof(struct lb_conf, tls_session_cache), "20000", NULL, 0,
	  1000000 },
	{ "redirect_ports", K_PORTMAP, offsetof(struct lb_conf, redirect_ports), "", NULL, 0, 0 },
	{ "rate_limit", K_RATE, offsetof(struct lb_conf, rate_limit), "500/s burst 1000", NULL, 0,
	  0 },
	{ "rate_limit_write", K_RATE, offsetof(struct lb_conf, rate_limit_write), "100/s burst 200",
	  NULL, 0, 0 },
	{ "conn_limit", K_INT_OFF, offsetof(struct lb_conf, conn_limit), "1000", NULL, 1, 1000000 },
	{ "rate_limit_table", K_INT, offsetof(struct lb_conf, rate_limit_table), "65536", NULL,
	  1024, 1 << 24 },
	{ NULL, 0, 0, NULL, NULL, 0, 0 },
};

static const struct key web_keys[] = {
	HTTP_KEYS(struct web_conf, ":8080", "0", "1000"),
	{ "admin", K_STR, offsetof(struct web_conf, http.admin), ":8405", NULL, 0, 0 },
	{ "root", K_STR, offsetof(struct web_conf, root), "www", NULL, 0, 0 },
	{ "index", K_STR, offsetof(struct web_conf, index), "index.html", NULL, 0, 0 },
	{ "autoindex", K_BOOL, offsetof(struct web_conf, autoindex), "no", NULL, 0, 0 },
	{ "dotfiles", K_BOOL, offsetof(struct web_conf, dotfiles), "no", NULL, 0, 0 },
	{ "csp", K_STR, offsetof(struct web_conf, csp), TS_SITE_CSP, NULL, 0, 0 },
	{ "mime_types", K_STR, offsetof(struct web_conf, mime_types), "/etc/mime.types", NULL, 0,
	  0 },
	{ "file_cache", K_DURATION, offsetof(struct web_conf, file_cache), "1s", NULL, 0, 3600000 },
	{ "gzip", K_BOOL, offsetof(struct web_conf, gzip), "yes", NULL, 0, 0 },
	{ "gzip_static", K_BOOL, offsetof(struct web_conf, gzip_static), "yes", NULL, 0, 0 },
	{ "gzip_min_size", K_SIZE, offsetof(struct web_conf, gzip_min_size), "1k", NULL, 0,
	  1 << 30 },
	{ "gzip_types", K_STR, offsetof(struct web_conf, gzip_types),
	  "text/html text/css text/plain text/javascript application/javascript "
	  "application/json application/xml image/svg+xml",
	  NULL, 0, 0 },
	{ "cache", K_CACHE, 0, NULL, NULL, 0, 0 },
	{ "error_page", K_ERRPAGE, 0, NULL, NULL, 0, 0 },
	{ "proxy", K_PREFIX, 0, NULL, NULL, 0, 0 },
	{ "upstream", K_STR, offsetof(struct web_conf, upstream), ":9000", NULL, 0, 0 },
	{ "trusted_proxies", K_STR, offsetof(struct web_conf, trusted_proxies), "", NULL, 0, 0 },
	{ "timeout_connect", K_DURATION, offsetof(struct web_conf, timeout_connect), "5s", NULL, 1,
	  0 },
	{ "timeout_server", K_DURATION, offsetof(struct web_conf, timeout_server), "60s", NULL, 1,
	  0 },
	{ "timeout_server_keep_alive", K_DURATION,
	  offsetof(struct web_conf, timeout_server_keep_alive), "4s", NULL, 1, 0 },
	{ NULL, 0, 0, NULL, NULL, 0, 0 },
};

static const struct key app_keys[] = {
	HTTP_KEYS(struct app_conf, ":9000", "16k", "0"),
	{ "admin", K_STR, offsetof(struct app_conf, http.admin), ":9001", NULL, 0, 0 },
	{ NULL, 0, 0, NULL, NULL, 0, 0 },
};

static const struct key dns_keys[] = {
	{ "listen", K_STR, offsetof(struct dns_conf, listen), ":5353", NULL, 0, 0 },
	{ "admin", K_STR, offsetof(struct dns_conf, admin), ":8406", NULL, 0, 0 },
	{ "zone_file", K_STR, offsetof(struct dns_conf, zone_file), "", NULL, 0, 0 },
	/* RFC 2181 section 8: a TTL is at most 2^31 - 1 seconds. */
	{ "ttl", K_DURATION, offsetof(struct dns_conf, ttl), "5m", NULL, 1000,
	  2147483647LL * 1000 },
	{ "log_level", K_LEVEL, offsetof(struct dns_conf, log_level), "info", NULL, 0, 0 },
	{ NULL, 0, 0, NULL, NULL, 0, 0 },
};

/* MariaDB's own names for its thread_handling */
static const char *const db_threads_choices[] = { "pool-of-threads", "one-thread-per-connection",
	                                          NULL };

const char *conf_db_threads_name(int64_t v)
{
	return v == DB_ONE_THREAD_PER_CONNECTION ? db_threads_choices[1] : db_threads_choices[0];
}

static const struct key db_keys[] = {
	{ "port", K_INT, offsetof(struct conf_db, port), "3306", NULL, 1, 65535 },
	{ "name", K_STR, offsetof(struct conf_db, name), "foobar", NULL, 0, 0 },
	{ "pool", K_INT, offsetof(struct conf_db, pool), "4", NULL, 1, 256 },
	{ "max_lag", K_DURATION, offsetof(struct conf_db, max_lag), "5s", NULL, 0, 0 },
	{ "gtid_wait", K_DURATION, offsetof(struct conf_db, gtid_wait), "200ms", NULL, 0, 60000 },
	{ "timeout", K_DURATION, offsetof(struct conf_db, timeout), "2s", NULL, 100, 600000 },
	{ "buffer_pool", K_STR, offsetof(struct conf_db, buffer_pool), "64M", NULL, 0, 0 },
	{ "thread_handling", K_ENUM, offsetof(struct conf_db, thread_handling), "pool-of-threads",
	  db_threads_choices, 0, 0 },
	{ NULL, 0, 0, NULL, NULL, 0, 0 },
};

static const char *const mon_enabled_choices[] = { "auto", "on", "off", NULL };

static const struct key monitoring_keys[] = {
	{ "enabled", K_ENUM, offsetof(struct mon_conf, enabled), "auto", mon_enabled_choices, 0,
	  0 },
	{ "host", K_STR, offsetof(struct mon_conf, host), "", NULL, 0, 0 },
	{ "listen", K_STR, offsetof(struct mon_conf, listen), ":9090", NULL, 0, 0 },
	{ "scrape_interval", K_DURATION, offsetof(struct mon_conf, scrape_interval), "5s", NULL,
	  1000, 3600000 },
	{ "evaluation_interval", K_DURATION, offsetof(struct mon_conf, evaluation_interval), "5s",
	  NULL, 1000, 3600000 },
	{ "retention", K_DURATION, offsetof(struct mon_conf, retention), "7d", NULL, 3600000, 0 },
	{ "mysqld_exporter", K_STR, offsetof(struct mon_conf, mysqld_exporter), ":9104", NULL, 0,
	  0 },
	{ "supervisor", K_STR, offsetof(struct mon_conf, supervisor), ":9110", NULL, 0, 0 },
	{ "alert_for", K_DURATION, offsetof(struct mon_conf, alert_for), "10s", NULL, 0, 86400000 },
	{ "error_rate_for", K_DURATION, offsetof(struct mon_conf, error_rate_for), "1m", NULL, 0,
	  86400000 },
	{ "cert_warning", K_DURATION, offsetof(struct mon_conf, cert_warning), "14d", NULL,
	  86400000, 365 * 86400000LL },
	{ NULL, 0, 0, NULL, NULL, 0, 0 },
};

struct section {
	const char *name;
	bool named; /* [host NAME] */
	const struct key *keys;
	size_t off; /* of the section struct in struct conf */
};

static const struct section sections[] = {
	{ "site", false, site_keys, offsetof(struct conf, site) },
	{ "host", true, host_keys, offsetof(struct conf, hosts) },
	{ "lb", false, lb_keys, offsetof(struct conf, lb) },
	{ "web", false, web_keys, offsetof(struct conf, web) },
	{ "app", false, app_keys, offsetof(struct conf, app) },
	{ "dns", false, dns_keys, offsetof(struct conf, dns) },
	{ "db", false, db_keys, offsetof(struct conf, db) },
	{ "monitoring", false, monitoring_keys, offsetof(struct conf, monitoring) },
};

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

/* ---- value parsers ---- */

int cfg_parse_duration(const char *s, uint64_t *ms)
{
	static const struct {
		const char *unit;
		uint64_t ms;
	} units[] = {
		{ "ms", 1 }, { "s", 1000 }, { "m", 60000 }, { "h", 3600000 }, { "d", 86400000 }
	};
	char *end;
	if (!isdigit((unsigned char)*s))
		return -1;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno)
		return -1;
	if (*end == '\0')
		return v == 0 ? (*ms = 0, 0) : -1; /* a unit is required, except for 0 */
	for (size_t i = 0; i < ARRAY_SIZE(units); i++) {
		if (strcmp(end, units[i].unit) == 0) {
			if (v > UINT64_MAX / units[i].ms)
				return -1;
			*ms = v * units[i].ms;
			return 0;
		}
	}
	return -1;
}

int cfg_parse_size(const char *s, uint64_t *bytes)
{
	char *end;
	if (!isdigit((unsigned char)*s))
		return -1;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno)
		return -1;
	uint64_t mul = 1;
	switch (tolower((unsigned char)*end)) {
	case '\0':
		break;
	case 'k':
		mul = 1024;
		end++;
		break;
	case 'm':
		mul = 1024 * 1024;
		end++;
		break;
	case 'g':
		mul = 1024 * 1024 * 1024;
		end++;
		break;
	default:
		return -1;
	}
	if (mul > 1 && (strcmp(end, "b") == 0 || strcmp(end, "B") == 0 || strcmp(end, "iB") == 0))
		end += strlen(end);
	if (*end != '\0' || v > UINT64_MAX / mul)
		return -1;
	*bytes = v * mul;
	return 0;
}

int cfg_parse_bool(const char *s, bool *b)
{
	static const char *const yes[] = { "yes", "on", "true", "1" };
	static const char *const no[] = { "no", "off", "false", "0" };
	for (size_t i = 0; i < ARRAY_SIZE(yes); i++) {
		if (strcasecmp(s, yes[i]) == 0)
			return *b = true, 0;
		if (strcasecmp(s, no[i]) == 0)
			return *b = false, 0;
	}
	return -1;
}

static int parse_int(const char *s, int64_t *v)
{
	char *end;
	errno = 0;
	if (!isdigit((unsigned char)*s) && !(*s == '-' && isdigit((unsigned char)s[1])))
		return -1;
	long long x = strtoll(s, &end, 10);
	if (errno || *end)
		return -1;
	*v = x;
	return 0;
}

#define RATE_MAX 100000000 /* 1e8 a second: beyond any one client, still whole ns apart */

/* "100/s", "30/m", "100/s burst 200" or "off" (count 0). Without burst,
 * one period's worth may come at once. */
/* "FROM:TO ..." (ports 1-65535, at most LB_PORTMAP_MAX pairs), or "". */
static int parse_portmap(const char *s, struct lb_portmap *m)
{
	*m = (struct lb_portmap){ 0 };
	for (const char *p = s + strspn(s, " \t"); *p; p += strspn(p, " \t")) {
		char *end;
		unsigned long from = strtoul(p, &end, 10);
		if (!isdigit((unsigned char)*p) || *end != ':' || !isdigit((unsigned char)end[1]))
			return -1;
		unsigned long to = strtoul(end + 1, &end, 10);
		if (from == 0 || from > 65535 || to == 0 || to > 65535 ||
		    (*end != '\0' && *end != ' ' && *end != '\t') || m->n == LB_PORTMAP_MAX)
			return -1;
		m->from[m->n] = (uint16_t)from;
		m->to[m->n++] = (uint16_t)to;
		p = end;
	}
	return 0;
}

static int parse_rate(const char *s, struct lb_rate *r)
{
	if (strcmp(s, "off") == 0)
		return *r = (struct lb_rate){ 0, 1000, 0 }, 0;
	char unit = 0, word[8] = "", extra = 0;
	unsigned long long count = 0, burst = 0;
	int n = sscanf(s, "%llu/%c %7s %llu %c", &count, &unit, word, &burst, &extra);
	if (!isdigit((unsigned char)*s) || (n != 2 && n != 4) || (unit != 's' && unit != 'm') ||
	    (n == 4 && strcmp(word, "burst") != 0) || count == 0 || count > RATE_MAX)
		return -1;
	if (n == 2) {
		/* nothing may follow the unit but blanks */
		const char *p = strchr(s, '/') + 2;
		if (p[strspn(p, " \t")] != '\0')
			return -1;
		burst = count;
	}
	if (burst == 0 || burst > RATE_MAX)
		return -1;
	*r = (struct lb_rate){ (uint32_t)count, unit == 's' ? 1000 : 60000, (uint32_t)burst };
	return 0;
}

/* ---- the loader ---- */

struct loader {
	struct conf *s;
	const char *name; /* file name for messages */
	const char *text;
	size_t pos, len;
	int line; /* line being parsed */
	int section_line;
	const struct section *sec; /* current section, NULL before any */
	struct conf_host *host;    /* current [host NAME] */
	int seen[12][48];          /* line where each key was set, per section */
	int host_seen[CONF_MAX_HOSTS][8];
	int section_seen[12];
	char *err;
	size_t errlen;
	bool failed;
};

#define MAX_LINE 4096

static void apply_defaults(struct loader *L, const struct section *sec, void *base);

static void lfail(struct loader *L, const char *fmt, ...) TS_PRINTF(2, 3);

static void lfail(struct loader *L, const char *fmt, ...)
{
	if (L->failed)
		return;
	L->failed = true;
	int n = L->line > 0 ? snprintf(L->err, L->errlen, "%s:%d: ", L->name, L->line)
	                    : snprintf(L->err, L->errlen, "%s: ", L->name);
	if (n < 0 || (size_t)n >= L->errlen)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(L->err + n, L->errlen - (size_t)n, fmt, ap);
	va_end(ap);
}

static const struct section *find_section(const char *name, size_t len)
{
	for (size_t i = 0; i < ARRAY_SIZE(sections); i++)
		if (strlen(sections[i].name) == len && strncmp(sections[i].name, name, len) == 0)
			return &sections[i];
	return NULL;
}

static unsigned edit_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	if (la > 40 || lb > 40)
		return 99;
	unsigned d[41][41];
	for (size_t i = 0; i <= la; i++)
		d[i][0] = (unsigned)i;
	for (size_t j = 0; j <= lb; j++)
		d[0][j] = (unsigned)j;
	for (size_t i = 1; i <= la; i++)
		for (size_t j = 1; j <= lb; j++) {
			unsigned sub = d[i - 1][j - 1] + (a[i - 1] != b[j - 1]);
			unsigned del = d[i - 1][j] + 1, ins = d[i][j - 1] + 1;
			d[i][j] = MIN(sub, MIN(del, ins));
			/* a swap of two neighbours is one edit */
			if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1])
				d[i][j] = MIN(d[i][j], d[i - 2][j - 2] + 1);
		}
	return d[la][lb];
}

static const char *suggest_key(const struct section *sec, const char *name)
{
	const char *best = NULL;
	unsigned bestd = 3;
	for (const struct key *k = sec->keys; k->name; k++) {
		unsigned dist = edit_distance(name, k->name);
		if (dist < bestd) {
			bestd = dist;
			best = k->name;
		}
	}
	return best;
}

/* Section headers are checked as the reader passes them, since inih does not
 * report a section that has no keys. */
static void check_section_header(struct loader *L, const char *line)
{
	while (*line == ' ' || *line == '\t')
		line++;
	if (*line != '[')
		return;
	const char *close = strchr(line, ']');
	if (close == NULL)
		return; /* inih reports it */
	const char *p = line + 1;
	while (p < close && isspace((unsigned char)*p))
		p++;
	const char *word = p;
	while (p < close && !isspace((unsigned char)*p))
		p++;
	size_t wlen = (size_t)(p - word);
	while (p < close && isspace((unsigned char)*p))
		p++;
	const char *arg = p;
	const char *argend = close;
	while (argend > arg && isspace((unsigned char)argend[-1]))
		argend--;
	const struct section *sec = find_section(word, wlen);
	if (sec == NULL) {
		lfail(L, "unknown section [%.*s]", (int)(close - line - 1), line + 1);
		return;
	}
	L->sec = sec;
	L->section_line = L->line;
	L->host = NULL;
	if (sec->named) {
		if (arg == argend) {
			lfail(L, "[%s] needs a name, as in [%s web-01]", sec->name, sec->name);
			return;
		}
		for (const char *c = arg; c < argend; c++)
			if (!isalnum((unsigned char)*c) && *c != '-' && *c != '_' && *c != '.') {
				lfail(L, "bad host name '%.*s'", (int)(argend - arg), arg);
				return;
			}
		struct conf *s = L->s;
		for (unsigned i = 0; i < s->nhosts; i++)
			if (strlen(s->hosts[i].name) == (size_t)(argend - arg) &&
			    strncmp(s->hosts[i].name, arg, (size_t)(argend - arg)) == 0) {
				lfail(L, "duplicate section [host %s] (first at line %d)",
				      s->hosts[i].name, s->hosts[i].line);
				return;
			}
		if (s->nhosts == CONF_MAX_HOSTS) {
			lfail(L, "too many hosts (at most %d)", CONF_MAX_HOSTS);
			return;
		}
		struct conf_host *h = &s->hosts[s->nhosts++];
		memset(h, 0, sizeof(*h));
		h->name = xstrndup(arg, (size_t)(argend - arg));
		h->line = L->line;
		apply_defaults(L, sec, h);
		L->host = h;
	} else {
		if (arg != argend) {
			lfail(L, "[%s] takes no name", sec->name);
			return;
		}
		int idx = (int)(sec - sections);
		if (L->section_seen[idx]) {
			lfail(L, "duplicate section [%s] (first at line %d)", sec->name,
			      L->section_seen[idx]);
			return;
		}
		L->section_seen[idx] = L->line;
	}
}

/* inih also takes "key: value"; the stack file does not, so that a missing
 * '=' ("listen :8080") is an error instead of the key "listen" = "8080". */
static void check_key_line(struct loader *L, const char *line)
{
	while (*line == ' ' || *line == '\t')
		line++;
	if (*line == '[' || *line == ';' || *line == '#')
		return;
	size_t k = strcspn(line, "=:");
	if (line[k] != ':')
		return;
	while (k > 0 && isspace((unsigned char)line[k - 1]))
		k--;
	lfail(L, "expected '%.*s = value' (':' does not separate a key from its value)",
	      (int)MIN(k, 64), line);
}

static char *reader(char *str, int num, void *stream)
{
	struct loader *L = stream;
	if (L->failed || L->pos >= L->len)
		return NULL;
	const char *start = L->text + L->pos;
	const char *nl = memchr(start, '\n', L->len - L->pos);
	size_t n = nl ? (size_t)(nl - start) + 1 : L->len - L->pos;
	L->line++;
	/* The same limit with or without the newline (a last line may have
	 * none), so that what conf_print writes always loads again. */
	if ((nl ? n - 1 : n) > (size_t)num - 2) {
		lfail(L, "line too long (over %d bytes)", num - 2);
		return NULL;
	}
	if (memchr(start, '\0', n)) {
		lfail(L, "NUL byte in the file");
		return NULL;
	}
	memcpy(str, start, n);
	str[n] = '\0';
	L->pos += n;
	/* inih skips a UTF-8 byte order mark at the start; so must the header
	 * check, or the first section goes unseen. */
	const char *line = str;
	if (L->line == 1 && strncmp(line, "\xef\xbb\xbf", 3) == 0)
		line += 3;
	check_section_header(L, line);
	check_key_line(L, line);
	return L->failed ? NULL : str;
}

/* HAProxy's retry-on events we know; a status's bit is 1 << (2 + index). */
static const int retry_statuses[] = { 401, 403, 404, 408, 425, 500, 501, 502, 503, 504 };

unsigned proxy_retry_bit(int status)
{
	for (size_t i = 0; i < ARRAY_SIZE(retry_statuses); i++)
		if (retry_statuses[i] == status)
			return 1u << (2 + i);
	return 0;
}

int lb_retry_on_parse(const char *value, unsigned *flags, char *bad, size_t badlen)
{
	unsigned f = 0;
	char *copy = xstrdup(value), *save = NULL;
	for (char *tok = strtok_r(copy, ", \t", &save); tok; tok = strtok_r(NULL, ", \t", &save)) {
		char *end;
		long st = strtol(tok, &end, 10);
		unsigned bit = *end == '\0' ? proxy_retry_bit((int)st) : 0;
		if (strcmp(tok, "conn-failure") == 0)
			bit = PROXY_RETRY_CONN_FAILURE;
		else if (strcmp(tok, "empty-response") == 0)
			bit = PROXY_RETRY_EMPTY_RESPONSE;
		else if (strcmp(tok, "none") == 0)
			bit = ~0u; /* alone: nothing */
		if (bit == 0 || (bit == ~0u && f) || (f == ~0u)) {
			snprintf(bad, badlen, "%s", tok);
			free(copy);
			return -1;
		}
		f |= bit;
	}
	free(copy);
	*flags = f == ~0u ? 0 : f;
	return 0;
}

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

/* "2xx", "200", "200-399" -> [lo, hi] */
static int parse_expect(const char *v, int *lo, int *hi)
{
	if (strlen(v) == 3 && v[0] >= '1' && v[0] <= '5' && v[1] == 'x' && v[2] == 'x') {
		*lo = (v[0] - '0') * 100;
		*hi = *lo + 99;
		return 0;
	}
	int a, b, n = 0;
	if (sscanf(v, "%3d-%3d%n", &a, &b, &n) == 2 && v[n] == '\0' && a >= 100 && b <= 599 &&
	    a <= b) {
		*lo = a, *hi = b;
		return 0;
	}
	if (sscanf(v, "%3d%n", &a, &n) == 1 && v[n] == '\0' && a >= 100 && a <= 599) {
		*lo = *hi = a;
		return 0;
	}
	return -1;
}

/* check = GET /healthz interval=1s timeout=1s rise=2 fall=2 expect=2xx [host=NAME] */
static void parse_check(struct loader *L, struct lb_check_conf *c, const char *value)
{
	static const char usage[] =
	    "as in check = GET /healthz interval=1s timeout=1s rise=2 fall=2 expect=2xx";
	char *copy = xstrdup(value), *save = NULL;
	char *method = strtok_r(copy, " \t", &save);
	char *path = method ? strtok_r(NULL, " \t", &save) : NULL;
	if (method == NULL || path == NULL || path[0] != '/') {
		lfail(L, "'check' needs a method and a path, %s", usage);
		goto out;
	}
	for (const char *m = method; *m; m++)
		if (*m < 'A' || *m > 'Z') {
			lfail(L, "bad check method '%s'", method);
			goto out;
		}
	free(c->method);
	free(c->path);
	c->method = xstrdup(method);
	c->path = xstrdup(path);
	c->line = L->line;
	/* HAProxy's defaults: inter 2s, rise 2, fall 3; 2xx and 3xx are good. */
	c->interval = 2000;
	c->timeout = 1000;
	c->rise = 2;
	c->fall = 3;
	c->expect_lo = 200;
	c->expect_hi = 399;
	for (char *tok = strtok_r(NULL, " \t", &save); tok; tok = strtok_r(NULL, " \t", &save)) {
		char *eq = strchr(tok, '=');
		int64_t v;
		if (eq == NULL) {
			lfail(L, "bad check option '%s', %s", tok, usage);
			goto out;
		}
		*eq = '\0';
		const char *val = eq + 1;
		if (strcmp(tok, "interval") == 0 || strcmp(tok, "timeout") == 0) {
			uint64_t ms;
			if (cfg_parse_duration(val, &ms) < 0 || ms < 10 || ms > 3600000) {
				lfail(L, "bad check %s '%s' (a duration from 10ms to 1h)", tok,
				      val);
				goto out;
			}
			*(strcmp(tok, "interval") == 0 ? &c->interval : &c->timeout) = ms;
		} else if (strcmp(tok, "rise") == 0 || strcmp(tok, "fall") == 0) {
			if (parse_int(val, &v) < 0 || v < 1 || v > 100) {
				lfail(L, "bad check %s '%s' (1..100)", tok, val);
				goto out;
			}
			*(strcmp(tok, "rise") == 0 ? &c->rise : &c->fall) = (unsigned)v;
		} else if (strcmp(tok, "expect") == 0) {
			if (parse_expect(val, &c->expect_lo, &c->expect_hi) < 0) {
				lfail(L, "bad check expect '%s' (2xx, 200, 200-399)", val);
				goto out;
			}
		} else if (strcmp(tok, "host") == 0) {
			free(c->host);
			c->host = xstrdup(val);
		} else {
			lfail(L,
			      "unknown check option '%s' (interval, timeout, rise, fall, expect, "
			      "host)",
			      tok);
			goto out;
		}
	}
	c->enabled = true;
out:
	free(copy);
}

/* cache = /static/ 1d */
static void parse_cache(struct loader *L, const char *value)
{
	struct web_conf *w = &L->s->web;
	char prefix[512], age[64], extra;
	if (sscanf(value, "%511s %63s %c", prefix, age, &extra) != 2 || prefix[0] != '/') {
		lfail(L, "'cache' takes a path prefix and a max-age, as in cache = /static/ 1d");
		return;
	}
	uint64_t ms;
	if (cfg_parse_duration(age, &ms) < 0) {
		lfail(L, "bad max-age '%s' in 'cache' (a duration: 1h, 1d)", age);
		return;
	}
	if (w->ncache == WEB_MAX_CACHE) {
		lfail(L, "too many 'cache' rules (at most %d)", WEB_MAX_CACHE);
		return;
	}
	w->cache[w->ncache++] = (struct web_cache_rule){ xstrdup(prefix), ms };
}

/* error_page = 404 /404.html, or 500,502,503,504 /50x.html */
static void parse_error_page(struct loader *L, const char *value)
{
	struct web_conf *w = &L->s->web;
	char codes[128], path[512], extra;
	if (sscanf(value, "%127s %511s %c", codes, path, &extra) != 2 || path[0] != '/') {
		lfail(
		    L,
		    "'error_page' takes status codes and a file, as in error_page = 404 /404.html");
		return;
	}
	char *save = NULL;
	for (char *c = strtok_r(codes, ",", &save); c; c = strtok_r(NULL, ",", &save)) {
		int64_t v;
		if (parse_int(c, &v) < 0 || v < 400 || v > 599) {
			lfail(L, "bad status '%s' in 'error_page' (400..599)", c);
			return;
		}
		if (w->nerror_pages == WEB_MAX_ERROR_PAGE) {
			lfail(L, "too many 'error_page' statuses (at most %d)", WEB_MAX_ERROR_PAGE);
			return;
		}
		w->error_pages[w->nerror_pages++] =
		    (struct web_error_page_conf){ (int)v, xstrdup(path) };
	}
}

static void parse_tls_cert(struct loader *L, const char *value)
{
	struct lb_conf *lb = &L->s->lb;
	char cert[1024], key[1024], extra;
	int n = sscanf(value, "%1023s %1023s %c", cert, key, &extra);
	if (n < 1 || n > 2) {
		lfail(L, "'tls_cert' takes a PEM file and, when the key is apart, its key file, "
		         "as in tls_cert = /etc/letsencrypt/live/foobar.com/fullchain.pem "
		         "/etc/letsencrypt/live/foobar.com/privkey.pem");
		return;
	}
	if (lb->ntls_certs == TLS_MAX_CERTS) {
		lfail(L, "too many 'tls_cert' lines (at most %d)", TLS_MAX_CERTS);
		return;
	}
	lb->tls_certs[lb->ntls_certs++] =
	    (struct tls_cert_conf){ xstrdup(cert), n == 2 ? xstrdup(key) : NULL, L->line };
}

static void parse_server(struct loader *L, const char *value)
{
	struct lb_conf *lb = &L->s->lb;
	if (lb->nservers == LB_MAX_SERVERS) {
		lfail(L, "too many servers in [lb] (at most %d)", LB_MAX_SERVERS);
		return;
	}
	struct lb_server_conf *sv = &lb->servers[lb->nservers];
	memset(sv, 0, sizeof(*sv));
	sv->weight = 1;
	sv->line = L->line;
	char *copy = xstrdup(value), *save = NULL;
	char *tok = strtok_r(copy, " \t", &save);
	if (tok == NULL) {
		lfail(L, "'server' needs an address, as in server = web-01:8080 weight=1");
		goto out;
	}
	sv->target = xstrdup(tok);
	for (tok = strtok_r(NULL, " \t", &save); tok; tok = strtok_r(NULL, " \t", &save)) {
		int64_t v;
		if (strncmp(tok, "weight=", 7) == 0) {
			if (parse_int(tok + 7, &v) < 0 || v < 0 || v > 256) {
				lfail(L, "bad weight '%s' for server %s (0..256)", tok + 7,
				      sv->target);
				goto out;
			}
			sv->weight = (unsigned)v;
		} else if (strncmp(tok, "maxconn=", 8) == 0) {
			if (parse_int(tok + 8, &v) < 0 || v < 0 || v > 1000000) {
				lfail(L, "bad maxconn '%s' for server %s", tok + 8, sv->target);
				goto out;
			}
			sv->maxconn = (unsigned)v;
		} else if (strcmp(tok, "backup") == 0) {
			sv->backup = true;
		} else {
			lfail(L, "unknown server option '%s' (weight=, maxconn=, backup)", tok);
			goto out;
		}
	}
	lb->nservers++;
out:
	if (L->failed) {
		free(sv->target);
		sv->target = NULL;
	}
	free(copy);
}

static void parse_prefix(struct loader *L, const char *value)
{
	struct web_conf *w = &L->s->web;
	if (value[value[0] == '='] != '/') {
		lfail(L,
		      "'proxy' takes a path prefix starting with '/' (or '=/path' for that path "
		      "only), got '%s'",
		      value);
		return;
	}
	if (strpbrk(value, " \t")) {
		lfail(L, "'proxy' takes one prefix per line, got '%s'", value);
		return;
	}
	if (w->nproxy == WEB_MAX_PROXY) {
		lfail(L, "too many 'proxy' prefixes (at most %d)", WEB_MAX_PROXY);
		return;
	}
	w->proxy[w->nproxy++] = xstrdup(value);
	w->proxy_line = L->line;
}

/* Store value into the key's slot of the section struct at base. */
static int set_value(struct loader *L, const struct section *sec, const struct key *k, void *base,
                     const char *value)
{
	void *slot = (char *)base + k->off;
	char bad[64];
	switch (k->type) {
	case K_STR:
		free(*(char **)slot);
		*(char **)slot = xstrdup(value);
		return 0;
	case K_RETRY: {
		unsigned flags;
		if (lb_retry_on_parse(value, &flags, bad, sizeof(bad)) < 0) {
			lfail(
			    L,
			    "bad value '%s' for 'retry_on' in [%s] (conn-failure, empty-response, "
			    "401, 403, 404, 408, 425, 500, 501, 502, 503, 504)",
			    bad, sec->name);
			return -1;
		}
		free(*(char **)slot);
		*(char **)slot = xstrdup(value);
		return 0;
	}
	case K_LEVEL:
		if (log_level_parse(value) < 0) {
			lfail(L, "bad value '%s' for '%s' in [%s] (error, warn, info or debug)",
			      value, k->name, sec->name);
			return -1;
		}
		free(*(char **)slot);
		*(char **)slot = xstrdup(value);
		return 0;
	case K_INT: {
		int64_t v;
		const char *what = "a whole number";
		if (strcmp(k->name, "threads") == 0 && strcmp(value, "auto") == 0)
			value = "0";
		if (parse_int(value, &v) < 0 || v < k->min || (k->max && v > k->max)) {
			if (k->max)
				lfail(L, "bad value '%s' for '%s' in [%s] (%s in %lld..%lld)",
				      value, k->name, sec->name, what, (long long)k->min,
				      (long long)k->max);
			else
				lfail(L, "bad value '%s' for '%s' in [%s] (%s)", value, k->name,
				      sec->name, what);
			return -1;
		}
		*(int64_t *)slot = v;
		return 0;
	}
	case K_INT_OFF:
		if (strcmp(value, "off") == 0)
			return *(int64_t *)slot = 0, 0;
		if (parse_int(value, (int64_t *)slot) < 0 || *(int64_t *)slot < k->min ||
		    *(int64_t *)slot > k->max) {
			lfail(L,
			      "bad value '%s' for '%s' in [%s] (off, or a whole number in "
			      "%lld..%lld)",
			      value, k->name, sec->name, (long long)k->min, (long long)k->max);
			return -1;
		}
		return 0;
	case K_PORTMAP:
		if (parse_portmap(value, (struct lb_portmap *)slot) < 0) {
			lfail(L,
			      "bad port map '%s' for '%s' in [%s] (up to %d pairs FROM:TO, ports "
			      "1-65535: 8080:8443)",
			      value, k->name, sec->name, LB_PORTMAP_MAX);
			return -1;
		}
		return 0;
	case K_RATE:
		if (parse_rate(value, (struct lb_rate *)slot) < 0) {
			lfail(
			    L,
			    "bad rate '%s' for '%s' in [%s] (off, or requests per second or minute "
			    "with an optional burst: 100/s burst 200, 30/m)",
			    value, k->name, sec->name);
			return -1;
		}
		return 0;
	case K_DURATION: {
		uint64_t v;
		if (cfg_parse_duration(value, &v) < 0) {
			lfail(L,
			      "bad duration '%s' for '%s' in [%s] (a number with a unit: 500ms, "
			      "2s, 1m, 1h, 1d)",
			      value, k->name, sec->name);
			return -1;
		}
		if (v < (uint64_t)k->min) {
			lfail(L, "'%s' in [%s] must be at least %lldms", k->name, sec->name,
			      (long long)k->min);
			return -1;
		}
		if (k->max && v > (uint64_t)k->max) {
			lfail(L, "'%s' in [%s] must be at most %lldms", k->name, sec->name,
			      (long long)k->max);
			return -1;
		}
		*(uint64_t *)slot = v;
		return 0;
	}
	case K_SIZE: {
		uint64_t v;
		if (cfg_parse_size(value, &v) < 0) {
			lfail(L, "bad size '%s' for '%s' in [%s] (bytes, or with k, m, g: 16k)",
			      value, k->name, sec->name);
			return -1;
		}
		if (v < (uint64_t)k->min || (k->max && v > (uint64_t)k->max)) {
			lfail(L, "'%s' in [%s] must be in %lld..%lld bytes", k->name, sec->name,
			      (long long)k->min, (long long)k->max);
			return -1;
		}
		*(uint64_t *)slot = v;
		return 0;
	}
	case K_BOOL: {
		bool b;
		if (cfg_parse_bool(value, &b) < 0) {
			lfail(L, "bad value '%s' for '%s' in [%s] (yes or no)", value, k->name,
			      sec->name);
			return -1;
		}
		*(bool *)slot = b;
		return 0;
	}
	case K_ENUM:
		for (int i = 0; k->choices[i]; i++)
			if (strcmp(value, k->choices[i]) == 0) {
				*(int64_t *)slot = i;
				return 0;
			}
		lfail(L, "bad value '%s' for '%s' in [%s]", value, k->name, sec->name);
		return -1;
	case K_ROLES:
		if (parse_roles(value, (unsigned *)slot, bad, sizeof(bad)) < 0) {
			lfail(L,
			      "unknown role '%s' (lb, dns, web, app, db-primary, db-replica, mon)",
			      bad);
			return -1;
		}
		return 0;
	case K_SERVER:
		parse_server(L, value);
		return L->failed ? -1 : 0;
	case K_PREFIX:
		parse_prefix(L, value);
		return L->failed ? -1 : 0;
	case K_CHECK:
		parse_check(L, (struct lb_check_conf *)slot, value);
		return L->failed ? -1 : 0;
	case K_CACHE:
		parse_cache(L, value);
		return L->failed ? -1 : 0;
	case K_ERRPAGE:
		parse_error_page(L, value);
		return L->failed ? -1 : 0;
	case K_TLSCERT:
		parse_tls_cert(L, value);
		return L->failed ? -1 : 0;
	}
	return -1;
}

static void *section_base(struct loader *L, const struct section *sec)
{
	if (sec->named)
		return L->host;
	return (char *)L->s + sec->off;
}

static int handler(void *user, const char *section, const char *name, const char *value)
{
	struct loader *L = user;
	(void)section;
	if (L->failed)
		return 0;
	const struct section *sec = L->sec;
	if (sec == NULL) {
		lfail(L, "key '%s' outside any section", name);
		return 0;
	}
	const struct key *k;
	for (k = sec->keys; k->name; k++)
		if (strcmp(k->name, name) == 0)
			break;
	if (k->name == NULL) {
		const char *hint = suggest_key(sec, name);
		if (hint)
			lfail(L, "unknown key '%s' in [%s] (did you mean '%s'?)", name, sec->name,
			      hint);
		else
			lfail(L, "unknown key '%s' in [%s]", name, sec->name);
		return 0;
	}
	if (*value == ';') {
		/* "key =;x": inih takes ";x" as the value (a comment needs a space
		 * before its ';'), which no printed "key = ;x" would give back. */
		lfail(L,
		      "value of '%s' in [%s] starts with ';' (a comment needs a space before it)",
		      name, sec->name);
		return 0;
	}
	if (*value == '\0' && k->type != K_STR && k->type != K_ROLES && k->type != K_PORTMAP) {
		lfail(L, "'%s' in [%s] needs a value", name, sec->name);
		return 0;
	}
	int ki = (int)(k - sec->keys);
	int *seen =
	    sec->named ? &L->host_seen[L->host - L->s->hosts][ki] : &L->seen[sec - sections][ki];
	if (k->type != K_SERVER && k->type != K_PREFIX && k->type != K_CACHE &&
	    k->type != K_ERRPAGE && k->type != K_TLSCERT) {
		if (*seen) {
			lfail(L, "duplicate key '%s' in [%s] (first at line %d)", name, sec->name,
			      *seen);
			return 0;
		}
	}
	*seen = L->line;
	return set_value(L, sec, k, section_base(L, sec), value) == 0;
}

static void apply_defaults(struct loader *L, const struct section *sec, void *base)
{
	for (const struct key *k = sec->keys; k->name; k++)
		if (k->def && set_value(L, sec, k, base, k->def) < 0)
			log_error("bad built-in default for %s.%s", sec->name, k->name);
}

/* ---- checks across sections ---- */

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

const struct conf_host *mon_conf_host(const struct conf *s)
{
	if (s->monitoring.host && s->monitoring.host[0])
		return conf_host(s, s->monitoring.host);
	const struct conf_host *h = conf_host_with_role(s, ROLE_MON);
	return h ? h : conf_host(s, s->site.www);
}

/* [monitoring]: its host exists, and so do the hosts its addresses name. */
static int check_monitoring(struct loader *L)
{
	const struct conf *s = L->s;
	const struct mon_conf *m = &s->monitoring;
	int sec = (int)(find_section("monitoring", 10) - sections);
	if (m->host[0] && conf_host(s, m->host) == NULL) {
		L->line = L->seen[sec][1];
		lfail(L, "'host' in [monitoring] names host '%s', which has no [host] section",
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
			for (const struct key *k = monitoring_keys; k->name; k++)
				if (strcmp(k->name, specs[i].key) == 0)
					L->line = L->seen[sec][k - monitoring_keys];
			lfail(L, "'%s' in [monitoring]: %s", specs[i].key, e);
			return -1;
		}
	}
	return 0;
}

/* [web] trusted_proxies: host names and addresses into s->web.trusted; by
 * default the addresses of the hosts with the lb role. */
static int check_trusted_proxies(struct loader *L)
{
	struct conf *s = L->s;
	struct web_conf *w = &s->web;
	if (w->trusted_proxies[0] == '\0') {
		for (unsigned i = 0; i < s->nhosts; i++)
			if (s->hosts[i].roles & ROLE_LB)
				net_ipset_add(&w->trusted, s->hosts[i].address); /* checked */
		return 0;
	}
	char *copy = xstrdup(w->trusted_proxies), *save = NULL;
	int r = 0;
	for (char *t = strtok_r(copy, " \t,", &save); t && r == 0;
	     t = strtok_r(NULL, " \t,", &save)) {
		const struct conf_host *h = conf_host(s, t);
		if (net_ipset_add(&w->trusted, h ? h->address : t) < 0) {
			int sec = (int)(find_section("web", 3) - sections);
			for (const struct key *k = web_keys; k->name; k++)
				if (strcmp(k->name, "trusted_proxies") == 0)
					L->line = L->seen[sec][k - web_keys];
			lfail(
			    L,
			    "'trusted_proxies' in [web]: '%s' is neither a host nor an IP address "
			    "(or more than %d)",
			    t, NET_IPSET_MAX);
			r = -1;
		}
	}
	free(copy);
	return r;
}

static int check(struct loader *L)
{
	struct conf *s = L->s;
	char e[256];
	for (unsigned i = 0; i < s->nhosts; i++) {
		struct conf_host *h = &s->hosts[i];
		L->line = h->line;
		if (h->address == NULL || h->address[0] == '\0') {
			lfail(L, "[host %s] needs an 'address'", h->name);
			return -1;
		}
		/* An IP address only: addr_parse would also take "*" and
		 * "unix:..." which name no host (and break the DNS zone). */
		unsigned char ip[sizeof(struct in6_addr)];
		if (inet_pton(AF_INET, h->address, ip) != 1 &&
		    inet_pton(AF_INET6, h->address, ip) != 1) {
			lfail(L, "bad 'address' '%s' for [host %s] (an IPv4 or IPv6 address)",
			      h->address, h->name);
			return -1;
		}
		for (unsigned j = 0; j < i; j++)
			if (strcmp(s->hosts[j].address, h->address) == 0) {
				lfail(L, "[host %s] has the same address as [host %s]", h->name,
				      s->hosts[j].name);
				return -1;
			}
	}
	L->line = L->seen[0][1] ? L->seen[0][1] : 0;
	if (s->nhosts > 0 && conf_host(s, s->site.www) == NULL) {
		lfail(L, "'www' in [site] names host '%s', which has no [host] section",
		      s->site.www);
		return -1;
	}
	if (check_monitoring(L) < 0 || check_trusted_proxies(L) < 0)
		return -1;
	for (unsigned i = 0; i < s->lb.nservers; i++) {
		struct lb_server_conf *sv = &s->lb.servers[i];
		L->line = sv->line;
		if (conf_resolve_addr(s, sv->target, NULL, &sv->addr, e, sizeof(e)) < 0) {
			lfail(L, "server: %s", e);
			return -1;
		}
		const char *colon = strrchr(sv->target, ':');
		sv->name = xstrndup(sv->target, (size_t)(colon - sv->target));
		if (sv->name[0] == '\0' || sv->target[0] == '[') {
			free(sv->name);
			sv->name = xstrdup(sv->target);
		}
		for (unsigned j = 0; j < i; j++)
			if (strcmp(s->lb.servers[j].target, sv->target) == 0) {
				lfail(L, "server %s is listed twice (first at line %d)", sv->target,
				      s->lb.servers[j].line);
				return -1;
			}
	}
	return 0;
}

/* ---- entry points ---- */

static void init_defaults(struct loader *L)
{
	for (size_t i = 0; i < ARRAY_SIZE(sections); i++)
		if (!sections[i].named)
			apply_defaults(L, &sections[i], (char *)L->s + sections[i].off);
}

int conf_load_string(struct conf *s, const char *name, const char *text, char *err, size_t errlen)
{
	memset(s, 0, sizeof(*s));
	s->path = xstrdup(name);
	struct loader *L = xcalloc(1, sizeof(*L));
	L->s = s;
	L->name = name;
	L->text = text;
	L->len = strlen(text);
	L->err = err;
	L->errlen = errlen;
	init_defaults(L);

	ini_allow_multiline = false;
	ini_allow_inline_comments = true;
	ini_stop_on_first_error = true;
	ini_max_line = MAX_LINE;

	int r = ini_parse_stream(reader, L, handler, L);
	if (!L->failed && r > 0) {
		L->line = r;
		lfail(L, "syntax error (expected 'key = value' or '[section]')");
	}
	if (!L->failed)
		check(L);
	int failed = L->failed;
	free(L);
	if (failed) {
		conf_free(s);
		return -1;
	}
	return 0;
}

int conf_load(struct conf *s, const char *path, char *err, size_t errlen)
{
	memset(s, 0, sizeof(*s)); /* "on failure *s is freed" holds on every path */
	FILE *f = fopen(path, "r");
	if (f == NULL) {
		snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
		return -1;
	}
	size_t cap = 1 << 16, len = 0;
	char *text = xmalloc(cap + 1);
	for (;;) {
		size_t n = fread(text + len, 1, cap - len, f);
		len += n;
		if (n == 0)
			break;
		if (len == cap) {
			if (cap >= (1u << 20)) {
				snprintf(err, errlen, "%s: file too large (over 1 MiB)", path);
				fclose(f);
				free(text);
				return -1;
			}
			cap *= 2;
			text = xrealloc(text, cap + 1);
		}
	}
	bool rerr = ferror(f);
	fclose(f);
	if (rerr) {
		snprintf(err, errlen, "%s: read error", path);
		free(text);
		return -1;
	}
	text[len] = '\0';
	if (strlen(text) != len) {
		/* find the line of the NUL for the message */
		int line = 1;
		for (size_t i = 0; i < len && text[i]; i++)
			line += text[i] == '\n';
		snprintf(err, errlen, "%s:%d: NUL byte in the file", path, line);
		free(text);
		return -1;
	}
	int r = conf_load_string(s, path, text, err, errlen);
	free(text);
	return r;
}

static void free_section(const struct section *sec, void *base)
{
	for (const struct key *k = sec->keys; k->name; k++) {
		if (k->type == K_STR || k->type == K_LEVEL || k->type == K_RETRY) {
			char **p = (char **)((char *)base + k->off);
			free(*p);
			*p = NULL;
		} else if (k->type == K_CHECK) {
			struct lb_check_conf *c = (struct lb_check_conf *)((char *)base + k->off);
			free(c->method);
			free(c->path);
			free(c->host);
			memset(c, 0, sizeof(*c));
		}
	}
}

void conf_free(struct conf *s)
{
	for (size_t i = 0; i < ARRAY_SIZE(sections); i++) {
		if (sections[i].named)
			continue;
		free_section(&sections[i], (char *)s + sections[i].off);
	}
	for (unsigned i = 0; i < s->nhosts; i++) {
		free(s->hosts[i].name);
		free_section(&sections[1], &s->hosts[i]);
	}
	for (unsigned i = 0; i < s->lb.nservers; i++) {
		free(s->lb.servers[i].name);
		free(s->lb.servers[i].target);
	}
	for (unsigned i = 0; i < s->web.nproxy; i++)
		free(s->web.proxy[i]);
	for (unsigned i = 0; i < s->web.ncache; i++)
		free(s->web.cache[i].prefix);
	for (unsigned i = 0; i < s->web.nerror_pages; i++)
		free(s->web.error_pages[i].path);
	for (unsigned i = 0; i < s->lb.ntls_certs; i++) {
		free(s->lb.tls_certs[i].cert);
		free(s->lb.tls_certs[i].key);
	}
	free(s->path);
	memset(s, 0, sizeof(*s));
}

/* ---- printing the effective configuration ---- */

static void print_duration(FILE *out, uint64_t ms)
{
	if (ms == 0)
		fprintf(out, "0");
	else if (ms % 86400000 == 0)
		fprintf(out, "%llud", (unsigned long long)(ms / 86400000));
	else if (ms % 3600000 == 0)
		fprintf(out, "%lluh", (unsigned long long)(ms / 3600000));
	else if (ms % 60000 == 0)
		fprintf(out, "%llum", (unsigned long long)(ms / 60000));
	else if (ms % 1000 == 0)
		fprintf(out, "%llus", (unsigned long long)(ms / 1000));
	else
		fprintf(out, "%llums", (unsigned long long)ms);
}

static void print_size(FILE *out, uint64_t b)
{
	if (b && b % (1u << 30) == 0)
		fprintf(out, "%llug", (unsigned long long)(b >> 30));
	else if (b && b % (1u << 20) == 0)
		fprintf(out, "%llum", (unsigned long long)(b >> 20));
	else if (b && b % 1024 == 0)
		fprintf(out, "%lluk", (unsigned long long)(b >> 10));
	else
		fprintf(out, "%llu", (unsigned long long)b);
}

static void print_keys(const struct conf *s, const struct section *sec, const void *base, FILE *out)
{
	for (const struct key *k = sec->keys; k->name; k++) {
		const void *slot = (const char *)base + k->off;
		switch (k->type) {
		case K_SERVER:
			for (unsigned i = 0; i < s->lb.nservers; i++) {
				const struct lb_server_conf *sv = &s->lb.servers[i];
				fprintf(out, "server = %s weight=%u", sv->target, sv->weight);
				if (sv->maxconn)
					fprintf(out, " maxconn=%u", sv->maxconn);
				if (sv->backup)
					fprintf(out, " backup");
				fprintf(out, "\n");
			}
			continue;
		case K_PREFIX:
			for (unsigned i = 0; i < s->web.nproxy; i++)
				fprintf(out, "proxy = %s\n", s->web.proxy[i]);
			continue;
		case K_CACHE:
			for (unsigned i = 0; i < s->web.ncache; i++) {
				fprintf(out, "cache = %s ", s->web.cache[i].prefix);
				print_duration(out, s->web.cache[i].max_age);
				fprintf(out, "\n");
			}
			continue;
		case K_TLSCERT:
			for (unsigned i = 0; i < s->lb.ntls_certs; i++)
				fprintf(out, "tls_cert = %s%s%s\n", s->lb.tls_certs[i].cert,
				        s->lb.tls_certs[i].key ? " " : "",
				        s->lb.tls_certs[i].key ? s->lb.tls_certs[i].key : "");
			continue;
		case K_ERRPAGE:
			for (unsigned i = 0; i < s->web.nerror_pages; i++)
				fprintf(out, "error_page = %d %s\n", s->web.error_pages[i].status,
				        s->web.error_pages[i].path);
			continue;
		case K_CHECK: {
			const struct lb_check_conf *c = slot;
			if (!c->enabled)
				continue;
			fprintf(out, "check = %s %s interval=", c->method, c->path);
			print_duration(out, c->interval);
			fprintf(out, " timeout=");
			print_duration(out, c->timeout);
			fprintf(out, " rise=%u fall=%u expect=", c->rise, c->fall);
			if (c->expect_lo % 100 == 0 && c->expect_hi == c->expect_lo + 99)
				fprintf(out, "%dxx", c->expect_lo / 100);
			else if (c->expect_lo == c->expect_hi)
				fprintf(out, "%d", c->expect_lo);
			else
				fprintf(out, "%d-%d", c->expect_lo, c->expect_hi);
			if (c->host)
				fprintf(out, " host=%s", c->host);
			fprintf(out, "\n");
			continue;
		}
		default:
			break;
		}
		fprintf(out, "%s = ", k->name);
		switch (k->type) {
		case K_STR:
		case K_LEVEL:
		case K_RETRY:
			fprintf(out, "%s", *(char *const *)slot ? *(char *const *)slot : "");
			break;
		case K_INT:
			if (strcmp(k->name, "threads") == 0 && *(const int64_t *)slot == 0)
				fprintf(out, "auto");
			else
				fprintf(out, "%lld", (long long)*(const int64_t *)slot);
			break;
		case K_DURATION:
			print_duration(out, *(const uint64_t *)slot);
			break;
		case K_INT_OFF:
			if (*(const int64_t *)slot == 0)
				fprintf(out, "off");
			else
				fprintf(out, "%lld", (long long)*(const int64_t *)slot);
			break;
		case K_PORTMAP: {
			const struct lb_portmap *m = slot;
			for (unsigned i = 0; i < m->n; i++)
				fprintf(out, "%s%u:%u", i ? " " : "", m->from[i], m->to[i]);
			break;
		}
		case K_RATE: {
			const struct lb_rate *r = slot;
			if (r->count == 0)
				fprintf(out, "off");
			else
				fprintf(out, "%u/%c burst %u", r->count,
				        r->period_ms == 1000 ? 's' : 'm', r->burst);
			break;
		}
		case K_SIZE:
			print_size(out, *(const uint64_t *)slot);
			break;
		case K_BOOL:
			fprintf(out, "%s", *(const bool *)slot ? "yes" : "no");
			break;
		case K_ENUM:
			fprintf(out, "%s", k->choices[*(const int64_t *)slot]);
			break;
		case K_ROLES: {
			unsigned r = *(const unsigned *)slot;
			const char *sep = "";
			for (size_t i = 0; i < ARRAY_SIZE(roles); i++)
				if (r & roles[i].bit) {
					fprintf(out, "%s%s", sep, roles[i].name);
					sep = ", ";
				}
			break;
		}
		default:
			break;
		}
		fprintf(out, "\n");
	}
}

void conf_print(const struct conf *s, FILE *out)
{
	fprintf(out, "# effective configuration of %s (defaults included)\n", s->path);
	for (size_t i = 0; i < ARRAY_SIZE(sections); i++) {
		const struct section *sec = &sections[i];
		if (sec->named) {
			for (unsigned h = 0; h < s->nhosts; h++) {
				fprintf(out, "\n[host %s]\n", s->hosts[h].name);
				print_keys(s, sec, &s->hosts[h], out);
			}
			continue;
		}
		fprintf(out, "\n[%s]\n", sec->name);
		print_keys(s, sec, (const char *)s + sec->off, out);
	}
}
