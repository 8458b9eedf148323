/* mariadb.c - the stack's MariaDB instances: made once (mariadb-install-db),
 * started like the daemons, provisioned on every `up` (idempotent: users,
 * schema, migrations, GTID replication), promoted on demand.
 *
 * Which host is the primary: the file {state}/db/primary once a promotion
 * wrote it, else the host with the db-primary role. Administration goes
 * through each instance's Unix socket as root; the apps connect over TCP as
 * `app`, the replica as `repl`, with passwords made once and kept 0600 in
 * {state}/secrets.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <mysql.h>
#include <mysqld_error.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "conf/names.h"
#include "core/log.h"
#include "ctl.h"

#define MARIADBD        "/usr/sbin/mariadbd"
#define MARIADB_INSTALL "/usr/bin/mariadb-install-db"

static int fmt(char *out, size_t len, const char *f, ...) TS_PRINTF(3, 4);

static int fmt(char *out, size_t len, const char *f, ...)
{
	va_list ap;
	va_start(ap, f);
	int n = vsnprintf(out, len, f, ap);
	va_end(ap);
	return n < 0 || (size_t)n >= len ? -1 : 0;
}

static void sleep_ms(unsigned ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
	nanosleep(&ts, NULL);
}

void mdb_paths(const struct ctl *c, const struct conf_host *h, struct mdb_paths *p)
{
	fmt(p->datadir, sizeof(p->datadir), "%s/db/%s", c->state, h->name);
	fmt(p->socket, sizeof(p->socket), "%s/run/%s.db.sock", c->state, h->name);
	fmt(p->pidfile, sizeof(p->pidfile), "%s/db/%s/mariadbd.pid", c->state, h->name);
	fmt(p->files, sizeof(p->files), "%s/db/%s.files", c->state, h->name);
	fmt(p->tmp, sizeof(p->tmp), "%s/db/%s.tmp", c->state, h->name);
}

/* ---- the current primary ---- */

const struct conf_host *mdb_primary(const struct ctl *c)
{
	char path[TS_PATH_MAX], name[128] = "";
	fmt(path, sizeof(path), "%s/db/primary", c->state);
	FILE *f = fopen(path, "r");
	if (f) {
		if (fscanf(f, "%127s", name) != 1)
			name[0] = '\0';
		fclose(f);
		const struct conf_host *h = conf_host(&c->cfg, name);
		if (h && (h->roles & (ROLE_DB_PRIMARY | ROLE_DB_REPLICA)))
			return h;
	}
	return conf_host_with_role(&c->cfg, ROLE_DB_PRIMARY);
}

/* The database hosts other than the primary. */
static unsigned mdb_replicas(const struct ctl *c, const struct conf_host **out, unsigned max)
{
	const struct conf_host *p = mdb_primary(c);
	unsigned n = 0;
	for (unsigned i = 0; i < c->cfg.nhosts && n < max; i++) {
		const struct conf_host *h = &c->cfg.hosts[i];
		if ((h->roles & (ROLE_DB_PRIMARY | ROLE_DB_REPLICA)) && h != p)
			out[n++] = h;
	}
	return n;
}

int mdb_set_primary(const struct ctl *c, const char *name)
{
	char path[TS_PATH_MAX], tmp[TS_PATH_MAX + 100];
	fmt(path, sizeof(path), "%s/db/primary", c->state);
	fmt(tmp, sizeof(tmp), "%s.new", path);
	FILE *f = fopen(tmp, "w");
	if (f == NULL)
		return -1;
	fprintf(f, "%s\n", name);
	if (fclose(f) != 0 || rename(tmp, path) < 0)
		return -1;
	return 0;
}

/* ---- making and starting an instance ---- */

int mdb_run(const struct ctl *c, char *const argv[], const char *logfile, const char *tmpdir)
{
	pid_t pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		int fd = open(logfile, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
		if (fd >= 0) {
			dup2(fd, STDOUT_FILENO);
			dup2(fd, STDERR_FILENO);
		}
		setenv("TMPDIR", tmpdir, 1);
		if (acct_view_enter(c) < 0 || acct_drop(c, false) < 0)
			_exit(126);
		execv(argv[0], argv);
		_exit(127);
	}
	int st;
	if (waitpid(pid, &st, 0) < 0)
		return -1;
	return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -1;
}

