/* daemon.c - command line, workers and signals, shared by every daemon.
 * See daemon.h. */
#include "daemon.h"

#include <errno.h>
#include <getopt.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "log.h"
#include "procmetrics.h"

#define DEFAULT_CONF "conf/foobar.conf"

/* The CPUs this process may run on (as HAProxy sizes nbthread): under
 * `taskset -c 1` one worker, not one per CPU of the machine. */
unsigned cpu_count(void)
{
	cpu_set_t set;
	if (sched_getaffinity(0, sizeof(set), &set) == 0 && CPU_COUNT(&set) > 0)
		return (unsigned)CPU_COUNT(&set);
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	return n < 1 ? 1 : (unsigned)n;
}

static void usage(const struct daemon_def *def, FILE *out)
{
	fprintf(out,
	        "usage: %s [-c FILE] [-t] [--host NAME]\n"
	        "  -c, --conf FILE   stack file (default %s)\n"
	        "  -t, --test        check the file, print the effective configuration, exit\n"
	        "      --host NAME   the [host] this process runs as\n"
	        "      --state DIR   state folder (default: [site] state)\n"
	        "      --takeover SOCKET  take the listening sockets of the process whose\n"
	        "                    runtime socket this is, then have it stop (an upgrade)\n"
	        "      --version     print the version and exit\n",
	        def->name, DEFAULT_CONF);
}

int daemon_admin_addr(const struct daemon *d, const char *section, const char *spec,
                      const struct addr *listen, struct addr *out, char *err, size_t errlen)
{
	char e[256];
	if (spec == NULL || spec[0] == '\0')
		return 0;
	if (d->def->conf->resolve_addr(d->conf, spec, d->host, out, e, sizeof(e)) < 0) {
		snprintf(err, errlen, "%s: [%s] admin: %s", d->conf_path, section, e);
		return -1;
	}
	if (addr_equal(out, listen)) {
		snprintf(err, errlen, "%s: [%s] admin and listen are the same address",
		         d->conf_path, section);
		return -1;
	}
	return 1;
}

int daemon_path(const struct daemon *d, const char *tmpl, char *out, size_t len)
{
	const char *host = d->id.host ? d->id.host : "-";
	const char *state = d->state ? d->state : d->id.state;
	size_t o = 0;
	for (const char *p = tmpl; *p; p++) {
		const char *add = p;
		size_t n = 1;
		if (strncmp(p, "{host}", 6) == 0) {
			add = host;
			n = strlen(host);
			p += 5;
		} else if (strncmp(p, "{state}", 7) == 0) {
			add = state;
			n = strlen(state);
			p += 6;
		}
		if (o + n >= len)
			return -1;
		memcpy(out + o, add, n);
		o += n;
	}
	out[o] = '\0';
	return 0;
}

/* The error log and the access log of the daemon's HTTP settings. */
static int open_logs(struct daemon *d, char *err, size_t errlen)
{
	char path[4096];
	if (d->http == NULL)
		return 0;
	log_set_level((enum log_level)log_level_parse(d->http->log_level));
	if (d->http->error_log[0]) {
		if (daemon_path(d, d->http->error_log, path, sizeof(path)) < 0) {
			snprintf(err, errlen, "error_log path too long");
			return -1;
		}
		if (log_open(path, err, errlen) < 0)
			return -1;
	}
	if (d->http->access_log[0]) {
		if (daemon_path(d, d->http->access_log, path, sizeof(path)) < 0) {
			snprintf(err, errlen, "access_log path too long");
			return -1;
		}
		if (log_file_open(&d->access_log, path, err, errlen) < 0)
			return -1;
	}
	return 0;
}

/* ---- listening sockets across generations ---- */

/* Closed, unless the next generation has it (or it goes back to the
 * generation it came from). */
static void release_listener(struct worker_listener *rec)
{
	if (rec->fd >= 0 && !rec->handed)
		close(rec->fd);
	rec->fd = -1;
}

