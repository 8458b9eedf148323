/* cfg.c - the generic loader: inih underneath, key tables, units, file:line.
 * See cfg.h. */
#include "cfg.h"

#include <ctype.h>
#include <errno.h>
#include <ini.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "log.h"

/* ---- value parsers ---- */

/* The digits a duration or a size starts with (no sign, no space); end is
 * left at what follows them (the unit). */
static int leading_number(const char *s, unsigned long long *v, char **end)
{
	if (!isdigit((unsigned char)*s))
		return -1;
	errno = 0;
	*v = strtoull(s, end, 10);
	return errno ? -1 : 0;
}

int cfg_parse_duration(const char *s, uint64_t *ms)
{
	static const struct {
		const char *unit;
		uint64_t ms;
	} units[] = {
		{ "ms", 1 }, { "s", 1000 }, { "m", 60000 }, { "h", 3600000 }, { "d", 86400000 }
	};
	char *end;
	unsigned long long v;
	if (leading_number(s, &v, &end) < 0)
		return -1;
	if (*end == '\0')
		return v == 0 ? (*ms = 0, 0) : -1; /* a unit is required, except for 0 */
	for (size_t i = 0; i < ARRAY_SIZE(units); i++) {
		if (strcmp(end, units[i].unit) == 0) {
			if (v > UINT64_MAX / units[i].ms)
				return -1;
			*ms = v * units[i].ms;
			return 0;
		}
	}
	return -1;
}

int cfg_parse_size(const char *s, uint64_t *bytes)
{
	char *end;
	unsigned long long v;
	if (leading_number(s, &v, &end) < 0)
		return -1;
	uint64_t mul = 1;
	switch (tolower((unsigned char)*end)) {
	case '\0':
		break;
	case 'k':
		mul = 1024;
		end++;
		break;
	case 'm':
		mul = 1024 * 1024;
		end++;
		break;
	case 'g':
		mul = 1024 * 1024 * 1024;
		end++;
		break;
	default:
		return -1;
	}
	if (mul > 1 && (strcmp(end, "b") == 0 || strcmp(end, "B") == 0 || strcmp(end, "iB") == 0))
		end += strlen(end);
	if (*end != '\0' || v > UINT64_MAX / mul)
		return -1;
	*bytes = v * mul;
	return 0;
}

int cfg_parse_bool(const char *s, bool *b)
{
	static const char *const yes[] = { "yes", "on", "true", "1" };
	static const char *const no[] = { "no", "off", "false", "0" };
	for (size_t i = 0; i < ARRAY_SIZE(yes); i++) {
		if (strcasecmp(s, yes[i]) == 0)
			return *b = true, 0;
		if (strcasecmp(s, no[i]) == 0)
			return *b = false, 0;
	}
	return -1;
}

int cfg_parse_int(const char *s, int64_t *v)
{
	char *end;
	errno = 0;
	if (!isdigit((unsigned char)*s) && !(*s == '-' && isdigit((unsigned char)s[1])))
		return -1;
	long long x = strtoll(s, &end, 10);
	if (errno || *end)
		return -1;
	*v = x;
	return 0;
}

/* ---- the loader ---- */

#define MAX_SECTIONS 16

struct cfg_ctx {
	const struct cfg_schema *sc;
	void *root;
	const char *name; /* file name for messages */
	const char *text;
	size_t pos, len;
	int line;                      /* line being parsed */
	const struct cfg_section *sec; /* current section, NULL before any */
	void *base;                    /* its struct (the current element if named) */
	unsigned sec_index;
	/* line where each key was set: per section, nkeys per element */
	int *seen[MAX_SECTIONS];
	int section_seen[MAX_SECTIONS];
	char *err;
	size_t errlen;
	bool failed;
};

#define MAX_LINE 4096
void cfg_fail(struct cfg_ctx *L, const char *fmt, ...)
{
	if (L->failed)
		return;
	L->failed = true;
	int n = L->line > 0 ? snprintf(L->err, L->errlen, "%s:%d: ", L->name, L->line)
	                    : snprintf(L->err, L->errlen, "%s: ", L->name);
	if (n < 0 || (size_t)n >= L->errlen)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(L->err + n, L->errlen - (size_t)n, fmt, ap);
	va_end(ap);
}

