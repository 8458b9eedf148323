/* power.c - `tristack poweroff HOST` and `tristack poweron HOST`: a power
 * failure of one host of the isolated lab, and its return. What the fault
 * suite does to test a failover, and what an operator does to see one
 * before trusting it (docs/deploy.md tells how on real servers: pull the
 * plug).
 *
 * poweroff: {state}/run/HOST.off first (the supervisor leaves the host
 * alone while it exists), then SIGKILL to every process of the host at once
 * (its units, and keepalived's VRRP child, which outlives a killed parent),
 * then its link down. The floating address, if keepalived had put it there,
 * is taken off too: a machine that lost power comes back without it.
 * poweron: link up, the mark gone, the host's units started (databases
 * first) and waited for, as `up` does.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "conf/names.h"
#include "ctl.h"

/* {state}/power/HOST.off: root's folder, not the account's run/ (a mark
 * root writes where the account could plant a link would be written
 * through it) */
static void off_path(const struct ctl *c, const struct conf_host *h, char *out, size_t len)
{
	snprintf(out, len, "%s/" STATE_POWER "/%s.off", c->state, h->name);
}

bool host_is_off(const struct ctl *c, const struct conf_host *h)
{
	char path[TS_PATH_MAX];
	off_path(c, h, path, sizeof(path));
	return access(path, F_OK) == 0;
}

static const struct conf_host *lab_host(struct ctl *c, int argc, char **argv, const char *cmd)
{
	if (argc != 1) {
		fprintf(stderr, "usage: tristack %s HOST\n", cmd);
		return NULL;
	}
	const struct conf_host *h = conf_host(&c->cfg, argv[0]);
	if (h == NULL) {
		fprintf(stderr, "tristack: no host '%s' in %s\n", argv[0], c->conf);
		return NULL;
	}
	if (!c->isolated || !lab_is_up(c)) {
		fprintf(stderr, "tristack: %s needs the isolated lab up (up --isolated)\n", cmd);
		return NULL;
	}
	return h;
}

/* keepalived's VRRP child: a child of the unit's process (its pid file is
 * the account's to write, so what it says is checked against /proc) */
static pid_t vrrp_child(const struct ctl *c, const struct unit *u)
{
	struct vrrp_paths p;
	vrrp_lab_paths(c, u->host, &p);
	pid_t pid = read_pidfile(p.vrrp_pid);
	if (pid <= 0 || u->pid <= 0)
		return 0;
	char path[64], line[128];
	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	FILE *f = fopen(path, "r");
	if (f == NULL)
		return 0;
	int ppid = 0;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "PPid: %d", &ppid) == 1)
			break;
	fclose(f);
	return ppid == (int)u->pid ? pid : 0;
}

static int link_set(struct ctl *c, const struct conf_host *h, const char *updown)
{
	char ns[64], err[512];
	lab_ns(c, h->name, ns, sizeof(ns));
	if (run_tool((char *const[]){ "ip", "-n", ns, "link", "set", "eth0", (char *)updown, NULL },
	             err, sizeof(err)) < 0) {
		fprintf(stderr, "tristack: %s\n", err);
		return -1;
	}
	return 0;
}

/* The floating address off h's interface (keepalived killed with -9 leaves
 * it there; a machine that lost power does not have it). */
static void drop_vip(struct ctl *c, const struct conf_host *h)
{
	if (!vrrp_on(c) || !(h->roles & ROLE_LB))
		return;
	char ns[64], cidr[64], err[512];
	lab_ns(c, h->name, ns, sizeof(ns));
	snprintf(cidr, sizeof(cidr), "%s/32", c->cfg.site.vip);
	run_tool((char *const[]){ "ip", "-n", ns, "addr", "del", cidr, "dev", c->cfg.vrrp.interface,
	                          NULL },
	         err, sizeof(err)); /* not there: fine */
}

