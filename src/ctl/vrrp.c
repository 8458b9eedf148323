/* vrrp.c - the floating address ([site] vip): keepalived on every LB host,
 * and `tristack vrrp-check HOST`, the agent beside it.
 *
 * keepalived (Debian's) speaks VRRP (version 3, unicast to the other LB
 * hosts: the firewall names them) and puts the address on the holder's
 * interface; the LBs and DNS servers of both hosts already listen on it
 * (IP_FREEBIND), so whichever holds it answers at once. It runs as the
 * service account, keeping only CAP_NET_ADMIN, CAP_NET_RAW and
 * CAP_NET_BROADCAST: no script of keepalived's runs (as a user other than
 * root it could not switch to the script user), so
 *
 *   - the health of the local tristack-lb reaches keepalived through a
 *     track_file: the agent checks the LB's admin /healthz every
 *     check_interval and writes 1 there after check_fall failures in a row
 *     (keepalived goes to FAULT and the address moves), 0 after check_rise
 *     good ones; a hung LB (SIGSTOP) fails by timeout like a dead one;
 *   - keepalived's transitions reach the agent through its notify_fifo:
 *     the agent logs each one and keeps {dir}/HOST.state (state,
 *     transitions, since) for `tristack status`.
 *
 * Priorities: [vrrp] priority for the first LB host of the stack file, 10
 * less for each next one; with preempt off (the default) every instance
 * starts BACKUP with nopreempt, so a host coming back never takes the
 * address from the one holding it. Files, in {state}/vrrp/ (the account's):
 * HOST.conf (keepalived's, `tristack keepalived show HOST`), HOST.check,
 * HOST.fifo, HOST.state, keepalived's pid files.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "conf/names.h"
#include "ctl.h"

#define KEEPALIVED "/usr/sbin/keepalived"
#define VRRP_NAME  "tristack" /* the vrrp_instance's and track_file's name */

bool vrrp_on(const struct ctl *c)
{
	return c->cfg.site.vip && c->cfg.site.vip[0] && conf_host_with_role(&c->cfg, ROLE_LB);
}

void vrrp_paths(const char *dir, const char *conf_dir, const char *host, struct vrrp_paths *p)
{
	snprintf(p->dir, sizeof(p->dir), "%s", dir);
	snprintf(p->conf, sizeof(p->conf), "%s/%s.conf", conf_dir, host);
	snprintf(p->check, sizeof(p->check), "%s/%s.check", dir, host);
	snprintf(p->fifo, sizeof(p->fifo), "%s/%s.fifo", dir, host);
	snprintf(p->state, sizeof(p->state), "%s/%s.state", dir, host);
	snprintf(p->pid, sizeof(p->pid), "%s/%s.keepalived.pid", dir, host);
	snprintf(p->vrrp_pid, sizeof(p->vrrp_pid), "%s/%s.vrrp.pid", dir, host);
}

void vrrp_lab_paths(const struct ctl *c, const struct conf_host *h, struct vrrp_paths *p)
{
	char dir[TS_PATH_MAX], conf_dir[TS_PATH_MAX];
	snprintf(dir, sizeof(dir), "%s/" STATE_VRRP, c->state);
	snprintf(conf_dir, sizeof(conf_dir), "%s/" STATE_KEEPALIVED, c->state);
	vrrp_paths(dir, conf_dir, h->name, p);
}

/* The host's priority: the first LB host's is [vrrp] priority, each next
 * one's 10 less (never under 1). */
static int priority_of(const struct conf *s, const struct conf_host *h)
{
	int64_t p = s->vrrp.priority;
	for (unsigned i = 0; i < s->nhosts && &s->hosts[i] != h; i++)
		if (s->hosts[i].roles & ROLE_LB)
			p -= 10;
	return p < 1 ? 1 : (int)p;
}

static void put(char **w, char *end, const char *fmt, ...) TS_PRINTF(3, 4);

static void put(char **w, char *end, const char *fmt, ...)
{
	if (*w >= end)
		return;
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(*w, (size_t)(end - *w), fmt, ap);
	va_end(ap);
	*w = n < 0 || n >= end - *w ? end : *w + n;
}

