/* path_normalize: hostile request targets are refused (400, 414) or come
 * out as a path inside the root; what comes out starts with '/', has no "."
 * or ".." segment, no NUL or control byte, and never overruns the output.
 * Random targets are checked against a second, simpler normaliser. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/common.h"
#include "core/path.h"
#include "t.h"

/* What every accepted output must be: "/" then segments that are neither
 * empty, "." nor "..", an optional final '/', no byte below 0x20 or 0x7f. */
static int path_is_inside(const char *p, long n)
{
	if (n < 1 || p[0] != '/' || (long)strlen(p) != n)
		return 0;
	for (long i = 0; i < n; i++)
		if ((unsigned char)p[i] < 0x20 || p[i] == 0x7f)
			return 0;
	const char *seg = p + 1;
	while (*seg) {
		const char *end = strchr(seg, '/');
		size_t len = end ? (size_t)(end - seg) : strlen(seg);
		if (len == 0 || (len == 1 && seg[0] == '.') ||
		    (len == 2 && seg[0] == '.' && seg[1] == '.'))
			return 0;
		if (end == NULL)
			break;
		seg = end + 1;
	}
	return 1;
}

/* Run the normaliser with canaries after outlen bytes. */
static long normalize(const char *target, size_t len, char *out, size_t outlen)
{
	char buf[8192 + 16];
	if (outlen > 8192)
		return -1;
	memset(buf, 0xee, sizeof(buf));
	long r = path_normalize(target, len, buf, outlen, 0);
	for (size_t i = outlen; i < outlen + 16; i++)
		if ((unsigned char)buf[i] != 0xee) {
			t_check(0, __FILE__, __LINE__, "wrote past outlen %zu at %zu", outlen, i);
			break;
		}
	if (r >= 0)
		memcpy(out, buf, (size_t)r + 1);
	return r;
}

