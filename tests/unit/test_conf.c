/* The stack file: defaults from the key tables, units, every error naming
 * file:line and the key or section, server and proxy lines, host addresses,
 * conf_resolve_addr, and conf_print's output loading back to the same
 * configuration. A failed load frees everything (the ASan build checks). */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "conf/conf.h"
#include "core/proxy.h"
#include "t.h"

#define NAME "t.conf"

/* Three hosts whose names and addresses the rows below rely on. */
#define HOSTS                                                                                      \
	"[site]\nwww = lb-01\n"                                                                    \
	"[host lb-01]\naddress = 10.0.0.1\nroles = lb, dns\n"                                      \
	"[host web-01]\naddress = 10.0.0.2\nroles = web, app, db-primary\n"                        \
	"[host web-02]\naddress = 10.0.0.3\nroles = web, app, db-replica\n"
#define HOSTS_LINES 11

static int load(struct conf *s, const char *text, char *err, size_t errlen)
{
	err[0] = '\0';
	return conf_load_string(s, NAME, text, err, errlen);
}

/* Everything conf_free leaves: all zero. */
static int stack_is_zero(const struct conf *s)
{
	static const struct conf zero;
	return memcmp(s, &zero, sizeof(zero)) == 0;
}

/* Two strings equal, or both NULL. */
static int same_str(const char *a, const char *b)
{
	return a == b || (a && b && strcmp(a, b) == 0);
}

/* admin NULL: the section has no admin key. */
static void check_default_http(const struct http_conf *h, const char *listen, const char *admin,
                               uint64_t max_body_size)
{
	CHECK_STR(h->listen, listen);
	if (admin)
		CHECK_STR(h->admin, admin);
	else
		CHECK(h->admin == NULL);
	CHECK_EQ(h->threads, 0);
	CHECK_EQ(h->maxconn, 9000);
	CHECK_EQ(h->bufsize, 16384);
	CHECK_EQ(h->max_header_size, 8192);
	CHECK_EQ(h->max_body_size, max_body_size);
	CHECK_EQ(h->timeout_client, 60000);
	CHECK_EQ(h->timeout_http_request, 10000);
	CHECK_EQ(h->timeout_http_keep_alive, 10000);
	CHECK_STR(h->access_log, "");
	CHECK_STR(h->error_log, "");
	CHECK_STR(h->log_level, "info");
}

/* The defaults of every key table in stack.c. */
static void check_defaults(const struct conf *s)
{
	CHECK_STR(s->site.domain, "foobar.com");
	CHECK_STR(s->site.www, "lb-01");
	CHECK_STR(s->site.state, "var");

	check_default_http(&s->lb.http, ":8080", ":8404", 0);
	CHECK_EQ(s->lb.balance, LB_ROUNDROBIN);
	CHECK_EQ(s->lb.nservers, 0);
	CHECK_EQ(s->lb.timeout_connect, 5000);
	CHECK_EQ(s->lb.timeout_server, 60000);
	CHECK_EQ(s->lb.timeout_server_keep_alive, 4000);
	CHECK_EQ(s->lb.retries, 3);

	check_default_http(&s->web.http, ":8080", ":8405", 0);
	CHECK_STR(s->web.root, "www");
	CHECK_EQ(s->web.nproxy, 0);
	CHECK_STR(s->web.upstream, ":9000");
	CHECK_EQ(s->web.timeout_connect, 5000);
	CHECK_EQ(s->web.timeout_server, 60000);
	CHECK_EQ(s->web.timeout_server_keep_alive, 4000);

	check_default_http(&s->app.http, ":9000", ":9001", 16384); /* always a body limit */

	CHECK_STR(s->dns.listen, ":5353");
	CHECK_STR(s->dns.admin, ":8406");
	CHECK_EQ(s->dns.ttl, 300000);
	CHECK_STR(s->dns.log_level, "info");

	CHECK_EQ(s->monitoring.enabled, MON_AUTO);
	CHECK_STR(s->monitoring.host, "");
	CHECK_STR(s->monitoring.listen, ":9090");
	CHECK_EQ(s->monitoring.scrape_interval, 5000);
	CHECK_EQ(s->monitoring.evaluation_interval, 5000);
	CHECK_EQ(s->monitoring.retention, 7 * 86400000ULL);
	CHECK_STR(s->monitoring.mysqld_exporter, ":9104");
	CHECK_STR(s->monitoring.supervisor, ":9110");
	CHECK_EQ(s->monitoring.alert_for, 10000);
	CHECK_EQ(s->monitoring.error_rate_for, 60000);
	CHECK_EQ(s->monitoring.cert_warning, 14 * 86400000ULL);
}

TEST(stack_empty_file_is_all_defaults)
{
	static const char *const texts[] = {
		"", "\n\n", "; only a comment\n# and another\n",
		"[site]\n[lb]\n[web]\n[app]\n[dns]\n", /* sections present, keys absent */
	};
	for (size_t i = 0; i < ARRAY_SIZE(texts); i++) {
		t_case("stack defaults, text %zu", i);
		struct conf s;
		char err[256];
		CHECK_EQ(load(&s, texts[i], err, sizeof(err)), 0);
		CHECK_STR(err, "");
		CHECK_STR(s.path, NAME);
		CHECK_EQ(s.nhosts, 0);
		check_defaults(&s);
		conf_free(&s);
		CHECK(stack_is_zero(&s));
	}
}

TEST(stack_some_keys_set_others_default)
{
	struct conf s;
	char err[256];
	CHECK_EQ(load(&s,
	              "[lb]\nbalance = leastconn\nretries = 0\n"
	              "[web]\nbufsize = 32k\n"
	              "[dns]\nttl = 1h\n",
	              err, sizeof(err)),
	         0);
	CHECK_STR(err, "");
	CHECK_EQ(s.lb.balance, LB_LEASTCONN);
	CHECK_EQ(s.lb.retries, 0);
	CHECK_EQ(s.web.http.bufsize, 32768);
	CHECK_EQ(s.dns.ttl, 3600000);
	/* Untouched keys of the same sections keep their defaults. */
	CHECK_STR(s.lb.http.listen, ":8080");
	CHECK_EQ(s.lb.timeout_connect, 5000);
	CHECK_EQ(s.web.http.max_header_size, 8192);
	CHECK_STR(s.web.root, "www");
	CHECK_STR(s.dns.listen, ":5353");
	CHECK_STR(s.site.domain, "foobar.com");
	conf_free(&s);
}

TEST(stack_hosts_and_roles)
{
	struct conf s;
	char err[256];
	CHECK_EQ(load(&s, HOSTS "[host client]\naddress = 10.0.0.100\n", err, sizeof(err)), 0);
	CHECK_STR(err, "");
	CHECK_EQ(s.nhosts, 4);
	CHECK_STR(s.hosts[0].name, "lb-01");
	CHECK_STR(s.hosts[0].address, "10.0.0.1");
	CHECK_EQ(s.hosts[0].roles, ROLE_LB | ROLE_DNS);
	CHECK_EQ(s.hosts[0].line, 3);
	CHECK_STR(s.hosts[1].name, "web-01");
	CHECK_EQ(s.hosts[1].roles, ROLE_WEB | ROLE_APP | ROLE_DB_PRIMARY);
	CHECK_EQ(s.hosts[1].line, 6);
	CHECK_EQ(s.hosts[2].roles, ROLE_WEB | ROLE_APP | ROLE_DB_REPLICA);
	CHECK_STR(s.hosts[3].name, "client");
	CHECK_EQ(s.hosts[3].roles, 0); /* roles default to none */
	CHECK_EQ(s.hosts[3].line, HOSTS_LINES + 1);

	CHECK(conf_host(&s, "web-02") == &s.hosts[2]);
	CHECK(conf_host(&s, "web-03") == NULL);
	CHECK(conf_host(&s, "WEB-01") == NULL);
	CHECK(conf_host_with_role(&s, ROLE_DNS) == &s.hosts[0]);
	CHECK(conf_host_with_role(&s, ROLE_APP) == &s.hosts[1]);
	CHECK(conf_host_with_role(&s, ROLE_DB_REPLICA) == &s.hosts[2]);
	conf_free(&s);

	/* The same key in two hosts is no duplicate. */
	t_case("stack same key in two hosts");
	CHECK_EQ(load(&s,
	              "[site]\nwww = a\n[host a]\naddress = ::1\n[host b]\naddress = 10.1.2.3\n",
	              err, sizeof(err)),
	         0);
	CHECK_STR(err, "");
	CHECK_STR(s.hosts[0].address, "::1");
	conf_free(&s);
}

TEST(stack_syntax_tolerated)
{
	static const struct {
		const char *what, *text;
	} rows[] = {
		{ "inline comments", "[lb] ; the balancer\nbalance = first ; not the default\n" },
		{ "hash comments", "# c\n[lb]\n# balance = leastconn\nbalance = first\n" },
		{ "crlf line ends", "[lb]\r\nbalance = first\r\n" },
		{ "no final newline", "[lb]\nbalance = first" },
		{ "spaces everywhere", "  [ lb ]  \n\t balance\t=\tfirst  \n" },
		{ "utf-8 bom", "\xef\xbb\xbf[lb]\nbalance = first\n" },
	};
	for (size_t i = 0; i < ARRAY_SIZE(rows); i++) {
		t_case("stack syntax: %s", rows[i].what);
		struct conf s;
		char err[256];
		CHECK_EQ(load(&s, rows[i].text, err, sizeof(err)), 0);
		CHECK_STR(err, "");
		CHECK_EQ(s.lb.balance, LB_FIRST);
		conf_free(&s);
	}
}

