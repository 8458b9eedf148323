/* bundle_mariadb.c - a db host's mariadb/ in its bundle: settings for
 * Debian's mariadb.service; the primary's provision.sql, grants.sql and
 * migrations, the replica's replica.sql. See bundle.c. */
#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "bundle.h"
#include "conf/names.h"
#include "failover.h"

/* 'text' for SQL (MariaDB's default sql_mode: \ escapes) */
static void sql_str(FILE *f, const char *s)
{
	fputc('\'', f);
	for (; *s; s++) {
		if (*s == '\'' || *s == '\\')
			fputc(*s, f);
		fputc(*s, f);
	}
	fputc('\'', f);
}

/* `identifier` for SQL */
static void sql_id(FILE *f, const char *s)
{
	fputc('`', f);
	for (; *s; s++) {
		if (*s == '`')
			fputc('`', f);
		fputc(*s, f);
	}
	fputc('`', f);
}

/* ---- mariadb/ ---- */

static int put_cnf(struct bundle *b)
{
	const struct conf_db *db = &b->c->cfg.db;
	unsigned server_id = (unsigned)(b->h - b->c->cfg.hosts) + 1; /* as mdb_argv */
	bool primary = b->h == b->primary;
	/* with automatic failover, every instance starts read-only: one back
	 * from a restart takes no write until the monitor has seen that it is
	 * still the primary (failover.c: the rule) */
	bool ro = !primary || bundle_failover_on(b);
	struct bundle_out o;
	FILE *f = bundle_out_open(b, &o);
	if (f == NULL)
		return -1;
	fprintf(f,
	        "# /etc/mysql/mariadb.conf.d/60-tristack.cnf: %s, the MariaDB %s of www.%s,\n"
	        "# made by `tristack bundle %s`. Read after Debian's 50-server.cnf, so these\n"
	        "# win; the paths (datadir, socket, pid file, logs) stay Debian's.\n"
	        "[mariadbd]\n"
	        "server_id               = %u\n"
	        "log_bin                 = mysql-bin\n"
	        "binlog_format           = ROW\n"
	        "# a replica can become the primary\n"
	        "log_slave_updates       = ON\n"
	        "relay_log               = relay-bin\n"
	        "bind_address            = %s\n"
	        "port                    = %lld\n"
	        "skip_name_resolve\n"
	        "# SELECT ... INTO OUTFILE and LOAD DATA reach this folder alone\n"
	        "secure_file_priv        = /var/lib/mysql-files\n"
	        "innodb_buffer_pool_size = %s\n"
	        "max_connections         = 1000\n"
	        "thread_handling         = %s\n"
	        "character_set_server    = utf8mb4\n"
	        "%s"
	        "read_only               = %s\n",
	        b->h->name, primary ? "primary" : "replica", b->c->cfg.site.domain, b->h->name,
	        server_id, b->h->address, (long long)db->port, db->buffer_pool,
	        conf_db_threads_name(db->thread_handling),
	        !ro        ? ""
	        : !primary ? "# a replica comes up read-only, not writable until promoted\n"
	                   : "# [db] auto_failover: it comes up read-only, and tristack\n"
	                     "# failover-monitor makes it writable while it is the primary\n",
	        ro ? "ON" : "OFF");
	/* as mdb_argv: both sides on every instance, for roles swap */
	const char *semi = mdb_semi_sync(b->c) ? "ON" : "OFF";
	fprintf(f,
	        "# semi-synchronous replication ([db] semi_sync): a commit is acknowledged\n"
	        "# once a replica has it, or after the timeout (ms) without one (then\n"
	        "# asynchronous until a replica catches up; see docs/deploy.md)\n"
	        "rpl_semi_sync_master_enabled       = %s\n"
	        "rpl_semi_sync_slave_enabled        = %s\n"
	        "rpl_semi_sync_master_wait_point    = AFTER_SYNC\n"
	        "# no replica connected: no wait (asynchronous until one catches up)\n"
	        "rpl_semi_sync_master_wait_no_slave = OFF\n"
	        "rpl_semi_sync_master_timeout       = %llu\n",
	        semi, semi, (unsigned long long)db->semi_sync_timeout);
	return bundle_out_put(b, &o, "mariadb/60-tristack.cnf", 0644);
}

static int secrets(struct bundle *b, char *app, char *repl, size_t len)
{
	if (mdb_secret(b->c, "app", app, len) < 0 || mdb_secret(b->c, "repl", repl, len) < 0)
		return bundle_fail(b, "cannot read or make the passwords in %s/secrets",
		                   b->c->state);
	return 0;
}

/* The failover monitor's account ([db] auto_failover), at the monitoring
 * host's address alone, with what it reads and does and no data:
 * SLAVE MONITOR (SHOW SLAVE STATUS), PROCESS (the app's sessions listed),
 * CONNECTION ADMIN (and killed), READ_ONLY ADMIN (SET GLOBAL read_only),
 * REPLICATION SLAVE ADMIN (STOP, CHANGE MASTER, START), RELOAD (RESET SLAVE
 * ALL, on the replica it promotes). Without automatic failover it is
 * dropped. */
