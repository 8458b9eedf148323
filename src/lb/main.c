/* main.c - tristack-lb: daemon wiring. Every request is proxied to a server
 * chosen by the balancer; the admin listener serves /metrics. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "lb.h"

static int lb_handler(struct http_session *s)
{
	struct lb_worker *lw = s->srv->data;
	return proxy_handle(&lw->pw, s);
}

static int pick(struct proxy_worker *pw, unsigned attempt, int avoid)
{
	struct lb *lb = pw->pc->pick_data;
	(void)attempt;
	return lb_balance_next(&lb->rr, avoid);
}

/* ---- daemon ---- */

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
	if (conf->balance != LB_ROUNDROBIN) {
		snprintf(err, errlen,
		         "%s: [lb] balance: only 'roundrobin' is available in this version",
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
	lb->nservers = conf->nservers;
	lb->servers = xcalloc(conf->nservers, sizeof(*lb->servers));
	for (unsigned i = 0; i < conf->nservers; i++) {
		const struct stack_server *sv = &conf->servers[i];
		lb->servers[i] = (struct proxy_server){ .name = sv->name,
			                                .addr = sv->addr,
			                                .weight = sv->weight,
			                                .backup = sv->backup };
	}
	lb_balance_build(&lb->rr, lb->servers, lb->nservers);
	if (lb->rr.len == 0) {
		snprintf(err, errlen, "%s: [lb] every server has weight 0 or is a backup",
		         d->conf_path);
		return -1;
	}
	struct proxy_conf *pc = &lb->pc;
	pc->servers = lb->servers;
	pc->nservers = lb->nservers;
	pc->timeout_connect = conf->timeout_connect;
	pc->timeout_server = conf->timeout_server;
	pc->timeout_pool = conf->timeout_server_keep_alive;
	pc->retries = (unsigned)conf->retries;
	pc->pool_max = 256;
	pc->resp_limits =
	    (struct http_limits){ .max_head = conf->http.max_header_size, .max_headers = 100 };
	pc->forwarded_headers = true;
	pc->proto = "http";
	pc->pick = pick;
	pc->pick_data = lb;
	return 0;
}

static int lb_start(struct daemon *d, char *err, size_t errlen)
{
	struct lb *lb = d->data;
	http_metrics_define(d->metrics, "tristack_lb", &lb->hm);
	proxy_metrics_define(&lb->pc, d->metrics, "tristack_lb");
	(void)err;
	(void)errlen;
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
	if (http_server_listen(&lw->http, &lb->listen, err, errlen) < 0)
		return -1;
	http_server_init(&lw->admin, w, NULL, http_admin_handler, w->d);
	if (lb->has_admin && http_server_listen(&lw->admin, &lb->admin, err, errlen) < 0)
		return -1;
	return 0;
}

static void lb_worker_stop(struct worker *w)
{
	struct lb_worker *lw = w->data;
	http_server_stop(&lw->http);
	http_server_stop(&lw->admin);
	proxy_worker_close_idle(&lw->pw);
}

static void lb_worker_free(struct worker *w)
{
	struct lb_worker *lw = w->data;
	if (lw == NULL)
		return;
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
	lb_balance_free(&lb->rr);
	free(lb->servers);
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
