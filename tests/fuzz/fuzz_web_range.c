/* fuzz_web_range.c - libFuzzer target for web_range_parse and
 * web_accepts_gzip.
 *
 * The first 8 bytes (little-endian) give the file size: with the top bit set
 * a small size (low 10 bits, so the fuzzer meets the end of the file often),
 * else any size up to INT64_MAX. The rest, in an exact-size heap copy (so
 * ASan sees a read past the length), is the Range value; the whole input is
 * also an Accept-Encoding value. A violation is __builtin_trap(), so
 * libFuzzer saves the input:
 *   - OK: 1 <= n <= WEB_MAX_RANGES and 0 <= first <= last < size each; no
 *     two ranges share a byte and their lengths add up to at most size (no
 *     206 is larger than the file);
 *   - NONE, UNSATISFIABLE: n == 0; an empty file is never OK;
 *   - a value not starting "bytes=" (any case, after OWS) is NONE;
 *   - nothing is written past ranges[WEB_MAX_RANGES);
 *   - gzip is never accepted from a value naming neither "gzip" nor "*".
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "fuzz.h"
#include "web/range.h"

static int64_t file_size(const uint8_t *d)
{
	uint64_t raw = 0;
	for (int i = 7; i >= 0; i--)
		raw = raw << 8 | d[i];
	if (raw >> 63)
		return (int64_t)(raw & 0x3ff);
	return (int64_t)raw;
}

static bool starts_bytes(const char *p, size_t n)
{
	while (n && (*p == ' ' || *p == '\t'))
		p++, n--;
	return n >= 6 && strncasecmp(p, "bytes=", 6) == 0;
}

static bool mentions(const char *p, size_t n, const char *word)
{
	size_t w = strlen(word);
	for (size_t i = 0; i + w <= n; i++)
		if (strncasecmp(p + i, word, w) == 0)
			return true;
	return false;
}

static void check_range(const char *value, size_t len, int64_t fsize)
{
	struct web_range rg[WEB_MAX_RANGES + 1];
	rg[WEB_MAX_RANGES].first = rg[WEB_MAX_RANGES].last = -7;
	unsigned n = 12345;
	enum web_range_result r = web_range_parse((struct str){ value, len }, fsize, rg, &n);
	REQUIRE(rg[WEB_MAX_RANGES].first == -7 && rg[WEB_MAX_RANGES].last == -7);
	switch (r) {
	case WEB_RANGE_OK:
		REQUIRE(n >= 1 && n <= WEB_MAX_RANGES);
		REQUIRE(fsize > 0);
		int64_t total = 0;
		for (unsigned i = 0; i < n; i++) {
			REQUIRE(0 <= rg[i].first && rg[i].first <= rg[i].last &&
			        rg[i].last < fsize);
			for (unsigned k = 0; k < i; k++)
				REQUIRE(rg[i].last < rg[k].first || rg[k].last < rg[i].first);
			total += rg[i].last - rg[i].first + 1;
		}
		REQUIRE(total <= fsize);
		break;
	case WEB_RANGE_NONE:
	case WEB_RANGE_UNSATISFIABLE:
		REQUIRE(n == 0);
		break;
	default:
		__builtin_trap();
	}
	if (!starts_bytes(value, len))
		REQUIRE(r == WEB_RANGE_NONE);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *whole = fuzz_copy(data, size);

	if (size >= 8) {
		int64_t fsize = file_size(data);
		size_t len = size - 8;
		char *value = fuzz_copy(data + 8, len);
		check_range(value, len, fsize);
		/* The same value against the edges of the file. */
		check_range(value, len, 0);
		check_range(value, len, 1);
		check_range(value, len, INT64_MAX);
		free(value);
	}

	bool gz = web_accepts_gzip((struct str){ whole, size });
	if (!mentions(whole, size, "gzip") && !mentions(whole, size, "*"))
		REQUIRE(!gz);
	free(whole);
	return 0;
}
