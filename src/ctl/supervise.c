/* supervise.c - the supervisor: a process `tristack up` leaves behind that
 * keeps every daemon and MariaDB instance of the stack running.
 *
 * Every SUPERVISE_MS it looks at each unit (its pid file, the process
 * behind it). One that is gone is started again after a backoff that
 * doubles with each crash that came soon after a start (1 s up to 30 s);
 * after FAST_CRASHES such crashes in a row it gives up on the unit, says so
 * in its log, and `tristack status` shows the unit as failed. A unit that
 * has stayed up for STABLE_MS is forgiven its past crashes.
 *
 * Its state (per unit: restarts, state, what happened last) is written to
 * {state}/run/supervisor.state for status; its log is
 * {state}/log/supervisor.log. `down` stops it first, so it never fights a
 * deliberate stop.
 *
 * Once a minute it rotates the LBs' session-ticket key file when it is due
 * (tickets.c).
 *
 * A host `tristack poweroff` stopped (isolated mode) stays down: its units
 * are left alone until `tristack poweron` starts them again. So is the
 * mariadbd of a host `tristack rebuild` is at work on (rebuild.c).
 *
 * Between two rounds it serves GET /metrics on [monitoring] supervisor (the
 * monitoring host's address; supervisor_metrics.c): per unit, its restarts, whether it
 * is up, whether it was given up on.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "conf/names.h"
#include "ctl.h"

#define SUPERVISE_MS   250
#define FAST_MS        10000 /* a crash this soon after a start is a fast one */
#define STABLE_MS      60000
#define FAST_CRASHES   5
#define BACKOFF_MIN_MS 1000
#define BACKOFF_MAX_MS 30000
#define TICKETS_MS     60000 /* how often the ticket key file's age is looked at */

enum sv_state { SV_UP, SV_WAITING, SV_FAILED };

struct sv_unit {
	enum sv_state state;
	unsigned restarts, fast;
	unsigned backoff_ms;
	uint64_t started, retry_at;
	char last[160];
};

static volatile sig_atomic_t stopping;

static void on_term(int sig)
{
	(void)sig;
	stopping = 1;
}

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void path_of(const struct ctl *c, const char *what, char *out, size_t len)
{
	snprintf(out, len, "%s/%s", c->state, what);
}

static void sv_log(const char *fmt, ...) TS_PRINTF(1, 2);

static void sv_log(const char *fmt, ...)
{
	char when[32];
	time_t t = time(NULL);
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
	va_list ap;
	va_start(ap, fmt);
	printf("%s ", when);
	vprintf(fmt, ap);
	printf("\n");
	fflush(stdout);
	va_end(ap);
}

static const char *state_name(enum sv_state s)
{
	return s == SV_UP ? "up" : s == SV_WAITING ? "restarting" : "failed";
}

static void write_state(const struct ctl *c, const struct sv_unit *sv)
{
	char path[TS_PATH_MAX], tmp[TS_PATH_MAX + 100];
	path_of(c, "run/supervisor.state", path, sizeof(path));
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	FILE *f = fopen(tmp, "w");
	if (f == NULL)
		return;
	for (unsigned i = 0; i < c->nunits; i++)
		fprintf(f, "%s %s %s %u %s\n", c->units[i].host->name, c->units[i].role,
		        state_name(sv[i].state), sv[i].restarts, sv[i].last[0] ? sv[i].last : "-");
	if (fclose(f) == 0)
		rename(tmp, path);
}

static void crashed(struct sv_unit *s, const struct unit *u, uint64_t now, const char *how)
{
	bool fast = now - s->started < FAST_MS;
	s->fast = fast ? s->fast + 1 : 1;
	if (s->fast >= FAST_CRASHES) {
		s->state = SV_FAILED;
		snprintf(s->last, sizeof(s->last), "gave up after %u crashes in a row", s->fast);
		sv_log(
		    "%s on %s %s; it crashed %u times soon after starting: given up (see its log "
		    "%s)",
		    u->daemon, u->host->name, how, s->fast, u->logfile);
		return;
	}
	s->backoff_ms =
	    fast ? (s->backoff_ms ? MIN(s->backoff_ms * 2, BACKOFF_MAX_MS) : BACKOFF_MIN_MS)
	         : BACKOFF_MIN_MS;
	s->retry_at = now + s->backoff_ms;
	s->state = SV_WAITING;
	snprintf(s->last, sizeof(s->last), "%s; restarting in %us", how, s->backoff_ms / 1000);
	sv_log("%s on %s %s; starting it again in %u ms", u->daemon, u->host->name, how,
	       s->backoff_ms);
}

