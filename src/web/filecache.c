/* filecache.c - the open files of a worker, kept between requests (nginx's
 * open_file_cache).
 *
 * A hit costs no system call: the entry holds the file's stat, its ETag and
 * Last-Modified already formatted, and for a small file its whole content
 * (the response then goes out in one write), for a larger one an open fd
 * that sendfile reads (and fstat checks on each use, since a file can be
 * rewritten in place). An entry is trusted for `valid` ms; after that the
 * next request opens the path again beneath the root (so a file that has
 * changed, or a symlink that now leads out, is seen) and keeps the entry
 * only if it is the same file unchanged. Responses still sending from an
 * entry's fd hold a reference: an entry replaced or evicted meanwhile is
 * freed when the last one ends. One worker's cache is used by that worker's
 * thread only: no locks.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "web.h"

#define FC_INLINE_MAX (8u << 10) /* files up to this are held in memory */

struct fc_entry {
	uint64_t hash;
	char *rel;
	struct web_file f; /* fd (-1 when inline), stat, etag, lastmod, data */
	uint64_t checked;  /* loop ms of the last validation */
	unsigned refs;     /* responses sending from f.fd */
	bool dead;         /* out of the table: freed at refs == 0 */
	struct fc_entry *hnext;
	struct fc_entry *lru_prev, *lru_next; /* most recent first */
};

struct web_filecache {
	struct fc_entry **tab;
	unsigned cap, n, max;
	uint64_t valid;
	struct fc_entry lru; /* sentinel */
};

static uint64_t hash_rel(const char *s)
{
	uint64_t h = 1469598103934665603ull;
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ull;
	return h;
}

struct web_filecache *web_filecache_new(unsigned max, uint64_t valid_ms)
{
	struct web_filecache *c = xcalloc(1, sizeof(*c));
	c->cap = 64;
	while (c->cap < max * 2)
		c->cap *= 2;
	c->tab = xcalloc(c->cap, sizeof(*c->tab));
	c->max = max;
	c->valid = valid_ms;
	c->lru.lru_next = c->lru.lru_prev = &c->lru;
	return c;
}

static void entry_free(struct fc_entry *e)
{
	if (e->f.fd >= 0)
		close(e->f.fd);
	free(e->f.data);
	free(e->f.gz);
	free(e->rel);
	free(e);
}

static void lru_unlink(struct fc_entry *e)
{
	e->lru_prev->lru_next = e->lru_next;
	e->lru_next->lru_prev = e->lru_prev;
}

static void lru_front(struct web_filecache *c, struct fc_entry *e)
{
	e->lru_next = c->lru.lru_next;
	e->lru_prev = &c->lru;
	c->lru.lru_next->lru_prev = e;
	c->lru.lru_next = e;
}

/* Out of the table; freed now or when its last response ends. */
static void retire(struct web_filecache *c, struct fc_entry *e)
{
	struct fc_entry **p = &c->tab[e->hash & (c->cap - 1)];
	while (*p != e)
		p = &(*p)->hnext;
	*p = e->hnext;
	lru_unlink(e);
	c->n--;
	e->dead = true;
	if (e->refs == 0)
		entry_free(e);
}

void web_filecache_free(struct web_filecache *c)
{
	if (c == NULL)
		return;
	while (c->lru.lru_next != &c->lru)
		retire(c, c->lru.lru_next);
	free(c->tab);
	free(c);
}

/* f for an open file: its stat and validators. */
static void fill(struct web_file *f, int fd, const struct stat *st)
{
	memset(f, 0, sizeof(*f));
	f->fd = fd;
	f->st = *st;
	snprintf(f->etag, sizeof(f->etag), "\"%llx-%llx\"", (unsigned long long)st->st_mtime,
	         (unsigned long long)st->st_size);
	http_date((int64_t)st->st_mtime, f->lastmod);
}

