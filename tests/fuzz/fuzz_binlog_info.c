/* fuzz_binlog_info.c - libFuzzer target for binlog_info_gtid, the reader of
 * mariabackup's binlog info file whose GTID list `tristack rebuild` puts
 * into SET GLOBAL gtid_slave_pos.
 *
 * The input, in an exact-size heap copy (so ASan sees a read past the
 * length), is the file. A violation is __builtin_trap(), so libFuzzer
 * saves the input:
 *   - the result is 0 or -1, the error ended within its buffer, in any size;
 *   - -1 leaves gtid empty;
 *   - 0 gives a list of digits, '-' and ',' only (nothing that could end a
 *     quoted SQL string), that the input holds after its second tab, and
 *     that fits the room given: with one byte less it is refused.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ctl/binlog_info.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = fuzz_copy(data, size);
	char gtid[BINLOG_INFO_GTID_MAX], err[256], tiny[4];
	int rc = binlog_info_gtid(text, size, gtid, sizeof(gtid), err, sizeof(err));
	REQUIRE(rc == 0 || rc == -1);
	REQUIRE(memchr(gtid, '\0', sizeof(gtid)) != NULL);
	if (rc < 0) {
		REQUIRE(gtid[0] == '\0');
		REQUIRE(memchr(err, '\0', sizeof(err)) != NULL && err[0] != '\0');
		REQUIRE(binlog_info_gtid(text, size, gtid, sizeof(gtid), tiny, sizeof(tiny)) == -1);
		REQUIRE(memchr(tiny, '\0', sizeof(tiny)) != NULL);
		free(text);
		return 0;
	}
	size_t n = strlen(gtid);
	REQUIRE(strspn(gtid, "0123456789-,") == n);
	const char *t1 = memchr(text, '\t', size);
	REQUIRE(t1 != NULL);
	const char *t2 = memchr(t1 + 1, '\t', size - (size_t)(t1 + 1 - text));
	REQUIRE(t2 != NULL && (size_t)(text + size - t2 - 1) >= n);
	REQUIRE(memcmp(t2 + 1, gtid, n) == 0);
	char *small = malloc(n + 1);
	REQUIRE(small != NULL);
	REQUIRE(binlog_info_gtid(text, size, small, n + 1, err, sizeof(err)) == 0);
	REQUIRE(strcmp(small, gtid) == 0);
	REQUIRE(binlog_info_gtid(text, size, small, n, err, sizeof(err)) == -1);
	free(small);
	free(text);
	return 0;
}
