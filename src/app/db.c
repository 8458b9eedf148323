/* db.c - MariaDB connections on the event loop. See db.h.
 *
 * Each connection is a small state machine: CONNECT, PREPARE (every
 * statement, once), then IDLE / EXEC / STORE for jobs. Connector/C's *_start
 * calls return what they wait for (MYSQL_WAIT_READ, _WRITE, _TIMEOUT); the
 * connection's io and timer bring the matching *_cont call when the socket
 * or the clock is ready.
 */
#include <errmsg.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conf/conf.h"
#include "conf/names.h"
#include "core/httpd.h"
#include "core/log.h"
#include "db.h"

#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 5000
#define MONITOR_MS     500
#define QUEUE_CHECK_MS 100

static const char *const sql_text[ST_COUNT] = {
	[ST_POST_BY_ID] = "SELECT id, author, body, created_at FROM posts WHERE id = ?",
	[ST_POSTS_LATEST] =
	    "SELECT id, author, body, created_at FROM posts ORDER BY id DESC LIMIT ?",
	[ST_POSTS_BEFORE] = "SELECT id, author, body, created_at FROM posts WHERE id < ? "
	                    "ORDER BY id DESC LIMIT ?",
	[ST_POST_INSERT] =
	    "INSERT INTO posts (author, body, created_at, idem_key) VALUES (?, ?, ?, ?)",
	/* and a position that covers the row (a replayed answer's GTID) */
	[ST_POST_BY_KEY] = "SELECT id, author, body, created_at, @@gtid_binlog_pos FROM posts "
	                   "WHERE idem_key = ?",
	[ST_GTID_WAIT] = "SELECT MASTER_GTID_WAIT(?, ? / 1000)",
	[ST_HEARTBEAT] = "REPLACE INTO heartbeat (host, ts) VALUES (?, NOW(6))",
	/* read-only?, the newest heartbeat's age, and the newest heartbeat
	 * itself as a number: the row's own value, the same on every server
	 * that has it (no time zone: DATETIME arithmetic) */
	[ST_STATUS] = "SELECT @@read_only, "
	              "TIMESTAMPDIFF(MICROSECOND, (SELECT MAX(ts) FROM heartbeat), NOW(6)), "
	              "TIMESTAMPDIFF(MICROSECOND, '2000-01-01', (SELECT MAX(ts) FROM heartbeat))",
	[ST_GTID_POS] = "SELECT @@gtid_binlog_pos",
};

enum dbc_state { DC_DOWN, DC_CONNECT, DC_PREPARE, DC_IDLE, DC_EXEC, DC_STORE };

struct db_conn {
	MYSQL my;
	bool inited;
	struct db_pool *pool;
	struct io io;
	struct timer timer; /* library timeouts, and the reconnect backoff */
	MYSQL_STMT *st[ST_COUNT];
	enum dbc_state state;
	int prep; /* statement being prepared */
	int wait; /* MYSQL_WAIT_* the library waits for */
	unsigned backoff;
	struct db_job *job;
	struct db_conn *next_idle;
};

struct db_pool {
	struct db_worker *dw;
	struct db_server *server;
	struct db_conn *conns;
	unsigned n;
	unsigned alive; /* connections past their handshake */
	bool failed;    /* the last connect failed: fail jobs at once */
	bool monitor;   /* the monitor's own connection: not in the gauges */
	struct db_conn *idle;
	struct db_job *qhead, *qtail;
};

/* What dbc_step() is told, besides MYSQL_WAIT_* readiness (a mask, so
 * never negative): the *_start call just made finished at once, and how. */
enum dbc_at_once { DBC_AT_ONCE_OK = -1, DBC_AT_ONCE_FAILED = -2 };

static void dbc_step(struct db_conn *c, int ev);
static void dbc_io(struct io *io);
static void pool_dispatch(struct db_pool *p);

static struct loop *loop_of(struct db_conn *c)
{
	return c->pool->dw->w->loop;
}

static void count(struct db_worker *dw, int id, int64_t n)
{
	metrics_add(dw->w->shard, metrics_slot(dw->w->d->metrics, id), n);
}

/* The pool gauges: open connections, busy ones. */
static void pool_gauge(struct db_pool *p, bool busy, int64_t n)
{
	if (p->monitor)
		return;
	struct db *db = p->dw->db;
	unsigned i = (unsigned)(p->server - db->servers);
	count(p->dw, busy ? db->m_pool_busy[i] : db->m_pool_open[i], n);
}

/* ---- parameters ---- */

void db_param_ll(struct db_job *job, int i, long long v)
{
	job->ll[i] = v;
	memset(&job->param[i], 0, sizeof(job->param[i]));
	job->param[i].buffer_type = MYSQL_TYPE_LONGLONG;
	job->param[i].buffer = &job->ll[i];
}

