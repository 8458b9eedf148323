/* monitoring.c - [monitoring]: a real Prometheus (Debian's) that scrapes
 * every daemon of the stack, MariaDB through prometheus-mysqld-exporter and
 * the supervisor, and evaluates the stack's alert rules.
 *
 * Both programs are units like the daemons (proc.c starts them, the
 * supervisor restarts them): Prometheus on the monitoring host, an exporter
 * on every database host. `up` writes, before it starts them:
 *
 *   {state}/monitoring/prometheus.yml   the scrape targets, from the roles
 *   {state}/monitoring/rules.yml        the alert rules (mon_rules)
 *   {state}/secrets/HOST.exporter.cnf   the exporter's login (0600: a secret)
 *   {state}/monitoring/data/            Prometheus's TSDB
 *
 * Every target carries a `host` label: the stack file's host it runs on.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "conf/names.h"
#include "ctl.h"

#define PROMETHEUS       "/usr/bin/prometheus"
#define MYSQLD_EXPORTER  "/usr/bin/prometheus-mysqld-exporter"
#define ERROR_RATIO      0.01 /* of the LB's responses, 5xx */
#define VIP_MOVED_WINDOW "5m" /* FloatingAddressMoved: a move this recent */

bool mon_on(const struct ctl *c)
{
	switch (c->cfg.monitoring.enabled) {
	case MON_ON:
		return true;
	case MON_OFF:
		return false;
	default:
		/* auto: on in isolated mode, and when `firewall show` renders an
		 * isolated lab's rules (lab_plan set the client's address); not
		 * where Prometheus is not installed (scripts/install-deps.sh) */
		return (c->isolated || c->client_address[0] != '\0') &&
		       access(PROMETHEUS, X_OK) == 0;
	}
}

static int path_in(const struct ctl *c, char *out, size_t len, const char *name)
{
	int n = snprintf(out, len, "%s/monitoring/%s", c->state, name);
	return n < 0 || (size_t)n >= len ? -1 : 0;
}

int mon_units(struct ctl *c, char *err, size_t errlen)
{
	const struct conf *s = &c->cfg;
	const struct conf_host *h = mon_conf_host(s);
	if (h == NULL) {
		snprintf(err, errlen, "[monitoring]: no host to run Prometheus on");
		return -1;
	}
	char e[256];
	struct unit *u = unit_new(c, h, "prometheus", "prometheus", err, errlen);
	if (u == NULL)
		return -1;
	u->mon = MON_PROMETHEUS;
	u->exe = PROMETHEUS;
	u->probe_kind = PROBE_HTTP;
	u->probe_path = "/-/ready";
	if (conf_resolve_addr(s, s->monitoring.listen, h, &u->probe, e, sizeof(e)) < 0) {
		snprintf(err, errlen, "[monitoring] listen: %s", e);
		return -1;
	}
	if (am_unit(c, h, err, errlen) < 0)
		return -1;
	if (s->monitoring.mysqld_exporter[0] == '\0')
		return 0;
	for (unsigned i = 0; i < s->nhosts; i++) {
		const struct conf_host *db = &s->hosts[i];
		if (!(db->roles & (ROLE_DB_PRIMARY | ROLE_DB_REPLICA)))
			continue;
		u = unit_new(c, db, "mysqld_exporter", "exporter", err, errlen);
		if (u == NULL)
			return -1;
		u->mon = MON_EXPORTER;
		u->exe = MYSQLD_EXPORTER;
		u->probe_kind = PROBE_HTTP;
		u->probe_path = "/"; /* its landing page: /metrics would query MariaDB */
		if (conf_resolve_addr(s, s->monitoring.mysqld_exporter, db, &u->probe, e,
		                      sizeof(e)) < 0) {
			snprintf(err, errlen, "[monitoring] mysqld_exporter: %s", e);
			return -1;
		}
	}
	return 0;
}

