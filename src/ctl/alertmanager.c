/* alertmanager.c - alerts that reach someone: Debian's Alertmanager
 * (prometheus-alertmanager) beside Prometheus on the monitoring host.
 *
 * Prometheus evaluates the rules (monitoring.c) and sends what fires to
 * Alertmanager (prometheus.yml's `alerting:`); Alertmanager groups the
 * alerts, waits, and notifies the receivers of the stack file: an HTTP
 * webhook ([monitoring] alert_webhook), e-mail through an SMTP server
 * (alert_email, alert_smarthost), or both, and tells them again when an
 * alert resolves. With neither, it runs with a receiver that sends nothing
 * (the alerts are on its API and amtool's, silences work), so that adding
 * one later is an `up` away, not a new unit.
 *
 * Like Prometheus it is a unit (proc.c starts it, as the service account;
 * the supervisor restarts it), its files made by `up` every time:
 *
 *   {state}/monitoring/alertmanager.yml   the route and the receivers
 *   {state}/monitoring/alertmanager/      its silences and notification log
 *   {state}/secrets/alert-smtp.password   the SMTP login's password, put
 *                                         there by the operator (0600)
 *
 * One Alertmanager, so no cluster: gossip is off (--cluster.listen-address
 * empty), and nothing listens but its web port.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "conf/names.h"
#include "ctl.h"

#define ALERTMANAGER "/usr/bin/prometheus-alertmanager"
#define AM_CONFIG    "alertmanager.yml"
#define AM_STORAGE   "alertmanager"

int am_address(const struct ctl *c, struct addr *a)
{
	const struct conf *s = &c->cfg;
	const struct conf_host *h = mon_conf_host(s);
	char e[256];
	if (h == NULL || s->monitoring.alertmanager[0] == '\0')
		return -1;
	return conf_resolve_addr(s, s->monitoring.alertmanager, h, a, e, sizeof(e));
}

int am_unit(struct ctl *c, const struct conf_host *h, char *err, size_t errlen)
{
	const struct conf *s = &c->cfg;
	if (s->monitoring.alertmanager[0] == '\0')
		return 0;
	struct unit *u = unit_new(c, h, "alertmanager", "alertmanager", err, errlen);
	if (u == NULL)
		return -1;
	u->mon = MON_ALERTMANAGER;
	u->exe = ALERTMANAGER;
	u->probe_kind = PROBE_HTTP;
	u->probe_path = "/-/ready";
	char e[256];
	if (conf_resolve_addr(s, s->monitoring.alertmanager, h, &u->probe, e, sizeof(e)) < 0) {
		snprintf(err, errlen, "[monitoring] alertmanager: %s", e);
		return -1;
	}
	return 0;
}

int am_argv(const struct ctl *c, const struct unit *u, struct argv_buf *b)
{
	char hp[128];
	addr_format(&u->probe, hp, sizeof(hp));
	argv_add(b, "%s", u->exe);
	argv_add(b, "--config.file=%s/monitoring/" AM_CONFIG, c->state);
	argv_add(b, "--storage.path=%s/monitoring/" AM_STORAGE, c->state);
	argv_add(b, "--web.listen-address=%s", hp);
	/* the links in its notifications lead to it, not to the machine's name */
	argv_add(b, "--web.external-url=http://%s/", hp);
	argv_add(b, "--cluster.listen-address="); /* one instance: no gossip port */
	return b->full ? -1 : 0;
}

/* The receiver: the webhook and the e-mail the stack file names. */
static void receiver(FILE *f, const struct ctl *c)
{
	const struct mon_conf *m = &c->cfg.monitoring;
	if (m->alert_webhook[0] == '\0' && m->alert_email[0] == '\0') {
		fprintf(f, "  - name: nowhere # no alert_webhook, no alert_email: none is sent\n");
		return;
	}
	fprintf(f, "  - name: stack\n");
	if (m->alert_webhook[0])
		fprintf(f,
		        "    webhook_configs:\n"
		        "      - url: '%s'\n"
		        "        send_resolved: true\n",
		        m->alert_webhook);
	if (m->alert_email[0]) {
		fprintf(f,
		        "    email_configs:\n"
		        "      - to: '%s'\n"
		        "        smarthost: '%s'\n",
		        m->alert_email, m->alert_smarthost);
		if (m->alert_from[0])
			fprintf(f, "        from: '%s'\n", m->alert_from);
		else
			fprintf(f, "        from: 'tristack@%s'\n", c->cfg.site.domain);
		if (m->alert_smtp_user[0])
			fprintf(f,
			        "        auth_username: '%s'\n"
			        "        auth_password_file: '%s/" STATE_SECRETS
			        "/" SECRET_ALERT_SMTP_PASSWORD "'\n",
			        m->alert_smtp_user, c->state);
		fprintf(f, "        send_resolved: true\n");
	}
}

