/* db_guard.c - `tristack db-guard HOST`: beside each database instance of
 * real servers with [db] auto_failover (tristack-db-guard.service in every
 * db host's bundle, as the mysql account, keeping CAP_NET_ADMIN alone), the
 * two parts of the fence that the failover monitor, on another host,
 * cannot do (failover.h):
 *
 *   - the firewall: while its instance is read-only and replicates from
 *     no one (an old primary after a failover, until it rejoins; a
 *     diverged one; a primary back from a restart, until the monitor makes
 *     it writable; a primary made read-only by hand), the database port
 *     takes no new connection but from the monitoring host (table inet
 *     tsfence, fo_fence_rules: no app opens a session there to read stale
 *     rows, no replica starts following it; the monitor still reaches it
 *     to rejoin it; a session already open goes on, so that a replica's
 *     I/O thread still gets what a primary made read-only for a planned
 *     switchover has committed, and the monitor kills the app's sessions on
 *     an old primary). It opens again once the instance is writable or a
 *     replica. While closed it is loaded again every
 *     GUARD_REFRESH_MS: a reload of nftables.service flushes the ruleset.
 *   - the watchdog: a mariadbd whose socket takes the connection but sends
 *     no greeting within FO_PROBE_TIMEOUT_MS, round after round for [db]
 *     failover_after (hung: SIGSTOPped, wedged), is killed (SIGKILL), so
 *     that what the apps queued in its sockets never runs, not even after
 *     a SIGCONT, on an instance the monitor has just replaced (it decides
 *     after the same failover_after); systemd starts it again (Debian's
 *     mariadb.service: Restart=on-abort), read-only by its cnf. A socket
 *     that is gone or refuses (mariadbd stopping, starting, dead) is
 *     systemd's business, not the guard's.
 *
 * It reads its instance through the Unix socket ({state}/run/HOST.db.sock,
 * install.sh's link to Debian's) as the MariaDB account of its own Unix
 * account (unix_socket: 'mysql'@'localhost'), and the pid in
 * {state}/run/HOST.db.pid. It writes nothing but the firewall's table, and
 * logs each change on stdout (the journal).
 */
#include <errno.h>
#include <mysql.h>
#include <mysqld_error.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <errmsg.h>

#include "ctl.h"
#include "failover.h"

#define GUARD_REFRESH_MS 5000

/* it answers (and says whether to fence), answers but cannot be read, is
 * gone, hangs */
enum guard_seen { GUARD_ANSWERS, GUARD_UNREADABLE, GUARD_ABSENT, GUARD_HUNG };

struct guard {
	const struct ctl *c;
	const struct conf_host *h;
	char socket[TS_PATH_MAX], pidfile[TS_PATH_MAX];
	uint64_t hung_since; /* no greeting since (0: it answers, or is gone) */
	pid_t killed;        /* the process killed last (not again) */
	int fenced;          /* the table is loaded: 1, not: 0, unknown: -1 */
	uint64_t refresh_at;
	char said[160]; /* the last thing logged of the instance's state */
};

static void guard_log(struct guard *g, const char *what)
{
	if (strcmp(g->said, what) == 0)
		return;
	snprintf(g->said, sizeof(g->said), "%s", what);
	fo_log("db-guard %s: %s", g->h->name, what);
}

/* One look at the instance: does it answer, and should it be fenced? */
static enum guard_seen look(struct guard *g, bool *fence)
{
	unsigned t = (FO_PROBE_TIMEOUT_MS + 999) / 1000;
	MYSQL *m = mysql_init(NULL);
	if (m == NULL)
		return GUARD_ABSENT;
	mysql_options(m, MYSQL_OPT_CONNECT_TIMEOUT, &t);
	mysql_options(m, MYSQL_OPT_READ_TIMEOUT, &t);
	mysql_options(m, MYSQL_OPT_WRITE_TIMEOUT, &t);
	if (!mysql_real_connect(m, NULL, acct_operator(), "", NULL, 0, g->socket, 0)) {
		unsigned e = mysql_errno(m);
		char what[160];
		snprintf(what, sizeof(what), "cannot log in: %s", mysql_error(m));
		mysql_close(m);
		/* the socket took it and no greeting came: hung */
		if (e == CR_SERVER_LOST)
			return GUARD_HUNG;
		if (e == ER_CON_COUNT_ERROR || e == ER_ACCESS_DENIED_ERROR ||
		    e == ER_ACCESS_DENIED_NO_PASSWORD_ERROR) {
			guard_log(g, what);
			return GUARD_UNREADABLE; /* alive: the fence stays as it is */
		}
		return GUARD_ABSENT;
	}
	char ro[16] = "", master[128] = "";
	bool ok = mdb_value(m, "SELECT @@read_only", ro, sizeof(ro)) != NULL;
	if (ok) {
		mdb_slave_field(m, "Master_Host", master, sizeof(master));
		*fence = strcmp(ro, "1") == 0 && master[0] == '\0';
	}
	bool hung = !ok && mysql_errno(m) == CR_SERVER_LOST;
	mysql_close(m);
	return ok ? GUARD_ANSWERS : hung ? GUARD_HUNG : GUARD_UNREADABLE;
}

