/* main.c - tristack: up, down, status, logs. */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "conf/names.h"
#include "core/log.h"
#include "ctl.h"

#define UP_DEADLINE_MS 15000
#define STOP_GRACE_MS  12000

static void usage(FILE *out)
{
	fprintf(
	    out,
	    "usage: tristack [-c FILE] [--state DIR] COMMAND\n"
	    "  up                start every daemon of the stack, wait until each answers,\n"
	    "                    and leave a supervisor that restarts what dies\n"
	    "                    (on a running stack: starts what the file adds, drains and\n"
	    "                    stops what it removed, reloads the rest)\n"
	    "  reload            every running daemon takes the stack file again (SIGHUP;\n"
	    "                    each one's answer read from its log)\n"
	    "  down              stop them all (graceful, then forced after %ds)\n"
	    "  status            each daemon: host, pid, state (restarts), requests/s,\n"
	    "                    replica lag, address, health (--json: the same as JSON)\n"
	    "  logs HOST [ROLE]  print a daemon's log (ROLE: lb, dns, web, app, db,\n"
	    "                    prometheus, exporter, forward, vrrp, vrrp-check);\n"
	    "                    logs supervisor: what was restarted, and when\n"
	    "  promote HOST      make HOST's database the primary (planned failover)\n"
	    "  rebuild HOST      reseed HOST's database from the primary (mariabackup), "
	    "replicating\n"
	    "  exec HOST CMD...  run a command on a host (isolated mode; HOST may be client)\n"
	    "  firewall show [HOST]  the nftables rules of each host\n"
	    "  keepalived show HOST  keepalived's configuration on an LB host ([site] vip)\n"
	    "  poweroff HOST     isolated mode: cut a host as a power failure would (its\n"
	    "                    processes killed, link down, left down); poweron HOST\n"
	    "                    brings it back as a rebooted host\n"
	    "  bundle HOST [-o FILE]  HOST's tarball for a Debian 12 server (docs/deploy.md)\n"
	    "  tickets rotate    rotate the LBs' session-ticket keys now (docs/deploy.md)\n"
	    "  upgrade           replace every daemon by the binaries in build/bin, one host\n"
	    "                    at a time: web servers drained first, the LBs' listening\n"
	    "                    sockets handed over (no connection refused)\n"
	    "  certs renew [--force]  the site's certificates from [lb] acme_directory (certbot)\n"
	    "  drain|ready|maint HOST, weight HOST N  a web server's state or weight on every LB\n"
	    "                    (the runtime API; --lb LB: that one only); servers: show them\n"
	    "  failover-monitor HOST, db-guard HOST  servers' automatic failover (systemd's)\n"
	    "options:\n"
	    "  -c, --conf FILE   stack file (default conf/foobar.conf)\n"
	    "      --state DIR   state folder (default: [site] state, var/)\n"
	    "      --isolated    up: every host its own network namespace (root)\n"
	    "      --version\n",
	    STOP_GRACE_MS / 1000);
}

static void print_log_tail(const char *path, int lines)
{
	FILE *f = fopen(path, "r");
	if (f == NULL)
		return;
	char buf[64][512];
	int n = 0;
	while (fgets(buf[n % 64], sizeof(buf[0]), f))
		n++;
	fclose(f);
	int from = n > lines ? n - lines : 0;
	for (int i = from; i < n; i++)
		fprintf(stderr, "    %s", buf[i % 64]);
}

static const char *site_url(const struct ctl *c, char *out, size_t len)
{
	const struct conf_host *lb = conf_host_with_role(&c->cfg, ROLE_LB);
	char e[256];
	struct addr a;
	if (lb == NULL ||
	    conf_resolve_addr(&c->cfg, c->cfg.lb.http.listen, lb, &a, e, sizeof(e)) < 0) {
		snprintf(out, len, "(no load balancer in the stack)");
		return out;
	}
	char hp[128];
	addr_format(&a, hp, sizeof(hp));
	if (vrrp_on(c) && addr_port(&a) > 0) /* the pair: where clients come */
		snprintf(hp, sizeof(hp), "%s:%d", c->cfg.site.vip, addr_port(&a));
	snprintf(out, len, "http://%s/", hp);
	return out;
}