bool cfg_failed(const struct cfg_ctx *L)
{
	return L->failed;
}

int cfg_line(const struct cfg_ctx *L)
{
	return L->line;
}

const char *cfg_section_name(const struct cfg_ctx *L)
{
	return L->sec ? L->sec->name : "";
}

void cfg_at(struct cfg_ctx *L, int line)
{
	L->line = line;
}

/* The index of a section in the schema, or -1. */
static int find_section(const struct cfg_schema *sc, const char *name, size_t len)
{
	for (int i = 0; sc->sections[i]; i++)
		if (strlen(sc->sections[i]->name) == len &&
		    strncmp(sc->sections[i]->name, name, len) == 0)
			return i;
	return -1;
}

static unsigned nkeys(const struct cfg_section *sec)
{
	unsigned n = 0;
	while (sec->keys[n].name)
		n++;
	return n;
}

void cfg_at_key(struct cfg_ctx *L, const char *section, const char *key)
{
	int i = find_section(L->sc, section, strlen(section));
	L->line = 0;
	if (i < 0)
		return;
	const struct cfg_section *sec = L->sc->sections[i];
	for (unsigned k = 0; sec->keys[k].name; k++)
		if (strcmp(sec->keys[k].name, key) == 0)
			L->line = L->seen[i][k];
}

static unsigned edit_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	if (la > 40 || lb > 40)
		return 99;
	unsigned d[41][41];
	for (size_t i = 0; i <= la; i++)
		d[i][0] = (unsigned)i;
	for (size_t j = 0; j <= lb; j++)
		d[0][j] = (unsigned)j;
	for (size_t i = 1; i <= la; i++)
		for (size_t j = 1; j <= lb; j++) {
			unsigned sub = d[i - 1][j - 1] + (a[i - 1] != b[j - 1]);
			unsigned del = d[i - 1][j] + 1, ins = d[i][j - 1] + 1;
			d[i][j] = MIN(sub, MIN(del, ins));
			/* a swap of two neighbours is one edit */
			if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1])
				d[i][j] = MIN(d[i][j], d[i - 2][j - 2] + 1);
		}
	return d[la][lb];
}

static const char *suggest_key(const struct cfg_section *sec, const char *name)
{
	const char *best = NULL;
	unsigned bestd = 3;
	for (const struct cfg_key *k = sec->keys; k->name; k++) {
		unsigned dist = edit_distance(name, k->name);
		if (dist < bestd) {
			bestd = dist;
			best = k->name;
		}
	}
	return best;
}

#define ELEM(sec, root, i)  ((char *)(root) + (sec)->off + (size_t)(i) * (sec)->elem_size)
#define FIELD(base, off, T) (*(T *)(void *)((char *)(base) + (off)))

static void apply_defaults(struct cfg_ctx *L, const struct cfg_section *sec, void *base);

/* [host NAME]: a new element of the section's array, its defaults applied. */
static void open_element(struct cfg_ctx *L, const char *arg, size_t len)
{
	const struct cfg_section *sec = L->sec;
	unsigned *count = &FIELD(L->root, sec->count_off, unsigned);
	L->base = NULL;
	if (len == 0) {
		cfg_fail(L, "[%s] needs a name, as in [%s web-01]", sec->name, sec->name);
		return;
	}
	for (size_t i = 0; i < len; i++)
		if (!isalnum((unsigned char)arg[i]) && arg[i] != '-' && arg[i] != '_' &&
		    arg[i] != '.') {
			cfg_fail(L, "bad %s name '%.*s'", sec->name, (int)len, arg);
			return;
		}
	for (unsigned i = 0; i < *count; i++) {
		const char *name = FIELD(ELEM(sec, L->root, i), sec->name_off, char *);
		if (strlen(name) == len && strncmp(name, arg, len) == 0) {
			cfg_fail(L, "duplicate section [%s %s] (first at line %d)", sec->name, name,
			         FIELD(ELEM(sec, L->root, i), sec->line_off, int));
			return;
		}
	}
	if (*count == sec->max) {
		cfg_fail(L, "too many %ss (at most %u)", sec->name, sec->max);
		return;
	}
	void *e = ELEM(sec, L->root, *count);
	memset(e, 0, sec->elem_size);
	FIELD(e, sec->name_off, char *) = xstrndup(arg, len);
	FIELD(e, sec->line_off, int) = L->line;
	(*count)++;
	apply_defaults(L, sec, e);
	L->base = e;
}

