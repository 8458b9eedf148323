/* status.c - `tristack status`: each unit's pid, its state as the
 * supervisor tells it, requests/s from its /metrics, a replica's lag, its
 * health; a table, or JSON with --json. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "conf/names.h"
#include "ctl.h"

/* Where a unit's request (or query) counter is: its /metrics and the
 * counter's name. */
static bool unit_metrics(const struct ctl *c, const struct unit *u, struct addr *a,
                         const char **name)
{
	const char *spec = NULL;
	char e[256];
	if (strcmp(u->role, "lb") == 0)
		spec = c->cfg.lb.http.admin, *name = METRIC_LB HTTPD_METRIC_REQUESTS;
	else if (strcmp(u->role, "web") == 0)
		spec = c->cfg.web.http.admin, *name = METRIC_WEB HTTPD_METRIC_REQUESTS;
	else if (strcmp(u->role, "app") == 0)
		spec = c->cfg.app.http.admin, *name = METRIC_APP HTTPD_METRIC_REQUESTS;
	else if (strcmp(u->role, "dns") == 0)
		spec = c->cfg.dns.admin, *name = METRIC_DNS METRIC_QUERIES;
	return spec && spec[0] && conf_resolve_addr(&c->cfg, spec, u->host, a, e, sizeof(e)) == 0;
}

/* The unit's requests so far, or -1 (not HTTP, not reachable). */
static double unit_requests(const struct ctl *c, const struct unit *u)
{
	struct addr a;
	const char *name;
	if (!unit_metrics(c, u, &a, &name))
		return -1;
	if (c->isolated && netns_enter(c, u->host->name) < 0)
		return -1;
	double v = metric_total(&a, u->host->address, "/metrics", name);
	if (c->isolated)
		netns_leave();
	return v;
}

/* What status knows of one unit. */
struct status_row {
	pid_t pid;         /* 0: not running */
	char state[32];    /* running, stopped, waiting, failed */
	unsigned restarts; /* by the supervisor */
	double rps;        /* -1: not measured */
	double lag;        /* replica lag, s; -1: none (not a replica, unknown) */
	bool healthy;
	char health[256];
	char address[128];
};

static void status_measure(struct ctl *c, struct status_row *rows, bool supervised)
{
	double *before = xcalloc(c->nunits, sizeof(double));
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (unsigned i = 0; i < c->nunits; i++)
		before[i] = unit_running(&c->units[i]) ? unit_requests(c, &c->units[i]) : -1;
	/* requests/s: the counters again a second later */
	nanosleep(&(struct timespec){ 1, 0 }, NULL);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	for (unsigned i = 0; i < c->nunits; i++) {
		struct unit *u = &c->units[i];
		struct status_row *r = &rows[i];
		r->rps = r->lag = -1;
		addr_format(&u->probe, r->address, sizeof(r->address));
		r->pid = unit_running(u);
		if (r->pid && u->db) {
			mdb_describe(c, u, r->health, sizeof(r->health));
			r->healthy = strncmp(r->health, "ok", 2) == 0;
			const char *b = strstr(r->health, "s behind");
			if (b && !strstr(r->health, "primary")) {
				const char *d = b;
				while (d > r->health && d[-1] >= '0' && d[-1] <= '9')
					d--;
				if (d < b)
					r->lag = strtod(d, NULL);
			}
		} else if (r->pid) {
			r->healthy = unit_answers(c, u, r->health, sizeof(r->health));
			if (r->healthy && u->probe_kind != PROBE_VRRP)
				snprintf(r->health, sizeof(r->health), "ok");
		}
		if (r->pid && before[i] >= 0) {
			double after = unit_requests(c, u);
			if (after >= before[i])
				r->rps = (after - before[i]) / secs;
		}
		/* the supervisor's word, while it runs: failed (gave up), restarting */
		char sv_state[32] = "";
		bool known = supervisor_report(c, u, sv_state, sizeof(sv_state), &r->restarts);
		if (known && strcmp(sv_state, "failed") == 0)
			snprintf(r->state, sizeof(r->state), "failed");
		else if (r->pid)
			snprintf(r->state, sizeof(r->state), "running");
		else if (supervised && known && strcmp(sv_state, "restarting") == 0)
			snprintf(r->state, sizeof(r->state), "restarting");
		else
			snprintf(r->state, sizeof(r->state), "stopped");
	}
	free(before);
}

/* The DAEMON column: as wide as the longest name (mysqld_exporter). */
static int daemon_width(const struct ctl *c)
{
	size_t w = strlen("tristack-app");
	for (unsigned i = 0; i < c->nunits; i++)
		if (strlen(c->units[i].daemon) > w)
			w = strlen(c->units[i].daemon);
	return (int)w;
}

static void status_table(const struct ctl *c, const struct status_row *rows)
{
	int dw = daemon_width(c);
	printf("%-8s %-*s %-7s %-20s %-8s %-6s %-21s %s\n", "HOST", dw, "DAEMON", "PID", "STATE",
	       "REQ/S", "LAG", "ADDRESS", "HEALTH");
	for (unsigned i = 0; i < c->nunits; i++) {
		const struct unit *u = &c->units[i];
		const struct status_row *r = &rows[i];
		char state[64], pid[16] = "-", rps[16] = "-", lag[16] = "-";
		if (strcmp(r->state, "failed") == 0)
			snprintf(state, sizeof(state), "failed (gave up)");
		else if (r->restarts)
			snprintf(state, sizeof(state), "%s (%u restart%s)", r->state, r->restarts,
			         r->restarts == 1 ? "" : "s");
		else
			snprintf(state, sizeof(state), "%s", r->state);
		if (r->pid)
			snprintf(pid, sizeof(pid), "%d", (int)r->pid);
		if (r->rps >= 0)
			snprintf(rps, sizeof(rps), "%.0f", r->rps);
		if (r->lag >= 0)
			snprintf(lag, sizeof(lag), "%.0fs", r->lag);
		printf("%-8s %-*s %-7s %-20s %-8s %-6s %-21s %s\n", u->host->name, dw, u->daemon,
		       pid, state, rps, lag, r->address, r->pid ? r->health : "-");
	}
}

