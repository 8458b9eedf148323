/* The session-ticket key file (core/tls_keys.h): HAProxy's tls-ticket-keys
 * format read as written (name, AES key, HMAC secret), comments and blank
 * lines skipped, every bad line named by file:line, and which key seals new
 * tickets for each number of keys. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/tls_keys.h"
#include "t.h"

/* Bytes 0..79, as `python3 -c 'print(base64.b64encode(bytes(range(80))))'` says. */
#define KEY_0_79                                                                                   \
	"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKissLS4vMDEyMzQ1Njc4OTo7PD0+P0BB" \
	"QkNERUZHSElKS0xNTk8="

/* The line of a key whose every byte is b. */
static void line_of(unsigned char b, char out[TLS_KEY_LINE + 1])
{
	struct tls_ticket_key k;
	memset(&k, b, sizeof(k));
	tls_keys_line(&k, out);
}

/* A file of n keys, key i all bytes i + 1, each line followed by extra. */
static char *file_of(unsigned n, const char *extra)
{
	size_t cap = (size_t)n * (TLS_KEY_LINE + 1 + strlen(extra)) + 1;
	char *text = calloc(1, cap);
	for (unsigned i = 0; i < n; i++) {
		char line[TLS_KEY_LINE + 1];
		line_of((unsigned char)(i + 1), line);
		strcat(text, line);
		strcat(text, extra);
	}
	return text;
}

static int parse(const char *text, struct tls_ticket_keys *k, char *err, size_t errlen)
{
	return tls_keys_parse(text, strlen(text), "t.keys", k, err, errlen);
}

TEST(tls_keys_line_is_base64_of_name_aes_hmac)
{
	struct tls_ticket_key k;
	unsigned char raw[TLS_KEY_BYTES];
	for (int i = 0; i < TLS_KEY_BYTES; i++)
		raw[i] = (unsigned char)i;
	memcpy(k.name, raw, 16);
	memcpy(k.aes, raw + 16, 32);
	memcpy(k.hmac, raw + 48, 32);
	char line[TLS_KEY_LINE + 1];
	tls_keys_line(&k, line);
	CHECK_STR(line, KEY_0_79);
	CHECK_EQ(strlen(line), TLS_KEY_LINE);

	struct tls_ticket_keys keys;
	char err[256] = "";
	CHECK_EQ(parse(KEY_0_79 "\n", &keys, err, sizeof(err)), 0);
	CHECK_EQ(keys.n, 1);
	CHECK(memcmp(keys.keys[0].name, raw, 16) == 0);
	CHECK(memcmp(keys.keys[0].aes, raw + 16, 32) == 0);
	CHECK(memcmp(keys.keys[0].hmac, raw + 48, 32) == 0);
}

TEST(tls_keys_comments_blanks_and_line_ends)
{
	char a[TLS_KEY_LINE + 1], b[TLS_KEY_LINE + 1], text[1024];
	line_of(0xa1, a);
	line_of(0xb2, b);
	snprintf(text, sizeof(text),
	         "# tls-ticket.keys\n\n   \t\n  # indented comment\n  %s  \r\n\t%s", a, b);
	struct tls_ticket_keys keys;
	char err[256] = "";
	CHECK_EQ(parse(text, &keys, err, sizeof(err)), 0);
	CHECK_EQ(keys.n, 2);
	CHECK_EQ(keys.keys[0].name[0], 0xa1);
	CHECK_EQ(keys.keys[1].hmac[31], 0xb2);
}

TEST(tls_keys_which_key_seals)
{
	static const struct {
		unsigned n, enc;
	} rows[] = { { 1, 0 }, { 2, 0 }, { 3, 1 }, { 4, 2 }, { 8, 6 } };
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		t_case("%u keys", rows[i].n);
		char *text = file_of(rows[i].n, "\n");
		struct tls_ticket_keys keys;
		char err[256] = "";
		CHECK_EQ(parse(text, &keys, err, sizeof(err)), 0);
		CHECK_EQ(keys.n, rows[i].n);
		CHECK_EQ(keys.enc, rows[i].enc);
		CHECK_EQ(tls_keys_sealing(rows[i].n), rows[i].enc);
		/* oldest first, as written */
		CHECK_EQ(keys.keys[keys.enc].name[0], rows[i].enc + 1);
		free(text);
	}
}