static int cmd_down(struct ctl *c);
static int mark_isolated(const struct ctl *c, bool on);

/* Where HTTPS answers, and how to trust the local CA; false: no HTTPS. */
static bool print_https(const struct ctl *c)
{
	const struct conf_host *lb = conf_host_with_role(&c->cfg, ROLE_LB);
	const char *tl = c->cfg.lb.tls_listen;
	char e[256];
	struct addr a;
	if (lb == NULL || tl == NULL || tl[0] == '\0' ||
	    conf_resolve_addr(&c->cfg, tl, lb, &a, e, sizeof(e)) < 0)
		return false;
	int port = addr_port(&a);
	char hp[128], portstr[16] = "";
	addr_format(&a, hp, sizeof(hp));
	if (port != 443)
		snprintf(portstr, sizeof(portstr), ":%d", port);
	printf("www.%s is up: https://www.%s%s/\n", c->cfg.site.domain, c->cfg.site.domain,
	       portstr);
	if (c->isolated) {
		/* the lab is reached from its client, by name, through its DNS */
		printf("  from this machine (forwarded to the LB): https://127.0.0.1:%d/ and the "
		       "dashboard http://127.0.0.1:%d/\n",
		       FORWARD_HTTPS_PORT, FORWARD_ADMIN_PORT);
		printf("  from the client host, through the lab's DNS:\n"
		       "  tristack%s%s exec client curl --cacert %s/tls/ca.crt https://www.%s%s/\n",
		       strcmp(c->conf_arg, "conf/foobar.conf") ? " -c " : "",
		       strcmp(c->conf_arg, "conf/foobar.conf") ? c->conf_arg : "", c->state,
		       c->cfg.site.domain, portstr);
	} else if (c->cfg.lb.ntls_certs == 0) {
		char ip[128];
		memcpy(ip, hp, sizeof(ip));
		char *colon = strrchr(ip, ':');
		if (colon)
			*colon = '\0';
		printf("  its certificate is from a local CA; trust %s/tls/ca.crt, as in\n"
		       "  curl --cacert %s/tls/ca.crt --resolve www.%s:%d:%s https://www.%s%s/\n",
		       c->state, c->state, c->cfg.site.domain, port, ip, c->cfg.site.domain,
		       portstr);
	}
	return true;
}

/* The order `up` starts units in: the databases (the apps need their users
 * and schema), then what the LBs send to (and the DNS), then the LBs and
 * what stands in front of them or watches them (the forwarder, keepalived
 * and its agent, monitoring), so that an LB's first health check finds its
 * servers listening. */
enum phase { PHASE_DB, PHASE_BACK, PHASE_FRONT };

static enum phase unit_phase(const struct unit *u)
{
	if (u->db)
		return PHASE_DB;
	bool back = u->mon == MON_NONE && !u->keepalived && !u->subcmd &&
	            (strcmp(u->role, "app") == 0 || strcmp(u->role, "web") == 0 ||
	             strcmp(u->role, "dns") == 0);
	return back ? PHASE_BACK : PHASE_FRONT;
}

/* Start the units of one phase and wait, with a deadline, until each
 * answers. */
