/* reconcile.c - a running stack made what the stack file now says:
 * `tristack reload` and `tristack up` on a stack that runs.
 *
 * reload: the file is loaded and checked (a broken one stops here, naming
 * file:line, and nothing is signalled); in isolated mode each host's
 * firewall is rendered and loaded again; then every running daemon of
 * ours gets SIGHUP, and its log is read until it says "reloaded" (a new
 * generation took over; the old one lets its requests finish) or "reload
 * refused" (its running configuration stays), with a deadline. Prometheus's
 * files are written again and it gets SIGHUP (mon_prepare: its targets
 * follow the hosts). The exit status is 1 when one refused or did not say.
 *
 * up, on a running stack: what the file adds is started (up's phases: a
 * host new to the file gets its namespace and firewall in isolated mode, a
 * fresh MariaDB replica that replicates from the primary, its app and web
 * server), and then the daemons that were running already are reloaded:
 * the LBs take the new server, the apps the new replica. A daemon whose
 * host (or role) the file no longer has is a leftover, found by its pid
 * file ({state}/run/HOST.ROLE.pid); before it stops:
 *
 *   1. a leftover web server the LBs send to is drained on every LB (the
 *      runtime API) and waited for until its requests in flight finish;
 *   2. the daemons that stay are reloaded (the LBs forget the server, the
 *      apps the replica), and their old generations waited for until they
 *      have drained: nothing is still on its way to the leftovers;
 *   3. the leftovers stop by pid (SIGTERM, then SIGKILL after the grace),
 *      and in isolated mode their hosts' namespaces and firewall files go.
 *
 * The supervisor is stopped while this runs (it would start a leftover
 * again) and started afresh by up at the end, with the new file. `down`
 * stops leftovers too. The datadir of a removed database host stays in
 * {state}/db/HOST: added back, it resumes replicating where it stopped.
 */
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "conf/names.h"
#include "ctl.h"

#define DRAIN_MS      30000 /* a leftover server's requests in flight: this long at most */
#define RELOADED_MS   10000 /* a daemon's log says "reloaded" or "reload refused" */
#define DRAINED_MS    15000 /* its old generation has drained (the grace is 10 s) */
#define STOP_GRACE_MS 12000

/* The binaries a pid file of ours may name, by the role in its name. */
static const struct {
	const char *role, *exe;
} role_exe[] = {
	{ "db", "mariadbd" },
	{ "app", "tristack-app" },
	{ "web", "tristack-web" },
	{ "lb", "tristack-lb" },
	{ "dns", "tristack-dns" },
	{ "forward", "tristack" },
	{ "vrrp-check", "tristack" },
	{ "vrrp", "keepalived" },
	{ "exporter", "prometheus-mysqld-exporter" },
	{ "prometheus", "prometheus" },
};

static const char *exe_of(const char *role)
{
	for (size_t i = 0; i < ARRAY_SIZE(role_exe); i++)
		if (strcmp(role_exe[i].role, role) == 0)
			return role_exe[i].exe;
	return NULL;
}

static bool is_unit(const struct ctl *c, const char *host, const char *role)
{
	for (unsigned i = 0; i < c->nunits; i++)
		if (strcmp(c->units[i].host->name, host) == 0 &&
		    strcmp(c->units[i].role, role) == 0)
			return true;
	return false;
}

/* Each running daemon that a pid file names and the stack file no longer
 * has: fn(c, host, role, pid, pidfile, arg). The count of them. */
static unsigned each_leftover(struct ctl *c,
                              void (*fn)(struct ctl *, const char *, const char *, pid_t,
                                         const char *, void *),
                              void *arg)
{
	char dir[TS_PATH_MAX];
	snprintf(dir, sizeof(dir), "%s/" STATE_RUN, c->state);
	DIR *d = opendir(dir);
	if (d == NULL)
		return 0;
	unsigned n = 0;
	for (struct dirent *e; (e = readdir(d));) {
		char host[128], role[64], path[TS_PATH_MAX + 300];
		size_t len = strlen(e->d_name);
		const char *dot = strchr(e->d_name, '.');
		if (len < 5 || strcmp(e->d_name + len - 4, ".pid") != 0 || dot == NULL ||
		    (size_t)(dot - e->d_name) >= sizeof(host) ||
		    (size_t)(e->d_name + len - 4 - dot - 1) >= sizeof(role))
			continue;
		snprintf(host, sizeof(host), "%.*s", (int)(dot - e->d_name), e->d_name);
		snprintf(role, sizeof(role), "%.*s", (int)(e->d_name + len - 4 - dot - 1), dot + 1);
		const char *exe = exe_of(role);
		if (exe == NULL || is_unit(c, host, role))
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		pid_t pid = read_pidfile(path);
		if (pid <= 0 || kill(pid, 0) < 0 || !is_our_daemon(pid, exe)) {
			unlink(path); /* nothing runs there: an old file */
			continue;
		}
		n++;
		if (fn)
			fn(c, host, role, pid, path, arg);
	}
	closedir(d);
	return n;
}

/* ---- 1. drain ---- */

static void drain_one(struct ctl *c, const char *host, const char *role, pid_t pid,
                      const char *pidfile, void *arg)
{
	(void)pid;
	(void)pidfile;
	int *rc = arg;
	if (strcmp(role, "web") != 0)
		return;
	char err[1024];
	struct runtime_seen s;
	if (runtime_server_seen(c, host, &s, err, sizeof(err)) < 0)
		return; /* no LB sends to it (or none answers): nothing to drain */
	if (runtime_server_set(c, host, "drain", err, sizeof(err)) < 0 ||
	    runtime_server_wait(c, host, true, DRAIN_MS, err, sizeof(err)) < 0) {
		fprintf(stderr, "tristack: draining %s: %s\n", host, err);
		*rc = -1;
		return;
	}
	printf("  %-7s drained on the LBs (it leaves the stack file)\n", host);
}

