/* prom.c - the Prometheus text format, read. See prom.h. */
#include "prom.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static bool name_start(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':';
}

static bool name_char(char c)
{
	return name_start(c) || (c >= '0' && c <= '9');
}

static bool blank(char c)
{
	return c == ' ' || c == '\t';
}

/* A metric or label name at p[0, n): its length, or 0. */
static size_t scan_name(const char *p, size_t n)
{
	size_t i = 0;
	if (n == 0 || !name_start(p[0]))
		return 0;
	while (i < n && name_char(p[i]))
		i++;
	return i;
}

/* A label value from its opening quote: the length up to and with the
 * closing quote, or 0 when it does not close on this line. */
static size_t scan_quoted(const char *p, size_t n)
{
	if (n == 0 || p[0] != '"')
		return 0;
	for (size_t i = 1; i < n; i++) {
		if (p[i] == '\\') {
			i++;
			continue;
		}
		if (p[i] == '"')
			return i + 1;
	}
	return 0;
}

/* The label set from just after '{': the length up to and with '}', or 0
 * when it is malformed. name="value" pairs, commas between, one trailing
 * comma allowed. */
static size_t scan_labels(const char *p, size_t n)
{
	size_t i = 0;
	for (;;) {
		while (i < n && blank(p[i]))
			i++;
		if (i < n && p[i] == '}')
			return i + 1;
		size_t k = scan_name(p + i, n - i);
		if (k == 0)
			return 0;
		i += k;
		while (i < n && blank(p[i]))
			i++;
		if (i >= n || p[i] != '=')
			return 0;
		i++;
		while (i < n && blank(p[i]))
			i++;
		size_t q = scan_quoted(p + i, n - i);
		if (q == 0)
			return 0;
		i += q;
		while (i < n && blank(p[i]))
			i++;
		if (i < n && p[i] == ',') {
			i++;
			continue;
		}
		if (i < n && p[i] == '}')
			return i + 1;
		return 0;
	}
}

/* A value token ("1", "-2.5e3", "NaN", "+Inf"): its number, or false. */
static bool parse_value(const char *p, size_t n, double *v)
{
	char tmp[64];
	if (n == 0 || n >= sizeof(tmp))
		return false;
	memcpy(tmp, p, n);
	tmp[n] = '\0';
	if (strcmp(tmp, "+Inf") == 0 || strcmp(tmp, "Inf") == 0) {
		*v = INFINITY;
		return true;
	}
	if (strcmp(tmp, "-Inf") == 0) {
		*v = -INFINITY;
		return true;
	}
	if (strcmp(tmp, "NaN") == 0) {
		*v = NAN;
		return true;
	}
	/* strtod would also take hex, "infinity" and the like: digits only */
	for (size_t i = 0; i < n; i++)
		if (strchr("0123456789+-.eE", tmp[i]) == NULL)
			return false;
	char *end;
	*v = strtod(tmp, &end);
	return end == tmp + n;
}

/* One line (without its end): a sample, or false. */
static bool parse_line(const char *p, size_t n, struct prom_sample *s)
{
	size_t i = 0;
	while (i < n && blank(p[i]))
		i++;
	size_t k = scan_name(p + i, n - i);
	if (k == 0 || k > PROM_MAX_NAME)
		return false;
	s->name = (struct str){ p + i, k };
	s->labels = (struct str){ p + i + k, 0 };
	i += k;
	if (i < n && p[i] == '{') {
		size_t l = scan_labels(p + i + 1, n - i - 1);
		if (l == 0 || l - 1 > PROM_MAX_LABELS)
			return false;
		s->labels = (struct str){ p + i + 1, l - 1 };
		i += 1 + l;
	}
	if (i >= n || !blank(p[i]))
		return false;
	while (i < n && blank(p[i]))
		i++;
	size_t v = i;
	while (i < n && !blank(p[i]))
		i++;
	if (!parse_value(p + v, i - v, &s->value))
		return false;
	/* an optional timestamp (ms), then nothing */
	while (i < n && blank(p[i]))
		i++;
	size_t t = i;
	while (i < n && p[i] >= '0' && p[i] <= '9')
		i++;
	if (i < n && p[i] == '-' && i == t)
		for (i++; i < n && p[i] >= '0' && p[i] <= '9';)
			i++;
	while (i < n && blank(p[i]))
		i++;
	return i == n;
}

int prom_next(const char *text, size_t len, size_t *pos, struct prom_sample *s, unsigned *skipped)
{
	while (*pos < len) {
		const char *line = text + *pos;
		size_t rest = len - *pos;
		const char *nl = memchr(line, '\n', rest);
		size_t n = nl ? (size_t)(nl - line) : rest;
		*pos += nl ? n + 1 : n;
		if (n && line[n - 1] == '\r')
			n--;
		size_t i = 0;
		while (i < n && blank(line[i]))
			i++;
		if (i == n || line[i] == '#')
			continue;
		if (parse_line(line, n, s))
			return 1;
		if (skipped)
			(*skipped)++;
	}
	return 0;
}

bool prom_label(struct str labels, const char *key, char *out, size_t outlen)
{
	const char *p = labels.p;
	size_t n = labels.len, i = 0, klen = strlen(key);
	while (i < n) {
		while (i < n && (blank(p[i]) || p[i] == ','))
			i++;
		size_t k = scan_name(p + i, n - i);
		if (k == 0)
			return false;
		bool match = k == klen && memcmp(p + i, key, k) == 0;
		i += k;
		while (i < n && (blank(p[i]) || p[i] == '='))
			i++;
		size_t q = scan_quoted(p + i, n - i);
		if (q == 0)
			return false;
		if (match) {
			size_t o = 0;
			for (size_t j = i + 1; j + 1 < i + q; j++) {
				char c = p[j];
				if (c == '\\' && j + 2 < i + q) {
					c = p[++j];
					if (c == 'n')
						c = '\n';
				}
				if (outlen && o + 1 < outlen)
					out[o++] = c;
			}
			if (outlen)
				out[o] = '\0';
			return true;
		}
		i += q;
	}
	return false;
}

bool prom_name_is(const struct prom_sample *s, const char *name)
{
	size_t n = strlen(name);
	return s->name.len == n && memcmp(s->name.p, name, n) == 0;
}
