/* Buffers and their block pool: append / consume / compact, the rewind of an
 * emptied buffer, formatted and numeric appends, appends that do not fit, and
 * the pool's in_use gauge. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "core/buf.h"
#include "t.h"

/* The buffer's readable bytes equal the C string s. */
static int buf_is(const struct buf *b, const char *s)
{
	return buf_len(b) == strlen(s) && memcmp(buf_rptr(b), s, buf_len(b)) == 0;
}

TEST(buf_append_consume)
{
	struct buf_pool pool;
	buf_pool_init(&pool, 64);
	struct buf b = { 0 };
	buf_attach(&pool, &b);
	CHECK(b.data != NULL);
	CHECK_EQ(b.size, 64);
	CHECK(buf_empty(&b));
	CHECK_EQ(buf_room(&b), 64);

	CHECK_EQ(buf_append_lit(&b, "hello "), 0);
	CHECK_EQ(buf_append(&b, "world", 5), 0);
	CHECK(buf_is(&b, "hello world"));
	CHECK_EQ(buf_room(&b), 64 - 11);

	buf_consume(&b, 6);
	CHECK(buf_is(&b, "world"));
	CHECK_EQ(b.head, 6);
	CHECK_EQ(b.tail, 11);

	/* Bytes written straight into the tail, then declared. */
	memcpy(buf_wptr(&b), "!!", 2);
	buf_produced(&b, 2);
	CHECK(buf_is(&b, "world!!"));

	buf_release(&pool, &b);
	buf_pool_destroy(&pool);
}

TEST(buf_consume_all_rewinds)
{
	struct buf_pool pool;
	buf_pool_init(&pool, 32);
	struct buf b = { 0 };
	buf_attach(&pool, &b);
	CHECK_EQ(buf_append_lit(&b, "0123456789"), 0);
	buf_consume(&b, 4);
	CHECK_EQ(b.head, 4);
	buf_consume(&b, 6);
	/* Emptied: back to offset 0, the whole block is room again. */
	CHECK(buf_empty(&b));
	CHECK_EQ(b.head, 0);
	CHECK_EQ(b.tail, 0);
	CHECK_EQ(buf_room(&b), 32);
	buf_release(&pool, &b);
	buf_pool_destroy(&pool);
}

TEST(buf_compact_moves_to_front)
{
	struct buf_pool pool;
	buf_pool_init(&pool, 32);
	struct buf b = { 0 };
	buf_attach(&pool, &b);

	/* Nothing consumed: compact is a no-op. */
	CHECK_EQ(buf_append_lit(&b, "abcdefghij"), 0);
	buf_compact(&b);
	CHECK_EQ(b.head, 0);
	CHECK(buf_is(&b, "abcdefghij"));

	buf_consume(&b, 4);
	buf_compact(&b);
	CHECK_EQ(b.head, 0);
	CHECK_EQ(b.tail, 6);
	CHECK(buf_is(&b, "efghij"));
	CHECK_EQ(buf_room(&b), 32 - 6);
	buf_release(&pool, &b);
	buf_pool_destroy(&pool);
}

TEST(buf_append_compacts_when_needed)
{
	struct buf_pool pool;
	buf_pool_init(&pool, 16);
	struct buf b = { 0 };
	buf_attach(&pool, &b);
	CHECK_EQ(buf_append_lit(&b, "0123456789AB"), 0);
	buf_consume(&b, 8);
	CHECK_EQ(buf_room(&b), 4);
	/* 8 bytes do not fit at the tail, but do once the 4 left move to the front. */
	CHECK_EQ(buf_append_lit(&b, "cdefghij"), 0);
	CHECK_EQ(b.head, 0);
	CHECK(buf_is(&b, "89ABcdefghij"));
	/* Exactly full is fine. */
	CHECK_EQ(buf_append_lit(&b, "klmn"), 0);
	CHECK_EQ(buf_room(&b), 0);
	CHECK(buf_is(&b, "89ABcdefghijklmn"));
	buf_release(&pool, &b);
	buf_pool_destroy(&pool);
}

TEST(buf_append_too_big_writes_nothing)
{
	struct buf_pool pool;
	buf_pool_init(&pool, 16);
	struct buf b = { 0 };
	buf_attach(&pool, &b);
	CHECK_EQ(buf_append_lit(&b, "0123456789"), 0);
	buf_consume(&b, 6);
	/* 4 bytes held, 12 of room once compacted: 13 cannot fit. */
	CHECK_EQ(buf_append_lit(&b, "ABCDEFGHIJKLM"), -1);
	CHECK(buf_is(&b, "6789"));
	CHECK_EQ(buf_append_lit(&b, "ABCDEFGHIJKL"), 0);
	CHECK(buf_is(&b, "6789ABCDEFGHIJKL"));
	/* Full: even one byte is refused, the content stays. */
	CHECK_EQ(buf_append(&b, "x", 1), -1);
	CHECK(buf_is(&b, "6789ABCDEFGHIJKL"));
	buf_release(&pool, &b);
	buf_pool_destroy(&pool);
}