TEST(path_hostile_targets)
{
	static const struct {
		const char *target;
		const char *want; /* NULL: refused with status */
		long status;
	} rows[] = {
		/* climbing out */
		{ "/..", NULL, -400 },
		{ "/../", NULL, -400 },
		{ "/../etc/passwd", NULL, -400 },
		{ "/%2e%2e/etc/passwd", NULL, -400 },
		{ "/%2E%2E/etc/passwd", NULL, -400 },
		{ "/%2E%2E%2Fetc", NULL, -400 },
		{ "/.%2e/etc", NULL, -400 },
		{ "/%2e./etc", NULL, -400 },
		{ "/a/../../b", NULL, -400 },
		{ "/..%2f..%2f", NULL, -400 },
		{ "/..%2F..%2Fetc%2Fpasswd", NULL, -400 },
		{ "/a/b/c/../../../..", NULL, -400 },
		{ "/a/./../..", NULL, -400 },
		{ "/a/%2e%2e/%2e%2e/x", NULL, -400 },
		{ "//..", NULL, -400 },
		/* NUL and control bytes, raw or encoded */
		{ "/%00", NULL, -400 },
		{ "/a%00.html", NULL, -400 },
		{ "/a/..%00", NULL, -400 },
		{ "/a%0d%0aSet-Cookie:%20x", NULL, -400 },
		{ "/a%7f", NULL, -400 },
		{ "/a%1b[0m", NULL, -400 },
		{ "/a\x01"
		  "b",
		  NULL, -400 },
		{ "/a\tb", NULL, -400 },
		{ "/a\x7f", NULL, -400 },
		{ "/a\rb", NULL, -400 },
		/* broken escapes */
		{ "/%", NULL, -400 },
		{ "/%4", NULL, -400 },
		{ "/%zz", NULL, -400 },
		{ "/%4g", NULL, -400 },
		{ "/%g4", NULL, -400 },
		{ "/a%", NULL, -400 },
		{ "/a%2", NULL, -400 },
		{ "/a%2?x=1", NULL, -400 }, /* the query does not complete an escape */
		{ "/%%41", NULL, -400 },
		{ "/%-1", NULL, -400 },
		{ "/% 1", NULL, -400 },
		/* not origin-form */
		{ "*", NULL, -400 },
		{ "http://x/", NULL, -400 },
		{ "..", NULL, -400 },
		{ "../etc", NULL, -400 },
		{ " /", NULL, -400 },
		{ "a/b", NULL, -400 },
		{ "\\..\\etc", NULL, -400 },
		{ "%2e%2e/", NULL, -400 },
		{ "?/", NULL, -400 },
		/* normalised, inside the root */
		{ "/", "/", 0 },
		{ "/./././", "/", 0 },
		{ "/.", "/", 0 },
		{ "//", "/", 0 },
		{ "///////", "/", 0 },
		{ "//etc//passwd", "/etc/passwd", 0 },
		{ "/%2f%2fetc", "/etc", 0 },
		{ "/a/b/../c", "/a/c", 0 },
		{ "/a/b/c/../../..", "/", 0 },
		{ "/a//..//b", "/b", 0 },
		{ "/a/%2e%2e/b", "/b", 0 },
		{ "/%2e/", "/", 0 },
		{ "/a/./b/./", "/a/b/", 0 },
		{ "/a/b/", "/a/b/", 0 }, /* a trailing '/' asks for a directory */
		{ "/a/b/.", "/a/b/", 0 },
		{ "/a/b/..", "/a/", 0 },
		{ "/a/b", "/a/b", 0 },
		{ "/a/b//", "/a/b/", 0 },
		{ "/a%2fb", "/a/b", 0 },
		{ "/%41%42%43", "/ABC", 0 },
		{ "/%7euser/", "/~user/", 0 },
		{ "/a/.../b", "/a/.../b", 0 }, /* three dots is a name */
		{ "/..a", "/..a", 0 },
		{ "/a..", "/a..", 0 },
		{ "/.hidden", "/.hidden", 0 },
		{ "/%252e%252e/", "/%2e%2e/", 0 },             /* decoded once only */
		{ "/%c0%ae%c0%ae/", "/\xc0\xae\xc0\xae/", 0 }, /* overlong UTF-8 is not '.' */
		{ "/caf%C3%A9", "/caf\xc3\xa9", 0 },
		/* backslashes are no separator on Linux: a name, inside the root */
		{ "/a\\..\\..\\etc\\passwd", "/a\\..\\..\\etc\\passwd", 0 },
		{ "/..\\", "/..\\", 0 },
		{ "/%5c..%5c", "/\\..\\", 0 },
		/* query strings and fragments are not the path */
		{ "/index.html?x=/../../etc", "/index.html", 0 },
		{ "/a?%00", "/a", 0 },
		{ "/a?b#c", "/a", 0 },
		{ "/a#/../../x", "/a", 0 },
		{ "/a#?x", "/a", 0 },
		{ "/?", "/", 0 },
		{ "/#", "/", 0 },
		{ "/dir/?q", "/dir/", 0 },
		{ "/%3F", "/?", 0 }, /* an encoded '?' is part of the name */
		{ "/%23x", "/#x", 0 },
	};
	for (size_t i = 0; i < ARRAY_SIZE(rows); i++) {
		t_case("path \"%s\"", rows[i].target);
		char out[256];
		long r = normalize(rows[i].target, strlen(rows[i].target), out, sizeof(out));
		if (rows[i].want) {
			CHECK_EQ(r, (long)strlen(rows[i].want));
			if (r >= 0) {
				CHECK_STR(out, rows[i].want);
				t_check(path_is_inside(out, r), __FILE__, __LINE__,
				        "\"%s\" is inside the root", out);
			}
		} else {
			CHECK_EQ(r, rows[i].status);
		}
	}
}

/* A NUL inside the given length is a byte like any other: refused. */
TEST(path_embedded_nul)
{
	char out[64];
	static const char t1[] = "/a\0/../../etc";
	CHECK_EQ(normalize(t1, sizeof(t1) - 1, out, sizeof(out)), -400);
	/* Only len bytes are read: "/ab" of "/abc". */
	CHECK_EQ(normalize("/abc", 3, out, sizeof(out)), 2 + 1);
	CHECK_STR(out, "/ab");
	/* len 0 */
	CHECK_EQ(normalize("/", 0, out, sizeof(out)), -400);
}

/* PATH_NO_ENCODED_SLASH: a "%2F" is refused, nothing else changes. */
TEST(path_no_encoded_slash)
{
	static const struct {
		const char *target;
		long want; /* with the flag: the length, or -400 */
	} rows[] = {
		{ "/a%2Fb", -400 }, { "/a%2fb", -400 },    { "/a/%2f/b", -400 },
		{ "/a%252Fb", 6 },  { "/a/b%2e%2e/c", 8 }, { "/%41", 2 },
	};
	for (size_t i = 0; i < ARRAY_SIZE(rows); i++) {
		t_case("path \"%s\" with PATH_NO_ENCODED_SLASH", rows[i].target);
		char out[64], plain[64];
		size_t len = strlen(rows[i].target);
		long r =
		    path_normalize(rows[i].target, len, out, sizeof(out), PATH_NO_ENCODED_SLASH);
		CHECK_EQ(r, rows[i].want);
		long p = path_normalize(rows[i].target, len, plain, sizeof(plain), 0);
		CHECK(p >= 0); /* without the flag a "%2F" is a separator */
		if (r >= 0)
			CHECK_STR(out, plain);
	}
}

