/* web_conf.c - the [web] section: keys, its own value types (proxy, cache,
 * error_page) and the check of trusted_proxies. See web_conf.h. */
#include "web_conf.h"

#include <stdlib.h>
#include <string.h>

#include "conf/conf.h"

/* cache = /static/ 1d */
static int parse_cache(struct cfg_ctx *L, const struct cfg_key *k, void *base, const char *value)
{
	struct web_conf *w = base;
	(void)k;
	char prefix[512], age[64], extra;
	if (sscanf(value, "%511s %63s %c", prefix, age, &extra) != 2 || prefix[0] != '/') {
		cfg_fail(L, "'cache' takes a path prefix and a max-age, as in cache = /static/ 1d");
		return -1;
	}
	uint64_t ms;
	if (cfg_parse_duration(age, &ms) < 0) {
		cfg_fail(L, "bad max-age '%s' in 'cache' (a duration: 1h, 1d)", age);
		return -1;
	}
	if (w->ncache == WEB_MAX_CACHE) {
		cfg_fail(L, "too many 'cache' rules (at most %d)", WEB_MAX_CACHE);
		return -1;
	}
	w->cache[w->ncache++] = (struct web_cache_rule){ xstrdup(prefix), ms };
	return 0;
}

/* error_page = 404 /404.html, or 500,502,503,504 /50x.html */
static int parse_error_page(struct cfg_ctx *L, const struct cfg_key *k, void *base,
                            const char *value)
{
	struct web_conf *w = base;
	(void)k;
	char codes[128], path[512], extra;
	if (sscanf(value, "%127s %511s %c", codes, path, &extra) != 2 || path[0] != '/') {
		cfg_fail(
		    L,
		    "'error_page' takes status codes and a file, as in error_page = 404 /404.html");
		return -1;
	}
	char *save = NULL;
	for (char *c = strtok_r(codes, ",", &save); c; c = strtok_r(NULL, ",", &save)) {
		int64_t v;
		if (cfg_parse_int(c, &v) < 0 || v < 400 || v > 599) {
			cfg_fail(L, "bad status '%s' in 'error_page' (400..599)", c);
			return -1;
		}
		if (w->nerror_pages == WEB_MAX_ERROR_PAGE) {
			cfg_fail(L, "too many 'error_page' statuses (at most %d)",
			         WEB_MAX_ERROR_PAGE);
			return -1;
		}
		w->error_pages[w->nerror_pages++] =
		    (struct web_error_page_conf){ (int)v, xstrdup(path) };
	}
	return 0;
}

static int parse_prefix(struct cfg_ctx *L, const struct cfg_key *k, void *base, const char *value)
{
	struct web_conf *w = base;
	(void)k;
	if (value[value[0] == '='] != '/') {
		cfg_fail(L,
		         "'proxy' takes a path prefix starting with '/' (or '=/path' for that path "
		         "only), got '%s'",
		         value);
		return -1;
	}
	if (strpbrk(value, " \t")) {
		cfg_fail(L, "'proxy' takes one prefix per line, got '%s'", value);
		return -1;
	}
	if (w->nproxy == WEB_MAX_PROXY) {
		cfg_fail(L, "too many 'proxy' prefixes (at most %d)", WEB_MAX_PROXY);
		return -1;
	}
	w->proxy[w->nproxy++] = xstrdup(value);
	w->proxy_line = cfg_line(L);
	return 0;
}

static void print_cache(FILE *out, const struct cfg_key *k, const void *base)
{
	const struct web_conf *w = base;
	(void)k;
	for (unsigned i = 0; i < w->ncache; i++) {
		fprintf(out, "cache = %s ", w->cache[i].prefix);
		cfg_print_duration(out, w->cache[i].max_age);
		fprintf(out, "\n");
	}
}

static void free_cache(const struct cfg_key *k, void *base)
{
	struct web_conf *w = base;
	(void)k;
	for (unsigned i = 0; i < w->ncache; i++)
		free(w->cache[i].prefix);
	w->ncache = 0;
}

static void print_error_pages(FILE *out, const struct cfg_key *k, const void *base)
{
	const struct web_conf *w = base;
	(void)k;
	for (unsigned i = 0; i < w->nerror_pages; i++)
		fprintf(out, "error_page = %d %s\n", w->error_pages[i].status,
		        w->error_pages[i].path);
}

