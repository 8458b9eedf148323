/* text.c - UTF-8, forms, cookies, HTML escaping, ids, keys, GTIDs. See text.h. */
#include "text.h"

#include <string.h>

bool utf8_valid(const char *p, size_t n, size_t *chars)
{
	const unsigned char *s = (const unsigned char *)p;
	size_t i = 0, count = 0;
	while (i < n) {
		unsigned char c = s[i];
		size_t len;
		unsigned cp;
		if (c < 0x80) {
			i++;
			count++;
			continue;
		} else if (c >= 0xc2 && c <= 0xdf) {
			len = 2;
			cp = c & 0x1f;
		} else if (c >= 0xe0 && c <= 0xef) {
			len = 3;
			cp = c & 0x0f;
		} else if (c >= 0xf0 && c <= 0xf4) {
			len = 4;
			cp = c & 0x07;
		} else {
			return false; /* a continuation byte, or 0xc0, 0xc1, 0xf5.. */
		}
		if (i + len > n)
			return false;
		for (size_t k = 1; k < len; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				return false;
			cp = (cp << 6) | (s[i + k] & 0x3f);
		}
		if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
		    (cp >= 0xd800 && cp <= 0xdfff))
			return false; /* overlong, out of range, surrogate */
		i += len;
		count++;
	}
	if (chars)
		*chars = count;
	return true;
}

long form_field(const char *body, size_t n, const char *name, char *out, size_t outlen)
{
	size_t nlen = strlen(name);
	const char *p = body, *end = body + n;
	while (p < end) {
		const char *amp = memchr(p, '&', (size_t)(end - p));
		const char *stop = amp ? amp : end;
		const char *eq = memchr(p, '=', (size_t)(stop - p));
		const char *kend = eq ? eq : stop;
		if ((size_t)(kend - p) == nlen && memcmp(p, name, nlen) == 0) {
			size_t o = 0;
			for (const char *v = eq ? eq + 1 : stop; v < stop; v++) {
				char c = *v;
				if (c == '+') {
					c = ' ';
				} else if (c == '%') {
					if (stop - v < 3 || hexval(v[1]) < 0 || hexval(v[2]) < 0)
						return -2;
					c = (char)(hexval(v[1]) * 16 + hexval(v[2]));
					v += 2;
				}
				if (o + 1 >= outlen)
					return -2;
				out[o++] = c;
			}
			if (o >= outlen)
				return -2; /* outlen 0: no room for the NUL */
			out[o] = '\0';
			return (long)o;
		}
		p = stop + 1;
	}
	return -1;
}

struct str cookie_value(struct str header, const char *name)
{
	size_t nlen = strlen(name);
	if (header.p == NULL)
		return (struct str){ NULL, 0 };
	const char *p = header.p, *end = header.p + header.len;
	while (p < end) {
		while (p < end && (*p == ' ' || *p == '\t'))
			p++;
		const char *semi = memchr(p, ';', (size_t)(end - p));
		const char *stop = semi ? semi : end;
		const char *eq = memchr(p, '=', (size_t)(stop - p));
		if (eq && (size_t)(eq - p) == nlen && memcmp(p, name, nlen) == 0) {
			const char *v = eq + 1, *ve = stop;
			while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t'))
				ve--;
			if (ve - v >= 2 && *v == '"' && ve[-1] == '"')
				v++, ve--;
			return (struct str){ v, (size_t)(ve - v) };
		}
		p = stop + 1;
	}
	return (struct str){ NULL, 0 };
}

void html_escape(struct sbuf *o, const char *s, size_t n)
{
	size_t run = 0;
	for (size_t i = 0; i < n; i++) {
		const char *rep = NULL;
		switch (s[i]) {
		case '&':
			rep = "&amp;";
			break;
		case '<':
			rep = "&lt;";
			break;
		case '>':
			rep = "&gt;";
			break;
		case '"':
			rep = "&quot;";
			break;
		case '\'':
			rep = "&#39;";
			break;
		default:
			run++;
			continue;
		}
		sbuf_add(o, s + i - run, run);
		run = 0;
		sbuf_adds(o, rep);
	}
	sbuf_add(o, s + n - run, run);
}

long long text_id(const char *p, size_t n)
{
	if (n == 0 || n > 18)
		return -1;
	long long v = 0;
	for (size_t i = 0; i < n; i++) {
		if (p[i] < '0' || p[i] > '9')
			return -1;
		v = v * 10 + (p[i] - '0');
	}
	return v > 0 ? v : -1;
}

bool idem_key_valid(const char *p, size_t n)
{
	if (n < 1 || n > IDEM_KEY_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = p[i];
		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		      c == '_' || c == '-' || c == '.' || c == ':'))
			return false;
	}
	return true;
}

/* Digits up to a separator, at most max: the value, or -1 when none, out of
 * range or followed by anything else than sep (or the end, when sep is
 * ','). */
static int gtid_number(struct str *l, char sep, uint64_t max, uint64_t *v)
{
	size_t i = 0;
	*v = 0;
	for (; i < l->len && l->p[i] >= '0' && l->p[i] <= '9'; i++) {
		unsigned d = (unsigned)(l->p[i] - '0');
		if (*v > (max - d) / 10)
			return -1;
		*v = *v * 10 + d;
	}
	bool at_end = i == l->len;
	if (i == 0 || (at_end ? sep != ',' : l->p[i] != sep))
		return -1;
	size_t used = at_end ? i : i + 1;
	if (!at_end && sep == ',' && used == l->len)
		return -1; /* a trailing comma */
	l->p += used;
	l->len -= used;
	return 0;
}

bool gtid_next(struct str *list, struct gtid *g)
{
	struct str l = *list;
	uint64_t d, s, n;
	if (l.len == 0 || gtid_number(&l, '-', UINT32_MAX, &d) < 0 ||
	    gtid_number(&l, '-', UINT32_MAX, &s) < 0 || gtid_number(&l, ',', UINT64_MAX, &n) < 0)
		return false;
	*g = (struct gtid){ (uint32_t)d, (uint32_t)s, n };
	*list = l;
	return true;
}
