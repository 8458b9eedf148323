/* buf.h - byte buffers and a per-thread pool of their memory.
 *
 * A buffer is data[head, tail) inside a block of size bytes. Blocks come from
 * a per-thread pool of one fixed size and go back as soon as the buffer is
 * empty, so an idle keep-alive connection holds no buffer memory at all
 * (that is how nginx gets to half a kilobyte per idle connection).
 *
 * Built with TS_PLAIN_MALLOC (the sanitizer build), the pool keeps nothing:
 * every block is its own malloc/free so ASan and valgrind see each one.
 */
#ifndef TS_BUF_H
#define TS_BUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "common.h"

struct buf {
	char *data; /* NULL until a block is attached */
	uint32_t size;
	uint32_t head, tail;
};

struct buf_pool {
	uint32_t block_size;
	uint32_t nfree, capfree;
	char **free;
	size_t in_use; /* blocks handed out (gauge) */
};

void buf_pool_init(struct buf_pool *pool, uint32_t block_size);
void buf_pool_destroy(struct buf_pool *pool);

/* Attach a block if b has none. Returns 0 (cannot fail but for ENOMEM abort). */
void buf_attach(struct buf_pool *pool, struct buf *b);
/* Give the block back if b holds no bytes; returns true when released. */
bool buf_release_if_empty(struct buf_pool *pool, struct buf *b);
/* Give the block back whatever it holds. */
void buf_release(struct buf_pool *pool, struct buf *b);

static inline size_t buf_len(const struct buf *b)
{
	return b->tail - b->head;
}

static inline bool buf_empty(const struct buf *b)
{
	return b->tail == b->head;
}

/* Bytes that can be appended at the tail without compacting. */
static inline size_t buf_room(const struct buf *b)
{
	return b->size - b->tail;
}

static inline char *buf_rptr(const struct buf *b)
{
	return b->data + b->head;
}

static inline char *buf_wptr(const struct buf *b)
{
	return b->data + b->tail;
}

/* Drop n bytes from the front; an emptied buffer rewinds to offset 0. */
static inline void buf_consume(struct buf *b, size_t n)
{
	b->head += (uint32_t)n;
	if (b->head == b->tail)
		b->head = b->tail = 0;
}

static inline void buf_produced(struct buf *b, size_t n)
{
	b->tail += (uint32_t)n;
}

/* Move the content to the front of the block (to make room at the tail). */
void buf_compact(struct buf *b);

/* Append bytes; returns 0, or -1 (nothing written) when they do not fit. */
int buf_append(struct buf *b, const void *p, size_t n);
int buf_appendf(struct buf *b, const char *fmt, ...) TS_PRINTF(2, 3);

/* Append a decimal number; returns 0 or -1 when it does not fit. */
int buf_append_u64(struct buf *b, uint64_t v);

#define buf_append_lit(b, s) buf_append((b), (s), sizeof(s) - 1)

#endif
