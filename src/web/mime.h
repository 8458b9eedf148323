/* mime.h - Content-Type by file extension: /etc/mime.types when there is
 * one (as nginx's mime.types), a built-in table otherwise. */
#ifndef TS_WEB_MIME_H
#define TS_WEB_MIME_H

#include <stddef.h>

struct web_mime;

/* Load path ("" or NULL: the built-in table only). Returns the table, or
 * NULL with err set when the file exists but cannot be read. A missing file
 * is not an error: the built-in table is used. */
struct web_mime *web_mime_load(const char *path, char *err, size_t errlen);
void web_mime_free(struct web_mime *m);
/* The Content-Type for a file name; text types get "; charset=utf-8". */
const char *web_mime_type(const struct web_mime *m, const char *name);

#endif