/* ---- 2. reload, and wait ---- */

/* The log's size now: what a reload writes comes after. */
static long log_size(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 ? (long)st.st_size : 0;
}

/* Does the log, from offset from, hold a line with want? The line in line. */
static bool log_has(const char *path, long from, const char *want, char *line, size_t len)
{
	FILE *f = fopen(path, "r");
	if (f == NULL)
		return false;
	bool found = false;
	if (fseek(f, from, SEEK_SET) == 0)
		while (!found && fgets(line, (int)len, f))
			found = strstr(line, want) != NULL;
	fclose(f);
	line[strcspn(line, "\n")] = '\0';
	return found;
}

/* SIGHUP to u, and its answer from its log: 0 reloaded, -1 refused or
 * silent (err says which); with drained, also until its old generation has
 * drained (a deadline passed there is said, and is no failure). */
static int reload_unit(struct unit *u, bool drained, char *err, size_t errlen)
{
	long from = log_size(u->logfile);
	if (kill(u->pid, SIGHUP) < 0) {
		snprintf(err, errlen, "cannot signal pid %d: %s", (int)u->pid, strerror(errno));
		return -1;
	}
	char line[1024];
	for (uint64_t deadline = ctl_now_ms() + RELOADED_MS;;) {
		if (log_has(u->logfile, from, "reload refused", line, sizeof(line))) {
			snprintf(err, errlen, "%.900s", line);
			return -1;
		}
		if (log_has(u->logfile, from, "reloaded ", line, sizeof(line)))
			break;
		if (ctl_now_ms() > deadline) {
			snprintf(err, errlen, "its log (%.300s) does not say it reloaded after %us",
			         u->logfile, RELOADED_MS / 1000);
			return -1;
		}
		ctl_sleep_ms(50);
	}
	if (!drained)
		return 0;
	for (uint64_t deadline = ctl_now_ms() + DRAINED_MS;
	     !log_has(u->logfile, from, "has drained", line, sizeof(line)); ctl_sleep_ms(50))
		if (ctl_now_ms() > deadline) {
			printf("  %-7s %-15s its old generation still drains after %us\n",
			       u->host->name, u->daemon, DRAINED_MS / 1000);
			break;
		}
	return 0;
}

int reconcile_reload(struct ctl *c, const bool *only, bool drained)
{
	int rc = 0;
	char err[1024];
	for (unsigned i = 0; i < c->nunits; i++) {
		struct unit *u = &c->units[i];
		if ((only && !only[i]) || unit_running(u) == 0)
			continue;
		if (u->db || u->mon != MON_NONE || u->keepalived || u->subcmd ||
		    strncmp(u->daemon, "tristack-", 9) != 0)
			continue;
		if (reload_unit(u, drained, err, sizeof(err)) < 0) {
			fprintf(stderr, "tristack: %s on %s (pid %d): %s\n", u->daemon,
			        u->host->name, (int)u->pid, err);
			rc = -1;
			continue;
		}
		printf("  %-7s %-15s reloaded (pid %d)\n", u->host->name, u->daemon, (int)u->pid);
	}
	return rc;
}

/* ---- 3. stop ---- */

static void stop_one(struct ctl *c, const char *host, const char *role, pid_t pid,
                     const char *pidfile, void *arg)
{
	(void)c;
	int *rc = arg;
	if (pid_stop(pid, STOP_GRACE_MS) < 0) {
		fprintf(stderr, "tristack: %s's %s (pid %d) would not stop\n", host, role,
		        (int)pid);
		*rc = -1;
		return;
	}
	unlink(pidfile);
	printf("  %-7s %-15s stopped (pid %d): no longer in the stack file\n", host, role,
	       (int)pid);
}

unsigned reconcile_leftovers(struct ctl *c)
{
	return each_leftover(c, NULL, NULL);
}

int reconcile_drain_leftovers(struct ctl *c)
{
	int rc = 0;
	each_leftover(c, drain_one, &rc);
	return rc;
}

int reconcile_stop_leftovers(struct ctl *c)
{
	int rc = 0;
	each_leftover(c, stop_one, &rc);
	if (c->isolated && lab_is_up(c))
		lab_remove_leftovers(c);
	return rc;
}

/* tristack reload */
int cmd_reload(struct ctl *c, int argc, char **argv)
{
	(void)argv;
	if (argc != 0) {
		fprintf(stderr, "usage: tristack reload\n");
		return 1;
	}
	char err[512];
	if (c->isolated && lab_is_up(c) && lab_firewalls(c, err, sizeof(err)) < 0) {
		fprintf(stderr, "tristack: %s\n", err);
		return 1;
	}
	if (mon_prepare(c, err, sizeof(err)) < 0 || acct_state(c, err, sizeof(err)) < 0) {
		fprintf(stderr, "tristack: monitoring: %s\n", err);
		return 1;
	}
	int rc = reconcile_reload(c, NULL, false);
	unsigned left = reconcile_leftovers(c), missing = 0;
	for (unsigned i = 0; i < c->nunits; i++)
		missing += unit_running(&c->units[i]) == 0;
	if (left || missing)
		printf("  %u daemon%s the file names not running, %u running it no longer names: "
		       "tristack up starts and stops them\n",
		       missing, missing == 1 ? "" : "s", left);
	return rc < 0 ? 1 : 0;
}