/* The previous generation's socket of this type for a, if its worker of
 * the same number has one not taken yet. */
static struct worker_listener *inherited(struct worker *w, const struct addr *a, int socktype)
{
	struct daemon *prev = w->d->prev;
	if (prev == NULL || w->id >= prev->nworkers)
		return NULL;
	struct worker *old = &prev->workers[w->id];
	for (unsigned i = 0; i < old->nlisteners; i++) {
		struct worker_listener *o = &old->listeners[i];
		if (o->fd >= 0 && !o->handed && o->socktype == socktype && addr_equal(&o->addr, a))
			return o;
	}
	return NULL;
}

/* A socket of the process this one replaces (--takeover) for a, not taken
 * yet by another worker. */
static struct handover_entry *adopted(struct worker *w, const struct addr *a, int socktype)
{
	struct handover *h = w->d->adopt;
	for (unsigned i = 0; h && i < h->n; i++) {
		struct handover_entry *e = &h->e[i];
		if (!e->taken && e->fd >= 0 && e->socktype == socktype && addr_equal(&e->addr, a))
			return e;
	}
	return NULL;
}

unsigned daemon_listeners(const struct daemon *d, struct handover_entry *out, unsigned max)
{
	unsigned n = 0;
	for (unsigned i = 0; i < d->nworkers; i++) {
		const struct worker *w = &d->workers[i];
		for (unsigned k = 0; k < w->nlisteners; k++) {
			const struct worker_listener *rec = &w->listeners[k];
			int family = ((const struct sockaddr *)&rec->addr.ss)->sa_family;
			if (rec->fd < 0 || (family != AF_INET && family != AF_INET6))
				continue;
			if (n < max)
				out[n] = (struct handover_entry){ rec->addr, rec->socktype, rec->fd,
					                          false };
			n++;
		}
	}
	return n;
}

int worker_listen(struct worker *w, struct io *io, const struct addr *a, int socktype,
                  unsigned flags, io_fn ready, char *err, size_t errlen)
{
	io->fd = -1;
	if (w->nlisteners == WORKER_MAX_LISTENERS) {
		snprintf(err, errlen, "too many listeners in one worker");
		return -1;
	}
	struct worker_listener *rec = &w->listeners[w->nlisteners];
	memset(rec, 0, sizeof(*rec));
	struct worker_listener *old = inherited(w, a, socktype);
	struct handover_entry *got = old ? NULL : adopted(w, a, socktype);
	if (old) {
		old->handed = true;
		rec->fd = old->fd;
		rec->from = old;
	} else if (got) {
		got->taken = true;
		rec->fd = got->fd;
	} else if (socktype == SOCK_DGRAM) {
		rec->fd = net_bind_udp(a, flags | NET_REUSEPORT, err, errlen);
	} else {
		rec->fd = net_listen(a, flags | NET_REUSEPORT, 4096, err, errlen);
	}
	if (rec->fd < 0)
		return -1;
	if (loop_io_add(w->loop, io, rec->fd, ready) < 0) {
		snprintf(err, errlen, "epoll: %s", strerror(errno));
		io->fd = -1;
		if (old)
			old->handed = false; /* still the running generation's */
		else if (got)
			got->taken = false;
		else
			close(rec->fd);
		return -1;
	}
	rec->addr = *a;
	rec->socktype = socktype;
	w->nlisteners++;
	return 0;
}

void worker_unlisten(struct worker *w, struct io *io)
{
	int fd = io->fd;
	if (fd < 0)
		return;
	loop_io_del(io);
	for (unsigned i = 0; i < w->nlisteners; i++) {
		if (w->listeners[i].fd == fd) {
			release_listener(&w->listeners[i]);
			return;
		}
	}
}

