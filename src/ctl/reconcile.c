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
#include <mysql.h>
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

/* The binaries a pid file of ours may name, by the role in its name, in
 * the order leftovers stop: front first (the floating address before the
 * LB it points at, the LB before what it sends to, the databases last). */
static const struct {
	const char *role, *exe;
} role_exe[] = {
	{ "vrrp", "keepalived" },       { "vrrp-check", "tristack" },
	{ "forward", "tristack" },      { "lb", "tristack-lb" },
	{ "dns", "tristack-dns" },      { "web", "tristack-web" },
	{ "app", "tristack-app" },      { "exporter", "prometheus-mysqld-exporter" },
	{ "prometheus", "prometheus" }, { "alertmanager", "prometheus-alertmanager" },
	{ "db", "mariadbd" },
};

static int role_rank(const char *role)
{
	for (size_t i = 0; i < ARRAY_SIZE(role_exe); i++)
		if (strcmp(role_exe[i].role, role) == 0)
			return (int)i;
	return -1;
}

static bool is_unit(const struct ctl *c, const char *host, const char *role)
{
	for (unsigned i = 0; i < c->nunits; i++)
		if (strcmp(c->units[i].host->name, host) == 0 &&
		    strcmp(c->units[i].role, role) == 0)
			return true;
	return false;
}

/* Was pid started for this state folder? One of its arguments is the
 * folder (--state DIR) or a path in it (mariadbd's --datadir=, keepalived's
 * --pid=, Prometheus's --config.file=): a binary's name alone would match
 * another lab's daemons, or this very command. */
static bool of_this_state(pid_t pid, const char *state)
{
	char path[64], buf[8192];
	snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)pid);
	FILE *f = fopen(path, "r");
	if (f == NULL)
		return false;
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	size_t sl = strlen(state);
	for (size_t i = 0; i < n; i += strlen(buf + i) + 1) {
		const char *arg = buf + i, *eq = strchr(arg, '=');
		for (const char *v = arg;; v = eq + 1) {
			if (strncmp(v, state, sl) == 0 && (v[sl] == '\0' || v[sl] == '/'))
				return true;
			if (v != arg || eq == NULL)
				break;
		}
	}
	return false;
}

struct leftover {
	char host[128], role[64], pidfile[TS_PATH_MAX + 300];
	pid_t pid;
};

static int by_rank(const void *a, const void *b)
{
	const struct leftover *x = a, *y = b;
	return role_rank(x->role) - role_rank(y->role);
}

/* The running daemons that pid files ({state}/run/HOST.ROLE.pid) name and
 * the stack file no longer has, front first, into out (at most max). A pid
 * file whose process is gone is removed. */
static unsigned find_leftovers(struct ctl *c, struct leftover *out, unsigned max)
{
	char dir[TS_PATH_MAX];
	snprintf(dir, sizeof(dir), "%s/" STATE_RUN, c->state);
	DIR *d = opendir(dir);
	if (d == NULL)
		return 0;
	unsigned n = 0;
	for (struct dirent *e; (e = readdir(d)) && n < max;) {
		struct leftover *l = &out[n];
		size_t len = strlen(e->d_name);
		if (len < 5 || strcmp(e->d_name + len - 4, ".pid") != 0)
			continue;
		/* HOST.ROLE.pid: a host's name may have dots, a role has none */
		const char *end = e->d_name + len - 4, *dot = end;
		while (dot > e->d_name && dot[-1] != '.')
			dot--;
		if (dot <= e->d_name + 1 || (size_t)(dot - 1 - e->d_name) >= sizeof(l->host) ||
		    (size_t)(end - dot) >= sizeof(l->role))
			continue;
		snprintf(l->host, sizeof(l->host), "%.*s", (int)(dot - 1 - e->d_name), e->d_name);
		snprintf(l->role, sizeof(l->role), "%.*s", (int)(end - dot), dot);
		int rank = role_rank(l->role);
		if (rank < 0 || is_unit(c, l->host, l->role))
			continue;
		snprintf(l->pidfile, sizeof(l->pidfile), "%s/%s", dir, e->d_name);
		l->pid = read_pidfile(l->pidfile);
		if (l->pid > 0 && kill(l->pid, 0) < 0 && errno == ESRCH) {
			unlink(l->pidfile); /* nothing runs there: an old file */
			continue;
		}
		if (l->pid <= 0 || l->pid == getpid() ||
		    !is_our_daemon(l->pid, role_exe[rank].exe) || !of_this_state(l->pid, c->state))
			continue; /* not ours: left alone */
		n++;
	}
	closedir(d);
	qsort(out, n, sizeof(*out), by_rank);
	return n;
}