/* How a child of ours ended, if it is one that ended. */
static void reap(struct ctl *c, struct sv_unit *sv, char how[][64])
{
	int st;
	pid_t pid;
	while ((pid = waitpid(-1, &st, WNOHANG)) > 0) {
		for (unsigned i = 0; i < c->nunits; i++) {
			if (c->units[i].pid != pid)
				continue;
			if (WIFSIGNALED(st))
				snprintf(how[i], 64, "was killed by signal %d", WTERMSIG(st));
			else
				snprintf(how[i], 64, "exited with status %d", WEXITSTATUS(st));
		}
	}
	(void)sv;
}

struct sv_view {
	const struct ctl *c;
	const struct sv_unit *sv;
	time_t started;
};

static void series(FILE *f, const struct sv_view *v, const char *name, const char *type,
                   const char *help, int which)
{
	fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
	for (unsigned i = 0; i < v->c->nunits; i++) {
		const struct unit *u = &v->c->units[i];
		const struct sv_unit *s = &v->sv[i];
		unsigned value = which == 0   ? s->restarts
		                 : which == 1 ? s->state == SV_UP
		                              : s->state == SV_FAILED;
		fprintf(f, "%s{host=\"%s\",daemon=\"%s\"} %u\n", name, u->host->name, u->daemon,
		        value);
	}
}

/* The body of GET /metrics (malloc'd), in Prometheus's text format. */
static char *render_metrics(void *arg)
{
	const struct sv_view *v = arg;
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	if (f == NULL)
		return NULL;
	series(f, v, METRIC_SUPERVISOR_RESTARTS, "counter",
	       "Times the supervisor started the unit again", 0);
	series(f, v, METRIC_SUPERVISOR_UNIT_UP, "gauge",
	       "1 while the unit runs as far as the supervisor knows", 1);
	series(f, v, METRIC_SUPERVISOR_UNIT_FAILED, "gauge",
	       "1 once the supervisor gave up on the unit (it kept crashing)", 2);
	if (mdb_primary(v->c))
		failover_metrics(v->c, f);
	fprintf(f,
	        "# HELP process_start_time_seconds Start time of the process since unix epoch "
	        "in seconds.\n# TYPE process_start_time_seconds gauge\n"
	        "process_start_time_seconds %lld\n",
	        (long long)v->started);
	if (fclose(f) != 0) {
		free(text);
		return NULL;
	}
	return text;
}

static void supervise(struct ctl *c, int lfd)
{
	struct sv_unit *sv = xcalloc(c->nunits, sizeof(*sv));
	char(*how)[64] = xcalloc(c->nunits, sizeof(*how));
	uint64_t t0 = now_ms();
	for (unsigned i = 0; i < c->nunits; i++) {
		sv[i].started = t0;
		unit_running(&c->units[i]);
	}
	struct sv_view view = { c, sv, time(NULL) };
	sv_log("supervising %u units of %s", c->nunits, c->conf);
	write_state(c, sv);
	uint64_t tickets_at = 0;
	struct failover fo = { 0 };
	while (!stopping) {
		bool changed = false;
		reap(c, sv, how);
		uint64_t now = now_ms();
		/* the LBs' session-ticket keys rotate when due (they see the
		 * file change): a minute's lateness at most */
		if (now >= tickets_at) {
			char terr[512];
			tickets_at = now + TICKETS_MS;
			if (tickets_ensure(c, terr, sizeof(terr)) < 0)
				sv_log("session-ticket keys: %s", terr);
		}
		for (unsigned i = 0; i < c->nunits && !stopping; i++) {
			struct unit *u = &c->units[i];
			struct sv_unit *s = &sv[i];
			pid_t known = u->pid;
			if (s->state == SV_FAILED)
				continue;
			/* `tristack poweroff` holds the host down: nothing of it
			 * is started again, and its stop is no crash */
			if (!u->root_ns && host_is_off(c, u->host))
				continue;
			/* `tristack rebuild` replaces its data: that mariadbd is
			 * the rebuild's to stop and start */
			if (u->db && rebuild_running(c, u->host))
				continue;
			if (s->state == SV_UP) {
				if (unit_running(u)) {
					if (s->fast && now - s->started >= STABLE_MS)
						s->fast = 0, s->backoff_ms = 0;
					continue;
				}
				crashed(s, u, now, how[i][0] ? how[i] : "is gone");
				(void)known;
				how[i][0] = '\0';
				changed = true;
				continue;
			}
			if (now < s->retry_at)
				continue;
			char err[512];
			s->started = now;
			if (unit_start(c, u, err, sizeof(err)) < 0) {
				sv_log("%s on %s: cannot start it: %s", u->daemon, u->host->name,
				       err);
				crashed(s, u, now, "would not start");
			} else {
				s->state = SV_UP;
				s->restarts++;
				snprintf(s->last, sizeof(s->last), "restarted (pid %d)",
				         (int)u->pid);
				sv_log("%s on %s started again (pid %d, restart %u)", u->daemon,
				       u->host->name, (int)u->pid, s->restarts);
			}
			changed = true;
		}
		if (changed)
			write_state(c, sv);
		/* the database primary lost: a replica promoted (failover.c) */
		if (!stopping)
			failover_tick(c, &fo);
		if (!stopping) /* sleeps SUPERVISE_MS, answering scrapes meanwhile */
			supervisor_metrics_serve(lfd, SUPERVISE_MS, render_metrics, &view);
	}
	if (lfd >= 0)
		close(lfd);
	sv_log("stopping");
	free(how);
	free(sv);
}