int worker_accept(struct io *io, struct sockaddr_storage *peer, socklen_t *len)
{
	for (;;) {
		int fd =
		    accept4(io->fd, (struct sockaddr *)peer, len, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd >= 0)
			return fd;
		if (errno == EAGAIN || errno == EWOULDBLOCK) {
			io->ready &= ~IO_READ;
			return TS_AGAIN;
		}
		if (errno != EINTR && errno != ECONNABORTED) {
			log_error("accept: %s", strerror(errno));
			return -1;
		}
	}
}

/* A generation that failed to start gives back what it inherited. */
static void give_back_listeners(struct daemon *d)
{
	for (unsigned i = 0; i < d->nworkers; i++) {
		struct worker *w = &d->workers[i];
		for (unsigned k = 0; k < w->nlisteners; k++) {
			struct worker_listener *rec = &w->listeners[k];
			if (rec->from) {
				rec->from->handed = false;
				rec->handed = true; /* so that nothing here closes it */
				rec->from = NULL;
			}
		}
	}
}

/* ---- workers ---- */

void worker_check_drained(struct worker *w)
{
	if (w->stopping && w->nconns == 0)
		loop_stop(w->loop);
}

static void grace_expired(struct timer *t)
{
	struct worker *w = container_of(t, struct worker, grace);
	if (w->nconns)
		log_warn("worker %u: grace period over, closing %u connections", w->id, w->nconns);
	loop_stop(w->loop);
}

static void worker_stop_now(struct worker *w, bool reload)
{
	if (w->stopping && (reload || !w->reloading))
		return; /* already stopping at least this hard */
	bool first = !w->stopping;
	w->stopping = true;
	w->reloading = reload;
	if (first) {
		w->grace.fn = grace_expired;
		loop_timer_set(w->loop, &w->grace, w->d->grace_ms);
	}
	if (w->d->def->worker_stop)
		w->d->def->worker_stop(w);
	worker_check_drained(w);
}

static void stop_posted(void *arg)
{
	worker_stop_now(arg, false);
}

static void reload_stop_posted(void *arg)
{
	worker_stop_now(arg, true);
}

static void *worker_run(void *arg)
{
	struct worker *w = arg;
	loop_run(w->loop);
	return NULL;
}

/* Load and check the file the way both start-up and SIGHUP do. */
static int load_config(struct daemon *d, const char *host_name, char *err, size_t errlen)
{
	const struct daemon_conf_ops *ops = d->def->conf;
	d->conf = ops->load(d->conf_path, err, errlen);
	if (d->conf == NULL)
		return -1;
	if (ops->identify(d->conf, host_name, d->def->role, &d->host, &d->id, err, errlen) < 0)
		return -1;
	if (d->def->configure && d->def->configure(d, err, errlen) < 0)
		return -1;
	return 0;
}

static int start_workers(struct daemon *d, char *err, size_t errlen)
{
	unsigned n = d->http && d->http->threads > 0 ? (unsigned)d->http->threads : cpu_count();
	/* a successor with fewer workers would close sockets of the old
	 * process, and what waits in their queues with them */
	if (d->adopt && handover_most(d->adopt) > n) {
		log_info("%u workers, as many as the old process had", handover_most(d->adopt));
		n = handover_most(d->adopt);
	}
	d->nworkers = n;
	d->workers = xcalloc(n, sizeof(*d->workers));
	uint32_t bufsize = d->http ? (uint32_t)d->http->bufsize : 16384;
	for (unsigned i = 0; i < n; i++) {
		struct worker *w = &d->workers[i];
		w->id = i;
		w->d = d;
		w->loop = loop_new();
		if (w->loop == NULL) {
			snprintf(err, errlen, "cannot create an event loop: %s", strerror(errno));
			return -1;
		}
		buf_pool_init(&w->pool, bufsize);
		w->shard = metrics_shard_new(d->metrics);
		if (d->def->worker_init && d->def->worker_init(w, err, errlen) < 0)
			return -1;
	}
	for (unsigned i = 0; i < n; i++) {
		int e = pthread_create(&d->workers[i].thread, NULL, worker_run, &d->workers[i]);
		if (e) {
			snprintf(err, errlen, "cannot start a worker thread: %s", strerror(e));
			return -1;
		}
	}
	return 0;
}

