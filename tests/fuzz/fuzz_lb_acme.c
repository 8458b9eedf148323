/* fuzz_lb_acme.c - libFuzzer target for lb_acme_match, the LB's reading of
 * a request target as ACME's HTTP-01 challenge (src/lb/acme.c).
 *
 * The input, in an exact-size heap copy (so ASan sees a read past the
 * length), is a request target. A violation is __builtin_trap(), so
 * libFuzzer saves the input:
 *   - the result is one of the three;
 *   - on TOKEN: the token is 1..LB_ACME_TOKEN_MAX base64url characters,
 *     NUL-terminated, the target holds no '?', and the same call with a
 *     token buffer too small says BAD;
 *   - a target that starts with LB_ACME_PREFIX is never NOT_MINE (no
 *     spelling of it is forwarded to the servers);
 *   - the answer does not change when asked twice.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "lb/acme.h"

static bool base64url(const char *t)
{
	size_t n = strlen(t);
	if (n == 0 || n > LB_ACME_TOKEN_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = t[i];
		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		      c == '-' || c == '_'))
			return false;
	}
	return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *target = fuzz_copy(data, size);
	char token[LB_ACME_TOKEN_MAX + 1], again[LB_ACME_TOKEN_MAX + 1], tiny[LB_ACME_TOKEN_MAX];
	enum lb_acme_match m = lb_acme_match(target, size, token, sizeof(token));
	REQUIRE(m == LB_ACME_NOT_MINE || m == LB_ACME_TOKEN || m == LB_ACME_BAD);
	REQUIRE(lb_acme_match(target, size, again, sizeof(again)) == m);
	const size_t pre = sizeof(LB_ACME_PREFIX) - 1;
	if (size >= pre && memcmp(target, LB_ACME_PREFIX, pre) == 0)
		REQUIRE(m != LB_ACME_NOT_MINE);
	if (m == LB_ACME_TOKEN) {
		REQUIRE(memchr(token, '\0', sizeof(token)) != NULL && base64url(token));
		REQUIRE(strcmp(token, again) == 0);
		REQUIRE(memchr(target, '?', size) == NULL);
		REQUIRE(lb_acme_match(target, size, tiny, sizeof(tiny)) == LB_ACME_BAD);
	}
	free(target);
	return 0;
}