static int start_phase(struct ctl *c, enum phase phase)
{
	char err[512];
	bool pending[64] = { false };
	unsigned left = 0;
	for (unsigned i = 0; i < c->nunits; i++) {
		struct unit *u = &c->units[i];
		if (unit_phase(u) != phase)
			continue;
		if (unit_running(u)) {
			printf("  %-7s %-15s already running (pid %d)\n", u->host->name, u->daemon,
			       (int)u->pid);
			continue;
		}
		if (unit_start(c, u, err, sizeof(err)) < 0) {
			fprintf(stderr, "tristack: %s on %s: %s\n", u->daemon, u->host->name, err);
			return -1;
		}
		pending[i] = true;
		left++;
	}
	uint64_t deadline = ctl_now_ms() + (phase == PHASE_DB ? 60000 : UP_DEADLINE_MS);
	char why[256] = "";
	while (left > 0) {
		for (unsigned i = 0; i < c->nunits; i++) {
			struct unit *u = &c->units[i];
			if (!pending[i])
				continue;
			if (unit_running(u) == 0) {
				fprintf(stderr, "tristack: %s on %s exited; its log (%s) ends:\n",
				        u->daemon, u->host->name, u->logfile);
				print_log_tail(u->logfile, 10);
				return -1;
			}
			if (unit_answers(c, u, why, sizeof(why))) {
				pending[i] = false;
				left--;
				printf("  %-7s %-15s up (pid %d)\n", u->host->name, u->daemon,
				       (int)u->pid);
			}
		}
		if (left == 0)
			break;
		if (ctl_now_ms() > deadline) {
			for (unsigned i = 0; i < c->nunits; i++)
				if (pending[i])
					fprintf(stderr, "tristack: %s on %s does not answer: %s\n",
					        c->units[i].daemon, c->units[i].host->name, why);
			return -1;
		}
		ctl_sleep_ms(50);
	}
	return 0;
}

/* As root: the account the daemons run as, the state folder's parts given
 * to it, and what it must read (the stack file, the state folder, the
 * document root, a zone file) checked before anything starts. */
int ctl_prepare_account(struct ctl *c, char *err, size_t errlen)
{
	if (acct_init(c, err, errlen) < 0 || acct_state(c, err, errlen) < 0)
		return -1;
	const struct conf *s = &c->cfg;
	const char *paths[4] = { c->conf, c->state };
	int modes[4] = { R_OK, R_OK | X_OK };
	unsigned n = 2;
	if (conf_host_with_role(s, ROLE_WEB) && s->web.root && s->web.root[0]) {
		paths[n] = s->web.root;
		modes[n++] = R_OK | X_OK;
	}
	if (conf_host_with_role(s, ROLE_DNS) && s->dns.zone_file && s->dns.zone_file[0]) {
		paths[n] = s->dns.zone_file;
		modes[n++] = R_OK;
	}
	acct_plan_view(c, paths, n);
	return acct_check_reach(c, paths, modes, n, err, errlen);
}

/* Outside isolated mode every host's address must be this machine's
 * (loopback): a stack file for the lab or for real servers names addresses
 * nothing here has, and would fail late and half started. */
