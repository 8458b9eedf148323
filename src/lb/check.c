/* check.c - active health checks, and what traffic says about servers.
 *
 * Every server is asked `check = METHOD PATH` every interval, on the loop of
 * worker 0: connect, send the request, read the response head, compare the
 * status with expect. One counter per server, HAProxy's: health lives in
 * [0, rise + fall - 1]; the server is up while health >= rise. A success
 * adds one (reaching rise brings it up, and fills the counter); a failure
 * takes one (dropping below rise takes it down, and empties the counter).
 * So a server that is fully up goes down after `fall` failures in a row and
 * comes back after `rise` successes.
 *
 * Traffic reports failures too (connect refused, reset, timeout, bad
 * response): each counts as a failed check, so a dead server leaves the
 * rotation at the first requests that find it dead rather than at the next
 * check. Only with checks on: without them nothing could bring it back.
 *
 * A server in maintenance (the runtime API's MAINT, admin.c) is not
 * checked; when it leaves, it is down until its first check passes, which
 * comes at once (as HAProxy leaves MAINT): whatever happened to it
 * meanwhile, it takes no request before a check says it answers.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/log.h"
#include "core/net.h"
#include "lb.h"

static void check_start(struct lb_check *c);
static void check_timer(struct timer *t);

static unsigned top(const struct lb_check *c)
{
	return c->rise + c->fall - 1;
}

static void log_change(struct lb_check *c, bool up, const char *why)
{
	struct lb *lb = c->lb;
	unsigned left = lb_balance_up(&lb->bal);
	if (up)
		log_warn("server %s is UP: %s; %u of %u servers up", lb->servers[c->server].px.name,
		         why, left, lb->nservers);
	else
		log_warn("server %s is DOWN: %s; %u of %u servers up%s",
		         lb->servers[c->server].px.name, why, left, lb->nservers,
		         left ? "" : " (every request gets 503 now)");
}

static void health_ok(struct lb_check *c, const char *why)
{
	if (c->health >= top(c))
		return;
	c->health++;
	if (c->health == c->rise) {
		c->health = top(c);
		atomic_store(&c->lb->servers[c->server].up, true);
		log_change(c, true, why);
	}
}

static void health_fail(struct lb_check *c, const char *why)
{
	if (c->health == 0)
		return;
	c->health--;
	if (c->health == c->rise - 1) {
		c->health = 0;
		atomic_store(&c->lb->servers[c->server].up, false);
		log_change(c, false, why);
		/* what waits on it now would wait for timeout_server */
		proxy_server_down(&c->lb->pc, c->server);
	}
}

static void count(struct lb_check *c, int id, int64_t n)
{
	metrics_add(c->w->shard, metrics_slot(c->w->d->metrics, id), n);
}

/* One check is over: record it, then wait for the next. */
static void check_done(struct lb_check *c, bool ok, int code, const char *why)
{
	struct loop *loop = c->w->loop;
	httpc_close(&c->fetch);
	uint64_t us = httpd_now_us() - c->fetch.t_start_us;
	atomic_store(&c->last_code, code);
	atomic_store(&c->last_us, (int)MIN(us, (uint64_t)INT32_MAX));
	metrics_observe(c->w->d->metrics, c->w->shard, c->m_duration, (double)us / 1e6);
	count(c, ok ? c->m_ok : c->m_failed, 1);
	char info[160];
	snprintf(info, sizeof(info), "%s (check took %llums)", why,
	         (unsigned long long)(us / 1000));
	if (ok)
		health_ok(c, info);
	else
		health_fail(c, info);
	c->running = false;
	loop_timer_set(loop, &c->timer, c->interval);
}

static void check_fail_errno(struct lb_check *c, int e)
{
	char why[96];
	snprintf(why, sizeof(why), "%s", e == ETIMEDOUT ? "timeout" : strerror(e));
	check_done(c, false, -e, why);
}

static void check_start(struct lb_check *c)
{
	c->running = true;
	c->scan = 0;
	int e = httpc_start(&c->fetch, c->w->loop, &c->lb->servers[c->server].px.addr);
	if (e) {
		check_fail_errno(c, e);
		return;
	}
	loop_timer_set(c->w->loop, &c->timer, c->timeout);
}

