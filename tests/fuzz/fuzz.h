/* fuzz.h - what every libFuzzer target in tests/fuzz shares.
 *
 *   REQUIRE(c)          a broken promise is __builtin_trap(), so libFuzzer
 *                       saves the input;
 *   fuzz_roomy, fuzz_tight
 *                       the HTTP parsers' two sets of limits;
 *   fuzz_copy()         the input (or a part of it) in an exact-size heap
 *                       block, so ASan sees any read past the bytes given;
 *   fuzz_input          the input read from the front: bytes, segments;
 *   fuzz_split()        where the data says to cut it in two;
 *   fuzz_pieces()       the ways a parser's input arrives in pieces: two,
 *                       three, one byte at a time;
 *   fuzz_feed()         a streaming parser called as the pieces arrive;
 *   fuzz_inside(), fuzz_has_ctl()
 *                       where a parsed str may point, and what it may hold.
 *
 * Header only (static inline): each target is one .c file linked with core.
 */
#ifndef TS_FUZZ_H
#define TS_FUZZ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include "core/common.h"
#include "core/http.h"

#define REQUIRE(c)                                                                                 \
	do {                                                                                       \
		if (!(c))                                                                          \
			__builtin_trap();                                                          \
	} while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The limits the HTTP parser targets parse every input with: roomy ones,
 * and tight ones that every few bytes exceed. */
static const struct http_limits fuzz_roomy TS_UNUSED = { .max_head = 8192,
	                                                 .max_headers = HTTP_MAX_HEADERS,
	                                                 .max_body = 1 << 20 };
static const struct http_limits fuzz_tight TS_UNUSED = { .max_head = 96,
	                                                 .max_headers = 4,
	                                                 .max_body = 10 };

/* n bytes of data in a heap block of exactly n bytes (1 when n is 0, never
 * read); the caller frees it. */
static inline char *fuzz_copy(const uint8_t *data, size_t n)
{
	char *p = malloc(n ? n : 1);
	REQUIRE(p != NULL);
	if (n)
		memcpy(p, data, n);
	return p;
}

/* The input read from the front, as the state-machine targets read their
 * script: a byte at a time (0 once it runs out), or a segment. */
struct fuzz_input {
	const uint8_t *p;
	size_t n;
};

static inline bool fuzz_more(const struct fuzz_input *in)
{
	return in->n > 0;
}

static inline uint8_t fuzz_byte(struct fuzz_input *in)
{
	if (in->n == 0)
		return 0;
	in->n--;
	return *in->p++;
}

/* A segment: a length byte (0 for 256), then that many bytes, or as many as
 * are left; *n is how many. */
static inline const uint8_t *fuzz_segment(struct fuzz_input *in, size_t *n)
{
	size_t len = fuzz_byte(in);
	if (len == 0)
		len = 256;
	len = len < in->n ? len : in->n;
	const uint8_t *p = in->p;
	in->p += len;
	in->n -= len;
	*n = len;
	return p;
}

/* A point in [0, size] taken from the data (its first and last bytes and
 * its length), so the fuzzer steers where the input is cut. */
static inline size_t fuzz_split(const uint8_t *data, size_t size)
{
	if (size == 0)
		return 0;
	return ((size_t)data[0] * 131 + (size_t)data[size - 1] * 7 + size) % (size + 1);
}

/* Inputs up to this size are also fed one byte at a time. */
#define FUZZ_EACH_MAX 300

/* The ways of cutting an input into pieces: the ends of all pieces but the
 * last (which ends at the input's end), ascending. */
enum fuzz_plan {
	FUZZ_TWO,   /* cut at fuzz_split */
	FUZZ_THREE, /* there, and halfway through the rest */
	FUZZ_EACH,  /* every byte its own piece (inputs up to FUZZ_EACH_MAX) */
};

struct fuzz_pieces {
	size_t ncuts;
	size_t cuts[FUZZ_EACH_MAX];
};

/* Fill p with plan's cuts of data; false when the plan does not fit the
 * input (FUZZ_EACH for a larger one). */
static inline bool fuzz_pieces(struct fuzz_pieces *p, enum fuzz_plan plan, const uint8_t *data,
                               size_t size)
{
	size_t k = fuzz_split(data, size);
	switch (plan) {
	case FUZZ_TWO:
		p->ncuts = 1;
		p->cuts[0] = k;
		return true;
	case FUZZ_THREE:
		p->ncuts = 2;
		p->cuts[0] = k;
		p->cuts[1] = k + (size - k) / 2;
		return true;
	case FUZZ_EACH:
		if (size > FUZZ_EACH_MAX)
			return false;
		p->ncuts = size;
		for (size_t i = 0; i < size; i++)
			p->cuts[i] = i + 1;
		return true;
	}
	return false;
}

/* A streaming parser: the bytes so far (buf, n), its saved position *scan,
 * and its own arguments; TS_AGAIN while it wants more. */
typedef ssize_t (*fuzz_parse_fn)(const char *buf, size_t n, size_t *scan, void *arg);

/* Call parse as data arrives in the pieces p describes, until it stops
 * asking for more or the input ends: each call sees everything so far in a
 * fresh exact-size copy and the same *scan, which never runs past it.
 * Returns the last result; *last is the last copy (the caller frees it), the
 * bytes the parser's output points into. */
static inline ssize_t fuzz_feed(const uint8_t *data, size_t size, const struct fuzz_pieces *p,
                                fuzz_parse_fn parse, void *arg, char **last)
{
	size_t scan = 0, prev = 0;
	ssize_t r = TS_AGAIN;
	char *buf = NULL;
	for (size_t i = 0; i <= p->ncuts && r == TS_AGAIN; i++) {
		size_t n = i < p->ncuts ? p->cuts[i] : size;
		REQUIRE(n >= prev);
		prev = n;
		free(buf);
		buf = fuzz_copy(data, n);
		r = parse(buf, n, &scan, arg);
		REQUIRE(scan <= n);
	}
	*last = buf;
	return r;
}

/* Does s lie within base[0, len)? An empty s may point anywhere. */
static inline bool fuzz_inside(struct str s, const char *base, size_t len)
{
	uintptr_t p = (uintptr_t)s.p, b = (uintptr_t)base;
	return s.len == 0 || (s.p && p >= b && p - b <= len && s.len <= len - (p - b));
}

/* Does s hold a control byte (HTAB aside) or DEL? */
static inline bool fuzz_has_ctl(struct str s)
{
	for (size_t i = 0; i < s.len; i++) {
		unsigned char c = (unsigned char)s.p[i];
		if ((c < 0x20 && c != '\t') || c == 0x7f)
			return true;
	}
	return false;
}

#endif