static int addresses_here(const struct ctl *c, char *err, size_t errlen)
{
	for (unsigned i = 0; i < c->cfg.nhosts; i++) {
		const struct conf_host *h = &c->cfg.hosts[i];
		struct sockaddr_storage ss = { 0 };
		struct sockaddr_in *v4 = (struct sockaddr_in *)&ss;
		struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&ss;
		socklen_t len;
		if (inet_pton(AF_INET, h->address, &v4->sin_addr) == 1) {
			v4->sin_family = AF_INET;
			len = sizeof(*v4);
		} else if (inet_pton(AF_INET6, h->address, &v6->sin6_addr) == 1) {
			v6->sin6_family = AF_INET6;
			len = sizeof(*v6);
		} else {
			continue; /* the stack file's own check names it */
		}
		int fd = socket(ss.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
		int rc = fd < 0 ? -1 : bind(fd, (struct sockaddr *)&ss, len);
		int e = errno;
		if (fd >= 0)
			close(fd);
		if (rc < 0 && e == EADDRNOTAVAIL) {
			snprintf(
			    err, errlen,
			    "%s's address %s is not on this machine: this stack file is for "
			    "isolated mode (tristack up --isolated, as root) or for real servers "
			    "(tristack bundle)",
			    h->name, h->address);
			return -1;
		}
	}
	return 0;
}

/* What up checks before it changes anything: -1 with what is wrong said. */
static int up_checks(struct ctl *c)
{
	char err[512];
	unsigned lbs = 0;
	for (unsigned i = 0; i < c->cfg.nhosts; i++)
		lbs += (c->cfg.hosts[i].roles & ROLE_LB) != 0;
	if (!c->isolated && vrrp_on(c) && lbs > 1) {
		fprintf(stderr,
		        "tristack: %u LB hosts share the floating address %s: that needs "
		        "isolated mode (up --isolated, as root) or real servers (tristack "
		        "bundle)\n",
		        lbs, c->cfg.site.vip);
		return -1;
	}
	if ((!c->isolated && addresses_here(c, err, sizeof(err)) < 0) ||
	    ctl_prepare_account(c, err, sizeof(err)) < 0) {
		fprintf(stderr, "tristack: %s\n", err);
		return -1;
	}
	return 0;
}

static int cmd_up(struct ctl *c)
{
	char err[512];
	if (up_checks(c) < 0)
		return 1;
	/* On a stack that runs, up makes it what the file says now
	 * (reconcile.c): it keeps serving throughout, and a failure leaves it
	 * running rather than taking it down. */
	bool was[ARRAY_SIZE(c->units)] = { false }, live = reconcile_leftovers(c) > 0;
	for (unsigned i = 0; i < c->nunits; i++)
		live |= unit_running(&c->units[i]) > 0;
	unsigned left = 0;
	if (live) {
		if (reconcile_check_leftovers(c) < 0)
			return 1; /* nothing changed yet */
		printf("  the stack runs: it is made what %s says now\n", c->conf_arg);
		/* it would start a leftover again; what runs is read after it */
		if (supervisor_stop(c) < 0)
			fprintf(stderr, "tristack: the supervisor would not stop: killed\n");
		for (unsigned i = 0; i < c->nunits; i++)
			was[i] = unit_running(&c->units[i]) > 0;
		left = reconcile_leftovers(c);
		if (reconcile_drain_leftovers(c) < 0)
			goto fail;
	}
	if (c->isolated) {
		if (lab_up(c, err, sizeof(err)) < 0) {
			fprintf(stderr, "tristack: isolated mode: %s\n", err);
			if (!live)
				return 1; /* lab_up undid what it made */
			goto fail;
		}
		if (mark_isolated(c, true) < 0)
			goto fail;
		power_reset(c);
		printf("  hosts are network namespaces %s* on %s (client %s)\n", c->ns_prefix,
		       c->subnet, c->client_address);
	}
	if (start_phase(c, PHASE_DB) < 0)
		goto fail;
	if (mdb_provision(c, err, sizeof(err)) < 0) {
		fprintf(stderr, "tristack: database: %s\n", err);
		goto fail;
	}
	bool renewed;
	if (certs_ensure(c, &renewed, err, sizeof(err)) < 0) {
		fprintf(stderr, "tristack: certificates: %s\n", err);
		goto fail;
	}
	if (tickets_ensure(c, err, sizeof(err)) < 0) {
		fprintf(stderr, "tristack: session-ticket keys: %s\n", err);
		goto fail;
	}
	if (acct_state(c, err, sizeof(err)) < 0) { /* the secrets and keys just made */
		fprintf(stderr, "tristack: %s\n", err);
		goto fail;
	}
	if (renewed)
		units_reload_lbs(c); /* a running LB takes the new certificates */
	/* monitoring turned off since the last up: what it ran goes */
	mon_stop_leftovers(c, STOP_GRACE_MS);
	if (mon_prepare(c, err, sizeof(err)) < 0 || acct_state(c, err, sizeof(err)) < 0) {
		fprintf(stderr, "tristack: monitoring: %s\n", err);
		goto fail;
	}
	if (vrrp_prepare(c, err, sizeof(err)) < 0) {
		fprintf(stderr, "tristack: keepalived: %s\n", err);
		goto fail;
	}
	if (start_phase(c, PHASE_BACK) < 0)
		goto fail;
	/* what ran already takes the file; then the leftovers go */
	if (live && (reconcile_reload(c, was, left > 0) < 0 ||
	             (left > 0 && reconcile_stop_leftovers(c) < 0)))
		goto fail;
	if (start_phase(c, PHASE_FRONT) < 0)
		goto fail;
	/* a fresh supervisor: what it had given up on is running again */
	supervisor_stop(c);
	if (supervisor_start(c, err, sizeof(err)) < 0) {
		fprintf(stderr, "tristack: supervisor: %s\n", err);
		goto fail;
	}
	char url[256];
	printf("\n");
	if (!print_https(c))
		printf("www.%s is up: %s\n", c->cfg.site.domain, site_url(c, url, sizeof(url)));
	else
		printf("http:    %s (redirects to HTTPS)\n", site_url(c, url, sizeof(url)));
	const struct conf_host *lb = conf_host_with_role(&c->cfg, ROLE_LB);
	if (lb && c->cfg.lb.http.admin[0]) {
		struct addr a;
		char hp[128];
		if (conf_resolve_addr(&c->cfg, c->cfg.lb.http.admin, lb, &a, err, sizeof(err)) ==
		    0) {
			addr_format(&a, hp, sizeof(hp));
			printf("dashboard: http://%s/   metrics: http://%s/metrics%s\n", hp, hp,
			       c->isolated ? " (from the client host or the [site] admin sources)"
			                   : "");
			if (vrrp_on(c))
				printf("the LB pair: tristack status shows which holds %s; "
				       "tristack keepalived show HOST\n",
				       c->cfg.site.vip);
		}
	}
	mon_print(c);
	printf("logs:    %s/log/   stop: tristack down\n", c->state);
	return 0;
fail:
	if (!live) {
		cmd_down(c);
		return 1;
	}
	fprintf(stderr, "tristack: the stack still runs; what was changed stays changed "
	                "(tristack status; tristack up again once the cause is fixed)\n");
	if (supervisor_start(c, err, sizeof(err)) < 0)
		fprintf(stderr, "tristack: supervisor: %s\n", err);
	return 1;
}

static int cmd_promote(struct ctl *c, int argc, char **argv)
{
	char err[512];
	if (argc != 1) {
		fprintf(stderr, "usage: tristack promote HOST\n");
		return 1;
	}
	/* the supervisor's failover monitor keeps off meanwhile (failover.c) */
	char mark[TS_PATH_MAX];
	snprintf(mark, sizeof(mark), "%s/" STATE_DB_PROMOTING, c->state);
	FILE *f = fopen(mark, "w");
	if (f)
		fclose(f);
	int rc = mdb_promote(c, argv[0], err, sizeof(err));
	unlink(mark);
	if (rc < 0) {
		fprintf(stderr, "tristack: promote %s: %s\n", argv[0], err);
		return 1;
	}
	return 0;
}

/* {state}/run/isolated says the stack runs in namespaces: every later
 * command (status, exec, down) finds them from it. */
static int mark_isolated(const struct ctl *c, bool on)
{
	char path[TS_PATH_MAX];
	snprintf(path, sizeof(path), "%s/run", c->state);
	mkdir(path, 0750);
	snprintf(path, sizeof(path), "%s/run/isolated", c->state);
	if (!on)
		return unlink(path) < 0 && errno != ENOENT ? -1 : 0;
	FILE *f = fopen(path, "w");
	if (f == NULL) {
		fprintf(stderr, "tristack: cannot write %s: %s\n", path, strerror(errno));
		return -1;
	}
	fprintf(f, "%s\n", c->ns_prefix);
	fclose(f);
	return 0;
}

static bool marked_isolated(const struct ctl *c)
{
	char path[TS_PATH_MAX];
	snprintf(path, sizeof(path), "%s/run/isolated", c->state);
	return access(path, F_OK) == 0;
}

static int cmd_down(struct ctl *c)
{
	int rc = 0;
	/* the supervisor first, or it would start again what we stop */
	pid_t sv = supervisor_running(c);
	if (sv && supervisor_stop(c) == 0)
		printf("  %-23s stopped (pid %d)\n", "supervisor", (int)sv);
	mon_stop_leftovers(c, STOP_GRACE_MS);
	if (reconcile_stop_leftovers(c) < 0) /* hosts the file dropped while up */
		rc = 1;
	/* Front first: the LB stops taking requests before what is behind it. */
	for (unsigned k = c->nunits; k-- > 0;) {
		struct unit *u = &c->units[k];
		if (unit_running(u) == 0) {
			unlink(u->pidfile);
			continue;
		}
		pid_t pid = u->pid;
		if (unit_stop(u, STOP_GRACE_MS) < 0) {
			fprintf(stderr, "tristack: %s on %s (pid %d) would not stop\n", u->daemon,
			        u->host->name, (int)pid);
			rc = 1;
		} else {
			printf("  %-7s %-15s stopped (pid %d)\n", u->host->name, u->daemon,
			       (int)pid);
		}
	}
	if (c->isolated && rc == 0) {
		lab_down(c);
		mark_isolated(c, false);
		printf("  the namespaces %s* are gone\n", c->ns_prefix);
	}
	return rc;
}

/* tristack exec HOST CMD...: run a command on a host (isolated mode). */
static int cmd_exec(struct ctl *c, int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: tristack exec HOST COMMAND [ARG...]\n");
		return 1;
	}
	if (!c->isolated || !lab_is_up(c)) {
		fprintf(stderr,
		        "tristack: exec needs the stack up in isolated mode (up --isolated)\n");
		return 1;
	}
	if (strcmp(argv[0], "client") != 0 && conf_host(&c->cfg, argv[0]) == NULL) {
		fprintf(stderr, "tristack: no host '%s' (the stack's hosts, or client)\n", argv[0]);
		return 1;
	}
	char ns[64];
	lab_ns(c, argv[0], ns, sizeof(ns));
	char **args = xcalloc((size_t)argc + 4, sizeof(*args));
	args[0] = "ip";
	args[1] = "netns";
	args[2] = "exec";
	args[3] = ns;
	for (int i = 1; i < argc; i++)
		args[3 + i] = argv[i];
	fflush(stdout);
	execvp("ip", args);
	fprintf(stderr, "tristack: cannot run ip: %s\n", strerror(errno));
	free(args);
	return 127;
}