int mdb_prepare(struct ctl *c, struct unit *u, char *err, size_t errlen)
{
	struct mdb_paths p;
	mdb_paths(c, u->host, &p);
	char dir[TS_PATH_MAX];
	fmt(dir, sizeof(dir), "%s/db", c->state);
	mkdir(dir, 0750);
	/* The instance's own folders, the service account's (a datadir made
	 * by an older tristack as root is given to it too); SELECT ... INTO
	 * OUTFILE and LOAD DATA reach nothing else (--secure-file-priv). */
	if (acct_give_dir(c, p.datadir, err, errlen) < 0 ||
	    acct_give_dir(c, p.files, err, errlen) < 0 || acct_give_dir(c, p.tmp, err, errlen) < 0)
		return -1;
	char marker[TS_PATH_MAX + 100];
	fmt(marker, sizeof(marker), "%s/mysql", p.datadir);
	struct stat st;
	if (stat(marker, &st) == 0)
		return 0; /* made before: all data stays */
	/* root@localhost (and, for an operator who is not root, an account
	 * of the operator's name) authenticated by the socket's peer: only
	 * that Unix account logs in as it, with no password to steal, and
	 * from no TCP address at all. */
	char datadir_arg[TS_PATH_MAX + 100], user_arg[300], socket_user_arg[300];
	fmt(datadir_arg, sizeof(datadir_arg), "--datadir=%s", p.datadir);
	fmt(user_arg, sizeof(user_arg), "--user=%s", c->drop ? c->cfg.site.user : acct_operator());
	fmt(socket_user_arg, sizeof(socket_user_arg), "--auth-root-socket-user=%s",
	    acct_operator());
	char *argv[] = { MARIADB_INSTALL,
		         "--no-defaults",
		         user_arg,
		         datadir_arg,
		         "--auth-root-authentication-method=socket",
		         socket_user_arg,
		         "--skip-test-db",
		         NULL };
	if (mdb_run(c, argv, u->logfile, p.tmp) < 0) {
		snprintf(err, errlen, "mariadb-install-db failed for %s (see %s)", u->host->name,
		         u->logfile);
		return -1;
	}
	return 0;
}

bool mdb_semi_sync(const struct ctl *c)
{
	unsigned dbs = 0;
	for (unsigned i = 0; i < c->cfg.nhosts; i++)
		dbs += (c->cfg.hosts[i].roles & (ROLE_DB_PRIMARY | ROLE_DB_REPLICA)) != 0;
	return c->cfg.db.semi_sync && dbs > 1;
}

int mdb_argv(struct ctl *c, struct unit *u, char *store, size_t storelen, char **argv, unsigned max)
{
	struct mdb_paths p;
	mdb_paths(c, u->host, &p);
	const struct conf_db *db = &c->cfg.db;
	/* the primary, unless a failover fenced it and is promoting another */
	char fenced[TS_PATH_MAX];
	failover_fenced_path(c, u->host, fenced, sizeof(fenced));
	bool as_primary = u->host == mdb_primary(c) && access(fenced, F_OK) != 0;
	unsigned server_id = (unsigned)(u->host - c->cfg.hosts) + 1;
	struct argv_buf b = { argv, 0, max, store, store + storelen, false };
#define ARG(...) argv_add(&b, __VA_ARGS__)
	ARG("%s", MARIADBD);
	ARG("--no-defaults");
	ARG("--datadir=%s", p.datadir); /* started as the service account, never root */
	ARG("--secure-file-priv=%s", p.files);
	ARG("--tmpdir=%s", p.tmp);
	ARG("--socket=%s", p.socket);
	ARG("--pid-file=%s", p.pidfile);
	ARG("--log-error=%s", u->logfile);
	ARG("--bind-address=%s", u->host->address);
	ARG("--port=%lld", (long long)db->port);
	ARG("--skip-name-resolve");
	ARG("--server-id=%u", server_id);
	ARG("--log-bin=mysql-bin");
	ARG("--binlog-format=ROW");
	ARG("--log-slave-updates=ON"); /* a replica can become a primary */
	/* a replica notices a primary gone silent (hung, cut off) within this,
	 * before the failover monitor acts ([db] failover_after) */
	ARG("--slave-net-timeout=%llu",
	    (unsigned long long)(db->failover_after / 1000 > 3 ? db->failover_after / 1000 - 1
	                                                       : 2));
	ARG("--relay-log=relay-bin");
	ARG("--innodb-buffer-pool-size=%s", db->buffer_pool);
	ARG("--max-connections=1000");
	/* The thread pool: a few threads serve the short queries of many
	 * connections, instead of a wake-up of one thread per query. */
	ARG("--thread-handling=%s", conf_db_threads_name(db->thread_handling));
	ARG("--character-set-server=utf8mb4");
	/* A replica comes up read-only, not writable until told */
	ARG("--read-only=%s", as_primary ? "OFF" : "ON");
	/* as a replica, crash recovery cuts what was prepared and not
	 * committed from the binary log (semi-sync's, 10.11.9 on): an old
	 * primary fenced while it waited for an acknowledgement keeps a prefix
	 * of the new history. Not one fenced while asynchronous: what it cut
	 * could be a write it had acknowledged; kept, it shows as diverged */
	bool cut = !as_primary && !failover_fenced_async(c, u->host);
	ARG("--init-rpl-role=%s", cut ? "SLAVE" : "MASTER");
	/* and strict: what it cut comes back from the new primary, bearing its
	 * own server id, which a replica not strict would skip as its own */
	ARG("--gtid-strict-mode=ON");
	/* Both sides of semi-sync on every instance: roles swap */
	bool semi = mdb_semi_sync(c);
	ARG("--rpl-semi-sync-master-enabled=%s", semi ? "ON" : "OFF");
	ARG("--rpl-semi-sync-slave-enabled=%s", semi ? "ON" : "OFF");
	ARG("--rpl-semi-sync-master-wait-point=AFTER_SYNC");
	/* no replica connected: no wait (asynchronous, shown), rather than a
	 * stall of every instance's first commit, replicated ones included */
	ARG("--rpl-semi-sync-master-wait-no-slave=OFF");
	ARG("--rpl-semi-sync-master-timeout=%llu", (unsigned long long)db->semi_sync_timeout);
#undef ARG
	return b.full ? -1 : 0;
}

