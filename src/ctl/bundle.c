/* bundle.c - tristack bundle HOST [-o FILE]: one host of the stack file,
 * ready for a real Debian 12 server, as a gzip tarball whose members all sit
 * under tristack-HOST/:
 *
 *   bin/           the binaries of the host's roles, and tristack itself
 *   etc/tristack/  the stack file (as foobar.conf) and the host's name
 *   systemd/       one unit per daemon (hardened, restarted on failure);
 *                  an LB of a pair ([site] vip) also keepalived's (as the
 *                  tristack user) and its agent's, with
 *                  etc/tristack/keepalived.conf; with [db] auto_failover,
 *                  the monitoring host the failover monitor's and each db
 *                  host its guard's (bundle_failover.c); an LB with [lb]
 *                  acme_directory, tristack-certs-renew.service and its
 *                  daily .timer (bundle_acme.c)
 *   nftables/      the host's firewall (fw_render, firewall.c)
 *   mariadb/       db hosts: settings for Debian's mariadb.service; the
 *                  primary's provision.sql and migrations, the replica's
 *                  replica.sql
 *   tls/           lb without tls_cert: the local CA's site certificates
 *   secrets/       app hosts: the database password the app reads; the LBs
 *                  of a pair: the session-ticket keys they share; the
 *                  failover monitor's host: its password and repl's
 *   share/         what the stack file names by relative path (the web root)
 *   install.sh     deploy/install.sh with the host's settings filled in
 *   README
 *
 * The files are laid out in a temporary folder with their final modes and
 * packed by tar (owner root, sorted, so the same input gives the same
 * members). Passwords come from {state}/secrets, made there as mariadb.c makes
 * them when the stack was never brought up, so every host's bundle agrees.
 *
 * mariadb/ is bundle_mariadb.c's, install.sh and README bundle_install.c's;
 * what they share is in bundle.h.
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

#include "bundle.h"
#include "conf/names.h"

const struct bundle_role bundle_roles[4] = {
	{ ROLE_APP, "app", "tristack-app", "application server" },
	{ ROLE_WEB, "web", "tristack-web", "web server" },
	{ ROLE_LB, "lb", "tristack-lb", "load balancer" },
	{ ROLE_DNS, "dns", "tristack-dns", "authoritative DNS" },
};

int bundle_fail(struct bundle *b, const char *f, ...)
{
	va_list ap;
	va_start(ap, f);
	vsnprintf(b->err, sizeof(b->err), f, ap);
	va_end(ap);
	return -1;
}

bool bundle_is_db(const struct conf_host *h)
{
	return (h->roles & (ROLE_DB_PRIMARY | ROLE_DB_REPLICA)) != 0;
}

/* ---- quoting ---- */

/* 'text' for sh: a ' becomes '\'' */
void bundle_sh_quote(FILE *f, const char *s)
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
void bundle_sh_word(FILE *f, const char *s)
{
	fputc(' ', f);
	bundle_sh_quote(f, s);
}

/* ---- the staging folder ---- */

int bundle_mkdirs(struct bundle *b, const char *path)
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
			return bundle_fail(b, "cannot make %s: %s", tmp, strerror(errno));
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
		return bundle_fail(b, "path too long: %s", rel);
	char dir[4400];
	snprintf(dir, sizeof(dir), "%s", out);
	*strrchr(dir, '/') = '\0';
	return bundle_mkdirs(b, dir);
}

/* Write len bytes as top/rel with mode (exactly: the umask does not count). */
int bundle_put_file(struct bundle *b, const char *rel, mode_t mode, const char *text, size_t len)
{
	char path[4400];
	if (stage_path(b, rel, path, sizeof(path)) < 0)
		return -1;
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return bundle_fail(b, "cannot write %s: %s", path, strerror(errno));
	size_t done = 0;
	while (done < len) {
		ssize_t w = write(fd, text + done, len - done);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			close(fd);
			return bundle_fail(b, "cannot write %s: %s", path, strerror(errno));
		}
		done += (size_t)w;
	}
	fchmod(fd, mode);
	if (close(fd) < 0)
		return bundle_fail(b, "cannot write %s: %s", path, strerror(errno));
	return 0;
}

