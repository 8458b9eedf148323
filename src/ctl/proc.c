/* proc.c - the units of a stack: which daemons run where, starting them
 * detached with their logs and pid files in the state folder, stopping them
 * by pid. */
#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"
#include "ctl.h"

extern char **environ;

static const struct {
	unsigned role;
	const char *name, *daemon;
} role_daemons[] = {
	{ ROLE_DB_PRIMARY | ROLE_DB_REPLICA, "db", "mariadbd" },
	{ ROLE_APP, "app", "tristack-app" },
	{ ROLE_WEB, "web", "tristack-web" },
	{ ROLE_LB, "lb", "tristack-lb" },
	{ ROLE_DNS, "dns", "tristack-dns" },
};

void ctl_sleep_ms(unsigned ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
	nanosleep(&ts, NULL);
}

uint64_t ctl_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* snprintf that refuses to truncate a path. */
static int fmt_path(char *out, size_t len, const char *fmt, ...) TS_PRINTF(3, 4);

static int fmt_path(char *out, size_t len, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(out, len, fmt, ap);
	va_end(ap);
	return n < 0 || (size_t)n >= len ? -1 : 0;
}

void argv_add(struct argv_buf *b, const char *fmt, ...)
{
	if (b->full || b->n + 1 >= b->max || b->w >= b->end) {
		b->full = true;
		return;
	}
	va_list ap;
	va_start(ap, fmt);
	int k = vsnprintf(b->w, (size_t)(b->end - b->w), fmt, ap);
	va_end(ap);
	if (k < 0 || k >= b->end - b->w) {
		b->full = true;
		return;
	}
	b->argv[b->n++] = b->w;
	b->argv[b->n] = NULL;
	b->w += k + 1;
}

/* A new unit of host, with its pid and log files; NULL with err when there
 * is no room. */
struct unit *unit_new(struct ctl *c, const struct conf_host *host, const char *daemon,
                      const char *role, char *err, size_t errlen)
{
	if (c->nunits == ARRAY_SIZE(c->units)) {
		snprintf(err, errlen, "too many daemons in the stack");
		return NULL;
	}
	struct unit *u = &c->units[c->nunits];
	memset(u, 0, sizeof(*u));
	u->host = host;
	u->daemon = daemon;
	u->role = role;
	if (fmt_path(u->pidfile, sizeof(u->pidfile), "%s/run/%s.%s.pid", c->state, host->name,
	             role) < 0 ||
	    fmt_path(u->logfile, sizeof(u->logfile), "%s/log/%s.%s.log", c->state, host->name,
	             role) < 0) {
		snprintf(err, errlen, "state folder path too long");
		return NULL;
	}
	c->nunits++;
	return u;
}

int ctl_units(struct ctl *c, char *err, size_t errlen)
{
	struct conf *s = &c->cfg;
	c->nunits = 0;
	/* Start order: databases, apps, web servers; the LB and DNS last (they
	 * point at the rest). */
	for (size_t r = 0; r < ARRAY_SIZE(role_daemons); r++) {
		for (unsigned h = 0; h < s->nhosts; h++) {
			const struct conf_host *host = &s->hosts[h];
			if (!(host->roles & role_daemons[r].role))
				continue;
			struct unit *u = unit_new(c, host, role_daemons[r].daemon,
			                          role_daemons[r].name, err, errlen);
			if (u == NULL)
				return -1;
			const char *spec = ":0";
			char dbspec[32];
			u->probe_kind = PROBE_HTTP;
			switch (role_daemons[r].role) {
			case ROLE_DB_PRIMARY | ROLE_DB_REPLICA:
				snprintf(dbspec, sizeof(dbspec), ":%lld", (long long)s->db.port);
				spec = dbspec;
				u->probe_kind = PROBE_DB;
				u->db = true;
				break;
			case ROLE_APP:
				spec = s->app.http.listen;
				u->probe_path = "/healthz";
				break;
			case ROLE_WEB:
				spec = s->web.http.listen;
				u->probe_path = "/";
				break;
			case ROLE_LB:
				spec = s->lb.http.listen;
				u->probe_path = "/";
				break;
			case ROLE_DNS:
				spec = s->dns.listen;
				u->probe_kind = PROBE_DNS;
				break;
			}
			char e[256];
			if (conf_resolve_addr(s, spec, host, &u->probe, e, sizeof(e)) < 0) {
				snprintf(err, errlen, "%s on %s: %s", u->daemon, host->name, e);
				return -1;
			}
		}
	}
	/* isolated: the forwarder that publishes the LB on 127.0.0.1 */
	const struct conf_host *lbh = conf_host_with_role(s, ROLE_LB);
	if (c->isolated && lbh) {
		struct unit *u = unit_new(c, lbh, "tristack", "forward", err, errlen);
		if (u == NULL)
			return -1;
		u->root_ns = true;
		u->subcmd = "forward";
		u->probe_kind = PROBE_HTTP;
		u->probe_path = "/";
		char e[256], spec[32];
		snprintf(spec, sizeof(spec), "127.0.0.1:%d", FORWARD_HTTP_PORT);
		if (addr_parse(spec, NULL, &u->probe, e, sizeof(e)) < 0) {
			snprintf(err, errlen, "forward: %s", e);
			return -1;
		}
	}
	/* keepalived and its agent on each LB host: the floating address */
	if (vrrp_units(c, err, errlen) < 0)
		return -1;
	/* Prometheus and the exporters last: they watch the rest */
	c->monitoring = mon_on(c);
	return c->monitoring ? mon_units(c, err, errlen) : 0;
}

