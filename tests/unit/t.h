/* t.h - the unit-test runner's few macros.
 *
 *   TEST(name) { CHECK(x); CHECK_EQ(a, b); CHECK_STR(s, "x"); }
 *
 * Each TEST is a case; inside a table-driven test, t_case("fmt", ...) starts
 * a new named case, so every row counts (and fails) on its own. A case that
 * checks nothing fails: a test that cannot fail is a defect. The runner's
 * last line is "N passed, M failed".
 */
#ifndef T_H
#define T_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

struct t_test {
	const char *name;
	const char *file;
	void (*fn)(void);
	struct t_test *next;
};

void t_register(struct t_test *t);
void t_case(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void t_check(int ok, const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#define TEST(name)                                                                                 \
	static void name(void);                                                                    \
	static struct t_test t_test_##name = { #name, __FILE__, name, NULL };                      \
	__attribute__((constructor)) static void t_reg_##name(void)                                \
	{                                                                                          \
		t_register(&t_test_##name);                                                        \
	}                                                                                          \
	static void name(void)

#define CHECK(cond) t_check(!!(cond), __FILE__, __LINE__, "%s", #cond)

#define CHECK_EQ(a, b)                                                                             \
	do {                                                                                       \
		long long t_a_ = (long long)(a), t_b_ = (long long)(b);                            \
		t_check(t_a_ == t_b_, __FILE__, __LINE__, "%s == %s (%lld vs %lld)", #a, #b, t_a_, \
		        t_b_);                                                                     \
	} while (0)

#define CHECK_STR(a, b)                                                                            \
	do {                                                                                       \
		const char *t_a_ = (a), *t_b_ = (b);                                               \
		t_check(t_a_ &&t_b_ &&strcmp(t_a_, t_b_) == 0, __FILE__, __LINE__,                 \
		        "%s == %s (\"%s\" vs \"%s\")", #a, #b, t_a_ ? t_a_ : "(null)",             \
		        t_b_ ? t_b_ : "(null)");                                                   \
	} while (0)

/* Bytes that may contain NUL, for tables of inputs: a literal and its
 * length, as RAW("a\0b"). */
struct raw {
	const char *s;
	size_t len;
};

#define RAW(lit)                                                                                   \
	{                                                                                          \
		(lit), sizeof(lit) - 1                                                             \
	}

/* A struct str (pointer + length) equals a C string. */
#define CHECK_STRN(s, b)                                                                           \
	do {                                                                                       \
		struct str t_s_ = (s);                                                             \
		const char *t_b_ = (b);                                                            \
		t_check(t_s_.len == strlen(t_b_) &&                                                \
		            (t_s_.len == 0 || memcmp(t_s_.p, t_b_, t_s_.len) == 0),                \
		        __FILE__, __LINE__, "%s == \"%s\" (got \"%.*s\")", #s, t_b_,               \
		        (int)t_s_.len, t_s_.p ? t_s_.p : "");                                      \
	} while (0)

#endif