/* ---- units ---- */

TEST(stack_parse_duration)
{
	static const struct {
		const char *s;
		int ok;
		uint64_t ms;
	} rows[] = {
		{ "500ms", 1, 500 },
		{ "2s", 1, 2000 },
		{ "1m", 1, 60000 },
		{ "1h", 1, 3600000 },
		{ "1d", 1, 86400000 },
		{ "0", 1, 0 },
		{ "00", 1, 0 },
		{ "0s", 1, 0 },
		{ "90s", 1, 90000 },
		{ "1500ms", 1, 1500 },
		{ "213503982334d", 1, 213503982334ull * 86400000ull }, /* the largest in d */
		{ "18446744073709551615ms", 1, UINT64_MAX },
		{ "213503982335d", 0, 0 },          /* overflows the milliseconds */
		{ "18446744073709551616ms", 0, 0 }, /* overflows the number */
		{ "99999999999999999999999s", 0, 0 },
		{ "5", 0, 0 }, /* a bare number other than 0 needs a unit */
		{ "1000", 0, 0 },
		{ "", 0, 0 },
		{ "s", 0, 0 },
		{ "-1s", 0, 0 },
		{ "+1s", 0, 0 },
		{ " 1s", 0, 0 },
		{ "1 s", 0, 0 },
		{ "1s ", 0, 0 },
		{ "1.5s", 0, 0 },
		{ "1S", 0, 0 },
		{ "1sec", 0, 0 },
		{ "1ms2", 0, 0 },
		{ "1w", 0, 0 },
		{ "1us", 0, 0 },
		{ "0x10s", 0, 0 },
		{ "1m30s", 0, 0 },
	};
	for (size_t i = 0; i < ARRAY_SIZE(rows); i++) {
		t_case("cfg_parse_duration \"%s\"", rows[i].s);
		uint64_t ms = 12345;
		int r = cfg_parse_duration(rows[i].s, &ms);
		CHECK_EQ(r, rows[i].ok ? 0 : -1);
		if (rows[i].ok)
			CHECK(ms == rows[i].ms);
		else
			CHECK_EQ(ms, 12345); /* untouched */
	}
}

TEST(stack_parse_size)
{
	static const struct {
		const char *s;
		int ok;
		uint64_t bytes;
	} rows[] = {
		{ "0", 1, 0 },
		{ "4096", 1, 4096 },
		{ "16k", 1, 16384 },
		{ "16K", 1, 16384 },
		{ "1m", 1, 1048576 },
		{ "1M", 1, 1048576 },
		{ "1g", 1, 1073741824 },
		{ "16kb", 1, 16384 },
		{ "16kB", 1, 16384 },
		{ "16KB", 1, 16384 },
		{ "16KiB", 1, 16384 },
		{ "2MiB", 1, 2097152 },
		{ "17179869183g", 1, 17179869183ull << 30 }, /* the largest in g */
		{ "18446744073709551615", 1, UINT64_MAX },
		{ "17179869184g", 0, 0 }, /* 2^64 */
		{ "18446744073709551616", 0, 0 },
		{ "", 0, 0 },
		{ "k", 0, 0 },
		{ "16b", 0, 0 }, /* no unit is "bytes"; "b" alone is not one */
		{ "16B", 0, 0 },
		{ "16kib", 0, 0 },
		{ "16kbb", 0, 0 },
		{ "16kiB ", 0, 0 },
		{ "16t", 0, 0 },
		{ "16 k", 0, 0 },
		{ "-16k", 0, 0 },
		{ "1.5k", 0, 0 },
		{ "16kk", 0, 0 },
		{ "16x", 0, 0 },
	};
	for (size_t i = 0; i < ARRAY_SIZE(rows); i++) {
		t_case("cfg_parse_size \"%s\"", rows[i].s);
		uint64_t b = 777;
		CHECK_EQ(cfg_parse_size(rows[i].s, &b), rows[i].ok ? 0 : -1);
		if (rows[i].ok)
			CHECK(b == rows[i].bytes);
		else
			CHECK_EQ(b, 777);
	}
}

TEST(stack_parse_bool)
{
	static const struct {
		const char *s;
		int r;
		bool v;
	} rows[] = {
		{ "yes", 0, true },    { "on", 0, true },   { "true", 0, true },
		{ "1", 0, true },      { "YES", 0, true },  { "True", 0, true },
		{ "no", 0, false },    { "off", 0, false }, { "false", 0, false },
		{ "0", 0, false },     { "OFF", 0, false }, { "", -1, false },
		{ "y", -1, false },    { "2", -1, false },  { "yes ", -1, false },
		{ "nope", -1, false },
	};
	for (size_t i = 0; i < ARRAY_SIZE(rows); i++) {
		t_case("cfg_parse_bool \"%s\"", rows[i].s);
		bool b = !rows[i].v;
		CHECK_EQ(cfg_parse_bool(rows[i].s, &b), rows[i].r);
		if (rows[i].r == 0)
			CHECK_EQ(b, rows[i].v);
	}
}

/* Units as the loader takes them, into the right fields. */
TEST(stack_units_in_keys)
{
	struct conf s;
	char err[256];
	CHECK_EQ(load(&s,
	              "[lb]\ntimeout_connect = 500ms\ntimeout_client = 2m\nbufsize = 1m\n"
	              "max_header_size = 1024\nmax_body_size = 10g\nthreads = auto\n"
	              "[web]\ntimeout_server = 1d\nthreads = 256\n"
	              "[app]\nthreads = 0\nmax_body_size = 0\n"
	              "[dns]\nttl = 1000ms\n",
	              err, sizeof(err)),
	         0);
	CHECK_STR(err, "");
	CHECK_EQ(s.lb.timeout_connect, 500);
	CHECK_EQ(s.lb.http.timeout_client, 120000);
	CHECK_EQ(s.lb.http.bufsize, 1048576);
	CHECK_EQ(s.lb.http.max_header_size, 1024);
	CHECK(s.lb.http.max_body_size == 10ull << 30);
	CHECK_EQ(s.lb.http.threads, 0);
	CHECK_EQ(s.web.timeout_server, 86400000);
	CHECK_EQ(s.web.http.threads, 256);
	CHECK_EQ(s.app.http.threads, 0);
	CHECK_EQ(s.dns.ttl, 1000);
	conf_free(&s);
}

/* ---- errors: "t.conf:LINE: message", the key or section named ---- */

struct err_row {
	const char *what;
	const char *text;
	int line; /* 0: the message has no line ("t.conf: ...") */
	const char *want, *want2;
	const char *not_want;
};

static void check_error(const struct err_row *r)
{
	struct conf s;
	char err[512];
	t_case("stack error: %s", r->what);
	memset(&s, 0xa5, sizeof(s));
	CHECK_EQ(load(&s, r->text, err, sizeof(err)), -1);
	char prefix[64];
	if (r->line)
		snprintf(prefix, sizeof(prefix), NAME ":%d: ", r->line);
	else
		snprintf(prefix, sizeof(prefix), NAME ": ");
	t_check(strncmp(err, prefix, strlen(prefix)) == 0, __FILE__, __LINE__,
	        "\"%s\" starts with \"%s\"", err, prefix);
	t_check(strstr(err, r->want) != NULL, __FILE__, __LINE__, "\"%s\" contains \"%s\"", err,
	        r->want);
	if (r->want2)
		t_check(strstr(err, r->want2) != NULL, __FILE__, __LINE__, "\"%s\" contains \"%s\"",
		        err, r->want2);
	if (r->not_want)
		t_check(strstr(err, r->not_want) == NULL, __FILE__, __LINE__,
		        "\"%s\" does not contain \"%s\"", err, r->not_want);
	/* One line, no newline in it. */
	CHECK(strchr(err, '\n') == NULL);
	/* A failed load leaves nothing behind. */
	CHECK(stack_is_zero(&s));
}