/* Section headers are checked as the reader passes them, since inih does not
 * report a section that has no keys. */
static void check_section_header(struct cfg_ctx *L, const char *line)
{
	while (*line == ' ' || *line == '\t')
		line++;
	if (*line != '[')
		return;
	const char *close = strchr(line, ']');
	if (close == NULL)
		return; /* inih reports it */
	const char *p = line + 1;
	while (p < close && isspace((unsigned char)*p))
		p++;
	const char *word = p;
	while (p < close && !isspace((unsigned char)*p))
		p++;
	size_t wlen = (size_t)(p - word);
	while (p < close && isspace((unsigned char)*p))
		p++;
	const char *arg = p;
	const char *argend = close;
	while (argend > arg && isspace((unsigned char)argend[-1]))
		argend--;
	int idx = find_section(L->sc, word, wlen);
	if (idx < 0) {
		cfg_fail(L, "unknown section [%.*s]", (int)(close - line - 1), line + 1);
		return;
	}
	L->sec = L->sc->sections[idx];
	L->sec_index = (unsigned)idx;
	if (L->sec->elem_size)
		open_element(L, arg, (size_t)(argend - arg));
	else if (arg != argend)
		cfg_fail(L, "[%s] takes no name", L->sec->name);
	else if (L->section_seen[idx])
		cfg_fail(L, "duplicate section [%s] (first at line %d)", L->sec->name,
		         L->section_seen[idx]);
	else
		L->section_seen[idx] = L->line;
	if (L->sec->elem_size == 0)
		L->base = (char *)L->root + L->sec->off;
}

/* inih also takes "key: value"; the stack file does not, so that a missing
 * '=' ("listen :8080") is an error instead of the key "listen" = "8080". */
static void check_key_line(struct cfg_ctx *L, const char *line)
{
	while (*line == ' ' || *line == '\t')
		line++;
	if (*line == '[' || *line == ';' || *line == '#')
		return;
	size_t k = strcspn(line, "=:");
	if (line[k] != ':')
		return;
	while (k > 0 && isspace((unsigned char)line[k - 1]))
		k--;
	cfg_fail(L, "expected '%.*s = value' (':' does not separate a key from its value)",
	         (int)MIN(k, 64), line);
}

static char *reader(char *str, int num, void *stream)
{
	struct cfg_ctx *L = stream;
	if (L->failed || L->pos >= L->len)
		return NULL;
	const char *start = L->text + L->pos;
	const char *nl = memchr(start, '\n', L->len - L->pos);
	size_t n = nl ? (size_t)(nl - start) + 1 : L->len - L->pos;
	L->line++;
	/* The same limit with or without the newline (a last line may have
	 * none), so that what conf_print writes always loads again. */
	if ((nl ? n - 1 : n) > (size_t)num - 2) {
		cfg_fail(L, "line too long (over %d bytes)", num - 2);
		return NULL;
	}
	if (memchr(start, '\0', n)) {
		cfg_fail(L, "NUL byte in the file");
		return NULL;
	}
	memcpy(str, start, n);
	str[n] = '\0';
	L->pos += n;
	/* inih skips a UTF-8 byte order mark at the start; so must the header
	 * check, or the first section goes unseen. */
	const char *line = str;
	if (L->line == 1 && strncmp(line, "\xef\xbb\xbf", 3) == 0)
		line += 3;
	check_section_header(L, line);
	check_key_line(L, line);
	return L->failed ? NULL : str;
}

