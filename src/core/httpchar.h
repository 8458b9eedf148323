/* httpchar.h - the byte classes of HTTP's grammar (RFC 9110 5.6.2, 5.5),
 * for the head parser (http.c) and the chunked decoder (chunked.c): one
 * table lookup per byte. Private to core's HTTP files.
 */
#ifndef TS_HTTPCHAR_H
#define TS_HTTPCHAR_H

#include <stdbool.h>
#include <stdint.h>

#define C_TCHAR  0x01 /* token character */
#define C_FIELD  0x02 /* may appear in a field value: VCHAR, SP, HTAB, obs-text */
#define C_TARGET 0x04 /* may appear in a request-target: VCHAR */
#define C_HEX    0x08
#define C_HOST   0x10 /* reg-name, IP literal and port characters */
#define C_QDTEXT 0x20 /* quoted-string text: HTAB SP 21 23-5B 5D-7E obs-text */

/* Filled before main() runs (httpchar.c), so threads only ever read it. */
extern uint8_t http_char_class[256];

#define IS(c, k) (http_char_class[(uint8_t)(c)] & (k))

/* Optional whitespace (RFC 9110 5.6.3). */
static inline bool ows(char c)
{
	return c == ' ' || c == '\t';
}

#endif