void db_param_str(struct db_job *job, int i, const char *s, size_t len)
{
	job->len[i] = (unsigned long)len;
	memset(&job->param[i], 0, sizeof(job->param[i]));
	job->param[i].buffer_type = MYSQL_TYPE_STRING;
	job->param[i].buffer = (void *)(uintptr_t)s;
	job->param[i].buffer_length = (unsigned long)len;
	job->param[i].length = &job->len[i];
}

void db_param_null(struct db_job *job, int i)
{
	memset(&job->param[i], 0, sizeof(job->param[i]));
	job->param[i].buffer_type = MYSQL_TYPE_NULL;
}

/* ---- connections ---- */

/* A submitted statement is over, whichever way: into the histogram. */
static void job_observe(struct db_job *job)
{
	struct db_worker *dw = job->timed_by;
	if (dw == NULL)
		return;
	job->timed_by = NULL;
	double secs = (double)(httpd_now_us() - job->t_submit_us) / 1e6;
	metrics_observe(dw->w->d->metrics, dw->w->shard, dw->db->m_duration[job->timed_target],
	                secs);
}

static void job_fail(struct db_job *job, unsigned err, const char *msg)
{
	job_observe(job);
	job->err = err;
	snprintf(job->errmsg, sizeof(job->errmsg), "%s", msg);
	job->st = NULL;
	job->done(job, false);
}

/* Close, fail the job in progress, and connect again after a backoff. */
static void dbc_reset(struct db_conn *c, const char *why)
{
	struct db_pool *p = c->pool;
	if (c->state >= DC_IDLE || c->state == DC_PREPARE) {
		p->alive--;
		pool_gauge(p, false, -1);
		if (c->job)
			pool_gauge(p, true, -1);
		log_warn("database %s: connection lost: %s", p->server->name, why);
	}
	if (c->state == DC_IDLE) {
		for (struct db_conn **q = &p->idle; *q; q = &(*q)->next_idle)
			if (*q == c) {
				*q = c->next_idle;
				break;
			}
	}
	loop_io_del(&c->io); /* mysql_close closes the socket itself */
	if (c->inited) {
		for (int i = 0; i < ST_COUNT; i++)
			if (c->st[i]) {
				mysql_stmt_close(c->st[i]);
				c->st[i] = NULL;
			}
		mysql_close(&c->my);
		c->inited = false;
	}
	c->state = DC_DOWN;
	struct db_job *job = c->job;
	c->job = NULL;
	c->backoff = c->backoff ? MIN(c->backoff * 2, BACKOFF_MAX_MS) : BACKOFF_MIN_MS;
	loop_timer_set(loop_of(c), &c->timer, c->backoff);
	if (job) {
		count(p->dw, p->dw->db->m_errors, 1);
		job_fail(job, CR_SERVER_LOST, why);
	}
	if (p->alive == 0 && p->failed) {
		/* nobody left to serve the queue: it fails now, not at its deadline */
		while (p->qhead) {
			struct db_job *q = p->qhead;
			p->qhead = q->next;
			if (p->qhead == NULL)
				p->qtail = NULL;
			job_fail(q, CR_CONNECTION_ERROR, "database unreachable");
		}
	}
}

/* The library waits: note for what, and until when. */
static void dbc_wait(struct db_conn *c, int status)
{
	c->wait = status;
	if (c->io.fd < 0) {
		int fd = (int)mysql_get_socket(&c->my);
		if (fd >= 0 && loop_io_add(loop_of(c), &c->io, fd, dbc_io) < 0) {
			dbc_reset(c, "epoll");
			return;
		}
	}
	/* it returned because the socket would block */
	if (status & MYSQL_WAIT_READ)
		c->io.ready &= ~IO_READ;
	if (status & MYSQL_WAIT_WRITE)
		c->io.ready &= ~IO_WRITE;
	if (status & MYSQL_WAIT_TIMEOUT)
		loop_timer_set(loop_of(c), &c->timer, mysql_get_timeout_value_ms(&c->my));
	else
		loop_timer_stop(loop_of(c), &c->timer);
}

static void dbc_io(struct io *io)
{
	struct db_conn *c = container_of(io, struct db_conn, io);
	int ev = 0;
	if ((c->wait & MYSQL_WAIT_READ) && (io->ready & (IO_READ | IO_HUP | IO_ERR)))
		ev |= MYSQL_WAIT_READ;
	if ((c->wait & MYSQL_WAIT_WRITE) && (io->ready & (IO_WRITE | IO_ERR)))
		ev |= MYSQL_WAIT_WRITE;
	if (ev && c->state != DC_DOWN && c->state != DC_IDLE)
		dbc_step(c, ev);
	else if (c->state == DC_IDLE && (io->ready & (IO_HUP | IO_ERR)))
		dbc_reset(c, "closed by the server");
}

