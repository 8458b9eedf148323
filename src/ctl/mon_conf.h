/* mon_conf.h - the [monitoring] section of the stack file, the CLI's: a
 * Prometheus that scrapes every daemon, with alert rules (mon_conf.c). */
#ifndef TS_MON_CONF_H
#define TS_MON_CONF_H

#include <stdbool.h>
#include <stdint.h>

#include "core/cfg.h"

struct conf;
struct conf_host;

enum mon_enabled { MON_AUTO, MON_ON, MON_OFF };

struct mon_conf {
	int64_t enabled;          /* enum mon_enabled; auto = on in isolated mode */
	char *host;               /* "" = the first `mon` host, else [site] www */
	char *listen;             /* Prometheus's web listener */
	uint64_t scrape_interval; /* ms */
	uint64_t evaluation_interval;
	uint64_t retention;
	char *mysqld_exporter;   /* on every db host; "" = none */
	char *supervisor;        /* the supervisor's /metrics, on the monitoring host; "" = none */
	uint64_t alert_for;      /* the for: of the state alerts (a target, a server down ...) */
	uint64_t error_rate_for; /* the for: of the 5xx ratio alert */
	uint64_t cert_warning;   /* a certificate ending sooner than this is alerted on */
	/* Alertmanager, beside Prometheus (alertmanager.c) */
	char *alertmanager;            /* its web listener; "" = none */
	char *alert_webhook;           /* http(s) URL that gets every notification; "" = none */
	char *alert_email;             /* address(es), comma-separated; "" = none */
	char *alert_smarthost;         /* host:port of the SMTP server (with alert_email) */
	char *alert_from;              /* "" = tristack@[site] domain */
	char *alert_smtp_user;         /* "" = no SMTP login; its password is a secret */
	uint64_t alert_group_wait;     /* ms: a new group's first notification waits */
	uint64_t alert_group_interval; /* ms: a changed group is notified again after */
	uint64_t alert_repeat;         /* ms: an unchanged firing group is sent again after */
};

/* The section, for the stack file's schema (src/conf); its check finds the
 * hosts it names. */
extern const struct cfg_section mon_conf_section;

/* The host Prometheus runs on: [monitoring] host, else the first host with
 * the mon role, else the [site] www host; NULL in a stack without hosts. */
const struct conf_host *mon_conf_host(const struct conf *s);

/* The checks of the alert_* values (each written into alertmanager.yml as
 * it is): NULL when v is good, else what is wrong with it. A URL is http://
 * or https:// with a host; e-mail addresses are name@domain, many (comma-
 * separated) when many; host:port has a port 1 to 65535. None takes
 * spaces, quotes, backslashes or control characters. */
const char *mon_conf_check_url(const char *v);
const char *mon_conf_check_email(const char *v, bool many);
const char *mon_conf_check_hostport(const char *v);

#endif