bool is_our_daemon(pid_t pid, const char *daemon)
{
	char path[64], exe[4096];
	snprintf(path, sizeof(path), "/proc/%d/exe", (int)pid);
	ssize_t n = readlink(path, exe, sizeof(exe) - 1);
	if (n <= 0)
		return false;
	exe[n] = '\0';
	const char *base = strrchr(exe, '/');
	base = base ? base + 1 : exe;
	/* " (deleted)" follows the name of a binary rebuilt since it started */
	return strncmp(base, daemon, strlen(daemon)) == 0 &&
	       (base[strlen(daemon)] == '\0' || base[strlen(daemon)] == ' ');
}

/* The file appears whole or not at all: a reader (status, a test, the
 * supervisor after a restart) never sees it empty or half written. */
int write_pidfile(const char *path, pid_t pid)
{
	char tmp[TS_PATH_MAX];
	if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	FILE *f = fopen(tmp, "w");
	if (f == NULL)
		return -1;
	fprintf(f, "%d\n", (int)pid);
	if (fclose(f) != 0 || rename(tmp, path) != 0) {
		int e = errno;
		unlink(tmp);
		errno = e;
		return -1;
	}
	return 0;
}

pid_t read_pidfile(const char *path)
{
	FILE *f = fopen(path, "r");
	int pid = 0;
	if (f == NULL)
		return 0;
	if (fscanf(f, "%d", &pid) != 1 || pid < 0)
		pid = 0;
	fclose(f);
	return (pid_t)pid;
}

pid_t unit_running(struct unit *u)
{
	u->pid = 0;
	pid_t pid = read_pidfile(u->pidfile);
	const char *exe = u->exe ? strrchr(u->exe, '/') : NULL;
	if (pid > 0 && kill(pid, 0) == 0 && is_our_daemon(pid, exe ? exe + 1 : u->daemon))
		u->pid = pid;
	return u->pid;
}

static int mkdirs(const char *path)
{
	char tmp[TS_PATH_MAX];
	snprintf(tmp, sizeof(tmp), "%s", path);
	for (char *p = tmp + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(tmp, 0750) < 0 && errno != EEXIST)
			return -1;
		*p = '/';
	}
	return mkdir(tmp, 0750) < 0 && errno != EEXIST ? -1 : 0;
}

/* What a unit keeps of root's powers, as the bundles' units do: the
 * daemons that may listen on a port under 1024 (:80, :443, :53 in the
 * isolated lab) CAP_NET_BIND_SERVICE; keepalived what VRRP needs (adding
 * and removing the floating address, its raw sockets and gratuitous ARP);
 * the rest nothing. */
static uint64_t unit_caps(const struct unit *u)
{
	if (u->keepalived)
		return ACCT_CAP(CAP_NET_ADMIN) | ACCT_CAP(CAP_NET_RAW) |
		       ACCT_CAP(CAP_NET_BROADCAST);
	if (u->db || u->mon != MON_NONE || u->subcmd || strcmp(u->role, "app") == 0)
		return 0;
	return ACCT_CAP(CAP_NET_BIND_SERVICE);
}

