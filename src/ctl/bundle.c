/* bundle.c - tristack bundle HOST [-o FILE]: one host of the stack file,
 * ready for a real Debian 12 server, as a gzip tarball whose members all sit
 * under tristack-HOST/:
 *
 *   bin/           the binaries of the host's roles, and tristack itself
 *   etc/tristack/  the stack file (as foobar.conf) and the host's name
 *   systemd/       one unit per daemon (hardened, restarted on failure)
 *   nftables/      the host's firewall (fw_render, firewall.c)
 *   mariadb/       db hosts: settings for Debian's mariadb.service; the
 *                  primary's provision.sql and migrations, the replica's
 *                  replica.sql
 *   tls/           lb without tls_cert: the local CA's site certificates
 *   secrets/       app hosts: the database password the app reads
 *   share/         what the stack file names by relative path (the web root)
 *   install.sh     deploy/install.sh with the host's settings filled in
 *   README
 *
 * The files are laid out in a temporary folder with their final modes and
 * packed by tar (owner root, sorted, so the same input gives the same
 * members). Passwords come from {state}/secrets, made there as db.c makes
 * them when the stack was never brought up, so every host's bundle agrees.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ctl.h"

/* Where install.sh puts things on the server. */
#define T_BIN   "/usr/local/bin"
#define T_CONF  "/etc/tristack/foobar.conf"
#define T_STATE "/var/lib/tristack"
#define T_SHARE "/usr/local/share/tristack" /* the daemons' working directory */

#define FW_MAX (64 * 1024)

static const struct {
	unsigned role;
	const char *name, *daemon, *what;
} bundle_roles[] = {
	/* start order, as proc.c's */
	{ ROLE_APP, "app", "tristack-app", "application server" },
	{ ROLE_WEB, "web", "tristack-web", "web server" },
	{ ROLE_LB, "lb", "tristack-lb", "load balancer" },
	{ ROLE_DNS, "dns", "tristack-dns", "authoritative DNS" },
};

struct bundle {
	struct ctl *c;
	const struct conf_host *h;
	const struct conf_host *primary; /* NULL: the stack has no database */
	char stage[4096];                /* the temporary folder */
	char top[4200];                  /* stage/tristack-HOST */
	char cwd[PATH_MAX];
	char err[1024];
	bool local_tls; /* tls/ holds the local CA's certificates */
	/* shell words for install.sh, each single-quoted */
	char *packages, *checks, *operator_files, *tls_cert_files;
	size_t packages_len, checks_len, operator_files_len, tls_cert_files_len;
	FILE *packages_f, *checks_f, *operator_files_f, *tls_cert_files_f;
};

static int fail(struct bundle *b, const char *f, ...) TS_PRINTF(2, 3);

static int fail(struct bundle *b, const char *f, ...)
{
	va_list ap;
	va_start(ap, f);
	vsnprintf(b->err, sizeof(b->err), f, ap);
	va_end(ap);
	return -1;
}

static bool is_db(const struct conf_host *h)
{
	return (h->roles & (ROLE_DB_PRIMARY | ROLE_DB_REPLICA)) != 0;
}

/* ---- quoting ---- */

/* 'text' for sh: a ' becomes '\'' */
static void sh_quote(FILE *f, const char *s)
{
	fputc('\'', f);
	for (; *s; s++)
		if (*s == '\'')
			fputs("'\\''", f);
		else
			fputc(*s, f);
	fputc('\'', f);
}

/* " 'text'": a word of a list */
static void sh_word(FILE *f, const char *s)
{
	fputc(' ', f);
	sh_quote(f, s);
}

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

/* ---- the staging folder ---- */

static int mkdirs(struct bundle *b, const char *path)
{
	char tmp[4400];
	snprintf(tmp, sizeof(tmp), "%s", path);
	for (char *p = tmp + 1;; p++) {
		if (*p != '/' && *p != '\0')
			continue;
		char was = *p;
		*p = '\0';
		if (mkdir(tmp, 0755) == 0)
			chmod(tmp, 0755); /* ours: 0755 whatever the umask; never an ancestor's */
		else if (errno != EEXIST)
			return fail(b, "cannot make %s: %s", tmp, strerror(errno));
		if (was == '\0')
			return 0;
		*p = '/';
	}
}

/* top/rel: its folders made; -1 when too long. */
static int stage_path(struct bundle *b, const char *rel, char *out, size_t len)
{
	int n = snprintf(out, len, "%s/%s", b->top, rel);
	if (n < 0 || (size_t)n >= len)
		return fail(b, "path too long: %s", rel);
	char dir[4400];
	snprintf(dir, sizeof(dir), "%s", out);
	*strrchr(dir, '/') = '\0';
	return mkdirs(b, dir);
}

/* Write len bytes as top/rel with mode (exactly: the umask does not count). */
static int put_file(struct bundle *b, const char *rel, mode_t mode, const char *text, size_t len)
{
	char path[4400];
	if (stage_path(b, rel, path, sizeof(path)) < 0)
		return -1;
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return fail(b, "cannot write %s: %s", path, strerror(errno));
	size_t done = 0;
	while (done < len) {
		ssize_t w = write(fd, text + done, len - done);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			close(fd);
			return fail(b, "cannot write %s: %s", path, strerror(errno));
		}
		done += (size_t)w;
	}
	fchmod(fd, mode);
	if (close(fd) < 0)
		return fail(b, "cannot write %s: %s", path, strerror(errno));
	return 0;
}

/* A memstream's text as top/rel; closes f and frees its text. */
static int put_stream(struct bundle *b, const char *rel, mode_t mode, FILE *f, char **text,
                      size_t *len)
{
	if (fclose(f) != 0) {
		free(*text);
		return fail(b, "out of memory writing %s", rel);
	}
	int rc = put_file(b, rel, mode, *text, *len);
	free(*text);
	*text = NULL;
	return rc;
}

