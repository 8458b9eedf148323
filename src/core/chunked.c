/* chunked.c - the chunked transfer coding's decoder (RFC 9112 7.1): a
 * byte-at-a-time state machine, resumable at any byte, that hands back the
 * data spans in place. See http.h.
 */
#include "http.h"
#include "httpchar.h"

#include <string.h>

enum {
	CH_SIZE_START, /* first hex digit */
	CH_SIZE,       /* more hex digits */
	CH_EXT_BWS,    /* whitespace after the size: only ';' may follow */
	CH_EXT_NAME_PRE,
	CH_EXT_NAME,
	CH_EXT_NAME_POST,
	CH_EXT_VAL_PRE,
	CH_EXT_VAL_TOKEN,
	CH_EXT_VAL_QUOTED,
	CH_EXT_VAL_QPAIR,
	CH_EXT_VAL_POST,
	CH_SIZE_LF,
	CH_DATA,
	CH_DATA_CR,
	CH_DATA_LF,
	CH_TRAILER_START, /* start of a trailer line or the final CRLF */
	CH_TRAILER_NAME,
	CH_TRAILER_VALUE,
	CH_TRAILER_LF, /* CR seen at the end of a trailer line */
	CH_END_LF,     /* CR seen on the final empty line */
	CH_DONE,
	CH_ERROR,
};

#define CH_MAX_LINE 4096 /* a chunk-size line with its extensions */

void http_chunked_init(struct http_chunked *c, uint64_t max_body, uint32_t max_trailer)
{
	memset(c, 0, sizeof(*c));
	c->state = CH_SIZE_START;
	c->max_body = max_body;
	c->max_trailer = max_trailer ? max_trailer : 8192;
}

bool http_chunked_done(const struct http_chunked *c)
{
	return c->state == CH_DONE;
}

static ssize_t ch_fail(struct http_chunked *c, int status, const char *why)
{
	c->state = CH_ERROR;
	c->error_status = status;
	c->error = why;
	return TS_ERROR;
}

/* After the size line's CRLF: data, or the trailer section for size 0. */
static ssize_t ch_size_done(struct http_chunked *c)
{
	if (c->size == 0) {
		c->state = CH_TRAILER_START;
		return TS_OK;
	}
	if (c->max_body && c->size > c->max_body - c->total)
		return ch_fail(c, 413, "chunked body too large");
	c->remaining = c->size;
	c->state = CH_DATA;
	return TS_OK;
}

/* The size's hex digits, then what may follow them: whitespace, a ';' for
 * an extension, or the line's CR. */
static ssize_t ch_size_byte(struct http_chunked *c, char ch)
{
	if (c->state == CH_SIZE_START) {
		if (!IS(ch, C_HEX))
			return ch_fail(c, 400, "bad chunk size");
		c->size = (uint64_t)hexval(ch);
		c->ndigits = c->size ? 1 : 0;
		c->state = CH_SIZE;
	} else if (IS(ch, C_HEX)) {
		if (c->ndigits || ch != '0')
			c->ndigits++;
		if (c->ndigits > 15)
			return ch_fail(c, 400, "chunk size too large");
		c->size = c->size * 16 + (uint64_t)hexval(ch);
	} else if (ows(ch)) {
		c->state = CH_EXT_BWS;
	} else if (ch == ';') {
		c->state = CH_EXT_NAME_PRE;
	} else if (ch == '\r') {
		c->state = CH_SIZE_LF;
	} else {
		return ch_fail(c, 400, "bad chunk size");
	}
	return TS_OK;
}

/* Where an extension may end: ';' begins the next, CR ends the line. */
static bool ch_ext_end(struct http_chunked *c, char ch)
{
	if (ch == ';')
		c->state = CH_EXT_NAME_PRE;
	else if (ch == '\r')
		c->state = CH_SIZE_LF;
	else
		return false;
	return true;
}

/* chunk-ext = *( BWS ";" BWS ext-name [ BWS "=" BWS ext-val ] ), ext-val a
 * token or a quoted-string (RFC 9112 7.1.1): checked, then ignored. */
static ssize_t ch_ext_byte(struct http_chunked *c, char ch)
{
	switch (c->state) {
	case CH_EXT_BWS: /* after the size's whitespace, only ';' */
		if (ch == ';')
			c->state = CH_EXT_NAME_PRE;
		else if (!ows(ch))
			return ch_fail(c, 400, "bad chunk size");
		return TS_OK;
	case CH_EXT_NAME_PRE:
		if (IS(ch, C_TCHAR))
			c->state = CH_EXT_NAME;
		else if (!ows(ch))
			break;
		return TS_OK;
	case CH_EXT_NAME:
		if (IS(ch, C_TCHAR))
			return TS_OK;
		if (ch == '=')
			c->state = CH_EXT_VAL_PRE;
		else if (ows(ch))
			c->state = CH_EXT_NAME_POST;
		else if (!ch_ext_end(c, ch))
			break;
		return TS_OK;
	case CH_EXT_NAME_POST:
		if (ch == '=')
			c->state = CH_EXT_VAL_PRE;
		else if (!ows(ch) && !ch_ext_end(c, ch))
			break;
		return TS_OK;
	case CH_EXT_VAL_PRE:
		if (ch == '"')
			c->state = CH_EXT_VAL_QUOTED;
		else if (IS(ch, C_TCHAR))
			c->state = CH_EXT_VAL_TOKEN;
		else if (!ows(ch))
			break;
		return TS_OK;
	case CH_EXT_VAL_TOKEN:
		if (IS(ch, C_TCHAR))
			return TS_OK;
		if (ows(ch))
			c->state = CH_EXT_VAL_POST;
		else if (!ch_ext_end(c, ch))
			break;
		return TS_OK;
	case CH_EXT_VAL_POST:
		if (!ows(ch) && !ch_ext_end(c, ch))
			break;
		return TS_OK;
	case CH_EXT_VAL_QUOTED:
		if (ch == '"')
			c->state = CH_EXT_VAL_POST;
		else if (ch == '\\')
			c->state = CH_EXT_VAL_QPAIR;
		else if (!IS(ch, C_QDTEXT))
			break;
		return TS_OK;
	case CH_EXT_VAL_QPAIR:
		if (!IS(ch, C_FIELD))
			break;
		c->state = CH_EXT_VAL_QUOTED;
		return TS_OK;
	}
	return ch_fail(c, 400, "bad chunk extension");
}

