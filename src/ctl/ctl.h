/* ctl.h - tristack, the control CLI: reads the stack file, starts and stops
 * every daemon of every host, reports their state. */
#ifndef TS_CTL_H
#define TS_CTL_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>
#include <time.h>

#include "conf/conf.h"

/* One daemon of one host. */
struct unit {
	const struct conf_host *host;
	const char *daemon; /* "tristack-lb" */
	const char *role;   /* "lb" */
	char pidfile[TS_PATH_MAX];
	char logfile[TS_PATH_MAX];
	struct addr probe; /* where it answers */
	enum { PROBE_HTTP, PROBE_DNS, PROBE_DB, PROBE_VRRP } probe_kind;
	bool db; /* a MariaDB instance, not one of our daemons */
	/* Prometheus, an exporter (monitoring.c makes their arguments) or
	 * Alertmanager (alertmanager.c) */
	enum { MON_NONE, MON_PROMETHEUS, MON_EXPORTER, MON_ALERTMANAGER } mon;
	const char *exe;    /* an outside program's path; NULL: ours, in bindir */
	bool keepalived;    /* keepalived (vrrp.c makes its arguments) */
	const char *subcmd; /* a `tristack SUBCMD [HOST]` of ours: forward, vrrp-check */
	const char *probe_path;
	bool root_ns; /* runs in this machine's namespace, not its host's (forward) */
	pid_t pid;    /* running pid or 0 */
	/* the next start takes the listening sockets of the process behind
	 * this runtime socket (tristack-lb --takeover; upgrade.c) */
	const char *takeover;
};

/* Isolated mode publishes the LB on this machine's 127.0.0.1 (forward.c). */
#define FORWARD_HTTP_PORT  8080
#define FORWARD_HTTPS_PORT 8443
#define FORWARD_ADMIN_PORT 8404

struct ctl {
	struct conf cfg;
	char conf[4096];      /* absolute path of the stack file */
	const char *conf_arg; /* as given with -c */
	char state[4096];
	char bindir[4096];
	char root[4096]; /* the checkout: db/migrations, www */
	struct unit units[64];
	unsigned nunits;
	/* isolated mode: every host a network namespace (netns.c) */
	bool isolated;
	char ns_prefix[16];      /* "ts1a2b-": namespaces are ts1a2b-HOST */
	char subnet[40];         /* "10.0.0.0/24" */
	char client_address[48]; /* the client namespace's */
	char dns_address[48];    /* where resolv.conf points */
	bool monitoring;         /* Prometheus and the exporters are units (mon_on) */
	/* account.c: as root, what is started drops to [site] user */
	bool drop;
	uid_t uid;
	gid_t gid;
	/* folders on the way the account cannot search (a checkout in /root):
	 * the units see each as a tmpfs holding only the subtrees they need */
	struct acct_view {
		char over[4096];
		char keep[4][4096];
		unsigned nkeep;
	} views[4];
	unsigned nviews;
};

/* account.c: the service account (see there). acct_init looks it up (as
 * root: makes it if missing; sets c->drop); acct_drop, in a child before
 * exec, becomes it for good (keeping the capabilities in keep_caps);
 * acct_state gives the state folder's parts to it; acct_give_dir makes a
 * folder of its own; acct_check_reach: can it reach paths[i] with
 * modes[i] (access(2) modes)? -1 with err naming what blocks it.
 * acct_operator: the name of the account running tristack (MariaDB's
 * admin over the socket). */
int acct_init(struct ctl *c, char *err, size_t errlen);
int acct_drop(const struct ctl *c, uint64_t keep_caps);
/* The capabilities a unit keeps (bits 1 << CAP_...): binding :80, and
 * keepalived's (moving an address, VRRP's raw sockets). */
#define ACCT_CAP(cap) (UINT64_C(1) << (cap))
int acct_state(const struct ctl *c, char *err, size_t errlen);
int acct_give_dir(const struct ctl *c, const char *path, char *err, size_t errlen);
int acct_check_reach(const struct ctl *c, const char *const *paths, const int *modes, unsigned n,
                     char *err, size_t errlen);
/* When paths lie below a folder the account cannot search (a checkout in
 * /root, 0700), plan a view in which it can: acct_view_enter, in a child
 * before exec, gives that child a mount namespace of its own where the
 * folder is a tmpfs holding only the subtrees on the way to paths (bind
 * mounts of the real ones: the same files). Nothing on the machine changes
 * mode. */
