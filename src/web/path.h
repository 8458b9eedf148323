/* path.h - request-target to file path, with no way out of the root.
 *
 * A pure function: percent-decodes the path part of a request target, then
 * normalises it ("." and empty segments dropped, ".." taken back) into an
 * absolute path that never climbs above "/". Refuses (400) malformed
 * escapes, NUL bytes, ".." above the root, non-origin-form targets, and
 * results longer than the output. What it returns is still only a name: the
 * file is opened beneath the root with RESOLVE_BENEATH, which also refuses
 * symlinks that lead out.
 */
#ifndef TS_WEB_PATH_H
#define TS_WEB_PATH_H

#include <stdbool.h>
#include <stddef.h>

/* Normalise target[0..len) into out (NUL-terminated, starts with '/').
 * Returns the length of out, or -status (-400, -414) when refused. A
 * trailing '/' is kept (it asks for a directory). */
long web_path_normalize(const char *target, size_t len, char *out, size_t outlen);

/* Does a normalised path name something hidden: a segment starting with '.'
 * (/.env, /.git/config)? Such files are not for the web unless the
 * operator says so. "/.well-known" (RFC 8615) is not hidden, though a dot
 * segment below it is. */
bool web_path_hidden(const char *path);

#endif
