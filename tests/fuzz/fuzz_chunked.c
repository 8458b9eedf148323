/* fuzz_chunked.c - libFuzzer target for the chunked body decoder.
 *
 * The input is a chunked body (and maybe bytes after it). It is decoded all
 * at once, in two pieces split where the data says, and one byte at a time,
 * with no limits and with tight ones. Invariants (a violation is
 * __builtin_trap()):
 *   - the three decodings agree: same data bytes, same end state (done,
 *     error and its status) and, when not failed, the same bytes consumed;
 *   - each data span lies inside the bytes offered and inside the consumed
 *     range; the decoder never consumes more than it is offered;
 *   - the decoded size is what c->total says and within max_body;
 *   - once done, nothing more is consumed; a finished body ends in CRLF.
 * Each call gets an exact-size heap copy, so ASan sees any over-read.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/http.h"
#include "fuzz.h"

struct result {
	char *out; /* decoded bytes, at most the input size */
	size_t outlen;
	size_t consumed;
	bool done;
	int error_status; /* 0 = no error */
};

/* Decode data[0..size) arriving in pieces of `piece` bytes (0 = one piece)
 * after a first piece of `first` bytes. */
static void decode(const uint8_t *data, size_t size, size_t first, size_t piece, uint64_t max_body,
                   uint32_t max_trailer, struct result *res)
{
	struct http_chunked c;
	http_chunked_init(&c, max_body, max_trailer);
	res->outlen = res->consumed = 0;
	res->done = false;
	res->error_status = 0;
	size_t avail = first < size ? first : size;
	for (;;) {
		/* Call until the decoder wants more than it has been offered. */
		for (;;) {
			size_t n = avail - res->consumed;
			char *buf = fuzz_copy(data + res->consumed, n);
			struct str d;
			ssize_t r = http_chunked_step(&c, buf, n, &d);
			if (r < 0) {
				REQUIRE(r == TS_ERROR);
				REQUIRE(c.error_status == 400 || c.error_status == 413);
				REQUIRE(c.error != NULL && !http_chunked_done(&c));
				res->error_status = c.error_status;
				free(buf);
				return;
			}
			REQUIRE((size_t)r <= n);
			if (d.len) {
				uintptr_t p = (uintptr_t)d.p, b = (uintptr_t)buf;
				REQUIRE(p >= b && p - b + d.len == (size_t)r);
				REQUIRE(res->outlen + d.len <= size);
				memcpy(res->out + res->outlen, d.p, d.len);
				res->outlen += d.len;
			}
			free(buf);
			res->consumed += (size_t)r;
			REQUIRE(c.total == res->outlen);
			REQUIRE(max_body == 0 || c.total <= max_body);
			if (http_chunked_done(&c)) {
				res->done = true;
				REQUIRE(res->consumed >= 5);
				REQUIRE(memcmp(data + res->consumed - 2, "\r\n", 2) == 0);
				/* Done: whatever follows belongs to someone else. */
				struct str d2;
				REQUIRE(http_chunked_step(&c, "0\r\n\r\n", 5, &d2) == 0 &&
				        d2.len == 0);
				return;
			}
			if (r == 0 && d.len == 0)
				break;
		}
		if (avail == size)
			return;
		size_t step = piece ? piece : size;
		avail = step < size - avail ? avail + step : size;
	}
}

static void same(const struct result *a, const struct result *b)
{
	REQUIRE(a->error_status == b->error_status && a->done == b->done);
	REQUIRE(a->error_status || a->consumed == b->consumed);
	REQUIRE(a->outlen == b->outlen && memcmp(a->out, b->out, a->outlen) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct {
		uint64_t max_body;
		uint32_t max_trailer;
	} limits[] = { { 0, 0 }, { 64, 24 } };
	struct result one, two, each;
	one.out = malloc(size + 1);
	two.out = malloc(size + 1);
	each.out = malloc(size + 1);
	size_t k = fuzz_split(data, size);
	for (size_t l = 0; l < ARRAY_SIZE(limits); l++) {
		uint64_t mb = limits[l].max_body;
		uint32_t mt = limits[l].max_trailer;
		decode(data, size, size, 0, mb, mt, &one);
		decode(data, size, k, 0, mb, mt, &two);
		decode(data, size, 0, 1, mb, mt, &each);
		same(&one, &two);
		same(&one, &each);
		REQUIRE(one.consumed <= size && one.outlen <= one.consumed);
	}
	free(one.out);
	free(two.out);
	free(each.out);
	return 0;
}