#define MAX_LEFTOVERS 64

/* ---- 1. drain ---- */

/* Is name a server of the stack file's [lb]? */
static bool lb_server(const struct ctl *c, const char *name)
{
	for (unsigned i = 0; i < c->cfg.lb.nservers; i++)
		if (strcmp(c->cfg.lb.servers[i].name, name) == 0)
			return true;
	return false;
}

/* The servers the running LBs have and the file no longer has (a host
 * dropped, or only its `server` line), each drained on every LB and waited
 * for until idle. An LB that runs and does not answer is a failure (what
 * it sends to would be stopped under its requests); one that does not run
 * sends nothing. */
int reconcile_drain_leftovers(struct ctl *c)
{
	int rc = 0;
	for (unsigned i = 0; i < c->nunits; i++) {
		struct unit *u = &c->units[i];
		char answer[16384], err[1024];
		if (strcmp(u->role, "lb") != 0 || u->subcmd || unit_running(u) == 0)
			continue;
		if (runtime_ask(c, u->host, "show servers\n", answer, sizeof(answer), err,
		                sizeof(err)) < 0) {
			fprintf(stderr, "tristack: %s does not answer: %s\n", u->host->name, err);
			return -1;
		}
		for (char *save = NULL, *l = strtok_r(answer, "\n", &save); l;
		     l = strtok_r(NULL, "\n", &save)) {
			char name[256];
			if (l[0] == '#' || sscanf(l, "%255s", name) != 1 || lb_server(c, name))
				continue;
			char line[320], got[4096];
			snprintf(line, sizeof(line), "set server %s state drain\n", name);
			struct runtime_seen seen;
			if (runtime_ask(c, u->host, line, got, sizeof(got), err, sizeof(err)) < 0 ||
			    strncmp(got, "ok:", 3) != 0 ||
			    runtime_server_wait_on(c, u->host, name, DRAIN_MS, &seen, err,
			                           sizeof(err)) < 0) {
				fprintf(stderr, "tristack: draining %s on %s: %.600s\n", name,
				        u->host->name, strncmp(got, "error:", 6) == 0 ? got : err);
				rc = -1;
				continue;
			}
			printf("  %-7s drained on %s (it leaves the stack file)\n", name,
			       u->host->name);
		}
	}
	return rc;
}

/* ---- 2. reload, and wait ---- */

/* The log's size now: what a reload writes comes after. */
static long log_size(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 ? (long)st.st_size : 0;
}

/* Does the log, from offset from, hold a line with want? The line in line
 * ("" when none). */
static bool log_has(const char *path, long from, const char *want, char *line, size_t len)
{
	line[0] = '\0';
	FILE *f = fopen(path, "r");
	if (f == NULL)
		return false;
	bool found = false;
	if (fseek(f, from, SEEK_SET) == 0)
		while (!found && fgets(line, (int)len, f))
			found = strstr(line, want) != NULL;
	fclose(f);
	if (!found)
		line[0] = '\0';
	line[strcspn(line, "\n")] = '\0';
	return found;
}

/* SIGHUP to u, and its answer from its log: 0 reloaded, -1 refused or
 * silent (err says which); with drained, also until the generation it
 * replaced has drained (a deadline passed there is said, and is no
 * failure). A daemon started with another stack file than this command's
 * reloads that one: a failure too. */