/* ---- talking to an instance ---- */

MYSQL *mdb_admin(const struct ctl *c, const struct conf_host *h, char *err, size_t errlen)
{
	struct mdb_paths p;
	mdb_paths(c, h, &p);
	/* As the operator's own account, authenticated by the socket; a
	 * datadir made by an older tristack has a root with no password
	 * instead, until mdb_harden has run once. */
	const char *users[] = { acct_operator(), "root" };
	for (unsigned i = 0; i < ARRAY_SIZE(users); i++) {
		if (i > 0 && strcmp(users[i], users[0]) == 0)
			break;
		MYSQL *m = mysql_init(NULL);
		unsigned timeout = 2;
		mysql_options(m, MYSQL_OPT_CONNECT_TIMEOUT, &timeout);
		if (mysql_real_connect(m, NULL, users[i], "", NULL, 0, p.socket,
		                       CLIENT_MULTI_STATEMENTS))
			return m;
		if (i == 0) /* the first refusal is the one that explains */
			snprintf(err, errlen, "%s: %s", h->name, mysql_error(m));
		mysql_close(m);
	}
	return NULL;
}

static int sql(MYSQL *m, char *err, size_t errlen, const char *fmtq, ...) TS_PRINTF(4, 5);

/* Run a statement (or several); results are read and dropped. */
static int sql(MYSQL *m, char *err, size_t errlen, const char *fmtq, ...)
{
	char q[8192];
	va_list ap;
	va_start(ap, fmtq);
	int n = vsnprintf(q, sizeof(q), fmtq, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(q)) {
		snprintf(err, errlen, "statement too long");
		return -1;
	}
	if (mysql_real_query(m, q, (unsigned long)n) != 0)
		goto fail;
	do {
		MYSQL_RES *r = mysql_store_result(m);
		if (r)
			mysql_free_result(r);
		else if (mysql_errno(m))
			goto fail;
	} while (mysql_next_result(m) == 0);
	if (mysql_errno(m))
		goto fail;
	return 0;
fail:
	/* never the password: statements with one are not echoed */
	snprintf(err, errlen, "%s", mysql_error(m));
	return -1;
}

/* The result of query q (the caller frees it) and its first row in *row
 * (NULL: none); NULL when the query fails. */
static MYSQL_RES *first_row(MYSQL *m, const char *q, MYSQL_ROW *row)
{
	if (mysql_query(m, q) != 0)
		return NULL;
	MYSQL_RES *r = mysql_store_result(m);
	if (r != NULL)
		*row = mysql_fetch_row(r);
	return r;
}

/* One row of "SHOW SLAVE STATUS" read by field name; NULL when empty. */
char *mdb_slave_field(MYSQL *m, const char *field, char *out, size_t len)
{
	MYSQL_ROW row;
	MYSQL_RES *r = first_row(m, "SHOW SLAVE STATUS", &row);
	if (r == NULL)
		return NULL;
	char *found = NULL;
	if (row) {
		unsigned nf = mysql_num_fields(r);
		MYSQL_FIELD *f = mysql_fetch_fields(r);
		for (unsigned i = 0; i < nf; i++)
			if (strcmp(f[i].name, field) == 0) {
				snprintf(out, len, "%s", row[i] ? row[i] : "");
				found = out;
			}
	}
	mysql_free_result(r);
	return found;
}

char *mdb_value(MYSQL *m, const char *q, char *out, size_t len)
{
	MYSQL_ROW row;
	MYSQL_RES *r = first_row(m, q, &row);
	if (r == NULL)
		return NULL;
	char *v = NULL;
	if (row && row[0]) {
		snprintf(out, len, "%s", row[0]);
		v = out;
	}
	mysql_free_result(r);
	return v;
}

bool mdb_answers(const struct ctl *c, const struct unit *u, char *why, size_t whylen)
{
	MYSQL *m = mdb_admin(c, u->host, why, whylen);
	if (m == NULL)
		return false;
	bool ok = mysql_ping(m) == 0;
	if (!ok)
		snprintf(why, whylen, "%s", mysql_error(m));
	mysql_close(m);
	return ok;
}

/* ", semi-sync: on (N replicas acking)" while a write waits for a replica's
 * acknowledgement; ", semi-sync: OFF (waiting for a replica)" while the
 * primary has given up waiting (none answered within semi_sync_timeout, or
 * none is connected) and acknowledges writes only it has, until a replica
 * catches up; "" without semi-sync. */