TEST(stack_errors_keys_and_sections)
{
	static const struct err_row rows[] = {
		{ "typo in [lb]", "[lb]\nblance = roundrobin\n", 2, "unknown key 'blance' in [lb]",
		  "did you mean 'balance'?", NULL },
		{ "swapped letters", "[lb]\n\nbalnace = first\n", 3,
		  "unknown key 'balnace' in [lb]", "did you mean 'balance'?", NULL },
		{ "typo in [host]", "[host a]\nadress = 10.0.0.1\n", 2,
		  "unknown key 'adress' in [host]", "did you mean 'address'?", NULL },
		{ "typo in [dns]", "[dns]\nttll = 5m\n", 2, "unknown key 'ttll' in [dns]",
		  "did you mean 'ttl'?", NULL },
		{ "typo in [web]", "[web]\nroot = www\nprxy = /api/\n", 3,
		  "unknown key 'prxy' in [web]", "did you mean 'proxy'?", NULL },
		{ "typo in [site]", "[site]\ndomian = foobar.com\n", 2,
		  "unknown key 'domian' in [site]", "did you mean 'domain'?", NULL },
		{ "unknown key, nothing close", "[app]\nfrobnicate = 1\n", 2,
		  "unknown key 'frobnicate' in [app]", NULL, "did you mean" },
		{ "key of another section", "[dns]\nroot = www\n", 2, "unknown key 'root' in [dns]",
		  NULL, NULL },
		{ "no tls_listen in [app]", "[app]\nlisten = :9000\ntls_listen = :9443\n", 3,
		  "unknown key 'tls_listen' in [app]", NULL, NULL },
		{ "no admin in [db]", "[db]\nport = 3306\nadmin = :9002\n", 3,
		  "unknown key 'admin' in [db]", NULL, NULL },
		{ "empty key", "[lb]\n= roundrobin\n", 2, "unknown key '' in [lb]", NULL, NULL },
		{ "unknown section", "[site]\ndomain = x.com\n\n[frontend]\n", 4,
		  "unknown section [frontend]", NULL, NULL },
		{ "unknown named section", "[server web-01]\naddress = 10.0.0.2\n", 1,
		  "unknown section [server web-01]", NULL, NULL },
		{ "section names are lower case", "[LB]\n", 1, "unknown section [LB]", NULL, NULL },
		{ "[host] without a name", "[lb]\n[host]\naddress = 10.0.0.1\n", 2,
		  "[host] needs a name", "[host web-01]", NULL },
		{ "[host] with blanks only", "[host   ]\n", 1, "[host] needs a name", NULL, NULL },
		{ "host name with a space", "[host web 01]\n", 1, "bad host name 'web 01'", NULL,
		  NULL },
		{ "host name with a slash", "[host web/01]\n", 1, "bad host name 'web/01'", NULL,
		  NULL },
		{ "host name with a colon", "[host web:01]\n", 1, "bad host name 'web:01'", NULL,
		  NULL },
		{ "[lb] with a name", "[lb main]\n", 1, "[lb] takes no name", NULL, NULL },
		{ "duplicate section", "[lb]\nbalance = first\n[web]\n[lb]\n", 4,
		  "duplicate section [lb]", "(first at line 1)", NULL },
		{ "duplicate host", "[host a]\naddress = 10.0.0.1\n\n[host a]\n", 4,
		  "duplicate section [host a]", "(first at line 1)", NULL },
		{ "duplicate key", "[lb]\nbalance = first\n; comment\nbalance = leastconn\n", 4,
		  "duplicate key 'balance' in [lb]", "(first at line 2)", NULL },
		{ "duplicate key in a host", "[host a]\naddress = 10.0.0.1\naddress = 10.0.0.2\n",
		  3, "duplicate key 'address' in [host]", "(first at line 2)", NULL },
		{ "duplicate key, same value", "[dns]\nttl = 5m\nttl = 5m\n", 3,
		  "duplicate key 'ttl' in [dns]", "(first at line 2)", NULL },
		{ "key outside any section", "domain = foobar.com\n", 1,
		  "key 'domain' outside any section", NULL, NULL },
		{ "key outside, after comments", "; c\n\nfoo = bar\n[site]\n", 3,
		  "key 'foo' outside any section", NULL, NULL },
		{ "line without '='", "[lb]\nbalance roundrobin\n", 2, "syntax error",
		  "'key = value'", NULL },
		{ "bare word", "[site]\ndomain = x\n\nfoobar\n", 4, "syntax error", NULL, NULL },
		{ "unclosed section", "[site]\n[lb\n", 2, "syntax error", NULL, NULL },
		{ "':' as the separator", "[lb]\nlisten: 9090\n", 2, "'listen = value'", NULL,
		  NULL },
		{ "forgotten '=' before a port", "[lb]\nlisten :9090\n", 2, "'listen = value'",
		  NULL, NULL },
		{ "no value", "[lb]\nbalance =\n", 2, "'balance' in [lb] needs a value", NULL,
		  NULL },
		{ "value starting with ';'", "[site]\nwww =;lb-01\n", 2,
		  "value of 'www' in [site] starts with ';'", NULL, NULL },
		{ "no value for a size", "[web]\nbufsize=\n", 2, "'bufsize' in [web] needs a value",
		  NULL, NULL },
	};
	for (size_t i = 0; i < ARRAY_SIZE(rows); i++)
		check_error(&rows[i]);
}

TEST(stack_errors_values)
{
	static const struct err_row rows[] = {
		{ "enum", "[lb]\nbalance = random\n", 2, "bad value 'random' for 'balance' in [lb]",
		  NULL, NULL },
		{ "enum is case-sensitive", "[lb]\nbalance = RoundRobin\n", 2,
		  "bad value 'RoundRobin' for 'balance' in [lb]", NULL, NULL },
		{ "int not a number", "[lb]\nretries = three\n", 2,
		  "bad value 'three' for 'retries' in [lb]", "(a whole number in 0..100)", NULL },
		{ "int above the range", "[lb]\nretries = 101\n", 2,
		  "bad value '101' for 'retries' in [lb]", "0..100", NULL },
		{ "int below the range", "[web]\nmaxconn = 0\n", 2,
		  "bad value '0' for 'maxconn' in [web]", "1..1000000", NULL },
		{ "int negative", "[app]\nthreads = -1\n", 2,
		  "bad value '-1' for 'threads' in [app]", "0..256", NULL },
		{ "int too many threads", "[lb]\nthreads = 257\n", 2,
		  "bad value '257' for 'threads' in [lb]", NULL, NULL },
		{ "int with a suffix", "[app]\nthreads = 4x\n", 2,
		  "bad value '4x' for 'threads' in [app]", NULL, NULL },
		{ "int in hex", "[lb]\nmaxconn = 0x10\n", 2,
		  "bad value '0x10' for 'maxconn' in [lb]", NULL, NULL },
		{ "int overflow", "[lb]\nmaxconn = 99999999999999999999\n", 2,
		  "bad value '99999999999999999999' for 'maxconn' in [lb]", NULL, NULL },
		{ "int with a plus", "[lb]\nretries = +1\n", 2,
		  "bad value '+1' for 'retries' in [lb]", NULL, NULL },
		{ "duration without unit", "[lb]\ntimeout_connect = 5\n", 2,
		  "bad duration '5' for 'timeout_connect' in [lb]", "500ms, 2s", NULL },
		{ "duration bad unit", "[web]\ntimeout_server = 5sec\n", 2,
		  "bad duration '5sec' for 'timeout_server' in [web]", NULL, NULL },
		{ "duration negative", "[app]\ntimeout_client = -5s\n", 2,
		  "bad duration '-5s' for 'timeout_client' in [app]", NULL, NULL },
		{ "duration overflow", "[lb]\ntimeout_server = 213503982335d\n", 2,
		  "bad duration '213503982335d' for 'timeout_server' in [lb]", NULL, NULL },
		{ "duration zero where not allowed", "[lb]\ntimeout_client = 0\n", 2,
		  "'timeout_client' in [lb] must be at least 1ms", NULL, NULL },
		{ "ttl under a second", "[dns]\nttl = 500ms\n", 2,
		  "'ttl' in [dns] must be at least 1000ms", NULL, NULL },
		{ "ttl over 2^31-1 seconds", "[dns]\nttl = 24856d\n", 2,
		  "'ttl' in [dns] must be at most", NULL, NULL },
		{ "size bad suffix", "[lb]\nbufsize = 16q\n", 2,
		  "bad size '16q' for 'bufsize' in [lb]", "16k", NULL },
		{ "size bare b", "[web]\nmax_body_size = 10b\n", 2,
		  "bad size '10b' for 'max_body_size' in [web]", NULL, NULL },
		{ "size below the range", "[lb]\nbufsize = 1k\n", 2,
		  "'bufsize' in [lb] must be in 4096..1048576 bytes", NULL, NULL },
		{ "size above the range", "[app]\nbufsize = 2m\n", 2,
		  "'bufsize' in [app] must be in 4096..1048576 bytes", NULL, NULL },
		{ "header size too small", "[web]\nmax_header_size = 512\n", 2,
		  "'max_header_size' in [web] must be in 1024..1048576 bytes", NULL, NULL },
		{ "log level", "[web]\nlog_level = verbose\n", 2,
		  "bad value 'verbose' for 'log_level' in [web]", "error, warn, info or debug",
		  NULL },
		{ "log level upper case", "[dns]\nlog_level = INFO\n", 2,
		  "bad value 'INFO' for 'log_level' in [dns]", NULL, NULL },
		{ "unknown role", "[host a]\naddress = 10.0.0.1\nroles = lb, db\n", 3,
		  "unknown role 'db'", "db-primary", NULL },
		{ "role in upper case", "[host a]\nroles = LB\n", 2, "unknown role 'LB'", NULL,
		  NULL },
	};
	for (size_t i = 0; i < ARRAY_SIZE(rows); i++)
		check_error(&rows[i]);
}

