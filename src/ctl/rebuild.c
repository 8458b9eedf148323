/* rebuild.c - `tristack rebuild HOST`: a database host that is not the
 * primary (an old primary the failover monitor marked diverged, or any
 * replica) made again from a copy of the primary, and replicating from it.
 *
 *   1. mariabackup --backup of the primary, run as the instances run (the
 *      service account, which owns their files: it reads the primary's
 *      datadir as mariadbd does, and root never reads through what that
 *      account could plant there), logged in over the primary's socket as
 *      `backup` (made on the primary with what mariabackup needs; its
 *      password in {state}/secrets/backup.password, its login in
 *      {state}/secrets/mariabackup.cnf), into {state}/db/HOST.rebuild/data;
 *      its output goes to {state}/log/HOST.rebuild.log;
 *   2. mariabackup --prepare of the copy, whose binlog info file gives the
 *      primary's GTID position at the copy (binlog_info.h);
 *   3. HOST's mariadbd stopped by its pid, its datadir moved aside to
 *      {state}/db/HOST.pre-rebuild-YYYYMMDDTHHMMSSZ (kept: the operator
 *      removes it once sure), the copy moved into its place. Nothing of an
 *      instance's own lives in its datadir but its binary and relay logs
 *      and replication state (absent from the copy, made anew): its
 *      server_id, read_only and semi-sync come from mdb_argv;
 *   4. HOST started as up starts it (read-only: it is not the primary), its
 *      gtid_slave_pos set to the copy's position, and provisioned as up
 *      provisions a replica (mdb_provision_replica): its own accounts
 *      hardened again (the copy came with the primary's mysql.* tables),
 *      CHANGE MASTER TO the primary with MASTER_USE_GTID=slave_pos;
 *   5. waited for until it has applied all the primary had when it began to
 *      replicate; then its diverged mark goes and its fence is lifted.
 *
 * While it runs {state}/db/HOST.rebuilding (holding its pid) keeps the
 * supervisor from starting HOST's mariadbd (rebuild_running), and from
 * HOST's start until its replication is set, {state}/db/promoting keeps the
 * failover monitor from pointing the copy anywhere (as during a promote).
 * Both go whatever happens; a mark whose pid is gone (a rebuild killed) is
 * not obeyed. A failure between the stop and the replication set puts the
 * old datadir back and starts it: HOST is as it was, and the copy stays in
 * {state}/db/HOST.rebuild for a look (the next rebuild clears it).
 */
#include <errno.h>
#include <fcntl.h>
#include <mysql.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "binlog_info.h"
#include "conf/names.h"
#include "ctl.h"

#define MARIABACKUP "/usr/bin/mariabackup"
#define STOP_MS     30000 /* then SIGKILL: its data is set aside anyway */
#define START_MS    60000 /* as up waits for an instance */
#define CATCHUP_S   300
/* an error may name two paths and a GTID list */
#define ERR_MAX (2 * TS_PATH_MAX + BINLOG_INFO_GTID_MAX + 512)

struct rebuild {
	struct ctl *c;
	const struct conf_host *h, *primary;
	struct unit *u;     /* HOST's mariadbd */
	struct mdb_paths p; /* HOST's */
	char work[TS_PATH_MAX + 100], data[TS_PATH_MAX + 200], aside[TS_PATH_MAX + 100];
	char log[TS_PATH_MAX + 100], mark[TS_PATH_MAX + 100], pause[TS_PATH_MAX + 100];
	char gtid[BINLOG_INFO_GTID_MAX];
};

static void sleep_ms(unsigned ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
	nanosleep(&ts, NULL);
}

static void mark_path(const struct ctl *c, const struct conf_host *h, char *out, size_t len)
{
	snprintf(out, len, "%s/db/%s.rebuilding", c->state, h->name);
}

/* The pid a rebuild of h wrote in its mark, when that rebuild still runs. */
static pid_t rebuild_pid(const struct ctl *c, const struct conf_host *h)
{
	char path[TS_PATH_MAX + 100];
	mark_path(c, h, path, sizeof(path));
	FILE *f = fopen(path, "r");
	int pid = 0;
	if (f == NULL)
		return 0;
	if (fscanf(f, "%d", &pid) != 1)
		pid = 0;
	fclose(f);
	return pid > 0 && kill(pid, 0) == 0 && is_our_daemon(pid, "tristack") ? pid : 0;
}

