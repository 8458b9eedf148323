/* sm.h - the harness of the state-machine fuzz targets (fuzz_httpd_session,
 * fuzz_proxy_session): a real http_server on a real loop, driven through
 * real Unix sockets by a script that the fuzzer writes.
 *
 * A world is made per input: loop, worker, buffer pool, metrics, a server
 * listening on a Unix socket, and (for the proxy) a Unix listener standing
 * for the backends. The script's ops connect clients, send them bytes in
 * segments of the fuzzer's choosing, answer from the backends, close or
 * reset either side, and move the loop's clock (loop_advance) so timeouts
 * fire. After each op the loop turns (loop_run_once, never blocking) until
 * nothing moves, the harness reading everything that arrives on its side.
 *
 * What each side received is kept, and checked by the targets with
 * tristack's own strict parser (http.c). A violation is __builtin_trap().
 */
#ifndef TS_FUZZ_SM_H
#define TS_FUZZ_SM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/daemon.h"
#include "core/httpd.h"

#define SM_REQUIRE(c)                                                                              \
	do {                                                                                       \
		if (!(c))                                                                          \
			__builtin_trap();                                                          \
	} while (0)

#define SM_MAX_CLIENTS  4 /* per input, at most 2 open at once */
#define SM_MAX_BACKENDS 16
#define SM_MAX_REQS     64

/* A growing byte string. */
struct sm_bytes {
	char *p;
	size_t len, cap;
};

/* A request as the harness's handler saw it: what the server accepted. */
struct sm_seen {
	/* the first bytes of each, and each one's whole length */
	struct sm_text {
		char p[256];
		size_t len;
	} method, target, path;
	bool head;     /* a HEAD request: its response has no body */
	bool has_body; /* buffered mode: body is what the handler got */
	struct sm_bytes body;
};

struct sm_client {
	int fd;                 /* -1: closed by the harness, or never opened */
	bool eof;               /* the server's side closed */
	bool write_shut;        /* SHUT_WR sent */
	bool accepted;          /* the server has taken the connection */
	struct http_session *s; /* while the server's session lives */
	struct sm_bytes sent, got;
	struct sm_seen seen[SM_MAX_REQS];
	unsigned nseen;
};

struct sm_backend {
	int fd;
	bool eof;
	struct sm_bytes got, sent;
};

struct sm_world {
	struct loop *loop;
	struct daemon d;
	struct worker w;
	struct http_server srv;
	struct http_conf conf;
	struct addr front, back;
	int back_fd; /* the backends' listener, -1 while down */
	struct sm_client clients[SM_MAX_CLIENTS];
	unsigned nclients;
	struct sm_backend backends[SM_MAX_BACKENDS];
	unsigned nbackends;
	bool with_backends;
};

/* The script: bytes read one at a time, 0 once they run out. */
struct sm_script {
	const uint8_t *p;
	size_t n;
};

static inline bool sm_more(const struct sm_script *sc)
{
	return sc->n > 0;
}
static inline uint8_t sm_byte(struct sm_script *sc)
{
	if (sc->n == 0)
		return 0;
	sc->n--;
	return *sc->p++;
}

void sm_bytes_add(struct sm_bytes *b, const void *p, size_t n);
void sm_bytes_free(struct sm_bytes *b);

/* Make the world. size 0-3 picks the buffer size (1k, 4k, 16k, 2k; heads
 * up to half of it), body 0-3 max_body_size (none, 16, 1000, 100000),
 * keepalive_limit keepalive_requests 3; timeouts: client 30 s, request
 * head 5 s, keep-alive 2.5 s. The target may change wd->conf and define
 * its metrics, then starts it: the server (srv->data is wd) and,
 * with_backends, their listener. */
void sm_world_init(struct sm_world *wd, unsigned size, bool keepalive_limit, unsigned body);
void sm_world_start(struct sm_world *wd, http_handler_fn handler, bool with_backends);
/* Turn the loop until nothing moves (bounded: a livelock traps). */
void sm_settle(struct sm_world *wd);
/* The common ops; each settles the loop afterwards. */
void sm_client_connect(struct sm_world *wd);
void sm_client_send(struct sm_world *wd, unsigned c, const uint8_t *p, size_t n);
void sm_client_shut(struct sm_world *wd, unsigned c);
void sm_client_close(struct sm_world *wd, unsigned c, bool reset);
void sm_backend_send(struct sm_world *wd, unsigned b, const uint8_t *p, size_t n);
void sm_backend_close(struct sm_world *wd, unsigned b, bool reset);
void sm_backends_listen(struct sm_world *wd, bool up);
void sm_advance(struct sm_world *wd, uint64_t ms);
/* One op of the script that every target shares (low nibble; the high one
 * is its argument): 0-1 a client sends a segment (a length byte, 0 for 256,
 * then the bytes), 2 it shuts its write side, 3 it closes (or resets), 4
 * the clock moves, 5 a client connects, 6-7 a backend sends a segment, 8
 * it closes (or resets), 9 the backends' listener goes down or up, 11 the
 * server stops gracefully. False when op is none of them. */
bool sm_common_op(struct sm_world *wd, uint8_t op, struct sm_script *sc);
/* The whole script: a client connects, then each op, common or the
 * target's own (own_op, after which the loop settles). */
void sm_run(struct sm_world *wd, struct sm_script *sc, void (*own_op)(uint8_t op));
/* The end: time passes until every session has closed and quiet(wd) holds
 * (trapping if they do not), then the checks of what the clients got. */
void sm_finish(struct sm_world *wd, bool (*quiet)(struct sm_world *wd));
void sm_world_free(struct sm_world *wd);

/* The client that a session serves (by accept order), or NULL. */
struct sm_client *sm_client_of(struct sm_world *wd, const struct http_session *s);
/* Record the request s is handling for its client; returns the record. */
struct sm_seen *sm_seen_add(struct sm_world *wd, struct http_session *s);

/* ---- checks with the strict parser ---- */

/* Is v the text recorded in t (as far as t holds it)? */
bool sm_text_is(const struct sm_text *t, struct str v);

/* A request parsed back from bytes. */
struct sm_req {
	enum http_method method;
	struct str method_name, target, path;
	struct sm_bytes body;
	bool body_whole;
	size_t end; /* offset just past it */
};

/* Parse a stream of requests with lim: complete ones into out (at most
 * max), stopping at the first incomplete one. Returns the count, and sets
 * *bad when the stream holds bytes that are no request. */
unsigned sm_parse_requests(const struct sm_bytes *b, const struct http_limits *lim,
                           struct sm_req *out, unsigned max, bool *bad);
void sm_reqs_free(struct sm_req *r, unsigned n);

/* What a client got must be well-formed responses, at most one per
 * request it sent (an error for the request it could not send whole
 * aside), nothing after one that says Connection: close, a truncated one
 * only at the very end. */
void sm_check_responses(const struct sm_world *wd, const struct sm_client *c);
/* What the server accepted from a client is exactly, in order, the first
 * requests the client sent (as the strict parser reads them). */
void sm_check_seen(const struct sm_world *wd, const struct sm_client *c);

#endif
