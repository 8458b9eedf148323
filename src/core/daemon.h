/* daemon.h - what every tristack daemon's main() shares.
 *
 * Command line: -c FILE (default conf/foobar.conf), -t (check the file, print
 * the effective configuration, exit), --host NAME (which [host] this process
 * is; default: the first host with the daemon's role), --state DIR (instead
 * of [site] state), --version, -h.
 *
 * Process model: shared-nothing workers, one event loop per thread, each with
 * its own SO_REUSEPORT listeners. The main thread only handles signals:
 * SIGTERM/SIGINT stop gracefully (stop accepting, let requests in flight
 * finish, then exit; after the grace period the rest is cut), SIGUSR1 reopens
 * log files, SIGHUP checks the file again and reloads (see reload below).
 */
#ifndef TS_DAEMON_H
#define TS_DAEMON_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

#include "buf.h"
#include "log.h"
#include "loop.h"
#include "metrics.h"
#include "stack.h"

struct daemon;

struct worker {
	unsigned id;
	struct daemon *d;
	struct loop *loop;
	pthread_t thread;
	struct buf_pool pool;
	struct metrics_shard *shard;
	struct timer grace; /* end of the drain after a stop */
	unsigned nconns;    /* connections this worker holds */
	bool stopping;
	void *data; /* the daemon's per-worker state */
};

struct daemon_def {
	const char *name; /* "tristack-lb" */
	unsigned role;    /* ROLE_*: the host this runs on by default */
	/* Read the daemon's part of the stack (addresses, tables); runs for -t
	 * too, so it must not open sockets. Returns 0, or -1 with err set. */
	int (*configure)(struct daemon *d, char *err, size_t errlen);
	/* Open what is shared by the workers (runs once, before threads). */
	int (*start)(struct daemon *d, char *err, size_t errlen);
	/* Per worker, on its own thread: listeners and state. */
	int (*worker_init)(struct worker *w, char *err, size_t errlen);
	/* On the worker's thread: stop accepting, close idle connections. The
	 * worker exits when w->nconns reaches 0 or the grace period ends. */
	void (*worker_stop)(struct worker *w);
	/* On the worker's thread, after its loop has returned. */
	void (*worker_free)(struct worker *w);
	/* Once, after all workers are gone. */
	void (*finish)(struct daemon *d);
};

struct daemon {
	const struct daemon_def *def;
	const char *conf_path;
	const char *state; /* --state, else [site] state */
	struct stack stack;
	const struct stack_host *host;
	struct stack_http *http; /* the daemon's shared HTTP settings, if any */
	unsigned nworkers;
	struct worker *workers;
	struct metrics *metrics;
	uint64_t grace_ms;          /* drain period after SIGTERM */
	struct log_file access_log; /* d->http->access_log, opened for the workers */
	void *data;                 /* the daemon's own state */
};

/* The whole life of a daemon; returns the process exit code. */
int daemon_main(const struct daemon_def *def, int argc, char **argv);

/* Called by the daemon when a worker's connection count drops to 0 during a
 * stop, so the worker can exit early. */
void worker_check_drained(struct worker *w);

/* A path with "{host}" replaced by the host's name (several hosts of one
 * machine share a [web] section, not a log file) and "{state}" by the state
 * folder. Returns 0 or -1 when it does not fit. */
int daemon_path(const struct daemon *d, const char *tmpl, char *out, size_t len);

/* Online CPUs (at least 1). */
unsigned cpu_count(void);

#endif
