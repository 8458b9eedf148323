/* main.c - tristack-lb: daemon wiring. Every request is proxied to a server
 * the balancer chooses, but ACME's HTTP-01 challenges (acme.c); the admin
 * listener serves /metrics, /stats.json, /healthz and the dashboard; worker
 * 0 runs the health checks and the monitor of the other daemons. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/pem.h>

#include "conf/names.h"
#include "core/log.h"
#include "lb.h"

/* The HTTPS port for a client that named host (its first n bytes the name,
 * then ":PORT" or nothing): where redirect_ports maps the port it came in
 * on (it reached us through a mapping, like the lab's forwarder), else our
 * own TLS port. */
static unsigned redirect_port(const struct lb_portmap *m, struct str host, size_t n,
                              unsigned tls_port)
{
	if (n + 1 >= host.len || host.len - n - 1 > 5)
		return tls_port;
	unsigned p = 0;
	for (size_t i = n + 1; i < host.len; i++)
		p = p * 10 + (unsigned)(host.p[i] - '0'); /* digits: the caller's scan */
	for (unsigned i = 0; i < m->n; i++)
		if (m->from[i] == p)
			return m->to[i];
	return tls_port;
}

/* Plain HTTP when HTTPS is on: 301 to the same URL over HTTPS. */
static int redirect_https(struct lb *lb, struct httpd_session *s)
{
	struct str host = s->req->authority;
	char fallback[300];
	if (host.len == 0) {
		snprintf(fallback, sizeof(fallback), "www.%s", conf_of(lb->d)->site.domain);
		host = (struct str){ fallback, strlen(fallback) };
	}
	/* the name without its port ("[::1]:80" keeps its brackets) */
	size_t n = host.len;
	const char *end = host.p + host.len;
	for (const char *c = end; c > host.p; c--)
		if (c[-1] == ':') {
			if (memchr(c - 1, ']', (size_t)(end - c + 1)) == NULL)
				n = (size_t)(c - 1 - host.p);
			break;
		} else if (c[-1] < '0' || c[-1] > '9') {
			break;
		}
	/* the path and query (the parser reduced an absolute-form target) */
	struct str target = s->req->target;
	char port[8] = "";
	unsigned to = redirect_port(&conf_of(lb->d)->lb.redirect_ports, host, n, lb->tls_port);
	if (to != 443)
		snprintf(port, sizeof(port), ":%u", to);
	if (httpd_head_begin(s, 301) < 0 ||
	    httpd_head_addf(s, "Location", "https://%.*s%s%.*s", (int)n, host.p, port,
	                    (int)target.len, target.p) < 0 ||
	    httpd_head_add(s, "Content-Type", "text/plain; charset=utf-8") < 0 ||
	    httpd_head_end(s, 0) < 0)
		return httpd_error(s, 500, false);
	return TS_OK;
}

static int lb_handler(struct httpd_session *s)
{
	struct lb_worker *lw = s->srv->data;
	if (lb_limits_refuse(lw->lb, s))
		return TS_OK;
	if (lw->lb->crl && httpd_path_is(s->req->target, TS_CRL_PATH, false))
		return httpd_respond(s, 200, "application/pkix-crl", lw->lb->crl, lw->lb->crl_len);
	/* ACME's HTTP-01 challenge: the LB's own, over plain HTTP too */
	int r = lb_acme_answer(lw->lb, s);
	if (r != LB_ACME_DECLINED)
		return r;
	if (lw->lb->has_tls && !conn_is_tls(&s->conn))
		return redirect_https(lw->lb, s);
	return proxy_handle(&lw->pw, s);
}

static int admin_handler(struct httpd_session *s)
{
	struct lb_worker *lw = s->srv->data;
	struct lb *lb = lw->lb;
	if (!httpd_admin_host_ok(s, lb->d))
		return httpd_error(s, 403, false); /* DNS rebinding */
	if (s->req->method != HTTP_GET && s->req->method != HTTP_HEAD)
		return httpd_error(s, 405, false);
	if (httpd_path_is(s->req->target, "/metrics", false))
		return httpd_respond_metrics(s, lb->d->metrics);
	if (httpd_path_is(s->req->target, "/stats.json", false))
		return lb_stats_json(lb, s);
	if (httpd_path_is(s->req->target, "/healthz", false))
		return lb_healthz(lb, s);
	int r = lb_dashboard_handle(lb, s);
	return r == LB_DASHBOARD_NOT_MINE ? httpd_error(s, 404, false) : r;
}

