/* monitor.c - the LB watches every other daemon of the stack.
 *
 * Every LB_MONITOR_INTERVAL, on the loop of worker 0 (next to the health
 * checks, and like them never blocking), the LB asks the admin /metrics of
 * each daemon the stack file places on a host: tristack-web on web hosts,
 * tristack-app on app hosts, tristack-dns on dns hosts (and another LB's, if
 * the stack has one). A scrape is one connection: connect, send the
 * request, read until the daemon closes (Connection: close), within
 * LB_MONITOR_TIMEOUT and LB_MONITOR_MAX_BYTES. Its outcome - up or down,
 * why, when, the daemon's request counter and, from the apps, how they see
 * the databases - is kept for /dashboard.json, which any worker serves, so
 * it sits behind lb->mon_lock.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "conf/names.h"
#include "core/net.h"
#include "core/prom.h"
#include "lb.h"

static void target_add(struct lb *lb, const struct conf_host *h, const char *daemon,
                       const char *spec, const char *prefix)
{
	if (lb->ntargets == LB_MAX_TARGETS)
		return;
	struct lb_target *t = &lb->targets[lb->ntargets];
	memset(t, 0, sizeof(*t));
	t->lb = lb;
	t->host = h->name;
	t->daemon = daemon;
	t->prefix = prefix;
	t->fetch.conn.io.fd = -1;
	t->st.requests = -1;
	if (spec == NULL) { /* this LB */
		t->self = true;
		t->st.up = true;
		lb->ntargets++;
		return;
	}
	char e[256];
	if (spec[0] == '\0') {
		snprintf(t->st.error, sizeof(t->st.error), "no admin listener in the stack file");
	} else if (conf_resolve_addr(conf_of(lb->d), spec, h, &t->addr, e, sizeof(e)) < 0) {
		snprintf(t->st.error, sizeof(t->st.error), "admin %.40s: %.70s", spec, e);
	} else {
		t->has_addr = true;
		addr_format(&t->addr, t->addr_text, sizeof(t->addr_text));
	}
	lb->ntargets++;
}

void lb_monitor_setup(struct lb *lb)
{
	const struct conf *s = conf_of(lb->d);
	for (unsigned i = 0; i < s->nhosts; i++) {
		const struct conf_host *h = &s->hosts[i];
		if (h->roles & ROLE_LB)
			target_add(lb, h, "tristack-lb",
			           h == conf_self(lb->d) ? NULL : s->lb.http.admin, METRIC_LB);
		if (h->roles & ROLE_DNS)
			target_add(lb, h, "tristack-dns", s->dns.admin, METRIC_DNS);
		if (h->roles & ROLE_WEB)
			target_add(lb, h, "tristack-web", s->web.http.admin, METRIC_WEB);
		if (h->roles & ROLE_APP)
			target_add(lb, h, "tristack-app", s->app.http.admin, METRIC_APP);
	}
}

/* ---- reading a scrape ---- */

/* A daemon's request counter: its HTTP requests, or for DNS its queries. */
static bool is_request_counter(const struct lb_target *t, const struct prom_sample *s)
{
	static const char *const suffixes[] = { HTTPD_METRIC_REQUESTS, METRIC_QUERIES,
		                                "_requests_total" };
	size_t p = strlen(t->prefix);
	if (s->name.len <= p || memcmp(s->name.p, t->prefix, p) != 0)
		return false;
	for (unsigned i = 0; i < ARRAY_SIZE(suffixes); i++) {
		size_t n = strlen(suffixes[i]);
		if (s->name.len == p + n && memcmp(s->name.p + p, suffixes[i], n) == 0)
			return true;
	}
	return false;
}

static struct lb_db_view *db_view(struct lb_target_state *st, const char *server)
{
	for (unsigned i = 0; i < st->ndb; i++)
		if (strcmp(st->db[i].server, server) == 0)
			return &st->db[i];
	if (st->ndb == LB_MAX_DB_VIEWS)
		return NULL;
	struct lb_db_view *v = &st->db[st->ndb++];
	snprintf(v->server, sizeof(v->server), "%s", server);
	v->up = false;
	v->lag = -1;
	return v;
}

/* What the body tells: the request counter, the databases as the app sees
 * them. Fills st (the caller's copy). */
void lb_monitor_read(const struct lb_target *t, const char *body, size_t len,
                     struct lb_target_state *st)
{
	struct prom_sample s;
	size_t pos = 0;
	bool any = false;
	double requests = 0;
	st->ndb = 0;
	while (prom_next(body, len, &pos, &s, NULL)) {
		if (is_request_counter(t, &s) && isfinite(s.value)) {
			requests += s.value;
			any = true;
			continue;
		}
		bool up = prom_name_is(&s, METRIC_APP_DB_UP);
		if (!up && !prom_name_is(&s, METRIC_APP_DB_REPLICA_LAG))
			continue;
		char server[64];
		struct lb_db_view *v;
		if (!prom_label(s.labels, "server", server, sizeof(server)) ||
		    (v = db_view(st, server)) == NULL)
			continue;
		if (up)
			v->up = s.value == 1;
		else
			v->lag = isfinite(s.value) && s.value >= 0 ? s.value : -1;
	}
	st->requests = any ? requests : -1;
}

/* ---- one scrape ---- */