/* Wait for a generation's threads (those that were started). */
static void join_workers(struct daemon *d)
{
	for (unsigned i = 0; i < d->nworkers; i++) {
		struct worker *w = &d->workers[i];
		if (w->thread && !w->joined) {
			pthread_join(w->thread, NULL);
			w->joined = true;
		}
	}
}

/* Have all of a generation's threads ended? (joins those that have) */
static bool workers_gone(struct daemon *d)
{
	bool all = true;
	for (unsigned i = 0; i < d->nworkers; i++) {
		struct worker *w = &d->workers[i];
		if (w->thread && !w->joined) {
			if (pthread_tryjoin_np(w->thread, NULL) == 0)
				w->joined = true;
			else
				all = false;
		}
	}
	return all;
}

/* Everything of a generation whose threads have ended (or never ran). */
static void gen_free(struct daemon *d)
{
	for (unsigned i = 0; i < d->nworkers; i++) {
		struct worker *w = &d->workers[i];
		if (w->loop == NULL)
			continue;
		if (d->def->worker_free)
			d->def->worker_free(w);
		for (unsigned k = 0; k < w->nlisteners; k++)
			release_listener(&w->listeners[k]);
		loop_free(w->loop);
		buf_pool_destroy(&w->pool);
		if (w->shard)
			metrics_shard_retire(d->metrics, w->shard);
	}
	free(d->workers);
	d->workers = NULL;
	d->nworkers = 0;
	if (d->def->finish && d->data)
		d->def->finish(d);
	if (d->metrics)
		metrics_release_owner(d->metrics, d);
	if (d->access_log.path)
		log_file_close(&d->access_log);
	if (d->conf)
		d->def->conf->free(d->conf);
	d->conf = NULL;
	d->host = NULL;
	d->id = (struct daemon_ident){ 0 };
}

/* Start a generation whose configuration is loaded: logs, shared state,
 * workers. On failure everything started is stopped and joined again. */
static int gen_start(struct daemon *d, char *err, size_t errlen)
{
	if (open_logs(d, err, errlen) < 0)
		return -1;
	metrics_set_owner(d->metrics, d);
	if ((d->def->start && d->def->start(d, err, errlen) < 0) ||
	    start_workers(d, err, errlen) < 0) {
		for (unsigned i = 0; i < d->nworkers; i++)
			if (d->workers[i].thread)
				loop_post(d->workers[i].loop, stop_posted, &d->workers[i]);
		join_workers(d);
		give_back_listeners(d);
		return -1;
	}
	return 0;
}

/* ---- the main thread: signals, reloads ---- */

#define MAX_DRAINING 16

struct proc {
	struct daemon *cur;
	struct daemon *draining[MAX_DRAINING];
	unsigned ndraining;
	const char *host_name;
	unsigned generations;
};

static void reap(struct proc *p, bool wait)
{
	for (unsigned i = 0; i < p->ndraining;) {
		struct daemon *old = p->draining[i];
		if (wait)
			join_workers(old);
		if (wait || workers_gone(old)) {
			log_info("generation %u has drained", old->generation);
			gen_free(old);
			free(old);
			p->draining[i] = p->draining[--p->ndraining];
			continue;
		}
		i++;
	}
}