/* ---- the engine's view of the balancer ---- */

static int pick(struct proxy_worker *pw, unsigned attempt, int avoid)
{
	struct lb *lb = pw->pc->pick_data;
	(void)attempt;
	return lb_balance_pick(&lb->bal, avoid);
}

static void release(struct proxy_worker *pw, int server)
{
	struct lb *lb = pw->pc->pick_data;
	lb_balance_release(&lb->bal, server);
}

static void report(struct proxy_worker *pw, int server, bool ok)
{
	lb_check_report(pw->pc->pick_data, server, ok);
}

/* ---- daemon ---- */

static int setup_servers(struct lb *lb, const struct lb_conf *conf)
{
	lb->nservers = conf->nservers;
	lb->servers = xcalloc(conf->nservers, sizeof(*lb->servers));
	lb->pxs = xcalloc(conf->nservers, sizeof(*lb->pxs));
	for (unsigned i = 0; i < conf->nservers; i++) {
		const struct lb_server_conf *sc = &conf->servers[i];
		struct lb_server *sv = &lb->servers[i];
		sv->px.name = sc->name;
		sv->px.addr = sc->addr;
		lb->pxs[i] = &sv->px;
		sv->weight = sv->config_weight = sc->weight;
		sv->backup = sc->backup;
		sv->maxconn = sc->maxconn;
		atomic_store(&sv->up, true); /* up until checks say otherwise */
		if (conf->check.enabled) {
			struct lb_check *c = xcalloc(1, sizeof(*c));
			sv->check = c;
			c->lb = lb;
			c->server = (int)i;
			c->rise = conf->check.rise;
			c->fall = conf->check.fall;
			c->interval = conf->check.interval;
			c->timeout = conf->check.timeout;
			c->health = c->rise + c->fall - 1;
		}
	}
	lb_balance_init(&lb->bal, (enum lb_balance)conf->balance, lb->servers, lb->nservers);
	return 0;
}

/* A reload keeps what is known of servers that stay (same name and
 * address): a server that is down stays down until its checks bring it
 * back. */
static void carry_over(struct lb *lb, struct lb *old)
{
	lb->started = old->started;
	lb_monitor_carry_over(lb, old);
	lb_vip_carry_over(lb, old);
	for (unsigned i = 0; i < lb->nservers; i++) {
		struct lb_server *sv = &lb->servers[i];
		for (unsigned j = 0; j < old->nservers; j++) {
			const struct lb_server *was = &old->servers[j];
			if (strcmp(sv->px.name, was->px.name) != 0 ||
			    !addr_equal(&sv->px.addr, &was->px.addr))
				continue;
			bool up = atomic_load(&was->up);
			atomic_store(&sv->up, up);
			if (sv->check && was->check)
				sv->check->health = up ? sv->check->rise + sv->check->fall - 1 : 0;
		}
	}
}

/* The local CA's revocation list, which the certificates `tristack up`
 * makes point at: served as DER, as RFC 5280 clients fetch it. */
static void load_crl(struct lb *lb)
{
	char path[TS_PATH_MAX];
	if (daemon_path(lb->d, "{state}/tls/ca.crl", path, sizeof(path)) < 0)
		return;
	FILE *f = fopen(path, "r");
	X509_CRL *crl = f ? PEM_read_X509_CRL(f, NULL, NULL, NULL) : NULL;
	if (f)
		fclose(f);
	unsigned char *der = NULL;
	int n = crl ? i2d_X509_CRL(crl, &der) : -1;
	X509_CRL_free(crl);
	ERR_clear_error();
	if (n <= 0) {
		log_warn("%s: no revocation list to publish at %s", path, TS_CRL_PATH);
		return;
	}
	lb->crl = xmalloc((size_t)n);
	memcpy(lb->crl, der, (size_t)n);
	lb->crl_len = (size_t)n;
	OPENSSL_free(der);
}