/* A duration as Prometheus writes it: 10s, 1m, 14d, 500ms. */
const char *mon_duration(uint64_t ms, char *out, size_t len)
{
	static const struct {
		uint64_t ms;
		const char *unit;
	} units[] = { { 86400000, "d" }, { 3600000, "h" }, { 60000, "m" }, { 1000, "s" } };
	if (ms == 0) {
		snprintf(out, len, "0s");
		return out;
	}
	for (size_t i = 0; i < ARRAY_SIZE(units); i++)
		if (ms % units[i].ms == 0) {
			snprintf(out, len, "%llu%s", (unsigned long long)(ms / units[i].ms),
			         units[i].unit);
			return out;
		}
	snprintf(out, len, "%llums", (unsigned long long)ms);
	return out;
}

int mon_argv(const struct ctl *c, const struct unit *u, char *store, size_t storelen, char **argv,
             unsigned max)
{
	struct argv_buf b = { argv, 0, max, store, store + storelen, false };
	char hp[128], dir[TS_PATH_MAX], d[32];
#define ARG(...) argv_add(&b, __VA_ARGS__)
	addr_format(&u->probe, hp, sizeof(hp));
	if (path_in(c, dir, sizeof(dir), "") < 0)
		return -1;
	if (u->mon == MON_PROMETHEUS) {
		ARG("%s", u->exe);
		ARG("--config.file=%sprometheus.yml", dir);
		ARG("--storage.tsdb.path=%sdata", dir);
		ARG("--storage.tsdb.retention.time=%s",
		    mon_duration(c->cfg.monitoring.retention, d, sizeof(d)));
		ARG("--web.listen-address=%s", hp); /* no --web.enable-lifecycle: SIGHUP reloads */
	} else if (u->mon == MON_ALERTMANAGER) {
		return am_argv(c, u, &b);
	} else {
		ARG("%s", u->exe);
		ARG("--config.my-cnf=%s/secrets/%s.exporter.cnf", c->state, u->host->name);
		ARG("--web.listen-address=%s", hp);
		ARG("--collect.slave_status");
	}
#undef ARG
	return b.full ? -1 : 0;
}

/* ---- prometheus.yml ---- */

/* One scrape job: the spec (":8404") on every host with any of roles. */
static void job(FILE *f, const struct ctl *c, const char *name, unsigned roles, const char *spec,
                bool honor_labels)
{
	const struct conf *s = &c->cfg;
	if (spec == NULL || spec[0] == '\0')
		return;
	bool any = false;
	for (unsigned i = 0; i < s->nhosts; i++) {
		const struct conf_host *h = &s->hosts[i];
		struct addr a;
		char e[256], hp[128];
		if (!(h->roles & roles) || conf_resolve_addr(s, spec, h, &a, e, sizeof(e)) < 0)
			continue;
		if (!any)
			fprintf(f, "  - job_name: %s\n%s    static_configs:\n", name,
			        honor_labels ? "    honor_labels: true\n" : "");
		any = true;
		fprintf(f, "      - targets: ['%s']\n        labels: {host: '%s'}\n",
		        addr_format(&a, hp, sizeof(hp)), h->name);
	}
}

