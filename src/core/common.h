/* common.h - what every tristack file may assume: status codes, small macros.
 *
 * Control flow uses a tiny status set, as nginx does: TS_OK (0), TS_ERROR (-1,
 * with errno or an error string the caller owns), TS_AGAIN (-2: would block,
 * call again when the fd is ready). I/O functions return a byte count >= 0 or
 * one of the negative statuses.
 */
#ifndef TS_COMMON_H
#define TS_COMMON_H

#include <stddef.h>
#include <stdint.h>

#define TS_OK    0
#define TS_ERROR (-1)
#define TS_AGAIN (-2)

#define TS_VERSION "0.1.0"

/* A path built from configured folders and names (the state folder, a
 * daemon's pid or log file, a document root and a file in it): the kernel's
 * PATH_MAX (4096) and room for what is appended to a configured folder, so a
 * path cut short by snprintf is one the kernel would refuse anyway. A file
 * named inside such a folder takes TS_PATH_MAX + 100. */
#define TS_PATH_MAX 4200

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define MIN(a, b)     ((a) < (b) ? (a) : (b))
#define MAX(a, b)     ((a) > (b) ? (a) : (b))

#define container_of(ptr, type, member) ((type *)(void *)((char *)(ptr)-offsetof(type, member)))

#define likely(x)   __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)

#define TS_UNUSED       __attribute__((unused))
#define TS_PRINTF(f, a) __attribute__((format(printf, f, a)))

/* A pointer + length view into someone else's bytes (never NUL-terminated). */
struct str {
	const char *p;
	size_t len;
};

#define STR_LIT(s) ((struct str){ (s), sizeof(s) - 1 })

/* The value of a hex digit, or -1: the one copy for percent-escapes
 * (path.c, the app's forms) and chunk sizes (chunked.c). */
static inline int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Allocation that cannot fail quietly: aborts with a message on ENOMEM.
 * Used for start-up and per-connection structures; nothing on the request
 * hot path allocates. */
void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);

#endif
