/* account.c - the unprivileged account the daemons run as.
 *
 * When tristack runs as root (the isolated lab, `make run` as root, CI),
 * nothing it starts keeps root: every daemon, MariaDB instance, Prometheus
 * and exporter is exec'd by a child that has dropped to the service account
 * ([site] user, default "tristack", made as a system account when missing),
 * exactly as the bundles' systemd units do with User= and
 * AmbientCapabilities=. The LB, the web servers and the DNS keep one
 * capability, CAP_NET_BIND_SERVICE, as an ambient one, so that a reload can
 * still bind :80, :443 or :53; nothing else.
 *
 * What the daemons must read or write is given to the account and nothing
 * more: the state folder is root:ACCOUNT 0750, its run/, log/, db/,
 * secrets/ (0700) and monitoring/ belong to the account, tls/ is
 * root:ACCOUNT 0750 with the site's keys the account's and the CA's key
 * root's alone (0600: no daemon signs anything).
 *
 * The binaries are exec'd from a descriptor opened before the drop, so a
 * checkout in a folder the account cannot enter still runs; the stack file,
 * the state folder and the document root must be reachable (a reload reads
 * them again), and up checks that first (acct_check_reach) rather than let a
 * daemon fail later.
 *
 * Without root there is nothing to drop: everything runs as the operator.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <grp.h>
#include <linux/capability.h>
#include <pwd.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ctl.h"

#define USERADD "/usr/sbin/useradd"

const char *acct_operator(void)
{
	static char name[64];
	if (name[0] == '\0') {
		struct passwd *pw = getpwuid(geteuid());
		snprintf(name, sizeof(name), "%s", pw ? pw->pw_name : "root");
	}
	return name;
}

/* Make the service account as Debian's packages make theirs: a system
 * user and group, no home, no shell. */
static int make_account(const char *name, char *err, size_t errlen)
{
	char *argv[] = { USERADD,      "--system",         "--user-group", "--no-create-home",
		         "--home-dir", "/nonexistent",     "--shell",      "/usr/sbin/nologin",
		         "--comment",  "tristack daemons", (char *)name,   NULL };
	char e[256];
	if (run_tool(argv, e, sizeof(e)) < 0) {
		snprintf(err, errlen, "cannot make the account %s: %s", name, e);
		return -1;
	}
	return 0;
}

int acct_init(struct ctl *c, char *err, size_t errlen)
{
	c->drop = false;
	if (geteuid() != 0)
		return 0;
	const char *name = c->cfg.site.user;
	struct passwd *pw = getpwnam(name);
	if (pw == NULL) {
		if (make_account(name, err, errlen) < 0)
			return -1;
		pw = getpwnam(name);
	}
	if (pw == NULL || pw->pw_uid == 0) {
		snprintf(err, errlen, "[site] user %s: %s", name,
		         pw ? "is root: the daemons must not run as root" : "no such account");
		return -1;
	}
	c->uid = pw->pw_uid;
	c->gid = pw->pw_gid;
	c->drop = true;
	return 0;
}

/* In a child, before exec: become the account for good (all three ids,
 * no supplementary group of root's), keeping the capabilities of keep_caps
 * (CAP_NET_BIND_SERVICE for :80; keepalived's) as ambient ones, so that
 * they survive the exec. The
 * pre-check's child (acct_check_reach) goes the same way. */
