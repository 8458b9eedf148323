/* upgrade.c - `tristack upgrade`: every daemon of ours (tristack-web,
 * -app, -dns, -lb) replaced by the binary now in build/bin, one host at a
 * time, without a failed request:
 *
 *   1. the supervisor stops first, so that an old process's end is no
 *      crash to it and nothing it restarts races the upgrade;
 *   2. each host with a web server the LBs send to: the server is drained
 *      on every LB (the runtime API), its requests in flight finish (or
 *      DRAIN_MS passes), its tristack-app and tristack-web are replaced,
 *      and once every LB sees it UP again it is made ready;
 *   3. each DNS server is replaced;
 *   4. each LB hands its listening sockets over: the new tristack-lb is
 *      started with --takeover {state}/run/HOST.lb.sock, takes them (the
 *      very sockets, with their queues: no connection is refused), serves,
 *      and has the old one stop, which lets its requests finish;
 *   5. the supervisor starts again (from the new tristack binary) and
 *      adopts what the pid files now name.
 *
 * A replaced daemon other than the LB is started beside the old one
 * (SO_REUSEPORT lets both listen), and the old one gets SIGTERM (a
 * graceful stop) once the new one has started its workers: daemon.c starts
 * them only when every listener is open. The pid file names the new
 * process from its start; a new process that fails gives it back to the
 * old one, which went on serving, and the upgrade stops there.
 *
 * MariaDB, keepalived, Prometheus and the exporters are not ours to
 * upgrade; the isolated lab's forwarder and the vrrp-check agent (the
 * tristack binary) keep running as they are until the next `up`. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conf/names.h"
#include "ctl.h"

#define DRAIN_MS      30000 /* a drained server's requests in flight: this long at most */
#define START_MS      15000 /* a new process: its workers started, then answering */
#define CHECK_UP_MS   20000 /* every LB's checks see a replaced server UP again */
#define LB_OLD_MS     20000 /* an old LB's drain (its grace is 10 s) */
#define STOP_GRACE_MS 12000

/* A daemon of ours, which this command replaces. */
static bool ours(const struct unit *u)
{
	return !u->db && u->mon == MON_NONE && !u->keepalived && !u->subcmd &&
	       strncmp(u->daemon, "tristack-", 9) == 0;
}

static struct unit *unit_of(struct ctl *c, const struct conf_host *h, const char *role)
{
	for (unsigned i = 0; i < c->nunits; i++)
		if (c->units[i].host == h && strcmp(c->units[i].role, role) == 0 &&
		    ours(&c->units[i]))
			return &c->units[i];
	return NULL;
}

/* The [lb] server that is host h, or NULL. */
static const char *server_name(const struct ctl *c, const struct conf_host *h)
{
	for (unsigned i = 0; i < c->cfg.lb.nservers; i++)
		if (strcmp(c->cfg.lb.servers[i].name, h->name) == 0)
			return c->cfg.lb.servers[i].name;
	return NULL;
}

/* ---- replacing a process ---- */

/* Threads of pid (0: gone or unknown). */
static unsigned threads_of(pid_t pid)
{
	char path[64], line[256];
	unsigned n = 0;
	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	FILE *f = fopen(path, "r");
	if (f == NULL)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "Threads: %u", &n) == 1)
			break;
	fclose(f);
	return n;
}

/* A new process that failed: the pid file is the old one's again (which
 * went on serving). */
static int give_back(struct unit *u, pid_t old, pid_t pid, char *err, size_t errlen,
                     const char *why)
{
	if (!pid_gone(pid))
		pid_stop(pid, 2000);
	if (old > 0 && !pid_gone(old))
		write_pidfile(u->pidfile, old);
	snprintf(err, errlen, "the new %s (pid %d) %s; the old one (pid %d) goes on; see %.300s",
	         u->daemon, (int)pid, why, (int)old, u->logfile);
	return -1;
}

