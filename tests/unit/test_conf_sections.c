/* The sections' own keys: [lb] retry_on (stored as flags), rate limits and
 * redirect ports, [monitoring], [web] trusted_proxies. */
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

/* [monitoring]'s alert_* keys: where Alertmanager sends, checked at the
 * line that says it (each value goes into alertmanager.yml as it is). */
TEST(stack_monitoring_alerts)
{
	struct conf s;
	char err[256];
	t_case("alert keys set");
	CHECK_EQ(load(&s,
	              HOSTS "[monitoring]\nalertmanager = :19093\n"
	                    "alert_webhook = https://hooks.example.com:8443/a/b?x=1\n"
	                    "alert_email = ops@foobar.com, oncall@foobar.com\n"
	                    "alert_smarthost = [2001:db8::1]:587\nalert_from = am@foobar.com\n"
	                    "alert_smtp_user = alerts\nalert_group_wait = 0\n"
	                    "alert_group_interval = 2s\nalert_repeat = 2s\n",
	              err, sizeof(err)),
	         0);
	CHECK_STR(err, "");
	CHECK_STR(s.monitoring.alertmanager, ":19093");
	CHECK_STR(s.monitoring.alert_webhook, "https://hooks.example.com:8443/a/b?x=1");
	CHECK_STR(s.monitoring.alert_email, "ops@foobar.com, oncall@foobar.com");
	CHECK_STR(s.monitoring.alert_smarthost, "[2001:db8::1]:587");
	CHECK_STR(s.monitoring.alert_from, "am@foobar.com");
	CHECK_STR(s.monitoring.alert_smtp_user, "alerts");
	CHECK_EQ(s.monitoring.alert_group_wait, 0);
	CHECK_EQ(s.monitoring.alert_group_interval, 2000);
	CHECK_EQ(s.monitoring.alert_repeat, 2000);
	check_round_trip(&s);
	conf_free(&s);

	t_case("no Alertmanager, no receiver: fine");
	CHECK_EQ(load(&s, HOSTS "[monitoring]\nalertmanager =\n", err, sizeof(err)), 0);
	CHECK_STR(s.monitoring.alertmanager, "");
	conf_free(&s);

	t_case("the checks on their own");
	CHECK(mon_conf_check_url("http://127.0.0.1:9/") == NULL);
	CHECK(mon_conf_check_url("http://h") == NULL);
	CHECK(mon_conf_check_url("ftp://h/") != NULL);
	CHECK(mon_conf_check_url("http://") != NULL);
	CHECK(mon_conf_check_url("http:///x") != NULL);
	CHECK(mon_conf_check_url("http://:80/") != NULL);
	CHECK(mon_conf_check_url("http://h/a b") != NULL);
	CHECK(mon_conf_check_url("http://h/'") != NULL);
	CHECK(mon_conf_check_email("a@b.c", false) == NULL);
	CHECK(mon_conf_check_email("a@b.c,d@e.f", true) == NULL);
	CHECK(mon_conf_check_email("a@b.c,d@e.f", false) != NULL);
	CHECK(mon_conf_check_email("a@b.c", true) == NULL);
	CHECK(mon_conf_check_email(" , ", true) != NULL);
	CHECK(mon_conf_check_email("@b.c", true) != NULL);
	CHECK(mon_conf_check_email("a@", true) != NULL);
	CHECK(mon_conf_check_email("a@@b", true) != NULL);
	CHECK(mon_conf_check_email("a@b@c", true) != NULL);
	CHECK(mon_conf_check_email("Ops <a@b.c>", true) != NULL);
	CHECK(mon_conf_check_email("a\"@b.c", true) != NULL);
	CHECK(mon_conf_check_hostport("mail.example.com:25") == NULL);
	CHECK(mon_conf_check_hostport("[::1]:465") == NULL);
	CHECK(mon_conf_check_hostport("mail.example.com") != NULL);
	CHECK(mon_conf_check_hostport(":25") != NULL);
	CHECK(mon_conf_check_hostport("h:0") != NULL);
	CHECK(mon_conf_check_hostport("h:65536") != NULL);
	CHECK(mon_conf_check_hostport("h:25x") != NULL);
	CHECK(mon_conf_check_hostport("h:") != NULL);
	CHECK(mon_conf_check_hostport("::1:25") != NULL);

	static const struct err_row rows[] = {
		{ "webhook not http", "[monitoring]\nalert_webhook = ftp://x/\n", 2,
		  "'alert_webhook' in [monitoring]: 'ftp://x/': not an http:// or https:// URL",
		  NULL, NULL },
		{ "webhook without a host",
		  "[monitoring]\nenabled = on\nalert_webhook = http:///\n", 3, "no host in the URL",
		  NULL, NULL },
		{ "webhook with a quote", "[monitoring]\nalert_webhook = http://h/'x\n", 2,
		  "quotes", NULL, NULL },
		{ "email not an address",
		  "[monitoring]\nalert_smarthost = m:25\nalert_email = ops\n", 3,
		  "'alert_email' in [monitoring]: 'ops': not an e-mail address", NULL, NULL },
		{ "email without a smarthost", "[monitoring]\nalert_email = ops@foobar.com\n", 2,
		  "'alert_email' in [monitoring] needs 'alert_smarthost'", NULL, NULL },
		{ "smarthost without a port",
		  "[monitoring]\nalert_email = a@b.c\nalert_smarthost = mail\n", 3,
		  "'alert_smarthost' in [monitoring]: 'mail': not host:port", NULL, NULL },
		{ "smarthost port too big",
		  "[monitoring]\nalert_email = a@b.c\nalert_smarthost = mail:99999\n", 3,
		  "the port is not 1 to 65535", NULL, NULL },
		{ "from, two addresses",
		  "[monitoring]\nalert_from = a@b.c, d@e.f\nalert_email = a@b.c\n"
		  "alert_smarthost = m:25\n",
		  2, "'alert_from' in [monitoring]", "one address only", NULL },
		{ "smtp user with a space", "[monitoring]\nalert_smtp_user = a b\n", 2,
		  "'alert_smtp_user' in [monitoring]", NULL, NULL },
		{ "a receiver but no alertmanager",
		  "[monitoring]\nalert_webhook = http://h/\nalertmanager =\n", 2,
		  "'alert_webhook' in [monitoring] needs Alertmanager", NULL, NULL },
		{ "repeat shorter than group interval",
		  "[monitoring]\nalert_group_interval = 10m\nalert_repeat = 5m\n", 3,
		  "'alert_repeat' in [monitoring] is shorter than 'alert_group_interval'", NULL,
		  NULL },
		{ "group interval zero", "[monitoring]\nalert_group_interval = 0\n", 2,
		  "alert_group_interval", NULL, NULL },
		{ "alertmanager of an unknown host",
		  HOSTS "[monitoring]\nalertmanager = mon-09:9093\n", HOSTS_LINES + 2,
		  "'alertmanager' in [monitoring]: unknown host 'mon-09'", NULL, NULL },
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

TEST(stack_db_semi_sync_and_replicas)
{
	struct conf s;
	char err[512];
	CHECK_EQ(load(&s, "", err, sizeof(err)), 0);
	CHECK(s.db.semi_sync);
	CHECK_EQ(s.db.semi_sync_timeout, 1000u);
	conf_free(&s);

	/* with automatic failover, the wait outlasts the failover's detection
	 * and fence by default; a wait set by hand is kept; a short one is
	 * fine while semi-sync is off; a wait under the apps' timeout is no
	 * longer required (a write that waits past it is a 504) */
	CHECK_EQ(load(&s, "[db]\nauto_failover = on\n", err, sizeof(err)), 0);
	CHECK_EQ(s.db.semi_sync_timeout, 13000u);
	check_round_trip(&s);
	conf_free(&s);
	CHECK_EQ(load(&s, "[db]\nauto_failover = on\nfailover_after = 5s\n", err, sizeof(err)), 0);
	CHECK_EQ(s.db.semi_sync_timeout, 15000u);
	conf_free(&s);
	CHECK_EQ(load(&s, "[db]\nauto_failover = on\nsemi_sync_timeout = 8s\n", err, sizeof(err)),
	         0);
	CHECK_EQ(s.db.semi_sync_timeout, 8000u);
	conf_free(&s);
	CHECK_EQ(load(&s, "[db]\nauto_failover = on\nsemi_sync = off\nsemi_sync_timeout = 1s\n",
	              err, sizeof(err)),
	         0);
	conf_free(&s);
	CHECK_EQ(load(&s, "[db]\nsemi_sync_timeout = 5s\ntimeout = 2s\n", err, sizeof(err)), 0);
	CHECK_EQ(s.db.semi_sync_timeout, 5000u);
	conf_free(&s);

	/* several replicas, semi-sync off, a timeout under the apps' */
	CHECK_EQ(load(&s,
	              "[site]\nwww = a\n"
	              "[host a]\naddress = 10.0.0.1\nroles = db-primary\n"
	              "[host b]\naddress = 10.0.0.2\nroles = db-replica\n"
	              "[host c]\naddress = 10.0.0.3\nroles = web, app, db-replica\n"
	              "[db]\nsemi_sync = off\nsemi_sync_timeout = 250ms\ntimeout = 3s\n",
	              err, sizeof(err)),
	         0);
	CHECK_STR(err, "");
	CHECK(!s.db.semi_sync);
	CHECK_EQ(s.db.semi_sync_timeout, 250u);
	CHECK_EQ(s.hosts[2].roles, ROLE_WEB | ROLE_APP | ROLE_DB_REPLICA);
	check_round_trip(&s);
	char *printed = print_to_string(&s);
	CHECK(printed && strstr(printed, "semi_sync = no\n"));
	CHECK(printed && strstr(printed, "semi_sync_timeout = 250ms\n"));
	free(printed);
	conf_free(&s);

	static const struct err_row rows[] = {
		{ "failover with a short semi-sync wait",
		  "[db]\nauto_failover = on\nsemi_sync_timeout = 1s\n", 3,
		  "'semi_sync_timeout' in [db] (1000ms) must be at least 'failover_after' + 5s "
		  "(8000ms) with auto_failover on",
		  NULL, NULL },
		{ "failover after longer than the wait",
		  "[db]\nsemi_sync_timeout = 9s\nauto_failover = on\nfailover_after = 5s\n", 2,
		  "must be at least 'failover_after' + 5s (10000ms)", NULL, NULL },
		{ "semi-sync timeout not a duration", "[db]\nsemi_sync_timeout = soon\n", 2,
		  "semi_sync_timeout", NULL, NULL },
		{ "two primaries",
		  "[site]\nwww = a\n[host a]\naddress = 10.0.0.1\nroles = db-primary\n"
		  "[host b]\naddress = 10.0.0.2\nroles = db-primary\n",
		  6, "[host b]: a second db-primary", NULL, NULL },
		{ "nine database hosts",
		  "[site]\nwww = a\n[host a]\naddress = 10.0.0.1\nroles = db-primary\n"
		  "[host b]\naddress = 10.0.0.2\nroles = db-replica\n"
		  "[host c]\naddress = 10.0.0.3\nroles = db-replica\n"
		  "[host d]\naddress = 10.0.0.4\nroles = db-replica\n"
		  "[host e]\naddress = 10.0.0.5\nroles = db-replica\n"
		  "[host f]\naddress = 10.0.0.6\nroles = db-replica\n"
		  "[host g]\naddress = 10.0.0.7\nroles = db-replica\n"
		  "[host h]\naddress = 10.0.0.8\nroles = db-replica\n"
		  "[host i]\naddress = 10.0.0.9\nroles = db-replica\n",
		  27, "[host i]: more than 8 database hosts", NULL, NULL },
	};
	for (size_t i = 0; i < ARRAY_SIZE(rows); i++)
		check_error(&rows[i]);
}