static void dbc_timer(struct timer *t)
{
	struct db_conn *c = container_of(t, struct db_conn, timer);
	if (c->state == DC_DOWN)
		dbc_step(c, 0); /* the backoff is over: connect */
	else if (c->wait & MYSQL_WAIT_TIMEOUT)
		dbc_step(c, MYSQL_WAIT_TIMEOUT);
}

/* After a *_start call: wait for what the library waits for, or go on at
 * once with the call's result. */
static void dbc_started(struct db_conn *c, int status, bool failed)
{
	if (status)
		dbc_wait(c, status);
	else
		dbc_step(c, failed ? DBC_AT_ONCE_FAILED : DBC_AT_ONCE_OK);
}

static void dbc_start_connect(struct db_conn *c)
{
	struct db *db = c->pool->dw->db;
	struct db_server *sv = c->pool->server;
	mysql_init(&c->my);
	c->inited = true;
	unsigned secs = (unsigned)MAX(1, (db->timeout_ms + 999) / 1000);
	mysql_options(&c->my, MYSQL_OPT_NONBLOCK, 0);
	mysql_options(&c->my, MYSQL_OPT_CONNECT_TIMEOUT, &secs);
	mysql_options(&c->my, MYSQL_OPT_READ_TIMEOUT, &secs);
	mysql_options(&c->my, MYSQL_OPT_WRITE_TIMEOUT, &secs);
	mysql_options(&c->my, MYSQL_SET_CHARSET_NAME, "utf8mb4");
	/* the GTID of each commit comes back in its OK packet */
	mysql_options(&c->my, MYSQL_INIT_COMMAND,
	              "SET SESSION session_track_system_variables = 'last_gtid', "
	              "time_zone = '+00:00'");
	c->io.fd = -1;
	c->state = DC_CONNECT;
	MYSQL *ret;
	int status = mysql_real_connect_start(&ret, &c->my, sv->host, db->user, db->password,
	                                      db->schema, sv->port, NULL, 0);
	dbc_started(c, status, ret == NULL);
}

static void dbc_idle(struct db_conn *c)
{
	struct db_pool *p = c->pool;
	c->state = DC_IDLE;
	c->wait = MYSQL_WAIT_READ; /* a close by the server shows as readable */
	c->next_idle = p->idle;
	p->idle = c;
	pool_dispatch(p);
}

static void job_done(struct db_conn *c, bool ok)
{
	struct db_job *job = c->job;
	struct db_pool *p = c->pool;
	enum db_stmt stmt = job->stmt; /* the callback may reuse the job */
	c->job = NULL;
	pool_gauge(p, true, -1);
	job->st = ok ? c->st[job->stmt] : NULL;
	if (!ok) {
		job->err = mysql_stmt_errno(c->st[job->stmt]);
		snprintf(job->errmsg, sizeof(job->errmsg), "%s",
		         mysql_stmt_error(c->st[job->stmt]));
		count(p->dw, p->dw->db->m_errors, 1);
	}
	bool lost = !ok && (job->err == CR_SERVER_LOST || job->err == CR_SERVER_GONE_ERROR ||
	                    (job->err >= 2000 && job->err < 2100));
	job_observe(job);
	job->done(job, ok);
	if (lost) {
		dbc_reset(c, "lost during a query");
		return;
	}
	mysql_stmt_free_result(c->st[stmt]);
	dbc_idle(c);
}

typedef int (*stmt_cont_fn)(int *ret, MYSQL_STMT *st, int ready);

/* Carry on a statement's call: ev is readiness for its *_cont, or says the
 * call finished at once. Returns false while the library waits (dbc_wait
 * done), else true with *rc the call's result (0: fine). */
static bool stmt_continue(struct db_conn *c, stmt_cont_fn cont, MYSQL_STMT *st, int ev, int *rc)
{
	if (ev < 0) {
		*rc = ev == DBC_AT_ONCE_OK ? 0 : 1;
		return true;
	}
	*rc = 0;
	int status = cont(rc, st, ev);
	if (status) {
		dbc_wait(c, status);
		return false;
	}
	return true;
}

/* Prepare the next statement, or be idle once all are. */
static void dbc_prepare_next(struct db_conn *c)
{
	if (++c->prep == ST_COUNT) {
		c->backoff = 0;
		dbc_idle(c);
		return;
	}
	int rc = 0;
	c->st[c->prep] = mysql_stmt_init(&c->my);
	int status = mysql_stmt_prepare_start(&rc, c->st[c->prep], sql_text[c->prep],
	                                      strlen(sql_text[c->prep]));
	dbc_started(c, status, rc != 0);
}

static void dbc_connecting(struct db_conn *c, int ev)
{
	MYSQL *ret = ev == DBC_AT_ONCE_FAILED ? NULL : &c->my;
	if (ev >= 0) {
		int status = mysql_real_connect_cont(&ret, &c->my, ev);
		if (status) {
			dbc_wait(c, status);
			return;
		}
	}
	if (ret == NULL) {
		char why[200];
		snprintf(why, sizeof(why), "connect: %s", mysql_error(&c->my));
		c->state = DC_DOWN;
		c->pool->failed = true;
		dbc_reset(c, why);
		return;
	}
	c->state = DC_PREPARE;
	c->pool->alive++;
	c->pool->failed = false;
	pool_gauge(c->pool, false, 1);
	c->prep = -1;
	dbc_prepare_next(c);
}