static int write_config(const struct ctl *c, const char *path, const char *rules)
{
	const struct conf *s = &c->cfg;
	const struct mon_conf *m = &s->monitoring;
	const struct conf_host *mh = mon_conf_host(s);
	FILE *f = fopen(path, "w");
	if (f == NULL)
		return -1;
	char si[32], ei[32], st[32];
	/* a scrape may not outlast the interval, nor Prometheus's 10 s default */
	uint64_t timeout = m->scrape_interval < 10000 ? m->scrape_interval : 10000;
	fprintf(f,
	        "# Prometheus of the stack %s: made by `tristack up` from the stack file\n"
	        "# ([monitoring], the hosts' roles and admin listeners); edits are lost.\n"
	        "global:\n"
	        "  scrape_interval: %s\n"
	        "  scrape_timeout: %s\n"
	        "  evaluation_interval: %s\n"
	        "  external_labels: {stack: '%s'}\n"
	        "rule_files:\n"
	        "  - '%s'\n"
	        "scrape_configs:\n",
	        c->conf, mon_duration(m->scrape_interval, si, sizeof(si)),
	        mon_duration(timeout, st, sizeof(st)),
	        mon_duration(m->evaluation_interval, ei, sizeof(ei)), s->site.domain, rules);
	job(f, c, "lb", ROLE_LB, s->lb.http.admin, false);
	job(f, c, "web", ROLE_WEB, s->web.http.admin, false);
	job(f, c, "app", ROLE_APP, s->app.http.admin, false);
	job(f, c, "dns", ROLE_DNS, s->dns.admin, false);
	job(f, c, "mysqld", ROLE_DB_PRIMARY | ROLE_DB_REPLICA, m->mysqld_exporter, false);
	if (mh) {
		/* the supervisor's series name the host of each unit: theirs wins
		 * over the target's (honor_labels) */
		static const char *const names[] = { "supervisor", "prometheus", "alertmanager" };
		for (unsigned pass = 0; pass < ARRAY_SIZE(names); pass++) {
			const char *spec = pass == 0   ? m->supervisor
			                   : pass == 1 ? m->listen
			                               : m->alertmanager;
			struct addr a;
			char e[256], hp[128];
			if (spec[0] == '\0' || conf_resolve_addr(s, spec, mh, &a, e, sizeof(e)) < 0)
				continue;
			fprintf(f,
			        "  - job_name: %s\n%s    static_configs:\n"
			        "      - targets: ['%s']\n        labels: {host: '%s'}\n",
			        names[pass], pass == 0 ? "    honor_labels: true\n" : "",
			        addr_format(&a, hp, sizeof(hp)), mh->name);
		}
	}
	struct addr am;
	char hp[128];
	if (am_address(c, &am) == 0)
		fprintf(f,
		        "alerting:\n"
		        "  alertmanagers:\n"
		        "    - static_configs:\n"
		        "        - targets: ['%s']\n",
		        addr_format(&am, hp, sizeof(hp)));
	return fclose(f) == 0 ? 0 : -1;
}

/* ---- rules.yml ---- */

static void rule(FILE *f, const char *name, uint64_t for_ms, const char *severity,
                 const char *summary, const char *expr_fmt, ...) TS_PRINTF(6, 7);

/* One alerting rule; expr is written in single quotes (no ' in it). */
static void rule(FILE *f, const char *name, uint64_t for_ms, const char *severity,
                 const char *summary, const char *expr_fmt, ...)
{
	char expr[1024], d[32];
	va_list ap;
	va_start(ap, expr_fmt);
	vsnprintf(expr, sizeof(expr), expr_fmt, ap);
	va_end(ap);
	fprintf(f,
	        "      - alert: %s\n"
	        "        expr: '%s'\n"
	        "        for: %s\n"
	        "        labels:\n"
	        "          severity: %s\n"
	        "        annotations:\n"
	        "          summary: \"%s\"\n",
	        name, expr, mon_duration(for_ms, d, sizeof(d)), severity, summary);
}

/* The floating address: one LB host holds it at a time (keepalived). A
 * move is worth knowing (why did the holder give it up?); no holder is the
 * site gone; two are a split brain (the LB hosts cannot hear each other's
 * VRRP), each answering ARP for it. */
