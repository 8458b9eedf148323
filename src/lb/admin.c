/* admin.c - the servers' admin states (READY, DRAIN, MAINT) and weights as
 * the runtime API (runtime.c) sets them, and how they last.
 *
 * A reload: each server of the new generation takes the state of the old
 * one of the same name (the name is the operator's handle: `tristack drain
 * web-01`); its weight too, unless the stack file's weight for it changed
 * meanwhile: an edited file is the operator's newer word (HAProxy's rule
 * for its server-state-file). A server the reload removes is forgotten: if
 * a later reload adds it back, it starts READY with the file's weight.
 *
 * A restart: {state}/run/HOST.lb.servers has every server's state, one
 * line each ("web-01 drain 1 1": name, state, weight, the file's weight
 * then), rewritten at each change and each start. The first generation
 * reads it, so a server drained for an upgrade stays drained when the LB
 * crashes and the supervisor (or systemd) starts it again.
 *
 * The hand-over: the old generation keeps answering the socket until it
 * stops, but once the new one has copied the states (lb_admin_start) it
 * refuses to change them ("try again"), under one lock, so a change is
 * never applied to a generation that is going away.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "conf/names.h"
#include "core/log.h"
#include "lb.h"

static pthread_mutex_t admin_lock = PTHREAD_MUTEX_INITIALIZER;

int lb_admin_find(const struct lb *lb, struct str name)
{
	for (unsigned i = 0; i < lb->nservers; i++) {
		const char *n = lb->servers[i].px.name;
		if (strlen(n) == name.len && memcmp(n, name.p, name.len) == 0)
			return (int)i;
	}
	return -1;
}

static int saved_path(const struct lb *lb, char *out, size_t len)
{
	return daemon_path(lb->d, "{state}/" STATE_RUN "/{host}" STATE_LB_SAVED_SUFFIX, out, len);
}

/* The file as this generation has it: written aside, then renamed over. */
static void save(const struct lb *lb)
{
	char path[TS_PATH_MAX], tmp[TS_PATH_MAX + 8];
	if (saved_path(lb, path, sizeof(path)) < 0)
		return;
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	/* the account's and its group's, as the socket (0640 whatever the umask) */
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
	FILE *f = fd >= 0 && fchmod(fd, 0640) == 0 ? fdopen(fd, "w") : NULL;
	if (f == NULL) {
		if (fd >= 0)
			close(fd);
		log_warn("cannot save the servers' states in %s: %s", tmp, strerror(errno));
		return;
	}
	fprintf(f,
	        "# the servers' admin states of tristack-lb on %s (name state weight "
	        "file-weight):\n# the runtime API rewrites it; the LB reads it when it starts\n",
	        lb->d->id.host ? lb->d->id.host : "-");
	for (unsigned i = 0; i < lb->nservers; i++) {
		const struct lb_server *sv = &lb->servers[i];
		fprintf(f, "%s %s %u %u\n", sv->px.name, lb_admin_word(atomic_load(&sv->admin)),
		        atomic_load(&sv->weight), sv->config_weight);
	}
	bool ok = fflush(f) == 0 && !ferror(f);
	ok = fclose(f) == 0 && ok;
	if (!ok || rename(tmp, path) < 0) {
		log_warn("cannot save the servers' states in %s: %s", path, strerror(errno));
		remove(tmp);
	}
}

/* A server takes a state and weight it had before (a reload, a restart):
 * the weight unless the stack file's changed since. */
static void restore(struct lb *lb, unsigned i, enum lb_admin st, unsigned weight,
                    unsigned config_weight, const char *from)
{
	struct lb_server *sv = &lb->servers[i];
	atomic_store(&sv->admin, st);
	if (config_weight == sv->config_weight)
		atomic_store(&sv->weight, weight);
	else if (weight != config_weight)
		log_warn("server %s: the stack file's weight %u replaces the runtime API's %u",
		         sv->px.name, sv->config_weight, weight);
	if (st != LB_ADMIN_READY || atomic_load(&sv->weight) != sv->config_weight)
		log_warn("server %s stays %s, weight %u (%s)", sv->px.name, lb_admin_name(st),
		         atomic_load(&sv->weight), from);
}