int acct_drop(const struct ctl *c, uint64_t keep_caps)
{
	if (!c->drop)
		return 0;
	/* Nothing it execs can gain a privilege back: no capability beyond
	 * the ones kept in the bounding set, no set-uid binary honoured
	 * (systemd's CapabilityBoundingSet= and NoNewPrivileges=). */
	for (long cap = 0; prctl(PR_CAPBSET_READ, cap, 0L, 0L, 0L) >= 0; cap++)
		if (!(cap < 64 && (keep_caps & ACCT_CAP(cap))) &&
		    prctl(PR_CAPBSET_DROP, cap, 0L, 0L, 0L) < 0)
			return -1;
	if (prctl(PR_SET_NO_NEW_PRIVS, 1L, 0L, 0L, 0L) < 0)
		return -1;
	if (keep_caps && prctl(PR_SET_KEEPCAPS, 1L, 0L, 0L, 0L) < 0)
		return -1;
	if (setgroups(1, &c->gid) < 0 || setresgid(c->gid, c->gid, c->gid) < 0 ||
	    setresuid(c->uid, c->uid, c->uid) < 0)
		return -1;
	if (!keep_caps)
		return 0;
	/* kept across exec: permitted, inheritable and ambient */
	struct __user_cap_header_struct h = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct d[_LINUX_CAPABILITY_U32S_3] = { { 0, 0, 0 } };
	for (unsigned i = 0; i < _LINUX_CAPABILITY_U32S_3; i++)
		d[i].effective = d[i].permitted = d[i].inheritable =
		    (uint32_t)(keep_caps >> (32 * i));
	if (syscall(SYS_capset, &h, d) < 0)
		return -1;
	for (long cap = 0; cap < 64; cap++)
		if ((keep_caps & ACCT_CAP(cap)) &&
		    prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, cap, 0L, 0L) < 0)
			return -1;
	return 0;
}

/* ---- the state folder's owners ---- */

static int give(const struct ctl *c, const char *path, uid_t uid, mode_t mode, char *err,
                size_t errlen)
{
	if (lchown(path, uid, c->gid) < 0 || chmod(path, mode) < 0) {
		snprintf(err, errlen, "cannot give %s to %s: %s", path, c->cfg.site.user,
		         strerror(errno));
		return -1;
	}
	return 0;
}

static int mkdir_given(const struct ctl *c, const char *path, uid_t uid, mode_t mode, char *err,
                       size_t errlen)
{
	if (mkdir(path, mode) < 0 && errno != EEXIST) {
		snprintf(err, errlen, "cannot make %s: %s", path, strerror(errno));
		return -1;
	}
	return give(c, path, uid, mode, err, errlen);
}

/* nftw has no argument: the account of the walk in progress. */
static uid_t walk_uid;
static gid_t walk_gid;

static int walk_one(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	(void)type;
	(void)ftw;
	if (st->st_uid == walk_uid && st->st_gid == walk_gid)
		return 0;
	return lchown(path, walk_uid, walk_gid) < 0 ? -1 : 0;
}

/* Everything below path (and path) the account's, modes untouched. */
static int give_tree(const struct ctl *c, const char *path, char *err, size_t errlen)
{
	struct stat st;
	if (lstat(path, &st) < 0)
		return errno == ENOENT ? 0 : -1;
	walk_uid = c->uid;
	walk_gid = c->gid;
	if (nftw(path, walk_one, 16, FTW_PHYS | FTW_MOUNT) != 0) {
		snprintf(err, errlen, "cannot give %s to %s: %s", path, c->cfg.site.user,
		         strerror(errno));
		return -1;
	}
	return 0;
}

