/* failover.c - automatic failover of the database primary: the decision,
 * the same in the lab's supervisor (whose loop calls failover_tick) and on
 * servers (`tristack failover-monitor HOST` on the monitoring host,
 * failover_servers.c). Neither runs on the primary's host. Only the way an
 * instance is reached differs (struct fo_way, failover.h): its socket in the
 * lab, TCP as FAILOVER_ACCOUNT on servers.
 *
 * Each round (at most every FO_PROBE_MS) it asks two vantage points about
 * the primary ({state}/db/primary, else the db-primary host):
 *   - its own probe: a MariaDB handshake and ping over TCP from the
 *     monitoring host (its namespace in the lab), within
 *     FO_PROBE_TIMEOUT_MS (a hung or cut-off primary fails it as a dead one
 *     does);
 *   - every replica's I/O thread (SHOW SLAVE STATUS): a replica still
 *     connected to the primary says it is alive.
 * The primary is lost when the probe has failed for [db] failover_after
 * and no replica's I/O thread runs. Then, unless [db] auto_failover is
 * off or a failover happened less than [db] failover_cooldown ago:
 *
 *   1. fence the old primary: the mark {state}/db/HOST.fenced (status
 *      shows it); in the lab its 3306 is closed at its firewall (table inet
 *      tsfence, kept until it has rejoined) and a process that is still
 *      there (hung) is killed (the supervisor starts it again, read-only:
 *      mdb_argv starts every instance but the primary so); on servers the
 *      db-guard beside it does both (db_guard.c); whatever still answers is
 *      set read_only and the app's sessions on it are killed. The mark
 *      says whether the primary's semi-sync was on at its last answer: if
 *      so, the lab restarts it as a replica (--init-rpl-role=SLAVE), whose
 *      crash recovery cuts what it had prepared and no replica had
 *      acknowledged, so its history stays a prefix of the new primary's;
 *      if not, what it holds is kept (it may be writes it acknowledged
 *      alone), and shows as diverged;
 *   2. promote the replica with the most advanced GTID, once it has
 *      applied what it received (MASTER_GTID_WAIT on its I/O position);
 *   3. point the other replicas at it; the apps follow by themselves (they
 *      write where read_only is off, within half a second).
 *
 * Rejoin: an old primary that answers again, read-only, whose last GTID
 * the new primary had when it was promoted (its history a prefix of the
 * new one's) replicates from the new primary, and its fence is lifted;
 * otherwise it is marked diverged ({state}/db/HOST.diverged, shown by
 * status) and left fenced for `tristack rebuild HOST`.
 *
 * Writable again: on servers every instance starts read-only ([db]
 * auto_failover = on puts read_only = ON in every cnf), so a primary that
 * restarted or rebooted comes back read-only and waits for this monitor.
 * It makes the primary writable when all of these hold:
 *   - the primary answers the probe (it is not being failed over), and it
 *     is the one of {state}/db/primary: a failover rewrites that file
 *     before anything else, so a failover made meanwhile names another;
 *   - it is read-only, replicates from no one, and is neither fenced nor
 *     diverged;
 *   - this run of its mariadbd (started at now - Uptime) was never seen
 *     writable by the monitor ({state}/db/primary.seen): a primary made
 *     read-only while it ran was made so by a person (the first step of a
 *     planned switchover) and is left alone;
 *   - no other database instance answers writable. One that does not
 *     answer is not waited for: it too starts read-only, by its cnf.
 * When exactly one other instance answers writable, not diverged, the
 * primary it names was promoted by hand (`tristack promote` on servers):
 * the monitor adopts it as the primary instead ({state}/db/primary).
 * In the lab the primary starts writable (mdb_argv), so this seldom acts.
 */
#include <errno.h>
#include <fcntl.h>
#include <mysql.h>
#include <mysqld_error.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "conf/names.h"
#include "ctl.h"
#include "failover.h"

/* 1 when a write the instance commits waits for a replica's
 * acknowledgement: semi-sync on and a replica connected (with none, its
 * status stays ON and nothing waits). */
static const char semi_sync_acking[] =
    "SELECT (SELECT VARIABLE_VALUE FROM information_schema.GLOBAL_STATUS "
    "WHERE VARIABLE_NAME = 'RPL_SEMI_SYNC_MASTER_STATUS') = 'ON' AND "
    "(SELECT VARIABLE_VALUE FROM information_schema.GLOBAL_STATUS "
    "WHERE VARIABLE_NAME = 'RPL_SEMI_SYNC_MASTER_CLIENTS') > 0";

