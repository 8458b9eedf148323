/* fuzz_prom.c - libFuzzer target for prom_next and prom_label, the LB
 * monitor's reader of other daemons' /metrics.
 *
 * The input, in an exact-size heap copy (so ASan sees a read past the
 * length), is a /metrics body. A violation is __builtin_trap(), so
 * libFuzzer saves the input:
 *   - every sample lies inside the input; its name is not empty and within
 *     PROM_MAX_NAME, its labels within PROM_MAX_LABELS;
 *   - the position only moves forward and ends at the length;
 *   - samples plus skipped lines never outnumber the lines;
 *   - prom_label writes a NUL-terminated string within the room it has.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/prom.h"
#include "fuzz.h"

static bool inside(struct str s, const char *p, size_t n)
{
	return s.p >= p && s.p + s.len <= p + n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *p = fuzz_copy(data, size);
	size_t lines = 1;
	for (size_t i = 0; i < size; i++)
		lines += p[i] == '\n';
	size_t pos = 0, last = 0, samples = 0;
	unsigned skipped = 0;
	struct prom_sample s;
	while (prom_next(p, size, &pos, &s, &skipped)) {
		REQUIRE(pos > last && pos <= size);
		last = pos;
		samples++;
		REQUIRE(s.name.len > 0 && s.name.len <= PROM_MAX_NAME && inside(s.name, p, size));
		REQUIRE(s.labels.len <= PROM_MAX_LABELS && inside(s.labels, p, size));
		char out[16];
		memset(out, 'x', sizeof(out));
		if (prom_label(s.labels, "server", out, 8)) {
			REQUIRE(memchr(out, '\0', 8) != NULL);
			REQUIRE(out[8] == 'x');
		}
		(void)prom_label(s.labels, "le", NULL, 0);
	}
	REQUIRE(pos == size);
	REQUIRE(samples + skipped <= lines);
	/* labels as a whole input: never read past it */
	char out[64];
	(void)prom_label((struct str){ p, size }, "code", out, sizeof(out));
	free(p);
	return 0;
}
