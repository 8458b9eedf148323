/* Log levels, reopenable log files (the SIGUSR1 logrotate dance), and the
 * error log's line format. Files live in a mkdtemp directory under /tmp. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/log.h"
#include "t.h"

/* The whole of a small file as a C string in out ("" if it cannot be read). */
static const char *slurp(const char *path, char *out, size_t len)
{
	out[0] = '\0';
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return out;
	size_t n = 0;
	ssize_t r;
	while (n + 1 < len && (r = read(fd, out + n, len - 1 - n)) > 0)
		n += (size_t)r;
	out[n] = '\0';
	close(fd);
	return out;
}

static void path_in(char *out, size_t len, const char *dir, const char *name)
{
	snprintf(out, len, "%s/%s", dir, name);
}

TEST(log_level_parse_names)
{
	static const struct {
		const char *name;
		int level;
	} rows[] = {
		{ "error", LL_ERROR }, { "warn", LL_WARN }, { "info", LL_INFO },
		{ "debug", LL_DEBUG }, { "", -1 },          { "INFO", -1 },
		{ "warning", -1 },     { "err", -1 },       { "debug ", -1 },
	};
	for (size_t i = 0; i < ARRAY_SIZE(rows); i++) {
		t_case("log_level_parse \"%s\"", rows[i].name);
		CHECK_EQ(log_level_parse(rows[i].name), rows[i].level);
		if (rows[i].level >= 0)
			CHECK_STR(log_level_name((enum log_level)rows[i].level), rows[i].name);
	}
}

TEST(log_file_reopen_after_rename)
{
	char dir[] = "/tmp/ts-log-XXXXXX";
	CHECK(mkdtemp(dir) != NULL);
	char path[256], rotated[256], buf[4096];
	path_in(path, sizeof(path), dir, "access.log");
	path_in(rotated, sizeof(rotated), dir, "access.log.1");

	struct log_file lf;
	char err[256] = "";
	CHECK_EQ(log_file_open(&lf, path, err, sizeof(err)), 0);
	CHECK_STR(err, "");
	struct stat st;
	CHECK_EQ(stat(path, &st), 0);
	mode_t mask = umask(0);
	umask(mask);
	CHECK_EQ(st.st_mode & 0777, 0640 & ~mask); /* created 0640 */
	int fd_before = lf.fd;

	log_file_write(&lf, "one\n", 4);
	log_file_write(&lf, "two\n", 4);
	CHECK_STR(slurp(path, buf, sizeof(buf)), "one\ntwo\n");

	/* logrotate: move the file away, then SIGUSR1 -> log_reopen_all(). */
	CHECK_EQ(rename(path, rotated), 0);
	log_file_write(&lf, "three\n", 6); /* still the old file until the reopen */
	CHECK_EQ(log_reopen_all(), 0);
	CHECK_EQ(lf.fd, fd_before); /* same descriptor number: writers never see it closed */
	log_file_write(&lf, "four\n", 5);

	CHECK_STR(slurp(rotated, buf, sizeof(buf)), "one\ntwo\nthree\n");
	CHECK_STR(slurp(path, buf, sizeof(buf)), "four\n");

	/* Reopening a file that was not moved appends to it. */
	CHECK_EQ(log_reopen_all(), 0);
	log_file_write(&lf, "five\n", 5);
	CHECK_STR(slurp(path, buf, sizeof(buf)), "four\nfive\n");

	/* Once closed, it is no longer reopened. */
	log_file_close(&lf);
	CHECK_EQ(lf.fd, -1);
	CHECK(lf.path == NULL);
	CHECK_EQ(unlink(path), 0);
	CHECK_EQ(log_reopen_all(), 0);
	CHECK(access(path, F_OK) != 0);

	unlink(rotated);
	CHECK_EQ(rmdir(dir), 0);
}

TEST(log_file_reopen_several)
{
	char dir[] = "/tmp/ts-log-XXXXXX";
	CHECK(mkdtemp(dir) != NULL);
	char pa[256], pb[256], buf[256];
	path_in(pa, sizeof(pa), dir, "a.log");
	path_in(pb, sizeof(pb), dir, "b.log");
	struct log_file a, b;
	char err[256];
	CHECK_EQ(log_file_open(&a, pa, err, sizeof(err)), 0);
	CHECK_EQ(log_file_open(&b, pb, err, sizeof(err)), 0);
	CHECK_EQ(unlink(pa), 0);
	CHECK_EQ(unlink(pb), 0);
	CHECK_EQ(log_reopen_all(), 0);
	log_file_write(&a, "a\n", 2);
	log_file_write(&b, "b\n", 2);
	CHECK_STR(slurp(pa, buf, sizeof(buf)), "a\n");
	CHECK_STR(slurp(pb, buf, sizeof(buf)), "b\n");

	/* A file whose directory vanished fails to reopen, and keeps its old fd. */
	log_file_close(&b);
	unlink(pb);
	CHECK_EQ(unlink(pa), 0);
	CHECK_EQ(rmdir(dir), 0);
	int fd_before = a.fd;
	CHECK_EQ(log_reopen_all(), 1);
	CHECK_EQ(a.fd, fd_before);
	log_file_write(&a, "lost\n", 5); /* to the unlinked file: must not crash */
	log_file_close(&a);
}