static void semi_sync_describe(const struct ctl *c, MYSQL *m, char *out, size_t len)
{
	char on[16] = "", clients[16] = "0";
	out[0] = '\0';
	if (!mdb_semi_sync(c) ||
	    !mdb_value(m,
	               "SELECT VARIABLE_VALUE FROM information_schema.GLOBAL_STATUS "
	               "WHERE VARIABLE_NAME = 'RPL_SEMI_SYNC_MASTER_STATUS'",
	               on, sizeof(on)))
		return;
	mdb_value(m,
	          "SELECT VARIABLE_VALUE FROM information_schema.GLOBAL_STATUS "
	          "WHERE VARIABLE_NAME = 'RPL_SEMI_SYNC_MASTER_CLIENTS'",
	          clients, sizeof(clients));
	if (strcmp(on, "ON") == 0 && strcmp(clients, "0") != 0)
		snprintf(out, len, ", semi-sync: on (%s replica%s acking)", clients,
		         strcmp(clients, "1") == 0 ? "" : "s");
	else /* with no replica connected its status stays ON, yet nothing waits */
		snprintf(out, len, ", semi-sync: OFF (%s)",
		         strcmp(on, "ON") == 0 ? "no replica connected" : "waiting for a replica");
}

/* A role and, for a replica, how it replicates: "primary", "replica 0 s
 * behind", "replica (not replicating: ...)". */
void mdb_describe(const struct ctl *c, const struct unit *u, char *out, size_t len)
{
	char err[256], v[256], io[16] = "", sqlr[16] = "", behind[32] = "", gtid[128] = "";
	MYSQL *m = mdb_admin(c, u->host, err, sizeof(err));
	if (m == NULL) {
		snprintf(out, len, "%s", err);
		return;
	}
	mdb_value(m, "SELECT @@gtid_current_pos", gtid, sizeof(gtid));
	char path[TS_PATH_MAX];
	failover_diverged_path(c, u->host, path, sizeof(path));
	bool diverged = access(path, F_OK) == 0;
	bool ro = mdb_value(m, "SELECT @@read_only", v, sizeof(v)) && strcmp(v, "1") == 0;
	if (diverged) {
		snprintf(out, len, "DIVERGED (fenced; tristack rebuild %s), gtid %s", u->host->name,
		         gtid);
	} else if (!ro) {
		char semi[80];
		semi_sync_describe(c, m, semi, sizeof(semi));
		snprintf(out, len, "ok, primary%s, gtid %s", semi, gtid);
	} else if (mdb_slave_field(m, "Slave_IO_Running", io, sizeof(io)) &&
	           mdb_slave_field(m, "Slave_SQL_Running", sqlr, sizeof(sqlr))) {
		mdb_slave_field(m, "Seconds_Behind_Master", behind, sizeof(behind));
		if (strcmp(io, "Yes") == 0 && strcmp(sqlr, "Yes") == 0)
			snprintf(out, len, "ok, replica, %ss behind, gtid %s",
			         behind[0] ? behind : "?", gtid);
		else
			snprintf(out, len, "replica NOT replicating (io %s, sql %s), gtid %s", io,
			         sqlr, gtid);
	} else {
		snprintf(out, len, "read-only, not a replica, gtid %s", gtid);
	}
	failover_fenced_path(c, u->host, path, sizeof(path));
	size_t o = strlen(out);
	if (!diverged && access(path, F_OK) == 0 && o < len)
		snprintf(out + o, len - o, ", fenced (until it replicates from the primary)");
	mysql_close(m);
}

/* ---- hardening ---- */

/* Each instance's own administrators, made safe on every up (and so on
 * the first up after an older tristack made them): no root but
 * root@localhost, authenticated by the socket's peer; the operator's own
 * account likewise when the operator is not root; no anonymous account;
 * any other account with an empty password locked. Local to the instance
 * (sql_log_bin off): a replica's accounts are its own. */
static int mdb_harden(const struct ctl *c, const struct conf_host *h, char *err, size_t errlen)
{
	MYSQL *m = mdb_admin(c, h, err, errlen);
	if (m == NULL)
		return -1;
	const char *op = acct_operator();
	int rc = -1;
	if (sql(m, err, errlen, "SET SESSION sql_log_bin = 0") < 0)
		goto out;
	if (strcmp(op, "root") != 0 &&
	    sql(m, err, errlen,
	        "CREATE USER IF NOT EXISTS '%s'@'localhost' IDENTIFIED VIA unix_socket; "
	        "GRANT ALL PRIVILEGES ON *.* TO '%s'@'localhost' WITH GRANT OPTION",
	        op, op) < 0)
		goto out;
	if (sql(m, err, errlen,
	        "ALTER USER 'root'@'localhost' IDENTIFIED VIA mysql_native_password USING "
	        "'invalid' OR unix_socket") < 0)
		goto out;
	/* Accounts to drop (root elsewhere, anonymous) and to lock (an empty
	 * password), as 'user'@'host' statements built by the server. */
	static const char *const fixes =
	    "SELECT CONCAT(IF(User = 'root' OR User = '', 'DROP USER ', 'ALTER USER '), "
	    "QUOTE(User), '@', QUOTE(Host), IF(User = 'root' OR User = '', '', ' ACCOUNT LOCK')) "
	    "FROM mysql.global_priv WHERE (User = 'root' AND Host <> 'localhost') OR User = '' "
	    "OR (JSON_VALUE(Priv, '$.authentication_string') = '' "
	    "AND JSON_VALUE(Priv, '$.plugin') IN ('mysql_native_password', 'mysql_old_password') "
	    "AND JSON_EXISTS(Priv, '$.auth_or') = 0 "
	    "AND IFNULL(JSON_VALUE(Priv, '$.account_locked'), 0) NOT IN ('1', 'true'))";
	if (mysql_query(m, fixes) != 0) {
		snprintf(err, errlen, "%s: %s", h->name, mysql_error(m));
		goto out;
	}
	MYSQL_RES *r = mysql_store_result(m);
	if (r == NULL) {
		snprintf(err, errlen, "%s: %s", h->name, mysql_error(m));
		goto out;
	}
	char stmts[16][300];
	unsigned n = 0;
	for (MYSQL_ROW row; n < ARRAY_SIZE(stmts) && (row = mysql_fetch_row(r)) != NULL;)
		if (row[0])
			snprintf(stmts[n++], sizeof(stmts[0]), "%s", row[0]);
	mysql_free_result(r);
	for (unsigned i = 0; i < n; i++) {
		if (sql(m, err, errlen, "%s", stmts[i]) < 0)
			goto out;
		printf("  %s: %s\n", h->name, stmts[i]);
	}
	rc = 0;
out:
	mysql_close(m);
	return rc;
}

