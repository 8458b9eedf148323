/* db.h - the app's databases: pools of MariaDB connections driven by the
 * worker's event loop (Connector/C's non-blocking calls), prepared
 * statements only, the primary for writes, the replica for reads.
 *
 * A request submits a job (a statement and its parameters) for a target;
 * the job waits for a free connection of that server's pool (at most the
 * db timeout), runs, and calls back with the result stored client-side:
 * the callback fetches the rows (no I/O), and the connection is free again
 * when it returns. Connections that fail are closed and made again with a
 * growing backoff.
 *
 * A monitor (worker 0, every 500 ms) asks each server whether it is
 * read-only (the primary is the one that is not: after a promotion the apps
 * follow by themselves) and how far the replica lags, from a heartbeat row
 * each app writes on the primary (Seconds_Behind_Master lies under load):
 * the primary's newest heartbeat minus the replica's, so a replica that has
 * everything lags 0 rather than the time since the last heartbeat. Without
 * a primary to compare with, the age of the replica's newest heartbeat.
 */
#ifndef TS_APP_DB_H
#define TS_APP_DB_H

#include <mysql.h>
#include <stdatomic.h>

#include "core/daemon.h"

enum db_stmt {
	ST_POST_BY_ID,   /* (id) -> id, author, body, created_at */
	ST_POSTS_LATEST, /* (limit) */
	ST_POSTS_BEFORE, /* (before id, limit) */
	ST_POST_INSERT,  /* (author, body, created_at, idempotency key or NULL) */
	ST_POST_BY_KEY,  /* (key) -> id, author, body, created_at, @@gtid_binlog_pos */
	ST_GTID_WAIT,    /* (gtid, seconds) -> 0, or -1 on timeout */
	ST_HEARTBEAT,    /* (app host) */
	ST_STATUS,       /* -> read_only, heartbeat age in microseconds */
	ST_GTID_POS,     /* -> @@gtid_binlog_pos */
	ST_COUNT
};

enum db_role { DB_ROLE_UNKNOWN, DB_ROLE_PRIMARY, DB_ROLE_REPLICA };
enum db_target { DB_PRIMARY, DB_REPLICA };

/* A database server, as every worker sees it. */
struct db_server {
	char name[64];
	char host[64];
	unsigned port;
	_Atomic int role;       /* enum db_role, from its read_only */
	_Atomic bool up;        /* the monitor could talk to it */
	_Atomic int64_t lag_us; /* replica: how far behind the primary; -1 unknown */
	/* its newest heartbeat row's ts, in microseconds since 2000-01-01 (the
	 * primary's clock, which wrote it), at the last status; 0 unknown */
	_Atomic int64_t newest_hb_us;
};

#define DB_PARAMS 4

/* The newest sequence number known to be on the primary in one replication
 * domain (domain1: the domain + 1; 0 is a free slot). */
struct db_gtid_seen {
	_Atomic uint64_t domain1;
	_Atomic uint64_t seq;
};

#define DB_GTID_DOMAINS 8

struct db_job;
/* ok: the statement ran (rows can be fetched from job->st); else job->err
 * and job->errmsg say why. */
typedef void (*db_done_fn)(struct db_job *job, bool ok);

struct db_job {
	enum db_stmt stmt;
	enum db_target target;
	MYSQL_BIND param[DB_PARAMS];
	long long ll[DB_PARAMS];
	unsigned long len[DB_PARAMS];
	db_done_fn done;
	void *arg;
	/* filled in */
	struct db_server *server; /* where it ran */
	/* the statement was handed to the library to send: from then on, a
	 * failure without an answer leaves its outcome unknown (except
	 * CR_SERVER_GONE_ERROR: the library could not write it) */
	bool sent;
	MYSQL_STMT *st; /* with its result stored, in the callback */
	unsigned err;
	char errmsg[160];
	char gtid[64]; /* after a write: the commit's GTID */
	long long insert_id;
	/* queue */
	struct db_job *next;
	uint64_t deadline;
	struct db_conn *dbc;
	/* timing, for the duration histogram: set by db_submit (the
	 * monitor's own jobs are not timed) */
	struct db_worker *timed_by;
	uint64_t t_submit_us;
	uint8_t timed_target; /* 0 primary, 1 replica */
};

struct db_pool;
struct monitor;

/* The primary and up to 7 replicas */
#define DB_MAX_SERVERS 8

/* The databases of one app process. */
struct db {
	struct db_server servers[DB_MAX_SERVERS];
	unsigned nservers;
	char user[32], password[128], schema[64];
	unsigned pool_size;
	uint64_t timeout_ms, max_lag_us, gtid_wait_ms;
	char app_host[64];
	/* what the primary has, from this app's commits and its answers to
	 * ST_GTID_POS; never lowered (see db_gtid_seen) */
	struct db_gtid_seen gtid_seen[DB_GTID_DOMAINS];
	/* metric ids */
	int m_queries[2], m_duration[2], m_errors, m_fallback_down, m_fallback_lag, m_fallback_gtid,
	    m_gtid_waits;
	int m_pool_open[DB_MAX_SERVERS], m_pool_busy[DB_MAX_SERVERS];
};

/* One worker's pools (and, on worker 0, the monitor). */
struct db_worker {
	struct db *db;
	struct worker *w;
	struct db_pool *pools;   /* one per server */
	struct db_pool *monitor; /* one connection per server, worker 0 only */
	struct monitor *monitors;
	uint64_t last_monitor;
	unsigned next_replica; /* round robin of the reads: where the next looks first */
	bool stopping;
	struct timer tick;
};

/* From the stack file (configure), then the app account's password from
 * the state folder (start: `-t` needs no secrets). */
int db_setup(struct db *db, struct daemon *d, char *err, size_t errlen);
int db_read_password(struct db *db, struct daemon *d, char *err, size_t errlen);
void db_metrics_define(struct db *db, struct metrics *m);
void db_worker_init(struct db_worker *dw, struct db *db, struct worker *w);
void db_worker_stop(struct db_worker *dw);
void db_worker_free(struct db_worker *dw);

/* The server for a target right now: the primary, or a replica that is up
 * and not lagging (else the primary, the fallback counted), the eligible
 * replicas taken in turn (round robin, per worker). NULL: none. */
struct db_server *db_pick(struct db_worker *dw, enum db_target target);
struct db_server *db_primary(struct db *db);

/* Queue a job on a server; done is called exactly once (maybe at once, for
 * a server that cannot be reached). */
void db_submit(struct db_worker *dw, struct db_server *sv, struct db_job *job);

/* Parameters */
void db_param_ll(struct db_job *job, int i, long long v);
void db_param_str(struct db_job *job, int i, const char *s, size_t len);
void db_param_null(struct db_job *job, int i);

/* The primary has (at least) seq in domain: note it. */
void db_gtid_seen_raise(struct db *db, uint32_t domain, uint64_t seq);
/* Is seq in domain known to be on the primary? False when it is ahead of
 * what this app has seen, or the domain is not known yet. */
bool db_gtid_seen_covers(struct db *db, uint32_t domain, uint64_t seq);

/* Is any server reachable, and which (for /healthz)? */
unsigned db_reachable(struct db *db, char *out, size_t len);

#endif
