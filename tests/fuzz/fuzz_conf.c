/* fuzz_conf.c - libFuzzer target for the stack-file loader.
 *
 * Any bytes (as a C string: a NUL-terminated copy, so the text ends at the
 * first NUL) either load or fail with one line "fuzz.conf:LINE: ..." or
 * "fuzz.conf: ...", leaving the stack zeroed; never a crash or a leak (the
 * loader frees everything on failure). A stack that loads prints, with
 * conf_print, as a file that loads again and prints the same (a violation
 * is __builtin_trap(), so libFuzzer saves the input).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf/conf.h"
#include "fuzz.h"

#define NAME "fuzz.conf"

static int is_zero(const struct conf *s)
{
	static const struct conf zero;
	return memcmp(s, &zero, sizeof(zero)) == 0;
}

static char *print_to_string(const struct conf *s)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	REQUIRE(f != NULL);
	conf_print(s, f);
	fclose(f);
	return text;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = malloc(size + 1);
	memcpy(text, data, size);
	text[size] = '\0';
	static struct conf s, again;
	char err[512];
	err[0] = '\0';
	if (conf_load_string(&s, NAME, text, err, sizeof(err)) < 0) {
		REQUIRE(strncmp(err, NAME ":", strlen(NAME ":")) == 0);
		REQUIRE(strchr(err, '\n') == NULL);
		REQUIRE(is_zero(&s));
		free(text);
		return 0;
	}
	REQUIRE(err[0] == '\0');
	/* The effective configuration loads back, and is a fixed point. */
	char *printed = print_to_string(&s);
	REQUIRE(conf_load_string(&again, NAME, printed, err, sizeof(err)) == 0);
	char *printed2 = print_to_string(&again);
	REQUIRE(strcmp(printed, printed2) == 0);
	REQUIRE(again.nhosts == s.nhosts && again.lb.nservers == s.lb.nservers &&
	        again.web.nproxy == s.web.nproxy);
	free(printed2);
	free(printed);
	conf_free(&again);
	conf_free(&s);
	REQUIRE(is_zero(&s));
	free(text);
	return 0;
}
