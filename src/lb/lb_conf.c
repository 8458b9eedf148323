/* lb_conf.c - the [lb] section: keys, the parsers and printers of its own
 * value types (server, check, tls_cert, retry_on, rates, port maps), and
 * the check of its servers against the [host] sections. See lb_conf.h. */
#include "lb_conf.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "conf/conf.h"
#include "core/proxy.h"

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
static int parse_check(struct cfg_ctx *L, const struct cfg_key *k, void *base, const char *value)
{
	struct lb_check_conf *c = (struct lb_check_conf *)((char *)base + k->off);
	static const char usage[] =
	    "as in check = GET /healthz interval=1s timeout=1s rise=2 fall=2 expect=2xx";
	char *copy = xstrdup(value), *save = NULL;
	char *method = strtok_r(copy, " \t", &save);
	char *path = method ? strtok_r(NULL, " \t", &save) : NULL;
	if (method == NULL || path == NULL || path[0] != '/') {
		cfg_fail(L, "'check' needs a method and a path, %s", usage);
		goto out;
	}
	for (const char *m = method; *m; m++)
		if (*m < 'A' || *m > 'Z') {
			cfg_fail(L, "bad check method '%s'", method);
			goto out;
		}
	free(c->method);
	free(c->path);
	c->method = xstrdup(method);
	c->path = xstrdup(path);
	c->line = cfg_line(L);
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
			cfg_fail(L, "bad check option '%s', %s", tok, usage);
			goto out;
		}
		*eq = '\0';
		const char *val = eq + 1;
		if (strcmp(tok, "interval") == 0 || strcmp(tok, "timeout") == 0) {
			uint64_t ms;
			if (cfg_parse_duration(val, &ms) < 0 || ms < 10 || ms > 3600000) {
				cfg_fail(L, "bad check %s '%s' (a duration from 10ms to 1h)", tok,
				         val);
				goto out;
			}
			*(strcmp(tok, "interval") == 0 ? &c->interval : &c->timeout) = ms;
		} else if (strcmp(tok, "rise") == 0 || strcmp(tok, "fall") == 0) {
			if (cfg_parse_int(val, &v) < 0 || v < 1 || v > 100) {
				cfg_fail(L, "bad check %s '%s' (1..100)", tok, val);
				goto out;
			}
			*(strcmp(tok, "rise") == 0 ? &c->rise : &c->fall) = (unsigned)v;
		} else if (strcmp(tok, "expect") == 0) {
			if (parse_expect(val, &c->expect_lo, &c->expect_hi) < 0) {
				cfg_fail(L, "bad check expect '%s' (2xx, 200, 200-399)", val);
				goto out;
			}
		} else if (strcmp(tok, "host") == 0) {
			free(c->host);
			c->host = xstrdup(val);
		} else {
			cfg_fail(
			    L,
			    "unknown check option '%s' (interval, timeout, rise, fall, expect, "
			    "host)",
			    tok);
			goto out;
		}
	}
	c->enabled = true;
out:
	free(copy);
	return cfg_failed(L) ? -1 : 0;
}

static int parse_tls_cert(struct cfg_ctx *L, const struct cfg_key *k, void *base, const char *value)
{
	struct lb_conf *lb = base;
	(void)k;
	char cert[1024], key[1024], extra;
	int n = sscanf(value, "%1023s %1023s %c", cert, key, &extra);
	if (n < 1 || n > 2) {
		cfg_fail(L, "'tls_cert' takes a PEM file and, when the key is apart, its key file, "
		            "as in tls_cert = /etc/letsencrypt/live/foobar.com/fullchain.pem "
		            "/etc/letsencrypt/live/foobar.com/privkey.pem");
		return -1;
	}
	if (lb->ntls_certs == TLS_MAX_CERTS) {
		cfg_fail(L, "too many 'tls_cert' lines (at most %d)", TLS_MAX_CERTS);
		return -1;
	}
	lb->tls_certs[lb->ntls_certs++] =
	    (struct tls_cert_conf){ xstrdup(cert), n == 2 ? xstrdup(key) : NULL, cfg_line(L) };
	return 0;
}

