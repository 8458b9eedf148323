/* acme.h - ACME's HTTP-01 challenge (RFC 8555 8.3), which the LB answers
 * itself: GET /.well-known/acme-challenge/TOKEN, from the challenge folder
 * certbot's webroot plugin writes ({state}/acme/.well-known/acme-challenge,
 * STATE_ACME_CHALLENGES), on any listener, before the redirect to HTTPS,
 * never forwarded to the servers.
 *
 * lb_acme_match is pure: it reads a request target (the parser's, path and
 * query) and says whether it is ACME's, and if so which token it names.
 */
#ifndef TS_LB_ACME_H
#define TS_LB_ACME_H

#include <stddef.h>

#define LB_ACME_PREFIX    "/.well-known/acme-challenge/"
#define LB_ACME_TOKEN_MAX 128 /* Let's Encrypt's and pebble's are 43 characters */
/* A key authorization is TOKEN "." thumbprint (43): a file bigger than this
 * in the folder is not certbot's. */
#define LB_ACME_BODY_MAX 512

enum lb_acme_match {
	LB_ACME_NOT_MINE, /* neither the target as sent nor its path lies under the prefix */
	LB_ACME_TOKEN,    /* the prefix and one token: in token, NUL-terminated */
	LB_ACME_BAD,      /* under the prefix, but not one token: 404, never forwarded */
};

/* Classify target[0..len). The path is read as the web server reads it
 * (path_normalize with PATH_NO_ENCODED_SLASH: escapes decoded, dot segments
 * resolved, "%2F" refused); a target that is ACME's as sent ("/.well-known/
 * acme-challenge/../../x", "/.well-known/acme-challenge/a%2Fb") stays ACME's
 * whatever its path becomes, so no spelling reaches the servers. TOKEN needs
 * 1..LB_ACME_TOKEN_MAX base64url characters ([A-Za-z0-9_-]) as the path's
 * last and only segment below the prefix, and no query. token must hold
 * LB_ACME_TOKEN_MAX + 1 bytes (less: BAD). */
enum lb_acme_match lb_acme_match(const char *target, size_t len, char *token, size_t tokenlen);

#endif
