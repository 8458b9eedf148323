/* path.c - request path decoding and normalisation. See path.h. */
#include "path.h"

#include "common.h"

#include <string.h>

long path_normalize(const char *target, size_t len, char *out, size_t outlen, unsigned flags)
{
	if (len == 0 || target[0] != '/' || outlen < 2)
		return -400;
	const char *q = memchr(target, '?', len);
	if (q)
		len = (size_t)(q - target);
	const char *hash = memchr(target, '#', len);
	if (hash)
		len = (size_t)(hash - target);

	size_t o = 0;     /* bytes written to out */
	size_t seg = 0;   /* where the current segment starts in out */
	int last_dir = 0; /* the last segment named a directory: "", ".", ".." */
	out[o++] = '/';
	seg = o;
	for (size_t i = 1; i <= len; i++) {
		char c;
		if (i == len) {
			c = '/'; /* flush the last segment */
		} else if (target[i] == '%') {
			if (i + 2 >= len)
				return -400;
			int hi = hexval(target[i + 1]), lo = hexval(target[i + 2]);
			if (hi < 0 || lo < 0)
				return -400;
			c = (char)(hi * 16 + lo);
			i += 2;
			if (c == '/' && (flags & PATH_NO_ENCODED_SLASH))
				return -400;
		} else {
			c = target[i];
		}
		if (c == 0 ||
		    (((unsigned char)c < 0x20 || c == 0x7f) && !(flags & PATH_CONTROL_OK)))
			return -400; /* NUL and control bytes name no file of ours */
		if (c != '/') {
			if (o + 1 >= outlen)
				return -414;
			out[o++] = c;
			continue;
		}
		/* end of a segment: out[seg..o) */
		size_t n = o - seg;
		last_dir = 1;
		if (n == 0 || (n == 1 && out[seg] == '.')) {
			o = seg; /* "//" or "/./" */
		} else if (n == 2 && out[seg] == '.' && out[seg + 1] == '.') {
			if (seg == 1)
				return -400; /* above the root */
			/* drop the previous segment */
			o = seg - 1;
			while (o > 0 && out[o - 1] != '/')
				o--;
		} else {
			if (o + 1 >= outlen)
				return -414;
			out[o++] = '/';
			last_dir = 0;
		}
		seg = o;
	}
	/* The final flush added a '/': keep it only when the target asked for
	 * a directory. */
	if (o > 1 && out[o - 1] == '/' && !last_dir)
		o--;
	out[o] = '\0';
	return (long)o;
}

bool path_hidden(const char *path)
{
	static const char wk[] = "/.well-known";
	size_t n = sizeof(wk) - 1;
	if (strncmp(path, wk, n) == 0 && (path[n] == '/' || path[n] == '\0'))
		path += n;
	/* normalised: every segment follows a '/' */
	return strstr(path, "/.") != NULL;
}
