/* bundle.h - what the parts of `tristack bundle` share (bundle.c: the
 * staging folder, the units, the firewall, TLS, packing and the command;
 * bundle_mariadb.c: mariadb/; bundle_failover.c and bundle_acme.c: the
 * failover agents' and the certificates' renewal units; bundle_install.c:
 * install.sh and README). */
#ifndef TS_CTL_BUNDLE_H
#define TS_CTL_BUNDLE_H

#include <limits.h>
#include <stdio.h>
#include <sys/types.h>

#include "ctl.h"

/* Where install.sh puts things on the server. */
#define T_BIN   "/usr/local/bin"
#define T_CONF  "/etc/tristack/foobar.conf"
#define T_STATE "/var/lib/tristack"
#define T_SHARE "/usr/local/share/tristack" /* the daemons' working directory */

#define FW_MAX (64 * 1024)

/* The daemons a host may run, in start order (as proc.c's). */
struct bundle_role {
	unsigned role;
	const char *name, *daemon, *what;
};
extern const struct bundle_role bundle_roles[4];

/* A file made in memory (open_memstream), then put as top/rel. */
struct bundle_out {
	FILE *f;
	char *text;
	size_t len;
};

struct bundle {
	struct ctl *c;
	const struct conf_host *h;
	const struct conf_host *primary; /* NULL: the stack has no database */
	char stage[4096];                /* the temporary folder */
	char top[TS_PATH_MAX];           /* stage/tristack-HOST */
	char cwd[PATH_MAX];
	char err[1024];
	bool local_tls; /* tls/ holds the local CA's certificates */
	/* shell words for install.sh, each single-quoted */
	struct bundle_out packages, checks, operator_files, tls_cert_files;
};

/* Says what went wrong in b->err; returns -1. */
int bundle_fail(struct bundle *b, const char *f, ...) TS_PRINTF(2, 3);
bool bundle_is_db(const struct conf_host *h);
/* 'text' for sh (a ' becomes '\''), and " 'text'", a word of a list. */
void bundle_sh_quote(FILE *f, const char *s);
void bundle_sh_word(FILE *f, const char *s);
/* The folder top/path and those above it (mkdir -p). */
int bundle_mkdirs(struct bundle *b, const char *path);
/* Write len bytes as top/rel with mode (exactly: the umask does not count). */
int bundle_put_file(struct bundle *b, const char *rel, mode_t mode, const char *text, size_t len);
/* o->f, or NULL (out of memory: b->err says so). */
FILE *bundle_out_open(struct bundle *b, struct bundle_out *o);
/* Close o and write its text as top/rel with mode; frees the text. */
int bundle_out_put(struct bundle *b, struct bundle_out *o, const char *rel, mode_t mode);
/* A whole file (binaries too: NUL bytes and all), in *text (NUL-ended). */
int bundle_read_all(struct bundle *b, const char *path, char **text, size_t *len);
int bundle_copy_file(struct bundle *b, const char *src, const char *rel, mode_t mode);

/* Does the daemon of role listen below 1024 (its unit keeps
 * CAP_NET_BIND_SERVICE)? */
bool bundle_low_port(const struct bundle *b, unsigned role);
/* The sandbox every unit has; rw: the folder it may write (NULL: none);
 * wanted_by: the target of its [Install] (NULL: none, a timer starts it). */
void bundle_unit_sandbox(FILE *f, const char *rw, const char *wanted_by);

/* bundle_mariadb.c: mariadb/ on db hosts. */
int bundle_put_database(struct bundle *b);

/* bundle_failover.c: with [db] auto_failover, the failover monitor's unit
 * and secrets on the monitoring host, the db-guard's unit on each db host;
 * bundle_failover_units: their names, words for install.sh's UNITS. */
bool bundle_failover_on(const struct bundle *b);
int bundle_put_failover(struct bundle *b);
void bundle_failover_units(const struct bundle *b, FILE *f);

/* bundle_acme.c: with [lb] acme_directory, on an LB host that can renew
 * (tls_listen, no tls_cert), tristack-certs-renew.service and .timer;
 * bundle_acme_timers: their name, a word for install.sh's TIMERS. */
bool bundle_acme_on(const struct bundle *b);
int bundle_put_acme(struct bundle *b);
void bundle_acme_timers(const struct bundle *b, FILE *f);

/* bundle_install.c: the host's roles as text ("lb, dns"); install.sh; README. */
void bundle_roles_text(const struct conf_host *h, char *out, size_t len, const char *sep);
int bundle_put_install(struct bundle *b);
int bundle_put_readme(struct bundle *b);

#endif
