/* text.h - the app's text handling, pure functions: UTF-8 validation, form
 * decoding, cookies, HTML escaping, post ids, idempotency keys, GTIDs. */
#ifndef TS_APP_TEXT_H
#define TS_APP_TEXT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/common.h"
#include "core/sbuf.h"

/* Is s[0..n) valid UTF-8 (no overlong forms, no surrogates, at most
 * U+10FFFF)? Counts the code points into *chars when it is. */
bool utf8_valid(const char *s, size_t n, size_t *chars);

/* The value of field `name` in an application/x-www-form-urlencoded body,
 * decoded ('+' is a space, %XX a byte) into out. Returns its length, -1
 * when the field is absent, -2 when malformed (bad escape) or longer than
 * outlen. */
long form_field(const char *body, size_t n, const char *name, char *out, size_t outlen);

/* The value of cookie `name` in a Cookie header, or {NULL, 0}. */
struct str cookie_value(struct str header, const char *name);

/* Append s with & < > " ' escaped for HTML text and attributes. */
void html_escape(struct sbuf *o, const char *s, size_t n);

/* A post id: 1 to 18 decimal digits, not 0; else -1. */
long long text_id(const char *p, size_t n);

/* An Idempotency-Key (the API's request header, the form's hidden token):
 * 1 to IDEM_KEY_MAX characters of A-Z a-z 0-9 _ - . : (what the database
 * column holds, and nothing a log or a header could be confused by). */
#define IDEM_KEY_MAX 128
bool idem_key_valid(const char *p, size_t n);

/* One GTID: replication domain, server id, sequence number in the domain. */
struct gtid {
	uint32_t domain, server;
	uint64_t seq;
};

/* Take the first GTID off a comma-separated list (as @@gtid_binlog_pos
 * reads): true with *list moved past it and its comma; false at the end of
 * the list, or at anything but in-range numbers joined by '-'. */
bool gtid_next(struct str *list, struct gtid *g);

#endif