/* A whole file (binaries too: NUL bytes and all), in *text (NUL-ended). */
static int read_all(struct bundle *b, const char *path, char **text, size_t *len)
{
	FILE *f = fopen(path, "r");
	if (f == NULL)
		return fail(b, "cannot read %s: %s", path, strerror(errno));
	size_t cap = 64 * 1024, n = 0, got;
	char *buf = xmalloc(cap + 1);
	while ((got = fread(buf + n, 1, cap - n, f)) > 0) {
		n += got;
		if (n == cap)
			buf = xrealloc(buf, (cap *= 2) + 1);
	}
	bool bad = ferror(f);
	fclose(f);
	if (bad) {
		free(buf);
		return fail(b, "cannot read %s", path);
	}
	buf[n] = '\0';
	*text = buf;
	*len = n;
	return 0;
}

static int copy_file(struct bundle *b, const char *src, const char *rel, mode_t mode)
{
	char *text;
	size_t len;
	if (read_all(b, src, &text, &len) < 0)
		return -1;
	int rc = put_file(b, rel, mode, text, len);
	free(text);
	return rc;
}

/* May this entry of a tree go into the bundle? Not a dotfile or dot folder
 * (.env, .git/: secrets and history the web server never serves either),
 * nor a symbolic link that leads out of the tree (top, a real path): it
 * would ship what it points at (/etc/passwd). Links that stay inside are
 * followed, as the web server follows them. */
static bool tree_entry_ships(const char *top, const char *path, const char *name)
{
	struct stat st;
	if (name[0] == '.')
		return false;
	if (lstat(path, &st) < 0 || !S_ISLNK(st.st_mode))
		return true;
	char real[PATH_MAX];
	size_t n = strlen(top);
	return realpath(path, real) != NULL && strncmp(real, top, n) == 0 &&
	       (real[n] == '/' || real[n] == '\0');
}

/* A folder under top, recursively: folders 0755, files 0644; what
 * tree_entry_ships refuses is left out. */