/* ---- storing a value, one function per type ---- */

static int set_str(struct cfg_ctx *L, const struct cfg_key *k, void *slot, const char *value)
{
	(void)L, (void)k;
	free(*(char **)slot);
	*(char **)slot = xstrdup(value);
	return 0;
}

static int set_level(struct cfg_ctx *L, const struct cfg_key *k, void *slot, const char *value)
{
	if (log_level_parse(value) < 0) {
		cfg_fail(L, "bad value '%s' for '%s' in [%s] (error, warn, info or debug)", value,
		         k->name, L->sec->name);
		return -1;
	}
	return set_str(L, k, slot, value);
}

static int set_int(struct cfg_ctx *L, const struct cfg_key *k, void *slot, const char *value)
{
	int64_t v;
	if ((k->flags & CFG_AUTO) && strcmp(value, "auto") == 0)
		value = "0";
	if (cfg_parse_int(value, &v) == 0 && v >= k->min && (k->max == 0 || v <= k->max)) {
		*(int64_t *)slot = v;
		return 0;
	}
	if (k->max)
		cfg_fail(L, "bad value '%s' for '%s' in [%s] (a whole number in %lld..%lld)", value,
		         k->name, L->sec->name, (long long)k->min, (long long)k->max);
	else
		cfg_fail(L, "bad value '%s' for '%s' in [%s] (a whole number)", value, k->name,
		         L->sec->name);
	return -1;
}

static int set_int_off(struct cfg_ctx *L, const struct cfg_key *k, void *slot, const char *value)
{
	if (strcmp(value, "off") == 0)
		return *(int64_t *)slot = 0, 0;
	if (cfg_parse_int(value, (int64_t *)slot) < 0 || *(int64_t *)slot < k->min ||
	    *(int64_t *)slot > k->max) {
		cfg_fail(L,
		         "bad value '%s' for '%s' in [%s] (off, or a whole number in %lld..%lld)",
		         value, k->name, L->sec->name, (long long)k->min, (long long)k->max);
		return -1;
	}
	return 0;
}

static int set_duration(struct cfg_ctx *L, const struct cfg_key *k, void *slot, const char *value)
{
	uint64_t v;
	if (cfg_parse_duration(value, &v) < 0) {
		cfg_fail(L,
		         "bad duration '%s' for '%s' in [%s] (a number with a unit: 500ms, 2s, 1m, "
		         "1h, 1d)",
		         value, k->name, L->sec->name);
		return -1;
	}
	if (v < (uint64_t)k->min) {
		cfg_fail(L, "'%s' in [%s] must be at least %lldms", k->name, L->sec->name,
		         (long long)k->min);
		return -1;
	}
	if (k->max && v > (uint64_t)k->max) {
		cfg_fail(L, "'%s' in [%s] must be at most %lldms", k->name, L->sec->name,
		         (long long)k->max);
		return -1;
	}
	*(uint64_t *)slot = v;
	return 0;
}

static int set_size(struct cfg_ctx *L, const struct cfg_key *k, void *slot, const char *value)
{
	uint64_t v;
	if (cfg_parse_size(value, &v) < 0) {
		cfg_fail(L, "bad size '%s' for '%s' in [%s] (bytes, or with k, m, g: 16k)", value,
		         k->name, L->sec->name);
		return -1;
	}
	if (v < (uint64_t)k->min || (k->max && v > (uint64_t)k->max)) {
		cfg_fail(L, "'%s' in [%s] must be in %lld..%lld bytes", k->name, L->sec->name,
		         (long long)k->min, (long long)k->max);
		return -1;
	}
	*(uint64_t *)slot = v;
	return 0;
}

static int set_bool(struct cfg_ctx *L, const struct cfg_key *k, void *slot, const char *value)
{
	if (cfg_parse_bool(value, (bool *)slot) < 0) {
		cfg_fail(L, "bad value '%s' for '%s' in [%s] (yes or no)", value, k->name,
		         L->sec->name);
		return -1;
	}
	return 0;
}

