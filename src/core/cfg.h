/* cfg.h - a generic loader of INI configuration files: typed keys in tables.
 *
 * The loader knows no section. Whoever owns a section describes it with a
 * struct cfg_section: its name, one table of keys (name, type, where the
 * value is stored in the section's struct, default, bounds) and an optional
 * check run once the whole file is loaded (checks across sections). A
 * struct cfg_schema lists the sections of one file and where each lives in
 * the caller's root struct, as nginx's ngx_command_t and HAProxy's
 * cfg_kw_list do.
 *
 * Loading: every default is applied first (one step), then the file's
 * values, then the checks, in the schema's order. Every error names
 * file:line and the key; loading stops at the first one. Unknown keys get a
 * "did you mean" suggestion; a key given twice is an error unless the key is
 * CFG_REPEAT.
 *
 * Durations are kept in milliseconds and take units (500ms, 2s, 1m, 1h, 1d);
 * sizes are kept in bytes and take k/m/g (16k = 16384).
 */
#ifndef TS_CFG_H
#define TS_CFG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "common.h"

enum cfg_type {
	CFG_STR,      /* char *, "" allowed */
	CFG_INT,      /* int64_t in [min, max] (max 0: no upper bound) */
	CFG_INT_OFF,  /* int64_t in [min, max], or "off" (stored as 0) */
	CFG_DURATION, /* uint64_t ms in [min, max] (max 0: none) */
	CFG_SIZE,     /* uint64_t bytes in [min, max] (max 0: none) */
	CFG_BOOL,     /* bool: yes/no, on/off, true/false, 1/0 */
	CFG_ENUM,     /* int64_t: the index of the value in choices */
	CFG_LEVEL,    /* char *: a log level (error, warn, info, debug) */
	CFG_CUSTOM,   /* the key's own parse/print/free (struct cfg_custom) */
};

#define CFG_REPEAT 0x1u /* may be given many times (server = ...) */
#define CFG_EMPTY  0x2u /* CFG_CUSTOM: "key =" is a value, not a missing one */
#define CFG_AUTO   0x4u /* CFG_INT: "auto" is 0, and 0 prints as auto */

struct cfg_ctx;
struct cfg_key;

/* A key type of its own. parse stores value into the section struct at
 * base (the slot is base + k->off); on a bad value it calls cfg_fail and
 * returns -1. print writes the key's whole lines ("name = value\n", none or
 * many). free releases what parse allocated. */
struct cfg_custom {
	int (*parse)(struct cfg_ctx *ctx, const struct cfg_key *k, void *base, const char *value);
	void (*print)(FILE *out, const struct cfg_key *k, const void *base);
	void (*free)(const struct cfg_key *k, void *base);
};

struct cfg_key {
	const char *name; /* NULL ends a table */
	enum cfg_type type;
	size_t off;                 /* of the value in the section struct */
	const char *def;            /* parsed like a value from the file; NULL = none */
	const char *const *choices; /* CFG_ENUM, NULL-terminated */
	int64_t min, max;
	unsigned flags; /* CFG_REPEAT ... */
	const struct cfg_custom *custom;
};

/* Table entries: a value of a simple type, of an enum, of a custom type. */
#define CFG_KEY(n, t, T, field, d, lo, hi)                                                         \
	{                                                                                          \
		.name = (n), .type = (t), .off = offsetof(T, field), .def = (d), .min = (lo),      \
		.max = (hi)                                                                        \
	}
#define CFG_KEY_ENUM(n, T, field, d, ch)                                                           \
	{                                                                                          \
		.name = (n), .type = CFG_ENUM, .off = offsetof(T, field), .def = (d),              \
		.choices = (ch)                                                                    \
	}
#define CFG_KEY_CUSTOM(n, off_, d, c, fl)                                                          \
	{                                                                                          \
		.name = (n), .type = CFG_CUSTOM, .off = (off_), .def = (d), .custom = (c),         \
		.flags = (fl)                                                                      \
	}
#define CFG_KEY_END                                                                                \
	{                                                                                          \
		.name = NULL                                                                       \
	}

struct cfg_section {
	const char *name;
	const struct cfg_key *keys;
	size_t off; /* of the section struct (or array of them) in the root */
	/* A named section ([host NAME]) is an array of elements in the root,
	 * one per header: elem_size 0 means a plain section. */
	size_t elem_size;
	unsigned max;     /* elements at most */
	size_t count_off; /* unsigned: elements so far, in the root */
	size_t name_off;  /* char *: the element's name, in the element */
	size_t line_off;  /* int: the header's line, in the element */
	/* After the whole file: checks across sections. 0, or -1 after
	 * cfg_fail. */
	int (*check)(struct cfg_ctx *ctx, void *root);
};

struct cfg_schema {
	const struct cfg_section *const *sections; /* NULL-terminated, in -t's order */
	/* The order the checks run in (which error a file with several
	 * gets), NULL-terminated; NULL: the sections' order. */
	const struct cfg_section *const *checks;
};

/* Load text (name is the file name in messages) into root, which the
 * caller zeroed. Returns 0, or -1 with "name:line: message" (or "name:
 * message") in err; root then holds what was loaded so far, for cfg_free. */
int cfg_load_string(const struct cfg_schema *sc, void *root, const char *name, const char *text,
                    char *err, size_t errlen);
/* Read a whole file (at most 1 MiB, no NUL byte) into a new string. NULL
 * with err set on failure. */
char *cfg_read_file(const char *path, char *err, size_t errlen);
/* Free every value of root's sections (not root itself). */
void cfg_free(const struct cfg_schema *sc, void *root);
/* Print the effective configuration, defaults included, as a file that
 * loads again. */
void cfg_print(const struct cfg_schema *sc, const void *root, const char *path, FILE *out);

/* For parse and check callbacks: fail with "file:line: message" (the line
 * being read, or the one set by cfg_at / cfg_at_key). */
void cfg_fail(struct cfg_ctx *ctx, const char *fmt, ...) TS_PRINTF(2, 3);
bool cfg_failed(const struct cfg_ctx *ctx);
int cfg_line(const struct cfg_ctx *ctx);
const char *cfg_section_name(const struct cfg_ctx *ctx); /* being read */
/* Point the next cfg_fail at a line (0: the file), or at the line where
 * key of the plain section was set (0 when it was not). */
void cfg_at(struct cfg_ctx *ctx, int line);
void cfg_at_key(struct cfg_ctx *ctx, const char *section, const char *key);

/* Value parsers, for custom types, tests and other config-like inputs. */
int cfg_parse_duration(const char *s, uint64_t *ms);
int cfg_parse_size(const char *s, uint64_t *bytes);
int cfg_parse_bool(const char *s, bool *b);
int cfg_parse_int(const char *s, int64_t *v);
/* And their printed forms: 2s, 1h, 16k, as few digits as the unit allows. */
void cfg_print_duration(FILE *out, uint64_t ms);
void cfg_print_size(FILE *out, uint64_t bytes);

#endif