/* The pid of the instance, when it is a live mariadbd; else 0. */
static pid_t instance_pid(const struct guard *g)
{
	pid_t pid = read_pidfile(g->pidfile);
	if (pid <= 0)
		return 0;
	char path[64], comm[32] = "";
	snprintf(path, sizeof(path), "/proc/%d/comm", (int)pid);
	FILE *f = fopen(path, "r");
	if (f == NULL)
		return 0;
	if (fgets(comm, sizeof(comm), f) == NULL)
		comm[0] = '\0';
	fclose(f);
	comm[strcspn(comm, "\n")] = '\0';
	return strcmp(comm, "mariadbd") == 0 || strcmp(comm, "mysqld") == 0 ? pid : 0;
}

/* Load (on) or drop the fence's table, through a memory file: the unit's
 * file system is read-only. */
static int fence(struct guard *g, bool on, char *err, size_t errlen)
{
	char rules[1024];
	const struct conf_host *mon = mon_conf_host(&g->c->cfg);
	if (on)
		fo_fence_rules(g->c, mon ? mon->address : NULL, true, rules, sizeof(rules));
	else
		snprintf(rules, sizeof(rules), "table inet tsfence\ndelete table inet tsfence\n");
	int fd = memfd_create("tsfence", 0); /* nft inherits it */
	if (fd < 0) {
		snprintf(err, errlen, "memfd_create: %s", strerror(errno));
		return -1;
	}
	char path[64];
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	ssize_t n = (ssize_t)strlen(rules);
	int rc = write(fd, rules, (size_t)n) == n
	             ? run_tool((char *const[]){ "nft", "-f", path, NULL }, err, errlen)
	             : -1;
	close(fd);
	return rc;
}

static void round_of(struct guard *g)
{
	uint64_t now = fo_now_ms();
	bool want = false;
	enum guard_seen seen = look(g, &want);
	if (seen == GUARD_HUNG) {
		if (g->hung_since == 0) {
			g->hung_since = now;
			guard_log(g, "its socket takes connections but it does not answer");
		}
		pid_t pid = instance_pid(g);
		if (pid && pid != g->killed && now - g->hung_since >= g->c->cfg.db.failover_after) {
			kill(pid, SIGKILL);
			g->killed = pid;
			fo_log("db-guard %s: mariadbd (pid %d) hung for %llu ms: killed, so that "
			       "nothing queued in it runs; systemd starts it again, read-only",
			       g->h->name, (int)pid, (unsigned long long)(now - g->hung_since));
		}
		return;
	}
	g->hung_since = 0;
	if (seen == GUARD_ABSENT) {
		guard_log(g, "not running (its socket refuses): the fence stays as it is");
		return;
	}
	if (seen == GUARD_UNREADABLE)
		return;
	guard_log(g, want ? "read-only and no replica: fenced" : "writable or a replica: open");
	if (g->fenced == (int)want && !(want && now >= g->refresh_at))
		return;
	char err[512];
	if (fence(g, want, err, sizeof(err)) < 0) {
		if (g->fenced != (int)want)
			fo_log("db-guard %s: cannot %s its port: %s", g->h->name,
			       want ? "close" : "open", err);
		g->fenced = -1;
	} else {
		if (g->fenced != (int)want)
			fo_log("db-guard %s: port %lld %s", g->h->name,
			       (long long)g->c->cfg.db.port,
			       want ? "closed to all but the failover monitor (table inet tsfence)"
			            : "open (no tsfence table)");
		g->fenced = want;
	}
	g->refresh_at = now + GUARD_REFRESH_MS;
}

int cmd_db_guard(struct ctl *c, int argc, char **argv)
{
	const struct conf_host *h = fo_agent_host(c, argc, argv, "db-guard");
	if (h == NULL)
		return 2;
	static struct guard g;
	g.c = c;
	g.h = h;
	g.fenced = -1;
	struct mdb_paths p;
	mdb_paths(c, h, &p);
	snprintf(g.socket, sizeof(g.socket), "%s", p.socket);
	snprintf(g.pidfile, sizeof(g.pidfile), "%s/run/%s.db.pid", c->state, h->name);
	fo_agent_signals();
	fo_log("db-guard %s: watching %s (as %s); hung for %llu ms: killed", h->name, g.socket,
	       acct_operator(), (unsigned long long)c->cfg.db.failover_after);
	while (!fo_agent_stopping()) {
		uint64_t next = fo_now_ms() + FO_PROBE_MS;
		round_of(&g);
		fo_agent_sleep_until(next);
	}
	/* the fence stays as it is: the guard going away says nothing of the
	 * instance (systemd starts it again) */
	fo_log("db-guard %s: stopping", h->name);
	return 0;
}