static int64_t wall_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void scrape_done(struct lb_target *t, const char *error)
{
	struct lb *lb = t->lb;
	struct httpc *f = &t->fetch;
	httpc_close(f);
	t->running = false;
	struct lb_target_state st;
	pthread_mutex_lock(&lb->mon_lock);
	st = t->st;
	pthread_mutex_unlock(&lb->mon_lock);
	st.scraped_ms = wall_ms();
	st.duration_ms = (unsigned)((httpd_now_us() - f->t_start_us) / 1000);
	st.seen = true;
	if (error) {
		st.up = false;
		snprintf(st.error, sizeof(st.error), "%s", error);
	} else {
		const char *body = memmem(f->resp, f->resp_len, "\r\n\r\n", 4);
		body += 4;
		lb_monitor_read(t, body, (size_t)(f->resp + f->resp_len - body), &st);
		st.up = true;
		st.error[0] = '\0';
		st.last_ok_ms = st.scraped_ms;
	}
	pthread_mutex_lock(&lb->mon_lock);
	t->st = st;
	pthread_mutex_unlock(&lb->mon_lock);
	loop_timer_set(t->w->loop, &t->timer, LB_MONITOR_INTERVAL);
}

static void scrape_fail_errno(struct lb_target *t, int e)
{
	scrape_done(t, e == ETIMEDOUT ? "timeout" : strerror(e));
}

/* The whole response is in: is it a 200 with a head? */
static void scrape_check(struct lb_target *t)
{
	const struct httpc *f = &t->fetch;
	char why[64];
	const char *end = memmem(f->resp, f->resp_len, "\r\n\r\n", 4);
	if (f->resp_len < 12 || memcmp(f->resp, "HTTP/1.", 7) != 0 || end == NULL) {
		scrape_done(t, "bad HTTP response");
		return;
	}
	if (memcmp(f->resp + 8, " 200", 4) != 0) {
		snprintf(why, sizeof(why), "HTTP %.3s", f->resp + 9);
		scrape_done(t, why);
		return;
	}
	scrape_done(t, NULL);
}

static void scrape_start(struct lb_target *t)
{
	t->running = true;
	int e = httpc_start(&t->fetch, t->w->loop, &t->addr);
	if (e) {
		scrape_fail_errno(t, e);
		return;
	}
	loop_timer_set(t->w->loop, &t->timer, LB_MONITOR_TIMEOUT);
}

/* A scrape reads until the daemon closes (Connection: close). */
static void scrape_event(struct httpc *f, int what)
{
	struct lb_target *t = container_of(f, struct lb_target, fetch);
	if (what == HTTPC_DATA)
		return;
	if (what == -EMSGSIZE)
		scrape_done(t, "response too large");
	else if (what < 0)
		scrape_fail_errno(t, -what);
	else if (f->resp_len == 0)
		scrape_done(t, "connection closed before a response");
	else
		scrape_check(t);
}

static void scrape_timer(struct timer *tm)
{
	struct lb_target *t = container_of(tm, struct lb_target, timer);
	if (t->running)
		scrape_fail_errno(t, ETIMEDOUT);
	else
		scrape_start(t);
}

void lb_monitor_carry_over(struct lb *lb, struct lb *old)
{
	pthread_mutex_lock(&old->mon_lock);
	for (unsigned i = 0; i < lb->ntargets; i++) {
		struct lb_target *t = &lb->targets[i];
		for (unsigned j = 0; j < old->ntargets; j++) {
			const struct lb_target *o = &old->targets[j];
			if (t->self || !t->has_addr || o->self || !o->has_addr ||
			    strcmp(t->host, o->host) != 0 || strcmp(t->daemon, o->daemon) != 0 ||
			    !addr_equal(&t->addr, &o->addr))
				continue;
			t->st = o->st;
			break;
		}
	}
	pthread_mutex_unlock(&old->mon_lock);
}

void lb_monitor_start(struct lb *lb, struct worker *w)
{
	for (unsigned i = 0; i < lb->ntargets; i++) {
		struct lb_target *t = &lb->targets[i];
		if (t->self || !t->has_addr)
			continue;
		t->w = w;
		t->timer.fn = scrape_timer;
		t->fetch.resp = xmalloc(LB_MONITOR_MAX_BYTES);
		t->fetch.resp_cap = LB_MONITOR_MAX_BYTES;
		t->fetch.req = t->req;
		t->fetch.event = scrape_event;
		char host[sizeof(t->addr_text)]; /* not t's own bytes: snprintf's restrict */
		memcpy(host, t->addr_text, sizeof(host));
		t->fetch.req_len = (size_t)snprintf(t->req, sizeof(t->req),
		                                    "GET /metrics HTTP/1.1\r\nHost: %s\r\n"
		                                    "User-Agent: tristack-lb-monitor\r\n"
		                                    "Connection: close\r\n\r\n",
		                                    host);
		/* the first round at once, spread over a tenth of the interval */
		loop_timer_set(w->loop, &t->timer, 1 + LB_MONITOR_INTERVAL / 10 * i / lb->ntargets);
	}
}

void lb_monitor_stop(struct lb *lb)
{
	for (unsigned i = 0; i < lb->ntargets; i++) {
		struct lb_target *t = &lb->targets[i];
		if (t->w == NULL)
			continue;
		httpc_close(&t->fetch);
		loop_timer_stop(t->w->loop, &t->timer);
		t->running = false;
	}
}

void lb_monitor_free(struct lb *lb)
{
	for (unsigned i = 0; i < lb->ntargets; i++)
		free(lb->targets[i].fetch.resp);
	pthread_mutex_destroy(&lb->mon_lock);
}

void lb_monitor_snapshot(struct lb *lb, struct lb_target_state *out)
{
	pthread_mutex_lock(&lb->mon_lock);
	for (unsigned i = 0; i < lb->ntargets; i++)
		out[i] = lb->targets[i].st;
	pthread_mutex_unlock(&lb->mon_lock);
}