static void vip_rules(FILE *f, const struct conf *s)
{
	const struct mon_conf *m = &s->monitoring;
	char none[256];
	snprintf(none, sizeof(none),
	         "no load balancer holds the floating address %s: www.%s does not answer",
	         s->site.vip, s->site.domain);
	rule(f, "FloatingAddressMoved", 0, "warning",
	     "the floating address {{ $labels.vip }} changed holder in the last " VIP_MOVED_WINDOW,
	     "sum by (vip) (increase(" METRIC_LB_VIP_TRANSITIONS "[" VIP_MOVED_WINDOW "])) > 0");
	rule(f, "FloatingAddressUnheld", m->alert_for, "critical", none,
	     "absent(" METRIC_LB_VIP_HELD " == 1)");
	rule(
	    f, "FloatingAddressHeldTwice", m->alert_for, "critical",
	    "{{ $value }} load balancers hold the floating address {{ $labels.vip }} (split brain)",
	    "sum by (vip) (" METRIC_LB_VIP_HELD ") > 1");
}

char *mon_rules(const struct ctl *c)
{
	const struct conf *s = &c->cfg;
	const struct mon_conf *m = &s->monitoring;
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	if (f == NULL)
		return NULL;
	unsigned dbs = 0;
	for (unsigned i = 0; i < s->nhosts; i++)
		dbs += (s->hosts[i].roles & (ROLE_DB_PRIMARY | ROLE_DB_REPLICA)) != 0;
	bool exporter = m->mysqld_exporter[0] != '\0';
	double lag = (double)s->db.max_lag / 1000.0;
	/* a rate needs a few scrapes in its window */
	uint64_t window = m->scrape_interval * 4 > 60000 ? m->scrape_interval * 4 : 60000;
	char w[32];
	mon_duration(window, w, sizeof(w));
	fprintf(f,
	        "# Alert rules of the stack %s: made by `tristack up` from the stack file;\n"
	        "# see docs/monitoring.md. Edits are lost.\n"
	        "groups:\n"
	        "  - name: tristack\n"
	        "    rules:\n",
	        c->conf);
	rule(f, "TargetDown", m->alert_for, "critical",
	     "{{ $labels.job }} on {{ $labels.host }} ({{ $labels.instance }}) does not answer "
	     "Prometheus",
	     "up == 0");
	rule(f, "BackendDown", m->alert_for, "warning",
	     "server {{ $labels.server }} is down for the load balancer on {{ $labels.host }}",
	     METRIC_LB_SERVER_UP " == 0");
	rule(f, "AllBackendsDown", m->alert_for, "critical",
	     "the load balancer on {{ $labels.host }} has no server up: the site is down",
	     METRIC_LB_SERVERS_UP " == 0");
	rule(f, "HighErrorRate", m->error_rate_for, "critical",
	     "{{ $value | humanizePercentage }} of the responses of the load balancer on "
	     "{{ $labels.host }} are 5xx",
	     "sum by (host) (rate(" METRIC_LB HTTPD_METRIC_REQUESTS "{code=\"5xx\"}[%s])) / sum by "
	     "(host) (rate(" METRIC_LB HTTPD_METRIC_REQUESTS "[%s])) > %g",
	     w, w, ERROR_RATIO);
	rule(f, "CertificateExpiringSoon", 0, "warning",
	     "the certificate {{ $labels.name }} of the load balancer on {{ $labels.host }} ends "
	     "in {{ $value | humanizeDuration }}",
	     METRIC_LB TLS_METRIC_CERT_EXPIRY " - time() < %llu",
	     (unsigned long long)(m->cert_warning / 1000));
	rule(f, "ReplicaLagHigh", m->alert_for, "warning",
	     "replication lag of {{ $value }}s ({{ $labels.job }} on {{ $labels.host }}"
	     "{{ if $labels.server }}, server {{ $labels.server }}{{ end }}), over max_lag",
	     "mysql_slave_status_seconds_behind_master > %g or " METRIC_APP_DB_REPLICA_LAG " > %g",
	     lag, lag);
	if (exporter) {
		rule(f, "DatabaseDown", m->alert_for, "critical",
		     "MariaDB on {{ $labels.host }} does not answer its exporter", "mysql_up == 0");
		rule(f, "ReplicationStopped", m->alert_for, "critical",
		     "the replica on {{ $labels.host }} does not replicate (IO or SQL thread "
		     "stopped)",
		     "mysql_slave_status_slave_io_running == 0 or "
		     "mysql_slave_status_slave_sql_running == 0");
		/* the primary (the writable instance) gave up waiting for a
		 * replica's acknowledgement, or has no replica to wait for (its
		 * status stays ON then, and nothing waits): a write it
		 * acknowledges now may exist on it alone (docs/deploy.md) */
		if (mdb_semi_sync(c))
			rule(f, "SemiSyncOff", m->alert_for, "critical",
			     "the primary on {{ $labels.host }} is asynchronous: no replica is "
			     "connected, or none acknowledged a write within semi_sync_timeout",
			     "(mysql_global_status_rpl_semi_sync_master_status == 0 or "
			     "mysql_global_status_rpl_semi_sync_master_clients == 0) and on (job, "
			     "instance) mysql_global_variables_read_only == 0");
		if (dbs > 1)
			rule(f, "ReplicaDown", m->alert_for, "critical",
			     "no database of the stack reports a replica's status (the replica is "
			     "down, or its exporter)",
			     "absent(mysql_slave_status_slave_io_running)");
	}
	if (m->supervisor[0]) {
		rule(f, "DaemonRestarted", 0, "warning",
		     "the supervisor restarted {{ $labels.daemon }} on {{ $labels.host }}",
		     "increase(" METRIC_SUPERVISOR_RESTARTS "[10m]) > 0");
		rule(f, "DaemonFailed", 0, "critical",
		     "the supervisor gave up on {{ $labels.daemon }} on {{ $labels.host }} (it "
		     "kept crashing)",
		     METRIC_SUPERVISOR_UNIT_FAILED " == 1");
		if (conf_host_with_role(s, ROLE_DB_PRIMARY | ROLE_DB_REPLICA)) {
			rule(f, "DatabaseFailover", 0, "warning",
			     "the database primary was lost and a replica promoted (tristack "
			     "status shows which)",
			     "increase(" METRIC_DB_FAILOVERS "[10m]) > 0");
			rule(
			    f, "DatabaseDiverged", 0, "critical",
			    "the database on {{ $labels.host }} has a history the primary has not: "
			    "fenced until it is rebuilt",
			    METRIC_DB_DIVERGED " == 1");
		}
	}
	if (m->alertmanager[0])
		rule(f, "AlertsNotDelivered", 0, "warning",
		     "Alertmanager on {{ $labels.host }} failed to deliver notifications to "
		     "{{ $labels.integration }}",
		     "increase(alertmanager_notifications_failed_total[10m]) > 0");
	if (s->site.vip[0])
		vip_rules(f, s);
	if (fclose(f) != 0) {
		free(text);
		return NULL;
	}
	return text;
}