static int copy_tree(struct bundle *b, const char *top, const char *src, const char *rel, int depth)
{
	if (depth > 32)
		return fail(b, "%s: folders nested too deep", src);
	DIR *d = opendir(src);
	if (d == NULL)
		return fail(b, "cannot read %s: %s", src, strerror(errno));
	char dst[4400];
	int rc = stage_path(b, rel, dst, sizeof(dst)) < 0 ? -1 : mkdirs(b, dst);
	struct dirent *e;
	while (rc == 0 && (e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		char s[4400], r[4400];
		struct stat st;
		if ((size_t)snprintf(s, sizeof(s), "%s/%s", src, e->d_name) >= sizeof(s) ||
		    (size_t)snprintf(r, sizeof(r), "%s/%s", rel, e->d_name) >= sizeof(r)) {
			rc = fail(b, "path too long under %s", src);
		} else if (!tree_entry_ships(top, s, e->d_name)) {
			continue;
		} else if (stat(s, &st) < 0) {
			rc = fail(b, "%s: %s", s, strerror(errno));
		} else if (S_ISDIR(st.st_mode)) {
			rc = copy_tree(b, top, s, r, depth + 1);
		} else if (S_ISREG(st.st_mode)) {
			rc = copy_file(b, s, r, 0644);
		}
	}
	closedir(d);
	return rc;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	remove(path);
	return 0;
}

static void rm_tree(const char *path)
{
	nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* ---- paths the stack file names ---- */

/* Where a path of the stack file is on the server: {state} and {host}
 * replaced, a relative path under the daemons' working directory. */
static void server_path(const struct bundle *b, const char *path, char *out, size_t len)
{
	size_t o = 0;
	if (path[0] != '/' && path[0] != '{')
		o = (size_t)snprintf(out, len, "%s/", T_SHARE);
	for (const char *p = path; *p && o + 1 < len; p++) {
		const char *add = NULL;
		if (strncmp(p, "{state}", 7) == 0)
			add = T_STATE, p += 6;
		else if (strncmp(p, "{host}", 6) == 0)
			add = b->h->name, p += 5;
		if (add == NULL) {
			out[o++] = *p;
			continue;
		}
		int n = snprintf(out + o, len - o, "%s", add);
		o = n < 0 || (size_t)n >= len - o ? len - 1 : o + (size_t)n;
	}
	out[o < len ? o : len - 1] = '\0';
}

/* A path the bundle can carry: relative, no "..", no {state}/{host}. */
static bool shippable(const char *path)
{
	if (path[0] == '/' || strchr(path, '{'))
		return false;
	for (const char *p = path; (p = strstr(p, "..")) != NULL; p += 2)
		if ((p == path || p[-1] == '/') && (p[2] == '\0' || p[2] == '/'))
			return false;
	return true;
}

/* Where a relative path of the stack file is here: the daemons `tristack
 * up` starts resolve it from tristack's working directory; else the
 * checkout. */
static bool local_path(const struct bundle *b, const char *path, char *out, size_t len)
{
	struct stat st;
	snprintf(out, len, "%s/%s", b->cwd, path);
	if (stat(out, &st) == 0)
		return true;
	snprintf(out, len, "%s/%s", b->c->root, path);
	return stat(out, &st) == 0;
}

/* A file or folder the stack file names (what: "[web] root"): a relative
 * one goes into share/, the rest is the operator's to install, and
 * install.sh is told to look for it. */
static int ship_path(struct bundle *b, const char *what, const char *path, bool dir)
{
	char where[4400];
	if (!shippable(path)) {
		server_path(b, path, where, sizeof(where));
		sh_word(b->operator_files_f, where);
		return 0;
	}
	char src[PATH_MAX + 8], rel[4400];
	struct stat st;
	if (!local_path(b, path, src, sizeof(src)) || stat(src, &st) < 0 ||
	    S_ISDIR(st.st_mode) != dir)
		return fail(b, "%s '%s': no such %s here (%s) or in the checkout (%s)", what, path,
		            dir ? "folder" : "file", b->cwd, b->c->root);
	snprintf(rel, sizeof(rel), "share/%s", path);
	while (rel[strlen(rel) - 1] == '/')
		rel[strlen(rel) - 1] = '\0';
	if (!dir)
		return copy_file(b, src, rel, 0644);
	char top[PATH_MAX];
	if (realpath(src, top) == NULL)
		return fail(b, "%s: %s", src, strerror(errno));
	return copy_tree(b, top, src, rel, 0);
}

/* ---- bin/ ---- */

static int put_binaries(struct bundle *b)
{
	char src[4200], rel[128];
	for (size_t i = 0; i <= ARRAY_SIZE(bundle_roles); i++) {
		const char *name =
		    i < ARRAY_SIZE(bundle_roles) ? bundle_roles[i].daemon : "tristack";
		if (i < ARRAY_SIZE(bundle_roles) && !(b->h->roles & bundle_roles[i].role))
			continue;
		snprintf(src, sizeof(src), "%s/%s", b->c->bindir, name);
		if (access(src, X_OK) < 0)
			return fail(b, "%s: %s (run make)", src, strerror(errno));
		snprintf(rel, sizeof(rel), "bin/%s", name);
		if (copy_file(b, src, rel, 0755) < 0)
			return -1;
	}
	return 0;
}

/* ---- systemd/ ---- */

/* The listeners of a role's daemon, for its ports and its check. */
static unsigned role_listens(const struct conf *s, unsigned role, const char **out)
{
	unsigned n = 0;
	switch (role) {
	case ROLE_APP:
		out[n++] = s->app.http.listen;
		out[n++] = s->app.http.admin;
		break;
	case ROLE_WEB:
		out[n++] = s->web.http.listen;
		out[n++] = s->web.http.admin;
		break;
	case ROLE_LB:
		out[n++] = s->lb.http.listen;
		out[n++] = s->lb.tls_listen;
		out[n++] = s->lb.http.admin;
		break;
	case ROLE_DNS:
		out[n++] = s->dns.listen;
		out[n++] = s->dns.admin;
		break;
	}
	return n;
}

static bool resolve(const struct bundle *b, const char *spec, struct addr *a)
{
	char e[256];
	return spec && spec[0] && conf_resolve_addr(&b->c->cfg, spec, b->h, a, e, sizeof(e)) == 0;
}

/* Does the daemon listen below 1024 (and so need CAP_NET_BIND_SERVICE)? */
static bool low_port(const struct bundle *b, unsigned role)
{
	const char *specs[4];
	unsigned n = role_listens(&b->c->cfg, role, specs);
	struct addr a;
	for (unsigned i = 0; i < n; i++)
		if (resolve(b, specs[i], &a) && addr_port(&a) > 0 && addr_port(&a) < 1024)
			return true;
	return false;
}

static int put_unit(struct bundle *b, size_t r)
{
	const char *host = b->h->name, *daemon = bundle_roles[r].daemon;
	unsigned role = bundle_roles[r].role;
	char *text = NULL, rel[128];
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	if (f == NULL)
		return fail(b, "out of memory");
	fprintf(f,
	        "# %s.service: the %s of %s (www.%s), made by `tristack bundle %s`.\n"
	        "[Unit]\n"
	        "Description=tristack %s (%s) on %s\n"
	        "Wants=network-online.target\n"
	        "After=network-online.target%s%s\n"
	        "# five fast crashes in a minute: give up, leave it failed for a human\n"
	        "StartLimitIntervalSec=60\n"
	        "StartLimitBurst=5\n"
	        "\n"
	        "[Service]\n"
	        "Type=exec\n"
	        "User=tristack\n"
	        "Group=tristack\n"
	        "WorkingDirectory=%s\n"
	        "ExecStart=%s/%s -c %s --host %s --state %s\n"
	        "# the pid file `tristack status` reads\n"
	        "ExecStartPost=/bin/sh -c 'echo $$MAINPID > %s/run/%s.%s.pid'\n"
	        "ExecStopPost=/bin/rm -f %s/run/%s.%s.pid\n"
	        "ExecReload=/bin/kill -HUP $MAINPID\n"
	        "# SIGTERM drains, then stops\n"
	        "TimeoutStopSec=15\n"
	        "Restart=on-failure\n"
	        "RestartSec=1\n"
	        "LimitNOFILE=65536\n"
	        "UMask=0027\n",
	        daemon, bundle_roles[r].what, host, b->c->cfg.site.domain, host,
	        bundle_roles[r].name, bundle_roles[r].what, host,
	        role == ROLE_APP ? " mariadb.service" : "",
	        role == ROLE_WEB && (b->h->roles & ROLE_APP) ? " tristack-app.service" : "",
	        T_SHARE, T_BIN, daemon, T_CONF, host, T_STATE, T_STATE, host, bundle_roles[r].name,
	        T_STATE, host, bundle_roles[r].name);
	if (low_port(b, role))
		fprintf(f, "# a port below 1024, without root\n"
		           "AmbientCapabilities=CAP_NET_BIND_SERVICE\n"
		           "CapabilityBoundingSet=CAP_NET_BIND_SERVICE\n");
	else
		fprintf(f, "CapabilityBoundingSet=\n");
	fprintf(f, "NoNewPrivileges=yes\n"
	           "ProtectSystem=strict\n"
	           "ReadWritePaths=" T_STATE "\n"
	           "ProtectHome=yes\n"
	           "PrivateTmp=yes\n"
	           "PrivateDevices=yes\n"
	           "ProtectKernelTunables=yes\n"
	           "ProtectKernelModules=yes\n"
	           "ProtectKernelLogs=yes\n"
	           "ProtectControlGroups=yes\n"
	           "ProtectClock=yes\n"
	           "ProtectHostname=yes\n"
	           "RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX\n"
	           "RestrictNamespaces=yes\n"
	           "RestrictRealtime=yes\n"
	           "RestrictSUIDSGID=yes\n"
	           "LockPersonality=yes\n"
	           "SystemCallArchitectures=native\n"
	           "\n"
	           "[Install]\n"
	           "WantedBy=multi-user.target\n");
	snprintf(rel, sizeof(rel), "systemd/%s.service", daemon);
	return put_stream(b, rel, 0644, f, &text, &len);
}

/* install.sh's check of a daemon: an HTTP URL that must answer. */
static void add_check(struct bundle *b, size_t r)
{
	const struct conf *s = &b->c->cfg;
	const char *spec = NULL, *path = "/";
	switch (bundle_roles[r].role) {
	case ROLE_APP:
		spec = s->app.http.listen, path = "/healthz";
		break;
	case ROLE_WEB:
		spec = s->web.http.listen;
		break;
	case ROLE_LB:
		/* the admin listener's /healthz: 200 while a server is up */
		if (s->lb.http.admin && s->lb.http.admin[0])
			spec = s->lb.http.admin, path = "/healthz";
		else
			spec = s->lb.http.listen;
		break;
	default:
		return; /* DNS: `tristack status` asks it */
	}
	struct addr a;
	char hp[128], word[300];
	if (!resolve(b, spec, &a))
		return;
	snprintf(word, sizeof(word), "%s http://%s%s", bundle_roles[r].daemon,
	         addr_format(&a, hp, sizeof(hp)), path);
	sh_word(b->checks_f, word);
}

static int put_units(struct bundle *b)
{
	for (size_t r = 0; r < ARRAY_SIZE(bundle_roles); r++) {
		if (!(b->h->roles & bundle_roles[r].role))
			continue;
		if (put_unit(b, r) < 0)
			return -1;
		add_check(b, r);
	}
	return 0;
}

/* ---- nftables/ ---- */

/* fw_render's rules (firewall.c, what isolated mode loads), and SSH: a
 * namespace needs none, a server is administered over it. */
static int put_firewall(struct bundle *b)
{
	char *rules = xmalloc(FW_MAX);
	if (fw_render(b->c, b->h, rules, FW_MAX) < 0) {
		fail(b, "the firewall of %s: %s%s", b->h->name, rules,
		     strstr(rules, "[site] admin") ? " (servers have no client host: name CIDRs, "
		                                     "as deploy/servers.conf does)"
		                                   : "");
		free(rules);
		return -1;
	}
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	if (f == NULL) {
		free(rules);
		return fail(b, "out of memory");
	}
	fprintf(f,
	        "%s\n"
	        "# A server is administered over SSH: tristack bundle adds it, from anywhere.\n"
	        "add rule inet tristack input tcp dport 22 accept comment \"ssh\"\n",
	        rules);
	free(rules);
	return put_stream(b, "nftables/tristack.nft", 0644, f, &text, &len);
}

/* ---- mariadb/ ---- */

static int put_cnf(struct bundle *b)
{
	const struct conf_db *db = &b->c->cfg.db;
	unsigned server_id = (unsigned)(b->h - b->c->cfg.hosts) + 1; /* as db_argv */
	bool primary = b->h == b->primary;
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	if (f == NULL)
		return fail(b, "out of memory");
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
	        primary ? "" : "# a replica comes up read-only, not writable until promoted\n",
	        primary ? "OFF" : "ON");
	return put_stream(b, "mariadb/60-tristack.cnf", 0644, f, &text, &len);
}

static int secrets(struct bundle *b, char *app, char *repl, size_t len)
{
	if (db_secret(b->c, "app", app, len) < 0 || db_secret(b->c, "repl", repl, len) < 0)
		return fail(b, "cannot read or make the passwords in %s/secrets", b->c->state);
	return 0;
}

/* One account per client host, at its exact address (what db.c does off
 * loopback): app with DML on the schema, repl for replication. */
static int put_provision(struct bundle *b, const char *app_pw, const char *repl_pw)
{
	const struct conf *s = &b->c->cfg;
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	if (f == NULL)
		return fail(b, "out of memory");
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
			if (app ? !(h->roles & ROLE_APP) : !is_db(h))
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
			if (app) {
				/* grants.sql gives what it may do, once the tables exist */
				fprintf(f, ";\nREVOKE ALL PRIVILEGES, GRANT OPTION FROM %s", user);
			} else {
				fprintf(
				    f,
				    ";\nGRANT REPLICATION SLAVE, REPLICATION CLIENT ON *.* TO %s",
				    user);
			}
			sql_str(f, h->address);
			fprintf(f, ";\n");
		}
	}
	fprintf(f, "\n-- the migrations applied (db/migrations; install.sh applies the others)\n"
	           "CREATE TABLE IF NOT EXISTS ");
	sql_id(f, s->db.name);
	fprintf(f, ".schema_migrations (\n"
	           "    version VARCHAR(255) NOT NULL PRIMARY KEY,\n"
	           "    applied_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6)\n"
	           ") ENGINE=InnoDB;\n");
	return put_stream(b, "mariadb/provision.sql", 0600, f, &text, &len);
}

