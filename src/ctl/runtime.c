/* runtime.c - `tristack drain|ready|maint HOST`, `tristack weight HOST N`,
 * `tristack servers`: the LBs' runtime API (src/lb/runtime.c) from the
 * command line. Each command goes to every LB host of the stack, through
 * its socket in the state folder ({state}/run/HOST.lb.sock: a file, so
 * loopback and isolated labs alike), or to the one --lb names (on real
 * servers, where each LB host has its own state folder). An LB that does
 * not answer, or answers with an error, makes the exit status 1. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "conf/names.h"
#include "ctl.h"

#define RT_TIMEOUT_MS 5000 /* an LB's answer */
#define RT_RETRY_MS   3000 /* "the LB is reloading: try again" for this long */
#define RT_ANSWER_MAX 65536

static const char *const verbs[] = { "drain", "ready", "maint", "weight", "servers" };

bool runtime_command(const char *cmd)
{
	for (size_t i = 0; i < ARRAY_SIZE(verbs); i++)
		if (strcmp(cmd, verbs[i]) == 0)
			return true;
	return false;
}

/* Send line to lb's socket, its answer (up to the empty line) into out.
 * 0, or -1 with why the LB does not answer in err. */
static int ask(const struct ctl *c, const struct conf_host *lb, const char *line, char *out,
               size_t outlen, char *err, size_t errlen)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int n = snprintf(sa.sun_path, sizeof(sa.sun_path),
	                 "%s/" STATE_RUN "/%s" STATE_LB_SOCKET_SUFFIX, c->state, lb->name);
	if (n < 0 || (size_t)n >= sizeof(sa.sun_path)) {
		snprintf(err, errlen, "its socket's path is too long for a Unix socket");
		return -1;
	}
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct timeval tv = { RT_TIMEOUT_MS / 1000, 0 };
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) < 0 ||
	    connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int e = errno;
		snprintf(err, errlen, "%s: %s%s", sa.sun_path, strerror(e),
		         e == ENOENT || e == ECONNREFUSED
		             ? " (is tristack-lb running? on servers, run this on each LB host "
		               "with --lb HOST)"
		             : "");
		if (fd >= 0)
			close(fd);
		return -1;
	}
	size_t len = strlen(line), got = 0;
	ssize_t w = send(fd, line, len, MSG_NOSIGNAL);
	if (w != (ssize_t)len) {
		snprintf(err, errlen, "%s: %s", sa.sun_path,
		         w < 0 ? strerror(errno) : "short write");
		close(fd);
		return -1;
	}
	out[0] = '\0';
	while (strstr(out, "\n\n") == NULL) {
		ssize_t r = got + 1 < outlen ? recv(fd, out + got, outlen - got - 1, 0) : -1;
		if (r <= 0) {
			snprintf(err, errlen, "%s: %s", sa.sun_path,
			         r == 0 ? "closed before an answer"
			         : errno == EAGAIN || errno == EWOULDBLOCK ? "no answer in time"
			                                                   : strerror(errno));
			close(fd);
			return -1;
		}
		got += (size_t)r;
		out[got] = '\0';
	}
	*strstr(out, "\n\n") = '\0';
	close(fd);
	return 0;
}

/* ask, again while the LB is between two generations (a reload). */
int runtime_ask(const struct ctl *c, const struct conf_host *lb, const char *line, char *out,
                size_t outlen, char *err, size_t errlen)
{
	struct timespec pause = { 0, 100 * 1000 * 1000 };
	for (unsigned waited = 0;; waited += 100) {
		if (ask(c, lb, line, out, outlen, err, errlen) < 0)
			return -1;
		if (strncmp(out, "error: the LB is reloading", 26) != 0 || waited >= RT_RETRY_MS)
			return 0;
		nanosleep(&pause, NULL);
	}
}

/* ---- one server as every LB sees it (upgrade.c, reconcile.c) ---- */

/* What every LB says of server name. 0, or -1 with err (an LB does not
 * answer, or has no such server). */