int acct_state(const struct ctl *c, char *err, size_t errlen)
{
	if (!c->drop)
		return 0;
	static const struct {
		const char *dir;
		mode_t mode;
		bool tree;
	} owned[] = {
		{ "run", 0750, false },    { "log", 0750, true },        { "db", 0750, false },
		{ "secrets", 0700, true }, { "monitoring", 0750, true },
	};
	char path[4400];
	/* the folders above it as the operator would make them (var/ of
	 * var/isolated), the state folder itself root:ACCOUNT */
	snprintf(path, sizeof(path), "%s", c->state);
	for (char *p = path + 1; (p = strchr(p, '/')) != NULL; p++) {
		*p = '\0';
		if (mkdir(path, 0755) < 0 && errno != EEXIST) {
			snprintf(err, errlen, "cannot make %s: %s", path, strerror(errno));
			return -1;
		}
		*p = '/';
	}
	if (mkdir_given(c, c->state, 0, 0750, err, errlen) < 0)
		return -1;
	for (size_t i = 0; i < ARRAY_SIZE(owned); i++) {
		snprintf(path, sizeof(path), "%s/%s", c->state, owned[i].dir);
		if (mkdir_given(c, path, c->uid, owned[i].mode, err, errlen) < 0 ||
		    (owned[i].tree && give_tree(c, path, err, errlen) < 0))
			return -1;
	}
	/* tls/: the LB reads the site's keys; the CA's key is root's alone */
	snprintf(path, sizeof(path), "%s/tls", c->state);
	struct stat st;
	if (stat(path, &st) == 0) {
		if (give(c, path, 0, 0750, err, errlen) < 0)
			return -1;
		static const char *const site[] = { "site-ecdsa.pem", "site-rsa.pem", "ca.crt",
			                            "ca.crl" };
		for (size_t i = 0; i < ARRAY_SIZE(site); i++) {
			snprintf(path, sizeof(path), "%s/tls/%s", c->state, site[i]);
			if (lstat(path, &st) == 0 &&
			    give(c, path, i < 2 ? c->uid : 0, i < 2 ? 0600 : 0644, err, errlen) < 0)
				return -1;
		}
	}
	return 0;
}

int acct_give_dir(const struct ctl *c, const char *path, char *err, size_t errlen)
{
	if (!c->drop)
		return mkdir(path, 0750) < 0 && errno != EEXIST ? -1 : 0;
	return mkdir_given(c, path, c->uid, 0750, err, errlen) < 0 ||
	               give_tree(c, path, err, errlen) < 0
	           ? -1
	           : 0;
}

/* ---- a view of the file system the account can walk ---- */

/* May the account search (x) the folder st describes? Its own group only:
 * a system account has no other. */
static bool account_searches(const struct ctl *c, const struct stat *st)
{
	if (st->st_uid == c->uid)
		return st->st_mode & S_IXUSR;
	if (st->st_gid == c->gid)
		return st->st_mode & S_IXGRP;
	return st->st_mode & S_IXOTH;
}

/* The view of the folder over (its first len bytes of path), made when
 * new; NULL when there is no room. */
static struct acct_view *view_of(struct ctl *c, const char *path, size_t len)
{
	for (unsigned i = 0; i < c->nviews; i++)
		if (strlen(c->views[i].over) == len && strncmp(c->views[i].over, path, len) == 0)
			return &c->views[i];
	if (c->nviews == ARRAY_SIZE(c->views))
		return NULL;
	struct acct_view *v = &c->views[c->nviews++];
	snprintf(v->over, sizeof(v->over), "%.*s", (int)len, path);
	v->nkeep = 0;
	return v;
}

static void view_keep(struct acct_view *v, const char *path, size_t len)
{
	for (unsigned k = 0; k < v->nkeep; k++)
		if (strlen(v->keep[k]) == len && strncmp(v->keep[k], path, len) == 0)
			return;
	if (v->nkeep < ARRAY_SIZE(v->keep))
		snprintf(v->keep[v->nkeep++], sizeof(v->keep[0]), "%.*s", (int)len, path);
}

static int by_depth(const void *a, const void *b)
{
	return (int)strlen(((const struct acct_view *)a)->over) -
	       (int)strlen(((const struct acct_view *)b)->over);
}

void acct_plan_view(struct ctl *c, const char *const *paths, unsigned n)
{
	c->nviews = 0;
	if (!c->drop)
		return;
	for (unsigned i = 0; i < n; i++) {
		char real[4096];
		if (realpath(paths[i], real) == NULL)
			continue; /* the reach check names it */
		/* every folder on the way the account cannot search, and the
		 * step below it to keep */
		for (char *p = real + 1; *p; p++) {
			if (*p != '/')
				continue;
			*p = '\0';
			struct stat st;
			bool blocked = stat(real, &st) == 0 && !account_searches(c, &st);
			*p = '/';
			if (!blocked)
				continue;
			const char *next = strchr(p + 1, '/');
			struct acct_view *v = view_of(c, real, (size_t)(p - real));
			if (v)
				view_keep(v, real, next ? (size_t)(next - real) : strlen(real));
		}
	}
	/* outer folders first: an inner one lies in what the outer keeps */
	qsort(c->views, c->nviews, sizeof(c->views[0]), by_depth);
}

