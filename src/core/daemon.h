/* daemon.h - what every tristack daemon's main() shares.
 *
 * Command line: -c FILE (default conf/foobar.conf), -t (check the file, print
 * the effective configuration, exit), --host NAME (which [host] this process
 * is; default: the first host with the daemon's role), --state DIR (instead
 * of [site] state), --takeover SOCKET (a binary upgrade: start with the
 * listening sockets of the process whose runtime socket that is, then tell
 * it to stop; handover.h), --version, -h.
 *
 * Process model: shared-nothing workers, one event loop per thread, each with
 * its own SO_REUSEPORT listeners. The main thread only handles signals:
 * SIGTERM/SIGINT stop gracefully (stop accepting, let requests in flight
 * finish, then exit; after the grace period the rest is cut), SIGUSR1 reopens
 * log files, SIGHUP reloads, SIGUSR2 stops as a replaced generation does
 * (what a successor that took the sockets over asks for: keep-alive
 * connections close after their next response, not at once).
 *
 * A reload makes a new generation: the file is loaded and checked (a broken
 * one is refused and the running generation goes on), new workers start,
 * each taking over the listening sockets of the old worker of the same
 * number (the very sockets, with their accept queues: no connection is
 * refused), then the old workers stop accepting and drain: requests in
 * flight finish; idle keep-alive connections are closed after their next
 * response or when they time out. The metrics registry and the error log
 * outlive generations.
 */
#ifndef TS_DAEMON_H
#define TS_DAEMON_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

#include "buf.h"
#include "handover.h"
#include "http_conf.h"
#include "log.h"
#include "loop.h"
#include "metrics.h"
#include "net.h"

struct daemon;

#define WORKER_MAX_LISTENERS 8

/* A listening socket of a worker, and how it passes between generations. */
struct worker_listener {
	struct addr addr;
	int socktype; /* SOCK_STREAM or SOCK_DGRAM: one address may have both */
	int fd;
	bool handed;                  /* taken by the next generation: not ours to close */
	struct worker_listener *from; /* the previous generation's, if inherited */
};

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
	bool reloading; /* stopping because a new generation took over */
	bool joined;
	struct worker_listener listeners[WORKER_MAX_LISTENERS];
	unsigned nlisteners;
	void *data; /* the daemon's per-worker state */
};

/* What core reads of the configuration, as plain values (pointing into
 * it, valid while it is loaded): filled by the loader's identify. */
struct daemon_ident {
	const char *host;    /* the [host] this process is; NULL: none */
	const char *address; /* its address */
	const char *domain;  /* the site's domain */
	const char *www;     /* the host www.<domain> points at */
	const char *state;   /* the state folder */
	const char *admin;   /* who may reach the admin ports */
};

/* The configuration file as core sees it, an opaque thing: the daemon's
 * main hands core a loader (src/conf's conf_daemon_ops), so that core
 * knows no section and no daemon. */
struct daemon_conf_ops {
	/* Load and check the file: a new configuration, or NULL with err. */
	void *(*load)(const char *path, char *err, size_t errlen);
	void (*free)(void *conf);
	/* The effective configuration, defaults included (-t). */
	void (*print)(const void *conf, FILE *out);
	/* Which host this process is: host_name (--host; -1 with err when the
	 * file has none such), else the first host with role (none: *host
	 * NULL). *host is the loader's own, opaque here. */
	int (*identify)(const void *conf, const char *host_name, unsigned role, const void **host,
	                struct daemon_ident *id, char *err, size_t errlen);
	/* A listen/target spec (":8080", "web-01:8080", "1.2.3.4:80") resolved
	 * on host (from identify; NULL: none). 0, or -1 with err. */
	int (*resolve_addr)(const void *conf, const char *spec, const void *host, struct addr *a,
	                    char *err, size_t errlen);
};

