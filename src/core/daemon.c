/* daemon.c - command line, workers and signals, shared by every daemon.
 * See daemon.h. */
#include "daemon.h"

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"

#define DEFAULT_CONF "conf/foobar.conf"

unsigned cpu_count(void)
{
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
	        "      --version     print the version and exit\n",
	        def->name, DEFAULT_CONF);
}

int daemon_path(const struct daemon *d, const char *tmpl, char *out, size_t len)
{
	const char *host = d->host ? d->host->name : "-";
	const char *state = d->state ? d->state : d->stack.site.state;
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

static void worker_stop_posted(void *arg)
{
	struct worker *w = arg;
	if (w->stopping)
		return;
	w->stopping = true;
	w->grace.fn = grace_expired;
	loop_timer_set(w->loop, &w->grace, w->d->grace_ms);
	if (w->d->def->worker_stop)
		w->d->def->worker_stop(w);
	worker_check_drained(w);
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
	if (stack_load(&d->stack, d->conf_path, err, errlen) < 0)
		return -1;
	if (host_name) {
		d->host = stack_host(&d->stack, host_name);
		if (d->host == NULL) {
			snprintf(err, errlen, "%s: no [host %s] section", d->conf_path, host_name);
			return -1;
		}
	} else {
		d->host = stack_host_with_role(&d->stack, d->def->role);
	}
	if (d->def->configure && d->def->configure(d, err, errlen) < 0)
		return -1;
	return 0;
}

static void reload_check(struct daemon *d, const char *host_name)
{
	struct daemon probe = { .def = d->def, .conf_path = d->conf_path, .state = d->state };
	char err[512];
	if (load_config(&probe, host_name, err, sizeof(err)) < 0) {
		log_error("reload refused, the running configuration stays: %s", err);
	} else {
		log_warn("SIGHUP: %s is valid; this version applies changes on restart",
		         d->conf_path);
	}
	if (probe.def->finish && probe.data)
		probe.def->finish(&probe);
	stack_free(&probe.stack);
}

static int start_workers(struct daemon *d, char *err, size_t errlen)
{
	unsigned n = d->http && d->http->threads > 0 ? (unsigned)d->http->threads : cpu_count();
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

static void free_workers(struct daemon *d)
{
	for (unsigned i = 0; i < d->nworkers; i++) {
		struct worker *w = &d->workers[i];
		if (w->loop == NULL)
			continue;
		if (d->def->worker_free)
			d->def->worker_free(w);
		loop_free(w->loop);
		buf_pool_destroy(&w->pool);
	}
	free(d->workers);
	d->workers = NULL;
}

/* The main thread's life after start-up: wait for signals. */
static void signal_loop(struct daemon *d, const sigset_t *set, const char *host_name)
{
	for (;;) {
		int sig;
		if (sigwait(set, &sig) != 0)
			continue;
		switch (sig) {
		case SIGTERM:
		case SIGINT:
			log_info("stopping (signal %d): draining connections for up to %llums", sig,
			         (unsigned long long)d->grace_ms);
			for (unsigned i = 0; i < d->nworkers; i++)
				loop_post(d->workers[i].loop, worker_stop_posted, &d->workers[i]);
			return;
		case SIGUSR1:
			if (log_reopen_all())
				log_error("SIGUSR1: some log files could not be reopened");
			else
				log_info("SIGUSR1: log files reopened");
			break;
		case SIGHUP:
			reload_check(d, host_name);
			break;
		}
	}
}

int daemon_main(const struct daemon_def *def, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "conf", required_argument, NULL, 'c' },
		{ "test", no_argument, NULL, 't' },
		{ "host", required_argument, NULL, 'H' },
		{ "version", no_argument, NULL, 'V' },
		{ "state", required_argument, NULL, 'S' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct daemon d = { .def = def, .conf_path = DEFAULT_CONF, .grace_ms = 10000 };
	const char *host_name = NULL;
	bool test = false;
	int c;
	log_init(def->name, LL_INFO);
	while ((c = getopt_long(argc, argv, "c:th", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			d.conf_path = optarg;
			break;
		case 't':
			test = true;
			break;
		case 'H':
			host_name = optarg;
			break;
		case 'S':
			d.state = optarg;
			break;
		case 'V':
			printf("%s %s\n", def->name, TS_VERSION);
			return 0;
		case 'h':
			usage(def, stdout);
			return 0;
		default:
			usage(def, stderr);
			return 1;
		}
	}
	if (optind < argc) {
		usage(def, stderr);
		return 1;
	}

	char err[512];
	int rc = 1;
	if (load_config(&d, host_name, err, sizeof(err)) < 0)
		goto fail;
	if (test) {
		fprintf(stderr, "%s: %s is valid\n", def->name, d.conf_path);
		stack_print(&d.stack, stdout);
		rc = 0;
		goto out;
	}
	if (open_logs(&d, err, sizeof(err)) < 0)
		goto fail;

	/* Signals go to the main thread only: block them before threads exist. */
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGUSR1);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);

	d.metrics = metrics_new();
	if ((def->start && def->start(&d, err, sizeof(err)) < 0) ||
	    start_workers(&d, err, sizeof(err)) < 0) {
		log_error("%s", err);
		for (unsigned i = 0; i < d.nworkers; i++)
			if (d.workers[i].thread)
				loop_post(d.workers[i].loop, worker_stop_posted, &d.workers[i]);
	} else {
		log_info("%s %s started as %s with %u worker%s", def->name, TS_VERSION,
		         d.host ? d.host->name : "-", d.nworkers, d.nworkers == 1 ? "" : "s");
		signal_loop(&d, &set, host_name);
		rc = 0;
	}
	for (unsigned i = 0; i < d.nworkers; i++)
		if (d.workers[i].thread)
			pthread_join(d.workers[i].thread, NULL);
	free_workers(&d);
	if (rc == 0)
		log_info("stopped");
	else
		fprintf(stderr, "%s: %s\n", def->name, err);
	goto out;
fail:
	fprintf(stderr, "%s: %s\n", def->name, err);
out:
	/* One way out, whatever was set up: each part frees what it has. */
	if (def->finish && d.data)
		def->finish(&d);
	metrics_free(d.metrics);
	if (d.access_log.path)
		log_file_close(&d.access_log);
	stack_free(&d.stack);
	return rc;
}