static void free_error_pages(const struct cfg_key *k, void *base)
{
	struct web_conf *w = base;
	(void)k;
	for (unsigned i = 0; i < w->nerror_pages; i++)
		free(w->error_pages[i].path);
	w->nerror_pages = 0;
}

static void print_prefixes(FILE *out, const struct cfg_key *k, const void *base)
{
	const struct web_conf *w = base;
	(void)k;
	for (unsigned i = 0; i < w->nproxy; i++)
		fprintf(out, "proxy = %s\n", w->proxy[i]);
}

static void free_prefixes(const struct cfg_key *k, void *base)
{
	struct web_conf *w = base;
	(void)k;
	for (unsigned i = 0; i < w->nproxy; i++)
		free(w->proxy[i]);
	w->nproxy = 0;
}

static const struct cfg_custom cache_type = { parse_cache, print_cache, free_cache };
static const struct cfg_custom error_page_type = { parse_error_page, print_error_pages,
	                                           free_error_pages };
static const struct cfg_custom prefix_type = { parse_prefix, print_prefixes, free_prefixes };

/* ---- the key table: the user's contract, documented in docs/configuration.md ---- */

#define T struct web_conf
static const struct cfg_key web_keys[] = {
	HTTP_CONF_KEYS(T, ":8080", "0", "1000"),
	CFG_KEY("admin", CFG_STR, T, http.admin, ":8405", 0, 0),
	CFG_KEY("root", CFG_STR, T, root, "www", 0, 0),
	CFG_KEY("index", CFG_STR, T, index, "index.html", 0, 0),
	CFG_KEY("autoindex", CFG_BOOL, T, autoindex, "no", 0, 0),
	CFG_KEY("dotfiles", CFG_BOOL, T, dotfiles, "no", 0, 0),
	CFG_KEY("csp", CFG_STR, T, csp, CONF_SITE_CSP, 0, 0),
	CFG_KEY("mime_types", CFG_STR, T, mime_types, "/etc/mime.types", 0, 0),
	CFG_KEY("file_cache", CFG_DURATION, T, file_cache, "1s", 0, 3600000),
	CFG_KEY("gzip", CFG_BOOL, T, gzip, "yes", 0, 0),
	CFG_KEY("gzip_static", CFG_BOOL, T, gzip_static, "yes", 0, 0),
	CFG_KEY("gzip_min_size", CFG_SIZE, T, gzip_min_size, "1k", 0, 1 << 30),
	CFG_KEY("gzip_types", CFG_STR, T, gzip_types,
	        "text/html text/css text/plain text/javascript application/javascript "
	        "application/json application/xml image/svg+xml",
	        0, 0),
	CFG_KEY_CUSTOM("cache", 0, NULL, &cache_type, CFG_REPEAT),
	CFG_KEY_CUSTOM("error_page", 0, NULL, &error_page_type, CFG_REPEAT),
	CFG_KEY_CUSTOM("proxy", 0, NULL, &prefix_type, CFG_REPEAT),
	CFG_KEY("upstream", CFG_STR, T, upstream, ":9000", 0, 0),
	CFG_KEY("trusted_proxies", CFG_STR, T, trusted_proxies, "", 0, 0),
	CFG_KEY("timeout_connect", CFG_DURATION, T, timeout_connect, "5s", 1, 0),
	CFG_KEY("timeout_server", CFG_DURATION, T, timeout_server, "60s", 1, 0),
	CFG_KEY("timeout_server_keep_alive", CFG_DURATION, T, timeout_server_keep_alive, "4s", 1,
	        0),
	CFG_KEY_END,
};
#undef T

/* [web] trusted_proxies: host names and addresses into s->web.trusted; by
 * default the addresses of the hosts with the lb role. */
static int check_trusted_proxies(struct cfg_ctx *L, void *root)
{
	struct conf *s = root;
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
			cfg_at_key(L, "web", "trusted_proxies");
			cfg_fail(
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

const struct cfg_section web_conf_section = {
	.name = "web",
	.keys = web_keys,
	.off = offsetof(struct conf, web),
	.check = check_trusted_proxies,
};