/* tristack firewall show [HOST]: the rules each host gets. */
static int cmd_firewall(struct ctl *c, int argc, char **argv)
{
	if (argc < 1 || strcmp(argv[0], "show") != 0 || argc > 2) {
		fprintf(stderr, "usage: tristack firewall show [HOST]\n");
		return 1;
	}
	if (!c->client_address[0]) {
		char err[256];
		if (lab_plan(c, err, sizeof(err)) < 0)
			c->client_address[0] = '\0'; /* loopback stack: rules as they would be */
	}
	char *rules = xmalloc(65536);
	int rc = 0, shown = 0;
	for (unsigned i = 0; i <= c->cfg.nhosts; i++) {
		const struct conf_host *h = i < c->cfg.nhosts ? &c->cfg.hosts[i] : NULL;
		const char *name = h ? h->name : "client";
		if (argc == 2 && strcmp(argv[1], name) != 0)
			continue;
		shown++;
		if (fw_render(c, h, rules, 65536) < 0) {
			fprintf(stderr, "tristack: firewall of %s: %s\n", name, rules);
			rc = 1;
			continue;
		}
		printf("%s%s", shown > 1 ? "\n" : "", rules);
	}
	free(rules);
	if (shown == 0) {
		fprintf(stderr, "tristack: no host '%s'\n", argv[1]);
		return 1;
	}
	return rc;
}