pid_t fork_with_report(int *report, char *err, size_t errlen)
{
	int p[2];
	if (pipe2(p, O_CLOEXEC) < 0) {
		snprintf(err, errlen, "pipe: %s", strerror(errno));
		return -1;
	}
	pid_t pid = fork();
	if (pid < 0) {
		close(p[0]);
		close(p[1]);
		snprintf(err, errlen, "fork: %s", strerror(errno));
		return -1;
	}
	close(pid == 0 ? p[0] : p[1]);
	*report = pid == 0 ? p[1] : p[0];
	return pid;
}

/* The binary a unit runs (into bin) and its arguments (argv, pointing into
 * store or c). Returns 0, or -1 with err. */
static int unit_argv(struct ctl *c, struct unit *u, char *bin, size_t binlen, char **argv,
                     unsigned max, char *store, size_t storelen, char *err, size_t errlen)
{
	unsigned n = 0;
	if (u->db) {
		if (mdb_prepare(c, u, err, errlen) < 0)
			return -1;
		if (mdb_argv(c, u, store, storelen, argv, max) < 0) {
			snprintf(err, errlen, "mariadbd: arguments too long");
			return -1;
		}
		snprintf(bin, binlen, "%s", argv[0]);
	} else if (u->mon != MON_NONE) {
		if (mon_argv(c, u, store, storelen, argv, max) < 0) {
			snprintf(err, errlen, "%s: arguments too long", u->daemon);
			return -1;
		}
		snprintf(bin, binlen, "%s", u->exe);
	} else if (u->keepalived) {
		if (vrrp_argv(c, u, store, storelen, argv, max) < 0) {
			snprintf(err, errlen, "keepalived: arguments too long");
			return -1;
		}
		snprintf(bin, binlen, "%s", u->exe);
	} else if (u->subcmd) {
		snprintf(bin, binlen, "%s/tristack", c->bindir);
		argv[n++] = "tristack";
		argv[n++] = "-c";
		argv[n++] = c->conf;
		argv[n++] = "--state";
		argv[n++] = c->state;
		argv[n++] = (char *)u->subcmd;
		if (!u->root_ns)
			argv[n++] = (char *)u->host->name;
		argv[n] = NULL;
	} else {
		snprintf(bin, binlen, "%s/%s", c->bindir, u->daemon);
		argv[n++] = (char *)u->daemon;
		argv[n++] = "-c";
		argv[n++] = c->conf;
		argv[n++] = "--host";
		argv[n++] = (char *)u->host->name;
		argv[n++] = "--state";
		argv[n++] = c->state;
		if (u->takeover) {
			argv[n++] = "--takeover";
			argv[n++] = (char *)u->takeover;
		}
		argv[n] = NULL;
	}
	if (access(bin, X_OK) < 0) {
		snprintf(err, errlen, "%s: %s (%s)", bin, strerror(errno),
		         u->exe ? "scripts/install-deps.sh installs it" : "run make");
		return -1;
	}
	return 0;
}

/* In the child: become the unit and exec binfd; what fails is written as an
 * errno to report. Never returns. */
static _Noreturn void unit_exec(struct ctl *c, struct unit *u, int binfd, int logfd, char **argv,
                                int report)
{
	/* The daemon lives on after tristack returns: its own session, no
	 * terminal, output to its log. */
	setsid();
	int devnull = open("/dev/null", O_RDONLY);
	dup2(devnull, STDIN_FILENO);
	dup2(logfd, STDOUT_FILENO);
	dup2(logfd, STDERR_FILENO);
	sigset_t none;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	/* In its host's namespace, then never root again (the forwarder stays:
	 * it makes a socket in the LB's namespace per connection). */
	if ((c->isolated && !u->root_ns && netns_enter(c, u->host->name) < 0) ||
	    (!u->root_ns && (acct_view_enter(c) < 0 || acct_drop(c, unit_caps(u)) < 0))) {
		int e = errno;
		ssize_t w = write(report, &e, sizeof(e));
		(void)w;
		_exit(127);
	}
	syscall(SYS_execveat, binfd, "", argv, environ, AT_EMPTY_PATH);
	int e = errno;
	ssize_t w = write(report, &e, sizeof(e));
	(void)w;
	_exit(127);
}

