/* fuzz_httpd_session.c - libFuzzer target for the HTTP server session
 * (httpd.c) as a state machine: real sockets, the real loop, a script of
 * client bytes, segments, closes, resets and clock steps (tests/fuzz/sm.h).
 *
 * Input: one configuration byte, then ops. Configuration: bit 0 buffered
 * bodies, bits 1-2 the buffer size, bit 3 keepalive_requests 3, bits 4-5
 * max_body_size, bit 6 extra headers. Ops (low nibble; the high one is the
 * argument): those of sm_common_op, then 10 the pending async handler
 * answers.
 *
 * The handler answers according to the request's target: at once, later
 * (async, the script says when), a file, a body in pieces, an error page,
 * no length (the close ends it), no body (204, 304), a handler failure.
 *
 * Invariants, beyond ASan / UBSan / LSan: the handler is called for exactly
 * the requests the client sent, in order (method, target, and in buffered
 * mode the body), as the strict parser reads the client's bytes; what the
 * client gets parses as one response per request at most, nothing after a
 * Connection: close; every session ends within bounded time whatever the
 * client does; nothing is left open or allocated at the end.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "sm.h"

static struct httpd_session *pending; /* an async handler's session */
static struct sm_world *world;

static void pending_abort(struct httpd_session *s)
{
	REQUIRE(s == pending);
	pending = NULL;
}

static const struct httpd_stream_ops async_ops = { .abort = pending_abort };

static int piece_next(struct httpd_session *s, void *arg)
{
	int *left = arg;
	if (*left == 0)
		return 0;
	(*left)--;
	httpd_body(s, "piece", 5);
	return 1;
}

static void piece_done(void *arg)
{
	free(arg);
}

static int file_body(struct httpd_session *s)
{
	int fd = memfd_create("body", MFD_CLOEXEC);
	REQUIRE(fd >= 0);
	static const char text[] = "a file's body, sent with sendfile\n";
	REQUIRE(write(fd, text, sizeof(text) - 1) == (ssize_t)sizeof(text) - 1);
	if (httpd_head_begin(s, 200) < 0 || httpd_head_end(s, sizeof(text) - 1) < 0) {
		close(fd);
		return TS_ERROR;
	}
	if (s->req->method == HTTP_HEAD)
		close(fd);
	else
		httpd_body_file(s, fd, 0, sizeof(text) - 1);
	return TS_OK;
}

static int handler(struct httpd_session *s)
{
	struct sm_seen *seen = sm_seen_add(world, s);
	if (seen && s->srv->buffer_body) {
		seen->has_body = true;
		sm_bytes_add(&seen->body, s->req->body, s->req->body_len);
	}
	unsigned h = 0;
	for (size_t i = 0; i < s->req->raw_target.len; i++)
		h = h * 31 + (unsigned char)s->req->raw_target.p[i];
	switch (h % 10) {
	case 0:
		return httpd_respond(s, 200, "text/plain", "hello\n", 6) < 0 ? TS_ERROR : TS_OK;
	case 1:
		if (pending)
			return httpd_error(s, 503, false) < 0 ? TS_ERROR : TS_OK;
		pending = s;
		s->stream_ops = &async_ops;
		return TS_AGAIN;
	case 2:
		return file_body(s);
	case 3: {
		int *left = malloc(sizeof(*left));
		REQUIRE(left != NULL);
		*left = 3;
		if (httpd_head_begin(s, 200) < 0 || httpd_head_end(s, 15) < 0) {
			free(left);
			return TS_ERROR;
		}
		if (s->req->method == HTTP_HEAD) {
			free(left);
			return TS_OK;
		}
		httpd_body_pieces(s, piece_next, piece_done, left);
		return TS_OK;
	}
	case 4:
		return httpd_error(s, 404, false) < 0 ? TS_ERROR : TS_OK;
	case 5:
		return httpd_error(s, 400, true) < 0 ? TS_ERROR : TS_OK;
	case 6:
		if (httpd_head_begin(s, 200) < 0 || httpd_head_end(s, HTTPD_LENGTH_UNKNOWN) < 0)
			return TS_ERROR;
		return httpd_body(s, "until the close\n", 16) < 0 ? TS_ERROR : TS_OK;
	case 7:
		if (httpd_head_begin(s, h & 16 ? 204 : 304) < 0 ||
		    httpd_head_end(s, HTTPD_LENGTH_NONE) < 0)
			return TS_ERROR;
		return TS_OK;
	case 8:
		return TS_ERROR;
	default: {
		/* a body larger than a buffer */
		static char big[40000];
		if (big[0] == 0)
			memset(big, 'b', sizeof(big));
		size_t n = 1000 + (h % 32) * 1200;
		return httpd_respond(s, 200, NULL, big, n) < 0 ? TS_ERROR : TS_OK;
	}
	}
}

static void resume(void)
{
	struct httpd_session *s = pending;
	if (s == NULL)
		return;
	pending = NULL;
	if (httpd_respond(s, 200, "text/plain", "later\n", 6) < 0)
		httpd_error(s, 500, true);
	httpd_session_resume(s);
}

static void own_op(uint8_t op)
{
	if ((op & 0x0f) == 10)
		resume();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_input sc = { data, size };
	uint8_t cfg = fuzz_byte(&sc);
	static struct sm_world wd;
	world = &wd;
	pending = NULL;
	sm_world_init(&wd, cfg >> 1, cfg & 8, cfg >> 4);
	sm_world_start(&wd, handler, false);
	if (cfg & 1)
		httpd_server_buffer_bodies(&wd.srv);
	if (cfg & 64)
		wd.srv.extra_headers = "X-Served-By: fuzz\r\n";
	sm_run(&wd, &sc, own_op);
	/* The async handler answers in the end, if its client is still there. */
	resume();
	sm_finish(&wd, NULL);
	REQUIRE(pending == NULL);
	sm_world_free(&wd);
	return 0;
}