/* ---- provisioning ---- */

/* The pattern app and repl may connect from: the hosts' own addresses, or
 * 127.% on loopback (connections to 127.x.y.z come from 127.0.0.1 there). */
static void client_host(const struct ctl *c, const struct conf_host *h, char *out, size_t len)
{
	bool loopback = true;
	for (unsigned i = 0; i < c->cfg.nhosts; i++)
		if (strncmp(c->cfg.hosts[i].address, "127.", 4) != 0)
			loopback = false;
	snprintf(out, len, "%s", loopback ? "127.%" : h->address);
}

static int run_migrations(const struct ctl *c, MYSQL *m, char *err, size_t errlen)
{
	const char *schema = c->cfg.db.name;
	if (sql(m, err, errlen,
	        "CREATE TABLE IF NOT EXISTS `%s`.schema_migrations ("
	        "version VARCHAR(255) NOT NULL PRIMARY KEY, "
	        "applied_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6)) ENGINE=InnoDB",
	        schema) < 0)
		return -1;
	char dir[TS_PATH_MAX];
	fmt(dir, sizeof(dir), "%s/db/migrations", c->root);
	struct dirent **names;
	int n = scandir(dir, &names, NULL, alphasort);
	if (n < 0) {
		snprintf(err, errlen, "cannot read %s: %s", dir, strerror(errno));
		return -1;
	}
	int rc = 0;
	for (int i = 0; i < n && rc == 0; i++) {
		const char *name = names[i]->d_name;
		size_t len = strlen(name);
		if (len < 5 || strcmp(name + len - 4, ".sql") != 0)
			continue;
		char version[256], check[512], v[8];
		snprintf(version, sizeof(version), "%.*s", (int)(len - 4), name);
		snprintf(check, sizeof(check),
		         "SELECT COUNT(*) FROM `%s`.schema_migrations WHERE version = '%s'", schema,
		         version);
		if (!mdb_value(m, check, v, sizeof(v))) {
			snprintf(err, errlen, "%s", mysql_error(m));
			rc = -1;
			break;
		}
		if (strcmp(v, "0") != 0)
			continue; /* applied before */
		char path[4500];
		fmt(path, sizeof(path), "%s/%s", dir, name);
		FILE *f = fopen(path, "r");
		char *text = NULL;
		size_t cap = 0;
		if (f == NULL || getdelim(&text, &cap, '\0', f) < 0) {
			snprintf(err, errlen, "cannot read %s", path);
			rc = -1;
		} else if (sql(m, err, errlen, "USE `%s`; %s", schema, text) < 0 ||
		           sql(m, err, errlen,
		               "INSERT INTO `%s`.schema_migrations (version) VALUES ('%s')", schema,
		               version) < 0) {
			char e2[512];
			snprintf(e2, sizeof(e2), "migration %s: %s", name, err);
			snprintf(err, errlen, "%s", e2);
			rc = -1;
		} else {
			printf("  migration %s applied\n", version);
		}
		free(text);
		if (f)
			fclose(f);
	}
	for (int i = 0; i < n; i++)
		free(names[i]);
	free(names);
	return rc;
}

const struct mdb_grant mdb_app_grants[] = {
	{ "posts", "SELECT, INSERT" },
	{ "heartbeat", "SELECT, INSERT, DELETE" },
	{ NULL, NULL },
};

