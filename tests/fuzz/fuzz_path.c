/* fuzz_path.c - libFuzzer target for path_normalize.
 *
 * Any bytes as a request target, into outputs of several sizes, each an
 * exact-size heap block (so ASan sees a write past outlen). The result is
 * -400, -414, or a length below outlen of a NUL-terminated path that starts
 * with '/' and has no empty, "." or ".." segment (a final '/' aside) and no
 * NUL or control byte. A path without '%', '?' or '#' normalises to itself.
 * path_hidden says yes exactly when a segment starts with '.', a first
 * segment ".well-known" aside. PATH_NO_ENCODED_SLASH only adds 400s.
 * A violation is __builtin_trap(), so libFuzzer saves the input.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/path.h"
#include "fuzz.h"

static void check_inside(const char *p, long n)
{
	REQUIRE(n >= 1 && p[0] == '/');
	for (long i = 0; i < n; i++)
		REQUIRE((unsigned char)p[i] >= 0x20 && p[i] != 0x7f); /* no NUL either */
	REQUIRE(p[n] == '\0');
	const char *seg = p + 1;
	while (*seg) {
		const char *end = strchr(seg, '/');
		size_t len = end ? (size_t)(end - seg) : strlen(seg);
		REQUIRE(len > 0);
		REQUIRE(!(len == 1 && seg[0] == '.'));
		REQUIRE(!(len == 2 && seg[0] == '.' && seg[1] == '.'));
		if (end == NULL)
			break;
		seg = end + 1;
	}
}

/* path_hidden's rule, segment by segment. */
static bool dot_segment(const char *p)
{
	bool first = true;
	for (const char *seg = p + 1; *seg; first = false) {
		size_t len = strcspn(seg, "/");
		bool well_known = first && len == 11 && memcmp(seg, ".well-known", 11) == 0;
		if (seg[0] == '.' && !well_known)
			return true;
		seg += len;
		if (*seg == '/')
			seg++;
	}
	return false;
}

static long run(const char *target, size_t len, size_t outlen, char **outp)
{
	char *out = malloc(outlen ? outlen : 1);
	long r = path_normalize(target, len, out, outlen, 0);
	REQUIRE(r == -400 || r == -414 || (r >= 0 && (size_t)r < outlen));
	if (r >= 0) {
		check_inside(out, r);
		REQUIRE(path_hidden(out) == dot_segment(out));
	}
	*outp = out;
	return r;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* An exact-size copy: a read past size is caught too. */
	char *target = fuzz_copy(data, size);
	const size_t sizes[] = { 8192, 4096, 64, 16, 2, 1, 0, size / 2 + 1, size + 2 };
	long big = 0;
	char *big_out = NULL;
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		char *out;
		long r = run(target, size, sizes[i], &out);
		if (i == 0) {
			big = r;
			big_out = out;
			continue;
		}
		/* A smaller output changes nothing but a possible 414 (an
		 * output too small for "/" is refused whatever the target). */
		if (sizes[i] < 2)
			REQUIRE(r == -400);
		else if (r >= 0)
			REQUIRE(r == big && memcmp(out, big_out, (size_t)r + 1) == 0);
		else if (big < 0)
			REQUIRE(r == big || r == -414);
		else
			REQUIRE(r == -414);
		free(out);
	}
	/* PATH_NO_ENCODED_SLASH refuses more, and changes nothing else. */
	char *strict = malloc(8192);
	long rs = path_normalize(target, size, strict, 8192, PATH_NO_ENCODED_SLASH);
	REQUIRE(rs == big || rs == -400);
	if (rs >= 0)
		REQUIRE(memcmp(strict, big_out, (size_t)rs + 1) == 0);
	free(strict);
	/* Idempotent where the output reads the same as a target. */
	if (big >= 0 && strpbrk(big_out, "%?#") == NULL) {
		char *again;
		long r = run(big_out, (size_t)big, 8192, &again);
		REQUIRE(r == big && memcmp(again, big_out, (size_t)big + 1) == 0);
		free(again);
	}
	free(big_out);
	free(target);
	return 0;
}