static int set_enum(struct cfg_ctx *L, const struct cfg_key *k, void *slot, const char *value)
{
	for (int i = 0; k->choices[i]; i++)
		if (strcmp(value, k->choices[i]) == 0) {
			*(int64_t *)slot = i;
			return 0;
		}
	cfg_fail(L, "bad value '%s' for '%s' in [%s]", value, k->name, L->sec->name);
	return -1;
}

typedef int (*cfg_setter)(struct cfg_ctx *L, const struct cfg_key *k, void *slot,
                          const char *value);

static const cfg_setter setters[] = {
	[CFG_STR] = set_str,           [CFG_INT] = set_int,     [CFG_INT_OFF] = set_int_off,
	[CFG_DURATION] = set_duration, [CFG_SIZE] = set_size,   [CFG_BOOL] = set_bool,
	[CFG_ENUM] = set_enum,         [CFG_LEVEL] = set_level,
};

/* Store value into the key's slot of the section struct at base. */
static int set_value(struct cfg_ctx *L, const struct cfg_key *k, void *base, const char *value)
{
	if (k->type == CFG_CUSTOM)
		return k->custom->parse(L, k, base, value) < 0 || L->failed ? -1 : 0;
	return setters[k->type](L, k, (char *)base + k->off, value);
}

static void apply_defaults(struct cfg_ctx *L, const struct cfg_section *sec, void *base)
{
	const struct cfg_section *cur = L->sec;
	L->sec = sec; /* for the messages */
	for (const struct cfg_key *k = sec->keys; k->name; k++)
		if (k->def && set_value(L, k, base, k->def) < 0)
			log_error("bad built-in default for %s.%s", sec->name, k->name);
	L->sec = cur;
}

static int handler(void *user, const char *section, const char *name, const char *value)
{
	struct cfg_ctx *L = user;
	(void)section;
	if (L->failed)
		return 0;
	const struct cfg_section *sec = L->sec;
	if (sec == NULL) {
		cfg_fail(L, "key '%s' outside any section", name);
		return 0;
	}
	const struct cfg_key *k;
	for (k = sec->keys; k->name; k++)
		if (strcmp(k->name, name) == 0)
			break;
	if (k->name == NULL) {
		const char *hint = suggest_key(sec, name);
		if (hint)
			cfg_fail(L, "unknown key '%s' in [%s] (did you mean '%s'?)", name,
			         sec->name, hint);
		else
			cfg_fail(L, "unknown key '%s' in [%s]", name, sec->name);
		return 0;
	}
	if (*value == ';') {
		/* "key =;x": inih takes ";x" as the value (a comment needs a space
		 * before its ';'), which no printed "key = ;x" would give back. */
		cfg_fail(
		    L, "value of '%s' in [%s] starts with ';' (a comment needs a space before it)",
		    name, sec->name);
		return 0;
	}
	if (*value == '\0' && k->type != CFG_STR && !(k->flags & CFG_EMPTY)) {
		cfg_fail(L, "'%s' in [%s] needs a value", name, sec->name);
		return 0;
	}
	unsigned n = nkeys(sec), ki = (unsigned)(k - sec->keys);
	unsigned elem = 0;
	if (sec->elem_size)
		elem = FIELD(L->root, sec->count_off, unsigned) - 1;
	int *seen = &L->seen[L->sec_index][elem * n + ki];
	if (*seen && !(k->flags & CFG_REPEAT)) {
		cfg_fail(L, "duplicate key '%s' in [%s] (first at line %d)", name, sec->name,
		         *seen);
		return 0;
	}
	*seen = L->line;
	return set_value(L, k, L->base, value) == 0;
}

/* ---- entry points ---- */