bool rebuild_running(const struct ctl *c, const struct conf_host *h)
{
	return rebuild_pid(c, h) != 0;
}

/* A mark of root's in a folder of the account's: made only where there is
 * none (O_EXCL: never written through a link found there, never taking
 * another command's). */
static int mark_make(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
	if (fd < 0)
		return -1;
	ssize_t w = write(fd, text, strlen(text));
	return close(fd) == 0 && w == (ssize_t)strlen(text) ? 0 : -1;
}

/* Why HOST cannot be rebuilt now (into why), or 0 and r filled. */
static int plan(struct ctl *c, const char *name, struct rebuild *r, char *why, size_t len)
{
	memset(r, 0, sizeof(*r));
	r->c = c;
	r->h = conf_host(&c->cfg, name);
	r->primary = mdb_primary(c);
	if (r->h == NULL) {
		snprintf(why, len, "no host '%s' in %s", name, c->conf);
		return -1;
	}
	if (!(r->h->roles & (ROLE_DB_PRIMARY | ROLE_DB_REPLICA))) {
		snprintf(why, len, "%s is not a database host of the stack", name);
		return -1;
	}
	if (r->h == r->primary) {
		snprintf(why, len,
		         "%s is the primary: a replica is rebuilt from it (to rebuild %s, "
		         "tristack promote another host first)",
		         name, name);
		return -1;
	}
	for (unsigned i = 0; i < c->nunits; i++)
		if (c->units[i].db && c->units[i].host == r->h)
			r->u = &c->units[i];
	snprintf(r->pause, sizeof(r->pause), "%s/" STATE_DB_PROMOTING, c->state);
	pid_t other = rebuild_pid(c, r->h);
	if ((c->isolated && !lab_is_up(c)) || supervisor_running(c) == 0)
		snprintf(why, len, "the stack is not up (tristack up first)");
	else if (host_is_off(c, r->h))
		snprintf(why, len, "%s is powered off (tristack poweron %s first)", name, name);
	else if (other)
		snprintf(why, len, "a rebuild of %s is at work (pid %d)", name, (int)other);
	else if (access(r->pause, F_OK) == 0)
		snprintf(why, len, "a promotion is at work (%s)", r->pause);
	else if (r->u == NULL)
		snprintf(why, len, "%s runs no MariaDB instance", name);
	else
		return 0;
	return -1;
}

/* mariabackup's login on the primary: the `backup` account, over the
 * primary's socket, in {state}/secrets/mariabackup.cnf (the account's:
 * mariabackup runs as it). */
static int backup_login(struct rebuild *r, char *path, size_t len, char *err, size_t errlen)
{
	static const char *const grants[] = { "RELOAD, PROCESS, LOCK TABLES, BINLOG MONITOR ON *.*",
		                              NULL };
	struct ctl *c = r->c;
	char pw[64], text[TS_PATH_MAX + 300];
	struct mdb_paths pp;
	mdb_paths(c, r->primary, &pp);
	/* mariabackup holds a few sessions at once (its main one, one per
	 * stage of the copy's end) */
	if (mdb_socket_account(c, "backup", grants, 10, err, errlen) < 0 ||
	    mdb_secret(c, "backup", pw, sizeof(pw)) < 0)
		return -1;
	snprintf(path, len, "%s/" STATE_SECRETS "/mariabackup.cnf", c->state);
	snprintf(text, sizeof(text),
	         "# mariabackup's login on %s, the primary (made by tristack rebuild)\n"
	         "[client]\nuser = backup\npassword = %s\nsocket = %s\n",
	         r->primary->name, pw, pp.socket);
	explicit_bzero(pw, sizeof(pw));
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
	ssize_t w = -1;
	if (fd >= 0 && fchmod(fd, 0600) == 0 && (!c->drop || fchown(fd, c->uid, c->gid) == 0))
		w = write(fd, text, strlen(text));
	explicit_bzero(text, sizeof(text));
	if ((fd >= 0 && close(fd) != 0) || w < 0) {
		snprintf(err, errlen, "cannot write %s: %s", path, strerror(errno));
		return -1;
	}
	return 0;
}

