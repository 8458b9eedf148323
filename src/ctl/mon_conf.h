/* mon_conf.h - the [monitoring] section of the stack file, the CLI's: a
 * Prometheus that scrapes every daemon, with alert rules (mon_conf.c). */
#ifndef TS_MON_CONF_H
#define TS_MON_CONF_H

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
};

/* The section, for the stack file's schema (src/conf); its check finds the
 * hosts it names. */
extern const struct cfg_section mon_conf_section;

/* The host Prometheus runs on: [monitoring] host, else the first host with
 * the mon role, else the [site] www host; NULL in a stack without hosts. */
const struct conf_host *mon_conf_host(const struct conf *s);

#endif
