/* dashboard.c - the live dashboard on the admin listener: its page (the
 * files of www/dashboard/, built in), and /dashboard.json, which the page
 * reads every second: the LB's own figures, its latency histogram and TLS
 * handshakes, and the health of every host and daemon of the stack as the
 * monitor (monitor.c) last saw them. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "assets.h"
#include "core/sbuf.h"
#include "lb.h"

#define DASH_PREFIX "/dashboard/"
/* The page loads nothing but its own files and /dashboard.json. */
#define DASH_CSP                                                                                   \
	"default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "          \
	"connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

static const char *const role_names[] = { "lb", "dns", "web", "app", "db-primary", "db-replica" };

static void json_double(struct sbuf *o, double v)
{
	if (v < 0)
		sbuf_adds(o, "null");
	else
		sbuf_addf(o, "%.3f", v);
}

/* The request-duration histogram: bucket bounds (s) and counts (not
 * cumulative; the last one is +Inf), for the page's p50 and p99. */
static void json_latency(struct lb *lb, struct sbuf *o)
{
	const double *bounds = NULL;
	int64_t counts[64];
	unsigned n = metrics_histogram_read(lb->d->metrics, lb->hm.duration, &bounds, counts,
	                                    ARRAY_SIZE(counts));
	sbuf_adds(o, ",\"latency\":{\"bounds\":[");
	for (unsigned b = 0; b + 1 < n; b++)
		sbuf_addf(o, "%s%g", b ? "," : "", bounds[b]);
	sbuf_adds(o, "],\"counts\":[");
	for (unsigned b = 0; b < n; b++)
		sbuf_addf(o, "%s%lld", b ? "," : "", (long long)counts[b]);
	sbuf_adds(o, "]}");
}

static void json_tls(struct lb *lb, struct sbuf *o)
{
	struct metrics *m = lb->d->metrics;
	const struct tls_metrics *t = &lb->tls.m;
	if (!lb->has_tls || !t->defined) {
		sbuf_adds(o, ",\"tls\":null");
		return;
	}
	int64_t failed = 0;
	for (int i = 0; i < TLS_FAIL_COUNT; i++)
		failed += metrics_value(m, t->failed[i]);
	sbuf_addf(o, ",\"tls\":{\"full\":%lld,\"resumed\":%lld,\"failed\":%lld}",
	          (long long)metrics_value(m, t->full), (long long)metrics_value(m, t->resumed),
	          (long long)failed);
}

static void json_daemon(struct lb *lb, unsigned i, const struct lb_target_state *st, struct sbuf *o)
{
	const struct lb_target *t = &lb->targets[i];
	sbuf_adds(o, "{\"name\":");
	lb_json_str(o, t->daemon);
	if (t->self) {
		sbuf_adds(o, ",\"self\":true,\"up\":true,\"error\":null,\"address\":null,"
		             "\"scraped_ms\":null,\"duration_ms\":null,\"requests\":null}");
		return;
	}
	sbuf_adds(o, ",\"self\":false,\"address\":");
	if (t->has_addr)
		lb_json_str(o, t->addr_text);
	else
		sbuf_adds(o, "null");
	/* up: null until its first scrape has ended (unless it cannot be) */
	bool known = st->seen || !t->has_addr;
	sbuf_addf(o, ",\"up\":%s,\"error\":", st->up ? "true" : known ? "false" : "null");
	if (st->up)
		sbuf_adds(o, "null");
	else
		lb_json_str(o, st->error[0] ? st->error : "not scraped yet");
	if (st->seen)
		sbuf_addf(o, ",\"scraped_ms\":%lld,\"duration_ms\":%u", (long long)st->scraped_ms,
		          st->duration_ms);
	else
		sbuf_adds(o, ",\"scraped_ms\":null,\"duration_ms\":null");
	sbuf_adds(o, ",\"requests\":");
	if (st->up && st->requests >= 0)
		sbuf_addf(o, "%.0f", st->requests);
	else
		sbuf_adds(o, "null");
	sbuf_adds(o, "}");
}

