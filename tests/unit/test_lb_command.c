/* The LB's runtime API, its line parser (src/lb/command.c): every command,
 * every way a line is refused (with a message that says what was meant),
 * and the saved state's lines. */
#include <stdio.h>
#include <string.h>

#include "core/handover.h" /* the words a successor sends */
#include "lb/command.h"
#include "t.h"

static int parse(const char *line, struct lb_command *cmd, char *err, size_t errlen)
{
	return lb_command_parse(line, strlen(line), cmd, err, errlen);
}

TEST(lb_command_accepts_each_command)
{
	static const struct {
		const char *line;
		enum lb_command_kind kind;
		const char *server;
		enum lb_admin state;
		unsigned weight;
	} rows[] = {
		{ "help", LB_CMD_HELP, "", 0, 0 },
		{ "quit", LB_CMD_QUIT, "", 0, 0 },
		{ "show servers", LB_CMD_SHOW_SERVERS, "", 0, 0 },
		{ "  show \t servers  ", LB_CMD_SHOW_SERVERS, "", 0, 0 },
		{ "set server web-01 state drain", LB_CMD_SET_STATE, "web-01", LB_ADMIN_DRAIN, 0 },
		{ "set server web-01 state maint", LB_CMD_SET_STATE, "web-01", LB_ADMIN_MAINT, 0 },
		{ "set server web-01 state ready", LB_CMD_SET_STATE, "web-01", LB_ADMIN_READY, 0 },
		{ "set server 10.0.0.5:8080 state drain", LB_CMD_SET_STATE, "10.0.0.5:8080",
		  LB_ADMIN_DRAIN, 0 },
		{ "set server web-02 weight 0", LB_CMD_SET_WEIGHT, "web-02", 0, 0 },
		{ "set server web-02 weight 7", LB_CMD_SET_WEIGHT, "web-02", 0, 7 },
		{ "set server web-02 weight 256", LB_CMD_SET_WEIGHT, "web-02", 0, 256 },
		{ "set server web-02 weight 007", LB_CMD_SET_WEIGHT, "web-02", 0, 7 },
		{ HANDOVER_ASK, LB_CMD_HANDOVER, "", 0, 0 },
		{ HANDOVER_DONE, LB_CMD_HANDOVER_DONE, "", 0, 0 },
	};
	for (size_t i = 0; i < ARRAY_SIZE(rows); i++) {
		t_case("'%s'", rows[i].line);
		struct lb_command cmd;
		char err[160] = "";
		CHECK_EQ(parse(rows[i].line, &cmd, err, sizeof(err)), 0);
		CHECK_EQ(cmd.kind, rows[i].kind);
		CHECK_STRN(cmd.server, rows[i].server);
		if (cmd.kind == LB_CMD_SET_STATE)
			CHECK_EQ(cmd.state, rows[i].state);
		if (cmd.kind == LB_CMD_SET_WEIGHT)
			CHECK_EQ(cmd.weight, rows[i].weight);
	}
}

TEST(lb_command_refuses_with_a_message)
{
	static const struct {
		const char *line, *says;
	} rows[] = {
		{ "", "empty command" },
		{ "   ", "empty command" },
		{ "hello", "unknown command 'hello'" },
		{ "HELP", "unknown command 'HELP'" },
		{ "help me", "unknown command 'help'" },
		{ "show", "usage: show servers" },
		{ "show server", "usage: show servers" },
		{ "show servers now", "usage: show servers" },
		{ "handover", "usage: handover listeners|done" },
		{ "handover sockets", "usage: handover listeners|done" },
		{ "handover done now", "usage: handover listeners|done" },
		{ "set", "usage: set server NAME state" },
		{ "set server", "usage: set server NAME" },
		{ "set server web-01", "usage: set server NAME" },
		{ "set server web-01 state", "usage: set server NAME" },
		{ "set server web-01 state drain now", "usage: set server NAME" },
		{ "set backend web-01 state drain", "usage: set server NAME" },
		{ "set server web-01 mood drain", "usage: set server NAME" },
		{ "set server web-01 state DRAIN",
		  "unknown state 'DRAIN' (ready, drain or maint)" },
		{ "set server web-01 state up", "unknown state 'up'" },
		{ "set server web-01 weight 257", "bad weight '257' (a whole number, 0..256)" },
		{ "set server web-01 weight -1", "bad weight '-1'" },
		{ "set server web-01 weight +1", "bad weight '+1'" },
		{ "set server web-01 weight 1.5", "bad weight '1.5'" },
		{ "set server web-01 weight 50%", "bad weight '50%'" },
		{ "set server web-01 weight 99999999999999999999", "bad weight" },
		{ "set server web\x01"
		  " state drain",
		  "only printable ASCII" },
		{ "set server w\xc3\xa9"
		  "b state drain",
		  "only printable ASCII" },
		{ "show servers\r", "only printable ASCII" }, /* the caller drops a final \r */
	};
	for (size_t i = 0; i < ARRAY_SIZE(rows); i++) {
		t_case("'%s'", rows[i].line);
		struct lb_command cmd;
		char err[160] = "";
		CHECK_EQ(parse(rows[i].line, &cmd, err, sizeof(err)), -1);
		CHECK(strstr(err, rows[i].says) != NULL);
		CHECK(strchr(err, '\n') == NULL);
	}
}