static void reload(struct proc *p)
{
	struct daemon *cur = p->cur;
	if (p->ndraining == MAX_DRAINING) {
		log_error("reload refused: %u older generations are still draining", p->ndraining);
		return;
	}
	struct daemon *nd = xcalloc(1, sizeof(*nd));
	nd->def = cur->def;
	nd->conf_path = cur->conf_path;
	nd->state = cur->state;
	nd->grace_ms = cur->grace_ms;
	nd->metrics = cur->metrics;
	nd->generation = ++p->generations;
	nd->prev = cur;
	char err[512];
	if (load_config(nd, p->host_name, err, sizeof(err)) < 0 ||
	    gen_start(nd, err, sizeof(err)) < 0) {
		log_error("reload refused, the running configuration stays: %s", err);
		/* gauges the failed start took over are the old generation's again
		 * only after its next reload; until then they are silent */
		gen_free(nd);
		free(nd);
		p->generations--;
		return;
	}
	nd->prev = NULL;
	for (unsigned i = 0; i < cur->nworkers; i++)
		loop_post(cur->workers[i].loop, reload_stop_posted, &cur->workers[i]);
	p->draining[p->ndraining++] = cur;
	p->cur = nd;
	log_info("reloaded %s: generation %u with %u worker%s; generation %u drains", nd->conf_path,
	         nd->generation, nd->nworkers, nd->nworkers == 1 ? "" : "s", cur->generation);
}

/* Wait for signals until a stop; old generations are reaped as they end. */
static void signal_loop(struct proc *p, const sigset_t *set)
{
	for (;;) {
		struct timespec tick = { 0, 100 * 1000 * 1000 };
		int sig = sigtimedwait(set, NULL, p->ndraining ? &tick : NULL);
		reap(p, false);
		if (sig < 0)
			continue;
		switch (sig) {
		case SIGUSR2:
			/* a successor has the listening sockets (--takeover):
			 * stop as a replaced generation does, keep-alive
			 * connections closed after their next response */
			log_info("stopping after a hand-over: connections in flight finish (up to "
			         "%llums)",
			         (unsigned long long)p->cur->grace_ms);
			for (unsigned i = 0; i < p->cur->nworkers; i++)
				loop_post(p->cur->workers[i].loop, reload_stop_posted,
				          &p->cur->workers[i]);
			return;
		case SIGTERM:
		case SIGINT:
			log_info("stopping (signal %d): draining connections for up to %llums", sig,
			         (unsigned long long)p->cur->grace_ms);
			for (unsigned i = 0; i < p->cur->nworkers; i++)
				loop_post(p->cur->workers[i].loop, stop_posted,
				          &p->cur->workers[i]);
			for (unsigned g = 0; g < p->ndraining; g++)
				for (unsigned i = 0; i < p->draining[g]->nworkers; i++)
					loop_post(p->draining[g]->workers[i].loop, stop_posted,
					          &p->draining[g]->workers[i]);
			return;
		case SIGUSR1:
			if (log_reopen_all())
				log_error("SIGUSR1: some log files could not be reopened");
			else
				log_info("SIGUSR1: log files reopened");
			break;
		case SIGHUP:
			reload(p);
			break;
		}
	}
}

/* What the process needs before any thread: signals go to the main thread
 * only (set: those it waits for), and as many descriptors as it may have
 * (connections and cached files are descriptors: as HAProxy does; nginx
 * asks for worker_rlimit_nofile). */
