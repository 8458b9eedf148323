/* main.c - the unit-test runner: runs every registered TEST (or those whose
 * name contains argv[1]) and ends with "N passed, M failed". */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "t.h"

static struct t_test *tests, **tests_tail = &tests;
static int passed, failed;
static char case_name[256];
static int case_checks, case_failures;

void t_register(struct t_test *t)
{
	*tests_tail = t;
	tests_tail = &t->next;
}

static void case_end(void)
{
	if (case_name[0] == '\0')
		return;
	if (case_checks == 0) {
		printf("FAIL %s: checks nothing\n", case_name);
		failed++;
	} else if (case_failures) {
		failed++;
	} else {
		passed++;
	}
	case_name[0] = '\0';
}

static void case_begin(const char *name)
{
	case_end();
	snprintf(case_name, sizeof(case_name), "%s", name);
	case_checks = case_failures = 0;
}

void t_case(const char *fmt, ...)
{
	char name[256];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(name, sizeof(name), fmt, ap);
	va_end(ap);
	/* The enclosing TEST counts only if it checked something itself. */
	if (case_checks == 0 && case_failures == 0)
		case_name[0] = '\0';
	case_begin(name);
}

void t_check(int ok, const char *file, int line, const char *fmt, ...)
{
	case_checks++;
	if (ok)
		return;
	case_failures++;
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	printf("FAIL %s: %s:%d: %s\n", case_name, file, line, msg);
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	for (struct t_test *t = tests; t; t = t->next) {
		if (argc > 1 && strstr(t->name, argv[1]) == NULL)
			continue;
		case_begin(t->name);
		t->fn();
		case_end();
	}
	printf("%d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}