/* The app's privileges, table by table (db_app_grants): install.sh runs
 * this after the migrations, which make the tables. */
static int put_grants(struct bundle *b)
{
	const struct conf *s = &b->c->cfg;
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	if (f == NULL)
		return fail(b, "out of memory");
	fprintf(f,
	        "-- grants.sql: what the app's accounts may do (no more); made by `tristack\n"
	        "-- bundle %s`, run by install.sh after the migrations.\n",
	        b->h->name);
	for (unsigned i = 0; i < s->nhosts; i++) {
		const struct conf_host *h = &s->hosts[i];
		if (!(h->roles & ROLE_APP))
			continue;
		for (const struct db_grant *g = db_app_grants; g->table; g++) {
			fprintf(f, "GRANT %s ON ", g->privileges);
			sql_id(f, s->db.name);
			fputc('.', f);
			sql_id(f, g->table);
			fprintf(f, " TO 'app'@");
			sql_str(f, h->address);
			fprintf(f, ";\n");
		}
	}
	return put_stream(b, "mariadb/grants.sql", 0644, f, &text, &len);
}

/* The .sql files of the checkout's db/migrations, in order. Their names end up in a
 * shell loop and in SQL: anything but [A-Za-z0-9_.-] is refused. */
static int put_migrations(struct bundle *b)
{
	char dir[4200];
	snprintf(dir, sizeof(dir), "%s/db/migrations", b->c->root);
	struct dirent **names;
	int n = scandir(dir, &names, NULL, alphasort);
	if (n < 0)
		return fail(b, "cannot read %s: %s", dir, strerror(errno));
	char sub[4400];
	snprintf(sub, sizeof(sub), "%s/mariadb/migrations", b->top);
	int rc = mkdirs(b, sub);
	for (int i = 0; i < n; i++) {
		const char *name = names[i]->d_name;
		size_t len = strlen(name);
		if (rc == 0 && len > 4 && strcmp(name + len - 4, ".sql") == 0) {
			if (strspn(name, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
			                 "0123456789_.-") != len) {
				rc = fail(b, "%s/%s: a migration's name is letters, digits, _ . -",
				          dir, name);
			} else {
				char src[4500], rel[600];
				snprintf(src, sizeof(src), "%s/%s", dir, name);
				snprintf(rel, sizeof(rel), "mariadb/migrations/%s", name);
				rc = copy_file(b, src, rel, 0644);
			}
		}
		free(names[i]);
	}
	free(names);
	return rc;
}