/* Until the new process answers where its unit is probed. */
static int wait_answers(const struct ctl *c, const struct unit *u, pid_t pid, char *err,
                        size_t errlen)
{
	char why[256] = "";
	for (uint64_t deadline = ctl_now_ms() + START_MS; !unit_answers(c, u, why, sizeof(why));) {
		if (pid_gone(pid) || ctl_now_ms() > deadline) {
			snprintf(err, errlen, "the new %s (pid %d) %s: %s", u->daemon, (int)pid,
			         pid_gone(pid) ? "exited" : "does not answer", why);
			return -1;
		}
		ctl_sleep_ms(50);
	}
	return 0;
}

/* Start the new process beside the old, which stops once the new one has
 * its workers (its listeners open). The new pid, or -1 with err. */
static pid_t replace(struct ctl *c, struct unit *u, char *err, size_t errlen)
{
	pid_t old = unit_running(u);
	if (unit_start(c, u, err, errlen) < 0) {
		if (old > 0)
			write_pidfile(u->pidfile, old);
		return -1;
	}
	pid_t pid = u->pid;
	for (uint64_t deadline = ctl_now_ms() + START_MS; threads_of(pid) < 2;) {
		if (pid_gone(pid))
			return give_back(u, old, pid, err, errlen, "exited at its start");
		if (ctl_now_ms() > deadline)
			return give_back(u, old, pid, err, errlen, "did not start its workers");
		ctl_sleep_ms(20);
	}
	if (old > 0 && pid_stop(old, STOP_GRACE_MS) < 0)
		fprintf(stderr, "tristack: %s on %s: the old process (pid %d) would not stop\n",
		        u->daemon, u->host->name, (int)old);
	return wait_answers(c, u, pid, err, errlen) < 0 ? -1 : pid;
}

/* The LB: the new process takes the old one's listening sockets, then has
 * it stop. The new pid, or -1 with err. */
static pid_t hand_over(struct ctl *c, struct unit *u, char *err, size_t errlen)
{
	char sock[TS_PATH_MAX];
	snprintf(sock, sizeof(sock), "%s/" STATE_RUN "/%s" STATE_LB_SOCKET_SUFFIX, c->state,
	         u->host->name);
	pid_t old = unit_running(u);
	u->takeover = sock;
	int r = unit_start(c, u, err, errlen);
	u->takeover = NULL;
	if (r < 0) {
		if (old > 0)
			write_pidfile(u->pidfile, old);
		return -1;
	}
	pid_t pid = u->pid;
	/* the old one stops when the new one serves, once its requests end */
	for (uint64_t deadline = ctl_now_ms() + LB_OLD_MS; old > 0 && !pid_gone(old);) {
		if (pid_gone(pid))
			return give_back(u, old, pid, err, errlen, "exited: no hand-over");
		if (ctl_now_ms() > deadline) {
			fprintf(stderr,
			        "tristack: %s on %s: the old process (pid %d) still runs "
			        "after %us: stopped\n",
			        u->daemon, u->host->name, (int)old, LB_OLD_MS / 1000);
			pid_stop(old, 2000);
			break;
		}
		ctl_sleep_ms(50);
	}
	return wait_answers(c, u, pid, err, errlen) < 0 ? -1 : pid;
}

static int replace_print(struct ctl *c, struct unit *u, bool lb)
{
	char err[1024];
	pid_t old = u->pid;
	pid_t pid = lb ? hand_over(c, u, err, sizeof(err)) : replace(c, u, err, sizeof(err));
	if (pid < 0) {
		fprintf(stderr, "tristack: upgrade: %s on %s: %s\n", u->daemon, u->host->name, err);
		return -1;
	}
	printf("  %-7s %-15s pid %d -> %d%s\n", u->host->name, u->daemon, (int)old, (int)pid,
	       lb ? " (listening sockets handed over)" : "");
	return 0;
}