/* The copy's GTID position, from its binlog info file. */
static int read_gtid(struct rebuild *r, char *err, size_t errlen)
{
	static const char *const names[] = { BINLOG_INFO_FILE, BINLOG_INFO_FILE_OLD };
	char path[TS_PATH_MAX + 300], text[4096], why[160];
	for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
		snprintf(path, sizeof(path), "%s/%s", r->data, names[i]);
		int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0)
			continue;
		ssize_t n = read(fd, text, sizeof(text));
		close(fd);
		snprintf(why, sizeof(why), "longer than a binlog info file is");
		if (n >= 0 && (size_t)n < sizeof(text) &&
		    binlog_info_gtid(text, (size_t)n, r->gtid, sizeof(r->gtid), why, sizeof(why)) ==
		        0)
			return 0;
		snprintf(err, errlen, "%s: %s", path, n < 0 ? strerror(errno) : why);
		return -1;
	}
	snprintf(err, errlen, "the backup in %s has no binlog info file (%s)", r->data,
	         BINLOG_INFO_FILE_OLD);
	return -1;
}

/* Steps 1 and 2: the primary's copy, prepared, in r->data. */
static int copy_primary(struct rebuild *r, char *err, size_t errlen)
{
	struct ctl *c = r->c;
	struct mdb_paths pp;
	mdb_paths(c, r->primary, &pp);
	char login[TS_PATH_MAX + 100], a_login[TS_PATH_MAX + 200], a_datadir[TS_PATH_MAX + 100],
	    a_target[TS_PATH_MAX + 300];
	if (backup_login(r, login, sizeof(login), err, errlen) < 0)
		return -1;
	/* what an earlier rebuild left, removed as the account that made it */
	if (mdb_run(c, (char *[]){ "/bin/rm", "-rf", "--", r->work, NULL }, r->log, r->p.tmp) < 0 ||
	    acct_give_dir(c, r->work, err, errlen) < 0) {
		snprintf(err, errlen, "cannot make %s afresh", r->work);
		return -1;
	}
	snprintf(a_login, sizeof(a_login), "--defaults-file=%s", login);
	snprintf(a_datadir, sizeof(a_datadir), "--datadir=%s", pp.datadir);
	snprintf(a_target, sizeof(a_target), "--target-dir=%s", r->data);
	printf("  backup of %s (mariabackup, its output in %s) into %s\n", r->primary->name, r->log,
	       r->data);
	fflush(stdout);
	if (mdb_run(c, (char *[]){ MARIABACKUP, a_login, "--backup", a_datadir, a_target, NULL },
	            r->log, r->p.tmp) < 0) {
		snprintf(err, errlen, "mariabackup --backup of %s failed (see %s)",
		         r->primary->name, r->log);
		return -1;
	}
	if (mdb_run(c, (char *[]){ MARIABACKUP, "--no-defaults", "--prepare", a_target, NULL },
	            r->log, r->p.tmp) < 0) {
		snprintf(err, errlen, "mariabackup --prepare failed (see %s)", r->log);
		return -1;
	}
	if (read_gtid(r, err, errlen) < 0)
		return -1;
	printf("  prepared: the copy is %s at GTID %s\n", r->primary->name,
	       r->gtid[0] ? r->gtid : "(none yet)");
	return 0;
}

/* Step 3: HOST's instance stopped, its datadir set aside, the copy in
 * its place. *aside_done: the old datadir has moved (put_back's to undo). */
static int swap_in(struct rebuild *r, bool *aside_done, char *err, size_t errlen)
{
	pid_t pid = unit_running(r->u);
	if (unit_stop(r->u, STOP_MS) < 0 || unit_running(r->u)) {
		snprintf(err, errlen, "%s's mariadbd (pid %d) would not stop", r->h->name,
		         (int)pid);
		return -1;
	}
	if (pid)
		printf("  %s's mariadbd stopped (pid %d)\n", r->h->name, (int)pid);
	if (rename(r->p.datadir, r->aside) < 0) {
		snprintf(err, errlen, "cannot move %s aside: %s", r->p.datadir, strerror(errno));
		return -1;
	}
	*aside_done = true;
	printf("  its datadir kept in %s\n", r->aside);
	if (rename(r->data, r->p.datadir) < 0) {
		snprintf(err, errlen, "cannot move the copy to %s: %s", r->p.datadir,
		         strerror(errno));
		return -1;
	}
	return 0;
}