static int put_replica(struct bundle *b, const char *repl_pw)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	if (f == NULL)
		return fail(b, "out of memory");
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
	return put_stream(b, "mariadb/replica.sql", 0600, f, &text, &len);
}

static int put_database(struct bundle *b)
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
		rc = put_file(b, "secrets/app.password", 0600, app_pw, strlen(app_pw));
		/* one signing key for every app host: a read-your-writes cookie
		 * one app signed, the others honour */
		if (rc == 0 && db_cookie_key(b->c, key, sizeof(key)) < 0)
			rc = fail(b, "cannot read or make %s/secrets/cookie.key", b->c->state);
		else if (rc == 0)
			rc = put_file(b, "secrets/cookie.key", 0600, key, strlen(key));
		explicit_bzero(key, sizeof(key));
	}
	if (rc == 0 && is_db(b->h)) {
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

/* ---- tls/ ---- */

static int put_tls(struct bundle *b)
{
	const struct lb_conf *lb = &b->c->cfg.lb;
	if (!(b->h->roles & ROLE_LB) || lb->tls_listen == NULL || lb->tls_listen[0] == '\0')
		return 0;
	char where[4400];
	if (lb->ntls_certs > 0) {
		/* The operator's (certbot's): the bundle names them, install.sh
		 * checks the LB's user can read them. */
		for (unsigned i = 0; i < lb->ntls_certs; i++) {
			server_path(b, lb->tls_certs[i].cert, where, sizeof(where));
			sh_word(b->tls_cert_files_f, where);
			if (lb->tls_certs[i].key) {
				server_path(b, lb->tls_certs[i].key, where, sizeof(where));
				sh_word(b->tls_cert_files_f, where);
			}
		}
		return 0;
	}
	/* What `tristack up` makes: the local CA's certificates for the site.
	 * The CA's key stays here; the LB needs only the CA's revocation list. */
	bool renewed;
	if (certs_ensure(b->c, &renewed, b->err, sizeof(b->err)) < 0)
		return -1;
	static const struct {
		const char *name;
		mode_t mode;
	} files[] = {
		{ "site-ecdsa.pem", 0600 },
		{ "site-rsa.pem", 0600 },
		{ "ca.crt", 0644 },
		{ "ca.crl", 0644 },
	};
	for (size_t i = 0; i < ARRAY_SIZE(files); i++) {
		char src[4400], rel[64];
		snprintf(src, sizeof(src), "%s/tls/%s", b->c->state, files[i].name);
		snprintf(rel, sizeof(rel), "tls/%s", files[i].name);
		if (copy_file(b, src, rel, files[i].mode) < 0)
			return -1;
	}
	b->local_tls = true;
	return 0;
}

/* ---- share/: what the stack file names by relative path ---- */

static int put_shared(struct bundle *b)
{
	const struct conf *s = &b->c->cfg;
	if (b->h->roles & ROLE_WEB) {
		if (ship_path(b, "[web] root", s->web.root, true) < 0)
			return -1;
		/* /etc/mime.types is Debian's (media-types); missing, the
		 * built-in table serves */
		if (s->web.mime_types && s->web.mime_types[0] &&
		    strcmp(s->web.mime_types, "/etc/mime.types") != 0 &&
		    ship_path(b, "[web] mime_types", s->web.mime_types, false) < 0)
			return -1;
	}
	if ((b->h->roles & ROLE_DNS) && s->dns.zone_file && s->dns.zone_file[0] &&
	    ship_path(b, "[dns] zone_file", s->dns.zone_file, false) < 0)
		return -1;
	return 0;
}

/* ---- install.sh and README ---- */

static void roles_text(const struct conf_host *h, char *out, size_t len, const char *sep)
{
	static const struct {
		unsigned role;
		const char *name;
	} names[] = { { ROLE_LB, "lb" },
		      { ROLE_DNS, "dns" },
		      { ROLE_WEB, "web" },
		      { ROLE_APP, "app" },
		      { ROLE_DB_PRIMARY, "db-primary" },
		      { ROLE_DB_REPLICA, "db-replica" } };
	size_t o = 0;
	out[0] = '\0';
	for (size_t i = 0; i < ARRAY_SIZE(names); i++)
		if ((h->roles & names[i].role) && o < len)
			o +=
			    (size_t)snprintf(out + o, len - o, "%s%s", o ? sep : "", names[i].name);
}

/* This host's database role as the bundle deploys it: the current primary
 * (db_primary: a promotion counts) or a replica of it. */
static const char *db_role(const struct bundle *b)
{
	if (!is_db(b->h) || b->primary == NULL)
		return "";
	return b->h == b->primary ? "primary" : "replica";
}

static void packages(struct bundle *b)
{
	FILE *f = b->packages_f;
	/* tristack itself: OpenSSL, inih, Connector/C (and zlib through it) */
	const char *always[] = { "libssl3",  "libinih1", "libmariadb3",     "zlib1g",
		                 "nftables", "curl",     "ca-certificates", "systemd" };
	for (size_t i = 0; i < ARRAY_SIZE(always); i++)
		sh_word(f, always[i]);
	if (b->h->roles & ROLE_APP)
		sh_word(f, "libjansson4");
	if (b->h->roles & ROLE_WEB)
		sh_word(f, "media-types"); /* /etc/mime.types */
	if (b->h->roles & ROLE_DNS)
		sh_word(f, "libldns3");
	if (is_db(b->h))
		sh_word(f, "mariadb-server");
}

static int put_install(struct bundle *b)
{
	char tmpl_path[4200], *tmpl;
	size_t tmpl_len;
	snprintf(tmpl_path, sizeof(tmpl_path), "%s/deploy/install.sh", b->c->root);
	if (read_all(b, tmpl_path, &tmpl, &tmpl_len) < 0)
		return -1;
	static const char mark[] = "# @BUNDLE_SETTINGS@\n";
	char *at = strstr(tmpl, mark);
	if (at == NULL) {
		free(tmpl);
		return fail(b, "%s: no '%.*s' line", tmpl_path, (int)sizeof(mark) - 2, mark);
	}
	packages(b);
	fflush(b->packages_f);
	fflush(b->checks_f);
	fflush(b->operator_files_f);
	fflush(b->tls_cert_files_f);
	char roles[128], *text = NULL;
	size_t len = 0;
	roles_text(b->h, roles, sizeof(roles), " ");
	FILE *f = open_memstream(&text, &len);
	if (f == NULL) {
		free(tmpl);
		return fail(b, "out of memory");
	}
	fwrite(tmpl, 1, (size_t)(at - tmpl), f);
	fprintf(f, "# ---- settings of %s, from `tristack bundle %s` ----\nHOST=", b->h->name,
	        b->h->name);
	sh_quote(f, b->h->name);
	fprintf(f, "\nROLES=");
	sh_quote(f, roles);
	fprintf(f, "\nDOMAIN=");
	sh_quote(f, b->c->cfg.site.domain);
	fprintf(f, "\n# this host's daemons, in start order\nUNITS=(");
	for (size_t r = 0; r < ARRAY_SIZE(bundle_roles); r++)
		if (b->h->roles & bundle_roles[r].role)
			sh_word(f, bundle_roles[r].daemon);
	fprintf(f, " )\nPACKAGES=(%s )\n", b->packages);
	fprintf(f, "# \"daemon URL\": what must answer once they run\nCHECKS=(%s )\n", b->checks);
	fprintf(f,
	        "# files the stack file names that the operator installs\nOPERATOR_FILES=(%s )\n",
	        b->operator_files);
	fprintf(f, "# [lb] tls_cert files (certbot's)\nTLS_CERT_FILES=(%s )\n", b->tls_cert_files);
	fprintf(f, "# '' | primary | replica\nDB_ROLE=");
	sh_quote(f, db_role(b));
	fprintf(f, "\nSCHEMA=");
	sh_quote(f, b->c->cfg.db.name);
	fprintf(f, "\nDB_PORT=%lld\nPRIMARY=", (long long)b->c->cfg.db.port);
	sh_quote(f, b->primary ? b->primary->name : "");
	fprintf(f, "\nPRIMARY_ADDRESS=");
	sh_quote(f, b->primary ? b->primary->address : "");
	fprintf(f, "\n# ----\n");
	fputs(at + sizeof(mark) - 1, f);
	free(tmpl);
	return put_stream(b, "install.sh", 0755, f, &text, &len);
}

/* The order the hosts go in: database primary, replicas, web/app, lb/dns. */
static int install_rank(const struct bundle *b, const struct conf_host *h)
{
	if (h == b->primary)
		return 0;
	if (is_db(h))
		return 1;
	if (h->roles & (ROLE_WEB | ROLE_APP))
		return 2;
	return 3;
}

static int put_readme(struct bundle *b)
{
	const struct conf *s = &b->c->cfg;
	char roles[128], *text = NULL;
	size_t len = 0;
	roles_text(b->h, roles, sizeof(roles), ", ");
	FILE *f = open_memstream(&text, &len);
	if (f == NULL)
		return fail(b, "out of memory");
	fprintf(f,
	        "tristack-%s: the host %s (%s, roles %s) of www.%s, for Debian 12.\n"
	        "Made by `tristack bundle %s` from %s.\n\n"
	        "Install (as root, on %s):\n\n"
	        "    tar xzf tristack-%s.tar.gz && ./tristack-%s/install.sh\n\n"
	        "install.sh is idempotent: run it again after any change (a new bundle of\n"
	        "the same host upgrades it). It ends with checks of every daemon.\n\n"
	        "Order across the hosts (a replica needs its primary, the apps need the\n"
	        "database, the LB needs servers to send to):\n",
	        b->h->name, b->h->name, b->h->address, roles, s->site.domain, b->h->name, s->path,
	        b->h->name, b->h->name, b->h->name);
	int step = 1;
	for (int rank = 0; rank < 4; rank++)
		for (unsigned i = 0; i < s->nhosts; i++)
			if (install_rank(b, &s->hosts[i]) == rank) {
				char r[128];
				roles_text(&s->hosts[i], r, sizeof(r), ", ");
				fprintf(f, "  %d. %-8s %-15s %s%s\n", step++, s->hosts[i].name,
				        s->hosts[i].address, r,
				        &s->hosts[i] == b->h ? "   <- this one" : "");
			}
	fprintf(f, "\nInside:\n"
	           "  bin/                    to " T_BIN ":");
	for (size_t r = 0; r < ARRAY_SIZE(bundle_roles); r++)
		if (b->h->roles & bundle_roles[r].role)
			fprintf(f, " %s", bundle_roles[r].daemon);
	fprintf(
	    f,
	    " tristack\n"
	    "  etc/tristack/           to /etc/tristack: foobar.conf (the stack file), host\n"
	    "  systemd/                to /etc/systemd/system: a unit per daemon, user tristack\n"
	    "  nftables/tristack.nft   to /etc/nftables.d, included from /etc/nftables.conf\n");
	if (b->h->roles & ROLE_WEB)
		fprintf(
		    f,
		    "  share/                  to " T_SHARE " (the daemons' working directory):\n"
		    "                          the web root and what else the stack file names by\n"
		    "                          relative path\n");
	if (b->h->roles & ROLE_APP && b->primary)
		fprintf(f, "  secrets/app.password    to " T_STATE
		           "/secrets (0600): the app's database password\n"
		           "  secrets/cookie.key      to " T_STATE
		           "/secrets (0600): the apps' shared signing key\n");
	if (is_db(b->h) && b->primary) {
		fprintf(f,
		        "  mariadb/60-tristack.cnf to /etc/mysql/mariadb.conf.d: server_id, binary "
		        "log,\n"
		        "                          bind_address %s, read_only %s\n",
		        b->h->address, b->h == b->primary ? "OFF" : "ON");
		if (b->h == b->primary)
			fprintf(f,
			        "  mariadb/provision.sql   the schema %s, the accounts app and "
			        "repl (0600:\n"
			        "                          passwords)\n"
			        "  mariadb/migrations/     applied in order, once each "
			        "(%s.schema_migrations)\n",
			        s->db.name, s->db.name);
		else
			fprintf(f,
			        "  mariadb/replica.sql     replication from %s (%s) by GTID (0600: "
			        "password)\n",
			        b->primary->name, b->primary->address);
	}
	if (b->local_tls)
		fprintf(
		    f,
		    "  tls/                    to " T_STATE
		    "/tls: the site's certificates from the local CA of\n"
		    "                          the machine that made the bundle (keys 0600; "
		    "browsers\n"
		    "                          do not trust it: see docs/deploy.md for certbot)\n");
	else if (b->h->roles & ROLE_LB && s->lb.ntls_certs)
		fprintf(
		    f,
		    "  (no tls/)               the stack file's tls_cert lines name the "
		    "certificates:\n"
		    "                          install them (certbot's) before install.sh, which\n"
		    "                          checks the tristack user can read them\n");
	fprintf(f, "  install.sh, README\n\n"
	           "After install: journalctl -u tristack-* ; systemctl reload tristack-lb "
	           "(SIGHUP);\n" T_BIN "/tristack -c " T_CONF " --state " T_STATE " status\n"
	           "The whole procedure (order, DNS, certificates, a third web server,\n"
	           "upgrades, rollback, backups, failover): docs/deploy.md in the checkout.\n");
	return put_stream(b, "README", 0644, f, &text, &len);
}

/* ---- packing ---- */

static int pack(struct bundle *b, const char *out)
{
	char tmp[PATH_MAX + 16], dir[PATH_MAX + 16];
	snprintf(tmp, sizeof(tmp), "%s.tmp", out);
	snprintf(dir, sizeof(dir), "tristack-%s", b->h->name);
	char *argv[] = { "tar",         "--create", "--gzip",    "--file",    tmp,
		         "--directory", b->stage,   "--owner=0", "--group=0", "--numeric-owner",
		         "--sort=name", dir,        NULL };
	pid_t pid = fork();
	if (pid < 0)
		return fail(b, "fork: %s", strerror(errno));
	if (pid == 0) {
		execvp(argv[0], argv);
		fprintf(stderr, "tristack: cannot run tar: %s\n", strerror(errno));
		_exit(127);
	}
	int st;
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return fail(b, "waitpid: %s", strerror(errno));
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		unlink(tmp);
		return fail(b, "tar failed making %s", out);
	}
	chmod(tmp, 0600); /* it holds passwords and keys */
	if (rename(tmp, out) < 0) {
		unlink(tmp);
		return fail(b, "cannot write %s: %s", out, strerror(errno));
	}
	return 0;
}

