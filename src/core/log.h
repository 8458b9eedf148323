/* log.h - the error log and reopenable log files (access logs use them too).
 *
 * One line per call, written with a single write(2) on an O_APPEND fd, so
 * lines from several threads never interleave. SIGUSR1 handling calls
 * log_reopen_all(): each registered file is reopened by path and dup2'd over
 * its old descriptor, so writers never see a closed fd (logrotate-friendly).
 */
#ifndef TS_LOG_H
#define TS_LOG_H

#include <stddef.h>

#include "common.h"

enum log_level { LL_ERROR, LL_WARN, LL_INFO, LL_DEBUG };

/* A file that log lines go to; path NULL means stderr (never reopened). */
struct log_file {
	char *path;
	int fd;
	struct log_file *next; /* registry of files to reopen */
};

/* Name the process in every line ("tristack-lb") and set the threshold. */
void log_init(const char *ident, enum log_level level);
void log_set_level(enum log_level level);
enum log_level log_get_level(void);
/* "error", "warn", "info", "debug" -> level; -1 when unknown. */
int log_level_parse(const char *s);
const char *log_level_name(enum log_level level);

/* Send the error log to a file (NULL or "stderr": standard error).
 * Returns 0, or -1 with a message in err. */
int log_open(const char *path, char *err, size_t errlen);

/* Open (O_APPEND|O_CREAT, 0640) and register a file for reopening.
 * Returns 0, or -1 with a message in err. The caller owns lf. */
int log_file_open(struct log_file *lf, const char *path, char *err, size_t errlen);
void log_file_close(struct log_file *lf);
/* Write one whole line (the caller includes the '\n'). */
void log_file_write(struct log_file *lf, const char *line, size_t len);

/* Reopen every registered file; returns the number that failed. */
int log_reopen_all(void);

void log_msg(enum log_level level, const char *fmt, ...) TS_PRINTF(2, 3);

#define log_error(...) log_msg(LL_ERROR, __VA_ARGS__)
#define log_warn(...)  log_msg(LL_WARN, __VA_ARGS__)
#define log_info(...)  log_msg(LL_INFO, __VA_ARGS__)
#define log_debug(...)                                                                             \
	do {                                                                                       \
		if (unlikely(log_get_level() >= LL_DEBUG))                                         \
			log_msg(LL_DEBUG, __VA_ARGS__);                                            \
	} while (0)

#endif