/* ---- writing them ---- */

static int write_private(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return -1;
	fchmod(fd, 0600);
	size_t len = strlen(text);
	ssize_t w = write(fd, text, len);
	return close(fd) == 0 && w == (ssize_t)len ? 0 : -1;
}

/* Write to path.tmp, then rename: Prometheus never reads half a file. */
int mon_write_atomic(const char *path, const char *text)
{
	char tmp[4400];
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	FILE *f = fopen(tmp, "w");
	if (f == NULL)
		return -1;
	fputs(text, f);
	if (fclose(f) != 0)
		return -1;
	return rename(tmp, path);
}

static int exporter_logins(struct ctl *c, char *err, size_t errlen)
{
	bool any = false;
	for (unsigned i = 0; i < c->nunits; i++)
		any |= c->units[i].mon == MON_EXPORTER;
	if (!any)
		return 0;
	if (mdb_exporter_user(c, err, errlen) < 0)
		return -1;
	char pw[64], path[4500], text[4800];
	if (mdb_secret(c, "exporter", pw, sizeof(pw)) < 0) {
		snprintf(err, errlen, "cannot read the exporter's password");
		return -1;
	}
	for (unsigned i = 0; i < c->nunits; i++) {
		const struct unit *u = &c->units[i];
		if (u->mon != MON_EXPORTER)
			continue;
		struct mdb_paths p;
		mdb_paths(c, u->host, &p);
		snprintf(path, sizeof(path), "%s/secrets/%s.exporter.cnf", c->state, u->host->name);
		snprintf(text, sizeof(text),
		         "# the MariaDB login of the exporter on %s (made by tristack up)\n"
		         "[client]\nuser = exporter\npassword = %s\nsocket = %s\n",
		         u->host->name, pw, p.socket);
		if (write_private(path, text) < 0) {
			snprintf(err, errlen, "cannot write %s: %s", path, strerror(errno));
			return -1;
		}
	}
	return 0;
}