TEST(log_file_open_fails_with_message)
{
	struct log_file lf;
	char err[256] = "";
	CHECK_EQ(log_file_open(&lf, "/nonexistent-dir-ts/x.log", err, sizeof(err)), -1);
	CHECK(strstr(err, "/nonexistent-dir-ts/x.log") != NULL);
	CHECK(strstr(err, "No such file") != NULL);
	CHECK_EQ(log_open("/nonexistent-dir-ts/x.log", err, sizeof(err)), -1);
}

/* Lines in text (a whole file) that contain every one of a, b and c. */
static int count_lines(const char *text, const char *a, const char *b, const char *c)
{
	int n = 0;
	for (const char *p = text; *p;) {
		const char *nl = strchr(p, '\n');
		size_t len = nl ? (size_t)(nl - p) : strlen(p);
		char line[1024];
		snprintf(line, sizeof(line), "%.*s", (int)len, p);
		if (strstr(line, a) && strstr(line, b) && strstr(line, c))
			n++;
		p += len + (nl ? 1 : 0);
	}
	return n;
}

TEST(log_open_error_log_lines)
{
	char dir[] = "/tmp/ts-log-XXXXXX";
	CHECK(mkdtemp(dir) != NULL);
	char path[256], moved[256], other[256], buf[8192], ident[64];
	path_in(path, sizeof(path), dir, "error.log");
	path_in(moved, sizeof(moved), dir, "error.log.1");
	path_in(other, sizeof(other), dir, "other.log");
	snprintf(ident, sizeof(ident), " ts-unit[%d] ", (int)getpid());

	enum log_level saved = log_get_level();
	log_init("ts-unit", LL_INFO);
	char err[256] = "";
	CHECK_EQ(log_open(path, err, sizeof(err)), 0);
	log_error("boom %d", 42);
	log_warn("careful");
	log_info("hello %s", "there");
	log_debug("not at info level");
	log_set_level(LL_DEBUG);
	CHECK_EQ(log_get_level(), LL_DEBUG);
	log_debug("now %s", "shown");
	log_set_level(LL_ERROR);
	log_warn("below the threshold");

	slurp(path, buf, sizeof(buf));
	CHECK_EQ(count_lines(buf, ident, "error: ", "boom 42"), 1);
	CHECK_EQ(count_lines(buf, ident, "warn: ", "careful"), 1);
	CHECK_EQ(count_lines(buf, ident, "info: ", "hello there"), 1);
	CHECK_EQ(count_lines(buf, ident, "debug: ", "now shown"), 1);
	CHECK(strstr(buf, "not at info level") == NULL);
	CHECK(strstr(buf, "below the threshold") == NULL);
	CHECK_EQ(count_lines(buf, "", "", ""), 4);
	/* "2026-01-02T03:04:05.678Z ts-unit[pid] error: boom 42" */
	CHECK(strlen(buf) > 25 && buf[4] == '-' && buf[10] == 'T' && buf[19] == '.' &&
	      buf[23] == 'Z' && buf[24] == ' ');

	/* An over-long message is cut, still one line ending in '\n'. */
	log_set_level(LL_INFO);
	static char big[4000];
	memset(big, 'x', sizeof(big) - 1);
	log_info("%s", big);
	slurp(path, buf, sizeof(buf));
	CHECK_EQ(count_lines(buf, "", "", ""), 5);
	CHECK(buf[strlen(buf) - 1] == '\n');

	/* The error log is reopened with the others. */
	CHECK_EQ(rename(path, moved), 0);
	CHECK_EQ(log_reopen_all(), 0);
	log_error("after rotate");
	CHECK_EQ(count_lines(slurp(path, buf, sizeof(buf)), ident, "error: ", "after rotate"), 1);

	/* Opened again (a reload): lines go to the new file only, and the registry
	 * stays sane (reopen returns instead of looping). */
	CHECK_EQ(log_open(other, err, sizeof(err)), 0);
	log_error("to other");
	CHECK_EQ(log_reopen_all(), 0);
	log_error("still other");
	slurp(other, buf, sizeof(buf));
	CHECK_EQ(count_lines(buf, ident, "error: ", "to other"), 1);
	CHECK_EQ(count_lines(buf, ident, "error: ", "still other"), 1);
	CHECK(strstr(slurp(path, buf, sizeof(buf)), "other") == NULL);

	/* Back to stderr: the file gets nothing more and is not recreated by a reopen. */
	CHECK_EQ(log_open("stderr", err, sizeof(err)), 0);
	CHECK_EQ(unlink(other), 0);
	CHECK_EQ(log_reopen_all(), 0);
	CHECK(access(other, F_OK) != 0);

	log_init("tristack", saved);
	unlink(path);
	unlink(moved);
	CHECK_EQ(rmdir(dir), 0);
}
