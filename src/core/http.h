/* http.h - a strict, zero-copy HTTP/1.1 message parser (RFC 9110 / 9112).
 *
 * Pure functions over bytes: nothing here reads a socket or allocates. The
 * parsed message points into the caller's buffer (struct str), which must not
 * move while the message is in use.
 *
 * Heads: call http_parse_request / http_parse_response with everything
 * received so far. Until the blank line that ends the head has arrived they
 * return TS_AGAIN and remember in *scan how far they have looked, so the next
 * call does not look again; the head is then parsed in one pass. A message
 * therefore parses the same whatever byte boundaries it arrived in.
 *
 * Strictness (each is a 400 for requests, a 502 for responses): a bare LF or
 * CR, obs-fold, whitespace before the colon, control bytes, Content-Length
 * together with Transfer-Encoding, a Content-Length list (even of equal
 * values, in one field or several), chunked
 * applied twice, Transfer-Encoding in HTTP/1.0, a missing or repeated Host in
 * an HTTP/1.1 request, a CONNECT target that is not host:port. Requests
 * whose last transfer coding is not chunked are 400; such responses are read
 * until the server closes (RFC 9112 6.3). Responses that have no body by
 * their status or method (HEAD, 1xx, 204, 304) skip the framing checks.
 * Heads over the limit are 431 (the limit counts the blank line; only the
 * first max_head bytes are ever examined, so the verdict cannot depend on
 * how the bytes arrived), declared bodies over the limit 413, HTTP versions
 * other than 1.x 505. An absolute-form target with a query and no path
 * ("http://h?q") is refused: its origin form would need a '/' that is not in
 * the buffer.
 *
 * Bodies: Content-Length needs no parser; chunked bodies go through the
 * http_chunked decoder, a byte-at-a-time state machine that is resumable at
 * any byte.
 */
#ifndef TS_HTTP_H
#define TS_HTTP_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <sys/types.h>

#include "common.h"

#define HTTP_MAX_HEADERS 128

enum http_method {
	HTTP_OTHER = 0,
	HTTP_GET,
	HTTP_HEAD,
	HTTP_POST,
	HTTP_PUT,
	HTTP_DELETE,
	HTTP_OPTIONS,
	HTTP_PATCH,
	HTTP_CONNECT,
	HTTP_TRACE,
};

enum http_framing {
	HTTP_BODY_NONE,    /* no body */
	HTTP_BODY_LENGTH,  /* content_length bytes */
	HTTP_BODY_CHUNKED, /* chunked transfer coding */
	HTTP_BODY_CLOSE,   /* until the connection closes (responses only) */
};

/* Tokens seen in Connection */
#define HTTP_CONN_CLOSE      0x1u
#define HTTP_CONN_KEEP_ALIVE 0x2u
#define HTTP_CONN_UPGRADE    0x4u
#define HTTP_CONN_OTHER      0x8u /* names other headers as hop-by-hop */

struct http_header {
	struct str name;
	struct str value; /* leading and trailing whitespace removed */
};

struct http_msg {
	/* request line */
	enum http_method method;
	struct str method_name;
	struct str raw_target; /* as received */
	struct str target;     /* origin-form (path and query): absolute-form reduced to it */
	struct str authority;  /* absolute-form's authority, else the Host value */
	bool absolute_form;
	/* status line */
	int status;
	struct str reason;
	/* both */
	int minor; /* HTTP/1.<minor>, 0 or 1 (1.2..1.9 read as 1) */
	unsigned nheaders;
	struct http_header headers[HTTP_MAX_HEADERS];
	/* what the head says about the body and the connection */
	enum http_framing framing;
	uint64_t content_length;
	unsigned conn_flags;  /* HTTP_CONN_* */
	bool keep_alive;      /* the connection may carry another message */
	bool expect_continue; /* Expect: 100-continue */
	bool has_upgrade;     /* an Upgrade header is present */
	bool te_other;        /* codings besides chunked (gzip, chunked) */
	int host_index;       /* index in headers, -1 when absent */
	size_t head_len;      /* bytes consumed: empty lines skipped before a
	                         request line, the head, its blank line */
	/* when parsing fails */
	int error_status;  /* 400, 413, 431, 505; 502 for responses */
	const char *error; /* static text, for the log */
};

struct http_limits {
	size_t max_head;      /* start line + fields, bytes */
	unsigned max_headers; /* <= HTTP_MAX_HEADERS */
	uint64_t max_body;    /* declared body size; 0 = no limit */
};

ssize_t http_parse_request(const char *buf, size_t len, size_t *scan, const struct http_limits *lim,
                           struct http_msg *m);

/* req_method: the request this answers (HEAD responses have no body). */
ssize_t http_parse_response(const char *buf, size_t len, size_t *scan,
                            const struct http_limits *lim, enum http_method req_method,
                            struct http_msg *m);

/* ---- chunked bodies ---- */

struct http_chunked {
	uint8_t state;
	uint8_t ndigits;      /* significant hex digits of the size */
	uint16_t line_len;    /* bytes of the current size or trailer line */
	uint32_t trailer_len; /* bytes of the trailer section */
	uint64_t size;        /* size being read */
	uint64_t remaining;   /* data bytes left in the current chunk */
	uint64_t total;       /* data bytes decoded so far */
	uint64_t max_body;    /* 0 = no limit */
	uint32_t max_trailer; /* trailer section limit, its final CRLF included */
	int error_status;     /* 400 or 413 */
	const char *error;
};

void http_chunked_init(struct http_chunked *c, uint64_t max_body, uint32_t max_trailer);

/* Decode from buf[0..len). Returns the bytes consumed (framing and data), or
 * TS_ERROR with c->error set. When chunk data is reached, *data is set to the
 * data bytes inside the consumed range and the call returns at the end of
 * them, so the caller sees one span per call; otherwise data->len is 0. A
 * return of 0 with no data means more bytes are needed (or the body is
 * done: see http_chunked_done). */
ssize_t http_chunked_step(struct http_chunked *c, const char *buf, size_t len, struct str *data);
bool http_chunked_done(const struct http_chunked *c);

/* ---- helpers ---- */

const char *http_method_name(enum http_method m);
/* Idempotent methods may be retried on another server (RFC 9110 9.2.2). */
bool http_method_idempotent(enum http_method m);
const char *http_status_reason(int status);

/* The length of a request target's path: its bytes before the '?'. */
static inline size_t http_target_path_len(struct str target)
{
	const char *q = memchr(target.p, '?', target.len);
	return q ? (size_t)(q - target.p) : target.len;
}

/* Case-insensitive header lookup; returns the index or -1. */
int http_find_header(const struct http_msg *m, const char *name, int from);
bool http_str_ieq(struct str a, const char *b);
/* Does a comma-separated list value contain token (case-insensitive)? */
bool http_list_has(struct str value, const char *token);
/* Must this header not be forwarded? Standard hop-by-hop headers and the
 * ones that m's Connection header names. */
bool http_hop_by_hop(const struct http_msg *m, struct str name);

/* IMF-fixdate ("Sun, 06 Nov 1994 08:49:37 GMT"), 29 bytes + NUL. */
void http_date(int64_t t, char out[30]);
/* Read an IMF-fixdate; returns 0, or -1 when it is not one (httpdate.c). */
int http_date_parse(struct str s, int64_t *out);

#endif