static int parse_server(struct cfg_ctx *L, const struct cfg_key *k, void *base, const char *value)
{
	struct lb_conf *lb = base;
	(void)k;
	if (lb->nservers == LB_MAX_SERVERS) {
		cfg_fail(L, "too many servers in [lb] (at most %d)", LB_MAX_SERVERS);
		return -1;
	}
	struct lb_server_conf *sv = &lb->servers[lb->nservers];
	memset(sv, 0, sizeof(*sv));
	sv->weight = 1;
	sv->line = cfg_line(L);
	char *copy = xstrdup(value), *save = NULL;
	char *tok = strtok_r(copy, " \t", &save);
	if (tok == NULL) {
		cfg_fail(L, "'server' needs an address, as in server = web-01:8080 weight=1");
		goto out;
	}
	sv->target = xstrdup(tok);
	for (tok = strtok_r(NULL, " \t", &save); tok; tok = strtok_r(NULL, " \t", &save)) {
		int64_t v;
		if (strncmp(tok, "weight=", 7) == 0) {
			if (cfg_parse_int(tok + 7, &v) < 0 || v < 0 || v > LB_WEIGHT_MAX) {
				cfg_fail(L, "bad weight '%s' for server %s (0..%d)", tok + 7,
				         sv->target, LB_WEIGHT_MAX);
				goto out;
			}
			sv->weight = (unsigned)v;
		} else if (strncmp(tok, "maxconn=", 8) == 0) {
			if (cfg_parse_int(tok + 8, &v) < 0 || v < 0 || v > 1000000) {
				cfg_fail(L, "bad maxconn '%s' for server %s", tok + 8, sv->target);
				goto out;
			}
			sv->maxconn = (unsigned)v;
		} else if (strcmp(tok, "backup") == 0) {
			sv->backup = true;
		} else {
			cfg_fail(L, "unknown server option '%s' (weight=, maxconn=, backup)", tok);
			goto out;
		}
	}
	lb->nservers++;
out:
	if (cfg_failed(L)) {
		free(sv->target);
		sv->target = NULL;
	}
	free(copy);
	return cfg_failed(L) ? -1 : 0;
}

/* ---- the custom types: parse, print, free ---- */

static int set_rate(struct cfg_ctx *L, const struct cfg_key *k, void *base, const char *value)
{
	if (parse_rate(value, (struct lb_rate *)((char *)base + k->off)) < 0) {
		cfg_fail(L,
		         "bad rate '%s' for '%s' in [%s] (off, or requests per second or minute "
		         "with an optional burst: 100/s burst 200, 30/m)",
		         value, k->name, cfg_section_name(L));
		return -1;
	}
	return 0;
}

static void print_rate(FILE *out, const struct cfg_key *k, const void *base)
{
	const struct lb_rate *r = (const struct lb_rate *)((const char *)base + k->off);
	if (r->count == 0)
		fprintf(out, "%s = off\n", k->name);
	else
		fprintf(out, "%s = %u/%c burst %u\n", k->name, r->count,
		        r->period_ms == 1000 ? 's' : 'm', r->burst);
}

static int set_portmap(struct cfg_ctx *L, const struct cfg_key *k, void *base, const char *value)
{
	if (parse_portmap(value, (struct lb_portmap *)((char *)base + k->off)) < 0) {
		cfg_fail(L,
		         "bad port map '%s' for '%s' in [%s] (up to %d pairs FROM:TO, ports "
		         "1-65535: 8080:8443)",
		         value, k->name, cfg_section_name(L), LB_PORTMAP_MAX);
		return -1;
	}
	return 0;
}

static void print_portmap(FILE *out, const struct cfg_key *k, const void *base)
{
	const struct lb_portmap *m = (const struct lb_portmap *)((const char *)base + k->off);
	fprintf(out, "%s = ", k->name);
	for (unsigned i = 0; i < m->n; i++)
		fprintf(out, "%s%u:%u", i ? " " : "", m->from[i], m->to[i]);
	fprintf(out, "\n");
}