void acct_plan_view(struct ctl *c, const char *const *paths, unsigned n);
int acct_view_enter(const struct ctl *c);
const char *acct_operator(void);

/* proc.c */
/* A monotonic clock in ms, and a pause. */
uint64_t ctl_now_ms(void);
void ctl_sleep_ms(unsigned ms);
int ctl_units(struct ctl *c, char *err, size_t errlen);
struct unit *unit_new(struct ctl *c, const struct conf_host *host, const char *daemon,
                      const char *role, char *err, size_t errlen);
/* An argv built in one store, each argument formatted after the last; full:
 * it did not fit (argv is NULL-terminated as far as it got). */
struct argv_buf {
	char **argv;
	unsigned n, max;
	char *w, *end;
	bool full;
};
void argv_add(struct argv_buf *b, const char *fmt, ...) TS_PRINTF(2, 3);
pid_t unit_running(struct unit *u);
/* Is pid one of our daemons (its binary named daemon)? Guards against a
 * recycled pid. */
bool is_our_daemon(pid_t pid, const char *daemon);
int write_pidfile(const char *path, pid_t pid);
/* The pid a pid file holds, or 0 (none, unreadable, not a number). */
pid_t read_pidfile(const char *path);
int unit_start(struct ctl *c, struct unit *u, char *err, size_t errlen);
/* fork() with a close-on-exec pipe from the child to the parent (an exec
 * that works closes the child's end): *report is the write end in the child
 * (0 returned), the read end in the parent (the pid returned); each closes
 * its own. -1 with err when there is no pipe or no child. */
pid_t fork_with_report(int *report, char *err, size_t errlen);
/* SIGTERM, wait up to grace_ms, then SIGKILL. Returns 0 when it is gone. */
int unit_stop(struct unit *u, unsigned grace_ms);
int pid_stop(pid_t pid, unsigned grace_ms);
/* Has pid exited (a zombie has)? */
bool pid_gone(pid_t pid);
/* SIGHUP to every running load balancer (both of a pair): each loads the
 * certificates in {state}/tls again, its connections kept (a reload). How
 * many were signalled. */
unsigned units_reload_lbs(struct ctl *c);

/* mariadb.c */
/* What the app's MariaDB account may do, table by table (mariadb.c grants it,
 * bundle.c writes it for install.sh): posts are read and added, never
 * changed or removed; the heartbeat row is replaced (REPLACE: INSERT and
 * DELETE). NULL-terminated. */
struct mdb_grant {
	const char *table, *privileges;
};
extern const struct mdb_grant mdb_app_grants[];
struct mdb_paths {
	char datadir[TS_PATH_MAX], socket[TS_PATH_MAX], pidfile[TS_PATH_MAX];
	char files[TS_PATH_MAX]; /* --secure-file-priv: the only folder FILE may touch */
	char tmp[TS_PATH_MAX];   /* --tmpdir: its own, not a shared /tmp */
};
void mdb_paths(const struct ctl *c, const struct conf_host *h, struct mdb_paths *p);
const struct conf_host *mdb_primary(const struct ctl *c);
int mdb_secret(const struct ctl *c, const char *name, char *out, size_t len);
/* The apps' signing key, {state}/secrets/cookie.key (64 hex digits, the
 * format tristack-app makes when it finds none: src/app/sign.h), made on
 * first use; shipped to every app host of the bundles. */
int mdb_cookie_key(const struct ctl *c, char *out, size_t len);
/* Semi-synchronous replication: [db] semi_sync, in a stack with a replica
 * to acknowledge (a lone instance would wait semi_sync_timeout for none). */
bool mdb_semi_sync(const struct ctl *c);
int mdb_prepare(struct ctl *c, struct unit *u, char *err, size_t errlen);
int mdb_argv(struct ctl *c, struct unit *u, char *store, size_t storelen, char **argv,
             unsigned max);
bool mdb_answers(const struct ctl *c, const struct unit *u, char *why, size_t whylen);
void mdb_describe(const struct ctl *c, const struct unit *u, char *out, size_t len);
int mdb_provision(struct ctl *c, char *err, size_t errlen);
/* What mdb_provision does to each replica: its own accounts hardened
 * (locally), semi-sync as the stack file says, replicating from the primary
 * (CHANGE MASTER ... MASTER_USE_GTID=slave_pos unless it does already),
 * both threads running within 10 s. */