/* A database as the apps see it: up when one of them reaches it; its lag
 * the smallest any of them reports (the freshest view). */
struct db_seen {
	unsigned apps, up;
	double lag;
};

static struct db_seen db_seen(struct lb *lb, const struct lb_target_state *st, const char *host)
{
	struct db_seen d = { 0, 0, -1 };
	for (unsigned i = 0; i < lb->ntargets; i++) {
		if (!st[i].up)
			continue;
		for (unsigned j = 0; j < st[i].ndb; j++) {
			const struct lb_db_view *v = &st[i].db[j];
			if (strcmp(v->server, host) != 0)
				continue;
			d.apps++;
			d.up += v->up;
			if (v->up && v->lag >= 0 && (d.lag < 0 || v->lag < d.lag))
				d.lag = v->lag;
		}
	}
	return d;
}

static void json_database(const struct conf_host *h, struct db_seen d, struct sbuf *o)
{
	sbuf_adds(o, "{\"name\":\"mariadb\",\"host\":");
	lb_json_str(o, h->name);
	/* up: null while no app tells */
	sbuf_addf(o, ",\"role\":\"%s\",\"up\":%s,\"error\":",
	          h->roles & ROLE_DB_PRIMARY ? "primary" : "replica",
	          d.up     ? "true"
	          : d.apps ? "false"
	                   : "null");
	if (d.up)
		sbuf_adds(o, "null");
	else
		lb_json_str(o, d.apps ? "no app reaches it" : "no app reports on it");
	sbuf_addf(o, ",\"seen_by\":%u,\"lag_seconds\":", d.apps);
	json_double(o, d.lag);
	sbuf_adds(o, "}");
}

static void json_hosts(struct lb *lb, const struct lb_target_state *st, struct sbuf *o)
{
	const struct conf *s = conf_of(lb->d);
	sbuf_adds(o, ",\"hosts\":[");
	for (unsigned h = 0; h < s->nhosts; h++) {
		const struct conf_host *host = &s->hosts[h];
		sbuf_adds(o, h ? ",{\"name\":" : "{\"name\":");
		lb_json_str(o, host->name);
		sbuf_adds(o, ",\"address\":");
		lb_json_str(o, host->address);
		sbuf_adds(o, ",\"roles\":[");
		bool first = true;
		for (unsigned r = 0; r < ARRAY_SIZE(role_names); r++)
			if (host->roles & (1u << r)) {
				sbuf_addf(o, "%s\"%s\"", first ? "" : ",", role_names[r]);
				first = false;
			}
		sbuf_adds(o, "],\"daemons\":[");
		first = true;
		for (unsigned i = 0; i < lb->ntargets; i++) {
			if (lb->targets[i].host != host->name)
				continue;
			if (!first)
				sbuf_adds(o, ",");
			json_daemon(lb, i, &st[i], o);
			first = false;
		}
		if (host->roles & (ROLE_DB_PRIMARY | ROLE_DB_REPLICA)) {
			if (!first)
				sbuf_adds(o, ",");
			json_database(host, db_seen(lb, st, host->name), o);
		}
		sbuf_adds(o, "]}");
	}
	sbuf_adds(o, "],\"databases\":[");
	bool first = true;
	for (unsigned h = 0; h < s->nhosts; h++) {
		const struct conf_host *host = &s->hosts[h];
		if (!(host->roles & (ROLE_DB_PRIMARY | ROLE_DB_REPLICA)))
			continue;
		if (!first)
			sbuf_adds(o, ",");
		json_database(host, db_seen(lb, st, host->name), o);
		first = false;
	}
	sbuf_adds(o, "]");
}

