/* gzip.c - compressing a response body in memory (zlib, gzip wrapper). */
#include <stdlib.h>
#include <zlib.h>

#include "web.h"

int web_gzip(const void *in, size_t n, int level, char **out, size_t *outlen)
{
	z_stream z = { 0 };
	/* 15 window bits + 16: a gzip header and trailer, not raw zlib */
	if (deflateInit2(&z, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
		return -1;
	size_t cap = deflateBound(&z, (uLong)n);
	char *buf = xmalloc(cap);
	z.next_in = (Bytef *)(uintptr_t)in;
	z.avail_in = (uInt)n;
	z.next_out = (Bytef *)buf;
	z.avail_out = (uInt)cap;
	int r = deflate(&z, Z_FINISH);
	deflateEnd(&z);
	if (r != Z_STREAM_END) {
		free(buf);
		return -1;
	}
	*out = buf;
	*outlen = cap - z.avail_out;
	return 0;
}
