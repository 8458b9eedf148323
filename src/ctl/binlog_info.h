/* binlog_info.h - what mariabackup records, in the folder of a backup, of
 * the primary's binary log at the moment the backup is consistent:
 * xtrabackup_binlog_info (mariadb_backup_binlog_info from MariaDB 11 on),
 * one line "FILE<TAB>POSITION<TAB>GTID-LIST\n". `tristack rebuild` starts
 * the rebuilt replica's replication from that GTID list (rebuild.c).
 *
 * Pure: bytes in, a checked string out; unit-tested (tests/unit) and fuzzed
 * (tests/fuzz/fuzz_binlog_info.c).
 */
#ifndef TS_BINLOG_INFO_H
#define TS_BINLOG_INFO_H

#include <stddef.h>

/* The names mariabackup gives the file, newest first. */
#define BINLOG_INFO_FILE     "mariadb_backup_binlog_info"
#define BINLOG_INFO_FILE_OLD "xtrabackup_binlog_info"

/* Room enough for the GTID lists of the 8 database hosts a stack has at most. */
#define BINLOG_INFO_GTID_MAX 1024

/* The GTID list of text (len bytes, not NUL-terminated) into gtid (NUL-
 * terminated; "" when the server had none yet). 0, or -1 with err saying
 * what is wrong: not one line of three tab-separated fields (a server
 * without GTIDs writes two), a file name with a control byte, a position
 * that is not a decimal number, a GTID list that is not
 * DOMAIN-SERVER-SEQUENCE[,...] of decimal numbers within their ranges (32,
 * 32 and 64 bits), or one longer than gtidlen holds. Checked this strictly
 * because the list goes into a statement (SET GLOBAL gtid_slave_pos). */
int binlog_info_gtid(const char *text, size_t len, char *gtid, size_t gtidlen, char *err,
                     size_t errlen);

#endif