int mon_prepare(struct ctl *c, char *err, size_t errlen)
{
	if (!c->monitoring)
		return 0;
	char dir[TS_PATH_MAX], config[TS_PATH_MAX + 100], rules[TS_PATH_MAX + 100];
	path_in(c, dir, sizeof(dir), "");
	if (mkdir(dir, 0750) < 0 && errno != EEXIST) {
		snprintf(err, errlen, "cannot make %s: %s", dir, strerror(errno));
		return -1;
	}
	if (exporter_logins(c, err, errlen) < 0 || am_prepare(c, err, errlen) < 0)
		return -1;
	path_in(c, config, sizeof(config), "prometheus.yml");
	path_in(c, rules, sizeof(rules), "rules.yml");
	char *text = mon_rules(c);
	if (text == NULL || mon_write_atomic(rules, text) < 0) {
		free(text);
		snprintf(err, errlen, "cannot write %s: %s", rules, strerror(errno));
		return -1;
	}
	free(text);
	char tmp[4400];
	snprintf(tmp, sizeof(tmp), "%s.tmp", config);
	if (write_config(c, tmp, rules) < 0 || rename(tmp, config) < 0) {
		snprintf(err, errlen, "cannot write %s: %s", config, strerror(errno));
		return -1;
	}
	/* a Prometheus (an Alertmanager) left running by an earlier up reads
	 * them again */
	for (unsigned i = 0; i < c->nunits; i++) {
		struct unit *u = &c->units[i];
		if ((u->mon == MON_PROMETHEUS || u->mon == MON_ALERTMANAGER) && unit_running(u))
			kill(u->pid, SIGHUP);
	}
	return 0;
}

void mon_print(const struct ctl *c)
{
	for (unsigned i = 0; i < c->nunits; i++) {
		const struct unit *u = &c->units[i];
		if (u->mon == MON_ALERTMANAGER)
			am_print(c, u);
		if (u->mon != MON_PROMETHEUS)
			continue;
		char hp[128];
		addr_format(&u->probe, hp, sizeof(hp));
		printf("monitoring: http://%s/ (Prometheus on %s; alerts: /api/v1/alerts)\n", hp,
		       u->host->name);
	}
}

void mon_stop_leftovers(struct ctl *c, unsigned grace_ms)
{
	if (c->monitoring)
		return;
	unsigned n = c->nunits;
	char err[256];
	if (mon_units(c, err, sizeof(err)) == 0) {
		for (unsigned i = c->nunits; i-- > n;) {
			struct unit *u = &c->units[i];
			pid_t pid = unit_running(u);
			if (pid == 0)
				continue;
			supervisor_stop(c); /* or it would start it again */
			if (unit_stop(u, grace_ms) == 0)
				printf("  %-7s %-15s stopped (pid %d; monitoring is off)\n",
				       u->host->name, u->daemon, (int)pid);
			else
				fprintf(stderr, "tristack: %s on %s (pid %d) would not stop\n",
				        u->daemon, u->host->name, (int)pid);
		}
	}
	c->nunits = n;
}