static int setup_primary(struct ctl *c, const struct conf_host *primary, char *err, size_t errlen)
{
	char app_pw[64], repl_pw[64], from[64];
	if (mdb_secret(c, "app", app_pw, sizeof(app_pw)) < 0 ||
	    mdb_secret(c, "repl", repl_pw, sizeof(repl_pw)) < 0) {
		snprintf(err, errlen, "cannot make the passwords in %s/secrets", c->state);
		return -1;
	}
	MYSQL *m = mdb_admin(c, primary, err, errlen);
	if (m == NULL)
		return -1;
	const char *schema = c->cfg.db.name;
	int rc = -1;
	if (sql(m, err, errlen, "CREATE DATABASE IF NOT EXISTS `%s` CHARACTER SET utf8mb4",
	        schema) < 0 ||
	    sql(m, err, errlen, "SET GLOBAL read_only = OFF") < 0 ||
	    run_migrations(c, m, err, errlen) < 0)
		goto out;
	/* One account per client address, with what the app does and no
	 * more (mdb_app_grants). */
	for (unsigned i = 0; i < c->cfg.nhosts; i++) {
		const struct conf_host *h = &c->cfg.hosts[i];
		if (h->roles & ROLE_APP) {
			client_host(c, h, from, sizeof(from));
			if (sql(m, err, errlen,
			        "CREATE USER IF NOT EXISTS 'app'@'%s' IDENTIFIED BY '%s'; "
			        "ALTER USER 'app'@'%s' IDENTIFIED BY '%s'",
			        from, app_pw, from, app_pw) < 0 ||
			    mdb_app_grants_apply(m, schema, from, err, errlen) < 0)
				goto out;
		}
		if (h->roles & (ROLE_DB_PRIMARY | ROLE_DB_REPLICA)) {
			client_host(c, h, from, sizeof(from));
			if (sql(m, err, errlen,
			        "CREATE USER IF NOT EXISTS 'repl'@'%s' IDENTIFIED BY '%s'; "
			        "ALTER USER 'repl'@'%s' IDENTIFIED BY '%s'; "
			        "GRANT REPLICATION SLAVE, REPLICATION CLIENT ON *.* TO 'repl'@'%s'",
			        from, repl_pw, from, repl_pw, from) < 0)
				goto out;
		}
	}
	rc = 0;
out:
	mysql_close(m);
	return rc;
}

/* Point a replica at the primary (unless it already is), read-only. */
static int setup_replica(struct ctl *c, const struct conf_host *replica,
                         const struct conf_host *primary, char *err, size_t errlen)
{
	char repl_pw[64], host[128] = "";
	if (mdb_secret(c, "repl", repl_pw, sizeof(repl_pw)) < 0) {
		snprintf(err, errlen, "cannot read the repl password");
		return -1;
	}
	MYSQL *m = mdb_admin(c, replica, err, errlen);
	if (m == NULL)
		return -1;
	int rc = -1;
	if (sql(m, err, errlen, "SET GLOBAL read_only = ON") < 0)
		goto out;
	if (mdb_slave_field(m, "Master_Host", host, sizeof(host)) &&
	    strcmp(host, primary->address) == 0) {
		rc = sql(m, err, errlen, "START SLAVE"); /* no-op when running */
		goto out;
	}
	if (sql(m, err, errlen, "STOP SLAVE") < 0 ||
	    sql(m, err, errlen,
	        "CHANGE MASTER TO MASTER_HOST='%s', MASTER_PORT=%lld, MASTER_USER='repl', "
	        "MASTER_PASSWORD='%s', MASTER_USE_GTID=slave_pos, MASTER_CONNECT_RETRY=1",
	        primary->address, (long long)c->cfg.db.port, repl_pw) < 0 ||
	    sql(m, err, errlen, "START SLAVE") < 0)
		goto out;
	printf("  %s replicates from %s\n", replica->name, primary->name);
	rc = 0;
out:
	mysql_close(m);
	return rc;
}

/* Both threads of a replica running, within a deadline. */
static int wait_replicating(struct ctl *c, const struct conf_host *replica, unsigned ms, char *err,
                            size_t errlen)
{
	char io[16] = "", sqlr[16] = "", last[512] = "";
	for (unsigned waited = 0; waited <= ms; waited += 100) {
		MYSQL *m = mdb_admin(c, replica, err, errlen);
		if (m) {
			bool got = mdb_slave_field(m, "Slave_IO_Running", io, sizeof(io)) &&
			           mdb_slave_field(m, "Slave_SQL_Running", sqlr, sizeof(sqlr));
			if (got && strcmp(io, "Yes") == 0 && strcmp(sqlr, "Yes") == 0) {
				mysql_close(m);
				return 0;
			}
			mdb_slave_field(m, "Last_Error", last, sizeof(last));
			if (!last[0])
				mdb_slave_field(m, "Last_IO_Error", last, sizeof(last));
			mysql_close(m);
		}
		sleep_ms(100);
	}
	snprintf(err, errlen, "%s does not replicate (io %s, sql %s): %s", replica->name, io, sqlr,
	         last);
	return -1;
}

/* The running instance's semi-sync as the stack file says now: one started
 * before an edit of [db] semi_sync, or by an older tristack, follows without
 * a restart. A replica reads its side when its I/O thread starts: that
 * thread is restarted when it ran with the other setting. */