int mdb_provision_replica(struct ctl *c, const struct conf_host *h, char *err, size_t errlen);
/* An account NAME@localhost (the socket only) with the password in
 * {state}/secrets/NAME.password, grants ("PRIVILEGES ON WHAT" each,
 * NULL-terminated) and at most conns sessions at once, made on the primary:
 * replication takes it to the replicas. */
int mdb_socket_account(struct ctl *c, const char *name, const char *const *grants, unsigned conns,
                       char *err, size_t errlen);
/* Run argv as an instance runs (the service account, in its view of the
 * files, TMPDIR an instance's own tmpdir), its output appended to logfile,
 * and wait: 0 when it exited 0. */
int mdb_run(const struct ctl *c, char *const argv[], const char *logfile, const char *tmpdir);
int mdb_promote(struct ctl *c, const char *name, char *err, size_t errlen);

/* certs.c: when [lb] tls_listen is set and no tls_cert, make the local CA
 * and the site's certificates (once; again when they near their end).
 * *renewed: a certificate was (re)made. */
int certs_ensure(struct ctl *c, bool *renewed, char *err, size_t errlen);

/* acme.c: the site's certificates from an ACME CA with certbot ([lb]
 * acme_directory; acme_on: it is set). cmd_certs: `tristack certs renew
 * [--force]`. acme_install: certbot's lineage i (0 ECDSA, 1 RSA) into
 * {state}/tls where the LB loads it (*changed when the file changed):
 * 1 installed (or was), 0 none obtained yet, -1 with err. */
bool acme_on(const struct ctl *c);
int acme_install(struct ctl *c, unsigned i, bool *changed, char *err, size_t errlen);
int cmd_certs(struct ctl *c, int argc, char **argv);

/* tickets.c: the LBs' session-ticket key file ([lb] tls_ticket_keys).
 * tickets_ensure: with auto, make {state}/secrets/tls-ticket.keys (3 fresh
 * keys) when missing, rotate it when older than [lb] tls_ticket_rotate;
 * a path of the operator's own is left alone. cmd_tickets: `tristack
 * tickets rotate`, one rotation of the file the LB reads, now. */
int tickets_ensure(struct ctl *c, char *err, size_t errlen);
int cmd_tickets(struct ctl *c, int argc, char **argv);

/* netns.c: isolated mode. lab_plan checks the stack file's addresses (one
 * private /24) and names the namespaces; lab_up makes them (a switch
 * namespace with a bridge, one per host and a client, no default route,
 * resolv.conf pointing at tristack-dns, the firewall) and guards the subnet
 * in the root namespace; lab_down undoes all of it. */
int lab_plan(struct ctl *c, char *err, size_t errlen);
int lab_up(struct ctl *c, char *err, size_t errlen);
void lab_down(struct ctl *c);
bool lab_is_up(const struct ctl *c);
/* On a lab that is up: each host's firewall rendered and loaded again
 * (lab_firewalls); the namespaces of hosts the file no longer has removed
 * (lab_remove_leftovers). lab_up on a lab that is up makes the namespaces
 * of hosts new to the file and calls lab_firewalls. */
int lab_firewalls(struct ctl *c, char *err, size_t errlen);
void lab_remove_leftovers(struct ctl *c);
/* The namespace of a host ("client" too), into out. */
const char *lab_ns(const struct ctl *c, const char *host, char *out, size_t len);
/* Move this thread into a host's namespace, and back to the original. */
int netns_enter(const struct ctl *c, const char *host);
void netns_leave(void);
/* Run ip/nft (PATH search); -1 with its message in err. */
int run_tool(char *const argv[], char *err, size_t errlen);

/* supervise.c: the process that restarts what dies (see there). */
int supervisor_start(struct ctl *c, char *err, size_t errlen);
int supervisor_stop(const struct ctl *c);
pid_t supervisor_running(const struct ctl *c);
/* What the supervisor says of a unit: "up", "restarting", "failed". */
bool supervisor_report(const struct ctl *c, const struct unit *u, char *state, size_t slen,
                       unsigned *restarts);

/* runtime.c: drain, ready, maint HOST; weight HOST N; servers: the LBs'
 * runtime API, on every LB host (or the one --lb names). */
bool runtime_command(const char *cmd);
int cmd_runtime(struct ctl *c, const char *verb, int argc, char **argv);
/* Send line ("show servers\n") to lb's runtime socket; its answer, up to
 * the empty line, into out. 0, or -1 with why it does not answer. */