static int dashboard_json(struct lb *lb, struct httpd_session *s)
{
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	struct lb_target_state *st = xcalloc(lb->ntargets ? lb->ntargets : 1, sizeof(*st));
	lb_monitor_snapshot(lb, st);
	struct sbuf o = { 0 };
	sbuf_addf(&o, "{\"time_ms\":%lld,\"site\":",
	          (long long)now.tv_sec * 1000 + now.tv_nsec / 1000000);
	lb_json_str(&o, conf_of(lb->d)->site.domain);
	sbuf_adds(&o, ",");
	lb_json_figures(lb, &o);
	json_latency(lb, &o);
	json_tls(lb, &o);
	json_hosts(lb, st, &o);
	sbuf_adds(&o, "}\n");
	free(st);
	int r = -1;
	if (httpd_head_begin(s, 200) == 0 &&
	    httpd_head_add(s, "Content-Type", "application/json") == 0 &&
	    httpd_head_add(s, "Cache-Control", "no-store") == 0 &&
	    httpd_head_end(s, (int64_t)o.len) == 0)
		r = httpd_body(s, o.p, o.len);
	sbuf_free(&o);
	return r < 0 ? httpd_error(s, 500, false) : TS_OK;
}

/* A built-in file, revalidated by ETag each time (it changes with the
 * build, not while the LB runs). */
static int serve_asset(struct httpd_session *s, const struct lb_asset *a)
{
	struct str inm;
	bool fresh = httpd_session_header(s, "If-None-Match", &inm) &&
	             memmem(inm.p, inm.len, a->etag, strlen(a->etag)) != NULL;
	if (httpd_head_begin(s, fresh ? 304 : 200) < 0 ||
	    (!fresh && httpd_head_add(s, "Content-Type", a->type) < 0) ||
	    httpd_head_add(s, "ETag", a->etag) < 0 ||
	    httpd_head_add(s, "Cache-Control", "no-cache") < 0 ||
	    httpd_head_add(s, "X-Content-Type-Options", "nosniff") < 0 ||
	    (strncmp(a->type, "text/html", 9) == 0 &&
	     httpd_head_add(s, "Content-Security-Policy", DASH_CSP) < 0) ||
	    httpd_head_end(s, fresh ? HTTPD_LENGTH_NONE : (int64_t)a->len) < 0)
		return httpd_error(s, 500, false);
	if (!fresh && httpd_body(s, a->data, a->len) < 0)
		return httpd_error(s, 500, false);
	return TS_OK;
}

static int redirect(struct httpd_session *s, const char *to)
{
	static const char body[] = "The dashboard is at /dashboard/\n";
	if (httpd_head_begin(s, 302) < 0 || httpd_head_add(s, "Location", to) < 0 ||
	    httpd_head_add(s, "Content-Type", "text/plain; charset=utf-8") < 0 ||
	    httpd_head_end(s, sizeof(body) - 1) < 0 || httpd_body(s, body, sizeof(body) - 1) < 0)
		return httpd_error(s, 500, false);
	return TS_OK;
}

int lb_dashboard_handle(struct lb *lb, struct httpd_session *s)
{
	struct str path = s->req->target;
	path.len = http_target_path_len(path);
	if (httpd_path_is(s->req->target, "/dashboard.json", false))
		return dashboard_json(lb, s);
	if (httpd_path_is(s->req->target, "/", false) ||
	    httpd_path_is(s->req->target, "/dashboard", false))
		return redirect(s, DASH_PREFIX);
	if (!httpd_path_is(s->req->target, DASH_PREFIX, true))
		return LB_DASHBOARD_NOT_MINE;
	struct str name = { path.p + strlen(DASH_PREFIX), path.len - strlen(DASH_PREFIX) };
	if (name.len == 0)
		name = STR_LIT("index.html");
	for (unsigned i = 0; i < lb_nassets; i++)
		if (strlen(lb_assets[i].name) == name.len &&
		    memcmp(lb_assets[i].name, name.p, name.len) == 0)
			return serve_asset(s, &lb_assets[i]);
	return httpd_error(s, 404, false);
}