/* Start HOST's instance and wait until it answers. */
static int start(struct rebuild *r, char *err, size_t errlen)
{
	if (unit_start(r->c, r->u, err, errlen) < 0)
		return -1;
	char why[256] = "";
	for (unsigned waited = 0; waited < START_MS; waited += 100) {
		if (unit_running(r->u) == 0) {
			snprintf(err, errlen, "%s's mariadbd exited (see %s)", r->h->name,
			         r->u->logfile);
			return -1;
		}
		if (unit_answers(r->c, r->u, why, sizeof(why)))
			return 0;
		sleep_ms(100);
	}
	snprintf(err, errlen, "%s's mariadbd does not answer: %s", r->h->name, why);
	return -1;
}

/* Step 4, with the failover monitor paused: the copy running, read-only,
 * replicating from the primary from the copy's position. */
static int start_replica(struct rebuild *r, char *err, size_t errlen)
{
	if (mark_make(r->pause, "rebuild\n") < 0) {
		snprintf(err, errlen, "cannot write %s: %s", r->pause, strerror(errno));
		return -1;
	}
	int rc = start(r, err, errlen);
	MYSQL *m = rc == 0 ? mdb_admin(r->c, r->h, err, errlen) : NULL;
	char q[BINLOG_INFO_GTID_MAX + 100];
	snprintf(q, sizeof(q), "STOP SLAVE; RESET SLAVE ALL; SET GLOBAL gtid_slave_pos = '%s'",
	         r->gtid);
	if (m == NULL || mdb_sql(m, err, errlen, q) < 0)
		rc = -1;
	if (m)
		mysql_close(m);
	if (rc == 0) {
		printf("  %s started (pid %d), read-only, from GTID %s\n", r->h->name,
		       (int)r->u->pid, r->gtid[0] ? r->gtid : "(none)");
		fflush(stdout);
		rc = mdb_provision_replica(r->c, r->h, err, errlen);
	}
	unlink(r->pause);
	return rc;
}

/* HOST as it was: the copy stopped and back in the work folder, the old
 * datadir in place again, started. */
static void put_back(struct rebuild *r)
{
	char err[ERR_MAX];
	unit_stop(r->u, STOP_MS);
	struct stat st;
	if (stat(r->p.datadir, &st) == 0 && rename(r->p.datadir, r->data) < 0) {
		fprintf(stderr, "tristack: rebuild: cannot move the copy out of %s: %s\n",
		        r->p.datadir, strerror(errno));
		return;
	}
	if (rename(r->aside, r->p.datadir) < 0) {
		fprintf(stderr, "tristack: rebuild: cannot move %s back: %s\n", r->aside,
		        strerror(errno));
		return;
	}
	if (start(r, err, sizeof(err)) < 0)
		fprintf(stderr, "tristack: rebuild: %s (the supervisor tries again)\n", err);
	else
		fprintf(stderr,
		        "tristack: rebuild: %s is as it was: its datadir is back, started "
		        "(pid %d); the copy is left in %s\n",
		        r->h->name, (int)r->u->pid, r->work);
}

/* Step 5: HOST has applied all the primary had (its binlog position, read
 * now); into pos. */
static int catch_up(struct rebuild *r, char *pos, size_t len, char *err, size_t errlen)
{
	MYSQL *p = mdb_admin(r->c, r->primary, err, errlen);
	if (p == NULL)
		return -1;
	bool got = mdb_value(p, "SELECT @@gtid_binlog_pos", pos, len) != NULL;
	mysql_close(p);
	MYSQL *m = got ? mdb_admin(r->c, r->h, err, errlen) : NULL;
	if (m == NULL) {
		if (!got)
			snprintf(err, errlen, "cannot read %s's GTID position", r->primary->name);
		return -1;
	}
	char q[BINLOG_INFO_GTID_MAX + 100], v[16] = "";
	snprintf(q, sizeof(q), "SELECT MASTER_GTID_WAIT('%s', %d)", pos, CATCHUP_S);
	bool ok = mdb_value(m, q, v, sizeof(v)) && strcmp(v, "0") == 0;
	mysql_close(m);
	if (!ok)
		snprintf(err, errlen,
		         "%s replicates but did not catch up with %s (%s) within %d s: it stays "
		         "marked and fenced; tristack status shows its lag",
		         r->h->name, r->primary->name, pos, CATCHUP_S);
	return ok ? 0 : -1;
}