/* The certificates: the stack file's, or those `tristack up` makes. */
static int setup_tls(struct lb *lb, const struct lb_conf *conf, char *err, size_t errlen)
{
	struct daemon *d = lb->d;
	char e[256];
	if (conf_resolve_addr(conf_of(d), conf->tls_listen, conf_self(d), &lb->tls_listen, e,
	                      sizeof(e)) < 0) {
		snprintf(err, errlen, "%s: [lb] tls_listen: %s", d->conf_path, e);
		return -1;
	}
	lb->tls_port = addr_port(&lb->tls_listen);
	struct tls_cert_conf certs[TLS_MAX_CERTS];
	static const char *const made[] = { "{state}/tls/site-ecdsa.pem",
		                            "{state}/tls/site-rsa.pem" };
	unsigned n = conf->ntls_certs ? conf->ntls_certs : ARRAY_SIZE(made);
	char paths[TLS_MAX_CERTS][2][1024];
	for (unsigned i = 0; i < n; i++) {
		const char *cert = conf->ntls_certs ? conf->tls_certs[i].cert : made[i];
		const char *key = conf->ntls_certs ? conf->tls_certs[i].key : NULL;
		if (daemon_path(d, cert, paths[i][0], sizeof(paths[i][0])) < 0 ||
		    (key && daemon_path(d, key, paths[i][1], sizeof(paths[i][1])) < 0)) {
			snprintf(err, errlen, "%s: [lb] tls_cert: path too long", d->conf_path);
			return -1;
		}
		certs[i] = (struct tls_cert_conf){ paths[i][0], key ? paths[i][1] : NULL, 0 };
	}
	if (d->check_only && conf->ntls_certs == 0 && access(paths[0][0], F_OK) < 0) {
		/* -t on a fresh checkout: the files `tristack up` makes are not
		 * there yet, which is no fault of the stack file */
		fprintf(stderr, "%s: note: %s is not made yet (tristack up makes it)\n",
		        d->def->name, paths[0][0]);
		lb->has_tls = true;
		return 0;
	}
	if (tls_site_load(&lb->tls, certs, n, conf->tls_ticket_rotate, e, sizeof(e)) < 0) {
		snprintf(err, errlen, "%s: [lb] %s%s", d->conf_path, e,
		         conf->ntls_certs ? "" : " (tristack up makes these)");
		return -1;
	}
	tls_site_resumption(&lb->tls, conf->tls_tickets, (unsigned)conf->tls_session_cache);
	lb->has_tls = true;
	if (conf->ntls_certs == 0)
		load_crl(lb);
	if (conf->hsts)
		snprintf(lb->hsts_header, sizeof(lb->hsts_header),
		         "Strict-Transport-Security: max-age=%llu\r\n",
		         (unsigned long long)(conf->hsts / 1000));
	return 0;
}

/* Connect to the servers from this host's address in the stack file: that
 * is the address the web servers trust with X-Forwarded-* ([web]
 * trusted_proxies), where the route alone could pick another (127.0.0.1 on
 * loopback). An address this machine does not have (a NATed server) leaves
 * the choice to the route, with a warning. */
static const struct addr *setup_source(struct lb *lb)
{
	char e[256];
	if (conf_resolve_addr(conf_of(lb->d), ":0", conf_self(lb->d), &lb->source, e, sizeof(e)) <
	    0)
		return NULL;
	int family = ((const struct sockaddr *)&lb->source.ss)->sa_family;
	int fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int r = fd < 0 ? -1 : bind(fd, (const struct sockaddr *)&lb->source.ss, lb->source.len);
	if (fd >= 0)
		close(fd);
	if (r < 0) {
		log_warn("cannot connect from %s (%s): the servers see the route's address and "
		         "will not trust this LB's X-Forwarded-*",
		         conf_self(lb->d)->address, strerror(errno));
		return NULL;
	}
	return &lb->source;
}

