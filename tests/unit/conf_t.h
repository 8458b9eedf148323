/* conf_t.h - what the stack-file unit tests share: a file name for the
 * messages, three hosts the rows rely on, a load that clears err, and the
 * checks of errors and of the printed form that several files use. */
#ifndef TS_TEST_CONF_T_H
#define TS_TEST_CONF_T_H

#include <stddef.h>
#include <string.h>

#include "conf/conf.h"

#define NAME "t.conf"

/* Three hosts whose names and addresses the rows below rely on. */
#define HOSTS                                                                                      \
	"[site]\nwww = lb-01\n"                                                                    \
	"[host lb-01]\naddress = 10.0.0.1\nroles = lb, dns\n"                                      \
	"[host web-01]\naddress = 10.0.0.2\nroles = web, app, db-primary\n"                        \
	"[host web-02]\naddress = 10.0.0.3\nroles = web, app, db-replica\n"
#define HOSTS_LINES 11

static inline int load(struct conf *s, const char *text, char *err, size_t errlen)
{
	err[0] = '\0';
	return conf_load_string(s, NAME, text, err, errlen);
}

static inline int same_str(const char *a, const char *b)
{
	return a == b || (a && b && strcmp(a, b) == 0);
}

/* Everything conf_free leaves: all zero. */
static inline int conf_is_zero(const struct conf *s)
{
	static const struct conf zero;
	return memcmp(s, &zero, sizeof(zero)) == 0;
}

/* A file that must not load, and what its message must (and must not) say:
 * NAME:line: and the wanted words (test_conf.c). */
struct err_row {
	const char *what;
	const char *text;
	int line; /* 0: the message has no line ("t.conf: ...") */
	const char *want, *want2;
	const char *not_want;
};
void check_error(const struct err_row *r);

/* conf_print's output as a string; a configuration printed, loaded again
 * and compared key by key (test_conf_print.c). */
char *print_to_string(const struct conf *s);
void check_round_trip(const struct conf *s);

#endif
