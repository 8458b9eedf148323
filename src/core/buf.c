/* buf.c - buffers and the block pool. See buf.h. */
#include "buf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

void buf_pool_init(struct buf_pool *pool, uint32_t block_size)
{
	memset(pool, 0, sizeof(*pool));
	pool->block_size = block_size;
}

void buf_pool_destroy(struct buf_pool *pool)
{
	for (uint32_t i = 0; i < pool->nfree; i++)
		free(pool->free[i]);
	free(pool->free);
	memset(pool, 0, sizeof(*pool));
}

void buf_attach(struct buf_pool *pool, struct buf *b)
{
	if (b->data)
		return;
#ifndef TS_PLAIN_MALLOC
	if (pool->nfree > 0)
		b->data = pool->free[--pool->nfree];
	else
#endif
		b->data = xmalloc(pool->block_size);
	b->size = pool->block_size;
	b->head = b->tail = 0;
	pool->in_use++;
}

void buf_release(struct buf_pool *pool, struct buf *b)
{
	if (b->data == NULL)
		return;
#ifndef TS_PLAIN_MALLOC
	/* Keep a bounded stock: enough for a burst, not a leak after one. */
	if (pool->nfree < 4096) {
		if (pool->nfree == pool->capfree) {
			pool->capfree = pool->capfree ? pool->capfree * 2 : 64;
			pool->free = xrealloc(pool->free, pool->capfree * sizeof(*pool->free));
		}
		pool->free[pool->nfree++] = b->data;
	} else
#endif
		free(b->data);
	b->data = NULL;
	b->size = b->head = b->tail = 0;
	pool->in_use--;
}

bool buf_release_if_empty(struct buf_pool *pool, struct buf *b)
{
	if (b->data == NULL)
		return true;
	if (!buf_empty(b))
		return false;
	buf_release(pool, b);
	return true;
}

void buf_compact(struct buf *b)
{
	if (b->head == 0)
		return;
	size_t n = buf_len(b);
	memmove(b->data, b->data + b->head, n);
	b->head = 0;
	b->tail = (uint32_t)n;
}

int buf_append(struct buf *b, const void *p, size_t n)
{
	if (n == 0)
		return 0; /* an empty view may have no pointer (an unnamed Host) */
	if (buf_room(b) < n) {
		buf_compact(b);
		if (buf_room(b) < n)
			return -1;
	}
	memcpy(b->data + b->tail, p, n);
	b->tail += (uint32_t)n;
	return 0;
}

int buf_appendf(struct buf *b, const char *fmt, ...)
{
	for (int pass = 0; pass < 2; pass++) {
		va_list ap;
		va_start(ap, fmt);
		int n = vsnprintf(b->data + b->tail, buf_room(b), fmt, ap);
		va_end(ap);
		if (n < 0)
			return -1;
		if ((size_t)n < buf_room(b)) {
			b->tail += (uint32_t)n;
			return 0;
		}
		if (b->head == 0)
			return -1;
		buf_compact(b);
	}
	return -1;
}

int buf_append_u64(struct buf *b, uint64_t v)
{
	char tmp[20];
	int i = sizeof(tmp);
	do {
		tmp[--i] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	return buf_append(b, tmp + i, sizeof(tmp) - (size_t)i);
}
