/* prom.h - a reader of the Prometheus text format (version 0.0.4), just
 * enough to watch the daemons' /metrics (the LB's monitor, `tristack
 * status`): sample lines
 * (name, optional {labels}, value, optional timestamp). Comments, blank
 * lines and lines it cannot read are skipped. Pure functions over bytes:
 * no allocation, nothing read past the length given. */
#ifndef TS_CORE_PROM_H
#define TS_CORE_PROM_H

#include <stdbool.h>
#include <stddef.h>

#include "common.h"

/* Names and label sets longer than this are not read (the line is
 * skipped): ours are far shorter. */
#define PROM_MAX_NAME   200
#define PROM_MAX_LABELS 1000

struct prom_sample {
	struct str name;
	struct str labels; /* between the braces, as written; empty when none */
	double value;      /* NaN, +Inf and -Inf as such */
};

/* The next sample of text[0, len) from *pos on. Returns 1 with *s filled
 * (pointers into text) and *pos past its line, or 0 at the end. Lines that
 * are no sample are passed over and counted in *skipped when not NULL. */
int prom_next(const char *text, size_t len, size_t *pos, struct prom_sample *s, unsigned *skipped);

/* The value of label key in a sample's labels, unescaped (\\ \" \n) into
 * out (NUL-terminated, cut to outlen - 1 bytes). Returns true when the
 * label is there. */
bool prom_label(struct str labels, const char *key, char *out, size_t outlen);

/* Is the sample's name exactly name? */
bool prom_name_is(const struct prom_sample *s, const char *name);

#endif
