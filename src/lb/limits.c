/* limits.c - the LB's limits per client address put to work: the table
 * (ratelimit.c) handed from generation to generation, the accept and close
 * hooks that count connections, the check of each request, its 429, and
 * the metrics.
 *
 * The client address is the TCP peer: the LB speaks no PROXY protocol, so
 * an LB behind another proxy would see that proxy as its one client.
 */
#include <stdio.h>
#include <sys/random.h>

#include "lb.h"

/* The LB's limits are shared out over this many locks. */
#define RL_SHARDS 64

static const char *const limit_names[LB_LIMITED_KINDS] = { "req", "write", "conn" };

static bool limits_on(const struct lb_conf *conf)
{
	return conf->rate_limit.count || conf->rate_limit_write.count || conf->conn_limit;
}

int lb_limits_configure(struct lb *lb, const struct lb_conf *conf, char *err, size_t errlen)
{
	const struct lb_rate *r = &conf->rate_limit, *w = &conf->rate_limit_write;
	lb->limits = (struct lb_rl_limits){
		.req = lb_rl_rate_make(r->count, r->period_ms, r->burst),
		.write = lb_rl_rate_make(w->count, w->period_ms, w->burst),
		.conns = (unsigned)conf->conn_limit,
	};
	/* each open connection pins its address's entry: room for them all,
	 * and as many again for addresses between connections */
	if (limits_on(conf) && conf->rate_limit_table < 2 * conf->http.maxconn) {
		snprintf(err, errlen,
		         "%s: [lb] rate_limit_table (%lld) must be at least twice maxconn (%lld)",
		         lb->d->conf_path, (long long)conf->rate_limit_table,
		         (long long)conf->http.maxconn);
		return -1;
	}
	return 0;
}

/* The previous generation's table when it has the size asked for, so that
 * buckets and connection counts go on across the reload; else a new one. */
void lb_limits_start(struct lb *lb, const struct lb_conf *conf)
{
	if (!limits_on(conf))
		return;
	struct lb *old = lb->d->prev ? lb->d->prev->data : NULL;
	unsigned want = (unsigned)conf->rate_limit_table;
	if (old && old->rl && old->rl_size == want) {
		lb_rl_ref(old->rl);
		lb->rl = old->rl;
	} else {
		uint64_t seed = 0;
		if (getrandom(&seed, sizeof(seed), 0) != sizeof(seed))
			seed = lb_rl_now() ^ (uint64_t)(uintptr_t)lb;
		lb->rl = lb_rl_new(want, RL_SHARDS, seed);
		if (old && old->rl)
			log_warn("[lb] rate_limit_table changed: the limits start over");
	}
	lb->rl_size = want;
}

void lb_limits_free(struct lb *lb)
{
	lb_rl_unref(lb->rl);
	lb->rl = NULL;
}

static double rl_entries(void *arg)
{
	return lb_rl_entries(arg);
}

static double rl_evictions(void *arg)
{
	return (double)lb_rl_evictions(arg);
}

void lb_limits_metrics_define(struct lb *lb, struct metrics *m)
{
	char labels[32];
	for (unsigned i = 0; i < LB_LIMITED_KINDS; i++) {
		snprintf(labels, sizeof(labels), "limit=\"%s\"", limit_names[i]);
		int id =
		    metrics_counter(m, "tristack_lb_ratelimited_total",
		                    "Requests answered 429 (req, write) and connections refused "
		                    "(conn) by the limits per client address",
		                    labels);
		lb->m_limited[i] = metrics_slot(m, id);
	}
	if (lb->rl == NULL)
		return;
	metrics_gauge_fn(m, "tristack_lb_ratelimit_entries",
	                 "Client addresses the rate-limit table holds", NULL, rl_entries, lb->rl);
	metrics_counter_fn(m, "tristack_lb_ratelimit_evictions_total",
	                   "Addresses dropped from the full rate-limit table while still limited",
	                   NULL, rl_evictions, lb->rl);
}

static struct lb_rl_key peer_key(const struct http_session *s)
{
	return lb_rl_key_of((const struct sockaddr *)(const void *)&s->peer);
}

static void count_limited(struct http_session *s, enum lb_limited kind)
{
	struct lb_worker *lw = s->srv->data;
	metrics_add(s->srv->w->shard, lw->lb->m_limited[kind], 1);
}

static int admit(struct http_session *s)
{
	struct lb_worker *lw = s->srv->data;
	if (lb_rl_conn_open(lw->lb->rl, peer_key(s), &lw->lb->limits, lb_rl_now()) == LB_RL_OK)
		return 0;
	count_limited(s, LB_LIMITED_CONN);
	return -1;
}

static void closed(struct http_session *s)
{
	struct lb_worker *lw = s->srv->data;
	lb_rl_conn_close(lw->lb->rl, peer_key(s), lb_rl_now());
}

void lb_limits_attach(struct lb *lb, struct http_server *srv)
{
	if (lb->rl == NULL)
		return;
	srv->admit = admit;
	srv->closed = closed;
}

/* 429 with Retry-After in whole seconds (at least 1). A request whose body
 * is not read cannot be followed by another on the connection: it closes. */
static void too_many(struct http_session *s, uint64_t retry_ns)
{
	static const char body[] = "429 Too Many Requests\n";
	unsigned long long secs = (retry_ns + 999999999u) / 1000000000u;
	if (s->req->framing != HTTP_BODY_NONE)
		s->close_after = true;
	if (http_head_begin(s, 429) < 0 ||
	    http_head_addf(s, "Retry-After", "%llu", MAX(secs, 1ull)) < 0 ||
	    http_head_add(s, "Content-Type", "text/plain; charset=utf-8") < 0 ||
	    http_head_end(s, (int64_t)sizeof(body) - 1) < 0 ||
	    http_body(s, body, sizeof(body) - 1) < 0)
		http_error(s, 429, true);
}

static bool is_write(enum http_method m)
{
	return m != HTTP_GET && m != HTTP_HEAD && m != HTTP_OPTIONS;
}

bool lb_limits_refuse(struct lb *lb, struct http_session *s)
{
	if (lb->rl == NULL)
		return false;
	uint64_t retry = 0;
	enum lb_rl_verdict v = lb_rl_request(lb->rl, peer_key(s), &lb->limits,
	                                     is_write(s->req->method), lb_rl_now(), &retry);
	if (v != LB_RL_REQ && v != LB_RL_WRITE)
		return false;
	count_limited(s, v == LB_RL_WRITE ? LB_LIMITED_WRITE : LB_LIMITED_REQ);
	too_many(s, retry);
	return true;
}
