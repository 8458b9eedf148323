/* command.h - one line of the LB's runtime API (runtime.c), parsed. A pure
 * function over bytes, unit-tested (tests/unit/test_lb_command.c) and
 * fuzzed (tests/fuzz/fuzz_lb_command.c); it knows no server, only words.
 *
 *   help
 *   show servers
 *   set server NAME state ready|drain|maint
 *   set server NAME weight N          (0..LB_WEIGHT_MAX, as weight= in the file)
 *   handover listeners                a successor asks for the listening sockets
 *   handover done                     it serves: stop (core/handover.h)
 *   quit
 *
 * Words are separated by spaces or tabs; the line comes without its "\n"
 * (a "\r" before it is the caller's to drop). Anything but printable ASCII,
 * a line longer than LB_COMMAND_MAX_LINE, a word too many or too few is
 * refused with a message.
 *
 * The saved state ({state}/run/HOST.lb.servers, admin.c) is one line per
 * server in the same words: "NAME STATE WEIGHT CONFIG_WEIGHT".
 */
#ifndef TS_LB_COMMAND_H
#define TS_LB_COMMAND_H

#include <stdbool.h>
#include <stddef.h>

#include "core/common.h"
#include "lb_conf.h" /* LB_WEIGHT_MAX */

#define LB_COMMAND_MAX_LINE 512
#define LB_NAME_MAX         255 /* a server's name as written in [lb] server */

/* A server's admin state, as HAProxy's: READY takes requests; DRAIN takes
 * no new ones (those in flight finish, checks go on); MAINT takes none and
 * is not checked. */
enum lb_admin { LB_ADMIN_READY, LB_ADMIN_DRAIN, LB_ADMIN_MAINT, LB_ADMIN_COUNT };

enum lb_command_kind {
	LB_CMD_HELP,
	LB_CMD_SHOW_SERVERS,
	LB_CMD_SET_STATE,
	LB_CMD_SET_WEIGHT,
	LB_CMD_QUIT,
	LB_CMD_HANDOVER,      /* send the listening sockets */
	LB_CMD_HANDOVER_DONE, /* the successor serves: stop */
};

struct lb_command {
	enum lb_command_kind kind;
	struct str server;   /* SET_*: into the line */
	enum lb_admin state; /* SET_STATE */
	unsigned weight;     /* SET_WEIGHT */
};

/* Parse line[0..len): 0 with cmd set, or -1 with a message for the client
 * in err (always NUL-terminated, no newline). */
int lb_command_parse(const char *line, size_t len, struct lb_command *cmd, char *err,
                     size_t errlen);

/* One line of the saved state: 0 with the server's name, state, weight
 * and the weight the stack file gave it then; -1 when it is not one. */
struct lb_saved {
	struct str server;
	enum lb_admin state;
	unsigned weight, config_weight;
};
int lb_command_parse_saved(const char *line, size_t len, struct lb_saved *out);

/* "READY", "DRAIN", "MAINT" (as shown); the command's word is lower case. */
const char *lb_admin_name(enum lb_admin a);
const char *lb_admin_word(enum lb_admin a);

#endif