TEST(buf_appendf_formats)
{
	struct buf_pool pool;
	buf_pool_init(&pool, 32);
	struct buf b = { 0 };
	buf_attach(&pool, &b);
	CHECK_EQ(buf_appendf(&b, "%s=%d;", "a", 42), 0);
	CHECK_EQ(buf_appendf(&b, "%05u", 7u), 0);
	CHECK(buf_is(&b, "a=42;00007"));

	/* Too long even for an empty block: -1 and the content is unchanged. */
	CHECK_EQ(buf_appendf(&b, "%s", "0123456789012345678901234567890123456789"), -1);
	CHECK(buf_is(&b, "a=42;00007"));

	/* Fits only once the consumed front is reclaimed. */
	buf_consume(&b, 5);
	CHECK_EQ(buf_room(&b), 22);
	CHECK_EQ(buf_appendf(&b, "%s", "abcdefghijklmnopqrstuvwx"), 0);
	CHECK_EQ(b.head, 0);
	CHECK(buf_is(&b, "00007abcdefghijklmnopqrstuvwx"));
	buf_release(&pool, &b);
	buf_pool_destroy(&pool);
}

TEST(buf_append_u64_values)
{
	static const struct {
		uint64_t v;
		const char *want;
	} rows[] = {
		{ 0, "0" },
		{ 7, "7" },
		{ 10, "10" },
		{ 1234567890, "1234567890" },
		{ UINT64_MAX, "18446744073709551615" },
	};
	struct buf_pool pool;
	buf_pool_init(&pool, 64);
	for (size_t i = 0; i < ARRAY_SIZE(rows); i++) {
		t_case("buf_append_u64 %s", rows[i].want);
		struct buf b = { 0 };
		buf_attach(&pool, &b);
		CHECK_EQ(buf_append_lit(&b, "n="), 0);
		CHECK_EQ(buf_append_u64(&b, rows[i].v), 0);
		char want[32];
		snprintf(want, sizeof(want), "n=%s", rows[i].want);
		CHECK(buf_is(&b, want));
		buf_release(&pool, &b);
	}
	buf_pool_destroy(&pool);
}

TEST(buf_append_u64_no_room)
{
	struct buf_pool pool;
	buf_pool_init(&pool, 20);
	struct buf b = { 0 };
	buf_attach(&pool, &b);
	CHECK_EQ(buf_append_lit(&b, "x"), 0);
	/* 20 digits after one byte in a 20-byte block: refused, nothing written. */
	CHECK_EQ(buf_append_u64(&b, UINT64_MAX), -1);
	CHECK(buf_is(&b, "x"));
	CHECK_EQ(buf_append_u64(&b, 1234567890123456789u), 0); /* 19 digits */
	CHECK(buf_is(&b, "x1234567890123456789"));
	buf_release(&pool, &b);
	buf_pool_destroy(&pool);
}

TEST(buf_pool_in_use_accounting)
{
	struct buf_pool pool;
	buf_pool_init(&pool, 128);
	CHECK_EQ(pool.in_use, 0);
	struct buf a = { 0 }, b = { 0 };

	buf_attach(&pool, &a);
	buf_attach(&pool, &b);
	CHECK_EQ(pool.in_use, 2);
	/* Attaching to a buffer that has a block keeps it and its bytes. */
	CHECK_EQ(buf_append_lit(&a, "keep"), 0);
	char *block = a.data;
	buf_attach(&pool, &a);
	CHECK(a.data == block);
	CHECK(buf_is(&a, "keep"));
	CHECK_EQ(pool.in_use, 2);

	/* release_if_empty keeps a block holding bytes, gives back an empty one. */
	CHECK(!buf_release_if_empty(&pool, &a));
	CHECK(a.data == block);
	CHECK_EQ(pool.in_use, 2);
	CHECK(buf_release_if_empty(&pool, &b));
	CHECK(b.data == NULL);
	CHECK_EQ(b.size, 0);
	CHECK_EQ(pool.in_use, 1);
	/* A buffer without a block counts as released, and changes nothing. */
	CHECK(buf_release_if_empty(&pool, &b));
	CHECK_EQ(pool.in_use, 1);

	/* buf_release gives the block back whatever it holds. */
	buf_release(&pool, &a);
	CHECK(a.data == NULL);
	CHECK_EQ(buf_len(&a), 0);
	CHECK_EQ(pool.in_use, 0);
	buf_release(&pool, &a); /* idempotent */
	CHECK_EQ(pool.in_use, 0);

	/* A block comes back rewound. */
	buf_attach(&pool, &a);
	CHECK(buf_empty(&a));
	CHECK_EQ(buf_room(&a), 128);
	CHECK_EQ(pool.in_use, 1);
#ifndef TS_PLAIN_MALLOC
	/* The pool keeps released blocks and hands them out again. */
	CHECK_EQ(pool.nfree, 1);
	buf_attach(&pool, &b);
	CHECK_EQ(pool.nfree, 0);
	CHECK_EQ(pool.in_use, 2);
	buf_release(&pool, &b);
#else
	/* The sanitizer build keeps nothing: every block is its own malloc. */
	CHECK_EQ(pool.nfree, 0);
#endif
	buf_release(&pool, &a);
	CHECK_EQ(pool.in_use, 0);
	buf_pool_destroy(&pool);
	CHECK_EQ(pool.nfree, 0);
}

/* An empty view may carry no pointer at all (a request that named no Host):
 * appending it is appending nothing, never a memcpy from NULL (UBSan). */
TEST(buf_append_nothing_from_null)
{
	struct buf_pool pool;
	buf_pool_init(&pool, 64);
	struct buf b = { 0 };
	buf_attach(&pool, &b);
	CHECK_EQ(buf_append_lit(&b, "Host: "), 0);
	CHECK_EQ(buf_append(&b, NULL, 0), 0);
	CHECK(buf_is(&b, "Host: "));
	buf_release(&pool, &b);
	buf_pool_destroy(&pool);
}