int runtime_server_seen(const struct ctl *c, const char *name, struct runtime_seen *s, char *err,
                        size_t errlen)
{
	*s = (struct runtime_seen){ .all_up = true };
	for (unsigned i = 0; i < c->cfg.nhosts; i++) {
		const struct conf_host *lb = &c->cfg.hosts[i];
		char answer[16384], e[512];
		if (!(lb->roles & ROLE_LB))
			continue;
		if (runtime_ask(c, lb, "show servers\n", answer, sizeof(answer), e, sizeof(e)) <
		    0) {
			snprintf(err, errlen, "%s does not answer: %s", lb->name, e);
			return -1;
		}
		bool found = false;
		for (char *save = NULL, *l = strtok_r(answer, "\n", &save); l && !found;
		     l = strtok_r(NULL, "\n", &save)) {
			char sv[256], health[16], admin[16];
			unsigned active;
			if (l[0] == '#' ||
			    sscanf(l, "%255s %*s %15s %15s %*u %*u %u", sv, health, admin,
			           &active) != 4 ||
			    strcmp(sv, name) != 0)
				continue;
			found = true;
			s->all_up &= strcmp(health, "UP") == 0;
			s->active += active;
			if (s->admin[0] == '\0')
				snprintf(s->admin, sizeof(s->admin), "%s", admin);
		}
		if (!found) {
			snprintf(err, errlen, "%s has no server %s", lb->name, name);
			return -1;
		}
	}
	return 0;
}

int runtime_server_wait_on(const struct ctl *c, const struct conf_host *lb, const char *name,
                           unsigned ms, struct runtime_seen *s, char *err, size_t errlen)
{
	for (uint64_t deadline = ctl_now_ms() + ms;; ctl_sleep_ms(100)) {
		char answer[16384];
		*s = (struct runtime_seen){ .all_up = false };
		if (runtime_ask(c, lb, "show servers\n", answer, sizeof(answer), err, errlen) < 0)
			return -1;
		for (char *save = NULL, *l = strtok_r(answer, "\n", &save); l;
		     l = strtok_r(NULL, "\n", &save)) {
			char sv[256], health[16], admin[16];
			unsigned active;
			if (l[0] != '#' &&
			    sscanf(l, "%255s %*s %15s %15s %*u %*u %u", sv, health, admin,
			           &active) == 4 &&
			    strcmp(sv, name) == 0) {
				s->all_up = strcmp(health, "UP") == 0;
				s->active = active;
				snprintf(s->admin, sizeof(s->admin), "%s", admin);
			}
		}
		if (s->active == 0) /* idle, or gone from the LB */
			return 0;
		if (ctl_now_ms() > deadline) {
			snprintf(err, errlen, "%s on %s: %u requests still in flight after %us",
			         name, lb->name, s->active, ms / 1000);
			return -1;
		}
	}
}

/* Set server name's state on every LB. 0, or -1 with err. */
int runtime_server_set(const struct ctl *c, const char *name, const char *state, char *err,
                       size_t errlen)
{
	char line[512];
	snprintf(line, sizeof(line), "set server %s state %s\n", name, state);
	for (unsigned i = 0; i < c->cfg.nhosts; i++) {
		const struct conf_host *lb = &c->cfg.hosts[i];
		char answer[4096] = "", e[512] = "";
		if (!(lb->roles & ROLE_LB))
			continue;
		if (runtime_ask(c, lb, line, answer, sizeof(answer), e, sizeof(e)) < 0 ||
		    strncmp(answer, "ok:", 3) != 0) {
			snprintf(err, errlen, "%s: %.400s", lb->name,
			         strncmp(answer, "error:", 6) == 0 ? answer : e);
			return -1;
		}
	}
	return 0;
}

/* Wait until server name has no request in flight (idle) or is UP on every
 * LB (!idle), for up to ms. 0, or -1 with err (deadline: how it stands). */
int runtime_server_wait(const struct ctl *c, const char *name, bool idle, unsigned ms, char *err,
                        size_t errlen)
{
	uint64_t deadline = ctl_now_ms() + ms;
	for (;;) {
		struct runtime_seen s;
		if (runtime_server_seen(c, name, &s, err, errlen) < 0)
			return -1;
		if (idle ? s.active == 0 : s.all_up)
			return 0;
		if (ctl_now_ms() > deadline) {
			snprintf(err, errlen, "%s: %s after %us", name,
			         idle ? "requests still in flight" : "not UP on every LB",
			         ms / 1000);
			return -1;
		}
		ctl_sleep_ms(100);
	}
}

/* Print an answer, each line after the LB's name (a show's comment line
 * dropped); errors on stderr. 0, or -1 when it held an error. */