static void dbc_preparing(struct db_conn *c, int ev)
{
	int rc;
	if (!stmt_continue(c, mysql_stmt_prepare_cont, c->st[c->prep], ev, &rc))
		return;
	if (rc != 0) {
		char why[240];
		snprintf(why, sizeof(why), "prepare: %s", mysql_stmt_error(c->st[c->prep]));
		dbc_reset(c, why);
		return;
	}
	dbc_prepare_next(c);
}

/* A write is over: its id and the GTID of its commit. */
static void job_written(struct db_job *job, MYSQL *my, MYSQL_STMT *st)
{
	job->insert_id = (long long)mysql_stmt_insert_id(st);
	const char *data;
	size_t len;
	/* name, then value */
	if (mysql_session_track_get_first(my, SESSION_TRACK_SYSTEM_VARIABLES, &data, &len) == 0 &&
	    mysql_session_track_get_next(my, SESSION_TRACK_SYSTEM_VARIABLES, &data, &len) == 0)
		snprintf(job->gtid, sizeof(job->gtid), "%.*s", (int)len, data);
}

static void dbc_executing(struct db_conn *c, int ev)
{
	MYSQL_STMT *st = c->st[c->job->stmt];
	int rc;
	if (!stmt_continue(c, mysql_stmt_execute_cont, st, ev, &rc))
		return;
	if (rc != 0) {
		job_done(c, false);
		return;
	}
	if (mysql_stmt_field_count(st) == 0) {
		job_written(c->job, &c->my, st);
		job_done(c, true);
		return;
	}
	c->state = DC_STORE;
	int status = mysql_stmt_store_result_start(&rc, st);
	dbc_started(c, status, rc != 0);
}

static void dbc_storing(struct db_conn *c, int ev)
{
	int rc;
	if (stmt_continue(c, mysql_stmt_store_result_cont, c->st[c->job->stmt], ev, &rc))
		job_done(c, rc == 0);
}

/* The connection goes on after the library returned: ev is what is ready
 * (MYSQL_WAIT_*), or enum dbc_at_once for a call that finished at once. */
static void dbc_step(struct db_conn *c, int ev)
{
	switch (c->state) {
	case DC_DOWN:
		dbc_start_connect(c);
		return;
	case DC_CONNECT:
		dbc_connecting(c, ev);
		return;
	case DC_PREPARE:
		dbc_preparing(c, ev);
		return;
	case DC_EXEC:
		dbc_executing(c, ev);
		return;
	case DC_STORE:
		dbc_storing(c, ev);
		return;
	case DC_IDLE:
		return;
	}
}

/* ---- pools and the queue ---- */

static void dbc_run(struct db_conn *c, struct db_job *job)
{
	c->job = job;
	job->dbc = c;
	job->server = c->pool->server;
	pool_gauge(c->pool, true, 1);
	MYSQL_STMT *st = c->st[job->stmt];
	if (mysql_stmt_param_count(st) && mysql_stmt_bind_param(st, job->param)) {
		job_done(c, false);
		return;
	}
	c->state = DC_EXEC;
	job->sent = true; /* from here on, it may reach the server */
	int rc = 0;
	int status = mysql_stmt_execute_start(&rc, st);
	dbc_started(c, status, rc != 0);
}

static void pool_dispatch(struct db_pool *p)
{
	while (p->idle && p->qhead) {
		struct db_conn *c = p->idle;
		p->idle = c->next_idle;
		struct db_job *job = p->qhead;
		p->qhead = job->next;
		if (p->qhead == NULL)
			p->qtail = NULL;
		dbc_run(c, job);
	}
}

void db_submit(struct db_worker *dw, struct db_server *sv, struct db_job *job)
{
	struct db_pool *p = &dw->pools[sv - dw->db->servers];
	job->server = sv;
	job->gtid[0] = '\0';
	job->err = 0;
	job->sent = false;
	job->timed_target = sv->role == DB_ROLE_REPLICA ? 1 : 0;
	job->timed_by = dw;
	job->t_submit_us = httpd_now_us();
	count(dw, dw->db->m_queries[job->timed_target], 1);
	if (p->alive == 0 && p->failed) {
		count(dw, dw->db->m_errors, 1);
		job_fail(job, CR_CONNECTION_ERROR, "database unreachable");
		return;
	}
	job->next = NULL;
	job->deadline = loop_now(dw->w->loop) + dw->db->timeout_ms;
	if (p->qtail)
		p->qtail->next = job;
	else
		p->qhead = job;
	p->qtail = job;
	pool_dispatch(p);
}

