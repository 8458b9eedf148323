/* fuzz_handover.c - libFuzzer target for handover_parse, the reader of
 * the message an old process sends with its listening sockets
 * (core/handover.h).
 *
 * The input, in an exact-size heap copy (so ASan sees a read past the
 * length), is what arrived so far. A violation is __builtin_trap(), so
 * libFuzzer saves the input:
 *   - the result is -1, 0 or a length within the input;
 *   - on -1 the message is a non-empty string ended within its buffer,
 *     also in a tiny one;
 *   - on a length: at most HANDOVER_MAX entries, each a stream or datagram
 *     socket of IPv4 or IPv6 and no descriptor, and the text written again
 *     from them is the very bytes read (one spelling per message);
 *   - a whole message stays whole, and the same, with bytes after it.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "core/handover.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = fuzz_copy(data, size);
	static struct handover h, again;
	char err[160], tiny[3];
	long rc = handover_parse(text, size, h.e, &h.n, err, sizeof(err));
	REQUIRE(rc >= -1 && rc <= (long)size);
	if (rc < 0) {
		REQUIRE(memchr(err, '\0', sizeof(err)) != NULL && err[0] != '\0');
		REQUIRE(handover_parse(text, size, again.e, &again.n, tiny, sizeof(tiny)) == -1);
		REQUIRE(memchr(tiny, '\0', sizeof(tiny)) != NULL);
	} else if (rc > 0) {
		REQUIRE(h.n <= HANDOVER_MAX);
		for (unsigned i = 0; i < h.n; i++) {
			int family = ((const struct sockaddr *)&h.e[i].addr.ss)->sa_family;
			REQUIRE(h.e[i].socktype == SOCK_STREAM || h.e[i].socktype == SOCK_DGRAM);
			REQUIRE(family == AF_INET || family == AF_INET6);
			REQUIRE(h.e[i].fd == -1 && !h.e[i].taken);
		}
		static char back[HANDOVER_TEXT_MAX];
		long len = handover_format(h.e, h.n, back, sizeof(back));
		REQUIRE(len == rc && memcmp(back, text, (size_t)rc) == 0);
		REQUIRE(handover_parse(text, (size_t)rc, again.e, &again.n, err, sizeof(err)) ==
		        rc);
		REQUIRE(again.n == h.n);
	}
	free(text);
	return 0;
}