static void put_failover_account(struct bundle *b, FILE *f)
{
	const struct conf_host *mon = mon_conf_host(&b->c->cfg);
	char pw[128];
	if (mon == NULL)
		return;
	if (!bundle_failover_on(b) || mdb_secret(b->c, FAILOVER_ACCOUNT, pw, sizeof(pw)) < 0) {
		fprintf(f, "\n-- no automatic failover: no failover monitor's account\n"
		           "DROP USER IF EXISTS '" FAILOVER_ACCOUNT "'@");
		sql_str(f, mon->address);
		fprintf(f, ";\n");
		return;
	}
	static const char *const stmts[] = { "CREATE USER IF NOT EXISTS", "ALTER USER",
		                             "REVOKE ALL PRIVILEGES, GRANT OPTION FROM",
		                             "GRANT PROCESS, RELOAD, CONNECTION ADMIN, READ_ONLY "
		                             "ADMIN, REPLICATION SLAVE ADMIN, "
		                             "SLAVE MONITOR ON *.* TO" };
	fprintf(f, "\n-- %s: the failover monitor (tristack failover-monitor), from there alone\n",
	        mon->name);
	for (size_t i = 0; i < ARRAY_SIZE(stmts); i++) {
		fprintf(f, "%s '" FAILOVER_ACCOUNT "'@", stmts[i]);
		sql_str(f, mon->address);
		if (i < 2) {
			fprintf(f, " IDENTIFIED BY ");
			sql_str(f, pw);
			fprintf(f, " WITH MAX_USER_CONNECTIONS 10");
		}
		fprintf(f, ";\n");
	}
	explicit_bzero(pw, sizeof(pw));
}

/* One account per client host, at its exact address (what mariadb.c does off
 * loopback): app with DML on the schema, repl for replication. */
static int put_provision(struct bundle *b, const char *app_pw, const char *repl_pw)
{
	const struct conf *s = &b->c->cfg;
	struct bundle_out o;
	FILE *f = bundle_out_open(b, &o);
	if (f == NULL)
		return -1;
	fprintf(f,
	        "-- provision.sql: the schema and the accounts of www.%s on its primary,\n"
	        "-- %s; made by `tristack bundle %s`. install.sh runs it as root; running it\n"
	        "-- again changes nothing (passwords are reset to these). The replica gets\n"
	        "-- all of it by replication. It holds passwords: keep it 0600.\n\n",
	        s->site.domain, b->h->name, b->h->name);
	fprintf(f, "CREATE DATABASE IF NOT EXISTS ");
	sql_id(f, s->db.name);
	fprintf(f, " CHARACTER SET utf8mb4;\n");
	for (unsigned i = 0; i < s->nhosts; i++) {
		const struct conf_host *h = &s->hosts[i];
		for (int k = 0; k < 2; k++) {
			bool app = k == 0;
			if (app ? !(h->roles & ROLE_APP) : !bundle_is_db(h))
				continue;
			const char *user = app ? "'app'@" : "'repl'@", *pw = app ? app_pw : repl_pw;
			fprintf(f, "\n-- %s (%s)\nCREATE USER IF NOT EXISTS %s", h->name,
			        app ? "its app" : "replication, either way", user);
			sql_str(f, h->address);
			fprintf(f, " IDENTIFIED BY ");
			sql_str(f, pw);
			fprintf(f, ";\nALTER USER %s", user);
			sql_str(f, h->address);
			fprintf(f, " IDENTIFIED BY ");
			sql_str(f, pw);
			/* the app's: grants.sql, once the tables exist */
			if (!app) {
				fprintf(
				    f,
				    ";\nGRANT REPLICATION SLAVE, REPLICATION CLIENT ON *.* TO %s",
				    user);
				sql_str(f, h->address);
			}
			fprintf(f, ";\n");
		}
	}
	put_failover_account(b, f);
	fprintf(f, "\n-- the migrations applied (db/migrations; install.sh applies the others)\n"
	           "CREATE TABLE IF NOT EXISTS ");
	sql_id(f, s->db.name);
	fprintf(f, ".schema_migrations (\n"
	           "    version VARCHAR(255) NOT NULL PRIMARY KEY,\n"
	           "    applied_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6)\n"
	           ") ENGINE=InnoDB;\n");
	return bundle_out_put(b, &o, "mariadb/provision.sql", 0600);
}

/* The app's privileges, table by table (mdb_app_grants): install.sh runs
 * this after the migrations, which make the tables. */
