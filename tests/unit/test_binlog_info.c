/* The GTID list of mariabackup's binlog info file (src/ctl/binlog_info.h):
 * what MariaDB 10.11 writes is read, and anything else is refused with a
 * reason, since the list ends up in a statement. */
#include <stdio.h>
#include <string.h>

#include "core/common.h"
#include "ctl/binlog_info.h"
#include "t.h"

/* Each row is read as gtid says, or refused (gtid NULL) with why in the error. */
static const struct {
	const char *name;
	struct raw in;
	const char *gtid, *why;
} cases[] = {
	/* as mariabackup 10.11 wrote it for a stack's primary */
	{ "one domain", RAW("mysql-bin.000001\t30515\t0-2-112\n"), "0-2-112", NULL },
	{ "no newline at the end", RAW("mysql-bin.000001\t30515\t0-2-112"), "0-2-112", NULL },
	{ "several domains", RAW("mysql-bin.000042\t4\t0-1-10,1-3-5,7-2-1\n"), "0-1-10,1-3-5,7-2-1",
	  NULL },
	{ "no GTID yet", RAW("mysql-bin.000001\t328\t\n"), "", NULL },
	{ "the largest numbers",
	  RAW("b.1\t18446744073709551615\t4294967295-4294967295-18446744073709551615\n"),
	  "4294967295-4294967295-18446744073709551615", NULL },
	{ "leading zeros", RAW("b.1\t007\t00-01-002\n"), "00-01-002", NULL },
	/* refused */
	{ "empty", RAW(""), NULL, "FILE<TAB>POSITION<TAB>GTID" },
	{ "a newline only", RAW("\n"), NULL, "FILE<TAB>POSITION<TAB>GTID" },
	{ "no tab", RAW("mysql-bin.000001 30515 0-2-112\n"), NULL, "FILE<TAB>POSITION<TAB>GTID" },
	{ "no file name", RAW("\t30515\t0-2-112\n"), NULL, "FILE<TAB>POSITION<TAB>GTID" },
	{ "two fields (no GTIDs)", RAW("mysql-bin.000001\t30515\n"), NULL, "no GTID position" },
	{ "a control byte in the name", RAW("mysql\x01-bin\t4\t0-1-1\n"), NULL, "control byte" },
	{ "a NUL in the name", RAW("mysql\0bin\t4\t0-1-1\n"), NULL, "control byte" },
	{ "an empty position", RAW("b.1\t\t0-1-1\n"), NULL, "position" },
	{ "a position with a sign", RAW("b.1\t-4\t0-1-1\n"), NULL, "position" },
	{ "a position too large", RAW("b.1\t18446744073709551616\t0-1-1\n"), NULL, "position" },
	{ "two parts", RAW("b.1\t4\t0-1\n"), NULL, "GTID list" },
	{ "four parts", RAW("b.1\t4\t0-1-2-3\n"), NULL, "GTID list" },
	{ "an empty part", RAW("b.1\t4\t0--2\n"), NULL, "GTID list" },
	{ "a trailing comma", RAW("b.1\t4\t0-1-2,\n"), NULL, "GTID list" },
	{ "a leading comma", RAW("b.1\t4\t,0-1-2\n"), NULL, "GTID list" },
	{ "two commas", RAW("b.1\t4\t0-1-2,,1-1-2\n"), NULL, "GTID list" },
	{ "a space after a comma", RAW("b.1\t4\t0-1-2, 1-1-2\n"), NULL, "GTID list" },
	{ "a domain too large", RAW("b.1\t4\t4294967296-1-1\n"), NULL, "GTID list" },
	{ "a server id too large", RAW("b.1\t4\t0-4294967296-1\n"), NULL, "GTID list" },
	{ "a sequence too large", RAW("b.1\t4\t0-1-18446744073709551616\n"), NULL, "GTID list" },
	{ "a quote (into SQL)", RAW("b.1\t4\t0-1-1'; DROP TABLE posts; --\n"), NULL, "GTID list" },
	{ "a fourth field", RAW("b.1\t4\t0-1-1\tx\n"), NULL, "GTID list" },
	{ "a second line", RAW("b.1\t4\t0-1-1\nb.2\t4\t0-1-2\n"), NULL, "GTID list" },
	{ "a CR", RAW("b.1\t4\t0-1-1\r\n"), NULL, "GTID list" },
	{ "a NUL in the list", RAW("b.1\t4\t0-1-1\0\n"), NULL, "GTID list" },
};

TEST(binlog_info_reads_the_gtid_list_or_says_why_not)
{
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		t_case("binlog_info: %s", cases[i].name);
		char gtid[BINLOG_INFO_GTID_MAX] = "x", err[128] = "";
		int rc = binlog_info_gtid(cases[i].in.s, cases[i].in.len, gtid, sizeof(gtid), err,
		                          sizeof(err));
		CHECK_EQ(rc, cases[i].gtid ? 0 : -1);
		/* refused: nothing half-read is left to use */
		CHECK_STR(gtid, cases[i].gtid ? cases[i].gtid : "");
		CHECK(cases[i].gtid ? err[0] == '\0' : strstr(err, cases[i].why) != NULL);
	}
}

TEST(binlog_info_never_writes_past_the_room_it_has)
{
	static const char text[] = "mysql-bin.000001\t4\t0-1-100,1-2-200\n";
	char gtid[16], err[8];
	memset(gtid, 'x', sizeof(gtid));
	/* "0-1-100,1-2-200" is 15 bytes and its NUL: 16 fits, 15 does not */
	CHECK_EQ(binlog_info_gtid(text, strlen(text), gtid, 15, err, sizeof(err)), -1);
	CHECK_EQ(gtid[15], 'x');
	CHECK(memchr(err, '\0', sizeof(err)) != NULL); /* a short error buffer: cut, ended */
	CHECK_EQ(binlog_info_gtid(text, strlen(text), gtid, 16, err, sizeof(err)), 0);
	CHECK_STR(gtid, "0-1-100,1-2-200");
	CHECK_EQ(binlog_info_gtid(text, strlen(text), gtid, 0, err, sizeof(err)), -1);
}

/* A file cut short anywhere (a backup interrupted while writing it) is
 * refused or read as a shorter list of the same GTIDs, never more. */
TEST(binlog_info_every_prefix)
{
	static const char text[] = "mysql-bin.000001\t30515\t0-2-112,1-3-7\n";
	for (size_t n = 0; n <= strlen(text); n++) {
		char gtid[BINLOG_INFO_GTID_MAX], err[128];
		int rc = binlog_info_gtid(text, n, gtid, sizeof(gtid), err, sizeof(err));
		CHECK(rc == -1 || strncmp(gtid, "0-2-112,1-3-7", strlen(gtid)) == 0);
		if (n == strlen(text) || n == strlen(text) - 1)
			CHECK_EQ(rc, 0);
	}
}