int runtime_ask(const struct ctl *c, const struct conf_host *lb, const char *line, char *out,
                size_t outlen, char *err, size_t errlen);
/* One web server as every LB sees it. runtime_server_seen: 0, or -1 with
 * err (an LB does not answer, or has no such server); runtime_server_set:
 * its admin state ("drain", "ready", "maint") on every LB; and
 * runtime_server_wait: until it has no request in flight (idle) or is UP
 * on every LB (!idle), for up to ms (-1 with how it stands then). */
struct runtime_seen {
	bool all_up;     /* every LB's checks say UP */
	unsigned active; /* requests in flight, on all LBs */
	char admin[16];  /* the first LB's READY, DRAIN or MAINT */
};
int runtime_server_seen(const struct ctl *c, const char *name, struct runtime_seen *s, char *err,
                        size_t errlen);
int runtime_server_set(const struct ctl *c, const char *name, const char *state, char *err,
                       size_t errlen);
int runtime_server_wait(const struct ctl *c, const char *name, bool idle, unsigned ms, char *err,
                        size_t errlen);
/* runtime_server_wait, idle, on one LB only: a server it does not have is
 * idle. */
int runtime_server_wait_on(const struct ctl *c, const struct conf_host *lb, const char *name,
                           unsigned ms, struct runtime_seen *s, char *err, size_t errlen);

/* reconcile.c: a running stack made what the stack file says (see there).
 * A leftover is a running daemon whose pid file names a host or role the
 * file no longer has. reconcile_drain_leftovers drains on each running LB
 * the servers it has and the file's [lb] no longer has, each until idle; reconcile_reload sends
 * SIGHUP to each running daemon of ours (those only[i] marks, or all) and waits for its log to say
 * it reloaded (with drained: and that its old generation drained); reconcile_stop_leftovers stops
 * the leftovers by pid (and their namespaces in isolated mode). 0, or -1 with what failed on
 * stderr. cmd_reload: `tristack reload`. */
unsigned reconcile_leftovers(struct ctl *c);
/* -1 (said) when a leftover is the running primary's database: stopping
 * it would lose the writes only it has. */
int reconcile_check_leftovers(struct ctl *c);
int reconcile_drain_leftovers(struct ctl *c);
int reconcile_reload(struct ctl *c, const bool *only, bool drained);
int reconcile_stop_leftovers(struct ctl *c);
int cmd_reload(struct ctl *c, int argc, char **argv);

/* status.c: `tristack status [--json]`; exit 3 when a unit is not running. */
int cmd_status(struct ctl *c, int argc, char **argv);

/* upgrade.c: `tristack upgrade`: every daemon of ours replaced by the
 * binaries in bindir, one host at a time, the LBs' listening sockets
 * handed over (docs/operations.md, "Upgrading"). */
int cmd_upgrade(struct ctl *c, int argc, char **argv);

/* main.c: as root, the account the units run as, the state folder's parts
 * given to it, and what it must read checked (up, poweron). */
int ctl_prepare_account(struct ctl *c, char *err, size_t errlen);

/* power.c: tristack poweroff HOST / poweron HOST (isolated mode): a host
 * cut as by a power failure (every process of it killed at once, its link
 * down, the supervisor told to leave it down: host_is_off), and brought
 * back as a rebooted one (no address keepalived had put there, link up,
 * its daemons started). */
bool host_is_off(const struct ctl *c, const struct conf_host *h);
int cmd_poweroff(struct ctl *c, int argc, char **argv);
/* up: every host on again (a mark and a link down an earlier poweroff left) */
void power_reset(struct ctl *c);
int cmd_poweron(struct ctl *c, int argc, char **argv);

/* firewall.c: the host's nftables script (host NULL: the client). */
int fw_render(const struct ctl *c, const struct conf_host *h, char *out, size_t len);

/* probe.c: does the unit answer? (one try, short timeouts) */
bool unit_answers(const struct ctl *c, const struct unit *u, char *why, size_t whylen);
/* An HTTP GET of path at a; returns the status or -1. */
int http_get_status(const struct addr *a, const char *host, const char *path, int timeout_ms,
                    char *body, size_t bodylen);
/* The sum of every series of a Prometheus counter at http://a/path, or -1. */
double metric_total(const struct addr *a, const char *host, const char *path, const char *name);