int vrrp_render(const struct conf *s, const struct conf_host *h, const struct vrrp_paths *p,
                char *out, size_t len)
{
	const struct vrrp_conf *v = &s->vrrp;
	char *w = out, *end = out + len;
	put(&w, end,
	    "# keepalived.conf of %s: the floating address %s (www.%s), shared by the LB\n"
	    "# hosts over VRRP. Made by tristack from %s ([site] vip, [vrrp]).\n"
	    "# No script runs: the local tristack-lb's health comes through the track\n"
	    "# file (tristack vrrp-check writes it), transitions go out through the fifo.\n\n",
	    h->name, s->site.vip, s->site.domain, s->path);
	put(&w, end,
	    "global_defs {\n\trouter_id %s\n\tnotify_fifo %s\n\tvrrp_garp_master_repeat 3\n"
	    "\tvrrp_garp_master_refresh 10\n}\n\n",
	    h->name, p->fifo);
	put(&w, end,
	    "# 0: tristack-lb answers; anything else: it does not, and this host gives the\n"
	    "# address up (FAULT). Missing (the agent not started yet): not eligible.\n"
	    "track_file %s_lb {\n\tfile %s\n\tweight 0\n\tinit_file 1\n}\n\n",
	    VRRP_NAME, p->check);
	put(&w, end,
	    "vrrp_instance %s {\n\tstate BACKUP\n\tinterface %s\n\tvirtual_router_id %lld\n"
	    "\tversion 3\n\tpriority %d\n\tadvert_int %llu.%02llu\n",
	    VRRP_NAME, v->interface, (long long)v->router_id, priority_of(s, h),
	    (unsigned long long)(v->advert_int / 1000),
	    (unsigned long long)(v->advert_int % 1000 / 10));
	if (!v->preempt)
		put(&w, end, "\tnopreempt\n");
	else if (v->preempt_delay)
		put(&w, end, "\tpreempt_delay %llu\n",
		    (unsigned long long)((v->preempt_delay + 999) / 1000));
	put(&w, end, "\tunicast_src_ip %s\n\tunicast_peer {\n", h->address);
	for (unsigned i = 0; i < s->nhosts; i++)
		if ((s->hosts[i].roles & ROLE_LB) && &s->hosts[i] != h)
			put(&w, end, "\t\t%s\n", s->hosts[i].address);
	put(&w, end, "\t}\n\tvirtual_ipaddress {\n\t\t%s/32 dev %s\n\t}\n", s->site.vip,
	    v->interface);
	put(&w, end, "\ttrack_file {\n\t\t%s_lb\n\t}\n}\n", VRRP_NAME);
	return w >= end ? -1 : 0;
}

int vrrp_units(struct ctl *c, char *err, size_t errlen)
{
	if (!vrrp_on(c) || !c->isolated)
		return 0; /* loopback: the address is this machine's anyway */
	for (unsigned i = 0; i < c->cfg.nhosts; i++) {
		const struct conf_host *h = &c->cfg.hosts[i];
		if (!(h->roles & ROLE_LB))
			continue;
		/* the agent first: keepalived finds its check file written */
		struct unit *u = unit_new(c, h, "tristack", "vrrp-check", err, errlen);
		if (u == NULL)
			return -1;
		u->subcmd = "vrrp-check";
		u->probe_kind = PROBE_VRRP;
		u = unit_new(c, h, "keepalived", "vrrp", err, errlen);
		if (u == NULL)
			return -1;
		u->keepalived = true;
		u->exe = KEEPALIVED;
		u->probe_kind = PROBE_VRRP;
	}
	return 0;
}

int vrrp_argv(struct ctl *c, struct unit *u, char *store, size_t storelen, char **argv,
              unsigned max)
{
	struct vrrp_paths p;
	vrrp_lab_paths(c, u->host, &p);
	struct argv_buf b = { argv, 0, max, store, store + storelen, false };
	argv_add(&b, "keepalived");
	argv_add(&b, "--dont-fork");
	argv_add(&b, "--log-console");
	argv_add(&b, "--log-detail");
	argv_add(&b, "--vrrp");
	argv_add(&b, "--use-file=%s", p.conf);
	argv_add(&b, "--pid=%s", p.pid);
	argv_add(&b, "--vrrp_pid=%s", p.vrrp_pid);
	return b.full ? -1 : 0;
}

/* keepalived.conf names the state folder's files unquoted: a path it would
 * split or read as a comment is refused. */