static int set_retry_on(struct cfg_ctx *L, const struct cfg_key *k, void *base, const char *value)
{
	char bad[64];
	if (lb_retry_on_parse(value, (unsigned *)((char *)base + k->off), bad, sizeof(bad)) < 0) {
		cfg_fail(
		    L,
		    "bad value '%s' for 'retry_on' in [%s] (conn-failure, empty-response, 401, "
		    "403, 404, 408, 425, 500, 501, 502, 503, 504)",
		    bad, cfg_section_name(L));
		return -1;
	}
	return 0;
}

/* The flags in the order the parser knows them; "none" for none. */
static void print_retry_on(FILE *out, const struct cfg_key *k, const void *base)
{
	unsigned f = *(const unsigned *)((const char *)base + k->off);
	fprintf(out, "%s = ", k->name);
	if (f == 0)
		fprintf(out, "none");
	const char *sep = "";
	if (f & PROXY_RETRY_CONN_FAILURE)
		fprintf(out, "conn-failure"), sep = " ";
	if (f & PROXY_RETRY_EMPTY_RESPONSE)
		fprintf(out, "%sempty-response", sep), sep = " ";
	for (size_t i = 0; proxy_retry_statuses[i]; i++)
		if (f & proxy_retry_bit(proxy_retry_statuses[i]))
			fprintf(out, "%s%d", sep, proxy_retry_statuses[i]), sep = " ";
	fprintf(out, "\n");
}

static void print_check(FILE *out, const struct cfg_key *k, const void *base)
{
	const struct lb_check_conf *c = (const struct lb_check_conf *)((const char *)base + k->off);
	if (!c->enabled)
		return;
	fprintf(out, "check = %s %s interval=", c->method, c->path);
	cfg_print_duration(out, c->interval);
	fprintf(out, " timeout=");
	cfg_print_duration(out, c->timeout);
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
}

static void free_check(const struct cfg_key *k, void *base)
{
	struct lb_check_conf *c = (struct lb_check_conf *)((char *)base + k->off);
	free(c->method);
	free(c->path);
	free(c->host);
	memset(c, 0, sizeof(*c));
}

static void print_servers(FILE *out, const struct cfg_key *k, const void *base)
{
	const struct lb_conf *lb = base;
	(void)k;
	for (unsigned i = 0; i < lb->nservers; i++) {
		const struct lb_server_conf *sv = &lb->servers[i];
		fprintf(out, "server = %s weight=%u", sv->target, sv->weight);
		if (sv->maxconn)
			fprintf(out, " maxconn=%u", sv->maxconn);
		if (sv->backup)
			fprintf(out, " backup");
		fprintf(out, "\n");
	}
}

static void free_servers(const struct cfg_key *k, void *base)
{
	struct lb_conf *lb = base;
	(void)k;
	for (unsigned i = 0; i < lb->nservers; i++) {
		free(lb->servers[i].name);
		free(lb->servers[i].target);
	}
	lb->nservers = 0;
}

static void print_tls_certs(FILE *out, const struct cfg_key *k, const void *base)
{
	const struct lb_conf *lb = base;
	(void)k;
	for (unsigned i = 0; i < lb->ntls_certs; i++)
		fprintf(out, "tls_cert = %s%s%s\n", lb->tls_certs[i].cert,
		        lb->tls_certs[i].key ? " " : "",
		        lb->tls_certs[i].key ? lb->tls_certs[i].key : "");
}

static void free_tls_certs(const struct cfg_key *k, void *base)
{
	struct lb_conf *lb = base;
	(void)k;
	for (unsigned i = 0; i < lb->ntls_certs; i++) {
		free(lb->tls_certs[i].cert);
		free(lb->tls_certs[i].key);
	}
	lb->ntls_certs = 0;
}

static const struct cfg_custom rate_type = { set_rate, print_rate, NULL };
static const struct cfg_custom portmap_type = { set_portmap, print_portmap, NULL };
static const struct cfg_custom retry_on_type = { set_retry_on, print_retry_on, NULL };
static const struct cfg_custom check_type = { parse_check, print_check, free_check };
static const struct cfg_custom server_type = { parse_server, print_servers, free_servers };
static const struct cfg_custom tls_cert_type = { parse_tls_cert, print_tls_certs, free_tls_certs };