/* tristack keepalived show HOST: keepalived's configuration of an LB host,
 * as the lab runs it. */
static int cmd_keepalived(struct ctl *c, int argc, char **argv)
{
	if (argc != 2 || strcmp(argv[0], "show") != 0) {
		fprintf(stderr, "usage: tristack keepalived show HOST\n");
		return 1;
	}
	const struct conf_host *h = conf_host(&c->cfg, argv[1]);
	if (h == NULL || !(h->roles & ROLE_LB)) {
		fprintf(stderr, "tristack: '%s' is not an LB host of %s\n", argv[1], c->conf);
		return 1;
	}
	if (!vrrp_on(c)) {
		fprintf(stderr,
		        "tristack: %s has no floating address ([site] vip): no keepalived\n",
		        c->conf);
		return 1;
	}
	struct vrrp_paths p;
	char text[8192];
	vrrp_lab_paths(c, h, &p);
	if (vrrp_render(&c->cfg, h, &p, text, sizeof(text)) < 0) {
		fprintf(stderr, "tristack: keepalived.conf of %s: too long\n", h->name);
		return 1;
	}
	fputs(text, stdout);
	return 0;
}

static int cmd_logs(struct ctl *c, int argc, char **argv)
{
	if (argc < 1) {
		fprintf(stderr, "usage: tristack logs HOST [ROLE]\n");
		return 1;
	}
	int shown = 0;
	if (strcmp(argv[0], "supervisor") == 0) {
		char path[TS_PATH_MAX], line[4096];
		snprintf(path, sizeof(path), "%s/log/supervisor.log", c->state);
		FILE *f = fopen(path, "r");
		if (f == NULL) {
			fprintf(stderr, "tristack: no supervisor log (%s)\n", path);
			return 1;
		}
		printf("==> %s <==\n", path);
		while (fgets(line, sizeof(line), f))
			fputs(line, stdout);
		fclose(f);
		return 0;
	}
	for (unsigned i = 0; i < c->nunits; i++) {
		struct unit *u = &c->units[i];
		if (strcmp(u->host->name, argv[0]) != 0)
			continue;
		if (argc > 1 && strcmp(u->role, argv[1]) != 0 && strcmp(u->daemon, argv[1]) != 0)
			continue;
		FILE *f = fopen(u->logfile, "r");
		if (f == NULL)
			continue;
		printf("==> %s <==\n", u->logfile);
		char line[4096];
		while (fgets(line, sizeof(line), f))
			fputs(line, stdout);
		fclose(f);
		shown++;
	}
	if (!shown) {
		fprintf(stderr, "tristack: no log for %s%s%s\n", argv[0], argc > 1 ? " " : "",
		        argc > 1 ? argv[1] : "");
		return 1;
	}
	return 0;
}

