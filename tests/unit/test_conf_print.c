/* conf_print's output loads back to the same configuration (the foobar
 * stack, every key set, the defaults), and files load from disk. */
#include "t.h"
#include "conf/conf.h"
#include "conf_t.h"
#include "core/proxy.h"
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

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
	CHECK_STR(m->alertmanager, n->alertmanager);
	CHECK_STR(m->alert_webhook, n->alert_webhook);
	CHECK_STR(m->alert_email, n->alert_email);
	CHECK_STR(m->alert_smarthost, n->alert_smarthost);
	CHECK_STR(m->alert_from, n->alert_from);
	CHECK_STR(m->alert_smtp_user, n->alert_smtp_user);
	CHECK(m->alert_group_wait == n->alert_group_wait);
	CHECK(m->alert_group_interval == n->alert_group_interval);
	CHECK(m->alert_repeat == n->alert_repeat);
}

/* conf_print into a malloc'd string (the caller frees). */
char *print_to_string(const struct conf *s)
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
void check_round_trip(const struct conf *s)
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
	CHECK(conf_is_zero(&s));
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
