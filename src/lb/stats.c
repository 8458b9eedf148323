/* stats.c - what the LB tells about itself: Prometheus metrics, /stats.json,
 * /healthz, and its access log line (HAProxy's httplog). */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "conf/names.h"
#include "core/sbuf.h"
#include "core/tls.h"
#include "lb.h"

/* ---- metrics ---- */

static double server_up(void *arg)
{
	return atomic_load(&((struct lb_server *)arg)->up) ? 1 : 0;
}

static double server_active(void *arg)
{
	return atomic_load(&((struct lb_server *)arg)->active);
}

static double server_weight(void *arg)
{
	return atomic_load(&((struct lb_server *)arg)->weight);
}

/* tristack_lb_server_admin_state{state=...}: 1 for the server's state. */
static double server_admin(void *arg)
{
	const struct lb_admin_gauge *g = arg;
	return atomic_load(&g->sv->admin) == (int)g->state ? 1 : 0;
}

static double queued(void *arg)
{
	return atomic_load(&((struct lb *)arg)->pc.queued);
}

static double servers_up(void *arg)
{
	return lb_balance_up(&((struct lb *)arg)->bal);
}

void lb_metrics_define(struct lb *lb, struct metrics *m)
{
	static const double check_bounds[] = { 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
		                               0.05,   0.1,   0.25,   0.5,   1,    2.5 };
	char labels[128];
	httpd_metrics_define(m, METRIC_LB, &lb->hm);
	proxy_metrics_define(&lb->pc, m, METRIC_LB);
	for (unsigned i = 0; i < lb->nservers; i++) {
		struct lb_server *sv = &lb->servers[i];
		snprintf(labels, sizeof(labels), "server=\"%s\"", sv->px.name);
		metrics_gauge_fn(m, METRIC_LB_SERVER_UP, "1 while the server's health checks pass",
		                 labels, server_up, sv);
		metrics_gauge_fn(m, "tristack_lb_server_active_requests",
		                 "Requests in progress on the server", labels, server_active, sv);
		metrics_gauge_fn(
		    m, "tristack_lb_server_weight",
		    "The server's weight in use (the stack file's or the runtime API's)", labels,
		    server_weight, sv);
		for (unsigned a = 0; a < LB_ADMIN_COUNT; a++) {
			char l[160];
			sv->admin_gauges[a] = (struct lb_admin_gauge){ sv, (enum lb_admin)a };
			snprintf(l, sizeof(l), "%s,state=\"%s\"", labels,
			         lb_admin_word((enum lb_admin)a));
			metrics_gauge_fn(m, METRIC_LB_SERVER_ADMIN_STATE,
			                 "1 for the server's admin state: ready, drain or maint "
			                 "(the runtime API's)",
			                 l, server_admin, &sv->admin_gauges[a]);
		}
		struct lb_check *c = sv->check;
		if (c == NULL)
			continue;
		c->m_duration = metrics_histogram(m, "tristack_lb_check_duration_seconds",
		                                  "Time a health check took", labels, check_bounds,
		                                  ARRAY_SIZE(check_bounds));
		snprintf(labels, sizeof(labels), "server=\"%s\",result=\"ok\"", sv->px.name);
		c->m_ok = metrics_counter(m, "tristack_lb_checks_total", "Health checks by result",
		                          labels);
		snprintf(labels, sizeof(labels), "server=\"%s\",result=\"failed\"", sv->px.name);
		c->m_failed = metrics_counter(m, "tristack_lb_checks_total",
		                              "Health checks by result", labels);
	}
	metrics_gauge_fn(m, METRIC_LB_SERVERS_UP, "Servers taking requests", NULL, servers_up, lb);
	metrics_gauge_fn(m, "tristack_lb_queued_requests", "Requests waiting for a server slot",
	                 NULL, queued, lb);
}

/* ---- /stats.json ---- */

void lb_json_str(struct sbuf *o, const char *s)
{
	sbuf_adds(o, "\"");
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\')
			sbuf_addf(o, "\\%c", c);
		else if (c < 0x20)
			sbuf_addf(o, "\\u%04x", c);
		else
			sbuf_add(o, s, 1);
	}
	sbuf_adds(o, "\"");
}

/* The servers as an array: state, weight, counters, the last check. */
static void json_servers(struct lb *lb, struct sbuf *o)
{
	static const char *const classes[] = { "other", "1xx", "2xx", "3xx", "4xx", "5xx" };
	struct metrics *m = lb->d->metrics;
	sbuf_adds(o, "[");
	for (unsigned i = 0; i < lb->nservers; i++) {
		const struct lb_server *sv = &lb->servers[i];
		const struct proxy_server *ps = &sv->px;
		char addr[128];
		sbuf_adds(o, i ? ",{\"name\":" : "{\"name\":");
		lb_json_str(o, ps->name);
		sbuf_adds(o, ",\"address\":");
		lb_json_str(o, addr_format(&ps->addr, addr, sizeof(addr)));
		sbuf_addf(o,
		          ",\"state\":\"%s\",\"admin\":\"%s\",\"weight\":%u,"
		          "\"config_weight\":%u,\"backup\":%s,\"maxconn\":%u,"
		          "\"active\":%d,\"requests\":%lld,\"errors\":%lld,\"retries\":%lld,"
		          "\"responses\":{",
		          atomic_load(&sv->up) ? "UP" : "DOWN",
		          lb_admin_name(atomic_load(&sv->admin)), atomic_load(&sv->weight),
		          sv->config_weight, sv->backup ? "true" : "false", sv->maxconn,
		          atomic_load(&sv->active), (long long)metrics_value(m, ps->m_requests),
		          (long long)metrics_value(m, ps->m_errors),
		          (long long)metrics_value(m, ps->m_retries));
		for (int c = 0; c < 6; c++)
			sbuf_addf(o, "%s\"%s\":%lld", c ? "," : "", classes[c],
			          (long long)metrics_value(m, ps->m_responses[c]));
		sbuf_adds(o, "}");
		if (sv->check) {
			const struct lb_check *c = sv->check;
			sbuf_addf(o,
			          ",\"check\":{\"health\":%u,\"rise\":%u,\"fall\":%u,"
			          "\"last_code\":%d,\"last_ms\":%.3f}",
			          c->health, c->rise, c->fall, atomic_load(&c->last_code),
			          atomic_load(&c->last_us) / 1000.0);
		}
		sbuf_adds(o, "}");
	}
	sbuf_adds(o, "]");
}