static int put_grants(struct bundle *b)
{
	const struct conf *s = &b->c->cfg;
	struct bundle_out o;
	FILE *f = bundle_out_open(b, &o);
	if (f == NULL)
		return -1;
	fprintf(f,
	        "-- grants.sql: what the app's accounts may do (no more); made by `tristack\n"
	        "-- bundle %s`, run by install.sh after the migrations.\n",
	        b->h->name);
	for (unsigned i = 0; i < s->nhosts; i++) {
		const struct conf_host *h = &s->hosts[i];
		if (!(h->roles & ROLE_APP))
			continue;
		/* narrowed to the list, its grants again right after: a moment
		 * of a few statements in which the apps' queries are refused
		 * (the lab's up narrows without one: mdb_grants.c) */
		fprintf(f, "REVOKE ALL PRIVILEGES, GRANT OPTION FROM 'app'@");
		sql_str(f, h->address);
		fprintf(f, ";\n");
		for (const struct mdb_grant *g = mdb_app_grants; g->table; g++) {
			fprintf(f, "GRANT %s ON ", g->privileges);
			sql_id(f, s->db.name);
			fputc('.', f);
			sql_id(f, g->table);
			fprintf(f, " TO 'app'@");
			sql_str(f, h->address);
			fprintf(f, ";\n");
		}
	}
	return bundle_out_put(b, &o, "mariadb/grants.sql", 0644);
}

/* The .sql files of the checkout's db/migrations, in order. Their names end up in a
 * shell loop and in SQL: anything but [A-Za-z0-9_.-] is refused. */
static int put_migrations(struct bundle *b)
{
	char dir[TS_PATH_MAX];
	snprintf(dir, sizeof(dir), "%s/db/migrations", b->c->root);
	struct dirent **names;
	int n = scandir(dir, &names, NULL, alphasort);
	if (n < 0)
		return bundle_fail(b, "cannot read %s: %s", dir, strerror(errno));
	char sub[4400];
	snprintf(sub, sizeof(sub), "%s/mariadb/migrations", b->top);
	int rc = bundle_mkdirs(b, sub);
	for (int i = 0; i < n; i++) {
		const char *name = names[i]->d_name;
		size_t len = strlen(name);
		if (rc == 0 && len > 4 && strcmp(name + len - 4, ".sql") == 0) {
			if (strspn(name, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
			                 "0123456789_.-") != len) {
				rc = bundle_fail(
				    b, "%s/%s: a migration's name is letters, digits, _ . -", dir,
				    name);
			} else {
				char src[4500], rel[600];
				snprintf(src, sizeof(src), "%s/%s", dir, name);
				snprintf(rel, sizeof(rel), "mariadb/migrations/%s", name);
				rc = bundle_copy_file(b, src, rel, 0644);
			}
		}
		free(names[i]);
	}
	free(names);
	return rc;
}

static int put_replica(struct bundle *b, const char *repl_pw)
{
	struct bundle_out o;
	FILE *f = bundle_out_open(b, &o);
	if (f == NULL)
		return -1;
	fprintf(f,
	        "-- replica.sql: %s replicates from the primary %s by GTID; made by\n"
	        "-- `tristack bundle %s`. slave_pos: a new replica takes the primary's\n"
	        "-- binary log from its start (the schema, the accounts, every row).\n"
	        "-- It holds the repl password: keep it 0600.\n\n"
	        "SET GLOBAL read_only = ON;\n"
	        "STOP SLAVE;\n"
	        "CHANGE MASTER TO MASTER_HOST=",
	        b->h->name, b->primary->name, b->h->name);
	sql_str(f, b->primary->address);
	fprintf(f, ", MASTER_PORT=%lld, MASTER_USER='repl', MASTER_PASSWORD=",
	        (long long)b->c->cfg.db.port);
	sql_str(f, repl_pw);
	fprintf(f, ",\n    MASTER_USE_GTID=slave_pos, MASTER_CONNECT_RETRY=1;\n"
	           "START SLAVE;\n");
	return bundle_out_put(b, &o, "mariadb/replica.sql", 0600);
}

int bundle_put_database(struct bundle *b)
{
	if (b->primary == NULL)
		return 0;
	/* Made (or read) whatever the host: every bundle then agrees. */
	char app_pw[128], repl_pw[128];
	if (secrets(b, app_pw, repl_pw, sizeof(app_pw)) < 0)
		return -1;
	int rc = 0;
	char key[80];
	if (b->h->roles & ROLE_APP) { /* what tristack-app reads at {state}/secrets */
		rc = bundle_put_file(b, STATE_SECRETS "/" SECRET_APP_PASSWORD, 0600, app_pw,
		                     strlen(app_pw));
		/* one signing key for every app host: a read-your-writes cookie
		 * one app signed, the others honour */
		if (rc == 0 && mdb_cookie_key(b->c, key, sizeof(key)) < 0)
			rc = bundle_fail(
			    b, "cannot read or make %s/" STATE_SECRETS "/" SECRET_COOKIE_KEY,
			    b->c->state);
		else if (rc == 0)
			rc = bundle_put_file(b, STATE_SECRETS "/" SECRET_COOKIE_KEY, 0600, key,
			                     strlen(key));
		explicit_bzero(key, sizeof(key));
	}
	if (rc == 0 && bundle_is_db(b->h)) {
		rc = put_cnf(b);
		if (rc == 0 && b->h == b->primary)
			rc = put_provision(b, app_pw, repl_pw) < 0 || put_grants(b) < 0
			         ? -1
			         : put_migrations(b);
		else if (rc == 0)
			rc = put_replica(b, repl_pw);
	}
	explicit_bzero(app_pw, sizeof(app_pw));
	explicit_bzero(repl_pw, sizeof(repl_pw));
	return rc;
}