TEST(stack_errors_servers_and_proxies)
{
	static const struct err_row rows[] = {
		{ "weight too big", "[lb]\nserver = 10.0.0.2:80 weight=300\n", 2,
		  "bad weight '300' for server 10.0.0.2:80", "(0..256)", NULL },
		{ "weight negative", "[lb]\nserver = 10.0.0.2:80 weight=-1\n", 2,
		  "bad weight '-1' for server 10.0.0.2:80", NULL, NULL },
		{ "weight empty", "[lb]\nserver = 10.0.0.2:80 weight=\n", 2,
		  "bad weight '' for server 10.0.0.2:80", NULL, NULL },
		{ "weight not a number", "[lb]\nserver = 10.0.0.2:80 weight=two\n", 2,
		  "bad weight 'two' for server", NULL, NULL },
		{ "maxconn not a number", "[lb]\nserver = 10.0.0.2:80 maxconn=lots\n", 2,
		  "bad maxconn 'lots' for server 10.0.0.2:80", NULL, NULL },
		{ "maxconn too big", "[lb]\nserver = 10.0.0.2:80 maxconn=1000001\n", 2,
		  "bad maxconn '1000001' for server", NULL, NULL },
		{ "unknown server option", "[lb]\nserver = 10.0.0.2:80 wieght=2\n", 2,
		  "unknown server option 'wieght=2'", "weight=, maxconn=, backup", NULL },
		{ "option after a good one", "[lb]\nserver = 10.0.0.2:80 backup fast\n", 2,
		  "unknown server option 'fast'", NULL, NULL },
		{ "server without a value", "[lb]\nserver =\n", 2, "'server' in [lb] needs a value",
		  NULL, NULL },
		{ "server of an unknown host",
		  HOSTS "[lb]\nserver = web-01:80\nserver = web-09:80\n", HOSTS_LINES + 3,
		  "unknown host 'web-09'", "[host web-09]", NULL },
		{ "server without a port", "[lb]\nserver = 10.0.0.2\n", 2,
		  "server: bad address '10.0.0.2'", "host:port", NULL },
		{ "server with a bad port", "[lb]\nserver = 10.0.0.2:99999\n", 2,
		  "server: bad port in '10.0.0.2:99999'", NULL, NULL },
		{ "server with a bad ip", "[lb]\nserver = 10.0.0.256:80\n", 2,
		  "server: bad address '10.0.0.256:80'", NULL, NULL },
		{ "duplicate server",
		  "[lb]\nserver = 10.0.0.2:80\nserver = 10.0.0.3:80\nserver = 10.0.0.2:80 "
		  "weight=2\n",
		  4, "server 10.0.0.2:80 is listed twice", "(first at line 2)", NULL },
		{ "duplicate server by host name",
		  HOSTS "[lb]\nserver = web-01:80\n\nserver = web-01:80\n", HOSTS_LINES + 4,
		  "server web-01:80 is listed twice", "(first at line 13)", NULL },
		{ "proxy without a slash", "[web]\nproxy = /api/\nproxy = healthz\n", 3,
		  "'proxy' takes a path prefix starting with '/' (or '=/path' for that path only), "
		  "got 'healthz'",
		  NULL, NULL },
		{ "proxy as a url", "[web]\nproxy = http://app/\n", 2,
		  "'proxy' takes a path prefix starting with '/'", NULL, NULL },
		{ "two proxies on a line", "[web]\nproxy = /a /b\n", 2,
		  "'proxy' takes one prefix per line, got '/a /b'", NULL, NULL },
		{ "proxy without a value", "[web]\nproxy =\n", 2, "'proxy' in [web] needs a value",
		  NULL, NULL },
	};
	for (size_t i = 0; i < ARRAY_SIZE(rows); i++)
		check_error(&rows[i]);
}

TEST(stack_errors_across_sections)
{
	static const struct err_row rows[] = {
		{ "host without an address", "[site]\nwww = a\n[host a]\nroles = lb\n", 3,
		  "[host a] needs an 'address'", NULL, NULL },
		{ "host with an empty address", "[site]\nwww = a\n[host a]\naddress =\n", 3,
		  "[host a] needs an 'address'", NULL, NULL },
		{ "second host without an address",
		  "[site]\nwww = a\n[host a]\naddress = 10.0.0.1\n[host b]\n", 5,
		  "[host b] needs an 'address'", NULL, NULL },
		{ "bad address", "[host a]\naddress = 10.0.0.300\n", 1,
		  "bad 'address' '10.0.0.300' for [host a]", NULL, NULL },
		{ "address a name", "[host a]\naddress = localhost\n", 1,
		  "bad 'address' 'localhost' for [host a]", NULL, NULL },
		{ "address with a port", "[host a]\naddress = 10.0.0.1:80\n", 1,
		  "bad 'address' '10.0.0.1:80' for [host a]", NULL, NULL },
		{ "address the wildcard", "[host a]\naddress = *\n", 1,
		  "bad 'address' '*' for [host a]", NULL, NULL },
		{ "address a unix socket", "[host a]\naddress = unix:/tmp/a\n", 1,
		  "bad 'address' 'unix:/tmp/a' for [host a]", NULL, NULL },
		{ "address in brackets", "[host a]\naddress = [::1]\n", 1,
		  "bad 'address' '[::1]' for [host a]", NULL, NULL },
		{ "duplicate address",
		  "[site]\nwww = a\n[host a]\naddress = 10.0.0.1\n[host b]\naddress = 10.0.0.1\n",
		  5, "[host b] has the same address as [host a]", NULL, NULL },
		{ "www names a missing host",
		  "[site]\ndomain = x.com\nwww = lb-09\n[host a]\naddress = 10.0.0.1\n", 3,
		  "'www' in [site] names host 'lb-09'", "no [host] section", NULL },
		{ "default www names a missing host", "[host a]\naddress = 10.0.0.1\n", 0,
		  "'www' in [site] names host 'lb-01'", NULL, NULL },
	};
	for (size_t i = 0; i < ARRAY_SIZE(rows); i++)
		check_error(&rows[i]);
}

/* Errors whose text is built: long lines and the table limits. */
TEST(stack_errors_long_lines_and_limits)
{
	struct conf s;
	char err[512];
	size_t cap = 1 << 16;
	char *text = malloc(cap);

	t_case("stack line of 4000 bytes is fine");
	int n = snprintf(text, cap, "[site]\n; ");
	memset(text + n, 'x', 3990);
	snprintf(text + n + 3990, cap - (size_t)n - 3990, "\nstate = var\n");
	CHECK_EQ(load(&s, text, err, sizeof(err)), 0);
	CHECK_STR(err, "");
	conf_free(&s);

	t_case("stack line too long");
	n = snprintf(text, cap, "[site]\ndomain = foobar.com\nstate = ");
	memset(text + n, 'x', 5000);
	snprintf(text + n + 5000, cap - (size_t)n - 5000, "\n");
	CHECK_EQ(load(&s, text, err, sizeof(err)), -1);
	CHECK(strncmp(err, NAME ":3: line too long", strlen(NAME ":3: line too long")) == 0);
	CHECK(stack_is_zero(&s));

	/* found by fuzz_stack: the longest line is the same with and without
	 * its newline, so what prints loads again */
	t_case("stack longest line, last without a newline");
	n = snprintf(text, cap, "[site]\nstate = ");
	memset(text + n, 'x', (size_t)(4094 - 8));
	text[n + 4094 - 8] = '\0';
	CHECK_EQ(load(&s, text, err, sizeof(err)), 0);
	conf_free(&s);
	n = snprintf(text, cap, "[site]\nstate = ");
	memset(text + n, 'x', (size_t)(4095 - 8));
	text[n + 4095 - 8] = '\0';
	CHECK_EQ(load(&s, text, err, sizeof(err)), -1);
	CHECK(strncmp(err, NAME ":2: line too long (over 4094 bytes)",
	              strlen(NAME ":2: line too long (over 4094 bytes)")) == 0);
	n = snprintf(text, cap, "[site]\nstate = ");
	memset(text + n, 'x', (size_t)(4095 - 8));
	snprintf(text + n + 4095 - 8, cap - (size_t)n - (4095 - 8), "\n");
	CHECK_EQ(load(&s, text, err, sizeof(err)), -1);

	t_case("stack too many hosts");
	n = snprintf(text, cap, "[site]\nwww = h0\n");
	for (int i = 0; i <= CONF_MAX_HOSTS; i++)
		n += snprintf(text + n, cap - (size_t)n, "[host h%d]\naddress = 10.1.%d.%d\n", i,
		              i / 256, i % 256);
	CHECK_EQ(load(&s, text, err, sizeof(err)), -1);
	char want[128];
	snprintf(want, sizeof(want), NAME ":%d: too many hosts (at most %d)",
	         3 + 2 * CONF_MAX_HOSTS, CONF_MAX_HOSTS);
	CHECK_STR(err, want);
	CHECK(stack_is_zero(&s));

	t_case("stack as many hosts as allowed");
	n = snprintf(text, cap, "[site]\nwww = h0\n");
	for (int i = 0; i < CONF_MAX_HOSTS; i++)
		n += snprintf(text + n, cap - (size_t)n, "[host h%d]\naddress = 10.1.%d.%d\n", i,
		              i / 256, i % 256);
	CHECK_EQ(load(&s, text, err, sizeof(err)), 0);
	CHECK_EQ(s.nhosts, CONF_MAX_HOSTS);
	conf_free(&s);

	t_case("stack too many servers");
	n = snprintf(text, cap, "[lb]\n");
	for (int i = 0; i <= LB_MAX_SERVERS; i++)
		n += snprintf(text + n, cap - (size_t)n, "server = 10.2.0.%d:80\n", i);
	CHECK_EQ(load(&s, text, err, sizeof(err)), -1);
	snprintf(want, sizeof(want), NAME ":%d: too many servers in [lb] (at most %d)",
	         2 + LB_MAX_SERVERS, LB_MAX_SERVERS);
	CHECK_STR(err, want);
	CHECK(stack_is_zero(&s));

	t_case("stack too many proxies");
	n = snprintf(text, cap, "[web]\n");
	for (int i = 0; i <= WEB_MAX_PROXY; i++)
		n += snprintf(text + n, cap - (size_t)n, "proxy = /p%d/\n", i);
	CHECK_EQ(load(&s, text, err, sizeof(err)), -1);
	snprintf(want, sizeof(want), NAME ":%d: too many 'proxy' prefixes (at most %d)",
	         2 + WEB_MAX_PROXY, WEB_MAX_PROXY);
	CHECK_STR(err, want);
	CHECK(stack_is_zero(&s));
	free(text);
}

