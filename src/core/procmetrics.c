/* procmetrics.c - process_* and build_info metrics. See procmetrics.h. */
#include "procmetrics.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

int procmetrics_parse_stat(const char *text, struct procmetrics_stat *out)
{
	const char *p = strrchr(text, ')');
	if (p == NULL)
		return -1;
	p++;
	/* fields from 3 (state) on; the ones we want by their number */
	memset(out, 0, sizeof(*out));
	int got = 0;
	for (int field = 3; field <= 24; field++) {
		while (*p == ' ')
			p++;
		if (*p == '\0' || *p == '\n')
			return -1;
		char *end;
		if (field == 14 || field == 15 || field == 22 || field == 23) {
			unsigned long long v = strtoull(p, &end, 10);
			if (end == p)
				return -1;
			if (field == 14)
				out->utime = v;
			else if (field == 15)
				out->stime = v;
			else if (field == 22)
				out->starttime = v;
			else
				out->vsize = v;
			got++;
		} else if (field == 24) {
			out->rss = strtoll(p, &end, 10);
			if (end == p)
				return -1;
			got++;
		} else {
			end = (char *)p + strcspn(p, " \n");
		}
		p = end;
	}
	return got == 5 ? 0 : -1;
}

int procmetrics_parse_btime(const char *text, long long *btime)
{
	for (const char *line = text; line; line = strchr(line, '\n'), line = line ? line + 1 : 0)
		if (strncmp(line, "btime ", 6) == 0) {
			char *end;
			*btime = strtoll(line + 6, &end, 10);
			return end == line + 6 ? -1 : 0;
		}
	return -1;
}

/* The start of a small /proc file into buf (NUL-terminated). */
static int read_proc(const char *path, char *buf, size_t len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	ssize_t n = read(fd, buf, len - 1);
	close(fd);
	if (n < 0)
		return -1;
	buf[n] = '\0';
	return 0;
}

static int self_stat(struct procmetrics_stat *st)
{
	char buf[1024];
	if (read_proc("/proc/self/stat", buf, sizeof(buf)) < 0)
		return -1;
	return procmetrics_parse_stat(buf, st);
}

static double start_time; /* seconds since the epoch, found once */

static double start_time_seconds(void *arg)
{
	(void)arg;
	return start_time;
}

static double cpu_seconds(void *arg)
{
	(void)arg;
	struct procmetrics_stat st;
	if (self_stat(&st) < 0)
		return 0;
	return (double)(st.utime + st.stime) / (double)sysconf(_SC_CLK_TCK);
}

static double resident_bytes(void *arg)
{
	(void)arg;
	struct procmetrics_stat st;
	if (self_stat(&st) < 0)
		return 0;
	return (double)st.rss * (double)sysconf(_SC_PAGESIZE);
}

static double virtual_bytes(void *arg)
{
	(void)arg;
	struct procmetrics_stat st;
	return self_stat(&st) < 0 ? 0 : (double)st.vsize;
}

static double open_fds(void *arg)
{
	(void)arg;
	DIR *dir = opendir("/proc/self/fd");
	if (dir == NULL)
		return 0;
	double n = 0;
	for (struct dirent *e; (e = readdir(dir)) != NULL;)
		if (e->d_name[0] != '.')
			n++;
	closedir(dir);
	return n - 1; /* the directory's own descriptor */
}

static double max_fds(void *arg)
{
	(void)arg;
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return 0;
	return (double)rl.rlim_cur;
}

static double one(void *arg)
{
	(void)arg;
	return 1;
}

void procmetrics_define(struct metrics *m, const char *prefix)
{
	char buf[4096];
	long long btime;
	struct procmetrics_stat st;
	if (read_proc("/proc/stat", buf, sizeof(buf)) == 0 &&
	    procmetrics_parse_btime(buf, &btime) == 0 && self_stat(&st) == 0)
		start_time = (double)btime + (double)st.starttime / (double)sysconf(_SC_CLK_TCK);
	metrics_gauge_fn(m, "process_start_time_seconds",
	                 "Start time of the process since unix epoch in seconds.", NULL,
	                 start_time_seconds, NULL);
	metrics_counter_fn(m, "process_cpu_seconds_total",
	                   "Total user and system CPU time spent in seconds.", NULL, cpu_seconds,
	                   NULL);
	metrics_gauge_fn(m, "process_resident_memory_bytes", "Resident memory size in bytes.", NULL,
	                 resident_bytes, NULL);
	metrics_gauge_fn(m, "process_virtual_memory_bytes", "Virtual memory size in bytes.", NULL,
	                 virtual_bytes, NULL);
	metrics_gauge_fn(m, "process_open_fds", "Number of open file descriptors.", NULL, open_fds,
	                 NULL);
	metrics_gauge_fn(m, "process_max_fds", "Maximum number of open file descriptors.", NULL,
	                 max_fds, NULL);
	char name[128];
	snprintf(name, sizeof(name), "%s_build_info", prefix);
	metrics_gauge_fn(m, name, "Always 1; the version of the running binary in its label",
	                 "version=\"" TS_VERSION "\"", one, NULL);
}
