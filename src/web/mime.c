/* mime.c - the extension -> Content-Type table. See mime.h. */
#include "mime.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/common.h"

static const char *const builtin[][2] = {
	{ "html", "text/html" },        { "htm", "text/html" },
	{ "css", "text/css" },          { "js", "text/javascript" },
	{ "mjs", "text/javascript" },   { "json", "application/json" },
	{ "txt", "text/plain" },        { "xml", "application/xml" },
	{ "svg", "image/svg+xml" },     { "png", "image/png" },
	{ "jpg", "image/jpeg" },        { "jpeg", "image/jpeg" },
	{ "gif", "image/gif" },         { "webp", "image/webp" },
	{ "avif", "image/avif" },       { "ico", "image/vnd.microsoft.icon" },
	{ "woff", "font/woff" },        { "woff2", "font/woff2" },
	{ "wasm", "application/wasm" }, { "pdf", "application/pdf" },
	{ "gz", "application/gzip" },   { "zip", "application/zip" },
	{ "mp4", "video/mp4" },         { "webm", "video/webm" },
	{ "mp3", "audio/mpeg" },        { "csv", "text/csv" },
	{ "md", "text/markdown" },      { "map", "application/json" },
};

struct entry {
	char *ext;  /* lower case; NULL = empty slot */
	char *type; /* with "; charset=utf-8" for text */
};

struct web_mime {
	struct entry *slots;
	size_t cap, n;
};

static size_t hash(const char *s)
{
	size_t h = 1469598103934665603ull;
	for (; *s; s++)
		h = (h ^ (unsigned char)(*s | 0x20)) * 1099511628211ull;
	return h;
}

static bool text_type(const char *type)
{
	return strncmp(type, "text/", 5) == 0 || strcmp(type, "application/json") == 0 ||
	       strcmp(type, "application/javascript") == 0 ||
	       strcmp(type, "application/xml") == 0 || strcmp(type, "image/svg+xml") == 0;
}

static void put(struct web_mime *m, const char *ext, const char *type);

static void grow(struct web_mime *m)
{
	struct entry *old = m->slots;
	size_t oldcap = m->cap;
	m->cap = m->cap ? m->cap * 2 : 256;
	m->slots = xcalloc(m->cap, sizeof(*m->slots));
	m->n = 0;
	for (size_t i = 0; i < oldcap; i++)
		if (old[i].ext) {
			size_t h = hash(old[i].ext) & (m->cap - 1);
			while (m->slots[h].ext)
				h = (h + 1) & (m->cap - 1);
			m->slots[h] = old[i];
			m->n++;
		}
	free(old);
}

/* The first mapping of an extension wins, as in mime.types files. */
static void put(struct web_mime *m, const char *ext, const char *type)
{
	if ((m->n + 1) * 2 > m->cap)
		grow(m);
	size_t h = hash(ext) & (m->cap - 1);
	while (m->slots[h].ext) {
		if (strcasecmp(m->slots[h].ext, ext) == 0)
			return;
		h = (h + 1) & (m->cap - 1);
	}
	char *e = xstrdup(ext);
	for (char *c = e; *c; c++)
		if (*c >= 'A' && *c <= 'Z')
			*c = (char)(*c + 32);
	char full[256];
	snprintf(full, sizeof(full), "%s%s", type, text_type(type) ? "; charset=utf-8" : "");
	m->slots[h] = (struct entry){ e, xstrdup(full) };
	m->n++;
}

struct web_mime *web_mime_load(const char *path, char *err, size_t errlen)
{
	struct web_mime *m = xcalloc(1, sizeof(*m));
	if (path && *path) {
		FILE *f = fopen(path, "r");
		if (f == NULL && errno != ENOENT) {
			snprintf(err, errlen, "cannot read %s: %s", path, strerror(errno));
			web_mime_free(m);
			return NULL;
		}
		/* getline, not a fixed buffer: a long line cut in two would
		 * lose, or worse map, the pieces of an extension. */
		char *line = NULL;
		size_t cap = 0;
		while (f && getline(&line, &cap, f) >= 0) {
			char *hash_mark = strchr(line, '#');
			if (hash_mark)
				*hash_mark = '\0';
			char *save = NULL;
			char *type = strtok_r(line, " \t\r\n", &save);
			if (type == NULL || strchr(type, '/') == NULL)
				continue;
			for (char *ext = strtok_r(NULL, " \t\r\n", &save); ext;
			     ext = strtok_r(NULL, " \t\r\n", &save))
				put(m, ext, type);
		}
		free(line);
		/* fopen() takes a directory; the first read says EISDIR. */
		if (f && ferror(f)) {
			snprintf(err, errlen, "cannot read %s: %s", path, strerror(errno));
			fclose(f);
			web_mime_free(m);
			return NULL;
		}
		if (f)
			fclose(f);
	}
	/* The built-in table fills what the file does not say. */
	for (size_t i = 0; i < ARRAY_SIZE(builtin); i++)
		put(m, builtin[i][0], builtin[i][1]);
	return m;
}

void web_mime_free(struct web_mime *m)
{
	if (m == NULL)
		return;
	for (size_t i = 0; i < m->cap; i++) {
		free(m->slots[i].ext);
		free(m->slots[i].type);
	}
	free(m->slots);
	free(m);
}

const char *web_mime_type(const struct web_mime *m, const char *name)
{
	const char *slash = strrchr(name, '/');
	const char *dot = strrchr(name, '.');
	if (dot == NULL || (slash && dot < slash) || dot[1] == '\0' || m->cap == 0)
		return "application/octet-stream";
	const char *ext = dot + 1;
	size_t h = hash(ext) & (m->cap - 1);
	while (m->slots[h].ext) {
		if (strcasecmp(m->slots[h].ext, ext) == 0)
			return m->slots[h].type;
		h = (h + 1) & (m->cap - 1);
	}
	return "application/octet-stream";
}