int cmd_poweroff(struct ctl *c, int argc, char **argv)
{
	const struct conf_host *h = lab_host(c, argc, argv, "poweroff");
	if (h == NULL)
		return 1;
	char path[TS_PATH_MAX], dir[TS_PATH_MAX];
	snprintf(dir, sizeof(dir), "%s/" STATE_POWER, c->state);
	off_path(c, h, path, sizeof(path));
	int fd = -1;
	if ((mkdir(dir, 0755) < 0 && errno != EEXIST) ||
	    (fd = open(path, O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0644)) < 0 ||
	    close(fd) < 0) {
		fprintf(stderr, "tristack: cannot write %s: %s\n", path, strerror(errno));
		return 1;
	}
	/* all at once, as the power goes: no process of the host sees another go */
	pid_t pids[64];
	unsigned n = 0;
	for (unsigned i = 0; i < c->nunits && n + 2 < ARRAY_SIZE(pids); i++) {
		struct unit *u = &c->units[i];
		if (u->host != h || u->root_ns || !unit_running(u))
			continue;
		pids[n++] = u->pid;
		pid_t child = u->keepalived ? vrrp_child(c, u) : 0;
		if (child)
			pids[n++] = child;
	}
	for (unsigned i = 0; i < n; i++)
		kill(pids[i], SIGKILL);
	if (link_set(c, h, "down") < 0)
		return 1; /* the mark stays: the processes are gone; poweron undoes it */
	drop_vip(c, h);
	for (unsigned i = 0; i < c->nunits; i++)
		if (c->units[i].host == h && !c->units[i].root_ns)
			unit_stop(&c->units[i], 0); /* reaps, removes the pid file */
	printf("%s is powered off: %u processes killed, its link down\n", h->name, n);
	return 0;
}

int cmd_poweron(struct ctl *c, int argc, char **argv)
{
	const struct conf_host *h = lab_host(c, argc, argv, "poweron");
	if (h == NULL)
		return 1;
	char path[TS_PATH_MAX], err[512];
	if (ctl_prepare_account(c, err, sizeof(err)) < 0) { /* its units run as the account */
		fprintf(stderr, "tristack: %s\n", err);
		return 1;
	}
	off_path(c, h, path, sizeof(path));
	drop_vip(c, h);
	if (link_set(c, h, "up") < 0) {
		unlink(path); /* the supervisor brings its units back */
		return 1;
	}
	/* the databases first, as up does; each waited for */
	for (int db = 1; db >= 0; db--) {
		for (unsigned i = 0; i < c->nunits; i++) {
			struct unit *u = &c->units[i];
			if (u->host != h || u->root_ns || u->db != (db == 1) || unit_running(u))
				continue;
			if (unit_start(c, u, err, sizeof(err)) < 0) {
				fprintf(stderr, "tristack: %s on %s: %s\n", u->daemon, h->name,
				        err);
				unlink(path);
				return 1;
			}
			char why[256] = "";
			bool ok = false;
			for (int t = 0; t < 600 && !ok; t++) {
				ok = unit_answers(c, u, why, sizeof(why));
				if (!ok) {
					struct timespec ts = { 0, 100 * 1000000L };
					nanosleep(&ts, NULL);
				}
			}
			printf("  %-7s %-15s %s (pid %d)%s%s\n", h->name, u->daemon,
			       ok ? "up" : "started", (int)u->pid, ok ? "" : ": ", ok ? "" : why);
		}
	}
	unlink(path); /* the supervisor watches over it again */
	printf("%s is powered on\n", h->name);
	return 0;
}

void power_reset(struct ctl *c)
{
	for (unsigned i = 0; i < c->cfg.nhosts; i++) {
		const struct conf_host *h = &c->cfg.hosts[i];
		char path[TS_PATH_MAX];
		off_path(c, h, path, sizeof(path));
		if (!host_is_off(c, h))
			continue;
		if (c->isolated && lab_is_up(c)) {
			drop_vip(c, h);
			link_set(c, h, "up");
		}
		unlink(path);
	}
}
