/* main.c - tristack-lb: daemon wiring. Every request is proxied to a server
 * the balancer chooses; the admin listener serves /metrics, /stats.json and
 * /healthz; worker 0 runs the health checks. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/log.h"
#include "lb.h"

static int lb_handler(struct http_session *s)
{
	struct lb_worker *lw = s->srv->data;
	return proxy_handle(&lw->pw, s);
}

static int admin_handler(struct http_session *s)
{
	struct lb_worker *lw = s->srv->data;
	struct lb *lb = lw->lb;
	if (s->req->method != HTTP_GET && s->req->method != HTTP_HEAD)
		return http_error(s, 405, false);
	if (http_path_is(s->req->path, "/metrics", false))
		return http_respond_metrics(s, lb->d->metrics);
	if (http_path_is(s->req->path, "/stats.json", false))
		return lb_stats_json(lb, s);
	if (http_path_is(s->req->path, "/healthz", false))
		return lb_healthz(lb, s);
	return http_error(s, 404, false);
}

/* ---- the engine's view of the balancer ---- */

static int pick(struct proxy_worker *pw, unsigned attempt, int avoid)
{
	struct lb *lb = pw->pc->pick_data;
	(void)attempt;
	return lb_pick(&lb->bal, avoid);
}

static void release(struct proxy_worker *pw, int server)
{
	struct lb *lb = pw->pc->pick_data;
	lb_release(&lb->bal, server);
}

static void report(struct proxy_worker *pw, int server, bool ok)
{
	lb_check_report(pw->pc->pick_data, server, ok);
}

/* ---- daemon ---- */

static int setup_servers(struct lb *lb, const struct stack_lb *conf)
{
	lb->nservers = conf->nservers;
	lb->servers = xcalloc(conf->nservers, sizeof(*lb->servers));
	lb->lbs = xcalloc(conf->nservers, sizeof(*lb->lbs));
	if (conf->check.enabled)
		lb->checks = xcalloc(conf->nservers, sizeof(*lb->checks));
	for (unsigned i = 0; i < conf->nservers; i++) {
		const struct stack_server *sv = &conf->servers[i];
		lb->servers[i] = (struct proxy_server){ .name = sv->name,
			                                .addr = sv->addr,
			                                .weight = sv->weight,
			                                .backup = sv->backup };
		struct lb_server *ls = &lb->lbs[i];
		ls->name = sv->name;
		ls->weight = sv->weight;
		ls->backup = sv->backup;
		ls->maxconn = sv->maxconn;
		atomic_store(&ls->up, true); /* up until checks say otherwise */
		if (lb->checks) {
			struct lb_check *c = &lb->checks[i];
			c->lb = lb;
			c->server = (int)i;
			c->rise = conf->check.rise;
			c->fall = conf->check.fall;
			c->interval = conf->check.interval;
			c->timeout = conf->check.timeout;
			c->health = c->rise + c->fall - 1;
		}
	}
	lb_balancer_init(&lb->bal, (enum lb_balance)conf->balance, lb->lbs, lb->nservers);
	return 0;
}

/* A reload keeps what is known of servers that stay (same name and
 * address): a server that is down stays down until its checks bring it
 * back. */
static void carry_over(struct lb *lb, const struct lb *old)
{
	lb->started = old->started;
	for (unsigned i = 0; i < lb->nservers; i++)
		for (unsigned j = 0; j < old->nservers; j++) {
			if (strcmp(lb->lbs[i].name, old->lbs[j].name) != 0 ||
			    !addr_equal(&lb->servers[i].addr, &old->servers[j].addr))
				continue;
			atomic_store(&lb->lbs[i].up, atomic_load(&old->lbs[j].up));
			if (lb->checks && old->checks) {
				struct lb_check *c = &lb->checks[i];
				bool up = atomic_load(&old->lbs[j].up);
				c->health = up ? c->rise + c->fall - 1 : 0;
			}
		}
}