static int semi_sync_apply(const struct ctl *c, const struct conf_host *h, char *err, size_t errlen)
{
	MYSQL *m = mdb_admin(c, h, err, errlen);
	if (m == NULL)
		return -1;
	bool want = mdb_semi_sync(c);
	char v[16] = "", io[16] = "";
	bool had = mdb_value(m, "SELECT @@rpl_semi_sync_slave_enabled", v, sizeof(v)) &&
	           strcmp(v, "1") == 0;
	int rc = sql(m, err, errlen,
	             "SET GLOBAL rpl_semi_sync_master_wait_point = AFTER_SYNC; "
	             "SET GLOBAL rpl_semi_sync_master_wait_no_slave = OFF; "
	             "SET GLOBAL rpl_semi_sync_master_timeout = %llu; "
	             "SET GLOBAL rpl_semi_sync_master_enabled = %s; "
	             "SET GLOBAL rpl_semi_sync_slave_enabled = %s",
	             (unsigned long long)c->cfg.db.semi_sync_timeout, want ? "ON" : "OFF",
	             want ? "ON" : "OFF");
	if (rc == 0 && had != want && mdb_slave_field(m, "Slave_IO_Running", io, sizeof(io)) &&
	    strcmp(io, "No") != 0)
		rc = sql(m, err, errlen, "STOP SLAVE IO_THREAD; START SLAVE IO_THREAD");
	if (rc < 0) {
		char e2[300];
		snprintf(e2, sizeof(e2), "%s: semi-sync: %s", h->name, err);
		snprintf(err, errlen, "%s", e2);
	}
	mysql_close(m);
	return rc;
}

int mdb_provision_replica(struct ctl *c, const struct conf_host *h, char *err, size_t errlen)
{
	return mdb_harden(c, h, err, errlen) < 0 || semi_sync_apply(c, h, err, errlen) < 0 ||
	               setup_replica(c, h, mdb_primary(c), err, errlen) < 0 ||
	               wait_replicating(c, h, 10000, err, errlen) < 0
	           ? -1
	           : 0;
}

int mdb_provision(struct ctl *c, char *err, size_t errlen)
{
	const struct conf_host *primary = mdb_primary(c);
	if (primary == NULL)
		return 0; /* a stack without a database */
	if (mdb_harden(c, primary, err, errlen) < 0 ||
	    semi_sync_apply(c, primary, err, errlen) < 0 ||
	    setup_primary(c, primary, err, errlen) < 0)
		return -1;
	const struct conf_host *replicas[CONF_MAX_DB_HOSTS];
	unsigned n = mdb_replicas(c, replicas, ARRAY_SIZE(replicas));
	for (unsigned i = 0; i < n; i++)
		if (mdb_provision_replica(c, replicas[i], err, errlen) < 0)
			return -1;
	return 0;
}

/* ---- accounts over the socket ---- */

int mdb_socket_account(struct ctl *c, const char *name, const char *const *grants, unsigned conns,
                       char *err, size_t errlen)
{
	const struct conf_host *primary = mdb_primary(c);
	if (primary == NULL)
		return 0;
	char pw[64];
	if (mdb_secret(c, name, pw, sizeof(pw)) < 0) {
		snprintf(err, errlen, "cannot make the %s password in %s/secrets", name, c->state);
		return -1;
	}
	MYSQL *m = mdb_admin(c, primary, err, errlen);
	if (m == NULL)
		return -1;
	int rc = sql(m, err, errlen,
	             "CREATE USER IF NOT EXISTS '%s'@'localhost' IDENTIFIED BY '%s'; "
	             "ALTER USER '%s'@'localhost' IDENTIFIED BY '%s' WITH MAX_USER_CONNECTIONS %u",
	             name, pw, name, pw, conns);
	for (const char *const *g = grants; rc == 0 && *g; g++)
		rc = sql(m, err, errlen, "GRANT %s TO '%s'@'localhost'", *g, name);
	explicit_bzero(pw, sizeof(pw));
	mysql_close(m);
	return rc;
}

/* prometheus-mysqld-exporter reads status, variables and replication state.
 * What it may do is what its documentation asks for, less SELECT on every
 * schema: PROCESS (processlist, InnoDB status), REPLICATION CLIENT and SLAVE
 * MONITOR (SHOW SLAVE STATUS, in MariaDB 10.5+ a privilege of its own),
 * SELECT on performance_schema. */
int mdb_exporter_user(struct ctl *c, char *err, size_t errlen)
{
	static const char *const grants[] = { "PROCESS, REPLICATION CLIENT, SLAVE MONITOR ON *.*",
		                              "SELECT ON performance_schema.*", NULL };
	return mdb_socket_account(c, "exporter", grants, 3, err, errlen);
}

/* ---- planned failover ---- */

/* With the old primary gone: is another reachable replica ahead of the
 * target (semi-sync acknowledged a write once one replica had it, maybe not
 * this one)? Then the promotion is refused, naming it. */
static int most_advanced(const struct ctl *c, MYSQL *t, const struct conf_host *target, char *err,
                         size_t errlen)
{
	const struct conf_host *others[CONF_MAX_DB_HOSTS];
	unsigned n = mdb_replicas(c, others, ARRAY_SIZE(others));
	for (unsigned i = 0; i < n; i++) {
		char e[256], pos[1024] = "", q[1200], v[16];
		MYSQL *m = others[i] == target ? NULL : mdb_admin(c, others[i], e, sizeof(e));
		if (m == NULL)
			continue;
		bool got = mdb_slave_field(m, "Gtid_IO_Pos", pos, sizeof(pos)) && pos[0];
		mysql_close(m);
		snprintf(q, sizeof(q), "SELECT MASTER_GTID_WAIT('%s', 0)", pos);
		if (got && (!mdb_value(t, q, v, sizeof(v)) || strcmp(v, "0") != 0)) {
			snprintf(err, errlen, "%s received more than %s (%s): promote %s instead",
			         others[i]->name, target->name, pos, others[i]->name);
			return -1;
		}
	}
	return 0;
}