static void load(struct lb *lb)
{
	char path[TS_PATH_MAX], line[LB_COMMAND_MAX_LINE + 2];
	if (saved_path(lb, path, sizeof(path)) < 0)
		return;
	FILE *f = fopen(path, "r");
	if (f == NULL) {
		if (errno != ENOENT)
			log_warn("cannot read the servers' states in %s: %s", path,
			         strerror(errno));
		return;
	}
	for (unsigned n = 1; fgets(line, sizeof(line), f); n++) {
		size_t len = strcspn(line, "\r\n");
		struct lb_saved s;
		if (len == 0 || line[0] == '#')
			continue;
		if (lb_command_parse_saved(line, len, &s) < 0) {
			log_warn("%s:%u: not a server's state, ignored", path, n);
			continue;
		}
		int i = lb_admin_find(lb, s.server);
		if (i >= 0)
			restore(lb, (unsigned)i, s.state, s.weight, s.config_weight, path);
	}
	fclose(f);
}

/* {state}/run, which `tristack up` and install.sh make: an LB started by
 * hand may find neither. */
static void make_run_dir(const struct lb *lb)
{
	char path[TS_PATH_MAX];
	if (daemon_path(lb->d, "{state}", path, sizeof(path)) < 0)
		return;
	mkdir(path, 0750);
	if (daemon_path(lb->d, "{state}/" STATE_RUN, path, sizeof(path)) == 0)
		mkdir(path, 0750);
}

void lb_admin_start(struct lb *lb, struct lb *prev)
{
	make_run_dir(lb);
	pthread_mutex_lock(&admin_lock);
	if (prev) {
		for (unsigned i = 0; i < lb->nservers; i++) {
			struct str name = { lb->servers[i].px.name,
				            strlen(lb->servers[i].px.name) };
			int j = lb_admin_find(prev, name);
			if (j < 0)
				continue;
			const struct lb_server *was = &prev->servers[j];
			restore(lb, i, atomic_load(&was->admin), atomic_load(&was->weight),
			        was->config_weight, "across the reload");
		}
		prev->admin_retired = true;
	} else {
		load(lb);
	}
	lb_balance_reweight(&lb->bal);
	save(lb);
	pthread_mutex_unlock(&admin_lock);
}

void lb_admin_abandon(struct lb *prev)
{
	pthread_mutex_lock(&admin_lock);
	prev->admin_retired = false;
	save(prev);
	pthread_mutex_unlock(&admin_lock);
}

static int lock_current(struct lb *lb, char *err, size_t errlen)
{
	pthread_mutex_lock(&admin_lock);
	if (!lb->admin_retired)
		return 0;
	pthread_mutex_unlock(&admin_lock);
	snprintf(err, errlen, "the LB is reloading: try again");
	return -1;
}

int lb_admin_set_state(struct lb *lb, unsigned server, enum lb_admin st, char *err, size_t errlen)
{
	if (lock_current(lb, err, errlen) < 0)
		return -1;
	struct lb_server *sv = &lb->servers[server];
	enum lb_admin was = atomic_exchange(&sv->admin, st);
	if (was != st) {
		if (st == LB_ADMIN_MAINT)
			lb_check_pause(lb, (int)server);
		else if (was == LB_ADMIN_MAINT)
			lb_check_resume(lb, (int)server);
		log_warn("server %s is %s (was %s), by the runtime API", sv->px.name,
		         lb_admin_name(st), lb_admin_name(was));
		save(lb);
	}
	pthread_mutex_unlock(&admin_lock);
	return 0;
}

int lb_admin_set_weight(struct lb *lb, unsigned server, unsigned weight, char *err, size_t errlen)
{
	if (lock_current(lb, err, errlen) < 0)
		return -1;
	struct lb_server *sv = &lb->servers[server];
	unsigned was = atomic_exchange(&sv->weight, weight);
	if (was != weight) {
		lb_balance_reweight(&lb->bal);
		log_warn("server %s has weight %u (was %u), by the runtime API", sv->px.name,
		         weight, was);
		save(lb);
	}
	pthread_mutex_unlock(&admin_lock);
	return 0;
}