/* One folder: the subtrees first, as detached copies of their mounts; then
 * the tmpfs over the folder; then each copy back where it was. */
static int view_one(const struct acct_view *v)
{
	int trees[ARRAY_SIZE(v->keep)];
	for (unsigned k = 0; k < v->nkeep; k++) {
		trees[k] = (int)syscall(SYS_open_tree, AT_FDCWD, v->keep[k],
		                        OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_RECURSIVE);
		if (trees[k] < 0)
			return -1;
	}
	if (mount("tristack-view", v->over, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC,
	          "mode=0755,size=64k") < 0)
		return -1;
	for (unsigned k = 0; k < v->nkeep; k++) {
		struct stat st;
		int made = stat(v->keep[k], &st) == 0 ? 0 : mkdir(v->keep[k], 0755);
		if (made < 0 || syscall(SYS_move_mount, trees[k], "", AT_FDCWD, v->keep[k],
		                        MOVE_MOUNT_F_EMPTY_PATH) < 0)
			return -1;
		close(trees[k]);
	}
	return 0;
}

int acct_view_enter(const struct ctl *c)
{
	if (!c->drop || c->nviews == 0)
		return 0;
	if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		return -1;
	for (unsigned i = 0; i < c->nviews; i++)
		if (view_one(&c->views[i]) < 0)
			return -1;
	return 0;
}

/* ---- can the account reach what it must read? ---- */

/* The first folder on path's way that the account cannot search, into
 * out (the path itself when it is the file that cannot be read). */
static void blocking(const char *path, char *out, size_t len)
{
	char tmp[TS_PATH_MAX];
	snprintf(tmp, sizeof(tmp), "%s", path);
	snprintf(out, len, "%s", path);
	for (char *p = tmp + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (access(tmp, X_OK) < 0) {
			snprintf(out, len, "%s", tmp);
			return;
		}
		*p = '/';
	}
}

int acct_check_reach(const struct ctl *c, const char *const *paths, const int *modes, unsigned n,
                     char *err, size_t errlen)
{
	if (!c->drop)
		return 0;
	int report;
	pid_t pid = fork_with_report(&report, err, errlen);
	if (pid < 0)
		return -1;
	if (pid == 0) {
		char msg[1024] = "";
		if (acct_view_enter(c) < 0) {
			snprintf(msg, sizeof(msg), "a view of the folders on the way: %s",
			         strerror(errno));
		} else if (acct_drop(c, 0) < 0) {
			snprintf(msg, sizeof(msg), "cannot become %s: %s", c->cfg.site.user,
			         strerror(errno));
		} else {
			for (unsigned i = 0; i < n && !msg[0]; i++) {
				if (access(paths[i], modes[i]) == 0)
					continue;
				char where[TS_PATH_MAX];
				int e = errno;
				blocking(paths[i], where, sizeof(where));
				snprintf(msg, sizeof(msg), "%.900s: %s", where, strerror(e));
			}
		}
		ssize_t w = write(report, msg, strlen(msg));
		(void)w;
		_exit(0);
	}
	char msg[1024];
	ssize_t got = read(report, msg, sizeof(msg) - 1);
	close(report);
	waitpid(pid, NULL, 0);
	if (got > 0) {
		msg[got] = '\0';
		snprintf(err, errlen,
		         "the daemons run as %s, and %s cannot reach %s; make each folder on the "
		         "way searchable by it (chmod o+x), or use another folder",
		         c->cfg.site.user, c->cfg.site.user, msg);
		return -1;
	}
	return 0;
}