static void process_setup(sigset_t *set)
{
	sigemptyset(set);
	sigaddset(set, SIGTERM);
	sigaddset(set, SIGINT);
	sigaddset(set, SIGHUP);
	sigaddset(set, SIGUSR1);
	sigaddset(set, SIGUSR2);
	pthread_sigmask(SIG_BLOCK, set, NULL);
	signal(SIGPIPE, SIG_IGN);
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

/* --takeover: the old process's listening sockets into d->adopt. The
 * connection to it, or -1 with err. */
static int take_over(struct daemon *d, const char *path, char *err, size_t errlen)
{
	d->adopt = xcalloc(1, sizeof(*d->adopt));
	int sock = handover_fetch(path, 5000, d->adopt, err, errlen);
	if (sock >= 0)
		log_info("took %u listening sockets over from the process of %s", d->adopt->n,
		         path);
	return sock;
}

/* Serving now: the sockets no listener took go (the stack file no longer
 * has their address), and the old process is told to stop. */
static void take_over_done(struct daemon *d, int sock)
{
	char answer[256];
	unsigned left = handover_close_untaken(d->adopt);
	if (left)
		log_warn("%u sockets of the old process are no listener's here: closed", left);
	free(d->adopt);
	d->adopt = NULL;
	if (handover_finish(sock, answer, sizeof(answer)) < 0)
		log_warn("the old process did not agree to stop: %s (stop it by its pid)", answer);
	else
		log_info("the old process stops: %s", answer);
}

int daemon_main(const struct daemon_def *def, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "conf", required_argument, NULL, 'c' },
		{ "test", no_argument, NULL, 't' },
		{ "host", required_argument, NULL, 'H' },
		{ "version", no_argument, NULL, 'V' },
		{ "state", required_argument, NULL, 'S' },
		{ "takeover", required_argument, NULL, 'X' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct daemon *d = xcalloc(1, sizeof(*d));
	d->def = def;
	d->conf_path = DEFAULT_CONF;
	d->grace_ms = 10000;
	d->generation = 1;
	struct proc p = { .cur = d, .generations = 1 };
	bool test = false;
	const char *takeover = NULL;
	int c, rc = 1, hsock = -1;
	char err[512];
	log_init(def->name, LL_INFO);
	while ((c = getopt_long(argc, argv, "c:th", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			d->conf_path = optarg;
			break;
		case 't':
			test = true;
			d->check_only = true;
			break;
		case 'H':
			p.host_name = optarg;
			break;
		case 'S':
			d->state = optarg;
			break;
		case 'X':
			takeover = optarg;
			break;
		case 'V':
			printf("%s %s\n", def->name, TS_VERSION);
			rc = 0;
			goto out;
		case 'h':
			usage(def, stdout);
			rc = 0;
			goto out;
		default:
			usage(def, stderr);
			goto out;
		}
	}
	if (optind < argc) {
		usage(def, stderr);
		goto out;
	}
	if (load_config(d, p.host_name, err, sizeof(err)) < 0)
		goto fail;
	if (test) {
		fprintf(stderr, "%s: %s is valid\n", def->name, d->conf_path);
		def->conf->print(d->conf, stdout);
		rc = 0;
		goto out;
	}

	sigset_t set;
	process_setup(&set);
	d->metrics = metrics_new();
	char prefix[64]; /* "tristack-lb" -> "tristack_lb" */
	snprintf(prefix, sizeof(prefix), "%s", def->name);
	for (char *q = prefix; *q; q++)
		*q = *q == '-' ? '_' : *q;
	procmetrics_define(d->metrics, prefix);
	if (takeover && (hsock = take_over(d, takeover, err, sizeof(err))) < 0) {
		log_error("%s", err);
		goto fail;
	}
	if (gen_start(d, err, sizeof(err)) < 0) {
		log_error("%s", err);
		goto fail;
	}
	if (hsock >= 0)
		take_over_done(d, hsock);
	hsock = -1;
	log_info("%s %s started as %s with %u worker%s", def->name, TS_VERSION,
	         d->id.host ? d->id.host : "-", d->nworkers, d->nworkers == 1 ? "" : "s");
	signal_loop(&p, &set);
	join_workers(p.cur);
	reap(&p, true);
	log_info("stopped");
	rc = 0;
	goto out;
fail:
	fprintf(stderr, "%s: %s\n", def->name, err);
out:
	/* One way out, whatever was set up: each part frees what it has. */
	if (hsock >= 0)
		close(hsock); /* no "done": the old process goes on */
	/* a failed start's (after a reload, d may be a freed generation: the
	 * sockets were taken then, and adopt let go) */
	if (p.cur == d && d->adopt) {
		handover_close_untaken(d->adopt);
		free(d->adopt);
		d->adopt = NULL;
	}
	{
		struct metrics *m = p.cur->metrics;
		gen_free(p.cur);
		free(p.cur);
		metrics_free(m);
	}
	return rc;
}
