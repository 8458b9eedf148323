/* lb_monitor_read: what the LB takes from another daemon's /metrics - its
 * request counter (every status class summed), and from an app how it sees
 * each database (up, replica lag). */
#include <stdio.h>
#include <string.h>

#include "lb/lb.h"
#include "t.h"

static const char app_metrics[] =
    "# HELP tristack_app_http_requests_total HTTP requests answered, by status class\n"
    "# TYPE tristack_app_http_requests_total counter\n"
    "tristack_app_http_requests_total{code=\"other\"} 0\n"
    "tristack_app_http_requests_total{code=\"2xx\"} 120\n"
    "tristack_app_http_requests_total{code=\"5xx\"} 3\n"
    "tristack_app_http_request_duration_seconds_count 123\n"
    "tristack_web_http_requests_total{code=\"2xx\"} 999\n"
    "tristack_app_db_queries_total{target=\"primary\"} 50\n"
    "tristack_app_db_replica_lag_seconds{server=\"web-01\"} 0.001\n"
    "tristack_app_db_up{server=\"web-01\"} 1\n"
    "tristack_app_db_replica_lag_seconds{server=\"web-02\"} 1.5\n"
    "tristack_app_db_up{server=\"web-02\"} 1\n"
    "tristack_app_db_replica_lag_seconds{server=\"web-03\"} -1\n"
    "tristack_app_db_up{server=\"web-03\"} 0\n"
    "tristack_app_db_up{nolabel=\"x\"} 1\n";

TEST(monitor_reads_an_apps_requests_and_databases)
{
	struct lb_target t = { .prefix = "tristack_app" };
	struct lb_target_state st;
	memset(&st, 0, sizeof(st));
	lb_monitor_read(&t, app_metrics, strlen(app_metrics), &st);
	t_case("requests: its own counter, every class");
	CHECK(st.requests == 123);
	t_case("databases");
	CHECK_EQ(st.ndb, 3);
	CHECK_STR(st.db[0].server, "web-01");
	CHECK(st.db[0].up && st.db[0].lag == 0.001);
	CHECK_STR(st.db[1].server, "web-02");
	CHECK(st.db[1].up && st.db[1].lag == 1.5);
	CHECK_STR(st.db[2].server, "web-03");
	CHECK(!st.db[2].up && st.db[2].lag == -1);
}

TEST(monitor_reads_no_counter_as_none)
{
	struct lb_target t = { .prefix = "tristack_dns" };
	struct lb_target_state st;
	memset(&st, 0, sizeof(st));
	st.ndb = 5; /* from a former scrape: read again from nothing */
	lb_monitor_read(&t, app_metrics, strlen(app_metrics), &st);
	CHECK(st.requests == -1);
	static const char dns[] = "tristack_dns_queries_total{proto=\"udp\"} 7\n"
	                          "tristack_dns_queries_total{proto=\"tcp\"} 2\n";
	lb_monitor_read(&t, dns, strlen(dns), &st);
	CHECK(st.requests == 9);
	CHECK_EQ(st.ndb, 0);
	t_case("garbage");
	static const char garbage[] = "\x01\x02{}}} \n\n#";
	lb_monitor_read(&t, garbage, sizeof(garbage) - 1, &st);
	CHECK(st.requests == -1);
}

TEST(monitor_keeps_at_most_its_database_views)
{
	struct lb_target t = { .prefix = "tristack_app" };
	struct lb_target_state st;
	char body[4096];
	size_t n = 0;
	for (int i = 0; i < LB_MAX_DB_VIEWS + 4; i++)
		n += (size_t)snprintf(body + n, sizeof(body) - n,
		                      "tristack_app_db_up{server=\"db-%02d\"} 1\n", i);
	lb_monitor_read(&t, body, n, &st);
	CHECK_EQ(st.ndb, LB_MAX_DB_VIEWS);
	CHECK_STR(st.db[LB_MAX_DB_VIEWS - 1].server, "db-07");
}