/* A message cut short by a small buffer is still a C string. */
TEST(stack_error_small_buffer)
{
	struct conf s;
	char err[16];
	memset(err, 'z', sizeof(err));
	CHECK_EQ(conf_load_string(&s, "a-rather-long-file-name.conf", "[lb]\nblance = x\n", err,
	                          sizeof(err)),
	         -1);
	CHECK(memchr(err, '\0', sizeof(err)) != NULL);
	CHECK(strncmp(err, "a-rather-long-f", 15) == 0);
	CHECK(stack_is_zero(&s));
}

/* ---- servers and proxies ---- */

TEST(stack_servers)
{
	struct conf s;
	char err[256];
	CHECK_EQ(load(&s,
	              HOSTS "[lb]\n"
	                    "server = web-01:8080\n"
	                    "server = web-02:8080 weight=5 maxconn=100\n"
	                    "server = 10.0.0.9:81 weight=0 backup\n"
	                    "server = [::1]:82\tbackup   weight=256\n",
	              err, sizeof(err)),
	         0);
	CHECK_STR(err, "");
	CHECK_EQ(s.lb.nservers, 4);
	char a[64];
	const struct lb_server_conf *sv = s.lb.servers;
	CHECK_STR(sv[0].target, "web-01:8080");
	CHECK_STR(sv[0].name, "web-01");
	CHECK_STR(addr_format(&sv[0].addr, a, sizeof(a)), "10.0.0.2:8080");
	CHECK_EQ(sv[0].weight, 1); /* the default */
	CHECK_EQ(sv[0].maxconn, 0);
	CHECK(!sv[0].backup);
	CHECK_EQ(sv[0].line, HOSTS_LINES + 2);

	CHECK_STR(sv[1].name, "web-02");
	CHECK_STR(addr_format(&sv[1].addr, a, sizeof(a)), "10.0.0.3:8080");
	CHECK_EQ(sv[1].weight, 5);
	CHECK_EQ(sv[1].maxconn, 100);
	CHECK(!sv[1].backup);

	CHECK_STR(sv[2].name, "10.0.0.9"); /* no host: the address as written */
	CHECK_STR(addr_format(&sv[2].addr, a, sizeof(a)), "10.0.0.9:81");
	CHECK_EQ(sv[2].weight, 0);
	CHECK(sv[2].backup);

	CHECK_STR(sv[3].name, "[::1]:82");
	CHECK_STR(addr_format(&sv[3].addr, a, sizeof(a)), "[::1]:82");
	CHECK_EQ(sv[3].weight, 256);
	CHECK(sv[3].backup);
	CHECK_EQ(sv[3].line, HOSTS_LINES + 5);
	conf_free(&s);
}

TEST(stack_proxies)
{
	struct conf s;
	char err[256];
	CHECK_EQ(load(&s, "[web]\nroot = /srv/www\nproxy = /api/\n\nproxy = /healthz ; the app's\n",
	              err, sizeof(err)),
	         0);
	CHECK_STR(err, "");
	CHECK_EQ(s.web.nproxy, 2);
	CHECK_STR(s.web.proxy[0], "/api/");
	CHECK_STR(s.web.proxy[1], "/healthz");
	CHECK_EQ(s.web.proxy_line, 5);
	CHECK_STR(s.web.root, "/srv/www");
	conf_free(&s);
}

/* "=/path" proxies that one path only; the '=' is kept, and what follows it
 * must still start with '/'. */
TEST(stack_proxies_exact)
{
	struct conf s;
	char err[256];
	t_case("stack proxy = =/ and =/posts");
	CHECK_EQ(load(&s, "[web]\nproxy = =/\nproxy = =/posts\n", err, sizeof(err)), 0);
	CHECK_STR(err, "");
	CHECK_EQ(s.web.nproxy, 2);
	CHECK_STR(s.web.proxy[0], "=/");
	CHECK_STR(s.web.proxy[1], "=/posts");
	CHECK_EQ(s.web.proxy_line, 3);
	conf_free(&s);

	static const struct err_row rows[] = {
		{ "exact proxy without a slash", "[web]\nproxy = =/\nproxy = =api\n", 3,
		  "'proxy' takes a path prefix starting with '/' (or '=/path' for that path only), "
		  "got '=api'",
		  NULL, NULL },
	};
	for (size_t i = 0; i < ARRAY_SIZE(rows); i++)
		check_error(&rows[i]);
}

TEST(stack_tls_keys)
{
	struct conf s;
	char err[256];
	t_case("stack tls defaults");
	CHECK_EQ(load(&s, "[lb]\nserver = 127.0.0.1:80\n", err, sizeof(err)), 0);
	CHECK_STR(s.lb.tls_listen, "");
	CHECK_EQ(s.lb.ntls_certs, 0);
	CHECK_EQ(s.lb.hsts, 365ull * 86400000);
	CHECK_EQ(s.lb.tls_ticket_rotate, 3600000);
	CHECK(s.lb.tls_tickets);
	CHECK_EQ(s.lb.tls_session_cache, 20000);
	conf_free(&s);

	t_case("stack tls_cert with and without a key file");
	CHECK_EQ(load(&s,
	              "[lb]\ntls_listen = :443\ntls_cert = /a/full.pem /a/key.pem\n"
	              "tls_cert = /b/combined.pem\nhsts = 0\ntls_tickets = no\n"
	              "tls_session_cache = 0\ntls_ticket_rotate = 12h\n",
	              err, sizeof(err)),
	         0);
	CHECK_STR(err, "");
	CHECK_STR(s.lb.tls_listen, ":443");
	CHECK_EQ(s.lb.ntls_certs, 2);
	CHECK_STR(s.lb.tls_certs[0].cert, "/a/full.pem");
	CHECK_STR(s.lb.tls_certs[0].key, "/a/key.pem");
	CHECK_EQ(s.lb.tls_certs[0].line, 3);
	CHECK_STR(s.lb.tls_certs[1].cert, "/b/combined.pem");
	CHECK(s.lb.tls_certs[1].key == NULL);
	CHECK_EQ(s.lb.hsts, 0);
	CHECK(!s.lb.tls_tickets);
	CHECK_EQ(s.lb.tls_session_cache, 0);
	CHECK_EQ(s.lb.tls_ticket_rotate, 12ull * 3600000);
	conf_free(&s);

	static const struct err_row rows[] = {
		{ "tls_cert with three words", "[lb]\ntls_cert = a b c\n", 2,
		  "'tls_cert' takes a PEM file and, when the key is apart, its key file", NULL,
		  NULL },
		{ "tls_ticket_rotate too short", "[lb]\ntls_ticket_rotate = 10s\n", 2,
		  "tls_ticket_rotate", NULL, NULL },
		{ "tls_session_cache negative", "[lb]\ntls_session_cache = -1\n", 2,
		  "tls_session_cache", NULL, NULL },
		{ "tls_tickets not a boolean", "[lb]\ntls_tickets = maybe\n", 2, "tls_tickets",
		  NULL, NULL },
		{ "hsts bare number", "[lb]\nhsts = 100\n", 2, "hsts", NULL, NULL },
	};
	for (size_t i = 0; i < ARRAY_SIZE(rows); i++)
		check_error(&rows[i]);
}

/* ---- conf_resolve_addr ---- */

TEST(stack_resolve_addr_specs)
{
	static const struct {
		const char *spec;
		const char *self; /* host name, or NULL */
		const char *want; /* addr_format, or NULL: refused */
		const char *err;  /* part of the message when refused */
	} rows[] = {
		{ ":8080", "web-01", "10.0.0.2:8080", NULL },
		{ ":8080", "lb-01", "10.0.0.1:8080", NULL },
		{ ":53", "v6", "[fd00::1]:53", NULL },
		{ ":8080", NULL, "0.0.0.0:8080", NULL }, /* no host: the wildcard */
		{ "web-01:8080", NULL, "10.0.0.2:8080", NULL },
		{ "web-02:80", "web-01", "10.0.0.3:80", NULL }, /* a name beats self */
		{ "v6:443", NULL, "[fd00::1]:443", NULL },
		{ "127.0.0.5:9000", "web-01", "127.0.0.5:9000", NULL },
		{ "[::1]:8443", NULL, "[::1]:8443", NULL },
		{ "*:80", "web-01", "0.0.0.0:80", NULL },
		{ "unix:/tmp/app.sock", NULL, "unix:/tmp/app.sock", NULL },
		{ "web-09:80", NULL, NULL, "unknown host 'web-09' in 'web-09:80'" },
		{ "localhost:80", NULL, NULL, "unknown host 'localhost'" },
		{ "8080", NULL, NULL, "bad address '8080' (expected host:port)" },
		{ "web-01", NULL, NULL, "bad address 'web-01'" },
		{ "web-01:", NULL, NULL, "bad port" },
		{ "web-01:65536", NULL, NULL, "bad port" },
		{ "web-01:http", NULL, NULL, "bad port" },
		{ "10.0.0.256:80", NULL, NULL, "bad address" },
		{ "[::1:80", NULL, NULL, "bad address" },
		{ "unix:", NULL, NULL, "bad unix socket path" },
	};
	struct conf s;
	char err[256];
	CHECK_EQ(load(&s, HOSTS "[host v6]\naddress = fd00::1\n", err, sizeof(err)), 0);
	CHECK_STR(err, "");
	for (size_t i = 0; i < ARRAY_SIZE(rows); i++) {
		t_case("conf_resolve_addr \"%s\" on %s", rows[i].spec,
		       rows[i].self ? rows[i].self : "(none)");
		const struct conf_host *self = rows[i].self ? conf_host(&s, rows[i].self) : NULL;
		CHECK(rows[i].self == NULL || self != NULL);
		struct addr a;
		char e[256] = "";
		int r = conf_resolve_addr(&s, rows[i].spec, self, &a, e, sizeof(e));
		if (rows[i].want) {
			CHECK_EQ(r, 0);
			char out[128];
			CHECK_STR(addr_format(&a, out, sizeof(out)), rows[i].want);
		} else {
			CHECK_EQ(r, -1);
			t_check(strstr(e, rows[i].err) != NULL, __FILE__, __LINE__,
			        "\"%s\" contains \"%s\"", e, rows[i].err);
		}
	}
	t_case("conf_resolve_addr a long name");
	char spec[300];
	memset(spec, 'a', 200);
	snprintf(spec + 200, sizeof(spec) - 200, ":80");
	struct addr a;
	CHECK_EQ(conf_resolve_addr(&s, spec, NULL, &a, err, sizeof(err)), -1);
	CHECK(strstr(err, "bad address") != NULL);
	conf_free(&s);
}