static void ctx_init(struct cfg_ctx *L, const struct cfg_schema *sc, void *root)
{
	L->sc = sc;
	L->root = root;
	for (unsigned i = 0; sc->sections[i]; i++) {
		const struct cfg_section *sec = sc->sections[i];
		if (i == MAX_SECTIONS) {
			log_error("too many sections in a schema (at most %d)", MAX_SECTIONS);
			abort();
		}
		unsigned elems = sec->elem_size ? sec->max : 1;
		L->seen[i] = xcalloc((size_t)elems * nkeys(sec) + 1, sizeof(int));
		if (sec->elem_size == 0)
			apply_defaults(L, sec, (char *)root + sec->off);
	}
}

static void run_checks(struct cfg_ctx *L)
{
	const struct cfg_section *const *order = L->sc->checks ? L->sc->checks : L->sc->sections;
	L->sec = NULL;
	for (unsigned i = 0; order[i] && !L->failed; i++) {
		const struct cfg_section *sec = order[i];
		L->line = 0;
		if (sec->check && sec->check(L, L->root) < 0 && !L->failed)
			cfg_fail(L, "[%s] is not valid", sec->name);
	}
}

int cfg_load_string(const struct cfg_schema *sc, void *root, const char *name, const char *text,
                    char *err, size_t errlen)
{
	struct cfg_ctx *L = xcalloc(1, sizeof(*L));
	L->name = name;
	L->text = text;
	L->len = strlen(text);
	L->err = err;
	L->errlen = errlen;
	ctx_init(L, sc, root);

	ini_allow_multiline = false;
	ini_allow_inline_comments = true;
	ini_stop_on_first_error = true;
	ini_max_line = MAX_LINE;

	int r = ini_parse_stream(reader, L, handler, L);
	if (!L->failed && r > 0) {
		L->line = r;
		cfg_fail(L, "syntax error (expected 'key = value' or '[section]')");
	}
	if (!L->failed)
		run_checks(L);
	int failed = L->failed;
	for (unsigned i = 0; i < MAX_SECTIONS; i++)
		free(L->seen[i]);
	free(L);
	return failed ? -1 : 0;
}

char *cfg_read_file(const char *path, char *err, size_t errlen)
{
	FILE *f = fopen(path, "r");
	if (f == NULL) {
		snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
		return NULL;
	}
	size_t cap = 1 << 16, len = 0;
	char *text = xmalloc(cap + 1);
	for (;;) {
		size_t n = fread(text + len, 1, cap - len, f);
		len += n;
		if (n == 0)
			break;
		if (len == cap) {
			if (cap >= (1u << 20)) {
				snprintf(err, errlen, "%s: file too large (over 1 MiB)", path);
				fclose(f);
				free(text);
				return NULL;
			}
			cap *= 2;
			text = xrealloc(text, cap + 1);
		}
	}
	bool rerr = ferror(f);
	fclose(f);
	if (rerr) {
		snprintf(err, errlen, "%s: read error", path);
		free(text);
		return NULL;
	}
	text[len] = '\0';
	if (strlen(text) != len) {
		/* find the line of the NUL for the message */
		int line = 1;
		for (size_t i = 0; i < len && text[i]; i++)
			line += text[i] == '\n';
		snprintf(err, errlen, "%s:%d: NUL byte in the file", path, line);
		free(text);
		return NULL;
	}
	return text;
}

static void free_keys(const struct cfg_section *sec, void *base)
{
	for (const struct cfg_key *k = sec->keys; k->name; k++) {
		if (k->type == CFG_STR || k->type == CFG_LEVEL) {
			char **p = (char **)((char *)base + k->off);
			free(*p);
			*p = NULL;
		} else if (k->type == CFG_CUSTOM && k->custom->free) {
			k->custom->free(k, base);
		}
	}
}

void cfg_free(const struct cfg_schema *sc, void *root)
{
	for (unsigned i = 0; sc->sections[i]; i++) {
		const struct cfg_section *sec = sc->sections[i];
		if (sec->elem_size == 0) {
			free_keys(sec, (char *)root + sec->off);
			continue;
		}
		unsigned *count = &FIELD(root, sec->count_off, unsigned);
		for (unsigned e = 0; e < *count; e++) {
			void *el = ELEM(sec, root, e);
			free(FIELD(el, sec->name_off, char *));
			FIELD(el, sec->name_off, char *) = NULL;
			free_keys(sec, el);
		}
		*count = 0;
	}
}

