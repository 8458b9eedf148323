/* names.h - names more than one binary uses: one side makes the thing, the
 * other finds it by name. A metric's name is a contract with whoever
 * scrapes it (the LB's monitor, `tristack status`, the alert rules tristack
 * writes for Prometheus); a file's name in the state folder one between
 * tristack, which makes it, and the daemon that reads it. Each is spelled
 * here once; string literals join them ("tristack_lb" "_server_up").
 */
#ifndef TS_CONF_NAMES_H
#define TS_CONF_NAMES_H

#include "core/httpd.h"
#include "core/tls.h"

/* ---- metrics ---- */

/* Each daemon's prefix: its name with '_' for '-' (as daemon.c makes it). */
#define METRIC_LB  "tristack_lb"
#define METRIC_WEB "tristack_web"
#define METRIC_APP "tristack_app"
#define METRIC_DNS "tristack_dns"

/* After a prefix: the DNS server's queries (dns/stats.c). Core's own
 * suffixes are its: HTTPD_METRIC_REQUESTS (core/httpd.h), an HTTP front
 * end's requests by status class, and TLS_METRIC_CERT_EXPIRY (core/tls.h),
 * a certificate's notAfter. */
#define METRIC_QUERIES "_queries_total"

/* The LB's servers (lb/stats.c), read by the alert rules. */
#define METRIC_LB_SERVER_UP  METRIC_LB "_server_up"
#define METRIC_LB_SERVERS_UP METRIC_LB "_servers_up"
/* ...and their admin states (the runtime API's), which `tristack servers`
 * may be asked beside: tristack_lb_server_admin_state{server,state} 1 */
#define METRIC_LB_SERVER_ADMIN_STATE METRIC_LB "_server_admin_state"

/* The floating address on each LB host (lb/vip.c), read by the alert
 * rules: who holds it, and how often it moved. */
#define METRIC_LB_VIP_HELD        METRIC_LB "_vip_held"
#define METRIC_LB_VIP_TRANSITIONS METRIC_LB "_vip_transitions_total"

/* Each database as the app sees it (app/db.c), read by the LB's monitor and
 * the alert rules. */
#define METRIC_APP_DB_UP          METRIC_APP "_db_up"
#define METRIC_APP_DB_REPLICA_LAG METRIC_APP "_db_replica_lag_seconds"

/* The supervisor's (ctl/supervise.c), read by the alert rules. */
#define METRIC_SUPERVISOR_RESTARTS    "tristack_supervisor_restarts_total"
#define METRIC_SUPERVISOR_UNIT_UP     "tristack_supervisor_unit_up"
#define METRIC_SUPERVISOR_UNIT_FAILED "tristack_supervisor_unit_failed"
/* the failover monitor's, on the supervisor's /metrics (src/ctl/failover.c) */
#define METRIC_DB_FAILOVERS "tristack_db_failovers_total"
#define METRIC_DB_DIVERGED  "tristack_db_diverged"

/* ---- the state folder ---- */

/* Pid files, sockets and the like: the account's folder (0750). */
#define STATE_RUN "run"
/* The LB's runtime API (src/lb/runtime.c), which `tristack drain` and its
 * kin reach (src/ctl/runtime.c): {state}/run/HOST.lb.sock; and the
 * servers' admin states the LB keeps across restarts (src/lb/admin.c),
 * {state}/run/HOST.lb.servers. */
#define STATE_LB_SOCKET_SUFFIX ".lb.sock"
#define STATE_LB_SAVED_SUFFIX  ".lb.servers"

/* Secrets tristack makes (0600) and the daemons read: the app's database
 * password and its cookie signing key, in {state}/secrets/. */
#define STATE_SECRETS "secrets"
/* the LB pair (src/ctl/vrrp.c): keepalived's configuration (root's), its
 * and the agent's files (the account's); power.c's marks of hosts cut off */
#define STATE_KEEPALIVED "keepalived"
#define STATE_VRRP       "vrrp"
#define STATE_POWER      "power"
/* the failover monitor keeps off while it exists: `tristack promote` at
 * work, or `tristack rebuild` starting the rebuilt instance */
#define STATE_DB_PROMOTING "db/promoting"
/* tristack makes one password a MariaDB account: {state}/secrets/NAME.password */
#define SECRET_PASSWORD_SUFFIX ".password"
#define SECRET_APP_PASSWORD    "app" SECRET_PASSWORD_SUFFIX
#define SECRET_COOKIE_KEY      "cookie.key"
/* The LBs' session-ticket keys (core/tls_keys.h), which `tristack up` makes
 * and rotates and tristack-lb reads ([lb] tls_ticket_keys = auto). */
#define SECRET_TLS_TICKET_KEYS "tls-ticket.keys"
/* ACME (src/ctl/acme.c, src/lb/acme.c): certbot's webroot, where its
 * webroot plugin leaves each HTTP-01 challenge's key authorization and the
 * LB reads it, {state}/acme/.well-known/acme-challenge/TOKEN; certbot's own
 * folder (its ACME account key, the certificates it obtained, their keys),
 * {state}/secrets/acme. */
#define STATE_ACME            "acme"
#define STATE_ACME_CHALLENGES STATE_ACME "/.well-known/acme-challenge"
#define SECRET_ACME           "acme"
/* Alertmanager (src/ctl/alertmanager.c): the SMTP login's password, which
 * the operator puts there ([monitoring] alert_smtp_user; never in the
 * stack file) and Alertmanager reads (auth_password_file). */
#define SECRET_ALERT_SMTP_PASSWORD "alert-smtp" SECRET_PASSWORD_SUFFIX

#endif
