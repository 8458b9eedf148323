/* sign.h - values the app hands to browsers and must know again: the
 * read-your-writes cookie and the form's anti-forgery token, signed with
 * HMAC-SHA256 under one key the apps of a stack share.
 *
 * The key is {state}/secrets/cookie.key (0600): one line of 64 hex digits,
 * made by whichever app first finds it missing (atomically: the others read
 * the same file). Its bytes as written are the HMAC key.
 *
 * Every MAC covers a label and the value ("gtid", "0-1-42"), so a MAC made
 * for one use is never accepted for another. A MAC travels as 43 base64url
 * characters (32 bytes, no padding); checks compare in constant time.
 */
#ifndef TS_APP_SIGN_H
#define TS_APP_SIGN_H

#include <stdbool.h>
#include <stddef.h>

#include "core/common.h"

#define SIGN_KEY_MAX     128
#define SIGN_MAC_CHARS   43 /* base64url of a SHA-256 MAC */
#define SIGN_NONCE_CHARS 22 /* base64url of 16 random bytes */

struct sign_key {
	unsigned char k[SIGN_KEY_MAX];
	size_t len;
};

/* One worker's HMAC context (made once: signing allocates nothing). */
struct sign {
	struct evp_mac_ctx_st *ctx;
};

/* Read the key at path, making it first when it does not exist. 0, or -1
 * with err. */
int sign_key_load(struct sign_key *key, const char *path, char *err, size_t errlen);

int sign_init(struct sign *sg, const struct sign_key *key);
void sign_free(struct sign *sg);

/* out (SIGN_MAC_CHARS + 1 bytes) = base64url(HMAC(key, label NUL value)).
 * False only if OpenSSL fails. */
bool sign_mac(struct sign *sg, const char *label, struct str value, char *out);

/* Is mac the MAC of label and value? */
bool sign_check(struct sign *sg, const char *label, struct str value, struct str mac);

/* out (SIGN_NONCE_CHARS + 1 bytes): 16 random bytes in base64url. */
bool sign_nonce(char *out);

#endif