/* ---- conf_print loads back to the same configuration ---- */

static void check_same_http(const struct http_conf *a, const struct http_conf *b)
{
	CHECK_STR(a->listen, b->listen);
	CHECK(same_str(a->admin, b->admin));
	CHECK_EQ(a->threads, b->threads);
	CHECK_EQ(a->maxconn, b->maxconn);
	CHECK(a->bufsize == b->bufsize);
	CHECK(a->max_header_size == b->max_header_size);
	CHECK(a->max_body_size == b->max_body_size);
	CHECK(a->timeout_client == b->timeout_client);
	CHECK(a->timeout_http_request == b->timeout_http_request);
	CHECK(a->timeout_http_keep_alive == b->timeout_http_keep_alive);
	CHECK_STR(a->access_log, b->access_log);
	CHECK_STR(a->error_log, b->error_log);
	CHECK_STR(a->log_level, b->log_level);
}

static void check_same_stack(const struct conf *a, const struct conf *b)
{
	CHECK_STR(a->site.domain, b->site.domain);
	CHECK_STR(a->site.www, b->site.www);
	CHECK_STR(a->site.state, b->site.state);
	CHECK_EQ(a->nhosts, b->nhosts);
	for (unsigned i = 0; i < a->nhosts && i < b->nhosts; i++) {
		CHECK_STR(a->hosts[i].name, b->hosts[i].name);
		CHECK_STR(a->hosts[i].address, b->hosts[i].address);
		CHECK_EQ(a->hosts[i].roles, b->hosts[i].roles);
	}
	check_same_http(&a->lb.http, &b->lb.http);
	CHECK_EQ(a->lb.balance, b->lb.balance);
	CHECK_EQ(a->lb.nservers, b->lb.nservers);
	for (unsigned i = 0; i < a->lb.nservers && i < b->lb.nservers; i++) {
		const struct lb_server_conf *x = &a->lb.servers[i], *y = &b->lb.servers[i];
		CHECK_STR(x->name, y->name);
		CHECK_STR(x->target, y->target);
		CHECK(addr_equal(&x->addr, &y->addr));
		CHECK_EQ(x->weight, y->weight);
		CHECK_EQ(x->backup, y->backup);
		CHECK_EQ(x->maxconn, y->maxconn);
	}
	CHECK(a->lb.timeout_connect == b->lb.timeout_connect);
	CHECK(a->lb.timeout_server == b->lb.timeout_server);
	CHECK(a->lb.timeout_server_keep_alive == b->lb.timeout_server_keep_alive);
	CHECK_EQ(a->lb.retries, b->lb.retries);
	CHECK_EQ(a->lb.retry_on, b->lb.retry_on);
	CHECK(memcmp(&a->lb.rate_limit, &b->lb.rate_limit, sizeof(a->lb.rate_limit)) == 0);
	CHECK(memcmp(&a->lb.rate_limit_write, &b->lb.rate_limit_write,
	             sizeof(a->lb.rate_limit_write)) == 0);
	CHECK_EQ(a->lb.conn_limit, b->lb.conn_limit);
	CHECK_EQ(a->lb.rate_limit_table, b->lb.rate_limit_table);
	check_same_http(&a->web.http, &b->web.http);
	CHECK_STR(a->web.root, b->web.root);
	CHECK_EQ(a->web.nproxy, b->web.nproxy);
	for (unsigned i = 0; i < a->web.nproxy && i < b->web.nproxy; i++)
		CHECK_STR(a->web.proxy[i], b->web.proxy[i]);
	CHECK_STR(a->web.upstream, b->web.upstream);
	CHECK(a->web.timeout_connect == b->web.timeout_connect);
	CHECK(a->web.timeout_server == b->web.timeout_server);
	CHECK(a->web.timeout_server_keep_alive == b->web.timeout_server_keep_alive);
	check_same_http(&a->app.http, &b->app.http);
	CHECK_STR(a->dns.listen, b->dns.listen);
	CHECK_STR(a->dns.admin, b->dns.admin);
	CHECK(a->dns.ttl == b->dns.ttl);
	CHECK_STR(a->dns.log_level, b->dns.log_level);
	const struct mon_conf *m = &a->monitoring, *n = &b->monitoring;
	CHECK_EQ(m->enabled, n->enabled);
	CHECK_STR(m->host, n->host);
	CHECK_STR(m->listen, n->listen);
	CHECK(m->scrape_interval == n->scrape_interval);
	CHECK(m->evaluation_interval == n->evaluation_interval);
	CHECK(m->retention == n->retention);
	CHECK_STR(m->mysqld_exporter, n->mysqld_exporter);
	CHECK_STR(m->supervisor, n->supervisor);
	CHECK(m->alert_for == n->alert_for);
	CHECK(m->error_rate_for == n->error_rate_for);
	CHECK(m->cert_warning == n->cert_warning);
}

/* conf_print into a malloc'd string (the caller frees). */
static char *print_to_string(const struct conf *s)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	if (f == NULL)
		return NULL;
	conf_print(s, f);
	fclose(f);
	return text;
}

/* Load text, print it, load the print, and compare; printing the reloaded
 * stack gives the same text again. */
static void check_round_trip(const struct conf *s)
{
	char *printed = print_to_string(s);
	CHECK(printed != NULL);
	if (printed == NULL)
		return;
	struct conf again;
	char err[512];
	int r = conf_load_string(&again, s->path, printed, err, sizeof(err));
	t_check(r == 0, __FILE__, __LINE__, "printed config loads: %s", err);
	if (r == 0) {
		check_same_stack(s, &again);
		char *printed2 = print_to_string(&again);
		CHECK_STR(printed2, printed);
		free(printed2);
		conf_free(&again);
	}
	free(printed);
}

TEST(stack_print_round_trip_foobar_conf)
{
	struct conf s;
	char err[512];
	int r = conf_load(&s, "conf/foobar.conf", err, sizeof(err));
	t_check(r == 0, __FILE__, __LINE__, "conf/foobar.conf loads (run from the checkout): %s",
	        err);
	if (r < 0)
		return;
	/* What the file says. */
	CHECK_EQ(s.nhosts, 3);
	CHECK_STR(s.site.www, "lb-01");
	CHECK_EQ(s.lb.nservers, 2);
	CHECK_STR(s.lb.servers[1].name, "web-02");
	CHECK_EQ(s.web.nproxy, 4);
	CHECK_STR(s.web.proxy[0], "=/");
	CHECK_STR(s.web.proxy[2], "/api/");
	CHECK_STR(s.dns.listen, ":5353");
	check_round_trip(&s);
	conf_free(&s);
}

TEST(stack_print_round_trip_every_key)
{
	/* Every key set, none to its default, and values that print with
	 * each unit. */
	static const char text[] =
	    "[site]\ndomain = example.org\nwww = web-02\nstate = /var/lib/ts\n"
	    "[host lb-01]\naddress = 10.0.0.1\nroles = dns, lb\n"
	    "[host web-01]\naddress = fd00::2\nroles = web, app, db-primary\n"
	    "[host web-02]\naddress = 10.0.0.3\nroles = web, db-replica, app\n"
	    "[host spare]\naddress = 10.0.0.4\nroles =\n"
	    "[lb]\nlisten = 10.0.0.1:80\nadmin =\nthreads = 4\nmaxconn = 100\n"
	    "bufsize = 4096\nmax_header_size = 1536\nmax_body_size = 1g\n"
	    "timeout_client = 1500ms\ntimeout_http_request = 1d\n"
	    "timeout_http_keep_alive = 90s\naccess_log = /tmp/a.log\n"
	    "error_log = /tmp/e.log\nlog_level = debug\nbalance = first\n"
	    "server = web-01:80 weight=3 maxconn=10\nserver = web-02:80 weight=0 backup\n"
	    "server = 10.0.0.9:8080\ntimeout_connect = 61m\ntimeout_server = 25h\n"
	    "timeout_server_keep_alive = 1001ms\nretries = 100\nretry_on = conn-failure 404\n"
	    "[web]\nlisten = *:8081\nroot = /srv/www\nproxy = /api/\nproxy = /b\n"
	    "upstream = unix:/tmp/app.sock\ntimeout_connect = 7s\nlog_level = error\n"
	    "max_body_size = 12345\n"
	    "[app]\nlisten = :9001\nthreads = auto\nlog_level = warn\nmax_body_size = 0\n"
	    "[dns]\nlisten = 10.0.0.1:53\nttl = 2h\nlog_level = debug\n";
	struct conf s;
	char err[512];
	int r = load(&s, text, err, sizeof(err));
	t_check(r == 0, __FILE__, __LINE__, "loads: %s", err);
	if (r < 0)
		return;
	CHECK_EQ(s.hosts[0].roles, ROLE_LB | ROLE_DNS);
	CHECK_EQ(s.hosts[3].roles, 0);
	CHECK_EQ(s.lb.http.timeout_client, 1500);
	CHECK_EQ(s.lb.timeout_connect, 61 * 60000);
	CHECK_EQ(s.lb.http.max_header_size, 1536);
	CHECK_STR(s.lb.http.admin, "");
	check_round_trip(&s);

	/* The printed text has the units back. */
	char *printed = print_to_string(&s);
	CHECK(printed && strstr(printed, "timeout_client = 1500ms\n"));
	CHECK(printed && strstr(printed, "timeout_http_request = 1d\n"));
	CHECK(printed && strstr(printed, "timeout_connect = 61m\n"));
	CHECK(printed && strstr(printed, "timeout_server = 25h\n"));
	CHECK(printed && strstr(printed, "max_body_size = 1g\n"));
	CHECK(printed && strstr(printed, "max_header_size = 1536\n"));
	CHECK(printed && strstr(printed, "server = web-02:80 weight=0 backup\n"));
	CHECK(printed && strstr(printed, "server = web-01:80 weight=3 maxconn=10\n"));
	CHECK(printed && strstr(printed, "threads = auto\n"));
	CHECK(printed && strstr(printed, "roles = lb, dns\n"));
	free(printed);
	conf_free(&s);
}