/* Every replica but the old primary (done by then) follows the new one,
 * from where it is: what it has is in the new primary's binary log too
 * (log_slave_updates). One that is down follows at its next `up`. */
static int follow_new_primary(struct ctl *c, const struct conf_host *primary,
                              const struct conf_host *old, char *err, size_t errlen)
{
	const struct conf_host *others[CONF_MAX_DB_HOSTS];
	unsigned n = mdb_replicas(c, others, ARRAY_SIZE(others));
	for (unsigned i = 0; i < n; i++) {
		if (others[i] == old)
			continue;
		MYSQL *m = mdb_admin(c, others[i], err, errlen);
		if (m == NULL) {
			printf("  %s is down (%s): it follows %s at its next up\n", others[i]->name,
			       err, primary->name);
			continue;
		}
		mysql_close(m);
		if (setup_replica(c, others[i], primary, err, errlen) < 0 ||
		    wait_replicating(c, others[i], 10000, err, errlen) < 0)
			return -1;
	}
	return 0;
}

int mdb_promote(struct ctl *c, const char *name, char *err, size_t errlen)
{
	const struct conf_host *target = conf_host(&c->cfg, name);
	const struct conf_host *old = mdb_primary(c);
	if (target == NULL || !(target->roles & (ROLE_DB_PRIMARY | ROLE_DB_REPLICA))) {
		snprintf(err, errlen, "%s is not a database host of the stack", name);
		return -1;
	}
	if (target == old) {
		snprintf(err, errlen, "%s is the primary already", name);
		return -1;
	}
	MYSQL *t = mdb_admin(c, target, err, errlen);
	if (t == NULL)
		return -1;
	MYSQL *o = mdb_admin(c, old, err, errlen); /* NULL: the old primary is down */
	int rc = -1;
	char pos[1024] = "", v[64];
	if (o) {
		/* No more writes there; what it has committed is what the new one
		 * must have before it takes over. */
		if (sql(o, err, errlen, "SET GLOBAL read_only = ON") < 0 ||
		    sql(o, err, errlen, "FLUSH TABLES WITH READ LOCK; UNLOCK TABLES") < 0 ||
		    !mdb_value(o, "SELECT @@gtid_binlog_pos", pos, sizeof(pos)))
			goto out;
		char q[1200];
		snprintf(q, sizeof(q), "SELECT MASTER_GTID_WAIT('%s', 30)", pos);
		if (!mdb_value(t, q, v, sizeof(v)) || strcmp(v, "0") != 0) {
			char e2[256];
			snprintf(err, errlen, "%s did not catch up with %s (%s) in 30s", name,
			         old->name, pos);
			sql(o, e2, sizeof(e2), "SET GLOBAL read_only = OFF"); /* as it was */
			goto out;
		}
	} else {
		/* what it received from the old primary, applied before it stops
		 * replicating: RESET SLAVE ALL drops the relay log */
		printf("  %s is down: promoting %s with what it has\n", old->name, name);
		char q[1200];
		if (mdb_slave_field(t, "Gtid_IO_Pos", pos, sizeof(pos)) && pos[0]) {
			snprintf(q, sizeof(q), "SELECT MASTER_GTID_WAIT('%s', 30)", pos);
			if (!mdb_value(t, q, v, sizeof(v)) || strcmp(v, "0") != 0)
				printf("  %s did not apply all it received (%s) in 30s\n", name,
				       pos);
		}
		if (most_advanced(c, t, target, err, errlen) < 0)
			goto out;
	}
	if (sql(t, err, errlen, "STOP SLAVE; RESET SLAVE ALL; SET GLOBAL read_only = OFF") < 0)
		goto out;
	if (mdb_set_primary(c, name) < 0) {
		snprintf(err, errlen, "cannot write %s/db/primary", c->state);
		goto out;
	}
	printf("  %s is the primary\n", name);
	if (o) {
		char repl_pw[64];
		mdb_secret(c, "repl", repl_pw, sizeof(repl_pw));
		if (sql(o, err, errlen,
		        "STOP SLAVE; CHANGE MASTER TO MASTER_HOST='%s', MASTER_PORT=%lld, "
		        "MASTER_USER='repl', MASTER_PASSWORD='%s', MASTER_USE_GTID=current_pos, "
		        "MASTER_CONNECT_RETRY=1; START SLAVE",
		        target->address, (long long)c->cfg.db.port, repl_pw) < 0)
			goto out;
		printf("  %s replicates from %s\n", old->name, name);
		if (wait_replicating(c, old, 10000, err, errlen) < 0)
			goto out;
	}
	if (follow_new_primary(c, target, old, err, errlen) < 0)
		goto out;
	rc = 0;
out:
	mysql_close(t);
	if (o)
		mysql_close(o);
	return rc;
}

/* ---- for failover.c ---- */

int mdb_sql(MYSQL *m, char *err, size_t errlen, const char *q)
{
	return sql(m, err, errlen, "%s", q);
}