static int lb_configure(struct daemon *d, char *err, size_t errlen)
{
	struct lb *lb = xcalloc(1, sizeof(*lb));
	d->data = lb;
	lb->d = d;
	struct stack_lb *conf = &d->stack.lb;
	d->http = &conf->http;
	if (d->host == NULL) {
		snprintf(err, errlen, "%s: no host has the 'lb' role (or pass --host)",
		         d->conf_path);
		return -1;
	}
	if (conf->nservers == 0) {
		snprintf(err, errlen, "%s: [lb] has no 'server'", d->conf_path);
		return -1;
	}
	char e[256];
	if (stack_resolve_addr(&d->stack, conf->http.listen, d->host, &lb->listen, e, sizeof(e)) <
	    0) {
		snprintf(err, errlen, "%s: [lb] listen: %s", d->conf_path, e);
		return -1;
	}
	if (conf->http.admin[0]) {
		if (stack_resolve_addr(&d->stack, conf->http.admin, d->host, &lb->admin, e,
		                       sizeof(e)) < 0) {
			snprintf(err, errlen, "%s: [lb] admin: %s", d->conf_path, e);
			return -1;
		}
		lb->has_admin = true;
	}
	setup_servers(lb, conf);
	lb->started = (uint64_t)time(NULL);
	if (d->prev && d->prev->data)
		carry_over(lb, d->prev->data);
	bool any = false;
	for (unsigned i = 0; i < lb->nservers; i++)
		any |= lb->lbs[i].weight > 0 || lb->lbs[i].backup;
	if (!any) {
		snprintf(err, errlen, "%s: [lb] every server has weight 0", d->conf_path);
		return -1;
	}
	lb->check = &conf->check;
	snprintf(lb->check_host, sizeof(lb->check_host), "www.%s", d->stack.site.domain);
	struct proxy_conf *pc = &lb->pc;
	pc->servers = lb->servers;
	pc->nservers = lb->nservers;
	pc->timeout_connect = conf->timeout_connect;
	pc->timeout_server = conf->timeout_server;
	pc->timeout_pool = conf->timeout_server_keep_alive;
	pc->timeout_queue = conf->timeout_queue;
	pc->retries = (unsigned)conf->retries;
	pc->pool_max = 256;
	pc->resp_limits =
	    (struct http_limits){ .max_head = conf->http.max_header_size, .max_headers = 100 };
	pc->forwarded_headers = true;
	pc->proto = "http";
	pc->pick = pick;
	pc->release = release;
	pc->report = report;
	pc->pick_data = lb;
	return 0;
}

static int lb_start(struct daemon *d, char *err, size_t errlen)
{
	struct lb *lb = d->data;
	(void)err;
	(void)errlen;
	lb_metrics_define(lb, d->metrics);
	return 0;
}

static int lb_worker_init(struct worker *w, char *err, size_t errlen)
{
	struct lb *lb = w->d->data;
	struct lb_worker *lw = xcalloc(1, sizeof(*lw));
	w->data = lw;
	lw->lb = lb;
	proxy_worker_init(&lw->pw, &lb->pc, w);
	http_server_init(&lw->http, w, w->d->http, lb_handler, lw);
	http_server_use_metrics(&lw->http, w->d->metrics, &lb->hm);
	lw->http.log_line = lb_log_line;
	if (http_server_listen(&lw->http, &lb->listen, err, errlen) < 0)
		return -1;
	http_server_init(&lw->admin, w, NULL, admin_handler, lw);
	if (lb->has_admin && http_server_listen(&lw->admin, &lb->admin, err, errlen) < 0)
		return -1;
	if (w->id == 0)
		lb_checks_start(lb, w);
	return 0;
}

static void lb_worker_stop(struct worker *w)
{
	struct lb_worker *lw = w->data;
	if (w->id == 0)
		lb_checks_stop(lw->lb);
	http_server_stop(&lw->http);
	http_server_stop(&lw->admin);
	proxy_worker_close_idle(&lw->pw);
}

static void lb_worker_free(struct worker *w)
{
	struct lb_worker *lw = w->data;
	if (lw == NULL)
		return;
	if (w->id == 0)
		lb_checks_stop(lw->lb);
	http_server_free(&lw->http);
	http_server_free(&lw->admin);
	proxy_worker_free(&lw->pw);
	free(lw);
	w->data = NULL;
}

static void lb_finish(struct daemon *d)
{
	struct lb *lb = d->data;
	if (lb == NULL)
		return;
	lb_balancer_free(&lb->bal);
	free(lb->pc.workers);
	free(lb->checks);
	free(lb->check_msg);
	free(lb->servers);
	free(lb->lbs);
	free(lb);
	d->data = NULL;
}

static const struct daemon_def lb_def = {
	.name = "tristack-lb",
	.role = ROLE_LB,
	.configure = lb_configure,
	.start = lb_start,
	.worker_init = lb_worker_init,
	.worker_stop = lb_worker_stop,
	.worker_free = lb_worker_free,
	.finish = lb_finish,
};

int main(int argc, char **argv)
{
	return daemon_main(&lb_def, argc, argv);
}