static void pool_init(struct db_pool *p, struct db_worker *dw, struct db_server *sv, unsigned n)
{
	memset(p, 0, sizeof(*p));
	p->dw = dw;
	p->server = sv;
	p->n = n;
	p->conns = xcalloc(n, sizeof(*p->conns));
	for (unsigned i = 0; i < n; i++) {
		struct db_conn *c = &p->conns[i];
		c->pool = p;
		c->io.fd = -1;
		c->io.fn = dbc_io;
		c->timer.fn = dbc_timer;
		c->state = DC_DOWN;
		loop_timer_set(dw->w->loop, &c->timer, 0);
	}
}

static void pool_close(struct db_pool *p)
{
	for (unsigned i = 0; i < p->n; i++) {
		struct db_conn *c = &p->conns[i];
		loop_timer_stop(loop_of(c), &c->timer);
		loop_io_del(&c->io);
		if (c->state >= DC_IDLE || c->state == DC_PREPARE)
			pool_gauge(p, false, -1);
		if (c->job) {
			pool_gauge(p, true, -1);
			struct db_job *job = c->job;
			c->job = NULL;
			job_fail(job, CR_CONNECTION_ERROR, "shutting down");
		}
		if (c->inited) {
			for (int k = 0; k < ST_COUNT; k++)
				if (c->st[k])
					mysql_stmt_close(c->st[k]);
			mysql_close(&c->my);
		}
		c->inited = false;
		c->state = DC_DOWN;
	}
	free(p->conns);
	p->conns = NULL;
	p->n = 0;
}

/* Jobs that waited past their deadline fail (the requests get 503). */
static void expire_queues(struct db_worker *dw)
{
	uint64_t now = loop_now(dw->w->loop);
	for (unsigned i = 0; i < dw->db->nservers; i++) {
		struct db_pool *p = &dw->pools[i];
		while (p->qhead && p->qhead->deadline <= now) {
			struct db_job *job = p->qhead;
			p->qhead = job->next;
			if (p->qhead == NULL)
				p->qtail = NULL;
			count(dw, dw->db->m_errors, 1);
			job_fail(job, CR_CONNECTION_ERROR, "no database connection in time");
		}
	}
}

/* ---- the monitor ---- */

struct monitor {
	struct db_job status, heartbeat;
	struct db_worker *dw;
	struct db_pool *pool;
	bool busy_status, busy_heartbeat;
};

static void monitor_submit(struct monitor *mo, struct db_job *job)
{
	job->next = NULL;
	job->deadline = loop_now(mo->dw->w->loop) + mo->dw->db->timeout_ms;
	job->server = mo->pool->server;
	if (mo->pool->qtail)
		mo->pool->qtail->next = job;
	else
		mo->pool->qhead = job;
	mo->pool->qtail = job;
	pool_dispatch(mo->pool);
}

static void heartbeat_done(struct db_job *job, bool ok)
{
	struct monitor *mo = job->arg;
	(void)ok;
	mo->busy_heartbeat = false;
}

/* A server's lag from its newest heartbeat row (newest, and its age; -1:
 * none yet). See db.h: against the primary's newest when there is one to
 * compare with, else the age. */
static int64_t replica_lag(struct db *db, struct db_server *sv, int role, long long newest,
                           long long age)
{
	if (age < 0 || newest <= 0) {
		atomic_store(&sv->newest_hb_us, 0);
		return -1;
	}
	atomic_store(&sv->newest_hb_us, newest);
	if (role == DB_ROLE_PRIMARY)
		return 0;
	for (unsigned i = 0; i < db->nservers; i++) {
		struct db_server *p = &db->servers[i];
		int64_t theirs = atomic_load(&p->newest_hb_us);
		if (p == sv || atomic_load(&p->role) != DB_ROLE_PRIMARY || !atomic_load(&p->up) ||
		    theirs == 0)
			continue;
		return theirs > newest ? theirs - newest : 0;
	}
	return age;
}