struct daemon_def {
	const char *name; /* "tristack-lb" */
	unsigned role;    /* the loader's role bit: the host this runs on by default */
	const struct daemon_conf_ops *conf;
	/* Read the daemon's part of the stack (addresses, tables); runs for -t
	 * too, so it must not open sockets. Returns 0, or -1 with err set. */
	int (*configure)(struct daemon *d, char *err, size_t errlen);
	/* Open what is shared by the workers (runs once, before threads). */
	int (*start)(struct daemon *d, char *err, size_t errlen);
	/* Per worker, on its own thread: listeners and state. */
	int (*worker_init)(struct worker *w, char *err, size_t errlen);
	/* On the worker's thread: stop accepting, close idle connections (for
	 * a reload, w->reloading: let them go after their next response). The
	 * worker exits when w->nconns reaches 0 or the grace period ends. May
	 * run twice: a stop during a reload's drain hardens it. */
	void (*worker_stop)(struct worker *w);
	/* On the worker's thread, after its loop has returned. */
	void (*worker_free)(struct worker *w);
	/* Once, after all workers are gone. */
	void (*finish)(struct daemon *d);
};

struct daemon {
	const struct daemon_def *def;
	const char *conf_path;
	const char *state;      /* --state, else [site] state */
	void *conf;             /* the loaded file (def->conf's), opaque to core */
	const void *host;       /* this process's host in it (identify's), or NULL */
	struct daemon_ident id; /* what core reads of them */
	struct http_conf *http; /* the daemon's shared HTTP settings, if any */
	unsigned nworkers;
	struct worker *workers;
	struct metrics *metrics;
	uint64_t grace_ms;          /* drain period after SIGTERM */
	struct log_file access_log; /* d->http->access_log, opened for the workers */
	unsigned generation;        /* 1, then one more per reload */
	/* During a reload's configure and start: the generation still running,
	 * to carry state over (a server's health). NULL otherwise. */
	struct daemon *prev;
	void *data;      /* the daemon's own state */
	bool check_only; /* -t: check the file, start nothing */
	/* --takeover: the old process's sockets, for the first generation's
	 * listeners (then NULL) */
	struct handover *adopt;
};

/* The whole life of a daemon; returns the process exit code. */
int daemon_main(const struct daemon_def *def, int argc, char **argv);

/* The one way a worker listens. A socket of socktype for a (SOCK_STREAM: a
 * TCP or unix listener; SOCK_DGRAM: a bound UDP socket), recorded for the
 * reload hand-over: the previous generation's same-numbered worker's, when
 * it has one of that type for a (the very socket, with its queue: nothing
 * is dropped), else a new SO_REUSEPORT one, with flags (net.h's NET_*:
 * NET_FREEBIND for an address the host may not hold yet). Then watched by
 * the worker's loop with io and ready. Returns 0, or -1 with err set
 * (nothing kept). */
int worker_listen(struct worker *w, struct io *io, const struct addr *a, int socktype,
                  unsigned flags, io_fn ready, char *err, size_t errlen);
/* Done listening on io (stop watching): closed, unless the next generation
 * has it. Nothing when io is not listening (io->fd < 0). */
void worker_unlisten(struct worker *w, struct io *io);

/* Accept one connection on a listening io of worker_listen(): returns the
 * fd (non-blocking, close-on-exec; peer and len set when peer is not NULL),
 * TS_AGAIN when the queue is empty (IO_READ cleared: wait for the next
 * event), or -1 on an error the next event may not have (EMFILE and the
 * like: logged). A connection the client gave up in the queue is skipped. */
int worker_accept(struct io *io, struct sockaddr_storage *peer, socklen_t *len);

/* The listening IP sockets of d's workers (a Unix socket is each
 * process's own), for a successor (handover.h): up to max into out.
 * Returns how many there are (more than max: out holds max of them). */
unsigned daemon_listeners(const struct daemon *d, struct handover_entry *out, unsigned max);

/* Called by the daemon when a worker's connection count drops to 0 during a
 * stop, so the worker can exit early. */
void worker_check_drained(struct worker *w);

/* A path with "{host}" replaced by the host's name (several hosts of one
 * machine share a [web] section, not a log file) and "{state}" by the state
 * folder. Returns 0 or -1 when it does not fit. */
int daemon_path(const struct daemon *d, const char *tmpl, char *out, size_t len);

/* An admin listener's address: spec ("" = none) resolved on the daemon's
 * host. One equal to listen is refused: SO_REUSEPORT would let both bind
 * and split the connections between them. section names the stack file's
 * section in errors ("web"). Returns 1 (out set), 0 (none) or -1 with err. */
int daemon_admin_addr(const struct daemon *d, const char *section, const char *spec,
                      const struct addr *listen, struct addr *out, char *err, size_t errlen);

/* Online CPUs (at least 1). */
unsigned cpu_count(void);

#endif