static int print_answer(const struct conf_host *lb, char *answer)
{
	int rc = 0;
	for (char *save = NULL, *l = strtok_r(answer, "\n", &save); l;
	     l = strtok_r(NULL, "\n", &save)) {
		if (l[0] == '#')
			continue;
		bool bad = strncmp(l, "error:", 6) == 0;
		fprintf(bad ? stderr : stdout, "%s%s: %s\n", bad ? "tristack: " : "", lb->name, l);
		if (bad)
			rc = -1;
	}
	return rc;
}

/* The command line the LBs are sent, or -1 with usage printed. */
static int make_line(const struct ctl *c, const char *verb, int argc, char **argv, char *line,
                     size_t len)
{
	bool show = strcmp(verb, "servers") == 0, weight = strcmp(verb, "weight") == 0;
	if (argc != (show ? 0 : weight ? 2 : 1)) {
		fprintf(stderr, "usage: tristack %s%s [--lb LB]\n", verb,
		        show     ? ""
		        : weight ? " HOST N"
		                 : " HOST");
		return -1;
	}
	if (show) {
		snprintf(line, len, "show servers\n");
		return 0;
	}
	bool known = false;
	for (unsigned i = 0; i < c->cfg.lb.nservers; i++)
		known |= strcmp(c->cfg.lb.servers[i].name, argv[0]) == 0;
	if (!known) {
		fprintf(stderr, "tristack: '%s' is no server of [lb] in %s:", argv[0], c->conf);
		for (unsigned i = 0; i < c->cfg.lb.nservers; i++)
			fprintf(stderr, " %s", c->cfg.lb.servers[i].name);
		fprintf(stderr, "\n");
		return -1;
	}
	char *end = NULL;
	long n = weight ? strtol(argv[1], &end, 10) : 0;
	if (weight && (argv[1][0] < '0' || argv[1][0] > '9' || *end || n > LB_WEIGHT_MAX)) {
		fprintf(stderr, "tristack: bad weight '%s' (a whole number, 0..%d)\n", argv[1],
		        LB_WEIGHT_MAX);
		return -1;
	}
	if (weight)
		snprintf(line, len, "set server %s weight %ld\n", argv[0], n);
	else
		snprintf(line, len, "set server %s state %s\n", argv[0], verb);
	return 0;
}

int cmd_runtime(struct ctl *c, const char *verb, int argc, char **argv)
{
	const char *only = NULL;
	if (argc >= 2 && strcmp(argv[argc - 2], "--lb") == 0) {
		only = argv[argc - 1];
		argc -= 2;
		const struct conf_host *h = conf_host(&c->cfg, only);
		if (h == NULL || !(h->roles & ROLE_LB)) {
			fprintf(stderr, "tristack: --lb %s: no LB host of that name\n", only);
			return 1;
		}
	}
	char line[512], answer[RT_ANSWER_MAX], err[512];
	if (make_line(c, verb, argc, argv, line, sizeof(line)) < 0)
		return 1;
	bool show = strcmp(verb, "servers") == 0, failed = false;
	if (show)
		printf("%-8s %-12s %-22s %-6s %-6s %6s %11s %6s %s\n", "LB", "SERVER", "ADDRESS",
		       "HEALTH", "ADMIN", "WEIGHT", "FILE-WEIGHT", "ACTIVE", "BACKUP");
	for (unsigned i = 0; i < c->cfg.nhosts; i++) {
		const struct conf_host *lb = &c->cfg.hosts[i];
		if (!(lb->roles & ROLE_LB) || (only && strcmp(only, lb->name) != 0))
			continue;
		if (runtime_ask(c, lb, line, answer, sizeof(answer), err, sizeof(err)) < 0) {
			fprintf(stderr, "tristack: %s does not answer: %s\n", lb->name, err);
			failed = true;
			continue;
		}
		if (!show || strncmp(answer, "error:", 6) == 0) {
			failed |= print_answer(lb, answer) < 0;
			continue;
		}
		for (char *save = NULL, *l = strtok_r(answer, "\n", &save); l;
		     l = strtok_r(NULL, "\n", &save)) {
			char f[8][256];
			if (l[0] != '#' &&
			    sscanf(l, "%255s %255s %255s %255s %255s %255s %255s %255s", f[0], f[1],
			           f[2], f[3], f[4], f[5], f[6], f[7]) == 8)
				printf("%-8s %-12s %-22s %-6s %-6s %6s %11s %6s %s\n", lb->name,
				       f[0], f[1], f[2], f[3], f[4], f[5], f[6], f[7]);
		}
	}
	return failed ? 1 : 0;
}
