/* binlog_info.c - the GTID list of a backup's binlog info file (see
 * binlog_info.h). */
#include "binlog_info.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

/* Is p[0, n) a decimal number no greater than max? */
static bool decimal(const char *p, size_t n, uint64_t max)
{
	if (n == 0)
		return false;
	uint64_t v = 0;
	for (size_t i = 0; i < n; i++) {
		if (p[i] < '0' || p[i] > '9')
			return false;
		unsigned d = (unsigned)(p[i] - '0');
		if (v > (max - d) / 10)
			return false;
		v = v * 10 + d;
	}
	return true;
}

/* One DOMAIN-SERVER-SEQUENCE of p[0, n). */
static bool gtid_one(const char *p, size_t n)
{
	const char *end = p + n;
	const char *a = memchr(p, '-', n);
	const char *b = a ? memchr(a + 1, '-', (size_t)(end - a - 1)) : NULL;
	return b && decimal(p, (size_t)(a - p), UINT32_MAX) &&
	       decimal(a + 1, (size_t)(b - a - 1), UINT32_MAX) &&
	       decimal(b + 1, (size_t)(end - b - 1), UINT64_MAX);
}

/* Is p[0, n) a GTID list (empty, or GTIDs joined by commas)? */
static bool gtid_list(const char *p, size_t n)
{
	const char *end = p + n;
	while (n > 0) {
		const char *comma = memchr(p, ',', (size_t)(end - p));
		const char *stop = comma ? comma : end;
		if (!gtid_one(p, (size_t)(stop - p)))
			return false;
		if (comma == NULL)
			break;
		p = comma + 1;
		if (p == end)
			return false; /* a trailing comma */
	}
	return true;
}

int binlog_info_gtid(const char *text, size_t len, char *gtid, size_t gtidlen, char *err,
                     size_t errlen)
{
	if (gtidlen > 0)
		gtid[0] = '\0';
	size_t n = len > 0 && text[len - 1] == '\n' ? len - 1 : len;
	const char *end = text + n;
	const char *t1 = memchr(text, '\t', n);
	const char *t2 = t1 ? memchr(t1 + 1, '\t', (size_t)(end - t1 - 1)) : NULL;
	const char *what = NULL;
	if (t1 == NULL || t1 == text)
		what = "not FILE<TAB>POSITION<TAB>GTID";
	else if (t2 == NULL)
		what = "no GTID position (the server wrote none)";
	for (const char *p = text; what == NULL && p < t1; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			what = "a control byte in the file name";
	if (what == NULL && !decimal(t1 + 1, (size_t)(t2 - t1 - 1), UINT64_MAX))
		what = "the position is not a number";
	else if (what == NULL && !gtid_list(t2 + 1, (size_t)(end - t2 - 1)))
		what = "not a GTID list (DOMAIN-SERVER-SEQUENCE[,...]), or more than one line";
	else if (what == NULL && (size_t)(end - t2 - 1) >= gtidlen)
		what = "the GTID list is too long";
	if (what) {
		snprintf(err, errlen, "%s", what);
		return -1;
	}
	memcpy(gtid, t2 + 1, (size_t)(end - t2 - 1));
	gtid[end - t2 - 1] = '\0';
	return 0;
}
