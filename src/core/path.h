/* path.h - a request target's path, decoded and normalised, with no way
 * above the root.
 *
 * A pure function: percent-decodes the path part of a request target, then
 * normalises it ("." and empty segments dropped, ".." taken back) into an
 * absolute path that never climbs above "/". Refuses (400) malformed
 * escapes, NUL and control bytes, ".." above the root, non-origin-form
 * targets, and results longer than the output. The web server maps what it
 * returns to a file (opened beneath the root with RESOLVE_BENEATH, which
 * also refuses symlinks that lead out); the LB matches it against the paths
 * it treats specially (ACME's), so that both read a target the same way.
 */
#ifndef TS_CORE_PATH_H
#define TS_CORE_PATH_H

#include <stdbool.h>
#include <stddef.h>

/* Refuse (400) an escape that decodes to '/' ("%2F"): for a caller whose
 * match must not see a separator the sender hid. */
#define PATH_NO_ENCODED_SLASH 0x1u
/* Let control bytes other than NUL through ("%0d%0a"): for a caller that
 * only matches a prefix and sends the target on as it came (the web
 * server's proxy prefixes), never for one that names a file with it. */
#define PATH_CONTROL_OK 0x2u

/* Normalise target[0..len) into out (NUL-terminated, starts with '/').
 * Returns the length of out, or -status (-400, -414) when refused. A
 * trailing '/' is kept (it asks for a directory). */
long path_normalize(const char *target, size_t len, char *out, size_t outlen, unsigned flags);

/* Does a normalised path name something hidden: a segment starting with '.'
 * (/.env, /.git/config)? Such files are not for the web unless the
 * operator says so. "/.well-known" (RFC 8615) is not hidden, though a dot
 * segment below it is. */
bool path_hidden(const char *path);

#endif
