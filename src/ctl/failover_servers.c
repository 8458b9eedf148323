/* failover_servers.c - `tristack failover-monitor HOST`: the failover
 * monitor of failover.c on real servers. systemd runs it on the monitoring
 * host HOST ([monitoring] host; tristack-failover-monitor.service in that
 * host's bundle, as the tristack account, with no capability), never on the
 * primary's host; there is no supervisor on servers.
 *
 * The decision is failover.c's, round after round (FO_PROBE_MS); only the
 * way it reaches an instance is this file's (fo_servers_way): TCP to each
 * database host's address as FAILOVER_ACCOUNT, from HOST's own address (the
 * account exists at that address alone, and the db hosts' firewalls take
 * it from there alone), with the password of {state}/secrets. What it keeps
 * is in its own state folder (/var/lib/tristack on HOST): db/primary (the
 * primary it has chosen), db/failover (the last failover), the fenced and
 * diverged marks, db/primary.seen; `tristack status` there shows them. What
 * it cannot do from HOST (close a fenced instance's port, kill a hung
 * mariadbd) the db-guard beside each instance does (db_guard.c).
 */
#include <errno.h>
#include <mysql.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "conf/names.h"
#include "ctl.h"
#include "failover.h"

#define FO_ADMIN_READ_S 30 /* a promotion waits up to 10 s for the relay log */

static MYSQL *session(const struct ctl *c, const struct conf_host *h, unsigned read_s, bool *alive,
                      char *err, size_t errlen)
{
	char pw[128];
	const struct conf_host *from = mon_conf_host(&c->cfg);
	if (fo_secret(c, FAILOVER_ACCOUNT, pw, sizeof(pw)) < 0) {
		snprintf(err, errlen, "no %s password in %s/" STATE_SECRETS, FAILOVER_ACCOUNT,
		         c->state);
		if (alive)
			*alive = false;
		return NULL;
	}
	unsigned t = (FO_PROBE_TIMEOUT_MS + 999) / 1000;
	MYSQL *m = fo_connect_tcp(c, h, FAILOVER_ACCOUNT, pw, from ? from->address : NULL, t,
	                          read_s, alive, err, errlen);
	explicit_bzero(pw, sizeof(pw));
	return m;
}

static MYSQL *servers_admin(const struct ctl *c, const struct conf_host *h, char *err,
                            size_t errlen)
{
	return session(c, h, FO_ADMIN_READ_S, NULL, err, errlen);
}

static bool servers_probe(const struct ctl *c, const struct conf_host *h)
{
	char err[256];
	bool alive;
	MYSQL *m = session(c, h, (FO_PROBE_TIMEOUT_MS + 999) / 1000, &alive, err, sizeof(err));
	if (m == NULL)
		return alive;
	bool ok = mysql_ping(m) == 0;
	mysql_close(m);
	return ok;
}

const struct fo_way fo_servers_way = {
	.name = "servers",
	.admin = servers_admin,
	.probe = servers_probe,
	.kill_hung = NULL, /* the db-guard on the host does */
};

/* ---- what the two agents of servers share ---- */

static volatile sig_atomic_t stopping;

static void on_term(int sig)
{
	(void)sig;
	stopping = 1;
}

void fo_agent_signals(void)
{
	struct sigaction sa = { .sa_handler = on_term };
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
}

bool fo_agent_stopping(void)
{
	return stopping;
}

void fo_agent_sleep_until(uint64_t when)
{
	uint64_t now = fo_now_ms();
	if (stopping || when <= now)
		return;
	uint64_t ms = when - now;
	struct timespec ts = { (time_t)(ms / 1000), (long)(ms % 1000) * 1000000L };
	nanosleep(&ts, NULL); /* a signal ends it early: stopping is seen */
}

/* HOST, a host of the stack that runs an agent: the monitoring host for
 * the monitor, a database host for the guard; NULL (said why) otherwise. */
const struct conf_host *fo_agent_host(const struct ctl *c, int argc, char **argv, const char *cmd)
{
	const struct conf_host *h = argc == 1 ? conf_host(&c->cfg, argv[0]) : NULL;
	bool monitor = strcmp(cmd, "failover-monitor") == 0;
	if (h == NULL || mdb_primary(c) == NULL || !c->cfg.db.auto_failover ||
	    (monitor ? h != mon_conf_host(&c->cfg)
	             : !(h->roles & (ROLE_DB_PRIMARY | ROLE_DB_REPLICA)))) {
		fprintf(stderr,
		        "tristack: %s HOST: %s of a stack with a database and [db] auto_failover = "
		        "on\n",
		        cmd,
		        monitor ? "the monitoring host ([monitoring] host)" : "a database host");
		return NULL;
	}
	return h;
}

int cmd_failover_monitor(struct ctl *c, int argc, char **argv)
{
	const struct conf_host *h = fo_agent_host(c, argc, argv, "failover-monitor");
	if (h == NULL)
		return 2;
	char pw[128], path[TS_PATH_MAX];
	if (fo_secret(c, FAILOVER_ACCOUNT, pw, sizeof(pw)) < 0 ||
	    fo_secret(c, "repl", pw, sizeof(pw)) < 0) {
		fprintf(stderr,
		        "tristack: failover-monitor: %s/" STATE_SECRETS
		        "/ lacks " FAILOVER_ACCOUNT SECRET_PASSWORD_SUFFIX
		        " or repl" SECRET_PASSWORD_SUFFIX
		        " (the monitoring host's bundle carries both)\n",
		        c->state);
		return 1;
	}
	explicit_bzero(pw, sizeof(pw));
	snprintf(path, sizeof(path), "%s/db", c->state);
	mkdir(path, 0750);
	snprintf(path, sizeof(path), "%s/run", c->state);
	mkdir(path, 0750);
	snprintf(path, sizeof(path), "%s/run/failover-monitor.pid", c->state);
	write_pidfile(path, getpid());
	fo_agent_signals();
	const struct conf_host *p = mdb_primary(c);
	fo_log("watching the database primary (%s now) from %s (%s) as %s: a failover after "
	       "%llu ms without an answer",
	       p->name, h->name, h->address, FAILOVER_ACCOUNT,
	       (unsigned long long)c->cfg.db.failover_after);
	struct failover fo = { .way = &fo_servers_way };
	while (!fo_agent_stopping()) {
		failover_tick(c, &fo);
		fo_agent_sleep_until(fo.next);
	}
	fo_log("stopping");
	unlink(path);
	return 0;
}