static void status_done(struct db_job *job, bool ok)
{
	struct monitor *mo = job->arg;
	struct db_server *sv = mo->pool->server;
	struct db *db = mo->dw->db;
	mo->busy_status = false;
	if (mo->dw->stopping)
		return;
	if (!ok) {
		if (atomic_exchange(&sv->up, false))
			log_warn("database %s is unreachable: %s", sv->name, job->errmsg);
		return;
	}
	long long ro = 0, age = -1, newest = 0;
	my_bool null_age = 0, null_newest = 0;
	MYSQL_BIND out[3];
	memset(out, 0, sizeof(out));
	out[0].buffer_type = MYSQL_TYPE_LONGLONG;
	out[0].buffer = &ro;
	out[1].buffer_type = MYSQL_TYPE_LONGLONG;
	out[1].buffer = &age;
	out[1].is_null = &null_age;
	out[2].buffer_type = MYSQL_TYPE_LONGLONG;
	out[2].buffer = &newest;
	out[2].is_null = &null_newest;
	if (mysql_stmt_bind_result(job->st, out) != 0 || mysql_stmt_fetch(job->st) != 0)
		return;
	int role = ro ? DB_ROLE_REPLICA : DB_ROLE_PRIMARY;
	int old = atomic_exchange(&sv->role, role);
	if (old != role)
		log_warn("database %s is now the %s", sv->name,
		         role == DB_ROLE_PRIMARY ? "primary" : "replica");
	atomic_store(&sv->lag_us,
	             replica_lag(db, sv, role, null_newest ? 0 : newest, null_age ? -1 : age));
	if (!atomic_exchange(&sv->up, true))
		log_info("database %s is reachable (%s)", sv->name,
		         role == DB_ROLE_PRIMARY ? "primary" : "replica");
	if (role == DB_ROLE_PRIMARY && !mo->busy_heartbeat) {
		/* the heartbeat the replicas' lag is measured by */
		mo->busy_heartbeat = true;
		memset(&mo->heartbeat, 0, sizeof(mo->heartbeat));
		mo->heartbeat.stmt = ST_HEARTBEAT;
		mo->heartbeat.done = heartbeat_done;
		mo->heartbeat.arg = mo;
		db_param_str(&mo->heartbeat, 0, db->app_host, strlen(db->app_host));
		monitor_submit(mo, &mo->heartbeat);
	}
}

static void monitor_round(struct db_worker *dw)
{
	struct db *db = dw->db;
	for (unsigned i = 0; i < db->nservers; i++) {
		struct monitor *mo = &dw->monitors[i];
		if (mo->busy_status)
			continue;
		if (mo->pool->alive == 0) {
			/* a server that refuses connections: down after a few tries */
			if (mo->pool->conns[0].backoff >= 400 &&
			    atomic_exchange(&db->servers[i].up, false))
				log_warn("database %s is unreachable", db->servers[i].name);
			continue;
		}
		memset(&mo->status, 0, sizeof(mo->status));
		mo->busy_status = true;
		mo->status.stmt = ST_STATUS;
		mo->status.done = status_done;
		mo->status.arg = mo;
		monitor_submit(mo, &mo->status);
	}
}

static void tick(struct timer *t)
{
	struct db_worker *dw = container_of(t, struct db_worker, tick);
	expire_queues(dw);
	if (dw->monitor) {
		uint64_t now = loop_now(dw->w->loop);
		if (now - dw->last_monitor >= MONITOR_MS) {
			dw->last_monitor = now;
			monitor_round(dw);
		}
	}
	loop_timer_set(dw->w->loop, &dw->tick, QUEUE_CHECK_MS);
}

/* ---- choosing a server ---- */

/* The primary: the server that said it is writable. After a failover two
 * may have said so, the old one before it was lost: the one that is up
 * wins (the old one, once back, says read-only). */
struct db_server *db_primary(struct db *db)
{
	struct db_server *found = NULL;
	for (unsigned i = 0; i < db->nservers; i++) {
		struct db_server *sv = &db->servers[i];
		if (atomic_load(&sv->role) != DB_ROLE_PRIMARY)
			continue;
		if (atomic_load(&sv->up))
			return sv;
		if (found == NULL)
			found = sv;
	}
	return found;
}

struct db_server *db_pick(struct db_worker *dw, enum db_target target)
{
	struct db *db = dw->db;
	struct db_server *primary = db_primary(db);
	if (target == DB_PRIMARY)
		return primary;
	bool primary_up = primary && atomic_load(&primary->up);
	bool lagging = false;
	for (unsigned k = 0; k < db->nservers; k++) {
		unsigned i = (dw->next_replica + k) % db->nservers;
		struct db_server *sv = &db->servers[i];
		if (atomic_load(&sv->role) != DB_ROLE_REPLICA || !atomic_load(&sv->up) ||
		    dw->pools[i].alive == 0)
			continue;
		int64_t lag = atomic_load(&sv->lag_us);
		/* with the primary down, a stale replica beats no answer */
		if (primary_up && (lag < 0 || (uint64_t)lag > db->max_lag_us)) {
			lagging = true;
			continue;
		}
		dw->next_replica = i + 1;
		return sv;
	}
	count(dw, lagging ? db->m_fallback_lag : db->m_fallback_down, 1);
	return primary;
}

/* ---- what the primary has ---- */

/* The slot of a domain; with add, a free one claimed for it. NULL: none
 * (the table is full: such a domain is never covered, only checked). */