static int lb_configure(struct daemon *d, char *err, size_t errlen)
{
	struct lb *lb = xcalloc(1, sizeof(*lb));
	d->data = lb;
	lb->d = d;
	pthread_mutex_init(&lb->mon_lock, NULL);
	struct lb_conf *conf = &conf_of(d)->lb;
	d->http = &conf->http;
	if (conf_self(d) == NULL) {
		snprintf(err, errlen, "%s: no host has the 'lb' role (or pass --host)",
		         d->conf_path);
		return -1;
	}
	if (conf->nservers == 0) {
		snprintf(err, errlen, "%s: [lb] has no 'server'", d->conf_path);
		return -1;
	}
	char e[256];
	if (conf_resolve_addr(conf_of(d), conf->http.listen, conf_self(d), &lb->listen, e,
	                      sizeof(e)) < 0) {
		snprintf(err, errlen, "%s: [lb] listen: %s", d->conf_path, e);
		return -1;
	}
	if (conf->http.admin[0]) {
		if (conf_resolve_addr(conf_of(d), conf->http.admin, conf_self(d), &lb->admin, e,
		                      sizeof(e)) < 0) {
			snprintf(err, errlen, "%s: [lb] admin: %s", d->conf_path, e);
			return -1;
		}
		lb->has_admin = true;
	}
	if (conf->tls_listen[0] && setup_tls(lb, conf, err, errlen) < 0)
		return -1;
	if (lb->has_tls && lb_tickets_configure(lb, conf, err, errlen) < 0)
		return -1;
	if (lb_limits_configure(lb, conf, err, errlen) < 0)
		return -1;
	if (lb_vip_configure(lb, err, errlen) < 0)
		return -1;
	/* SO_REUSEPORT would let two listeners share a port and split its
	 * connections between them: refuse it */
	const char *clash = NULL;
	if (lb->has_admin && addr_equal(&lb->listen, &lb->admin))
		clash = "admin and listen";
	else if (lb->has_tls && addr_equal(&lb->tls_listen, &lb->listen))
		clash = "tls_listen and listen";
	else if (lb->has_tls && lb->has_admin && addr_equal(&lb->tls_listen, &lb->admin))
		clash = "tls_listen and admin";
	if (clash) {
		snprintf(err, errlen, "%s: [lb] %s are the same address", d->conf_path, clash);
		return -1;
	}
	setup_servers(lb, conf);
	lb_monitor_setup(lb);
	lb->started = (uint64_t)time(NULL);
	if (d->prev && d->prev->data)
		carry_over(lb, d->prev->data);
	bool any = false;
	for (unsigned i = 0; i < lb->nservers; i++)
		any |= lb->servers[i].weight > 0 || lb->servers[i].backup;
	if (!any) {
		snprintf(err, errlen, "%s: [lb] every server has weight 0", d->conf_path);
		return -1;
	}
	lb->check = &conf->check;
	snprintf(lb->check_host, sizeof(lb->check_host), "www.%s", conf_of(d)->site.domain);
	struct proxy_conf *pc = &lb->pc;
	proxy_conf_defaults(pc, conf->http.max_header_size); /* X-Forwarded-*: the edge's own */
	pc->servers = lb->pxs;
	pc->nservers = lb->nservers;
	pc->timeout_connect = conf->timeout_connect;
	pc->timeout_server = conf->timeout_server;
	pc->timeout_pool = conf->timeout_server_keep_alive;
	pc->timeout_queue = conf->timeout_queue;
	pc->retries = (unsigned)conf->retries;
	pc->retry_on = conf->retry_on;
	pc->source = d->check_only ? NULL : setup_source(lb);
	pc->tls_headers = lb->hsts_header[0] ? lb->hsts_header : NULL;
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
	lb_admin_start(lb, d->prev ? d->prev->data : NULL);
	lb_limits_start(lb, &conf_of(d)->lb);
	lb_limits_metrics_define(lb, d->metrics);
	lb_metrics_define(lb, d->metrics);
	lb_vip_metrics_define(lb, d->metrics);
	if (lb->has_tls) {
		tls_metrics_define(&lb->tls, d->metrics, METRIC_LB);
		lb_tickets_apply(lb);
	}
	return 0;
}