/* ---- the command ---- */

static int bundle_usage(void)
{
	fprintf(stderr, "usage: tristack bundle HOST [-o FILE]\n");
	return 1;
}

static void hosts_list(const struct ctl *c, char *out, size_t len)
{
	size_t o = 0;
	out[0] = '\0';
	for (unsigned i = 0; i < c->cfg.nhosts && o < len; i++)
		o +=
		    (size_t)snprintf(out + o, len - o, "%s%s", i ? ", " : "", c->cfg.hosts[i].name);
}

static int build(struct bundle *b, const char *out)
{
	b->packages_f = open_memstream(&b->packages, &b->packages_len);
	b->checks_f = open_memstream(&b->checks, &b->checks_len);
	b->operator_files_f = open_memstream(&b->operator_files, &b->operator_files_len);
	b->tls_cert_files_f = open_memstream(&b->tls_cert_files, &b->tls_cert_files_len);
	if (!b->packages_f || !b->checks_f || !b->operator_files_f || !b->tls_cert_files_f)
		return fail(b, "out of memory");
	const char *tmpdir = getenv("TMPDIR");
	snprintf(b->stage, sizeof(b->stage), "%s/tristack-bundle.XXXXXX",
	         tmpdir && tmpdir[0] ? tmpdir : "/tmp");
	if (mkdtemp(b->stage) == NULL) {
		b->stage[0] = '\0';
		return fail(b, "cannot make a temporary folder: %s", strerror(errno));
	}
	snprintf(b->top, sizeof(b->top), "%s/tristack-%s", b->stage, b->h->name);
	/* the state folder: secrets and certificates are made there */
	char err[sizeof(b->err)];
	if (mkdirs(b, b->c->state) < 0) {
		snprintf(err, sizeof(err), "%s", b->err);
		return fail(b, "the state folder: %s", err);
	}
	char host_line[256];
	snprintf(host_line, sizeof(host_line), "%s\n", b->h->name);
	if (mkdirs(b, b->top) < 0 || put_binaries(b) < 0 ||
	    copy_file(b, b->c->conf, "etc/tristack/foobar.conf", 0644) < 0 ||
	    put_file(b, "etc/tristack/host", 0644, host_line, strlen(host_line)) < 0 ||
	    put_units(b) < 0 || put_firewall(b) < 0 || put_database(b) < 0 || put_tls(b) < 0 ||
	    put_shared(b) < 0 || put_install(b) < 0 || put_readme(b) < 0)
		return -1;
	return pack(b, out);
}