static struct db_gtid_seen *gtid_slot(struct db *db, uint32_t domain, bool add)
{
	uint64_t want = (uint64_t)domain + 1;
	for (unsigned i = 0; i < DB_GTID_DOMAINS; i++) {
		struct db_gtid_seen *g = &db->gtid_seen[i];
		uint64_t d = atomic_load(&g->domain1);
		if (d == 0 && add) {
			/* workers race for a free slot: the loser looks at it again */
			if (atomic_compare_exchange_strong(&g->domain1, &d, want))
				return g;
		}
		if (d == want)
			return g;
		if (d == 0)
			return NULL; /* slots are claimed in order: no more after */
	}
	return NULL;
}

void db_gtid_seen_raise(struct db *db, uint32_t domain, uint64_t seq)
{
	struct db_gtid_seen *g = gtid_slot(db, domain, true);
	if (g == NULL)
		return;
	uint64_t cur = atomic_load(&g->seq);
	while (cur < seq && !atomic_compare_exchange_weak(&g->seq, &cur, seq))
		;
}

bool db_gtid_seen_covers(struct db *db, uint32_t domain, uint64_t seq)
{
	struct db_gtid_seen *g = gtid_slot(db, domain, false);
	return g && atomic_load(&g->seq) >= seq;
}

unsigned db_reachable(struct db *db, char *out, size_t len)
{
	unsigned n = 0;
	size_t o = 0;
	out[0] = '\0';
	for (unsigned i = 0; i < db->nservers; i++) {
		struct db_server *sv = &db->servers[i];
		bool up = atomic_load(&sv->up);
		n += up;
		int role = atomic_load(&sv->role);
		int k = snprintf(out + o, len - o,
		                 "%s\"%s\":{\"up\":%s,\"role\":\"%s\",\"lag_ms\":%lld}",
		                 i ? "," : "", sv->name, up ? "true" : "false",
		                 role == DB_ROLE_PRIMARY   ? "primary"
		                 : role == DB_ROLE_REPLICA ? "replica"
		                                           : "unknown",
		                 (long long)(atomic_load(&sv->lag_us) / 1000));
		if (k < 0 || (size_t)k >= len - o)
			break;
		o += (size_t)k;
	}
	return n;
}

/* ---- set-up ---- */

static double lag_seconds(void *arg)
{
	struct db_server *sv = arg;
	int64_t us = atomic_load(&sv->lag_us);
	return us < 0 ? -1 : (double)us / 1e6;
}

static double server_up(void *arg)
{
	return atomic_load(&((struct db_server *)arg)->up) ? 1 : 0;
}

void db_metrics_define(struct db *db, struct metrics *m)
{
	db->m_queries[0] = metrics_counter(m, "tristack_app_db_queries_total",
	                                   "Statements run, by target", "target=\"primary\"");
	db->m_queries[1] = metrics_counter(m, "tristack_app_db_queries_total",
	                                   "Statements run, by target", "target=\"replica\"");
	/* from 0.5 ms (a primary key read on the same host) to the 2 s timeout */
	static const double bounds[] = { 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
		                         0.05,   0.1,   0.25,   0.5,   1,    2.5 };
	const char *dh = "Time from a statement's submission (its wait for a connection "
	                 "included) to its result, by target";
	db->m_duration[0] = metrics_histogram(m, "tristack_app_db_query_duration_seconds", dh,
	                                      "target=\"primary\"", bounds, ARRAY_SIZE(bounds));
	db->m_duration[1] = metrics_histogram(m, "tristack_app_db_query_duration_seconds", dh,
	                                      "target=\"replica\"", bounds, ARRAY_SIZE(bounds));
	db->m_errors = metrics_counter(m, "tristack_app_db_errors_total",
	                               "Statements that failed or found no connection", NULL);
	const char *h = "Reads sent to the primary instead of a replica, by reason";
	db->m_fallback_down = metrics_counter(m, "tristack_app_db_read_fallbacks_total", h,
	                                      "reason=\"replica_down\"");
	db->m_fallback_lag =
	    metrics_counter(m, "tristack_app_db_read_fallbacks_total", h, "reason=\"replica_lag\"");
	db->m_fallback_gtid = metrics_counter(m, "tristack_app_db_read_fallbacks_total", h,
	                                      "reason=\"gtid_wait_timeout\"");
	db->m_gtid_waits = metrics_counter(m, "tristack_app_db_gtid_waits_total",
	                                   "Reads that waited for the client's last write", NULL);
	for (unsigned i = 0; i < db->nservers; i++) {
		char labels[96];
		snprintf(labels, sizeof(labels), "server=\"%s\"", db->servers[i].name);
		metrics_gauge_fn(m, METRIC_APP_DB_REPLICA_LAG,
		                 "Age of the newest heartbeat seen on the server (-1: unknown)",
		                 labels, lag_seconds, &db->servers[i]);
		metrics_gauge_fn(m, METRIC_APP_DB_UP, "1 while the monitor reaches the server",
		                 labels, server_up, &db->servers[i]);
		db->m_pool_open[i] = metrics_gauge(m, "tristack_app_db_pool_connections",
		                                   "Pooled connections that are open", labels);
		db->m_pool_busy[i] =
		    metrics_gauge(m, "tristack_app_db_pool_busy_connections",
		                  "Pooled connections running a statement", labels);
	}
}