static int reload_unit(const struct ctl *c, struct unit *u, bool drained, char *err, size_t errlen)
{
	long from = log_size(u->logfile);
	if (kill(u->pid, SIGHUP) < 0) {
		snprintf(err, errlen, "cannot signal pid %d: %s", (int)u->pid, strerror(errno));
		return -1;
	}
	char line[TS_PATH_MAX + 512], want[TS_PATH_MAX + 32];
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
	snprintf(want, sizeof(want), "reloaded %s:", c->conf);
	if (strstr(line, want) == NULL) {
		snprintf(err, errlen, "it reads another stack file than %.300s: %.600s", c->conf,
		         line);
		return -1;
	}
	/* "...; generation N drains": that one's end */
	const char *g = strstr(line, "; generation ");
	unsigned old;
	if (!drained || g == NULL || sscanf(g, "; generation %u drains", &old) != 1)
		return 0;
	snprintf(want, sizeof(want), "generation %u has drained", old);
	for (uint64_t deadline = ctl_now_ms() + DRAINED_MS;
	     !log_has(u->logfile, from, want, line, sizeof(line)); ctl_sleep_ms(50))
		if (ctl_now_ms() > deadline) {
			printf("  %-7s %-15s its generation %u still drains after %us\n",
			       u->host->name, u->daemon, old, DRAINED_MS / 1000);
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
		/* only the LBs and the apps send to other hosts: theirs are the
		 * old generations that may still be on their way to a leftover */
		bool senders = strcmp(u->role, "lb") == 0 || strcmp(u->role, "app") == 0;
		if (reload_unit(c, u, drained && senders, err, sizeof(err)) < 0) {
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

unsigned reconcile_leftovers(struct ctl *c)
{
	struct leftover l[MAX_LEFTOVERS];
	return find_leftovers(c, l, ARRAY_SIZE(l));
}

int reconcile_check_leftovers(struct ctl *c)
{
	struct leftover l[MAX_LEFTOVERS];
	unsigned n = find_leftovers(c, l, ARRAY_SIZE(l));
	for (unsigned i = 0; i < n; i++) {
		if (strcmp(l[i].role, "db") != 0)
			continue;
		/* writable: the primary (whatever the file said of it) */
		struct conf_host h = { .name = l[i].host };
		char err[512], ro[16] = "";
		MYSQL *m = mdb_admin(c, &h, err, sizeof(err));
		bool primary =
		    m && mdb_value(m, "SELECT @@read_only", ro, sizeof(ro)) && strcmp(ro, "0") == 0;
		if (m)
			mysql_close(m);
		if (!primary)
			continue;
		fprintf(stderr,
		        "tristack: %s's database is the primary (writable), and the stack file "
		        "drops it: stopping it would lose the writes only it has. Make another "
		        "host the primary first (tristack promote HOST, with %s still in the "
		        "file), then up. Nothing was changed.\n",
		        l[i].host, l[i].host);
		return -1;
	}
	return 0;
}

int reconcile_stop_leftovers(struct ctl *c)
{
	struct leftover l[MAX_LEFTOVERS];
	unsigned n = find_leftovers(c, l, ARRAY_SIZE(l));
	int rc = 0;
	for (unsigned i = 0; i < n; i++) {
		if (pid_stop(l[i].pid, STOP_GRACE_MS) < 0) {
			fprintf(stderr, "tristack: %s's %s (pid %d) would not stop\n", l[i].host,
			        l[i].role, (int)l[i].pid);
			rc = -1;
			continue;
		}
		unlink(l[i].pidfile);
		printf("  %-7s %-15s stopped (pid %d): no longer in the stack file\n", l[i].host,
		       l[i].role, (int)l[i].pid);
	}
	if (rc == 0 && c->isolated && lab_is_up(c))
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
	/* Hosts to start or stop are up's: a reload would send the LBs to a
	 * server that does not run yet, or close the firewalls to one that
	 * still serves. */
	unsigned left = reconcile_leftovers(c), added = 0;
	for (unsigned h = 0; h < c->cfg.nhosts; h++) {
		bool runs = false;
		for (unsigned i = 0; i < c->nunits && !runs; i++)
			runs = c->units[i].host == &c->cfg.hosts[h] && unit_running(&c->units[i]);
		added += !runs;
	}
	if (left || added) {
		fprintf(stderr,
		        "tristack: %u host%s of the file run%s nothing, %u daemon%s run that the "
		        "file no longer names: that is tristack up's to do (it starts and stops "
		        "them, and reloads the rest); nothing reloaded\n",
		        added, added == 1 ? "" : "s", added == 1 ? "s" : "", left,
		        left == 1 ? "" : "s");
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
	return reconcile_reload(c, NULL, false) < 0 ? 1 : 0;
}