int unit_start(struct ctl *c, struct unit *u, char *err, size_t errlen)
{
	static const char *const dirs[] = { "run", "log" };
	for (size_t i = 0; i < ARRAY_SIZE(dirs); i++) {
		char dir[TS_PATH_MAX];
		snprintf(dir, sizeof(dir), "%s/%s", c->state, dirs[i]);
		if (mkdirs(dir) < 0) {
			snprintf(err, errlen, "cannot create %s: %s", dir, strerror(errno));
			return -1;
		}
	}
	char bin[TS_PATH_MAX];
	char *argv[64], store[16384];
	if (unit_argv(c, u, bin, sizeof(bin), argv, ARRAY_SIZE(argv), store, sizeof(store), err,
	              errlen) < 0)
		return -1;
	/* Opened here, exec'd from the descriptor after the drop: the
	 * account need not reach the folder the binaries are in. */
	int binfd = open(bin, O_RDONLY | O_CLOEXEC);
	if (binfd < 0) {
		snprintf(err, errlen, "%s: %s", bin, strerror(errno));
		return -1;
	}
	int logfd = open(u->logfile, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
	if (logfd < 0) {
		close(binfd);
		snprintf(err, errlen, "cannot open %s: %s", u->logfile, strerror(errno));
		return -1;
	}
	/* The child reports a failed exec through this pipe; a successful
	 * exec closes it (O_CLOEXEC). Either way, once read() returns, the pid
	 * runs the daemon's binary, so a stop right after cannot miss it. */
	int report;
	pid_t pid = fork_with_report(&report, err, errlen);
	if (pid == 0)
		unit_exec(c, u, binfd, logfd, argv, report);
	close(logfd);
	close(binfd);
	if (pid < 0)
		return -1;
	int child_errno = 0;
	ssize_t got;
	do
		got = read(report, &child_errno, sizeof(child_errno));
	while (got < 0 && errno == EINTR);
	close(report);
	if (got == (ssize_t)sizeof(child_errno)) {
		waitpid(pid, NULL, 0);
		snprintf(err, errlen, "exec %s: %s", bin, strerror(child_errno));
		return -1;
	}
	if (write_pidfile(u->pidfile, pid) < 0) {
		kill(pid, SIGTERM);
		snprintf(err, errlen, "cannot write %s: %s", u->pidfile, strerror(errno));
		return -1;
	}
	u->pid = pid;
	return 0;
}

/* Has pid exited? A zombie has: whoever its parent is (often not us: the
 * daemons outlive the tristack that started them) may reap it late. */
static bool gone(pid_t pid)
{
	int st;
	if (waitpid(pid, &st, WNOHANG) == pid)
		return true;
	if (kill(pid, 0) < 0 && errno == ESRCH)
		return true;
	char path[64], buf[512];
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	FILE *f = fopen(path, "r");
	if (f == NULL)
		return true;
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	/* "pid (comm) S ...": the state follows the last ')' */
	const char *rp = strrchr(buf, ')');
	return rp && rp[1] == ' ' && (rp[2] == 'Z' || rp[2] == 'X');
}

unsigned units_reload_lbs(struct ctl *c)
{
	unsigned n = 0;
	for (unsigned i = 0; i < c->nunits; i++) {
		struct unit *u = &c->units[i];
		if (strcmp(u->role, "lb") == 0 && unit_running(u) > 0) {
			kill(u->pid, SIGHUP);
			printf("  %-7s %-15s reloaded (pid %d)\n", u->host->name, u->daemon,
			       (int)u->pid);
			n++;
		}
	}
	return n;
}

int pid_stop(pid_t pid, unsigned grace_ms)
{
	kill(pid, SIGTERM);
	for (unsigned waited = 0; waited < grace_ms; waited += 20) {
		if (gone(pid))
			return 0;
		ctl_sleep_ms(20);
	}
	kill(pid, SIGKILL);
	for (unsigned waited = 0; waited < 2000; waited += 20) {
		if (gone(pid))
			return 0;
		ctl_sleep_ms(20);
	}
	return -1;
}

bool pid_gone(pid_t pid)
{
	return gone(pid);
}

int unit_stop(struct unit *u, unsigned grace_ms)
{
	if (unit_running(u) != 0 && pid_stop(u->pid, grace_ms) < 0)
		return -1;
	unlink(u->pidfile);
	u->pid = 0;
	return 0;
}
