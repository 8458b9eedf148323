/* The stack file: defaults from the key tables, units, every error naming
 * file:line and the key or section, server and proxy lines, host addresses,
 * conf_resolve_addr, and conf_print's output loading back to the same
 * configuration. A failed load frees everything (the ASan build checks). */
#include "conf/conf.h"
#include "conf_t.h"
#include "core/proxy.h"
#include "t.h"
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* Two strings equal, or both NULL. */
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
	CHECK_STR(s->monitoring.alertmanager, ":9093");
	CHECK_STR(s->monitoring.alert_webhook, "");
	CHECK_STR(s->monitoring.alert_email, "");
	CHECK_STR(s->monitoring.alert_smarthost, "");
	CHECK_STR(s->monitoring.alert_from, "");
	CHECK_STR(s->monitoring.alert_smtp_user, "");
	CHECK_EQ(s->monitoring.alert_group_wait, 30000); /* Alertmanager's own defaults */
	CHECK_EQ(s->monitoring.alert_group_interval, 300000);
	CHECK_EQ(s->monitoring.alert_repeat, 4 * 3600000ULL);
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
		CHECK(conf_is_zero(&s));
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

void check_error(const struct err_row *r)
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
	CHECK(conf_is_zero(&s));
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
	CHECK(conf_is_zero(&s));

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
	CHECK(conf_is_zero(&s));

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
	CHECK(conf_is_zero(&s));

	t_case("stack too many proxies");
	n = snprintf(text, cap, "[web]\n");
	for (int i = 0; i <= WEB_MAX_PROXY; i++)
		n += snprintf(text + n, cap - (size_t)n, "proxy = /p%d/\n", i);
	CHECK_EQ(load(&s, text, err, sizeof(err)), -1);
	snprintf(want, sizeof(want), NAME ":%d: too many 'proxy' prefixes (at most %d)",
	         2 + WEB_MAX_PROXY, WEB_MAX_PROXY);
	CHECK_STR(err, want);
	CHECK(conf_is_zero(&s));
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
	CHECK(conf_is_zero(&s));
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