static bool safe_path(const char *p)
{
	return strspn(p, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789/._-+") ==
	       strlen(p);
}

int vrrp_prepare(struct ctl *c, char *err, size_t errlen)
{
	if (!vrrp_on(c) || !c->isolated)
		return 0;
	if (!safe_path(c->state)) {
		snprintf(err, errlen,
		         "the state folder %s: keepalived's configuration names files in it, so "
		         "it may hold only letters, digits and / . _ - +",
		         c->state);
		return -1;
	}
	/* the agent's and keepalived's files: the account's; keepalived's
	 * configuration: root's, which the account (keepalived itself) reads
	 * but cannot change */
	char dir[TS_PATH_MAX], conf_dir[TS_PATH_MAX];
	snprintf(dir, sizeof(dir), "%s/" STATE_VRRP, c->state);
	snprintf(conf_dir, sizeof(conf_dir), "%s/" STATE_KEEPALIVED, c->state);
	if (acct_give_dir(c, dir, err, errlen) < 0)
		return -1;
	if ((mkdir(conf_dir, 0755) < 0 && errno != EEXIST) ||
	    (geteuid() == 0 && chown(conf_dir, 0, 0) < 0) || chmod(conf_dir, 0755) < 0) {
		snprintf(err, errlen, "cannot make %s: %s", conf_dir, strerror(errno));
		return -1;
	}
	for (unsigned i = 0; i < c->cfg.nhosts; i++) {
		const struct conf_host *h = &c->cfg.hosts[i];
		if (!(h->roles & ROLE_LB))
			continue;
		struct vrrp_paths p;
		vrrp_lab_paths(c, h, &p);
		/* a check file an earlier run left says nothing of this one */
		bool agent_runs = false;
		for (unsigned k = 0; k < c->nunits; k++)
			if (c->units[k].host == h && c->units[k].subcmd &&
			    strcmp(c->units[k].subcmd, "vrrp-check") == 0)
				agent_runs = unit_running(&c->units[k]) != 0;
		if (!agent_runs)
			unlink(p.check);
		char text[8192], tmp[TS_PATH_MAX + 8];
		if (vrrp_render(&c->cfg, h, &p, text, sizeof(text)) < 0) {
			snprintf(err, errlen, "keepalived.conf of %s: too long", h->name);
			return -1;
		}
		snprintf(tmp, sizeof(tmp), "%s.tmp", p.conf);
		unlink(tmp);
		int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
		ssize_t w = fd < 0 ? -1 : write(fd, text, strlen(text));
		if (fd < 0 || w != (ssize_t)strlen(text) || fchmod(fd, 0644) < 0 || close(fd) < 0 ||
		    rename(tmp, p.conf) < 0) {
			snprintf(err, errlen, "cannot write %s: %s", p.conf, strerror(errno));
			if (fd >= 0)
				unlink(tmp);
			return -1;
		}
	}
	return 0;
}

/* ---- what the agent leaves for status ---- */

int vrrp_read_state(const struct ctl *c, const struct conf_host *h, struct vrrp_state *st)
{
	struct vrrp_paths p;
	vrrp_lab_paths(c, h, &p);
	memset(st, 0, sizeof(*st));
	FILE *f = fopen(p.state, "r");
	if (f == NULL)
		return -1;
	char line[128];
	while (fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\n")] = '\0';
		if (strncmp(line, "state=", 6) == 0)
			snprintf(st->state, sizeof(st->state), "%.15s", line + 6);
		else if (strncmp(line, "transitions=", 12) == 0)
			st->transitions = strtoul(line + 12, NULL, 10);
		else if (strncmp(line, "since=", 6) == 0)
			st->since = (time_t)strtoll(line + 6, NULL, 10);
		else if (strncmp(line, "lb=", 3) == 0)
			snprintf(st->lb, sizeof(st->lb), "%.7s", line + 3);
	}
	fclose(f);
	return 0;
}

bool vrrp_holds(const struct ctl *c, const struct conf_host *h)
{
	struct addr a;
	char spec[64], e[128];
	snprintf(spec, sizeof(spec), "%s:0", c->cfg.site.vip);
	if (!c->isolated || addr_parse(spec, NULL, &a, e, sizeof(e)) < 0 ||
	    netns_enter(c, h->name) < 0)
		return false;
	bool here = net_addr_is_local(&a) == 1;
	netns_leave();
	return here;
}

bool vrrp_describe(const struct ctl *c, const struct unit *u, char *out, size_t len)
{
	struct vrrp_state st;
	if (vrrp_read_state(c, u->host, &st) < 0) {
		snprintf(out, len, "no word from the agent yet");
		return false;
	}
	if (!u->keepalived) {
		bool ok = strcmp(st.lb, "ok") == 0;
		snprintf(out, len, "%s",
		         ok ? "ok: tristack-lb answers" : "tristack-lb does not answer");
		return true; /* the agent is fine: it reports */
	}
	bool holds = vrrp_holds(c, u->host);
	if (strcmp(st.state, "MASTER") == 0 || strcmp(st.state, "BACKUP") == 0) {
		snprintf(out, len, "ok: %s%s", st.state,
		         holds ? ", holds the floating address" : "");
		return true;
	}
	snprintf(out, len, "%s%s", st.state[0] ? st.state : "starting",
	         strcmp(st.lb, "ok") ? " (tristack-lb does not answer)" : "");
	return false;
}

/* ---- tristack vrrp-check HOST: the agent ---- */

static volatile sig_atomic_t stopping;

static void on_term(int sig)
{
	(void)sig;
	stopping = 1;
}

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void agent_log(const char *host, const char *fmt, ...) TS_PRINTF(2, 3);

static void agent_log(const char *host, const char *fmt, ...)
{
	char when[32], msg[512];
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	struct tm tm;
	gmtime_r(&ts.tv_sec, &tm);
	size_t n = strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(when + n, sizeof(when) - n, ".%03ldZ", ts.tv_nsec / 1000000);
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	fprintf(stderr, "%s vrrp-check %s: %s\n", when, host, msg);
}

/* Write a small file whole: a reader never sees it half written. */
static void write_whole(const char *path, const char *text)
{
	char tmp[TS_PATH_MAX + 8];
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return;
	ssize_t w = write(fd, text, strlen(text));
	close(fd);
	if (w == (ssize_t)strlen(text))
		rename(tmp, path);
	else
		unlink(tmp);
}

struct agent {
	const char *host;
	struct vrrp_paths p;
	char state[16];
	unsigned long transitions;
	time_t since;
	bool lb_ok;
	bool skipping; /* the fifo gave a line too long: skip to its end */
};

static void agent_save(const struct agent *a)
{
	char text[256];
	snprintf(text, sizeof(text), "state=%s\ntransitions=%lu\nsince=%lld\nlb=%s\n",
	         a->state[0] ? a->state : "starting", a->transitions, (long long)a->since,
	         a->lb_ok ? "ok" : "down");
	write_whole(a->p.state, text);
}

/* Tell keepalived: 0, the LB answers; 1, it does not. Written in place (an
 * inotify watch on the file sees the write closed). */
static void agent_check(const struct agent *a, bool ok)
{
	int fd = open(a->p.check, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0) {
		agent_log(a->host, "cannot write %s: %s", a->p.check, strerror(errno));
		return;
	}
	ssize_t w = write(fd, ok ? "0\n" : "1\n", 2);
	(void)w;
	close(fd);
}

/* One line of keepalived's fifo: INSTANCE "tristack" MASTER 150 */
static void agent_event(struct agent *a, const char *line)
{
	char kind[16], name[64], state[16];
	if (sscanf(line, "%15s \"%63[^\"]\" %15s", kind, name, state) != 3 ||
	    strcmp(kind, "INSTANCE") != 0)
		return;
	if (strcmp(state, a->state) == 0)
		return;
	agent_log(a->host, "keepalived: %s -> %s%s", a->state[0] ? a->state : "(start)", state,
	          strcmp(state, "MASTER") == 0 ? " (this host holds the floating address)" : "");
	if (a->state[0])
		a->transitions++;
	snprintf(a->state, sizeof(a->state), "%s", state);
	a->since = time(NULL);
	agent_save(a);
}

static void agent_read_fifo(struct agent *a, int fd, char *buf, size_t *used, size_t cap)
{
	for (;;) {
		ssize_t n = read(fd, buf + *used, cap - 1 - *used);
		if (n <= 0)
			return;
		*used += (size_t)n;
		char *nl;
		while ((nl = memchr(buf, '\n', *used)) != NULL) {
			*nl = '\0';
			if (a->skipping) /* the tail of a line too long to be one of keepalived's */
				a->skipping = false;
			else if (strlen(buf) == (size_t)(nl - buf)) /* no NUL inside */
				agent_event(a, buf);
			size_t rest = *used - (size_t)(nl + 1 - buf);
			memmove(buf, nl + 1, rest);
			*used = rest;
		}
		if (*used == cap - 1) {
			*used = 0;
			a->skipping = true;
		}
	}
}

int cmd_vrrp_check(struct ctl *c, int argc, char **argv)
{
	const struct conf *s = &c->cfg;
	const struct conf_host *h = argc == 1 ? conf_host(s, argv[0]) : NULL;
	if (h == NULL || !(h->roles & ROLE_LB) || !vrrp_on(c)) {
		fprintf(stderr,
		        "tristack: vrrp-check HOST: an LB host of a stack with [site] vip\n");
		return 2;
	}
	struct addr lb;
	char e[256];
	if (s->lb.http.admin[0] == '\0' ||
	    conf_resolve_addr(s, s->lb.http.admin, h, &lb, e, sizeof(e)) < 0) {
		fprintf(stderr, "tristack: vrrp-check: the LB's admin listener ([lb] admin) is "
		                "where it is checked, and there is none\n");
		return 1;
	}
	struct agent a = { .host = h->name };
	vrrp_lab_paths(c, h, &a.p);
	/* the fifo keepalived writes its transitions to; opened read-write so
	 * that keepalived restarting never gives it an end of file */
	if (mkfifo(a.p.fifo, 0600) < 0 && errno != EEXIST) {
		fprintf(stderr, "tristack: vrrp-check: %s: %s\n", a.p.fifo, strerror(errno));
		return 1;
	}
	int fifo = open(a.p.fifo, O_RDWR | O_NONBLOCK | O_CLOEXEC);
	if (fifo < 0) {
		fprintf(stderr, "tristack: vrrp-check: %s: %s\n", a.p.fifo, strerror(errno));
		return 1;
	}
	struct sigaction sa = { .sa_handler = on_term };
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	/* An agent started again (it crashed, it was restarted) goes on from
	 * what it last told keepalived: writing 1 now would move the address
	 * off a healthy LB. A fresh start has no file (up removes a stale
	 * one): not eligible until the LB has answered check_rise times. */
	bool eligible = false;
	char was[8] = "";
	FILE *cf = fopen(a.p.check, "r");
	if (cf) {
		if (fgets(was, sizeof(was), cf) == NULL)
			was[0] = '\0';
		fclose(cf);
	}
	if (was[0] == '0')
		eligible = true;
	else
		agent_check(&a, false);
	struct vrrp_state prev;
	if (vrrp_read_state(c, h, &prev) == 0) {
		snprintf(a.state, sizeof(a.state), "%s",
		         strcmp(prev.state, "starting") ? prev.state : "");
		a.transitions = prev.transitions;
		a.since = prev.since;
	}
	a.lb_ok = eligible;
	agent_save(&a);
	agent_log(h->name, "checking tristack-lb at http://%s/healthz every %llu ms",
	          s->lb.http.admin, (unsigned long long)s->vrrp.check_interval);
	unsigned good = 0, bad = 0;
	char buf[1024];
	size_t used = 0;
	uint64_t next = now_ms();
	char body[128];
	while (!stopping) {
		uint64_t now = now_ms();
		if (now >= next) {
			next = now + s->vrrp.check_interval;
			/* http_get_status waits its timeout for the connect, then
			 * as long again for the answer: half each, so a hung LB
			 * fails a check within check_timeout */
			int half = (int)(s->vrrp.check_timeout + 1) / 2;
			int st =
			    http_get_status(&lb, h->address, "/healthz", half, body, sizeof(body));
			/* 503: it answers but sees no web server; so does the
			 * other LB then (the same servers): keep the address, and
			 * the DNS on it */
			bool ok = st == 200 || st == 503;
			good = ok ? good + 1 : 0;
			bad = ok ? 0 : bad + 1;
			if (!eligible && good >= (unsigned)s->vrrp.check_rise) {
				eligible = true;
				agent_check(&a, true);
				agent_log(h->name, "tristack-lb answers: eligible for the address");
			} else if (eligible && bad >= (unsigned)s->vrrp.check_fall) {
				eligible = false;
				agent_check(&a, false);
				agent_log(h->name,
				          "tristack-lb does not answer (%u checks): giving the "
				          "address up",
				          bad);
			}
			if (a.lb_ok != eligible) {
				a.lb_ok = eligible;
				agent_save(&a);
			}
		}
		now = now_ms();
		struct pollfd pf = { .fd = fifo, .events = POLLIN };
		int wait = next > now ? (int)(next - now) : 0;
		if (poll(&pf, 1, wait) > 0)
			agent_read_fifo(&a, fifo, buf, &used, sizeof(buf));
	}
	/* the check file stays as it is: the agent going away says nothing
	 * of the LB (systemd or the supervisor starts it again) */
	agent_log(h->name, "stopping");
	close(fifo);
	return 0;
}
