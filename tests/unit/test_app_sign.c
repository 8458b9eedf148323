/* The app's signed values (app/sign.h): the key file is made once, 0600, and
 * read back the same; MACs are HMAC-SHA256 over label NUL value in base64url
 * (checked against Python's hmac); a MAC is accepted only for its own label
 * and value, whole and unaltered. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "app/sign.h"
#include "t.h"

#define KEY_TEXT "0123456789abcdef0123456789abcdef"

static struct str S(const char *s) {
	return (struct str){ s, strlen(s) };
}

static void
with_key(struct sign *sg)
{
	struct sign_key key = { .len = strlen(KEY_TEXT) };
	memcpy(key.k, KEY_TEXT, key.len);
	CHECK_EQ(sign_init(sg, &key), 0);
}

TEST(sign_mac_is_hmac_sha256_of_label_and_value)
{
	struct sign sg;
	with_key(&sg);
	char mac[SIGN_MAC_CHARS + 1];
	/* python3: base64.urlsafe_b64encode(hmac.new(KEY, b"gtid\0" + b"0-1-5",
	 * hashlib.sha256).digest()).rstrip(b"=") */
	t_case("gtid");
	CHECK(sign_mac(&sg, "gtid", S("0-1-5"), mac));
	CHECK_STR(mac, "yxJhPD6MOTYTZYWDr5MgmY6QGoEGlvL07aT_49iIYQI");
	t_case("csrf, the same context again");
	CHECK(sign_mac(&sg, "csrf", S("AAAAAAAAAAAAAAAAAAAAAA"), mac));
	CHECK_STR(mac, "KlkwybLbozY8n-GVreAM-D-H3_2Ikp3gqIrAxMUhi3A");
	sign_free(&sg);
}

TEST(sign_check_takes_only_the_exact_mac)
{
	struct sign sg;
	with_key(&sg);
	const char *good = "yxJhPD6MOTYTZYWDr5MgmY6QGoEGlvL07aT_49iIYQI";
	t_case("right");
	CHECK(sign_check(&sg, "gtid", S("0-1-5"), S(good)));
	t_case("another value, label or key");
	CHECK(!sign_check(&sg, "gtid", S("0-1-6"), S(good)));
	CHECK(!sign_check(&sg, "csrf", S("0-1-5"), S(good)));
	t_case("one character changed, anywhere");
	char bad[SIGN_MAC_CHARS + 1];
	for (size_t i = 0; i < SIGN_MAC_CHARS; i++) {
		memcpy(bad, good, sizeof(bad));
		bad[i] = bad[i] == 'A' ? 'B' : 'A';
		CHECK(!sign_check(&sg, "gtid", S("0-1-5"), S(bad)));
	}
	t_case("cut short, longer, empty");
	CHECK(!sign_check(&sg, "gtid", S("0-1-5"), (struct str){ good, SIGN_MAC_CHARS - 1 }));
	char longer[64];
	snprintf(longer, sizeof(longer), "%sA", good);
	CHECK(!sign_check(&sg, "gtid", S("0-1-5"), S(longer)));
	CHECK(!sign_check(&sg, "gtid", S("0-1-5"), (struct str){ NULL, 0 }));
	sign_free(&sg);
	t_case("no context: nothing checks");
	CHECK(!sign_check(&sg, "gtid", S("0-1-5"), S(good)));
}

TEST(sign_nonce_is_random_base64url)
{
	char a[SIGN_NONCE_CHARS + 1], b[SIGN_NONCE_CHARS + 1];
	CHECK(sign_nonce(a) && sign_nonce(b));
	CHECK_EQ(strlen(a), SIGN_NONCE_CHARS);
	CHECK_EQ(strspn(a, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"),
	         SIGN_NONCE_CHARS);
	CHECK(strcmp(a, b) != 0);
}

TEST(sign_key_load_makes_the_key_once_0600)
{
	char dir[] = "/tmp/ts-sign-XXXXXX", path[128], err[256];
	CHECK(mkdtemp(dir) != NULL);
	snprintf(path, sizeof(path), "%s/secrets/cookie.key", dir);
	struct sign_key k1, k2;
	t_case("made where there is none (and its folder)");
	CHECK_EQ(sign_key_load(&k1, path, err, sizeof(err)), 0);
	struct stat st;
	CHECK(stat(path, &st) == 0 && (st.st_mode & 0777) == 0600 && st.st_size == 65);
	CHECK_EQ(k1.len, 64);
	CHECK_EQ(strspn((const char *)k1.k, "0123456789abcdef"), 64);
	t_case("read back the same");
	CHECK_EQ(sign_key_load(&k2, path, err, sizeof(err)), 0);
	CHECK(k2.len == k1.len && memcmp(k1.k, k2.k, k1.len) == 0);
	t_case("a short key is refused");
	FILE *f = fopen(path, "w");
	fputs("short\n", f);
	fclose(f);
	CHECK_EQ(sign_key_load(&k2, path, err, sizeof(err)), -1);
	CHECK(strstr(err, "must be one line") != NULL);
	unlink(path);
	snprintf(path, sizeof(path), "%s/secrets", dir);
	rmdir(path);
	rmdir(dir);
}