static int lb_worker_init(struct worker *w, char *err, size_t errlen)
{
	struct lb *lb = w->d->data;
	struct lb_worker *lw = xcalloc(1, sizeof(*lw));
	w->data = lw;
	lw->lb = lb;
	proxy_worker_init(&lw->pw, &lb->pc, w);
	httpd_server_init(&lw->http, w, w->d->http, lb_handler, lw);
	httpd_server_use_metrics(&lw->http, w->d->metrics, &lb->hm);
	lw->http.log_line = lb_log_line;
	lb_limits_attach(lb, &lw->http);
	if (httpd_server_listen(&lw->http, &lb->listen, 0, err, errlen) < 0 ||
	    (lb->vip.has_listen &&
	     httpd_server_listen(&lw->http, &lb->vip.listen, NET_FREEBIND, err, errlen) < 0))
		return -1;
	if (lb->has_tls) {
		if (tls_worker_init(&lw->tls, &lb->tls, w, err, errlen) < 0)
			return -1;
		httpd_server_init(&lw->https, w, w->d->http, lb_handler, lw);
		httpd_server_use_metrics(&lw->https, w->d->metrics, &lb->hm);
		lw->https.log_line = lb_log_line;
		lb_limits_attach(lb, &lw->https);
		lw->https.tls = &lw->tls;
		lw->https.extra_headers = lb->hsts_header[0] ? lb->hsts_header : NULL;
		if (httpd_server_listen(&lw->https, &lb->tls_listen, 0, err, errlen) < 0 ||
		    (lb->vip.has_tls_listen && httpd_server_listen(&lw->https, &lb->vip.tls_listen,
		                                                   NET_FREEBIND, err, errlen) < 0))
			return -1;
	}
	httpd_server_init(&lw->admin, w, NULL, admin_handler, lw);
	if (lb->has_admin && httpd_server_listen(&lw->admin, &lb->admin, 0, err, errlen) < 0)
		return -1;
	if (w->id == 0) {
		lb_checks_start(lb, w);
		lb_monitor_start(lb, w);
		lb_tickets_start(lb, w);
		lb_vip_start(lb, w);
		lw->rt = lb_runtime_start(lb, w);
	}
	return 0;
}

static void lb_worker_stop(struct worker *w)
{
	struct lb_worker *lw = w->data;
	if (w->id == 0) {
		lb_checks_stop(lw->lb);
		lb_monitor_stop(lw->lb);
		lb_tickets_stop(lw->lb);
		lb_vip_stop(lw->lb);
		lb_runtime_stop(lw->rt);
	}
	httpd_server_stop(&lw->http);
	httpd_server_stop(&lw->https);
	httpd_server_stop(&lw->admin);
	proxy_worker_close_idle(&lw->pw);
}

static void lb_worker_free(struct worker *w)
{
	struct lb_worker *lw = w->data;
	if (lw == NULL)
		return;
	if (w->id == 0) {
		lb_checks_stop(lw->lb);
		lb_monitor_stop(lw->lb);
		lb_tickets_stop(lw->lb);
		lb_vip_stop(lw->lb);
		lb_runtime_free(lw->rt);
	}
	httpd_server_free(&lw->http);
	httpd_server_free(&lw->https);
	httpd_server_free(&lw->admin);
	tls_worker_free(&lw->tls);
	proxy_worker_free(&lw->pw);
	free(lw);
	w->data = NULL;
}

static void lb_finish(struct daemon *d)
{
	struct lb *lb = d->data;
	if (lb == NULL)
		return;
	if (d->prev && d->prev->data && !d->check_only)
		lb_admin_abandon(d->prev->data); /* this generation never ran: prev goes on */
	lb_limits_free(lb);
	lb_balance_free(&lb->bal);
	tls_site_free(&lb->tls);
	lb_tickets_free(lb);
	free(lb->crl);
	free(lb->pc.workers);
	lb_monitor_free(lb);
	free(lb->check_msg);
	for (unsigned i = 0; i < lb->nservers; i++)
		free(lb->servers[i].check);
	free(lb->servers);
	free(lb->pxs);
	free(lb);
	d->data = NULL;
}

static const struct daemon_def lb_def = {
	.name = "tristack-lb",
	.role = ROLE_LB,
	.conf = &conf_daemon_ops,
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