static bool same_file(const struct stat *a, const struct stat *b)
{
	return a->st_dev == b->st_dev && a->st_ino == b->st_ino && a->st_size == b->st_size &&
	       a->st_mtim.tv_sec == b->st_mtim.tv_sec && a->st_mtim.tv_nsec == b->st_mtim.tv_nsec;
}

/* An entry for a regular file just opened; takes fd. */
static struct fc_entry *insert(struct web_filecache *c, const char *rel, uint64_t h, int fd,
                               const struct stat *st, uint64_t now)
{
	if (c->n >= c->max) {
		struct fc_entry *old = c->lru.lru_prev;
		retire(c, old);
	}
	struct fc_entry *e = xcalloc(1, sizeof(*e));
	e->hash = h;
	e->rel = xstrdup(rel);
	fill(&e->f, fd, st);
	e->checked = now;
	if (st->st_size <= (off_t)FC_INLINE_MAX) {
		/* small: keep the bytes, let the fd go */
		e->f.data = xmalloc((size_t)st->st_size + 1);
		if (pread(fd, e->f.data, (size_t)st->st_size, 0) == (ssize_t)st->st_size) {
			close(fd);
			e->f.fd = -1;
		} else {
			free(e->f.data);
			e->f.data = NULL;
		}
	}
	e->hnext = c->tab[h & (c->cap - 1)];
	c->tab[h & (c->cap - 1)] = e;
	lru_front(c, e);
	c->n++;
	return e;
}

/* The cached file for rel, or -1 with errno (ENOENT, EXDEV ...) or with
 * f->fd set and f->cached NULL for something that is not a regular file (a
 * directory: the caller decides and closes). */
int web_filecache_open(struct web_filecache *c, int root_fd, const char *rel, uint64_t now,
                       struct web_file *f, int (*open_beneath)(int, const char *, int))
{
	uint64_t h = hash_rel(rel);
	struct fc_entry *e = c->tab[h & (c->cap - 1)];
	while (e && (e->hash != h || strcmp(e->rel, rel) != 0))
		e = e->hnext;
	if (e && now - e->checked < c->valid) {
		/* A file kept open may be rewritten in place: its size must be
		 * right for this response (a copy in memory is always whole). */
		struct stat now_st;
		if (e->f.fd < 0 || (fstat(e->f.fd, &now_st) == 0 && same_file(&e->f.st, &now_st)))
			goto hit;
	}
	int fd = open_beneath(root_fd, rel, 0);
	if (fd < 0) {
		if (e)
			retire(c, e); /* gone, or no longer reachable from the root */
		return -1;
	}
	struct stat st;
	if (fstat(fd, &st) < 0) {
		int err = errno;
		close(fd);
		errno = err;
		return -1;
	}
	if (!S_ISREG(st.st_mode)) {
		if (e)
			retire(c, e);
		fill(f, fd, &st);
		return 0;
	}
	if (e && same_file(&e->f.st, &st)) {
		close(fd); /* unchanged: trust it for another period */
		e->checked = now;
		goto hit;
	}
	if (e)
		retire(c, e);
	e = insert(c, rel, h, fd, &st, now);
hit:
	if (e->lru_prev != &c->lru) {
		lru_unlink(e);
		lru_front(c, e);
	}
	*f = e->f;
	f->cached = e;
	return 0;
}

void web_filecache_hold(struct fc_entry *e)
{
	e->refs++;
}

void web_filecache_release(void *arg)
{
	struct fc_entry *e = arg;
	if (--e->refs == 0 && e->dead)
		entry_free(e);
}

/* The gzipped content of a small cached text file, made once. */
int web_filecache_gzip(struct fc_entry *e, const char **out, size_t *len)
{
	if (e->f.data == NULL)
		return -1;
	if (e->f.gz == NULL &&
	    web_gzip(e->f.data, (size_t)e->f.st.st_size, 6, &e->f.gz, &e->f.gz_len) < 0)
		return -1;
	*out = e->f.gz;
	*len = e->f.gz_len;
	return 0;
}