static int abspath(const char *in, char *out, size_t len)
{
	if (in[0] == '/') {
		snprintf(out, len, "%s", in);
		return 0;
	}
	char cwd[PATH_MAX];
	if (getcwd(cwd, sizeof(cwd)) == NULL)
		return -1;
	int n = snprintf(out, len, "%s/%s", cwd, in);
	return n < 0 || (size_t)n >= len ? -1 : 0;
}

/* The daemons are this binary's neighbours in build/bin; build/bin/../..
 * is the checkout, where db/migrations is. */
static int find_bindir(struct ctl *c)
{
	ssize_t n = readlink("/proc/self/exe", c->bindir, sizeof(c->bindir) - 1);
	if (n <= 0) {
		fprintf(stderr, "tristack: cannot find its own binary: %s\n", strerror(errno));
		return -1;
	}
	c->bindir[n] = '\0';
	*strrchr(c->bindir, '/') = '\0';
	char up2[TS_PATH_MAX];
	snprintf(up2, sizeof(up2), "%s/../..", c->bindir);
	if (realpath(up2, c->root) == NULL)
		snprintf(c->root, sizeof(c->root), ".");
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "conf", required_argument, NULL, 'c' }, { "state", required_argument, NULL, 'S' },
		{ "isolated", no_argument, NULL, 'I' },   { "version", no_argument, NULL, 'V' },
		{ "help", no_argument, NULL, 'h' },       { NULL, 0, NULL, 0 },
	};
	const char *conf = "conf/foobar.conf", *state = NULL;
	bool isolated = false;
	int ch;
	log_init("tristack", LL_WARN);
	while ((ch = getopt_long(argc, argv, "+c:h", opts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			conf = optarg;
			break;
		case 'S':
			state = optarg;
			break;
		case 'I':
			isolated = true;
			break;
		case 'V':
			printf("tristack %s\n", TS_VERSION);
			return 0;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 1;
		}
	}
	/* `tristack up --isolated`: the option may follow the command too */
	if (optind < argc && optind + 1 < argc && strcmp(argv[optind + 1], "--isolated") == 0) {
		isolated = true;
		memmove(&argv[optind + 1], &argv[optind + 2],
		        (size_t)(argc - optind - 2) * sizeof(*argv));
		argc--;
	}
	if (optind >= argc) {
		usage(stderr);
		return 1;
	}
	const char *cmd = argv[optind];
	static struct ctl c;
	c.conf_arg = conf;
	char err[512];
	if (abspath(conf, c.conf, sizeof(c.conf)) < 0 ||
	    conf_load(&c.cfg, c.conf, err, sizeof(err)) < 0) {
		fprintf(stderr, "tristack: %s\n", err);
		return 1;
	}
	abspath(state ? state : c.cfg.site.state, c.state, sizeof(c.state));
	if (find_bindir(&c) < 0)
		return 1;
	c.isolated = isolated || marked_isolated(&c);
	if (c.isolated && lab_plan(&c, err, sizeof(err)) < 0) {
		fprintf(stderr, "tristack: %s\n", err);
		return 1;
	}
	/* after the mode: [monitoring] enabled = auto depends on it */
	if (ctl_units(&c, err, sizeof(err)) < 0) {
		fprintf(stderr, "tristack: %s\n", err);
		return 1;
	}
	signal(SIGPIPE, SIG_IGN);
	setvbuf(stdout, NULL, _IOLBF, 0); /* progress, line by line, into a pipe or a log too */
	int rc;
	if (strcmp(cmd, "up") == 0)
		rc = cmd_up(&c);
	else if (strcmp(cmd, "reload") == 0)
		rc = cmd_reload(&c, argc - optind - 1, argv + optind + 1);
	else if (strcmp(cmd, "down") == 0)
		rc = cmd_down(&c);
	else if (strcmp(cmd, "status") == 0)
		rc = cmd_status(&c, argc - optind - 1, argv + optind + 1);
	else if (strcmp(cmd, "logs") == 0)
		rc = cmd_logs(&c, argc - optind - 1, argv + optind + 1);
	else if (strcmp(cmd, "promote") == 0)
		rc = cmd_promote(&c, argc - optind - 1, argv + optind + 1);
	else if (strcmp(cmd, "rebuild") == 0)
		rc = cmd_rebuild(&c, argc - optind - 1, argv + optind + 1);
	else if (strcmp(cmd, "exec") == 0)
		rc = cmd_exec(&c, argc - optind - 1, argv + optind + 1);
	else if (strcmp(cmd, "firewall") == 0)
		rc = cmd_firewall(&c, argc - optind - 1, argv + optind + 1);
	else if (strcmp(cmd, "forward") == 0)
		rc = cmd_forward(&c); /* the supervisor's unit, not a user's command */
	else if (strcmp(cmd, "poweroff") == 0)
		rc = cmd_poweroff(&c, argc - optind - 1, argv + optind + 1);
	else if (strcmp(cmd, "poweron") == 0)
		rc = cmd_poweron(&c, argc - optind - 1, argv + optind + 1);
	else if (strcmp(cmd, "keepalived") == 0)
		rc = cmd_keepalived(&c, argc - optind - 1, argv + optind + 1);
	else if (strcmp(cmd, "vrrp-check") == 0) /* the supervisor's unit */
		rc = cmd_vrrp_check(&c, argc - optind - 1, argv + optind + 1);
	else if (strcmp(cmd, "failover-monitor") == 0) /* servers' units (docs/deploy.md) */
		rc = cmd_failover_monitor(&c, argc - optind - 1, argv + optind + 1);
	else if (strcmp(cmd, "db-guard") == 0)
		rc = cmd_db_guard(&c, argc - optind - 1, argv + optind + 1);
	else if (strcmp(cmd, "bundle") == 0)
		rc = cmd_bundle(&c, argc - optind - 1, argv + optind + 1);
	else if (runtime_command(cmd))
		rc = cmd_runtime(&c, cmd, argc - optind - 1, argv + optind + 1);
	else if (strcmp(cmd, "upgrade") == 0)
		rc = cmd_upgrade(&c, argc - optind - 1, argv + optind + 1);
	else if (strcmp(cmd, "tickets") == 0)
		rc = cmd_tickets(&c, argc - optind - 1, argv + optind + 1);
	else if (strcmp(cmd, "certs") == 0)
		rc = cmd_certs(&c, argc - optind - 1, argv + optind + 1);
	else {
		fprintf(stderr, "tristack: unknown command '%s'\n", cmd);
		usage(stderr);
		rc = 1;
	}
	conf_free(&c.cfg);
	return rc;
}