pid_t supervisor_running(const struct ctl *c)
{
	char path[TS_PATH_MAX];
	path_of(c, "run/supervisor.pid", path, sizeof(path));
	pid_t pid = read_pidfile(path);
	if (pid <= 0 || kill(pid, 0) < 0)
		return 0;
	/* a recycled pid is not ours: ours is this binary */
	char exe[64], target[4096], self[4096];
	snprintf(exe, sizeof(exe), "/proc/%d/exe", pid);
	ssize_t a = readlink(exe, target, sizeof(target) - 1);
	ssize_t b = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (a <= 0 || b <= 0)
		return 0;
	target[a] = self[b] = '\0';
	char *del = strstr(target, " (deleted)");
	if (del)
		*del = '\0';
	return strcmp(target, self) == 0 ? pid : 0;
}

int supervisor_start(struct ctl *c, char *err, size_t errlen)
{
	if (supervisor_running(c))
		return 0;
	char logpath[TS_PATH_MAX], pidpath[TS_PATH_MAX];
	path_of(c, "log/supervisor.log", logpath, sizeof(logpath));
	path_of(c, "run/supervisor.pid", pidpath, sizeof(pidpath));
	int lfd = supervisor_metrics_listen(c, err, errlen);
	if (lfd == -1)
		return -1;
	int logfd = open(logpath, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
	if (logfd < 0) {
		snprintf(err, errlen, "cannot open %s: %s", logpath, strerror(errno));
		if (lfd >= 0)
			close(lfd);
		return -1;
	}
	fflush(stdout);
	fflush(stderr);
	pid_t pid = fork();
	if (pid < 0) {
		close(logfd);
		if (lfd >= 0)
			close(lfd);
		snprintf(err, errlen, "fork: %s", strerror(errno));
		return -1;
	}
	if (pid == 0) {
		setsid();
		int devnull = open("/dev/null", O_RDONLY);
		dup2(devnull, STDIN_FILENO);
		dup2(logfd, STDOUT_FILENO);
		dup2(logfd, STDERR_FILENO);
		struct sigaction sa = { .sa_handler = on_term };
		sigaction(SIGTERM, &sa, NULL);
		sigaction(SIGINT, &sa, NULL);
		supervise(c, lfd);
		unlink(pidpath);
		_exit(0);
	}
	close(logfd);
	if (lfd >= 0)
		close(lfd);
	if (write_pidfile(pidpath, pid) < 0) {
		kill(pid, SIGTERM);
		snprintf(err, errlen, "cannot write %s: %s", pidpath, strerror(errno));
		return -1;
	}
	return 0;
}

int supervisor_stop(const struct ctl *c)
{
	pid_t pid = supervisor_running(c);
	if (pid == 0)
		return 0;
	kill(pid, SIGTERM);
	for (int i = 0; i < 500; i++) { /* 5 s */
		if (kill(pid, 0) < 0) {
			char path[TS_PATH_MAX];
			path_of(c, "run/supervisor.pid", path, sizeof(path));
			unlink(path);
			return 0;
		}
		int st;
		waitpid(pid, &st, WNOHANG);
		struct timespec ts = { 0, 10 * 1000000L };
		nanosleep(&ts, NULL);
	}
	kill(pid, SIGKILL);
	return -1;
}

bool supervisor_report(const struct ctl *c, const struct unit *u, char *state, size_t slen,
                       unsigned *restarts)
{
	char path[TS_PATH_MAX], line[512];
	path_of(c, "run/supervisor.state", path, sizeof(path));
	FILE *f = fopen(path, "r");
	if (f == NULL)
		return false;
	bool found = false;
	while (fgets(line, sizeof(line), f)) {
		char host[128], role[32], st[32];
		unsigned r;
		if (sscanf(line, "%127s %31s %31s %u", host, role, st, &r) != 4)
			continue;
		if (strcmp(host, u->host->name) == 0 && strcmp(role, u->role) == 0) {
			snprintf(state, slen, "%s", st);
			*restarts = r;
			found = true;
			break;
		}
	}
	fclose(f);
	return found;
}