/* The CRLF after a size line, and the one after a chunk's data. */
static ssize_t ch_crlf_byte(struct http_chunked *c, char ch)
{
	switch (c->state) {
	case CH_SIZE_LF:
		if (ch != '\n')
			return ch_fail(c, 400, "bad chunk size line ending");
		c->line_len = 0;
		return ch_size_done(c);
	case CH_DATA_CR:
		if (ch != '\r')
			return ch_fail(c, 400, "chunk data longer than its size");
		c->state = CH_DATA_LF;
		return TS_OK;
	default: /* CH_DATA_LF */
		if (ch != '\n')
			return ch_fail(c, 400, "chunk data longer than its size");
		c->state = CH_SIZE_START;
		return TS_OK;
	}
}

/* The trailer section: field lines, checked and ignored, then the CRLF
 * that ends the body (CH_DONE). */
static ssize_t ch_trailer_byte(struct http_chunked *c, char ch)
{
	switch (c->state) {
	case CH_TRAILER_START:
		if (ch == '\r')
			c->state = CH_END_LF;
		else if (IS(ch, C_TCHAR))
			c->state = CH_TRAILER_NAME;
		else
			return ch_fail(c, 400, "bad trailer field");
		return TS_OK;
	case CH_TRAILER_NAME:
		if (ch == ':')
			c->state = CH_TRAILER_VALUE;
		else if (!IS(ch, C_TCHAR))
			return ch_fail(c, 400, "bad trailer field");
		return TS_OK;
	case CH_TRAILER_VALUE:
		if (ch == '\r')
			c->state = CH_TRAILER_LF;
		else if (!IS(ch, C_FIELD))
			return ch_fail(c, 400, "bad trailer field");
		return TS_OK;
	case CH_TRAILER_LF:
		if (ch != '\n')
			return ch_fail(c, 400, "bad trailer line ending");
		c->state = CH_TRAILER_START;
		return TS_OK;
	default: /* CH_END_LF */
		if (ch != '\n')
			return ch_fail(c, 400, "bad end of chunked body");
		c->state = CH_DONE;
		return TS_OK;
	}
}

/* One byte of framing, in any state but CH_DATA and CH_DONE: the size and
 * trailer lines counted against their limits, then the byte read. */
static ssize_t ch_byte(struct http_chunked *c, char ch)
{
	if (c->state <= CH_SIZE_LF && ++c->line_len > CH_MAX_LINE)
		return ch_fail(c, 400, "chunk size line too long");
	if (c->state >= CH_TRAILER_START && c->state <= CH_END_LF &&
	    ++c->trailer_len > c->max_trailer)
		return ch_fail(c, 400, "trailer section too large");
	if (c->state <= CH_SIZE)
		return ch_size_byte(c, ch);
	if (c->state <= CH_EXT_VAL_POST)
		return ch_ext_byte(c, ch);
	if (c->state <= CH_DATA_LF)
		return ch_crlf_byte(c, ch);
	if (c->state <= CH_END_LF)
		return ch_trailer_byte(c, ch);
	return TS_ERROR; /* CH_ERROR: it said why already */
}

/* Chunk data: as much of buf[i..len) as the chunk has left, in place. */
static ssize_t ch_data(struct http_chunked *c, const char *buf, size_t i, size_t len,
                       struct str *data)
{
	size_t n = len - i;
	if (n > c->remaining)
		n = (size_t)c->remaining;
	data->p = buf + i;
	data->len = n;
	c->remaining -= n;
	c->total += n;
	if (c->remaining == 0)
		c->state = CH_DATA_CR;
	return (ssize_t)(i + n);
}

ssize_t http_chunked_step(struct http_chunked *c, const char *buf, size_t len, struct str *data)
{
	data->p = NULL;
	data->len = 0;
	size_t i = 0;
	while (i < len) {
		if (c->state == CH_DATA)
			return ch_data(c, buf, i, len, data);
		if (c->state == CH_DONE)
			break;
		if (ch_byte(c, buf[i]) < 0)
			return TS_ERROR;
		i++;
	}
	return (ssize_t)i;
}
