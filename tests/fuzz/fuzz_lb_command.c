/* fuzz_lb_command.c - libFuzzer target for lb_command_parse and
 * lb_command_parse_saved, the LB runtime API's parser of what arrives on
 * its socket and of the states it saved.
 *
 * The input, in an exact-size heap copy (so ASan sees a read past the
 * length), is one line. A violation is __builtin_trap(), so libFuzzer
 * saves the input:
 *   - the result is 0 or -1; on -1 the message is a non-empty string with
 *     no newline (one line of the answer), ended within its buffer, also in
 *     a tiny one;
 *   - on 0: a known command; a SET's server name lies inside the line, is
 *     1..LB_NAME_MAX printable bytes without a space; a state is one of
 *     three, a weight at most LB_WEIGHT_MAX;
 *   - a line with a byte outside printable ASCII, space and tab, or longer
 *     than LB_COMMAND_MAX_LINE, is refused;
 *   - the saved-line parser keeps the same promises for its fields.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "lb/command.h"

static bool printable_word(struct str s)
{
	if (s.len == 0 || s.len > LB_NAME_MAX)
		return false;
	for (size_t i = 0; i < s.len; i++)
		if ((unsigned char)s.p[i] < 0x21 || (unsigned char)s.p[i] > 0x7e)
			return false;
	return true;
}

static bool clean(const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)p[i];
		if (c != ' ' && c != '\t' && (c < 0x21 || c > 0x7e))
			return false;
	}
	return n <= LB_COMMAND_MAX_LINE;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *line = fuzz_copy(data, size);
	struct lb_command cmd;
	char err[160], tiny[3];
	int rc = lb_command_parse(line, size, &cmd, err, sizeof(err));
	REQUIRE(rc == 0 || rc == -1);
	if (rc < 0) {
		REQUIRE(memchr(err, '\0', sizeof(err)) != NULL && err[0] != '\0');
		REQUIRE(strchr(err, '\n') == NULL);
		REQUIRE(lb_command_parse(line, size, &cmd, tiny, sizeof(tiny)) == -1);
		REQUIRE(memchr(tiny, '\0', sizeof(tiny)) != NULL);
	} else {
		REQUIRE(clean(line, size));
		switch (cmd.kind) {
		case LB_CMD_SET_STATE:
			REQUIRE((unsigned)cmd.state < LB_ADMIN_COUNT);
			/* fall through */
		case LB_CMD_SET_WEIGHT:
			REQUIRE(cmd.weight <= LB_WEIGHT_MAX);
			REQUIRE(fuzz_inside(cmd.server, line, size) && printable_word(cmd.server));
			break;
		case LB_CMD_HELP:
		case LB_CMD_SHOW_SERVERS:
		case LB_CMD_QUIT:
		case LB_CMD_HANDOVER:
		case LB_CMD_HANDOVER_DONE:
			break;
		default:
			__builtin_trap();
		}
	}
	struct lb_saved s;
	if (lb_command_parse_saved(line, size, &s) == 0) {
		REQUIRE(clean(line, size));
		REQUIRE(fuzz_inside(s.server, line, size) && printable_word(s.server));
		REQUIRE((unsigned)s.state < LB_ADMIN_COUNT);
		REQUIRE(s.weight <= LB_WEIGHT_MAX && s.config_weight <= LB_WEIGHT_MAX);
	}
	free(line);
	return 0;
}