/* monitoring.c: Prometheus, its configuration and alert rules, the MariaDB
 * exporters. mon_on: [monitoring] enabled, or auto and the stack is (or is
 * planned as) isolated. */
bool mon_on(const struct ctl *c);
/* The monitoring units (prometheus on the monitoring host, an exporter on
 * every db host), appended to c->units. */
int mon_units(struct ctl *c, char *err, size_t errlen);
int mon_argv(const struct ctl *c, const struct unit *u, char *store, size_t storelen, char **argv,
             unsigned max);
/* Write {state}/monitoring/ (prometheus.yml, rules.yml, the exporters'
 * login in secrets/), and make a running Prometheus read them again. */
int mon_prepare(struct ctl *c, char *err, size_t errlen);
/* The rules file's text for this stack (tests, `up`), into a malloc'd string. */
char *mon_rules(const struct ctl *c);
/* With monitoring off: stop the monitoring units an earlier `up` (with it
 * on) left running, and the supervisor first if there are any. */
void mon_stop_leftovers(struct ctl *c, unsigned grace_ms);
void mon_print(const struct ctl *c);
/* A duration as Prometheus and Alertmanager write it: 10s, 1m, 14d, 500ms. */
const char *mon_duration(uint64_t ms, char *out, size_t len);
/* Write text to path.tmp, then rename it to path: a reader never sees half
 * a file. */
int mon_write_atomic(const char *path, const char *text);

/* alertmanager.c: Alertmanager beside Prometheus, on the monitoring host,
 * when [monitoring] alertmanager is set. am_unit adds its unit; am_argv its
 * arguments; am_address where it listens (-1: none); am_config the text of
 * alertmanager.yml (NULL: out of memory; the caller frees); am_prepare
 * writes it and checks the SMTP password's file; am_print says where it
 * is and where its notifications go. */
int am_unit(struct ctl *c, const struct conf_host *h, char *err, size_t errlen);
int am_argv(const struct ctl *c, const struct unit *u, struct argv_buf *b);
int am_address(const struct ctl *c, struct addr *a);
char *am_config(const struct ctl *c);
int am_prepare(struct ctl *c, char *err, size_t errlen);
void am_print(const struct ctl *c, const struct unit *u);

/* mariadb.c, for failover.c: an admin session over the socket, a statement,
 * one value, one field of SHOW SLAVE STATUS, {state}/db/primary written. */
typedef struct st_mysql MYSQL;
MYSQL *mdb_admin(const struct ctl *c, const struct conf_host *h, char *err, size_t errlen);
int mdb_sql(MYSQL *m, char *err, size_t errlen, const char *q);
/* mdb_grants.c: the app account at from (a host pattern) given exactly
 * mdb_app_grants in schema, without a moment of fewer: what it lacks is
 * granted first, then each privilege beyond (table, schema, global,
 * column, grant option) revoked. 0, or -1 with err. */
int mdb_app_grants_apply(MYSQL *m, const char *schema, const char *from, char *err, size_t errlen);
char *mdb_value(MYSQL *m, const char *q, char *out, size_t len);
char *mdb_slave_field(MYSQL *m, const char *field, char *out, size_t len);
int mdb_set_primary(const struct ctl *c, const char *name);

/* failover.c: the automatic failover of the database primary, one round
 * per call of failover_tick from the supervisor's loop, or from a server's
 * `tristack failover-monitor HOST` (failover_servers.c); failover.h says
 * what differs between the two. */
struct fo_way;
struct failover {
	const struct fo_way *way; /* how it reaches an instance; NULL: the lab's */
	uint64_t next;            /* when to look again */
	uint64_t down_since;      /* the primary's probe failing since (0: it answers) */
	bool said;                /* the reason it does not act was logged */
	bool said_ro;             /* why the read-only primary stays so was logged */
	bool semi_sync;           /* the primary's semi-sync was on at its last answer */
	bool semi_known;          /* semi_sync was read once ({state}/db/primary.semi-sync) */
};
void failover_tick(struct ctl *c, struct failover *fo);
void failover_diverged_path(const struct ctl *c, const struct conf_host *h, char *out, size_t len);
/* {state}/db/HOST.fenced; failover_fence closes (on) or opens HOST's
 * database port at its firewall (isolated mode) and sets or clears that
 * mark. 0, or -1 when nft failed. */