/* PATH_CONTROL_OK: encoded control bytes other than NUL go through (the
 * web server's proxy prefixes match them), nothing else changes. */
TEST(path_control_ok)
{
	static const struct {
		const char *target;
		long want;       /* with the flag: the length, or -400 */
		const char *out; /* what it decodes to */
	} rows[] = {
		{ "/api/a%0d%0aX", 9, "/api/a\r\nX" },
		{ "/a%01b%7f", 5, "/a\001b\177" },
		{ "/a%00b", -400, NULL },
		{ "/a\001b", 4, "/a\001b" },
		{ "/a/%0d/../b", 4, "/a/b" },
		{ "/../%0d", -400, NULL },
	};
	for (size_t i = 0; i < ARRAY_SIZE(rows); i++) {
		t_case("path \"%s\" with PATH_CONTROL_OK", rows[i].target);
		char out[64];
		size_t len = strlen(rows[i].target);
		CHECK_EQ(path_normalize(rows[i].target, len, out, sizeof(out), PATH_CONTROL_OK),
		         rows[i].want);
		if (rows[i].want >= 0)
			CHECK_STR(out, rows[i].out);
		/* without the flag, a control byte is refused as ever */
		CHECK_EQ(path_normalize(rows[i].target, len, out, sizeof(out), 0), -400);
	}
}

TEST(path_lengths)
{
	static char target[8192], out[8192];

	t_case("path overlong segment");
	target[0] = '/';
	memset(target + 1, 'a', 5000);
	CHECK_EQ(normalize(target, 5001, out, 4096), -414);

	t_case("path overlong path of short segments");
	for (int i = 0; i < 2000; i++)
		memcpy(target + 3 * i, "/ab", 3);
	CHECK_EQ(normalize(target, 6000, out, 4096), -414);

	t_case("path long target, short result");
	/* "/a/.." 1600 times then "/x": long in, short out, accepted. */
	size_t n = 0;
	for (int i = 0; i < 1600; i++) {
		memcpy(target + n, "/a/..", 5);
		n += 5;
	}
	memcpy(target + n, "/x", 2);
	n += 2;
	CHECK_EQ(normalize(target, n, out, 64), 2);
	CHECK_STR(out, "/x");

	t_case("path long encoded target");
	n = 0;
	target[n++] = '/';
	for (int i = 0; i < 1000; i++) {
		memcpy(target + n, "%61", 3);
		n += 3;
	}
	CHECK_EQ(normalize(target, n, out, 4096), 1001);
	CHECK(out[0] == '/' && out[1] == 'a' && out[1000] == 'a' && out[1001] == '\0');
	CHECK_EQ(normalize(target, n, out, 1001), -414);

	/* The result and its NUL fit, whatever the output size. */
	static const char *const paths[] = { "/abc", "/abc/", "/a/b/c", "/a/../bcd", "/%41bc" };
	for (size_t p = 0; p < ARRAY_SIZE(paths); p++) {
		for (size_t outlen = 0; outlen < 12; outlen++) {
			t_case("path \"%s\" into %zu bytes", paths[p], outlen);
			long r = normalize(paths[p], strlen(paths[p]), out, outlen);
			CHECK(r == -414 || r == -400 || (r >= 0 && (size_t)r < outlen));
			if (r >= 0)
				CHECK(path_is_inside(out, r));
			/* Enough room is always enough. */
			if (outlen >= strlen(paths[p]) + 2)
				CHECK(r >= 0);
		}
	}
}

/* ---- a second normaliser, written differently, to compare against ---- */

