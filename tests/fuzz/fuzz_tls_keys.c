/* fuzz_tls_keys.c - libFuzzer target for tls_keys_parse, the reader of the
 * session-ticket key file the LBs of a pair share.
 *
 * The input, in an exact-size heap copy (so ASan sees a read past the
 * length), is a key file. A violation is __builtin_trap(), so libFuzzer
 * saves the input:
 *   - the result is 0 or -1; -1 leaves no key and an error that names the
 *     file, in any size of error buffer;
 *   - 0 means 1..TLS_KEYS_MAX keys with distinct names, the sealing one
 *     where tls_keys_sealing says;
 *   - the keys written back as lines (tls_keys_line) parse to the same keys.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/tls_keys.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = fuzz_copy(data, size);
	struct tls_ticket_keys keys;
	char err[512];
	int rc = tls_keys_parse(text, size, "f", &keys, err, sizeof(err));
	REQUIRE(rc == 0 || rc == -1);
	if (rc < 0) {
		REQUIRE(keys.n == 0);
		REQUIRE(memchr(err, '\0', sizeof(err)) != NULL && strncmp(err, "f:", 2) == 0);
		char tiny[8];
		REQUIRE(tls_keys_parse(text, size, "f", &keys, tiny, sizeof(tiny)) == -1);
		REQUIRE(memchr(tiny, '\0', sizeof(tiny)) != NULL);
		free(text);
		return 0;
	}
	REQUIRE(keys.n >= 1 && keys.n <= TLS_KEYS_MAX);
	REQUIRE(keys.enc == tls_keys_sealing(keys.n) && keys.enc < keys.n);
	for (unsigned i = 0; i < keys.n; i++)
		for (unsigned j = 0; j < i; j++)
			REQUIRE(memcmp(keys.keys[i].name, keys.keys[j].name, 16) != 0);
	char again[TLS_KEYS_MAX * (TLS_KEY_LINE + 1)];
	size_t o = 0;
	for (unsigned i = 0; i < keys.n; i++) {
		tls_keys_line(&keys.keys[i], again + o);
		REQUIRE(strlen(again + o) == TLS_KEY_LINE);
		o += TLS_KEY_LINE;
		again[o++] = '\n';
	}
	struct tls_ticket_keys back;
	REQUIRE(tls_keys_parse(again, o, "f", &back, err, sizeof(err)) == 0);
	REQUIRE(back.n == keys.n && back.enc == keys.enc);
	REQUIRE(memcmp(back.keys, keys.keys, sizeof(keys.keys[0]) * keys.n) == 0);
	free(text);
	return 0;
}