int cmd_bundle(struct ctl *c, int argc, char **argv)
{
	const char *name = NULL, *out_arg = NULL;
	for (int i = 0; i < argc; i++) {
		if (strcmp(argv[i], "-o") == 0 || strcmp(argv[i], "--output") == 0) {
			if (++i == argc)
				return bundle_usage();
			out_arg = argv[i];
		} else if (argv[i][0] == '-' || name) {
			return bundle_usage();
		} else {
			name = argv[i];
		}
	}
	if (name == NULL)
		return bundle_usage();
	static struct bundle b; /* big; one per process */
	memset(&b, 0, sizeof(b));
	b.c = c;
	b.h = conf_host(&c->cfg, name);
	if (b.h == NULL) {
		char hosts[1024];
		hosts_list(c, hosts, sizeof(hosts));
		fprintf(stderr, "tristack: bundle: no host '%s' in %s (its hosts: %s)\n", name,
		        c->conf, hosts);
		return 1;
	}
	if (getcwd(b.cwd, sizeof(b.cwd)) == NULL) {
		fprintf(stderr, "tristack: bundle: getcwd: %s\n", strerror(errno));
		return 1;
	}
	b.primary = db_primary(c);
	char def[300], out[PATH_MAX];
	snprintf(def, sizeof(def), "tristack-%s.tar.gz", name);
	const char *o = out_arg ? out_arg : def;
	if ((size_t)snprintf(out, sizeof(out), "%s%s%s", o[0] == '/' ? "" : b.cwd,
	                     o[0] == '/' ? "" : "/", o) >= sizeof(out)) {
		fprintf(stderr, "tristack: bundle: %s: path too long\n", o);
		return 1;
	}
	if (strncmp(b.h->address, "127.", 4) == 0 || strcmp(b.h->address, "::1") == 0)
		fprintf(
		    stderr,
		    "tristack: bundle: warning: %s's address %s is a loopback address: %s is a\n"
		    "  one-machine stack file; servers need their own addresses "
		    "(deploy/servers.conf)\n",
		    name, b.h->address, c->conf);
	int rc = build(&b, out);
	if (b.stage[0])
		rm_tree(b.stage);
	FILE **fs[] = { &b.packages_f, &b.checks_f, &b.operator_files_f, &b.tls_cert_files_f };
	for (size_t i = 0; i < ARRAY_SIZE(fs); i++)
		if (*fs[i])
			fclose(*fs[i]);
	free(b.packages);
	free(b.checks);
	free(b.operator_files);
	free(b.tls_cert_files);
	if (rc < 0) {
		fprintf(stderr, "tristack: bundle %s: %s\n", name, b.err);
		return 1;
	}
	char roles[128];
	roles_text(b.h, roles, sizeof(roles), ", ");
	printf("%s: %s (%s, %s)\n"
	       "  on %s, as root: tar xzf %s && ./tristack-%s/install.sh\n",
	       out, name, b.h->address, roles, name, strrchr(out, '/') + 1, name);
	return 0;
}