/* o->f, or NULL (out of memory: b->err says so). */
FILE *bundle_out_open(struct bundle *b, struct bundle_out *o)
{
	*o = (struct bundle_out){ 0 };
	o->f = open_memstream(&o->text, &o->len);
	if (o->f == NULL)
		bundle_fail(b, "out of memory");
	return o->f;
}

/* Close o and write its text as top/rel with mode; frees the text. */
int bundle_out_put(struct bundle *b, struct bundle_out *o, const char *rel, mode_t mode)
{
	if (fclose(o->f) != 0) {
		free(o->text);
		return bundle_fail(b, "out of memory writing %s", rel);
	}
	int rc = bundle_put_file(b, rel, mode, o->text, o->len);
	free(o->text);
	o->text = NULL;
	return rc;
}

/* A whole file (binaries too: NUL bytes and all), in *text (NUL-ended). */
int bundle_read_all(struct bundle *b, const char *path, char **text, size_t *len)
{
	FILE *f = fopen(path, "r");
	if (f == NULL)
		return bundle_fail(b, "cannot read %s: %s", path, strerror(errno));
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
		return bundle_fail(b, "cannot read %s", path);
	}
	buf[n] = '\0';
	*text = buf;
	*len = n;
	return 0;
}

int bundle_copy_file(struct bundle *b, const char *src, const char *rel, mode_t mode)
{
	char *text;
	size_t len;
	if (bundle_read_all(b, src, &text, &len) < 0)
		return -1;
	int rc = bundle_put_file(b, rel, mode, text, len);
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
		return bundle_fail(b, "%s: folders nested too deep", src);
	DIR *d = opendir(src);
	if (d == NULL)
		return bundle_fail(b, "cannot read %s: %s", src, strerror(errno));
	char dst[4400];
	int rc = stage_path(b, rel, dst, sizeof(dst)) < 0 ? -1 : bundle_mkdirs(b, dst);
	struct dirent *e;
	while (rc == 0 && (e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		char s[4400], r[4400];
		struct stat st;
		if ((size_t)snprintf(s, sizeof(s), "%s/%s", src, e->d_name) >= sizeof(s) ||
		    (size_t)snprintf(r, sizeof(r), "%s/%s", rel, e->d_name) >= sizeof(r)) {
			rc = bundle_fail(b, "path too long under %s", src);
		} else if (!tree_entry_ships(top, s, e->d_name)) {
			continue;
		} else if (stat(s, &st) < 0) {
			rc = bundle_fail(b, "%s: %s", s, strerror(errno));
		} else if (S_ISDIR(st.st_mode)) {
			rc = copy_tree(b, top, s, r, depth + 1);
		} else if (S_ISREG(st.st_mode)) {
			rc = bundle_copy_file(b, s, r, 0644);
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
		bundle_sh_word(b->operator_files.f, where);
		return 0;
	}
	char src[PATH_MAX + 8], rel[4400];
	struct stat st;
	if (!local_path(b, path, src, sizeof(src)) || stat(src, &st) < 0 ||
	    S_ISDIR(st.st_mode) != dir)
		return bundle_fail(b, "%s '%s': no such %s here (%s) or in the checkout (%s)", what,
		                   path, dir ? "folder" : "file", b->cwd, b->c->root);
	snprintf(rel, sizeof(rel), "share/%s", path);
	while (rel[strlen(rel) - 1] == '/')
		rel[strlen(rel) - 1] = '\0';
	if (!dir)
		return bundle_copy_file(b, src, rel, 0644);
	char top[PATH_MAX];
	if (realpath(src, top) == NULL)
		return bundle_fail(b, "%s: %s", src, strerror(errno));
	return copy_tree(b, top, src, rel, 0);
}

/* ---- bin/ ---- */

static int put_binaries(struct bundle *b)
{
	char src[TS_PATH_MAX], rel[128];
	for (size_t i = 0; i <= ARRAY_SIZE(bundle_roles); i++) {
		const char *name =
		    i < ARRAY_SIZE(bundle_roles) ? bundle_roles[i].daemon : "tristack";
		if (i < ARRAY_SIZE(bundle_roles) && !(b->h->roles & bundle_roles[i].role))
			continue;
		snprintf(src, sizeof(src), "%s/%s", b->c->bindir, name);
		if (access(src, X_OK) < 0)
			return bundle_fail(b, "%s: %s (run make)", src, strerror(errno));
		snprintf(rel, sizeof(rel), "bin/%s", name);
		if (bundle_copy_file(b, src, rel, 0755) < 0)
			return -1;
	}
	return 0;
}

/* ---- systemd/ ---- */

/* What every unit of the bundle has: a read-only system, rw (NULL: none)
 * the one folder it writes; nothing else of the machine's; and [Install],
 * wanted by wanted_by (NULL: none, a unit a timer starts). */
void bundle_unit_sandbox(FILE *f, const char *rw, const char *wanted_by)
{
	fprintf(f, "NoNewPrivileges=yes\n"
	           "ProtectSystem=strict\n");
	if (rw)
		fprintf(f, "ReadWritePaths=%s\n", rw);
	fprintf(f, "ProtectHome=yes\n"
	           "PrivateTmp=yes\n"
	           "PrivateDevices=yes\n"
	           "ProtectKernelModules=yes\n"
	           "ProtectKernelLogs=yes\n"
	           "ProtectControlGroups=yes\n"
	           "ProtectClock=yes\n"
	           "ProtectHostname=yes\n"
	           "RestrictNamespaces=yes\n"
	           "RestrictRealtime=yes\n"
	           "RestrictSUIDSGID=yes\n"
	           "LockPersonality=yes\n"
	           "SystemCallArchitectures=native\n");
	if (wanted_by)
		fprintf(f,
		        "\n"
		        "[Install]\n"
		        "WantedBy=%s\n",
		        wanted_by);
}

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
bool bundle_low_port(const struct bundle *b, unsigned role)
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
	char rel[128];
	struct bundle_out o;
	FILE *f = bundle_out_open(b, &o);
	if (f == NULL)
		return -1;
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
	if (bundle_low_port(b, role))
		fprintf(f, "# a port below 1024, without root\n"
		           "AmbientCapabilities=CAP_NET_BIND_SERVICE\n"
		           "CapabilityBoundingSet=CAP_NET_BIND_SERVICE\n");
	else
		fprintf(f, "CapabilityBoundingSet=\n");
	fprintf(f, "ProtectKernelTunables=yes\n"
	           "RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX\n");
	bundle_unit_sandbox(f, T_STATE, "multi-user.target");
	snprintf(rel, sizeof(rel), "systemd/%s.service", daemon);
	return bundle_out_put(b, &o, rel, 0644);
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
	bundle_sh_word(b->checks.f, word);
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

/* ---- the floating address: keepalived and its agent (vrrp.c) ---- */

static int put_vrrp_unit(struct bundle *b, bool keepalived, const struct vrrp_paths *p)
{
	const char *host = b->h->name;
	struct bundle_out o;
	FILE *f = bundle_out_open(b, &o);
	if (f == NULL)
		return -1;
	fprintf(f,
	        "# %s.service: %s of %s (www.%s), made by `tristack bundle %s`.\n"
	        "[Unit]\n"
	        "Description=tristack %s on %s\n"
	        "Wants=network-online.target\n"
	        "After=network-online.target tristack-lb.service%s\n"
	        "StartLimitIntervalSec=60\n"
	        "StartLimitBurst=5\n"
	        "\n"
	        "[Service]\n"
	        "Type=exec\n"
	        "User=tristack\n"
	        "Group=tristack\n"
	        "# %s/vrrp: the check file, keepalived's fifo and pid files\n"
	        "StateDirectory=tristack/vrrp\n"
	        "StateDirectoryMode=0750\n",
	        keepalived ? "tristack-keepalived" : "tristack-vrrp-check",
	        keepalived ? "keepalived, the floating address"
	                   : "the agent checking tristack-lb for keepalived",
	        host, b->c->cfg.site.domain, host, keepalived ? "keepalived (VRRP)" : "vrrp-check",
	        host, keepalived ? " tristack-vrrp-check.service" : "", T_STATE);
	if (keepalived)
		fprintf(f,
		        "ExecStart=/usr/sbin/keepalived --dont-fork --log-console --log-detail "
		        "--vrrp --use-file=%s --pid=%s --vrrp_pid=%s\n"
		        "ExecReload=/bin/kill -HUP $MAINPID\n"
		        "# VRRP and the address, without root: no script of keepalived's runs\n"
		        "AmbientCapabilities=CAP_NET_ADMIN CAP_NET_RAW CAP_NET_BROADCAST\n"
		        "CapabilityBoundingSet=CAP_NET_ADMIN CAP_NET_RAW CAP_NET_BROADCAST\n"
		        "RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX AF_NETLINK AF_PACKET\n",
		        "/etc/tristack/keepalived.conf", p->pid, p->vrrp_pid);
	else
		fprintf(f,
		        "ExecStart=%s/tristack -c %s --state %s vrrp-check %s\n"
		        "CapabilityBoundingSet=\n"
		        "RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX\n",
		        T_BIN, T_CONF, T_STATE, host);
	fprintf(f, "Restart=always\n"
	           "RestartSec=1\n"
	           "UMask=0027\n");
	bundle_unit_sandbox(f, T_STATE, "multi-user.target");
	char rel[128];
	snprintf(rel, sizeof(rel), "systemd/%s.service",
	         keepalived ? "tristack-keepalived" : "tristack-vrrp-check");
	return bundle_out_put(b, &o, rel, 0644);
}

static int put_vrrp(struct bundle *b)
{
	if (!(b->h->roles & ROLE_LB) || !vrrp_on(b->c))
		return 0;
	struct vrrp_paths p;
	vrrp_paths(T_STATE "/" STATE_VRRP, "/etc/tristack", b->h->name, &p);
	char text[8192];
	if (vrrp_render(&b->c->cfg, b->h, &p, text, sizeof(text)) < 0)
		return bundle_fail(b, "keepalived.conf of %s: too long", b->h->name);
	if (bundle_put_file(b, "etc/tristack/keepalived.conf", 0644, text, strlen(text)) < 0)
		return -1;
	/* one session-ticket key file for every LB of the pair (bundles made
	 * together agree), so a session resumes on the other after a failover */
	char err[512], keys[TS_PATH_MAX];
	if (tickets_ensure(b->c, err, sizeof(err)) < 0)
		return bundle_fail(b, "session-ticket keys: %s", err);
	snprintf(keys, sizeof(keys), "%s/" STATE_SECRETS "/" SECRET_TLS_TICKET_KEYS, b->c->state);
	if (access(keys, R_OK) == 0 &&
	    bundle_copy_file(b, keys, STATE_SECRETS "/" SECRET_TLS_TICKET_KEYS, 0600) < 0)
		return -1;
	return put_vrrp_unit(b, false, &p) < 0 ? -1 : put_vrrp_unit(b, true, &p);
}

/* ---- nftables/ ---- */

/* fw_render's rules (firewall.c, what isolated mode loads), and SSH: a
 * namespace needs none, a server is administered over it. */
static int put_firewall(struct bundle *b)
{
	char *rules = xmalloc(FW_MAX);
	if (fw_render(b->c, b->h, rules, FW_MAX) < 0) {
		bundle_fail(b, "the firewall of %s: %s%s", b->h->name, rules,
		            strstr(rules, "[site] admin")
		                ? " (servers have no client host: name CIDRs, "
		                  "as deploy/servers.conf does)"
		                : "");
		free(rules);
		return -1;
	}
	struct bundle_out o;
	FILE *f = bundle_out_open(b, &o);
	if (f == NULL) {
		free(rules);
		return -1;
	}
	fprintf(f,
	        "%s\n"
	        "# A server is administered over SSH: tristack bundle adds it, from anywhere.\n"
	        "add rule inet tristack input tcp dport 22 accept comment \"ssh\"\n",
	        rules);
	free(rules);
	return bundle_out_put(b, &o, "nftables/tristack.nft", 0644);
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
			bundle_sh_word(b->tls_cert_files.f, where);
			if (lb->tls_certs[i].key) {
				server_path(b, lb->tls_certs[i].key, where, sizeof(where));
				bundle_sh_word(b->tls_cert_files.f, where);
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
		if (bundle_copy_file(b, src, rel, files[i].mode) < 0)
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
		return bundle_fail(b, "fork: %s", strerror(errno));
	if (pid == 0) {
		execvp(argv[0], argv);
		fprintf(stderr, "tristack: cannot run tar: %s\n", strerror(errno));
		_exit(127);
	}
	int st;
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return bundle_fail(b, "waitpid: %s", strerror(errno));
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		unlink(tmp);
		return bundle_fail(b, "tar failed making %s", out);
	}
	chmod(tmp, 0600); /* it holds passwords and keys */
	if (rename(tmp, out) < 0) {
		unlink(tmp);
		return bundle_fail(b, "cannot write %s: %s", out, strerror(errno));
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
	if (!bundle_out_open(b, &b->packages) || !bundle_out_open(b, &b->checks) ||
	    !bundle_out_open(b, &b->operator_files) || !bundle_out_open(b, &b->tls_cert_files))
		return -1;
	const char *tmpdir = getenv("TMPDIR");
	snprintf(b->stage, sizeof(b->stage), "%s/tristack-bundle.XXXXXX",
	         tmpdir && tmpdir[0] ? tmpdir : "/tmp");
	if (mkdtemp(b->stage) == NULL) {
		b->stage[0] = '\0';
		return bundle_fail(b, "cannot make a temporary folder: %s", strerror(errno));
	}
	snprintf(b->top, sizeof(b->top), "%s/tristack-%s", b->stage, b->h->name);
	/* the state folder: secrets and certificates are made there */
	char err[sizeof(b->err)];
	if (bundle_mkdirs(b, b->c->state) < 0) {
		snprintf(err, sizeof(err), "%s", b->err);
		return bundle_fail(b, "the state folder: %s", err);
	}
	char host_line[256];
	snprintf(host_line, sizeof(host_line), "%s\n", b->h->name);
	if (bundle_mkdirs(b, b->top) < 0 || put_binaries(b) < 0 ||
	    bundle_copy_file(b, b->c->conf, "etc/tristack/foobar.conf", 0644) < 0 ||
	    bundle_put_file(b, "etc/tristack/host", 0644, host_line, strlen(host_line)) < 0 ||
	    put_units(b) < 0 || put_vrrp(b) < 0 || bundle_put_failover(b) < 0 ||
	    bundle_put_acme(b) < 0 || put_firewall(b) < 0 || bundle_put_database(b) < 0 ||
	    put_tls(b) < 0 || put_shared(b) < 0 || bundle_put_install(b) < 0 ||
	    bundle_put_readme(b) < 0)
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
	b.primary = mdb_primary(c);
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
	struct bundle_out *lists[] = { &b.packages, &b.checks, &b.operator_files,
		                       &b.tls_cert_files };
	for (size_t i = 0; i < ARRAY_SIZE(lists); i++) {
		if (lists[i]->f)
			fclose(lists[i]->f);
		free(lists[i]->text);
	}
	if (rc < 0) {
		fprintf(stderr, "tristack: bundle %s: %s\n", name, b.err);
		return 1;
	}
	char roles[128];
	bundle_roles_text(b.h, roles, sizeof(roles), ", ");
	printf("%s: %s (%s, %s)\n"
	       "  on %s, as root: tar xzf %s && ./tristack-%s/install.sh\n",
	       out, name, b.h->address, roles, name, strrchr(out, '/') + 1, name);
	return 0;
}