TEST(lb_command_limits_line_and_name_lengths)
{
	char line[LB_COMMAND_MAX_LINE + 64], err[160];
	struct lb_command cmd;
	t_case("a name of LB_NAME_MAX bytes");
	int n = snprintf(line, sizeof(line), "set server %0*d state drain", LB_NAME_MAX, 0);
	CHECK_EQ(lb_command_parse(line, (size_t)n, &cmd, err, sizeof(err)), 0);
	CHECK_EQ(cmd.server.len, LB_NAME_MAX);
	t_case("one byte more");
	n = snprintf(line, sizeof(line), "set server %0*d state drain", LB_NAME_MAX + 1, 0);
	CHECK_EQ(lb_command_parse(line, (size_t)n, &cmd, err, sizeof(err)), -1);
	CHECK(strstr(err, "server name too long") != NULL);
	t_case("a line beyond LB_COMMAND_MAX_LINE");
	memset(line, ' ', sizeof(line));
	memcpy(line, "help", 4);
	CHECK_EQ(lb_command_parse(line, LB_COMMAND_MAX_LINE, &cmd, err, sizeof(err)), 0);
	CHECK_EQ(lb_command_parse(line, LB_COMMAND_MAX_LINE + 1, &cmd, err, sizeof(err)), -1);
	CHECK(strstr(err, "line too long") != NULL);
	t_case("a tiny error buffer is cut, not overrun");
	char small[8];
	memset(small, 'x', sizeof(small));
	CHECK_EQ(parse("nonsense", &cmd, small, 5), -1);
	CHECK_EQ(small[4], '\0');
	CHECK_EQ(small[5], 'x');
	t_case("the bytes after len are not read");
	CHECK_EQ(lb_command_parse("helpXYZ", 4, &cmd, err, sizeof(err)), 0);
	CHECK_EQ(cmd.kind, LB_CMD_HELP);
}

TEST(lb_command_saved_lines)
{
	struct lb_saved s;
	t_case("a line");
	const char *ok = "web-01 drain 3 1";
	CHECK_EQ(lb_command_parse_saved(ok, strlen(ok), &s), 0);
	CHECK_STRN(s.server, "web-01");
	CHECK_EQ(s.state, LB_ADMIN_DRAIN);
	CHECK_EQ(s.weight, 3);
	CHECK_EQ(s.config_weight, 1);
	static const char *const bad[] = {
		"web-01 drain 3",           "web-01 drain 3 1 x", "web-01 DRAIN 3 1",
		"web-01 drain 300 1",       "web-01 drain 3 -1",  "",
		"# web-01 drain 3 1 extra",
	};
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		t_case("refused: '%s'", bad[i]);
		CHECK_EQ(lb_command_parse_saved(bad[i], strlen(bad[i]), &s), -1);
	}
}

TEST(lb_command_admin_names)
{
	CHECK_STR(lb_admin_name(LB_ADMIN_READY), "READY");
	CHECK_STR(lb_admin_name(LB_ADMIN_DRAIN), "DRAIN");
	CHECK_STR(lb_admin_name(LB_ADMIN_MAINT), "MAINT");
	CHECK_STR(lb_admin_word(LB_ADMIN_MAINT), "maint");
	CHECK_STR(lb_admin_name(LB_ADMIN_COUNT), "?");
}