TEST(tls_keys_bad_files_name_the_line)
{
	char ok[TLS_KEY_LINE + 1];
	line_of(7, ok);
	char *nine = file_of(9, "\n");
	char *eight = file_of(8, "\n");
	char bad_char[256], no_pad[256], mid_pad[256], dup[512], trailing[512];
	snprintf(bad_char, sizeof(bad_char), "%.*s*%s\n", 10, ok, ok + 11);
	snprintf(no_pad, sizeof(no_pad), "%.*s\n", TLS_KEY_LINE - 1, ok);
	snprintf(mid_pad, sizeof(mid_pad), "%.*s=%s\n", 20, ok, ok + 21);
	snprintf(dup, sizeof(dup), "# two\n%s\n\n%s\n", ok, ok);
	snprintf(trailing, sizeof(trailing), "%s junk\n", ok);
	static const char *const why_len = "a key of 48 bytes, not 80";
	const struct {
		const char *name, *text, *want;
	} rows[] = {
		{ "empty", "", "t.keys: no key" },
		{ "only comments", "# nothing\n\n#\n", "t.keys: no key" },
		{ "48-byte key (HAProxy's AES-128 form)",
		  "# x\nAAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKissLS4v\n",
		  why_len },
		{ "not base64", "# x\n\nnot base64 at all\n", "t.keys:3: not base64" },
		{ "a stray character", bad_char, "t.keys:1: not base64" },
		{ "padding missing", no_pad, "t.keys:1: not base64" },
		{ "padding inside", mid_pad, "t.keys:1: not base64" },
		{ "wrapped at 64",
		  "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKissLS4v\n"
		  "MDEyMzQ1Njc4OTo7PD0+P0BBQkNERUZHSElKS0xNTk8=\n",
		  why_len },
		{ "too many keys", nine, "t.keys:9: more than 8 keys" },
		{ "the same key twice", dup, "t.keys:4: the same key name as line 2" },
		{ "junk after the key", trailing, "t.keys:1: not base64" },
	};
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		t_case("%s", rows[i].name);
		struct tls_ticket_keys keys;
		char err[512] = "";
		CHECK_EQ(parse(rows[i].text, &keys, err, sizeof(err)), -1);
		if (strstr(err, rows[i].want) == NULL)
			t_check(0, __FILE__, __LINE__, "error \"%s\" says \"%s\"", err,
			        rows[i].want);
		else
			CHECK(1);
		CHECK_EQ(keys.n, 0); /* nothing half-parsed is left */
	}
	t_case("eight keys are fine");
	struct tls_ticket_keys keys;
	char err[256] = "";
	CHECK_EQ(parse(eight, &keys, err, sizeof(err)), 0);
	CHECK_EQ(keys.n, 8);
	free(nine);
	free(eight);
}

TEST(tls_keys_nul_bytes_and_no_final_newline)
{
	struct tls_ticket_keys keys;
	char err[256] = "";
	static const char with_nul[] = "#\0comment\n" KEY_0_79;
	CHECK_EQ(tls_keys_parse(with_nul, sizeof(with_nul) - 1, "t.keys", &keys, err, sizeof(err)),
	         0);
	CHECK_EQ(keys.n, 1);
	static const char nul_in_key[] =
	    "AAEC\0wQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKi"
	    "ssLS4vMDEyMzQ1Njc4OTo7PD0+P0BBQkNERUZHSElKS0xNTk8=";
	CHECK_EQ(
	    tls_keys_parse(nul_in_key, sizeof(nul_in_key) - 1, "t.keys", &keys, err, sizeof(err)),
	    -1);
	CHECK(strstr(err, "t.keys:1: not base64") != NULL);
	/* only the bytes given are read: the key's last character cut off */
	CHECK_EQ(tls_keys_parse(KEY_0_79, TLS_KEY_LINE - 1, "t.keys", &keys, err, sizeof(err)), -1);
}

TEST(tls_keys_read_a_file)
{
	char dir[] = "/tmp/tristack-unit-keys-XXXXXX";
	CHECK(mkdtemp(dir) != NULL);
	char path[128];
	snprintf(path, sizeof(path), "%s/tls-ticket.keys", dir);
	struct tls_ticket_keys keys;
	struct stat st;
	char err[512] = "";
	CHECK_EQ(tls_keys_read(path, &keys, &st, err, sizeof(err)), -1);
	CHECK(strstr(err, "No such file") != NULL && strstr(err, path) != NULL);
	char *text = file_of(3, "\n");
	FILE *f = fopen(path, "w");
	CHECK(f != NULL);
	if (f) {
		fputs(text, f);
		fclose(f);
	}
	CHECK_EQ(tls_keys_read(path, &keys, &st, err, sizeof(err)), 0);
	CHECK_EQ(keys.n, 3);
	CHECK_EQ(keys.enc, 1);
	CHECK_EQ(st.st_size, (long long)strlen(text));
	CHECK_EQ(tls_keys_read(dir, &keys, NULL, err, sizeof(err)), -1);
	CHECK(strstr(err, "not a regular file") != NULL);
	free(text);
	unlink(path);
	rmdir(dir);
}

TEST(tls_keys_random_keys_differ)
{
	struct tls_ticket_key a, b;
	CHECK_EQ(tls_keys_random(&a), 0);
	CHECK_EQ(tls_keys_random(&b), 0);
	CHECK(memcmp(&a, &b, sizeof(a)) != 0);
	char la[TLS_KEY_LINE + 1];
	tls_keys_line(&a, la);
	struct tls_ticket_keys keys;
	char err[256] = "";
	CHECK_EQ(parse(la, &keys, err, sizeof(err)), 0);
	CHECK(memcmp(&keys.keys[0], &a, sizeof(a)) == 0);
}