/* ---- printing the effective configuration ---- */

void cfg_print_duration(FILE *out, uint64_t ms)
{
	if (ms == 0)
		fprintf(out, "0");
	else if (ms % 86400000 == 0)
		fprintf(out, "%llud", (unsigned long long)(ms / 86400000));
	else if (ms % 3600000 == 0)
		fprintf(out, "%lluh", (unsigned long long)(ms / 3600000));
	else if (ms % 60000 == 0)
		fprintf(out, "%llum", (unsigned long long)(ms / 60000));
	else if (ms % 1000 == 0)
		fprintf(out, "%llus", (unsigned long long)(ms / 1000));
	else
		fprintf(out, "%llums", (unsigned long long)ms);
}

void cfg_print_size(FILE *out, uint64_t b)
{
	if (b && b % (1u << 30) == 0)
		fprintf(out, "%llug", (unsigned long long)(b >> 30));
	else if (b && b % (1u << 20) == 0)
		fprintf(out, "%llum", (unsigned long long)(b >> 20));
	else if (b && b % 1024 == 0)
		fprintf(out, "%lluk", (unsigned long long)(b >> 10));
	else
		fprintf(out, "%llu", (unsigned long long)b);
}

static void print_value(FILE *out, const struct cfg_key *k, const void *slot)
{
	/* only the int types are read as one */
	bool is_int = k->type == CFG_INT || k->type == CFG_INT_OFF || k->type == CFG_ENUM;
	int64_t i = is_int ? *(const int64_t *)slot : 0;
	switch (k->type) {
	case CFG_STR:
	case CFG_LEVEL:
		fprintf(out, "%s", *(char *const *)slot ? *(char *const *)slot : "");
		break;
	case CFG_INT:
		if ((k->flags & CFG_AUTO) && i == 0)
			fprintf(out, "auto");
		else
			fprintf(out, "%lld", (long long)i);
		break;
	case CFG_INT_OFF:
		if (i == 0)
			fprintf(out, "off");
		else
			fprintf(out, "%lld", (long long)i);
		break;
	case CFG_DURATION:
		cfg_print_duration(out, *(const uint64_t *)slot);
		break;
	case CFG_SIZE:
		cfg_print_size(out, *(const uint64_t *)slot);
		break;
	case CFG_BOOL:
		fprintf(out, "%s", *(const bool *)slot ? "yes" : "no");
		break;
	case CFG_ENUM:
		fprintf(out, "%s", k->choices[i]);
		break;
	case CFG_CUSTOM:
		break;
	}
}

static void print_keys(const struct cfg_section *sec, const void *base, FILE *out)
{
	for (const struct cfg_key *k = sec->keys; k->name; k++) {
		if (k->type == CFG_CUSTOM) {
			k->custom->print(out, k, base);
			continue;
		}
		fprintf(out, "%s = ", k->name);
		print_value(out, k, (const char *)base + k->off);
		fprintf(out, "\n");
	}
}

void cfg_print(const struct cfg_schema *sc, const void *root, const char *path, FILE *out)
{
	fprintf(out, "# effective configuration of %s (defaults included)\n", path);
	for (unsigned i = 0; sc->sections[i]; i++) {
		const struct cfg_section *sec = sc->sections[i];
		if (sec->elem_size == 0) {
			fprintf(out, "\n[%s]\n", sec->name);
			print_keys(sec, (const char *)root + sec->off, out);
			continue;
		}
		unsigned count = FIELD(root, sec->count_off, unsigned);
		for (unsigned e = 0; e < count; e++) {
			const void *el = ELEM(sec, root, e);
			fprintf(out, "\n[%s %s]\n", sec->name, FIELD(el, sec->name_off, char *));
			print_keys(sec, el, out);
		}
	}
}