static int hex(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c |= 0x20;
	return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* Decode the whole path, then split it into segments on a stack. */
static long reference(const char *t, size_t len, char *out)
{
	if (len == 0 || t[0] != '/')
		return -400;
	for (size_t i = 0; i < len; i++)
		if (t[i] == '?' || t[i] == '#') {
			len = i;
			break;
		}
	char dec[512];
	size_t d = 0;
	for (size_t i = 0; i < len; i++) {
		int c = (unsigned char)t[i];
		if (c == '%') {
			if (i + 2 >= len || hex(t[i + 1]) < 0 || hex(t[i + 2]) < 0)
				return -400;
			c = hex(t[i + 1]) * 16 + hex(t[i + 2]);
			i += 2;
		}
		if (c < 0x20 || c == 0x7f)
			return -400;
		dec[d++] = (char)c;
	}
	dec[d] = '\0';
	const char *segs[256];
	size_t lens[256], nseg = 0;
	int last_dir = 0;
	for (const char *p = dec + 1;;) {
		size_t l = strcspn(p, "/");
		last_dir =
		    l == 0 || (l == 1 && p[0] == '.') || (l == 2 && p[0] == '.' && p[1] == '.');
		if (l == 2 && p[0] == '.' && p[1] == '.') {
			if (nseg == 0)
				return -400;
			nseg--;
		} else if (!last_dir) {
			segs[nseg] = p;
			lens[nseg++] = l;
		}
		if (p[l] == '\0')
			break;
		p += l + 1;
	}
	size_t o = 0;
	out[o++] = '/';
	for (size_t i = 0; i < nseg; i++) {
		memcpy(out + o, segs[i], lens[i]);
		o += lens[i];
		if (i + 1 < nseg || last_dir)
			out[o++] = '/';
	}
	out[o] = '\0';
	return (long)o;
}

TEST(path_random_targets_match_reference)
{
	/* Bytes that matter to the normaliser, and a few that do not. */
	static const char alphabet[] = "//////....%%%2eEfF0a?#\\\x01\x7f\x80";
	unsigned seed = 12345;
	int mismatches = 0, accepted = 0, checked = 0;
	for (int iter = 0; iter < 200000; iter++) {
		char t[48], out[512], ref[512];
		size_t len = 1 + (seed = seed * 1103515245u + 12345u) % 40;
		t[0] = '/';
		for (size_t i = 1; i < len; i++) {
			seed = seed * 1103515245u + 12345u;
			t[i] = alphabet[(seed >> 16) % (sizeof(alphabet) - 1)];
		}
		long r = normalize(t, len, out, sizeof(out));
		long want = reference(t, len, ref);
		checked++;
		if (r != want || (r >= 0 && strcmp(out, ref) != 0)) {
			if (mismatches++ < 5)
				t_check(0, __FILE__, __LINE__,
				        "\"%.*s\": %ld \"%s\" vs reference %ld \"%s\"", (int)len, t,
				        r, r >= 0 ? out : "", want, want >= 0 ? ref : "");
		}
		if (r >= 0) {
			accepted++;
			if (!path_is_inside(out, r) && mismatches++ < 5)
				t_check(0, __FILE__, __LINE__, "\"%.*s\" -> \"%s\" is not inside",
				        (int)len, t, out);
		}
	}
	CHECK_EQ(mismatches, 0);
	CHECK(accepted > 1000); /* the alphabet does reach the accepting paths */
	CHECK(checked - accepted > 1000);
}

/* Dotfiles are hidden from the web (nginx's usual `location ~ /\. { deny
 * all; }`), /.well-known/ (RFC 8615) aside. Paths are normalised ones. */
TEST(path_hidden_dotfiles)
{
	static const struct {
		const char *path;
		bool hidden;
	} rows[] = {
		{ "/.env", true },
		{ "/.git/config", true },
		{ "/.git/", true },
		{ "/static/.htpasswd", true },
		{ "/a/b/.secret/c.txt", true },
		{ "/.", true }, /* never out of the normaliser, hidden anyway */
		{ "/.well-knownx/a", true },
		{ "/.well-known.bak", true },
		{ "/.well-known/.hidden", true }, /* dot segments below it stay hidden */
		{ "/.well-known/a/.git/config", true },
		{ "/static/.well-known/x", true }, /* only at the top */
		{ "/.well-known", false },
		{ "/.well-known/", false },
		{ "/.well-known/acme-challenge/tok.en", false },
		{ "/", false },
		{ "/index.html", false },
		{ "/a.b/c..d/e.", false }, /* dots inside a name are fine */
		{ "/static/app.min.js", false },
	};
	for (size_t i = 0; i < ARRAY_SIZE(rows); i++) {
		t_case("path_hidden \"%s\"", rows[i].path);
		CHECK_EQ(path_hidden(rows[i].path), rows[i].hidden);
	}
}
