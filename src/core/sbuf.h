/* sbuf.h - a growable string for output built off the hot path (metrics
 * pages, JSON, config dumps). */
#ifndef TS_SBUF_H
#define TS_SBUF_H

#include <stddef.h>

#include "common.h"

struct sbuf {
	char *p; /* NUL-terminated when len > 0 */
	size_t len, cap;
};

void sbuf_add(struct sbuf *b, const void *p, size_t n);
void sbuf_adds(struct sbuf *b, const char *s);
void sbuf_addf(struct sbuf *b, const char *fmt, ...) TS_PRINTF(2, 3);
void sbuf_free(struct sbuf *b);

#endif