char *am_config(const struct ctl *c)
{
	const struct mon_conf *m = &c->cfg.monitoring;
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	if (f == NULL)
		return NULL;
	char gw[32], gi[32], ri[32];
	bool any = m->alert_webhook[0] || m->alert_email[0];
	/* one notification per alert name and host: the firing alerts of one
	 * kind on one host (BackendDown for two servers of lb-01) come together */
	fprintf(f,
	        "# Alertmanager of the stack %s: made by `tristack up` from the stack file\n"
	        "# ([monitoring] alert_*); see docs/monitoring.md. Edits are lost.\n"
	        "route:\n"
	        "  receiver: %s\n"
	        "  group_by: ['alertname', 'host']\n"
	        "  group_wait: %s\n"
	        "  group_interval: %s\n"
	        "  repeat_interval: %s\n"
	        "receivers:\n",
	        c->conf, any ? "stack" : "nowhere",
	        mon_duration(m->alert_group_wait, gw, sizeof(gw)),
	        mon_duration(m->alert_group_interval, gi, sizeof(gi)),
	        mon_duration(m->alert_repeat, ri, sizeof(ri)));
	receiver(f, c);
	if (fclose(f) != 0) {
		free(text);
		return NULL;
	}
	return text;
}

/* The SMTP login's password: the operator's file, made private if it was
 * not. Without it Alertmanager would start and fail at the first e-mail:
 * up says so now instead. */
static int smtp_password(const struct ctl *c, char *err, size_t errlen)
{
	char path[TS_PATH_MAX + 64];
	snprintf(path, sizeof(path), "%s/" STATE_SECRETS "/" SECRET_ALERT_SMTP_PASSWORD, c->state);
	struct stat st;
	if (stat(path, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size == 0) {
		snprintf(err, errlen,
		         "[monitoring] alert_smtp_user is set: put its password in %s (mode 0600)",
		         path);
		return -1;
	}
	if ((st.st_mode & 0077) && chmod(path, 0600) < 0) {
		snprintf(err, errlen, "cannot make %s private: %s", path, strerror(errno));
		return -1;
	}
	return 0;
}

int am_prepare(struct ctl *c, char *err, size_t errlen)
{
	bool any = false;
	for (unsigned i = 0; i < c->nunits; i++)
		any |= c->units[i].mon == MON_ALERTMANAGER;
	if (!any)
		return 0;
	const struct mon_conf *m = &c->cfg.monitoring;
	if (m->alert_email[0] && m->alert_smtp_user[0] && smtp_password(c, err, errlen) < 0)
		return -1;
	char path[TS_PATH_MAX + 64];
	snprintf(path, sizeof(path), "%s/monitoring/" AM_CONFIG, c->state);
	char *text = am_config(c);
	if (text == NULL || mon_write_atomic(path, text) < 0) {
		snprintf(err, errlen, "cannot write %s: %s", path, strerror(errno));
		free(text);
		return -1;
	}
	free(text);
	return 0;
}

void am_print(const struct ctl *c, const struct unit *u)
{
	const struct mon_conf *m = &c->cfg.monitoring;
	char hp[128];
	addr_format(&u->probe, hp, sizeof(hp));
	/* not the webhook's URL: a chat's webhook carries its token */
	printf("alerts: http://%s/ (Alertmanager on %s; to: %s%s%s%s)\n", hp, u->host->name,
	       m->alert_webhook[0] ? "the webhook" : "",
	       m->alert_webhook[0] && m->alert_email[0] ? ", " : "", m->alert_email,
	       m->alert_webhook[0] || m->alert_email[0]
	           ? ""
	           : "nowhere: no alert_webhook or alert_email");
}