/* Who holds the floating address: the LB hosts that have it on their
 * interface now (one, unless something is wrong), into out as names. */
static unsigned vip_holders(const struct ctl *c, char *out, size_t len, unsigned long *moves)
{
	unsigned n = 0;
	size_t o = 0;
	out[0] = '\0';
	*moves = 0;
	for (unsigned i = 0; i < c->cfg.nhosts; i++) {
		const struct conf_host *h = &c->cfg.hosts[i];
		if (!(h->roles & ROLE_LB))
			continue;
		struct vrrp_state st;
		if (vrrp_read_state(c, h, &st) == 0)
			*moves += st.transitions;
		if (!vrrp_holds(c, h))
			continue;
		int k = snprintf(out + o, len - o, "%s%s", n ? ", " : "", h->name);
		if (k > 0 && (size_t)k < len - o)
			o += (size_t)k;
		n++;
	}
	return n;
}

static void status_vip(const struct ctl *c)
{
	if (!vrrp_on(c) || !c->isolated)
		return;
	char who[256];
	unsigned long moves;
	unsigned n = vip_holders(c, who, sizeof(who), &moves);
	printf("floating address %s: %s%s (keepalived transitions: %lu)\n", c->cfg.site.vip,
	       n == 0   ? "held by no LB host"
	       : n == 1 ? "held by "
	                : "held by several hosts: ",
	       who, moves);
}

/* status --json: the same, for scripts (jq) and monitors. */
static void status_json(const struct ctl *c, const struct status_row *rows, pid_t sv)
{
	json_t *units = json_array();
	for (unsigned i = 0; i < c->nunits; i++) {
		const struct unit *u = &c->units[i];
		const struct status_row *r = &rows[i];
		json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:i, s:s}", "host", u->host->name,
		                      "daemon", u->daemon, "role", u->role, "state", r->state,
		                      "restarts", (json_int_t)r->restarts, "address", r->address);
		json_object_set_new(o, "pid", r->pid ? json_integer(r->pid) : json_null());
		json_object_set_new(o, "healthy", json_boolean(r->pid && r->healthy));
		json_object_set_new(o, "health", r->pid ? json_string(r->health) : json_null());
		json_object_set_new(o, "requests_per_second",
		                    r->rps >= 0 ? json_real(r->rps) : json_null());
		json_object_set_new(o, "replica_lag_seconds",
		                    r->lag >= 0 ? json_real(r->lag) : json_null());
		json_array_append_new(units, o);
	}
	json_t *svo = json_pack("{s:b}", "running", sv != 0);
	json_object_set_new(svo, "pid", sv ? json_integer(sv) : json_null());
	json_t *top =
	    json_pack("{s:s, s:s, s:o, s:o}", "stack", c->conf, "mode",
	              c->isolated ? "isolated" : "loopback", "supervisor", svo, "units", units);
	if (vrrp_on(c) && c->isolated) {
		json_t *holders = json_array();
		unsigned long moves = 0;
		for (unsigned i = 0; i < c->cfg.nhosts; i++) {
			const struct conf_host *h = &c->cfg.hosts[i];
			struct vrrp_state st;
			if (!(h->roles & ROLE_LB))
				continue;
			if (vrrp_read_state(c, h, &st) == 0)
				moves += st.transitions;
			if (vrrp_holds(c, h))
				json_array_append_new(holders, json_string(h->name));
		}
		json_object_set_new(top, "vip",
		                    json_pack("{s:s, s:o, s:I}", "address", c->cfg.site.vip,
		                              "holders", holders, "transitions",
		                              (json_int_t)moves));
	}
	json_dumpf(top, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	putchar('\n');
	json_decref(top);
}

int cmd_status(struct ctl *c, int argc, char **argv)
{
	bool json = false;
	for (int i = 0; i < argc; i++) {
		if (strcmp(argv[i], "--json") == 0) {
			json = true;
		} else {
			fprintf(stderr, "tristack: status: unknown argument '%s'\n", argv[i]);
			return 1;
		}
	}
	struct status_row *rows = xcalloc(c->nunits ? c->nunits : 1, sizeof(*rows));
	pid_t sv = supervisor_running(c);
	status_measure(c, rows, sv != 0);
	int down = 0;
	for (unsigned i = 0; i < c->nunits; i++)
		down += rows[i].pid == 0;
	if (json) {
		status_json(c, rows, sv);
	} else {
		status_table(c, rows);
		printf("supervisor: %s", sv ? "running" : "not running");
		if (sv)
			printf(" (pid %d)", (int)sv);
		printf("%s\n", c->isolated ? "; isolated mode" : "");
		status_vip(c);
		if (mdb_primary(c)) {
			char line[1024];
			failover_describe(c, line, sizeof(line));
			printf("%s\n", line);
		}
	}
	free(rows);
	return down ? 3 : 0; /* like systemctl status: 3 = not running */
}