/* The LB's own figures, as members of an object: "lb", "uptime_seconds",
 * "balance", "connections", "queued", "servers_up", "requests" (clients'
 * requests by status class) and "servers". */
void lb_json_figures(struct lb *lb, struct sbuf *o)
{
	static const char *const classes[] = { "other", "1xx", "2xx", "3xx", "4xx", "5xx" };
	struct metrics *m = lb->d->metrics;
	sbuf_adds(o, "\"lb\":");
	lb_json_str(o, conf_self(lb->d)->name);
	sbuf_addf(o,
	          ",\"uptime_seconds\":%lld,\"balance\":\"%s\",\"connections\":%lld,"
	          "\"queued\":%u,\"servers_up\":%u,\"requests\":{",
	          (long long)(time(NULL) - (time_t)lb->started),
	          lb->bal.algo == LB_LEASTCONN ? "leastconn"
	          : lb->bal.algo == LB_FIRST   ? "first"
	                                       : "roundrobin",
	          (long long)metrics_value(m, lb->hm.connections), atomic_load(&lb->pc.queued),
	          lb_balance_up(&lb->bal));
	for (int c = 0; c < 6; c++)
		sbuf_addf(o, "%s\"%s\":%lld", c ? "," : "", classes[c],
		          (long long)metrics_value(m, lb->hm.requests[c]));
	sbuf_adds(o, "},\"servers\":");
	json_servers(lb, o);
}

int lb_stats_json(struct lb *lb, struct httpd_session *s)
{
	struct sbuf o = { 0 };
	sbuf_adds(&o, "{");
	lb_json_figures(lb, &o);
	sbuf_adds(&o, "}\n");
	int r = httpd_respond(s, 200, "application/json", o.p, o.len);
	sbuf_free(&o);
	return r;
}

int lb_healthz(struct lb *lb, struct httpd_session *s)
{
	char body[96];
	unsigned up = lb_balance_up(&lb->bal);
	int n = snprintf(body, sizeof(body), "{\"status\":\"%s\",\"servers_up\":%u}\n",
	                 up ? "ok" : "no server up", up);
	return httpd_respond(s, up ? 200 : 503, "application/json", body, (size_t)n);
}

/* ---- the access log: HAProxy's httplog ----
 *
 * client:port [date.ms] frontend backend/server TR/Tw/Tc/Tr/Ta status bytes
 *   - - termination conns/retries queue "request"
 * TR: ms to receive the request head; Tw: waiting for a server slot; Tc:
 * connecting; Tr: the server's time to the response head; Ta: all of it.
 * -1 where a step did not happen. */
void lb_log_line(const struct httpd_session *s, struct buf *b)
{
	char ip[64];
	uint64_t now = loop_now(s->srv->w->loop);
	long tr = s->req->t_head >= s->t_begin && s->req->head_len
	              ? (long)(s->req->t_head - s->t_begin)
	              : -1;
	long ta = s->t_begin ? (long)(now - s->t_begin) : -1;
	buf_appendf(b, "%s:%d ", httpd_session_client_ip(s, ip, sizeof(ip)),
	            httpd_session_client_port(s));
	httpd_log_time(b, loop_wall(s->srv->w->loop), true);
	/* termination state: who ended the request and when (HAProxy's two
	 * first letters); "--" when it ended normally */
	const char *term = "--";
	if (s->req->status == 408)
		term = "cR";
	else if (s->req->status == 504)
		term = "sH";
	else if (s->req->status == 503 && s->req->upstream == NULL)
		term = "SC";
	else if (s->req->status == 502)
		term = "SH";
	else if (s->req->status >= 400 && s->req->upstream == NULL && s->req->head_len == 0)
		term = "PR";
	/* HAProxy marks a TLS frontend with '~' */
	buf_appendf(b, " %s%s servers/%s %ld/%d/%d/%d/%ld %d %llu - - %s-- %u/%u \"",
	            conf_self(s->srv->w->d)->name, conn_is_tls(&s->conn) ? "~" : "",
	            s->req->upstream ? s->req->upstream : "<NOSRV>", tr, s->req->t_wait,
	            s->req->t_connect, s->req->t_response, ta, s->req->status,
	            (unsigned long long)s->req->bytes_out, term, s->srv->w->nconns,
	            s->req->retries);
	httpd_log_request(b, s);
	buf_append_lit(b, "\"\n");
}
