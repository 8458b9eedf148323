/* command.c - the runtime API's line parser (see command.h): split into
 * words, then match them against the few commands. Errors name what was
 * expected, so that an operator typing at the socket learns the syntax
 * from them. */
#include <stdio.h>
#include <string.h>

#include "command.h"

#define MAX_WORDS 6
#define SET_USAGE "usage: set server NAME state ready|drain|maint, or set server NAME weight 0..%d"

static const char *const admin_names[] = { "READY", "DRAIN", "MAINT" };
static const char *const admin_words[] = { "ready", "drain", "maint" };

const char *lb_admin_name(enum lb_admin a)
{
	return (unsigned)a < LB_ADMIN_COUNT ? admin_names[a] : "?";
}

const char *lb_admin_word(enum lb_admin a)
{
	return (unsigned)a < LB_ADMIN_COUNT ? admin_words[a] : "?";
}

static bool is_space(char c)
{
	return c == ' ' || c == '\t';
}

/* Up to MAX_WORDS + 1 words (one more tells "too many"); -1 on a byte that
 * is not printable ASCII. */
static int split(const char *line, size_t len, struct str *w, unsigned *n)
{
	*n = 0;
	size_t i = 0;
	while (i < len) {
		unsigned char c = (unsigned char)line[i];
		if (is_space(line[i])) {
			i++;
			continue;
		}
		if (c < 0x21 || c > 0x7e)
			return -1;
		size_t start = i;
		while (i < len && !is_space(line[i])) {
			c = (unsigned char)line[i];
			if (c < 0x21 || c > 0x7e)
				return -1;
			i++;
		}
		if (*n == MAX_WORDS + 1)
			return 0;
		w[(*n)++] = (struct str){ line + start, i - start };
	}
	return 0;
}

static bool word_is(struct str w, const char *s)
{
	return w.len == strlen(s) && memcmp(w.p, s, w.len) == 0;
}

static int parse_state(struct str w, enum lb_admin *out)
{
	for (unsigned a = 0; a < LB_ADMIN_COUNT; a++)
		if (word_is(w, admin_words[a])) {
			*out = (enum lb_admin)a;
			return 0;
		}
	return -1;
}

/* A decimal 0..max: digits only, no sign, at most 9 of them. */
static int parse_uint(struct str w, unsigned max, unsigned *out)
{
	if (w.len == 0 || w.len > 9)
		return -1;
	unsigned v = 0;
	for (size_t i = 0; i < w.len; i++) {
		if (w.p[i] < '0' || w.p[i] > '9')
			return -1;
		v = v * 10 + (unsigned)(w.p[i] - '0');
	}
	if (v > max)
		return -1;
	*out = v;
	return 0;
}

/* set server NAME state S | set server NAME weight N */
static int parse_set(const struct str *w, unsigned n, struct lb_command *cmd, char *err,
                     size_t errlen)
{
	if (n != 5 || !word_is(w[1], "server")) {
		snprintf(err, errlen, SET_USAGE, LB_WEIGHT_MAX);
		return -1;
	}
	if (w[2].len > LB_NAME_MAX) {
		snprintf(err, errlen, "server name too long (%d bytes at most)", LB_NAME_MAX);
		return -1;
	}
	cmd->server = w[2];
	if (word_is(w[3], "state")) {
		cmd->kind = LB_CMD_SET_STATE;
		if (parse_state(w[4], &cmd->state) == 0)
			return 0;
		snprintf(err, errlen, "unknown state '%.*s' (ready, drain or maint)",
		         (int)MIN(w[4].len, 32), w[4].p);
		return -1;
	}
	if (word_is(w[3], "weight")) {
		cmd->kind = LB_CMD_SET_WEIGHT;
		if (parse_uint(w[4], LB_WEIGHT_MAX, &cmd->weight) == 0)
			return 0;
		snprintf(err, errlen, "bad weight '%.*s' (a whole number, 0..%d)",
		         (int)MIN(w[4].len, 32), w[4].p, LB_WEIGHT_MAX);
		return -1;
	}
	snprintf(err, errlen, SET_USAGE, LB_WEIGHT_MAX);
	return -1;
}

int lb_command_parse(const char *line, size_t len, struct lb_command *cmd, char *err, size_t errlen)
{
	struct str w[MAX_WORDS + 1];
	unsigned n;
	memset(cmd, 0, sizeof(*cmd));
	if (len > LB_COMMAND_MAX_LINE) {
		snprintf(err, errlen, "line too long (%d bytes at most)", LB_COMMAND_MAX_LINE);
		return -1;
	}
	if (split(line, len, w, &n) < 0) {
		snprintf(err, errlen, "only printable ASCII is understood");
		return -1;
	}
	if (n == 0) {
		snprintf(err, errlen, "empty command (try help)");
		return -1;
	}
	if (word_is(w[0], "set"))
		return parse_set(w, n, cmd, err, errlen);
	if (word_is(w[0], "show")) {
		if (n == 2 && word_is(w[1], "servers")) {
			cmd->kind = LB_CMD_SHOW_SERVERS;
			return 0;
		}
		snprintf(err, errlen, "usage: show servers");
		return -1;
	}
	if (word_is(w[0], "handover")) {
		if (n == 2 && (word_is(w[1], "listeners") || word_is(w[1], "done"))) {
			cmd->kind = word_is(w[1], "done") ? LB_CMD_HANDOVER_DONE : LB_CMD_HANDOVER;
			return 0;
		}
		snprintf(err, errlen, "usage: handover listeners|done");
		return -1;
	}
	if (n == 1 && word_is(w[0], "help")) {
		cmd->kind = LB_CMD_HELP;
		return 0;
	}
	if (n == 1 && word_is(w[0], "quit")) {
		cmd->kind = LB_CMD_QUIT;
		return 0;
	}
	snprintf(err, errlen, "unknown command '%.*s' (try help)", (int)MIN(w[0].len, 32), w[0].p);
	return -1;
}

int lb_command_parse_saved(const char *line, size_t len, struct lb_saved *out)
{
	struct str w[MAX_WORDS + 1];
	unsigned n;
	if (len > LB_COMMAND_MAX_LINE || split(line, len, w, &n) < 0 || n != 4 ||
	    w[0].len > LB_NAME_MAX)
		return -1;
	out->server = w[0];
	if (parse_state(w[1], &out->state) < 0 ||
	    parse_uint(w[2], LB_WEIGHT_MAX, &out->weight) < 0 ||
	    parse_uint(w[3], LB_WEIGHT_MAX, &out->config_weight) < 0)
		return -1;
	return 0;
}