void failover_fenced_path(const struct ctl *c, const struct conf_host *h, char *out, size_t len);
int failover_fence(struct ctl *c, const struct conf_host *h, bool on);
/* HOST was fenced while its semi-sync was off (or not known on): a write
 * it acknowledged may be on it alone, so its restart must keep what it
 * has, and a divergence is marked, never cut away (mdb_argv). */
bool failover_fenced_async(const struct ctl *c, const struct conf_host *h);
/* status's line: the primary, whether failover is on, the last one. */
void failover_describe(const struct ctl *c, char *out, size_t len);
/* its series on the supervisor's /metrics: failovers, diverged hosts */
void failover_metrics(const struct ctl *c, FILE *f);
/* On servers (docs/deploy.md): the monitor, on the monitoring host
 * (failover_servers.c), and the guard beside each instance (db_guard.c). */
int cmd_failover_monitor(struct ctl *c, int argc, char **argv);
int cmd_db_guard(struct ctl *c, int argc, char **argv);

/* mariadb.c: the exporter's MariaDB account (on the primary; replication takes
 * it to the others), with the password in {state}/secrets/exporter.password. */
int mdb_exporter_user(struct ctl *c, char *err, size_t errlen);

/* supervisor_metrics.c: the supervisor's /metrics listener. supervisor_metrics_listen makes the
 * listening socket (in the monitoring host's namespace in isolated mode):
 * -1 with err, or the fd (-2: none configured). supervisor_metrics_serve serves it for
 * up to ms and returns; render makes the body of GET /metrics. */
int supervisor_metrics_listen(const struct ctl *c, char *err, size_t errlen);
void supervisor_metrics_serve(int lfd, unsigned ms, char *(*render)(void *arg), void *arg);

/* vrrp.c: the floating address ([site] vip): keepalived and its agent
 * (`tristack vrrp-check HOST`) on every LB host. vrrp_on: the stack has a
 * vip (and an LB host); vrrp_units adds both as units of each LB host in
 * isolated mode; vrrp_prepare writes keepalived's configuration into
 * {state}/keepalived/ (root's); vrrp_render makes one host's (p: where its
 * files are: the lab's, vrrp_lab_paths, or a bundle's). The agent's and
 * keepalived's own files are in {state}/vrrp/ (the account's). vrrp_read_state reads what the agent
 * last wrote; vrrp_holds: is the address on h's interface now (isolated mode); vrrp_describe:
 * status's health of a vrrp unit. */
struct vrrp_paths {
	char dir[TS_PATH_MAX], conf[TS_PATH_MAX], check[TS_PATH_MAX], fifo[TS_PATH_MAX],
	    state[TS_PATH_MAX], pid[TS_PATH_MAX], vrrp_pid[TS_PATH_MAX];
};
struct vrrp_state {
	char state[16]; /* MASTER, BACKUP, FAULT, starting */
	unsigned long transitions;
	time_t since;
	char lb[8]; /* ok, down */
};
bool vrrp_on(const struct ctl *c);
void vrrp_paths(const char *dir, const char *conf_dir, const char *host, struct vrrp_paths *p);
void vrrp_lab_paths(const struct ctl *c, const struct conf_host *h, struct vrrp_paths *p);
int vrrp_render(const struct conf *s, const struct conf_host *h, const struct vrrp_paths *p,
                char *out, size_t len);
int vrrp_units(struct ctl *c, char *err, size_t errlen);
int vrrp_argv(struct ctl *c, struct unit *u, char *store, size_t storelen, char **argv,
              unsigned max);
int vrrp_prepare(struct ctl *c, char *err, size_t errlen);
int vrrp_read_state(const struct ctl *c, const struct conf_host *h, struct vrrp_state *st);
bool vrrp_holds(const struct ctl *c, const struct conf_host *h);
bool vrrp_describe(const struct ctl *c, const struct unit *u, char *out, size_t len);
int cmd_vrrp_check(struct ctl *c, int argc, char **argv);

/* rebuild.c: tristack rebuild HOST, a replica made again from a copy of
 * the primary (mariabackup). rebuild_running: a rebuild of h is at work
 * ({state}/db/HOST.rebuilding): the supervisor leaves h's mariadbd alone. */
int cmd_rebuild(struct ctl *c, int argc, char **argv);
bool rebuild_running(const struct ctl *c, const struct conf_host *h);

/* bundle.c: tristack bundle HOST [-o FILE], one host's tarball for a real server. */
int cmd_bundle(struct ctl *c, int argc, char **argv);
int cmd_forward(struct ctl *c);

#endif
