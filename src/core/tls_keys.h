/* tls_keys.h - the session-ticket key file a pair of load balancers share.
 *
 * Two LBs behind one floating address must open each other's session
 * tickets, or a client that resumed on one does a full handshake on the
 * other after a failover. So the keys come from a file both read, in the
 * format of HAProxy's `tls-ticket-keys`:
 *
 *   # comments and blank lines are skipped
 *   <base64 of 80 bytes>      the oldest key
 *   ...
 *   <base64 of 80 bytes>      the newest
 *
 * Each key is a 16-byte key name (what a ticket carries to say which key
 * sealed it), a 32-byte AES-256 key and a 32-byte HMAC-SHA256 secret, in
 * that order (HAProxy's: its files read the same here). 1 to TLS_KEYS_MAX
 * keys, oldest first. Every key opens tickets; one seals new ones: the
 * second to last (the only one of a file of one), since the last is the
 * next one, already on every LB but not yet used (a rotation copied to two
 * LBs a few seconds apart so never makes a ticket the other cannot open),
 * as HAProxy does.
 *
 * tls_keys_parse is pure (text in, keys out), unit-tested and fuzzed;
 * tls_keys_read reads a file with it. tls.c seals tickets with the keys
 * given to tls_ticket_keys_use (tls.h).
 */
#ifndef TS_TLS_KEYS_H
#define TS_TLS_KEYS_H

#include <stddef.h>
#include <sys/stat.h>

#define TLS_KEYS_MAX       8
#define TLS_KEY_BYTES      80  /* name + AES key + HMAC secret */
#define TLS_KEY_LINE       108 /* base64 of TLS_KEY_BYTES, '=' padded */
#define TLS_KEYS_FILE_MAX  65536
#define TLS_KEYS_ROTATE_TO 3 /* keys a rotation keeps: previous, current, next */

struct tls_ticket_key {
	unsigned char name[16];
	unsigned char aes[32];
	unsigned char hmac[32];
};

struct tls_ticket_keys {
	struct tls_ticket_key keys[TLS_KEYS_MAX]; /* oldest first */
	unsigned n;                               /* 1..TLS_KEYS_MAX */
	unsigned enc;                             /* which seals new tickets */
};

/* Which of n keys seals new tickets: n - 2 from 3 keys on, else n - 1. */
unsigned tls_keys_sealing(unsigned n);

/* Parse len bytes of text (NULs included) into *out. Returns 0, or -1 with
 * err "FILE:LINE: what is wrong" (FILE: file as given; no LINE for a file
 * without keys). Never reads past len. */
int tls_keys_parse(const char *text, size_t len, const char *file, struct tls_ticket_keys *out,
                   char *err, size_t errlen);

/* Read and parse the file at path (at most TLS_KEYS_FILE_MAX bytes). st
 * (may be NULL) gets the file's fstat, taken before it is read, so that a
 * later stat of path that differs means another file. Returns 0, or -1
 * with err naming the file (and line). */
int tls_keys_read(const char *path, struct tls_ticket_keys *out, struct stat *st, char *err,
                  size_t errlen);

/* A key's line (TLS_KEY_LINE characters and a NUL). */
void tls_keys_line(const struct tls_ticket_key *k, char out[TLS_KEY_LINE + 1]);

/* A fresh random key. Returns 0, or -1 when there is no randomness. */
int tls_keys_random(struct tls_ticket_key *k);

#endif
