/* procmetrics.h - the metrics every daemon exports about itself: the
 * standard process_* set (what Prometheus' own client libraries export,
 * read from /proc/self at scrape time) and <prefix>_build_info.
 */
#ifndef TS_PROCMETRICS_H
#define TS_PROCMETRICS_H

#include "metrics.h"

/* The fields of /proc/[pid]/stat that the metrics use (proc(5)). */
struct procmetrics_stat {
	unsigned long long utime, stime; /* clock ticks */
	unsigned long long starttime;    /* clock ticks after boot */
	unsigned long long vsize;        /* bytes */
	long long rss;                   /* pages */
};

/* Parse the text of /proc/[pid]/stat (the command name may hold spaces
 * and parentheses: fields are counted from the last ')'). Returns 0, or -1
 * when fields are missing. */
int procmetrics_parse_stat(const char *text, struct procmetrics_stat *out);

/* The boot time ("btime" line, seconds since the epoch) from the text of
 * /proc/stat. Returns 0, or -1 when there is none. */
int procmetrics_parse_btime(const char *text, long long *btime);

/* Define process_start_time_seconds, process_cpu_seconds_total,
 * process_resident_memory_bytes, process_virtual_memory_bytes,
 * process_open_fds, process_max_fds, and <prefix>_build_info{version}
 * (always 1). Once per process, before any owner is set: they outlive
 * configurations. */
void procmetrics_define(struct metrics *m, const char *prefix);

#endif