TEST(stack_print_round_trip_defaults)
{
	struct conf s;
	char err[256];
	CHECK_EQ(load(&s, "", err, sizeof(err)), 0);
	check_round_trip(&s);
	conf_free(&s);
}

/* ---- conf_load: files ---- */

/* Write len bytes to a new temporary file; its path into path. */
static int write_temp(char *path, size_t pathlen, const void *data, size_t len)
{
	snprintf(path, pathlen, "/tmp/ts-stack-XXXXXX");
	int fd = mkstemp(path);
	if (fd < 0)
		return -1;
	const char *p = data;
	while (len > 0) {
		ssize_t w = write(fd, p, len);
		if (w <= 0) {
			close(fd);
			unlink(path);
			return -1;
		}
		p += w;
		len -= (size_t)w;
	}
	close(fd);
	return 0;
}

TEST(stack_load_files)
{
	struct conf s;
	char err[512], path[64], want[128];

	t_case("conf_load a missing file");
	CHECK_EQ(conf_load(&s, "/nonexistent/ts.conf", err, sizeof(err)), -1);
	CHECK(strncmp(err, "/nonexistent/ts.conf: cannot open", 33) == 0);

	t_case("conf_load a good file");
	static const char good[] = "[lb]\nbalance = leastconn\n";
	CHECK_EQ(write_temp(path, sizeof(path), good, sizeof(good) - 1), 0);
	CHECK_EQ(conf_load(&s, path, err, sizeof(err)), 0);
	CHECK_STR(s.path, path);
	CHECK_EQ(s.lb.balance, LB_LEASTCONN);
	conf_free(&s);
	unlink(path);

	t_case("conf_load errors name the file");
	static const char bad[] = "[lb]\n\nbalance = sideways\n";
	CHECK_EQ(write_temp(path, sizeof(path), bad, sizeof(bad) - 1), 0);
	CHECK_EQ(conf_load(&s, path, err, sizeof(err)), -1);
	snprintf(want, sizeof(want), "%s:3: bad value 'sideways' for 'balance' in [lb]", path);
	CHECK_STR(err, want);
	CHECK(stack_is_zero(&s));
	unlink(path);

	t_case("conf_load a NUL byte");
	static const char nul[] = "[lb]\nbalance = first\nretries = 1\0\n";
	CHECK_EQ(write_temp(path, sizeof(path), nul, sizeof(nul) - 1), 0);
	CHECK_EQ(conf_load(&s, path, err, sizeof(err)), -1);
	snprintf(want, sizeof(want), "%s:3: NUL byte in the file", path);
	CHECK_STR(err, want);
	unlink(path);

	t_case("conf_load a file over 1 MiB");
	size_t big = (1u << 20) + 10;
	char *text = malloc(big);
	memset(text, '\n', big);
	CHECK_EQ(write_temp(path, sizeof(path), text, big), 0);
	free(text);
	CHECK_EQ(conf_load(&s, path, err, sizeof(err)), -1);
	snprintf(want, sizeof(want), "%s: file too large (over 1 MiB)", path);
	CHECK_STR(err, want);
	unlink(path);

	t_case("conf_load a file of 1 MiB less a byte");
	big = (1u << 20) - 1;
	text = malloc(big);
	memset(text, '\n', big);
	memcpy(text, "[lb]\nretries = 7\n", 17);
	CHECK_EQ(write_temp(path, sizeof(path), text, big), 0);
	free(text);
	CHECK_EQ(conf_load(&s, path, err, sizeof(err)), 0);
	CHECK_EQ(s.lb.retries, 7);
	conf_free(&s);
	unlink(path);
}

TEST(stack_retry_on)
{
	unsigned f;
	char bad[64];
	CHECK_EQ(lb_retry_on_parse("conn-failure empty-response 502 503 504", &f, bad, sizeof(bad)),
	         0);
	CHECK(f & PROXY_RETRY_CONN_FAILURE);
	CHECK(f & PROXY_RETRY_EMPTY_RESPONSE);
	CHECK(f & proxy_retry_bit(502));
	CHECK(f & proxy_retry_bit(504));
	CHECK(!(f & proxy_retry_bit(500)));
	CHECK_EQ(proxy_retry_bit(200), 0u);
	CHECK_EQ(proxy_retry_bit(505), 0u);
	CHECK_EQ(lb_retry_on_parse("502,404", &f, bad, sizeof(bad)), 0);
	CHECK_EQ(f, proxy_retry_bit(502) | proxy_retry_bit(404));
	CHECK_EQ(lb_retry_on_parse("none", &f, bad, sizeof(bad)), 0);
	CHECK_EQ(f, 0u);
	CHECK_EQ(lb_retry_on_parse("", &f, bad, sizeof(bad)), 0);
	CHECK_EQ(f, 0u);
	CHECK_EQ(lb_retry_on_parse("502 505", &f, bad, sizeof(bad)), -1);
	CHECK_STR(bad, "505");
	CHECK_EQ(lb_retry_on_parse("none 502", &f, bad, sizeof(bad)), -1);
	CHECK_EQ(lb_retry_on_parse("502 none", &f, bad, sizeof(bad)), -1);
	CHECK_EQ(lb_retry_on_parse("all-retryable-errors", &f, bad, sizeof(bad)), -1);
	CHECK_EQ(lb_retry_on_parse("502x", &f, bad, sizeof(bad)), -1);
	/* in a file: the error names file:line */
	struct conf s;
	char err[256];
	CHECK_EQ(conf_load_string(&s, "t.conf", "[lb]\nretry_on = 502 junk\n", err, sizeof(err)),
	         -1);
	CHECK(strstr(err, "t.conf:2: ") == err);
	CHECK(strstr(err, "'junk'") != NULL);
	/* stored as flags, parsed once; -t prints them back */
	CHECK_EQ(conf_load_string(&s, "t.conf", "[lb]\nretry_on = 404, 502\n", err, sizeof(err)),
	         0);
	CHECK_EQ(s.lb.retry_on, proxy_retry_bit(502) | proxy_retry_bit(404));
	char *text = NULL;
	size_t len = 0;
	FILE *f_out = open_memstream(&text, &len);
	conf_print(&s, f_out);
	fclose(f_out);
	CHECK(strstr(text, "\nretry_on = 404 502\n") != NULL);
	free(text);
	conf_free(&s);
	CHECK_EQ(conf_load_string(&s, "t.conf", "[lb]\nretry_on = none\n", err, sizeof(err)), 0);
	CHECK_EQ(s.lb.retry_on, 0u);
	conf_free(&s);
}