/* ---- the key table: the user's contract, documented in docs/configuration.md ---- */

static const char *const balance_choices[] = { "roundrobin", "leastconn", "first", NULL };

#define T struct lb_conf
static const struct cfg_key lb_keys[] = {
	HTTP_CONF_KEYS(T, ":8080", "0", "0"),
	CFG_KEY("admin", CFG_STR, T, http.admin, ":8404", 0, 0),
	CFG_KEY_ENUM("balance", T, balance, "roundrobin", balance_choices),
	CFG_KEY_CUSTOM("server", 0, NULL, &server_type, CFG_REPEAT),
	CFG_KEY("timeout_connect", CFG_DURATION, T, timeout_connect, "5s", 1, 0),
	CFG_KEY("timeout_server", CFG_DURATION, T, timeout_server, "60s", 1, 0),
	CFG_KEY("timeout_server_keep_alive", CFG_DURATION, T, timeout_server_keep_alive, "4s", 1,
	        0),
	CFG_KEY("timeout_queue", CFG_DURATION, T, timeout_queue, "5s", 1, 0),
	CFG_KEY("retries", CFG_INT, T, retries, "3", 0, 100),
	CFG_KEY_CUSTOM("retry_on", offsetof(T, retry_on), "conn-failure empty-response 502 503 504",
	               &retry_on_type, 0),
	CFG_KEY_CUSTOM("check", offsetof(T, check), NULL, &check_type, 0),
	CFG_KEY("tls_listen", CFG_STR, T, tls_listen, "", 0, 0),
	CFG_KEY_CUSTOM("tls_cert", 0, NULL, &tls_cert_type, CFG_REPEAT),
	CFG_KEY("hsts", CFG_DURATION, T, hsts, "365d", 0, 0),
	CFG_KEY("tls_ticket_rotate", CFG_DURATION, T, tls_ticket_rotate, "1h", 60000,
	        7 * 86400000LL),
	CFG_KEY("tls_ticket_keys", CFG_STR, T, tls_ticket_keys, "auto", 0, 0),
	CFG_KEY("tls_tickets", CFG_BOOL, T, tls_tickets, "yes", 0, 0),
	CFG_KEY("acme_directory", CFG_STR, T, acme_directory, "", 0, 0),
	CFG_KEY("acme_email", CFG_STR, T, acme_email, "", 0, 0),
	CFG_KEY("tls_session_cache", CFG_INT, T, tls_session_cache, "20000", 0, 1000000),
	CFG_KEY_CUSTOM("redirect_ports", offsetof(T, redirect_ports), "", &portmap_type, CFG_EMPTY),
	CFG_KEY_CUSTOM("rate_limit", offsetof(T, rate_limit), "500/s burst 1000", &rate_type, 0),
	CFG_KEY_CUSTOM("rate_limit_write", offsetof(T, rate_limit_write), "100/s burst 200",
	               &rate_type, 0),
	CFG_KEY("conn_limit", CFG_INT_OFF, T, conn_limit, "1000", 1, 1000000),
	CFG_KEY("rate_limit_table", CFG_INT, T, rate_limit_table, "65536", 1024, 1 << 24),
	CFG_KEY_END,
};
#undef T

/* Every server resolves (host names against the [host] sections) and is
 * listed once; its name is the host's, or the address as written. */
static int check_servers(struct cfg_ctx *L, void *root)
{
	struct conf *s = root;
	char e[256];
	for (unsigned i = 0; i < s->lb.nservers; i++) {
		struct lb_server_conf *sv = &s->lb.servers[i];
		cfg_at(L, sv->line);
		if (conf_resolve_addr(s, sv->target, NULL, &sv->addr, e, sizeof(e)) < 0) {
			cfg_fail(L, "server: %s", e);
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
				cfg_fail(L, "server %s is listed twice (first at line %d)",
				         sv->target, s->lb.servers[j].line);
				return -1;
			}
	}
	return 0;
}

const struct cfg_section lb_conf_section = {
	.name = "lb",
	.keys = lb_keys,
	.off = offsetof(struct conf, lb),
	.check = check_servers,
};
