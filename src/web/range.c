/* range.c - Range and Accept-Encoding. See range.h. */
#include "range.h"

#include <string.h>
#include <strings.h>

static bool ows(char c)
{
	return c == ' ' || c == '\t';
}

static struct str trim(struct str s)
{
	while (s.len && ows(s.p[0]))
		s.p++, s.len--;
	while (s.len && ows(s.p[s.len - 1]))
		s.len--;
	return s;
}

/* Digits only, no sign, no overflow past 2^62. */
static bool parse_pos(const char *p, size_t n, int64_t *out)
{
	if (n == 0 || n > 18)
		return false;
	int64_t v = 0;
	for (size_t i = 0; i < n; i++) {
		if (p[i] < '0' || p[i] > '9')
			return false;
		v = v * 10 + (p[i] - '0');
	}
	*out = v;
	return true;
}

/* Do two of the ranges share a byte? Ranges that do not, all inside the
 * file, cannot add up to more than the file: one test bounds both. */
static bool overlapping(const struct web_range *rg, unsigned n)
{
	for (unsigned i = 1; i < n; i++)
		for (unsigned k = 0; k < i; k++)
			if (rg[i].first <= rg[k].last && rg[k].first <= rg[i].last)
				return true;
	return false;
}

enum web_range_result web_range_parse(struct str value, int64_t size, struct web_range *out,
                                      unsigned *n)
{
	*n = 0;
	value = trim(value);
	/* Range unit names are case-insensitive (RFC 9110 14.1). */
	if (value.len < 6 || strncasecmp(value.p, "bytes=", 6) != 0)
		return WEB_RANGE_NONE;
	const char *p = value.p + 6, *end = value.p + value.len;
	unsigned seen = 0;
	bool empty_suffix = false; /* a non-zero suffix asked of an empty file */
	while (p <= end) {
		const char *comma = memchr(p, ',', (size_t)(end - p));
		const char *stop = comma ? comma : end;
		struct str spec = trim((struct str){ p, (size_t)(stop - p) });
		p = stop + 1;
		if (spec.len == 0) {
			if (comma)
				continue; /* empty list elements are allowed */
			break;
		}
		if (++seen > WEB_MAX_RANGES)
			goto ignore;
		const char *dash = memchr(spec.p, '-', spec.len);
		if (dash == NULL)
			goto ignore;
		size_t left = (size_t)(dash - spec.p), right = spec.len - left - 1;
		int64_t first, last;
		if (left == 0) {
			/* suffix: the last N bytes */
			int64_t suffix;
			if (!parse_pos(dash + 1, right, &suffix))
				goto ignore;
			if (suffix == 0)
				continue; /* unsatisfiable on its own */
			if (size == 0) {
				empty_suffix = true;
				continue;
			}
			first = suffix >= size ? 0 : size - suffix;
			last = size - 1;
		} else {
			if (!parse_pos(spec.p, left, &first))
				goto ignore;
			if (right == 0) {
				last = size - 1;
			} else {
				if (!parse_pos(dash + 1, right, &last) || last < first)
					goto ignore;
				if (last >= size)
					last = size - 1;
			}
			if (first >= size)
				continue; /* past the end */
		}
		out[*n].first = first;
		out[*n].last = last;
		(*n)++;
		if (!comma)
			break;
	}
	/* An empty file satisfies a non-zero suffix (RFC 9110 14.1.1), but no
	 * 206 can carry zero bytes: send it whole (200) rather than a 416. */
	if (seen == 0 || (*n == 0 && empty_suffix))
		goto ignore;
	/* Overlaps ask for bytes twice: sixteen "0-524287" would make a 206
	 * sixteen times the file. The whole file (200) answers them, as nginx
	 * does when the ranges add up to more than the file. */
	if (overlapping(out, *n))
		goto ignore;
	return *n ? WEB_RANGE_OK : WEB_RANGE_UNSATISFIABLE;
ignore:
	*n = 0; /* ranges read before a bad one are not given out */
	return WEB_RANGE_NONE;
}

/* Accept-Encoding: gzip;q=0.8, br, *;q=0 */
bool web_accepts_gzip(struct str value)
{
	const char *p = value.p, *end = value.p + value.len;
	int gzip = -1, star = -1; /* -1 unseen, 0 refused, 1 accepted */
	while (p < end) {
		const char *comma = memchr(p, ',', (size_t)(end - p));
		const char *stop = comma ? comma : end;
		struct str item = trim((struct str){ p, (size_t)(stop - p) });
		p = comma ? comma + 1 : end;
		const char *semi = memchr(item.p, ';', item.len);
		struct str coding =
		    trim((struct str){ item.p, semi ? (size_t)(semi - item.p) : item.len });
		bool ok = true;
		if (semi) {
			/* q=0, q=0.0, q=0.000 refuse; anything else accepts */
			struct str q =
			    trim((struct str){ semi + 1, item.len - (size_t)(semi + 1 - item.p) });
			if (q.len >= 3 && (q.p[0] == 'q' || q.p[0] == 'Q') && q.p[1] == '=') {
				ok = false;
				for (size_t i = 2; i < q.len; i++)
					if (q.p[i] >= '1' && q.p[i] <= '9')
						ok = true;
			}
		}
		if (coding.len == 4 && strncasecmp(coding.p, "gzip", 4) == 0)
			gzip = ok;
		else if (coding.len == 1 && coding.p[0] == '*')
			star = ok;
	}
	if (gzip >= 0)
		return gzip == 1;
	return star == 1;
}
