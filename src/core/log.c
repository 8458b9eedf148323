/* log.c - error log and reopenable log files. See log.h. */
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static const char *log_ident = "tristack";
static _Atomic int log_level = LL_INFO;
static struct log_file log_main = { .path = NULL, .fd = STDERR_FILENO };
static struct log_file *log_files; /* registered for reopen */
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;

static const char *const level_names[] = { "error", "warn", "info", "debug" };

void log_init(const char *ident, enum log_level level)
{
	log_ident = ident;
	log_level = level;
}

void log_set_level(enum log_level level)
{
	log_level = level;
}

enum log_level log_get_level(void)
{
	return log_level;
}

int log_level_parse(const char *s)
{
	for (size_t i = 0; i < ARRAY_SIZE(level_names); i++)
		if (strcmp(s, level_names[i]) == 0)
			return (int)i;
	return -1;
}

const char *log_level_name(enum log_level level)
{
	return level_names[level];
}

static int open_append(const char *path)
{
	return open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
}

int log_file_open(struct log_file *lf, const char *path, char *err, size_t errlen)
{
	int fd = open_append(path);
	if (fd < 0) {
		snprintf(err, errlen, "cannot open log file '%s': %s", path, strerror(errno));
		return -1;
	}
	lf->path = xstrdup(path);
	lf->fd = fd;
	pthread_mutex_lock(&log_lock);
	lf->next = log_files;
	log_files = lf;
	pthread_mutex_unlock(&log_lock);
	return 0;
}

void log_file_close(struct log_file *lf)
{
	pthread_mutex_lock(&log_lock);
	for (struct log_file **p = &log_files; *p; p = &(*p)->next) {
		if (*p == lf) {
			*p = lf->next;
			break;
		}
	}
	pthread_mutex_unlock(&log_lock);
	if (lf->path && lf->fd >= 0)
		close(lf->fd);
	free(lf->path);
	lf->path = NULL;
	lf->fd = -1;
}

/* The error log may be opened again (a reload) or sent back to stderr. Its
 * descriptor keeps its number once it left stderr: the new file is dup2'd over
 * it, as in a reopen, so writers on other threads never see a closed fd. And
 * log_main is unlinked before it is linked again: linking it twice made the
 * registry a cycle, and log_reopen_all() spin forever holding log_lock. */
int log_open(const char *path, char *err, size_t errlen)
{
	bool to_stderr = path == NULL || strcmp(path, "stderr") == 0;
	int fd = to_stderr ? STDERR_FILENO : open_append(path);
	if (fd < 0) {
		snprintf(err, errlen, "cannot open log file '%s': %s", path, strerror(errno));
		return -1;
	}
	char *copy = to_stderr ? NULL : xstrdup(path);
	pthread_mutex_lock(&log_lock);
	for (struct log_file **p = &log_files; *p; p = &(*p)->next) {
		if (*p == &log_main) {
			*p = log_main.next;
			break;
		}
	}
	if (log_main.fd == STDERR_FILENO) {
		log_main.fd = fd; /* still on stderr: take the new fd as it is */
	} else {
		dup2(fd, log_main.fd);
		if (!to_stderr)
			close(fd);
	}
	char *old = log_main.path;
	log_main.path = copy;
	if (!to_stderr) {
		log_main.next = log_files;
		log_files = &log_main;
	}
	pthread_mutex_unlock(&log_lock);
	free(old);
	return 0;
}

void log_file_write(struct log_file *lf, const char *line, size_t len)
{
	while (len > 0) {
		ssize_t n = write(lf->fd, line, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return; /* a full disk must not stop the server */
		}
		line += n;
		len -= (size_t)n;
	}
}

int log_reopen_all(void)
{
	int failed = 0;
	pthread_mutex_lock(&log_lock);
	for (struct log_file *lf = log_files; lf; lf = lf->next) {
		int fd = open_append(lf->path);
		if (fd < 0 || dup2(fd, lf->fd) < 0)
			failed++;
		if (fd >= 0)
			close(fd);
	}
	pthread_mutex_unlock(&log_lock);
	return failed;
}

void log_msg(enum log_level level, const char *fmt, ...)
{
	if ((int)level > log_level)
		return;
	char line[2048];
	struct timespec ts;
	struct tm tm;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	int n = snprintf(line, sizeof(line),
	                 "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %s[%d] %s: ", tm.tm_year + 1900,
	                 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
	                 ts.tv_nsec / 1000000, log_ident, (int)getpid(), level_names[level]);
	va_list ap;
	va_start(ap, fmt);
	int m = vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
	va_end(ap);
	size_t len = (size_t)n + (m < 0 ? 0 : MIN((size_t)m, sizeof(line) - (size_t)n - 2));
	line[len++] = '\n';
	log_file_write(&log_main, line, len);
}

void *xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);
	if (p == NULL) {
		log_error("out of memory allocating %zu bytes", n);
		abort();
	}
	return p;
}

void *xcalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size ? size : 1);
	if (p == NULL) {
		log_error("out of memory allocating %zu x %zu bytes", n, size);
		abort();
	}
	return p;
}

void *xrealloc(void *old, size_t n)
{
	void *p = realloc(old, n ? n : 1);
	if (p == NULL) {
		log_error("out of memory reallocating %zu bytes", n);
		abort();
	}
	return p;
}

char *xstrdup(const char *s)
{
	return xstrndup(s, strlen(s));
}

char *xstrndup(const char *s, size_t n)
{
	char *p = xmalloc(n + 1);
	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}