TEST(stack_monitoring_section)
{
	struct conf s;
	char err[256];
	t_case("the monitoring host defaults to the www host");
	CHECK_EQ(load(&s, HOSTS, err, sizeof(err)), 0);
	CHECK(mon_conf_host(&s) == &s.hosts[0]);
	conf_free(&s);

	t_case("a host with the mon role takes it");
	CHECK_EQ(load(&s,
	              HOSTS "[host mon-01]\naddress = 10.0.0.4\nroles = mon\n"
	                    "[host mon-02]\naddress = 10.0.0.5\nroles = mon, dns\n",
	              err, sizeof(err)),
	         0);
	CHECK_STR(err, "");
	CHECK_EQ(s.hosts[3].roles, ROLE_MON);
	CHECK_EQ(s.hosts[4].roles, ROLE_MON | ROLE_DNS);
	CHECK(mon_conf_host(&s) == &s.hosts[3]);
	conf_free(&s);

	t_case("[monitoring] keys set");
	CHECK_EQ(load(&s,
	              HOSTS "[host mon-01]\naddress = 10.0.0.4\nroles = mon\n"
	                    "[monitoring]\nenabled = on\nhost = web-02\nlisten = :19090\n"
	                    "scrape_interval = 1s\nevaluation_interval = 2s\nretention = 1d\n"
	                    "mysqld_exporter =\nsupervisor = 10.0.0.1:9999\nalert_for = 0\n"
	                    "error_rate_for = 2m\ncert_warning = 30d\n",
	              err, sizeof(err)),
	         0);
	CHECK_STR(err, "");
	CHECK_EQ(s.monitoring.enabled, MON_ON);
	CHECK(mon_conf_host(&s) == &s.hosts[2]); /* host wins over the role */
	CHECK_STR(s.monitoring.listen, ":19090");
	CHECK_EQ(s.monitoring.scrape_interval, 1000);
	CHECK_EQ(s.monitoring.evaluation_interval, 2000);
	CHECK_EQ(s.monitoring.retention, 86400000);
	CHECK_STR(s.monitoring.mysqld_exporter, "");
	CHECK_STR(s.monitoring.supervisor, "10.0.0.1:9999");
	CHECK_EQ(s.monitoring.alert_for, 0);
	CHECK_EQ(s.monitoring.error_rate_for, 120000);
	CHECK_EQ(s.monitoring.cert_warning, 30 * 86400000ULL);
	check_round_trip(&s);
	conf_free(&s);

	CHECK_EQ(load(&s, "[monitoring]\nenabled = off\n", err, sizeof(err)), 0);
	CHECK_EQ(s.monitoring.enabled, MON_OFF);
	CHECK(mon_conf_host(&s) == NULL); /* no hosts at all */
	conf_free(&s);

	static const struct err_row rows[] = {
		{ "monitoring enabled", "[monitoring]\nenabled = yes\n", 2,
		  "bad value 'yes' for 'enabled' in [monitoring]", NULL, NULL },
		{ "monitoring host unknown", HOSTS "[monitoring]\nlisten = :9090\nhost = mon-01\n",
		  HOSTS_LINES + 3,
		  "'host' in [monitoring] names host 'mon-01', which has no [host]", NULL, NULL },
		{ "monitoring address of an unknown host",
		  HOSTS "[monitoring]\nmysqld_exporter = db-09:9104\n", HOSTS_LINES + 2,
		  "'mysqld_exporter' in [monitoring]: unknown host 'db-09'", NULL, NULL },
		{ "scrape interval under a second", "[monitoring]\nscrape_interval = 500ms\n", 2,
		  "scrape_interval", NULL, NULL },
		{ "scrape interval without a unit", "[monitoring]\nscrape_interval = 5\n", 2,
		  "scrape_interval", NULL, NULL },
		{ "cert warning under a day", "[monitoring]\ncert_warning = 1h\n", 2,
		  "cert_warning", NULL, NULL },
		{ "typo in [monitoring]", "[monitoring]\nscrape_intreval = 5s\n", 2,
		  "unknown key 'scrape_intreval' in [monitoring]",
		  "did you mean 'scrape_interval'?", NULL },
		{ "unknown role lists mon", "[host a]\naddress = 10.0.0.1\nroles = monitor\n", 3,
		  "unknown role 'monitor'", "mon)", NULL },
	};
	for (size_t i = 0; i < ARRAY_SIZE(rows); i++)
		check_error(&rows[i]);
}

/* ---- the LB's limits per client address ---- */

TEST(stack_rate_limits)
{
	struct conf s;
	char err[512];
	CHECK_EQ(load(&s, "", err, sizeof(err)), 0);
	CHECK_EQ(s.lb.rate_limit.count, 500);
	CHECK_EQ(s.lb.rate_limit.period_ms, 1000);
	CHECK_EQ(s.lb.rate_limit.burst, 1000);
	CHECK_EQ(s.lb.rate_limit_write.count, 100);
	CHECK_EQ(s.lb.rate_limit_write.burst, 200);
	CHECK_EQ(s.lb.conn_limit, 1000);
	CHECK_EQ(s.lb.rate_limit_table, 65536);
	conf_free(&s);

	static const char text[] = "[lb]\nrate_limit = 30/m\nrate_limit_write = off\n"
	                           "conn_limit = off\nrate_limit_table = 2048\n";
	CHECK_EQ(load(&s, text, err, sizeof(err)), 0);
	CHECK_EQ(s.lb.rate_limit.count, 30);
	CHECK_EQ(s.lb.rate_limit.period_ms, 60000);
	CHECK_EQ(s.lb.rate_limit.burst, 30); /* one period's worth */
	CHECK_EQ(s.lb.rate_limit_write.count, 0);
	CHECK_EQ(s.lb.conn_limit, 0);
	check_round_trip(&s);
	char *printed = print_to_string(&s);
	CHECK(printed && strstr(printed, "rate_limit = 30/m burst 30\n"));
	CHECK(printed && strstr(printed, "rate_limit_write = off\n"));
	CHECK(printed && strstr(printed, "conn_limit = off\n"));
	free(printed);
	conf_free(&s);

	static const struct err_row rows[] = {
		{ "rate without unit", "[lb]\nrate_limit = 100\n", 2, "bad rate '100'", NULL,
		  NULL },
		{ "rate bad unit", "[lb]\nrate_limit = 100/h\n", 2, "'rate_limit' in [lb]", NULL,
		  NULL },
		{ "rate zero", "[lb]\nrate_limit = 0/s\n", 2, "bad rate", NULL, NULL },
		{ "burst zero", "[lb]\nrate_limit_write = 5/s burst 0\n", 2, "bad rate", NULL,
		  NULL },
		{ "burst word", "[lb]\nrate_limit = 5/s bursts 9\n", 2, "bad rate", NULL, NULL },
		{ "rate trailing", "[lb]\nrate_limit = 5/s x\n", 2, "bad rate", NULL, NULL },
		{ "rate huge", "[lb]\nrate_limit = 100000001/s\n", 2, "bad rate", NULL, NULL },
		{ "conn_limit word", "[lb]\nconn_limit = none\n", 2, "off, or a whole number", NULL,
		  NULL },
		{ "conn_limit zero", "[lb]\nconn_limit = 0\n", 2, "'conn_limit' in [lb]", NULL,
		  NULL },
		{ "table small", "[lb]\nrate_limit_table = 10\n", 2, "'rate_limit_table'", NULL,
		  NULL },
	};
	for (size_t i = 0; i < ARRAY_SIZE(rows); i++)
		check_error(&rows[i]);
}

static bool trusts(const struct conf *s, const char *ip)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	inet_pton(AF_INET, ip, &a.sin_addr);
	return net_ipset_has(&s->web.trusted, (const struct sockaddr *)&a);
}

/* [web] trusted_proxies: by default the lb hosts; else the hosts and
 * addresses it names; anything else is an error at its line. */
TEST(stack_trusted_proxies)
{
	static const char hosts[] = "[site]\nwww = lb\n[host lb]\naddress = 10.0.0.1\nroles = lb\n"
	                            "[host w]\naddress = 10.0.0.2\nroles = web\n";
	struct conf s;
	char err[256], text[512];
	CHECK_EQ(load(&s, hosts, err, sizeof(err)), 0);
	CHECK(trusts(&s, "10.0.0.1"));
	CHECK(!trusts(&s, "10.0.0.2"));
	CHECK(!trusts(&s, "127.0.0.1"));
	conf_free(&s);

	snprintf(text, sizeof(text), "%s[web]\ntrusted_proxies = w 192.0.2.7, ::1\n", hosts);
	CHECK_EQ(load(&s, text, err, sizeof(err)), 0);
	CHECK_STR(err, "");
	CHECK(trusts(&s, "10.0.0.2"));
	CHECK(trusts(&s, "192.0.2.7"));
	CHECK(!trusts(&s, "10.0.0.1")); /* named ones replace the default */
	CHECK_EQ(s.web.trusted.n, 3);
	conf_free(&s);

	snprintf(text, sizeof(text), "%s[web]\nroot = /srv\ntrusted_proxies = w nowhere\n", hosts);
	CHECK_EQ(load(&s, text, err, sizeof(err)), -1);
	CHECK(strstr(err, NAME ":11: 'trusted_proxies' in [web]: 'nowhere'") != NULL);
}

/* ---- [lb] redirect_ports ---- */

TEST(stack_redirect_ports)
{
	struct conf s;
	char err[512];
	CHECK_EQ(load(&s, "", err, sizeof(err)), 0);
	CHECK_EQ(s.lb.redirect_ports.n, 0u);
	conf_free(&s);

	CHECK_EQ(load(&s, "[lb]\nredirect_ports = 8080:8443  81:444\n", err, sizeof(err)), 0);
	CHECK_EQ(s.lb.redirect_ports.n, 2u);
	CHECK_EQ(s.lb.redirect_ports.from[0], 8080);
	CHECK_EQ(s.lb.redirect_ports.to[0], 8443);
	CHECK_EQ(s.lb.redirect_ports.from[1], 81);
	CHECK_EQ(s.lb.redirect_ports.to[1], 444);
	check_round_trip(&s);
	char *printed = print_to_string(&s);
	CHECK(printed && strstr(printed, "redirect_ports = 8080:8443 81:444\n"));
	free(printed);
	conf_free(&s);

	static const struct err_row rows[] = {
		{ "no colon", "[lb]\nredirect_ports = 8080\n", 2, "bad port map '8080'", NULL,
		  NULL },
		{ "zero", "[lb]\nredirect_ports = 0:443\n", 2, "bad port map", NULL, NULL },
		{ "too big", "[lb]\nredirect_ports = 8080:65536\n", 2, "bad port map", NULL, NULL },
		{ "junk", "[lb]\nredirect_ports = 8080:8443x\n", 2, "bad port map", NULL, NULL },
		{ "empty to", "[lb]\nredirect_ports = 8080:\n", 2, "bad port map", NULL, NULL },
		{ "five", "[lb]\nredirect_ports = 1:2 3:4 5:6 7:8 9:10\n", 2, "up to 4 pairs", NULL,
		  NULL },
	};
	for (size_t i = 0; i < ARRAY_SIZE(rows); i++)
		check_error(&rows[i]);
}
