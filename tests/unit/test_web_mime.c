/* web_mime_load / web_mime_type: a mime.types file (comments, several
 * extensions a line, the first mapping of an extension wins) over a built-in
 * table; lookups ignore case; text types carry "; charset=utf-8". Files live
 * in a mkdtemp directory under /tmp. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/common.h"
#include "t.h"
#include "web/mime.h"

#define OCTET "application/octet-stream"

static int write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	if (f == NULL)
		return -1;
	int r = fputs(text, f) < 0 ? -1 : 0;
	return fclose(f) == 0 ? r : -1;
}

struct mime_row {
	const char *name, *want;
};

static void check_types(const struct web_mime *m, const char *what, const struct mime_row *rows,
                        size_t n)
{
	for (size_t i = 0; i < n; i++) {
		t_case("web_mime %s \"%s\"", what, rows[i].name);
		CHECK_STR(web_mime_type(m, rows[i].name), rows[i].want);
	}
}

TEST(web_mime_file)
{
	char dir[] = "/tmp/ts-mime-XXXXXX";
	CHECK(mkdtemp(dir) != NULL);
	char path[256];
	snprintf(path, sizeof(path), "%s/mime.types", dir);
	static const char text[] =
	    "# mime.types for the test\n"
	    "   # an indented comment: text/x-comment cmt\n"
	    "\n"
	    "text/x-foo\tfoo FOO2   fo3 # a trailing comment: bar\n"
	    "application/x-bar bar baz\n"
	    "application/x-dup foo BAR\n" /* both taken already: the first wins */
	    "image/x-upper\tUPPER\n"
	    "notatype lonely\n" /* no '/': not a type line */
	    "application/x-nothing\n"
	    "application/x-mine mjs\n" /* the file wins over the built-in table */
	    "text/x-crlf crlf\r\n"
	    "application/x-last last"; /* no final newline */
	CHECK_EQ(write_file(path, text), 0);

	char err[256] = "";
	struct web_mime *m = web_mime_load(path, err, sizeof(err));
	CHECK(m != NULL);
	CHECK_STR(err, "");
	if (m) {
		static const struct mime_row rows[] = {
			{ "a.foo", "text/x-foo; charset=utf-8" },
			{ "a.FOO", "text/x-foo; charset=utf-8" },
			{ "a.Foo", "text/x-foo; charset=utf-8" },
			{ "a.foo2", "text/x-foo; charset=utf-8" },
			{ "a.fo3", "text/x-foo; charset=utf-8" },
			{ "a.bar", "application/x-bar" }, /* not the comment's */
			{ "a.BAR", "application/x-bar" }, /* not x-dup's */
			{ "a.baz", "application/x-bar" },
			{ "a.upper", "image/x-upper" },
			{ "a.UPPER", "image/x-upper" },
			{ "a.cmt", OCTET },
			{ "a.lonely", OCTET },
			{ "a.mjs", "application/x-mine" },
			{ "a.crlf", "text/x-crlf; charset=utf-8" },
			{ "a.last", "application/x-last" },
			/* what the file does not say, the built-in table does */
			{ "a.png", "image/png" },
			{ "a.css", "text/css; charset=utf-8" },
			{ "a.unknown", OCTET },
		};
		check_types(m, "file", rows, ARRAY_SIZE(rows));
	}
	web_mime_free(m);
	unlink(path);
	CHECK_EQ(rmdir(dir), 0);
}

/* Thousands of extensions (the table grows), one line longer than any
 * line buffer: every extension is found, none is cut in two. */
