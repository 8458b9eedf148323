/* ctl.h - tristack, the control CLI: reads the stack file, starts and stops
 * every daemon of every host, reports their state. */
#ifndef TS_CTL_H
#define TS_CTL_H

#include <stdbool.h>
#include <sys/types.h>

#include "core/stack.h"

/* One daemon of one host. */
struct unit {
	const struct stack_host *host;
	const char *daemon; /* "tristack-lb" */
	const char *role;   /* "lb" */
	char pidfile[4200];
	char logfile[4200];
	struct addr probe; /* where it answers */
	enum { PROBE_HTTP, PROBE_DNS, PROBE_DB } probe_kind;
	bool db; /* a MariaDB instance, not one of our daemons */
	const char *probe_path;
	pid_t pid; /* running pid or 0 */
};

struct ctl {
	struct stack stack;
	char conf[4096]; /* absolute path of the stack file */
	char state[4096];
	char bindir[4096];
	char root[4096]; /* the checkout: db/migrations, www */
	struct unit units[64];
	unsigned nunits;
};

/* proc.c */
int ctl_units(struct ctl *c, char *err, size_t errlen);
pid_t unit_running(struct unit *u);
int unit_start(struct ctl *c, struct unit *u, char *err, size_t errlen);
/* SIGTERM, wait up to grace_ms, then SIGKILL. Returns 0 when it is gone. */
int unit_stop(struct unit *u, unsigned grace_ms);

/* db.c */
struct db_paths {
	char datadir[4200], socket[4200], pidfile[4200];
};
void db_paths(const struct ctl *c, const struct stack_host *h, struct db_paths *p);
const struct stack_host *db_primary(const struct ctl *c);
int db_secret(const struct ctl *c, const char *name, char *out, size_t len);
int db_prepare(struct ctl *c, struct unit *u, char *err, size_t errlen);
int db_argv(struct ctl *c, struct unit *u, char *store, size_t storelen, char **argv, unsigned max);
bool db_answers(const struct ctl *c, const struct unit *u, char *why, size_t whylen);
void db_describe(const struct ctl *c, const struct unit *u, char *out, size_t len);
int db_provision(struct ctl *c, char *err, size_t errlen);
int db_promote(struct ctl *c, const char *name, char *err, size_t errlen);

/* certs.c: when [lb] tls_listen is set and no tls_cert, make the local CA
 * and the site's certificates (once; again when they near their end).
 * *renewed: a certificate was (re)made. */
int certs_ensure(struct ctl *c, bool *renewed, char *err, size_t errlen);

/* probe.c: does the unit answer? (one try, short timeouts) */
bool unit_answers(const struct ctl *c, const struct unit *u, char *why, size_t whylen);
/* An HTTP GET of path at a; returns the status or -1. */
int http_get_status(const struct addr *a, const char *host, const char *path, int timeout_ms,
                    char *body, size_t bodylen);

#endif