_Static_assert(DB_MAX_SERVERS >= CONF_MAX_DB_HOSTS, "every database host of a stack file");

int db_setup(struct db *db, struct daemon *d, char *err, size_t errlen)
{
	const struct conf *s = conf_of(d);
	memset(db, 0, sizeof(*db));
	for (unsigned i = 0; i < s->nhosts && db->nservers < ARRAY_SIZE(db->servers); i++) {
		const struct conf_host *h = &s->hosts[i];
		if (!(h->roles & (ROLE_DB_PRIMARY | ROLE_DB_REPLICA)))
			continue;
		struct db_server *sv = &db->servers[db->nservers++];
		snprintf(sv->name, sizeof(sv->name), "%s", h->name);
		snprintf(sv->host, sizeof(sv->host), "%s", h->address);
		sv->port = (unsigned)s->db.port;
		/* until the monitor knows better, the stack file's roles */
		atomic_store(&sv->role,
		             (h->roles & ROLE_DB_PRIMARY) ? DB_ROLE_PRIMARY : DB_ROLE_REPLICA);
		atomic_store(&sv->up, true);
		atomic_store(&sv->lag_us, -1);
		atomic_store(&sv->newest_hb_us, 0);
	}
	snprintf(db->user, sizeof(db->user), "app");
	snprintf(db->schema, sizeof(db->schema), "%s", s->db.name);
	snprintf(db->app_host, sizeof(db->app_host), "%s",
	         conf_self(d) ? conf_self(d)->name : "app");
	db->pool_size = (unsigned)s->db.pool;
	db->timeout_ms = s->db.timeout;
	db->max_lag_us = s->db.max_lag * 1000;
	db->gtid_wait_ms = s->db.gtid_wait;
	(void)err;
	(void)errlen;
	return 0;
}

int db_read_password(struct db *db, struct daemon *d, char *err, size_t errlen)
{
	if (db->nservers == 0)
		return 0; /* no database in this stack */
	char path[TS_PATH_MAX + 100];
	if (daemon_path(d, "{state}/" STATE_SECRETS "/" SECRET_APP_PASSWORD, path, sizeof(path)) <
	    0) {
		snprintf(err, errlen, "the state folder's path is too long");
		return -1;
	}
	FILE *f = fopen(path, "r");
	if (f == NULL || fgets(db->password, sizeof(db->password), f) == NULL) {
		snprintf(err, errlen, "cannot read the database password %s: %s (run tristack up)",
		         path, f ? "empty" : strerror(errno));
		if (f)
			fclose(f);
		return -1;
	}
	fclose(f);
	db->password[strcspn(db->password, "\r\n")] = '\0';
	return 0;
}

void db_worker_init(struct db_worker *dw, struct db *db, struct worker *w)
{
	memset(dw, 0, sizeof(*dw));
	dw->db = db;
	dw->w = w;
	if (db->nservers == 0)
		return;
	dw->pools = xcalloc(db->nservers, sizeof(*dw->pools));
	for (unsigned i = 0; i < db->nservers; i++)
		pool_init(&dw->pools[i], dw, &db->servers[i], db->pool_size);
	if (w->id == 0) {
		dw->monitor = xcalloc(db->nservers, sizeof(*dw->monitor));
		dw->monitors = xcalloc(db->nservers, sizeof(*dw->monitors));
		for (unsigned i = 0; i < db->nservers; i++) {
			pool_init(&dw->monitor[i], dw, &db->servers[i], 1);
			dw->monitor[i].monitor = true;
			dw->monitors[i].dw = dw;
			dw->monitors[i].pool = &dw->monitor[i];
		}
	}
	dw->tick.fn = tick;
	loop_timer_set(w->loop, &dw->tick, QUEUE_CHECK_MS);
}

void db_worker_stop(struct db_worker *dw)
{
	dw->stopping = true;
	if (dw->monitor) {
		for (unsigned i = 0; i < dw->db->nservers; i++)
			pool_close(&dw->monitor[i]);
		free(dw->monitor);
		dw->monitor = NULL;
		free(dw->monitors);
		dw->monitors = NULL;
	}
	/* the tick goes on: queued queries of the requests still being
	 * answered keep their deadline */
}

void db_worker_free(struct db_worker *dw)
{
	db_worker_stop(dw);
	loop_timer_stop(dw->w->loop, &dw->tick);
	if (dw->pools)
		for (unsigned i = 0; i < dw->db->nservers; i++) {
			struct db_pool *p = &dw->pools[i];
			while (p->qhead) {
				struct db_job *job = p->qhead;
				p->qhead = job->next;
				job_fail(job, CR_CONNECTION_ERROR, "shutting down");
			}
			pool_close(p);
		}
	free(dw->pools);
	dw->pools = NULL;
}