TEST(web_mime_many_extensions)
{
	char dir[] = "/tmp/ts-mime-XXXXXX";
	CHECK(mkdtemp(dir) != NULL);
	char path[256];
	snprintf(path, sizeof(path), "%s/mime.types", dir);
	FILE *f = fopen(path, "w");
	CHECK(f != NULL);
	if (f == NULL)
		return;
	for (int i = 0; i < 3000; i++)
		fprintf(f, "application/x-t%d e%d\n", i, i);
	fputs("application/x-long", f);
	for (int i = 0; i < 1000; i++)
		fprintf(f, " long%d", i);
	fputs("\n", f);
	fclose(f);

	char err[256] = "";
	struct web_mime *m = web_mime_load(path, err, sizeof(err));
	CHECK(m != NULL);
	if (m) {
		t_case("web_mime 3000 lines");
		int wrong = 0;
		for (int i = 0; i < 3000 && wrong < 5; i++) {
			char name[32], want[32];
			snprintf(name, sizeof(name), "f.E%d", i);
			snprintf(want, sizeof(want), "application/x-t%d", i);
			if (strcmp(web_mime_type(m, name), want) != 0) {
				t_check(0, __FILE__, __LINE__, "%s: %s, want %s", name,
				        web_mime_type(m, name), want);
				wrong++;
			}
		}
		CHECK_EQ(wrong, 0);

		t_case("web_mime a line of 1000 extensions");
		wrong = 0;
		for (int i = 0; i < 1000 && wrong < 5; i++) {
			char name[32];
			snprintf(name, sizeof(name), "f.long%d", i);
			if (strcmp(web_mime_type(m, name), "application/x-long") != 0) {
				t_check(0, __FILE__, __LINE__, "%s: %s", name,
				        web_mime_type(m, name));
				wrong++;
			}
		}
		CHECK_EQ(wrong, 0);
		/* no piece of a cut extension became one of its own */
		CHECK_STR(web_mime_type(m, "f.long"), OCTET);
		CHECK_STR(web_mime_type(m, "f.lon"), OCTET);
	}
	web_mime_free(m);
	unlink(path);
	CHECK_EQ(rmdir(dir), 0);
}

TEST(web_mime_builtin)
{
	static const struct mime_row rows[] = {
		{ "index.html", "text/html; charset=utf-8" },
		{ "INDEX.HTM", "text/html; charset=utf-8" },
		{ "app.js", "text/javascript; charset=utf-8" },
		{ "style.css", "text/css; charset=utf-8" },
		{ "notes.txt", "text/plain; charset=utf-8" },
		{ "logo.png", "image/png" },
		{ "photo.JPG", "image/jpeg" },
		{ "font.woff2", "font/woff2" },
		{ "doc.pdf", "application/pdf" },
		{ "x.wasm", "application/wasm" },
		{ "a.tar.gz", "application/gzip" }, /* the last dot counts */
		{ "/srv/www/site/page.html", "text/html; charset=utf-8" },
		/* no extension */
		{ "README", OCTET },
		{ "", OCTET },
		{ "file.", OCTET },
		{ "/srv/www/Makefile", OCTET },
		/* a dot in a directory is no extension */
		{ "/srv/www.example/README", OCTET },
		{ "dir.html/file", OCTET },
		{ "a.png/", OCTET },
		{ "a.nosuchext", OCTET },
	};
	char err[256] = "";

	/* No file, or one that is not there: the built-in table, no error. */
	static const char *const paths[] = { NULL, "", "/nonexistent-ts-dir/mime.types" };
	for (size_t p = 0; p < ARRAY_SIZE(paths); p++) {
		t_case("web_mime_load %s", paths[p] ? paths[p] : "(null)");
		struct web_mime *m = web_mime_load(paths[p], err, sizeof(err));
		CHECK(m != NULL);
		CHECK_STR(err, "");
		if (m)
			check_types(m, paths[p] ? paths[p] : "(null)", rows, ARRAY_SIZE(rows));
		web_mime_free(m);
	}
	web_mime_free(NULL);
}

/* A path that exists but cannot be read as a file is a configuration error. */
TEST(web_mime_unreadable)
{
	char dir[] = "/tmp/ts-mime-XXXXXX";
	CHECK(mkdtemp(dir) != NULL);
	char err[256] = "";
	struct web_mime *m = web_mime_load(dir, err, sizeof(err));
	CHECK(m == NULL);
	CHECK(err[0] != '\0');
	CHECK(strstr(err, dir) != NULL);
	web_mime_free(m);
	CHECK_EQ(rmdir(dir), 0);
}

/* The system's file, present on this machine (Debian's media-types). */
TEST(web_mime_etc_mime_types)
{
	if (access("/etc/mime.types", R_OK) != 0) {
		t_case("web_mime /etc/mime.types (absent: skipped)");
		CHECK(1);
		return;
	}
	char err[256] = "";
	struct web_mime *m = web_mime_load("/etc/mime.types", err, sizeof(err));
	CHECK(m != NULL);
	CHECK_STR(err, "");
	if (m) {
		static const struct mime_row rows[] = {
			{ "index.html", "text/html; charset=utf-8" },
			{ "INDEX.HTML", "text/html; charset=utf-8" },
			{ "book.epub", "application/epub+zip" },
			{ "logo.png", "image/png" },
			{ "README", OCTET },
		};
		check_types(m, "/etc/mime.types", rows, ARRAY_SIZE(rows));
	}
	web_mime_free(m);
}