/* The app's sessions on an instance that must take no more writes. */
static const char kill_app_sessions[] =
    "BEGIN NOT ATOMIC FOR s IN (SELECT id FROM information_schema.processlist "
    "WHERE user = 'app') DO KILL CONNECTION s.id; END FOR; END";

uint64_t fo_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

void fo_log(const char *fmt, ...)
{
	char when[32];
	time_t t = time(NULL);
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
	va_list ap;
	va_start(ap, fmt);
	printf("%s failover: ", when);
	vprintf(fmt, ap);
	printf("\n");
	fflush(stdout);
	va_end(ap);
}

int fo_secret(const struct ctl *c, const char *name, char *out, size_t len)
{
	char path[TS_PATH_MAX];
	snprintf(path, sizeof(path), "%s/" STATE_SECRETS "/%s" SECRET_PASSWORD_SUFFIX, c->state,
	         name);
	FILE *f = fopen(path, "r");
	if (f == NULL)
		return -1;
	bool ok = fgets(out, (int)len, f) != NULL;
	fclose(f);
	out[strcspn(out, "\r\n")] = '\0';
	return ok && out[0] ? 0 : -1;
}

MYSQL *fo_connect_tcp(const struct ctl *c, const struct conf_host *h, const char *user,
                      const char *pw, const char *bind, unsigned timeout_s, unsigned read_s,
                      bool *refused_alive, char *err, size_t errlen)
{
	MYSQL *m = mysql_init(NULL);
	if (m == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	mysql_options(m, MYSQL_OPT_CONNECT_TIMEOUT, &timeout_s);
	mysql_options(m, MYSQL_OPT_READ_TIMEOUT, &read_s);
	mysql_options(m, MYSQL_OPT_WRITE_TIMEOUT, &timeout_s);
	if (bind)
		mysql_optionsv(m, MYSQL_OPT_BIND, bind);
	if (refused_alive)
		*refused_alive = false;
	if (mysql_real_connect(m, h->address, user, pw, NULL, (unsigned)c->cfg.db.port, NULL,
	                       CLIENT_MULTI_STATEMENTS))
		return m;
	unsigned e = mysql_errno(m);
	/* refused by the server itself: it answered, so it is alive */
	if (refused_alive)
		*refused_alive = e == ER_ACCESS_DENIED_ERROR || e == ER_HOST_NOT_PRIVILEGED ||
		                 e == ER_CON_COUNT_ERROR || e == ER_TOO_MANY_USER_CONNECTIONS;
	snprintf(err, errlen, "%s: %s", h->name, mysql_error(m));
	mysql_close(m);
	return NULL;
}

/* ---- the lab's way ---- */

/* The replication account over TCP, as a replica would reach host: from
 * the monitoring host's namespace in the lab. true when it answers. */
static bool lab_probe(const struct ctl *c, const struct conf_host *h)
{
	char pw[64], err[256];
	if (fo_secret(c, "repl", pw, sizeof(pw)) < 0)
		return false;
	const struct conf_host *from = mon_conf_host(&c->cfg);
	if (c->isolated && (from == NULL || netns_enter(c, from->name) < 0))
		return false;
	bool alive;
	unsigned t = (FO_PROBE_TIMEOUT_MS + 999) / 1000;
	MYSQL *m = fo_connect_tcp(c, h, "repl", pw, NULL, t, t, &alive, err, sizeof(err));
	bool ok = m ? mysql_ping(m) == 0 : alive;
	if (m)
		mysql_close(m); /* the socket was made in that namespace: closing needs none */
	if (c->isolated)
		netns_leave();
	explicit_bzero(pw, sizeof(pw));
	return ok;
}

/* Hung (it failed the probe but its process is there): killed, so what
 * sits in its sockets never runs; the supervisor starts it again,
 * read-only. */
static void lab_kill_hung(struct ctl *c, const struct conf_host *h)
{
	for (unsigned i = 0; i < c->nunits; i++) {
		struct unit *u = &c->units[i];
		if (u->db && u->host == h && unit_running(u)) {
			kill(u->pid, SIGKILL);
			fo_log("%s: its mariadbd (pid %d) did not answer: killed (fenced)", h->name,
			       (int)u->pid);
		}
	}
}

static const struct fo_way fo_lab_way = {
	.name = "lab",
	.admin = mdb_admin,
	.probe = lab_probe,
	.kill_hung = lab_kill_hung,
};

/* "0-1-1234,1-2-5" -> the sequence number of domain 0 (the site's), or -1. */
static long long gtid_seq(const char *pos, unsigned *server)
{
	for (const char *p = pos; p && *p;) {
		unsigned d, s;
		long long q;
		if (sscanf(p, "%u-%u-%lld", &d, &s, &q) == 3 && d == 0) {
			if (server)
				*server = s;
			return q;
		}
		p = strchr(p, ',');
		p = p ? p + 1 : NULL;
	}
	return -1;
}

/* ---- the fence ---- */

void failover_fenced_path(const struct ctl *c, const struct conf_host *h, char *out, size_t len)
{
	snprintf(out, len, "%s/db/%s.fenced", c->state, h->name);
}

int fo_fence_rules(const struct ctl *c, const char *allow, bool new_only, char *out, size_t len)
{
	long long port = (long long)c->cfg.db.port;
	char allowed[160] = "";
	if (allow)
		snprintf(allowed, sizeof(allowed),
		         "\t\tip saddr %s tcp dport %lld accept comment \"the failover monitor\"\n",
		         allow, port);
	int n = snprintf(out, len,
	                 "table inet tsfence\ndelete table inet tsfence\n"
	                 "table inet tsfence {\n"
	                 "\tchain input {\n"
	                 "\t\ttype filter hook input priority -5; policy accept;\n"
	                 "\t\tiif \"lo\" accept\n%s"
	                 "\t\t%stcp dport %lld drop comment \"fenced: not the primary\"\n"
	                 "\t}\n}\n",
	                 allowed, new_only ? "ct state new " : "", port);
	return n < 0 || (size_t)n >= len ? -1 : 0;
}

/* The mark status shows ({state}/db/HOST.fenced) in both modes; the
 * firewall's table in isolated mode (loopback has no firewall: there the
 * fence is read_only and the killed sessions alone; on servers the host's
 * db-guard closes it). */
bool failover_fenced_async(const struct ctl *c, const struct conf_host *h)
{
	char mark[TS_PATH_MAX], how[16] = "";
	failover_fenced_path(c, h, mark, sizeof(mark));
	FILE *f = fopen(mark, "r");
	if (f == NULL)
		return false;
	long long at;
	bool async = fscanf(f, "%lld %15s", &at, how) != 2 || strcmp(how, "semi-sync") != 0;
	fclose(f);
	return async;
}

/* semi_sync: the primary acknowledged writes only once a replica had
 * them, when it was lost (the mark says so: failover_fenced_async) */
static int fence(struct ctl *c, const struct conf_host *h, bool on, bool semi_sync)
{
	char mark[TS_PATH_MAX];
	failover_fenced_path(c, h, mark, sizeof(mark));
	if (!on) {
		if (unlink(mark) < 0 && errno == ENOENT)
			return 0; /* not fenced */
	} else {
		/* made once: a fence put back (up, after down) keeps what it says */
		int fd = open(mark, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
		if (fd >= 0) {
			dprintf(fd, "%lld %s\n", (long long)time(NULL),
			        semi_sync ? "semi-sync" : "async");
			close(fd);
		}
	}
	if (!c->isolated)
		return 0;
	char ns[64], err[512];
	lab_ns(c, h->name, ns, sizeof(ns));
	if (!on)
		return run_tool((char *const[]){ "ip", "netns", "exec", ns, "nft", "delete",
		                                 "table", "inet", "tsfence", NULL },
		                err, sizeof(err));
	char rules[1024];
	fo_fence_rules(c, NULL, false, rules, sizeof(rules));
	char path[TS_PATH_MAX];
	snprintf(path, sizeof(path), "%s/firewall/%s.fence.nft", c->state, h->name);
	FILE *f = fopen(path, "w");
	if (f == NULL || fputs(rules, f) < 0 || fclose(f) != 0)
		return -1;
	if (run_tool((char *const[]){ "ip", "netns", "exec", ns, "nft", "-f", path, NULL }, err,
	             sizeof(err)) < 0) {
		fo_log("cannot fence %s: %s", h->name, err);
		return -1;
	}
	return 0;
}

int failover_fence(struct ctl *c, const struct conf_host *h, bool on)
{
	return fence(c, h, on, false);
}

/* ---- state kept across rounds and restarts: {state}/db/failover ---- */

struct fo_record {
	time_t at;      /* wall time of the last failover */
	char from[64];  /* the old primary */
	char to[64];    /* the new one */
	char last[256]; /* the new primary's GTID position from the old one when promoted */
	unsigned count;
};

static void record_path(const struct ctl *c, char *out, size_t len)
{
	snprintf(out, len, "%s/db/failover", c->state);
}

static void record_read(const struct ctl *c, struct fo_record *r)
{
	char path[TS_PATH_MAX];
	record_path(c, path, sizeof(path));
	memset(r, 0, sizeof(*r));
	FILE *f = fopen(path, "r");
	if (f == NULL)
		return;
	long long at = 0;
	if (fscanf(f, "%lld %63s %63s %255s %u", &at, r->from, r->to, r->last, &r->count) != 5)
		memset(r, 0, sizeof(*r));
	r->at = (time_t)at;
	fclose(f);
}

static void record_write(const struct ctl *c, const struct fo_record *r)
{
	char path[TS_PATH_MAX], tmp[TS_PATH_MAX + 8];
	record_path(c, path, sizeof(path));
	snprintf(tmp, sizeof(tmp), "%s.new", path);
	FILE *f = fopen(tmp, "w");
	if (f == NULL)
		return;
	fprintf(f, "%lld %s %s %s %u\n", (long long)r->at, r->from, r->to,
	        r->last[0] ? r->last : "-", r->count);
	if (fclose(f) == 0)
		rename(tmp, path);
}

void failover_diverged_path(const struct ctl *c, const struct conf_host *h, char *out, size_t len)
{
	snprintf(out, len, "%s/db/%s.diverged", c->state, h->name);
}

/* ---- the decision ---- */

struct fo_view {
	const struct conf_host *h;
	bool reachable; /* it answers an admin session */
	bool io_running;
	long long seq; /* domain 0's sequence it has applied */
	char io_pos[256];
};

static void look(const struct ctl *c, const struct fo_way *way, const struct conf_host *h,
                 struct fo_view *v)
{
	memset(v, 0, sizeof(*v));
	v->h = h;
	v->seq = -1;
	char err[256], io[16] = "", pos[256] = "";
	MYSQL *m = way->admin(c, h, err, sizeof(err));
	if (m == NULL)
		return;
	v->reachable = true;
	v->io_running =
	    mdb_slave_field(m, "Slave_IO_Running", io, sizeof(io)) && strcmp(io, "Yes") == 0;
	if (mdb_value(m, "SELECT @@gtid_current_pos", pos, sizeof(pos)))
		v->seq = gtid_seq(pos, NULL);
	mdb_slave_field(m, "Gtid_IO_Pos", v->io_pos, sizeof(v->io_pos));
	mysql_close(m);
}

/* h made a read-only replica of primary. current_pos: an old primary's own
 * writes are in its binlog position, not its replica position. */
static int replicate_from(const struct ctl *c, const struct fo_way *way, const struct conf_host *h,
                          const struct conf_host *primary, char *err, size_t errlen)
{
	char pw[64], q[1024];
	if (fo_secret(c, "repl", pw, sizeof(pw)) < 0) {
		snprintf(err, errlen, "no repl password in the state folder's " STATE_SECRETS "/");
		return -1;
	}
	MYSQL *m = way->admin(c, h, err, errlen);
	if (m == NULL) {
		explicit_bzero(pw, sizeof(pw));
		return -1;
	}
	snprintf(q, sizeof(q),
	         "SET GLOBAL read_only = ON; STOP SLAVE; CHANGE MASTER TO MASTER_HOST='%s', "
	         "MASTER_PORT=%lld, MASTER_USER='repl', MASTER_PASSWORD='%s', "
	         "MASTER_USE_GTID=current_pos, MASTER_CONNECT_RETRY=1; START SLAVE",
	         primary->address, (long long)c->cfg.db.port, pw);
	int rc = mdb_sql(m, err, errlen, q);
	explicit_bzero(pw, sizeof(pw));
	explicit_bzero(q, sizeof(q));
	mysql_close(m);
	return rc;
}

/* Step 1: the old primary never takes a write again. */
static void fence_old(struct ctl *c, struct failover *fo, const struct fo_way *way,
                      const struct conf_host *old)
{
	fence(c, old, true, fo->semi_sync);
	if (way->kill_hung)
		way->kill_hung(c, old);
	/* cut off from us and from the replicas, yet alive (it failed the
	 * probe a moment ago: seldom): no more writes there */
	char err[256];
	MYSQL *m = way->admin(c, old, err, sizeof(err));
	if (m == NULL)
		return;
	mdb_sql(m, err, sizeof(err), "SET GLOBAL read_only = ON");
	mdb_sql(m, err, sizeof(err), kill_app_sessions);
	fo_log("%s: still answered: read-only now, the app's sessions killed", old->name);
	mysql_close(m);
}

/* Step 2 and 3: promote cand; point the others at it. */
static int promote(struct ctl *c, const struct fo_way *way, const struct conf_host *old,
                   const struct fo_view *cand, struct fo_record *rec, char *err, size_t errlen)
{
	MYSQL *m = way->admin(c, cand->h, err, errlen);
	if (m == NULL)
		return -1;
	char q[512], v[64];
	/* what it received from the old primary, applied first */
	if (cand->io_pos[0]) {
		snprintf(q, sizeof(q), "SELECT MASTER_GTID_WAIT('%s', 10)", cand->io_pos);
		if (!mdb_value(m, q, v, sizeof(v)) || strcmp(v, "0") != 0)
			fo_log("%s: the relay log was not applied within 10 s; promoting with what "
			       "it has",
			       cand->h->name);
	}
	char pos[256] = "";
	mdb_value(m, "SELECT @@gtid_slave_pos", pos, sizeof(pos));
	if (mdb_sql(m, err, errlen, "STOP SLAVE; RESET SLAVE ALL; SET GLOBAL read_only = OFF") <
	    0) {
		mysql_close(m);
		return -1;
	}
	mysql_close(m);
	if (mdb_set_primary(c, cand->h->name) < 0) {
		snprintf(err, errlen, "cannot write the state folder's db/primary: %s",
		         strerror(errno));
		return -1;
	}
	rec->at = time(NULL);
	snprintf(rec->from, sizeof(rec->from), "%s", old->name);
	snprintf(rec->to, sizeof(rec->to), "%s", cand->h->name);
	snprintf(rec->last, sizeof(rec->last), "%s", pos[0] ? pos : "-");
	rec->count++;
	record_write(c, rec);
	/* the other replicas follow it */
	for (unsigned i = 0; i < c->cfg.nhosts; i++) {
		const struct conf_host *h = &c->cfg.hosts[i];
		if (!(h->roles & (ROLE_DB_PRIMARY | ROLE_DB_REPLICA)) || h == old || h == cand->h)
			continue;
		char e[256];
		if (replicate_from(c, way, h, cand->h, e, sizeof(e)) < 0)
			fo_log("%s: cannot point it at %s: %s", h->name, cand->h->name, e);
	}
	return 0;
}

/* An old primary (or any non-primary instance) that answers: read-only
 * always; replicating from the primary when its history allows it. */
static void rejoin(struct ctl *c, const struct fo_way *way, const struct conf_host *h,
                   const struct conf_host *primary, const struct fo_record *rec)
{
	char err[256], v[256], path[TS_PATH_MAX];
	MYSQL *m = way->admin(c, h, err, sizeof(err));
	if (m == NULL)
		return;
	if (mdb_value(m, "SELECT @@read_only", v, sizeof(v)) && strcmp(v, "0") == 0) {
		/* woken after the promotion: fenced again, its app sessions gone */
		mdb_sql(m, err, sizeof(err), "SET GLOBAL read_only = ON");
		mdb_sql(m, err, sizeof(err), kill_app_sessions);
		fo_log("%s: answered writable though %s is the primary: read-only now, the "
		       "app's sessions killed",
		       h->name, primary->name);
	}
	char io[16] = "", master[64] = "";
	mdb_slave_field(m, "Master_Host", master, sizeof(master));
	mdb_slave_field(m, "Slave_IO_Running", io, sizeof(io));
	failover_diverged_path(c, h, path, sizeof(path));
	bool diverged = access(path, F_OK) == 0;
	if (strcmp(master, primary->address) == 0 || diverged) {
		mysql_close(m);
		if (strcmp(master, primary->address) == 0 && strcmp(io, "Yes") == 0)
			failover_fence(c, h, false); /* rejoined: apps may read from it */
		return;
	}
	/* the old primary of the last failover: is its history the new one's? */
	char pos[256] = "";
	mdb_value(m, "SELECT @@gtid_binlog_pos", pos, sizeof(pos));
	mysql_close(m);
	if (rec->count && strcmp(rec->from, h->name) == 0) {
		unsigned s_old = 0, s_rec = 0;
		long long have = gtid_seq(pos, &s_old), had = gtid_seq(rec->last, &s_rec);
		if (have > had || (have == had && have >= 0 && s_old != s_rec)) {
			FILE *f = fopen(path, "w");
			if (f) {
				fprintf(f, "%s has %s; %s had %s when promoted\n", h->name, pos,
				        rec->to, rec->last);
				fclose(f);
			}
			fo_log("%s: diverged (it has %s, %s was promoted at %s): left fenced; "
			       "tristack rebuild %s",
			       h->name, pos, rec->to, rec->last, h->name);
			return;
		}
	}
	if (replicate_from(c, way, h, primary, err, sizeof(err)) < 0) {
		fo_log("%s: cannot rejoin as a replica of %s: %s", h->name, primary->name, err);
		return;
	}
	fo_log("%s: rejoined as a replica of %s", h->name, primary->name);
}

/* ---- the primary writable again (the rule: this file's top comment) ---- */

static bool marked(const struct ctl *c, const struct conf_host *h)
{
	char fenced[TS_PATH_MAX], diverged[TS_PATH_MAX];
	failover_fenced_path(c, h, fenced, sizeof(fenced));
	failover_diverged_path(c, h, diverged, sizeof(diverged));
	return access(fenced, F_OK) == 0 || access(diverged, F_OK) == 0;
}

/* When m's mariadbd started (wall clock, s): now - Uptime; 0 unknown. */
static long long started_at(MYSQL *m)
{
	char v[64];
	if (!mdb_value(m,
	               "SELECT UNIX_TIMESTAMP() - VARIABLE_VALUE FROM "
	               "information_schema.GLOBAL_STATUS WHERE VARIABLE_NAME = 'UPTIME'",
	               v, sizeof(v)))
		return 0;
	return strtoll(v, NULL, 10);
}

/* {state}/db/primary.seen: "HOST STARTED", the run of the primary last
 * seen writable. seen(): is this it (a second of rounding either way)?
 * Written when it is not. */
static bool seen_writable(const struct ctl *c, const struct conf_host *h, long long started,
                          bool write)
{
	char path[TS_PATH_MAX], name[64] = "";
	long long was = 0;
	snprintf(path, sizeof(path), "%s/db/primary.seen", c->state);
	FILE *f = fopen(path, "r");
	if (f) {
		if (fscanf(f, "%63s %lld", name, &was) != 2)
			name[0] = '\0';
		fclose(f);
	}
	bool same = started > 0 && strcmp(name, h->name) == 0 && llabs(was - started) <= 2;
	if (same || !write)
		return same;
	char tmp[TS_PATH_MAX + 8];
	snprintf(tmp, sizeof(tmp), "%s.new", path);
	f = fopen(tmp, "w");
	if (f) {
		fprintf(f, "%s %lld\n", h->name, started);
		if (fclose(f) == 0)
			rename(tmp, path);
	}
	return same;
}

/* The other database instances that answer writable: how many, and one. */
static unsigned writable_others(const struct ctl *c, const struct fo_way *way,
                                const struct conf_host *primary, const struct conf_host **one)
{
	unsigned n = 0;
	*one = NULL;
	for (unsigned i = 0; i < c->cfg.nhosts; i++) {
		const struct conf_host *h = &c->cfg.hosts[i];
		if (!(h->roles & (ROLE_DB_PRIMARY | ROLE_DB_REPLICA)) || h == primary)
			continue;
		char err[256], v[16];
		MYSQL *m = way->admin(c, h, err, sizeof(err));
		if (m == NULL)
			continue; /* down: it comes back read-only */
		if (mdb_value(m, "SELECT @@read_only", v, sizeof(v)) && strcmp(v, "0") == 0)
			n++, *one = h;
		mysql_close(m);
	}
	return n;
}

/* The primary's semi-sync as this monitor last saw it, in
 * {state}/db/primary.semi-sync ("on" or "off"), logged when it changes. */
static void semi_sync_seen(const struct ctl *c, const struct conf_host *primary, bool on)
{
	char path[TS_PATH_MAX], tmp[TS_PATH_MAX + 8];
	snprintf(path, sizeof(path), "%s/db/primary.semi-sync", c->state);
	snprintf(tmp, sizeof(tmp), "%s.new", path);
	FILE *f = fopen(tmp, "w");
	if (f) {
		fprintf(f, "%s\n", on ? "on" : "off");
		if (fclose(f) == 0)
			rename(tmp, path);
	}
	fo_log("%s's semi-sync is %s", primary->name,
	       on ? "on: what it acknowledges, a replica has"
	          : "off: a write it acknowledges may be on it alone (its fence keeps it)");
}

static void writable_again(struct ctl *c, struct failover *fo, const struct fo_way *way,
                           const struct conf_host *primary)
{
	char err[256], v[16] = "", master[64] = "";
	MYSQL *m = way->admin(c, primary, err, sizeof(err));
	if (m == NULL)
		return;
	/* while here: whether a write it acknowledges is on a replica too
	 * (what its fence will tell its restart: failover_fenced_async) */
	char on[8] = "";
	bool semi = mdb_value(m, semi_sync_acking, on, sizeof(on)) && strcmp(on, "1") == 0;
	if (semi != fo->semi_sync || !fo->semi_known)
		semi_sync_seen(c, primary, semi);
	fo->semi_sync = semi;
	fo->semi_known = true;
	long long started = started_at(m);
	if (!mdb_value(m, "SELECT @@read_only", v, sizeof(v)) || strcmp(v, "0") == 0) {
		if (v[0]) /* writable: remember this run */
			seen_writable(c, primary, started, true);
		fo->said_ro = false;
		mysql_close(m);
		return;
	}
	mdb_slave_field(m, "Master_Host", master, sizeof(master));
	const char *why = master[0]                                   ? "it replicates"
	                  : marked(c, primary)                        ? "it is fenced or diverged"
	                  : seen_writable(c, primary, started, false) ? "it was made read-only "
	                                                                "while it ran (by hand)"
	                                                              : NULL;
	const struct conf_host *other;
	unsigned n = writable_others(c, way, primary, &other);
	if (n == 1 && !marked(c, other)) {
		mysql_close(m);
		if (mdb_set_primary(c, other->name) == 0)
			fo_log("%s is read-only and %s is writable (promoted by hand): %s is the "
			       "primary now",
			       primary->name, other->name, other->name);
		fo->said_ro = false;
		return;
	}
	if (why == NULL && n == 0) {
		if (mdb_sql(m, err, sizeof(err), "SET GLOBAL read_only = OFF") == 0) {
			seen_writable(c, primary, started, true);
			fo_log("%s came back read-only (restarted) and no other instance is "
			       "writable: writable again",
			       primary->name);
		} else {
			fo_log("%s: cannot make it writable: %s", primary->name, err);
		}
		fo->said_ro = false;
	} else if (!fo->said_ro) {
		fo_log("%s, the primary, is read-only and stays so: %s", primary->name,
		       why ? why : "other instances are writable");
		fo->said_ro = true;
	}
	mysql_close(m);
}

void failover_tick(struct ctl *c, struct failover *fo)
{
	const struct conf_db *db = &c->cfg.db;
	const struct fo_way *way = fo->way ? fo->way : &fo_lab_way;
	uint64_t now = fo_now_ms();
	if (now < fo->next)
		return;
	fo->next = now + FO_PROBE_MS;
	const struct conf_host *primary = mdb_primary(c);
	if (primary == NULL)
		return;
	if (!db->auto_failover)
		return; /* nothing of it runs: a manual promote is not raced */
	char mark[TS_PATH_MAX];
	snprintf(mark, sizeof(mark), "%s/db/promoting", c->state);
	if (access(mark, F_OK) == 0)
		return; /* `tristack promote` is at work: its steps are not undone */
	struct fo_record rec;
	record_read(c, &rec);
	/* the old primary of the last failover: read-only, and a replica of
	 * the new one (others are promote's and up's to set) */
	for (unsigned i = 0; i < c->cfg.nhosts; i++) {
		const struct conf_host *h = &c->cfg.hosts[i];
		if ((h->roles & (ROLE_DB_PRIMARY | ROLE_DB_REPLICA)) && h != primary && rec.count &&
		    strcmp(rec.from, h->name) == 0 && !host_is_off(c, h) && fo->down_since == 0)
			rejoin(c, way, h, primary, &rec);
	}
	if (way->probe(c, primary)) {
		if (fo->down_since)
			fo_log("%s answers again", primary->name);
		fo->down_since = 0;
		fo->said = false;
		writable_again(c, fo, way, primary);
		return;
	}
	if (fo->down_since == 0) {
		fo->down_since = now;
		fo_log("%s does not answer (its own probe)", primary->name);
	}
	if (now - fo->down_since < db->failover_after)
		return;
	/* the second vantage point: no replica still hears it */
	struct fo_view views[CONF_MAX_HOSTS], *cand = NULL;
	unsigned n = 0, hearing = 0;
	for (unsigned i = 0; i < c->cfg.nhosts; i++) {
		const struct conf_host *h = &c->cfg.hosts[i];
		if (!(h->roles & (ROLE_DB_PRIMARY | ROLE_DB_REPLICA)) || h == primary)
			continue;
		struct fo_view *v = &views[n++];
		look(c, way, h, v);
		if (v->reachable && v->io_running)
			hearing++;
		else if (v->reachable && !host_is_off(c, h) && (cand == NULL || v->seq > cand->seq))
			cand = v;
	}
	if (hearing) {
		if (!fo->said)
			fo_log("%s fails the probe but %u replica(s) still hear it: no failover",
			       primary->name, hearing);
		fo->said = true;
		return;
	}
	if (cand == NULL) {
		if (!fo->said)
			fo_log("%s is lost and no replica answers: nothing to promote",
			       primary->name);
		fo->said = true;
		return;
	}
	if (rec.count && time(NULL) - rec.at < (time_t)(db->failover_cooldown / 1000)) {
		if (!fo->said)
			fo_log(
			    "%s is lost, but the last failover was %lld s ago (cool-down %llu s): "
			    "not again",
			    primary->name, (long long)(time(NULL) - rec.at),
			    (unsigned long long)(db->failover_cooldown / 1000));
		fo->said = true;
		return;
	}
	fo_log("%s is lost (no answer for %llu ms, no replica hears it): promoting %s",
	       primary->name, (unsigned long long)(now - fo->down_since), cand->h->name);
	fence_old(c, fo, way, primary);
	char err[512];
	if (promote(c, way, primary, cand, &rec, err, sizeof(err)) < 0) {
		fo_log("promoting %s failed: %s", cand->h->name, err);
		return;
	}
	fo_log("%s is the primary (%u failover%s so far)", cand->h->name, rec.count,
	       rec.count == 1 ? "" : "s");
	fo->down_since = 0;
	fo->said = false;
}

void failover_describe(const struct ctl *c, char *out, size_t len)
{
	const struct conf_host *p = mdb_primary(c);
	struct fo_record rec;
	record_read(c, &rec);
	char when[32] = "";
	if (rec.count) {
		struct tm tm;
		gmtime_r(&rec.at, &tm);
		strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%SZ", &tm);
	}
	size_t o = (size_t)snprintf(out, len, "database primary: %s; automatic failover %s",
	                            p ? p->name : "(none)", c->cfg.db.auto_failover ? "on" : "off");
	if (rec.count && o < len)
		o += (size_t)snprintf(out + o, len - o, "; last: %s -> %s at %s (%u in all)",
		                      rec.from, rec.to, when, rec.count);
	/* on servers: the monitor of this host (failover_servers.c) */
	char path[TS_PATH_MAX];
	snprintf(path, sizeof(path), "%s/run/failover-monitor.pid", c->state);
	pid_t pid = read_pidfile(path);
	if (o < len && pid > 0)
		o += (size_t)snprintf(out + o, len - o, "; tristack failover-monitor %s (pid %d)",
		                      kill(pid, 0) == 0 ? "running" : "NOT RUNNING", pid);
	for (unsigned i = 0; i < c->cfg.nhosts && o < len; i++) {
		const struct conf_host *h = &c->cfg.hosts[i];
		char diverged[TS_PATH_MAX], fenced[TS_PATH_MAX];
		failover_diverged_path(c, h, diverged, sizeof(diverged));
		failover_fenced_path(c, h, fenced, sizeof(fenced));
		if (access(diverged, F_OK) == 0)
			o += (size_t)snprintf(out + o, len - o, "; %s DIVERGED", h->name);
		else if (access(fenced, F_OK) == 0)
			o += (size_t)snprintf(out + o, len - o, "; %s fenced", h->name);
	}
}

void failover_metrics(const struct ctl *c, FILE *f)
{
	struct fo_record rec;
	record_read(c, &rec);
	fprintf(f,
	        "# HELP " METRIC_DB_FAILOVERS " Automatic failovers of the database primary\n"
	        "# TYPE " METRIC_DB_FAILOVERS " counter\n" METRIC_DB_FAILOVERS " %u\n",
	        rec.count);
	fprintf(f, "# HELP " METRIC_DB_DIVERGED
	           " 1 for a database host whose history is not the primary's (fenced until "
	           "rebuilt)\n# TYPE " METRIC_DB_DIVERGED " gauge\n");
	for (unsigned i = 0; i < c->cfg.nhosts; i++) {
		const struct conf_host *h = &c->cfg.hosts[i];
		if (!(h->roles & (ROLE_DB_PRIMARY | ROLE_DB_REPLICA)))
			continue;
		char path[TS_PATH_MAX];
		failover_diverged_path(c, h, path, sizeof(path));
		fprintf(f, METRIC_DB_DIVERGED "{host=\"%s\"} %d\n", h->name,
		        access(path, F_OK) == 0);
	}
}