/* What the exchange brings: read the response head as it comes. */
static void check_event(struct httpc *f, int what)
{
	struct lb_check *c = container_of(f, struct lb_check, fetch);
	if (what == -EMSGSIZE) {
		check_done(c, false, -EMSGSIZE, "response head too large");
		return;
	}
	if (what < 0) {
		check_fail_errno(c, -what);
		return;
	}
	if (what == HTTPC_EOF) {
		check_done(c, false, -ECONNRESET, "connection closed before a response");
		return;
	}
	struct http_limits lim = { .max_head = sizeof(c->resp), .max_headers = 100 };
	ssize_t r =
	    http_parse_response(c->resp, f->resp_len, &c->scan, &lim, HTTP_GET, c->lb->check_msg);
	if (r == TS_AGAIN)
		return;
	if (r < 0) {
		check_done(c, false, -EPROTO, "bad HTTP response");
		return;
	}
	const struct http_msg *m = c->lb->check_msg;
	if (m->status < 200)
		return; /* an interim 1xx: the real one follows */
	char why[96];
	snprintf(why, sizeof(why), "HTTP %d", m->status);
	bool ok = m->status >= c->lb->check->expect_lo && m->status <= c->lb->check->expect_hi;
	check_done(c, ok, m->status, why);
}

static void check_timer(struct timer *t)
{
	struct lb_check *c = container_of(t, struct lb_check, timer);
	if (c->running)
		check_fail_errno(c, ETIMEDOUT);
	else
		check_start(c);
}

static void passive_posted(void *arg)
{
	struct lb_check *c = arg;
	unsigned n = atomic_exchange(&c->passive, 0);
	while (n-- > 0)
		health_fail(c, "traffic to it failed (connect refused, reset or timeout)");
}

void lb_check_report(struct lb *lb, int server, bool ok)
{
	if (ok)
		return;
	struct lb_check *c = lb->servers[server].check;
	if (c == NULL)
		return; /* checks are off */
	/* Counted on the check's own thread; one wake-up for a burst. */
	if (atomic_fetch_add(&c->passive, 1) == 0)
		loop_post(c->w->loop, passive_posted, c);
}

void lb_checks_start(struct lb *lb, struct worker *w)
{
	const struct lb_check_conf *conf = lb->check;
	if (!conf->enabled)
		return;
	lb->check_msg = xmalloc(sizeof(*lb->check_msg));
	const char *host = conf->host ? conf->host : lb->check_host;
	for (unsigned i = 0; i < lb->nservers; i++) {
		struct lb_check *c = lb->servers[i].check;
		c->w = w;
		c->fetch.conn.io.fd = -1;
		c->fetch.req = c->req;
		c->fetch.resp = c->resp;
		c->fetch.resp_cap = sizeof(c->resp);
		c->fetch.event = check_event;
		c->timer.fn = check_timer;
		c->fetch.req_len = (size_t)snprintf(c->req, sizeof(c->req),
		                                    "%s %s HTTP/1.1\r\nHost: %s\r\n"
		                                    "User-Agent: tristack-lb-check\r\n"
		                                    "Connection: close\r\n\r\n",
		                                    conf->method, conf->path, host);
		/* Spread the servers' checks over the first interval. */
		if (atomic_load(&lb->servers[i].admin) != LB_ADMIN_MAINT)
			loop_timer_set(w->loop, &c->timer, 1 + conf->interval * i / lb->nservers);
	}
}

static void check_stop(struct lb_check *c)
{
	if (c == NULL || c->w == NULL)
		return; /* checks off, or never started */
	httpc_close(&c->fetch);
	loop_timer_stop(c->w->loop, &c->timer);
	c->running = false;
}

void lb_checks_stop(struct lb *lb)
{
	for (unsigned i = 0; i < lb->nservers; i++)
		check_stop(lb->servers[i].check);
}

void lb_check_pause(struct lb *lb, int server)
{
	check_stop(lb->servers[server].check);
}

void lb_check_resume(struct lb *lb, int server)
{
	struct lb_check *c = lb->servers[server].check;
	if (c == NULL || c->w == NULL)
		return;
	c->health = c->rise - 1;
	atomic_store(&lb->servers[server].up, false);
	loop_timer_set(c->w->loop, &c->timer, 0);
}