/* A web host: drained, its app and web replaced, UP again, ready. */
static int upgrade_web_host(struct ctl *c, const struct conf_host *h)
{
	char err[1024];
	struct unit *app = unit_of(c, h, "app"), *web = unit_of(c, h, "web");
	const char *name = web && conf_host_with_role(&c->cfg, ROLE_LB) ? server_name(c, h) : NULL;
	struct runtime_seen s = { 0 };
	if (name && runtime_server_seen(c, name, &s, err, sizeof(err)) < 0)
		goto fail;
	/* one the operator drained or put in maintenance stays so */
	bool was_ready = name && strcmp(s.admin, "READY") == 0;
	if (was_ready) {
		if (runtime_server_set(c, name, "drain", err, sizeof(err)) < 0)
			goto fail;
		printf("  %-7s drained on the LBs\n", h->name);
		if (runtime_server_wait(c, name, true, DRAIN_MS, err, sizeof(err)) < 0)
			fprintf(stderr,
			        "tristack: upgrade: %s (its web server's stop lets them end)\n",
			        err);
	}
	if ((app && replace_print(c, app, false) < 0) || (web && replace_print(c, web, false) < 0))
		return -1; /* left drained: the operator looks first */
	if (name && runtime_server_wait(c, name, false, CHECK_UP_MS, err, sizeof(err)) < 0)
		goto fail;
	if (was_ready) {
		if (runtime_server_set(c, name, "ready", err, sizeof(err)) < 0)
			goto fail;
		printf("  %-7s ready on the LBs\n", h->name);
	}
	return 0;
fail:
	fprintf(stderr, "tristack: upgrade: %s: %s\n", h->name, err);
	return -1;
}

static int upgrade_all(struct ctl *c)
{
	for (unsigned i = 0; i < c->cfg.nhosts; i++) {
		const struct conf_host *h = &c->cfg.hosts[i];
		if ((h->roles & (ROLE_WEB | ROLE_APP)) && upgrade_web_host(c, h) < 0)
			return -1;
	}
	for (unsigned i = 0; i < c->cfg.nhosts; i++) {
		struct unit *dns = unit_of(c, &c->cfg.hosts[i], "dns");
		if (dns && replace_print(c, dns, false) < 0)
			return -1;
	}
	for (unsigned i = 0; i < c->cfg.nhosts; i++) {
		struct unit *lb = unit_of(c, &c->cfg.hosts[i], "lb");
		if (lb && replace_print(c, lb, true) < 0)
			return -1;
	}
	return 0;
}

int cmd_upgrade(struct ctl *c, int argc, char **argv)
{
	(void)argv;
	if (argc != 0) {
		fprintf(stderr, "usage: tristack upgrade\n");
		return 1;
	}
	/* a stack that runs whole: a missing daemon is `up`'s to start */
	for (unsigned i = 0; i < c->nunits; i++) {
		struct unit *u = &c->units[i];
		if (ours(u) && unit_running(u) == 0) {
			fprintf(stderr,
			        "tristack: upgrade: %s on %s is not running (tristack up)\n",
			        u->daemon, u->host->name);
			return 1;
		}
	}
	/* as root, what starts runs as the account, as at `up` */
	char err[512];
	if (ctl_prepare_account(c, err, sizeof(err)) < 0) {
		fprintf(stderr, "tristack: upgrade: %s\n", err);
		return 1;
	}
	bool supervised = supervisor_running(c) != 0;
	if (supervised && supervisor_stop(c) < 0) {
		fprintf(stderr, "tristack: upgrade: the supervisor would not stop\n");
		return 1;
	}
	printf("upgrading the daemons to the binaries in %s\n", c->bindir);
	int rc = upgrade_all(c);
	/* from this binary: the new one; it reads the pid files afresh */
	if (supervised && supervisor_start(c, err, sizeof(err)) < 0) {
		fprintf(stderr, "tristack: supervisor: %s\n", err);
		rc = -1;
	}
	if (rc < 0) {
		fprintf(stderr, "tristack: upgrade stopped; what was replaced stays replaced "
		                "(tristack status)\n");
		return 1;
	}
	printf("upgraded%s\n", supervised ? "; the supervisor runs again" : "");
	return 0;
}