static int rebuild(struct rebuild *r, char *err, size_t errlen)
{
	struct ctl *c = r->c;
	printf("rebuilding %s from %s, the primary\n", r->h->name, r->primary->name);
	if (copy_primary(r, err, errlen) < 0)
		return -1;
	/* from the stop until it replicates, no Ctrl-C leaves it half done:
	 * signals wait until HOST runs again, rebuilt or put back */
	sigset_t block, old;
	sigemptyset(&block);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGHUP);
	sigaddset(&block, SIGQUIT);
	sigprocmask(SIG_BLOCK, &block, &old);
	bool aside_done = false;
	int rc = swap_in(r, &aside_done, err, errlen);
	if (rc == 0)
		rc = start_replica(r, err, errlen);
	if (rc < 0 && aside_done) {
		fprintf(stderr, "tristack: rebuild %s: %s\n", r->h->name, err);
		put_back(r);
		snprintf(err, errlen, "%s was not rebuilt", r->h->name);
	} else if (rc < 0 && unit_running(r->u) == 0) {
		char e2[ERR_MAX]; /* stopped, its datadir untouched: started again */
		if (start(r, e2, sizeof(e2)) < 0)
			fprintf(stderr, "tristack: rebuild: %s (the supervisor tries again)\n", e2);
	}
	unlink(r->mark); /* the supervisor watches over it again */
	sigprocmask(SIG_SETMASK, &old, NULL);
	char pos[BINLOG_INFO_GTID_MAX];
	if (rc < 0 || catch_up(r, pos, sizeof(pos), err, errlen) < 0)
		return -1;
	printf("  caught up with %s at GTID %s\n", r->primary->name, pos);
	char diverged[TS_PATH_MAX];
	failover_diverged_path(c, r->h, diverged, sizeof(diverged));
	if (unlink(diverged) == 0)
		printf("  no longer marked diverged\n");
	if (failover_fence(c, r->h, false) < 0) {
		snprintf(err, errlen, "cannot lift %s's fence (nft)", r->h->name);
		return -1;
	}
	rmdir(r->work); /* empty: the copy is the datadir now */
	printf("%s is rebuilt: a replica of %s, its fence lifted; its old datadir is kept in %s\n",
	       r->h->name, r->primary->name, r->aside);
	return 0;
}

/* Where the rebuild of r->h works, logs and keeps the old datadir. */
static void name_paths(struct rebuild *r)
{
	const struct ctl *c = r->c;
	char when[32];
	time_t now = time(NULL);
	struct tm tm;
	gmtime_r(&now, &tm);
	strftime(when, sizeof(when), "%Y%m%dT%H%M%SZ", &tm);
	mdb_paths(c, r->h, &r->p);
	snprintf(r->work, sizeof(r->work), "%s/db/%s.rebuild", c->state, r->h->name);
	snprintf(r->data, sizeof(r->data), "%s/data", r->work);
	snprintf(r->aside, sizeof(r->aside), "%s.pre-rebuild-%s", r->p.datadir, when);
	snprintf(r->log, sizeof(r->log), "%s/log/%s.rebuild.log", c->state, r->h->name);
	mark_path(c, r->h, r->mark, sizeof(r->mark));
}

int cmd_rebuild(struct ctl *c, int argc, char **argv)
{
	if (argc != 1) {
		fprintf(stderr, "usage: tristack rebuild HOST\n");
		return 1;
	}
	static struct rebuild r;
	static char err[ERR_MAX];
	setvbuf(stdout, NULL, _IOLBF, 0); /* each step shown as it is done */
	if (plan(c, argv[0], &r, err, sizeof(err)) < 0 ||
	    ctl_prepare_account(c, err, sizeof(err)) < 0) {
		fprintf(stderr, "tristack: rebuild %s: %s\n", argv[0], err);
		return 1;
	}
	name_paths(&r);
	char pid[32];
	snprintf(pid, sizeof(pid), "%d\n", (int)getpid());
	int made = mark_make(r.mark, pid);
	if (made < 0 && errno == EEXIST && !rebuild_running(c, r.h)) {
		unlink(r.mark); /* a killed rebuild's */
		made = mark_make(r.mark, pid);
	}
	if (made < 0) {
		fprintf(stderr, "tristack: rebuild %s: cannot write %s: %s\n", argv[0], r.mark,
		        strerror(errno));
		return 1;
	}
	int rc = rebuild(&r, err, sizeof(err));
	unlink(r.mark);
	if (rc < 0) {
		fprintf(stderr, "tristack: rebuild %s: %s\n", argv[0], err);
		return 1;
	}
	return 0;
}
