/* range.h - reading Range and Accept-Encoding (pure functions). */
#ifndef TS_WEB_RANGE_H
#define TS_WEB_RANGE_H

#include <stdbool.h>
#include <stdint.h>

#include "core/common.h"

#define WEB_MAX_RANGES 16

struct web_range {
	int64_t first, last; /* inclusive byte positions */
};

enum web_range_result {
	WEB_RANGE_NONE,          /* no usable Range: send the whole file (200) */
	WEB_RANGE_OK,            /* ranges[0..n): 206 */
	WEB_RANGE_UNSATISFIABLE, /* 416 */
};

/* Range: bytes=0-99, 200-, -500 (RFC 9110 14.1.2) against a file of size
 * bytes. A malformed header, another unit, or more than WEB_MAX_RANGES
 * ranges means NONE: the field is ignored, as the RFC allows. Ranges are
 * clipped to the file; those wholly past its end are dropped, and when none
 * is left the answer is 416. Ranges that overlap once clipped mean NONE too
 * (RFC 9110 14.3 lets a server refuse them): what OK gives never shares a
 * byte, so its lengths add up to at most size. */
enum web_range_result web_range_parse(struct str value, int64_t size, struct web_range *out,
                                      unsigned *n);

/* Does Accept-Encoding allow gzip (listed, or "*", with q > 0)? */
bool web_accepts_gzip(struct str value);

#endif
