/* fuzz_proxy_session.c - libFuzzer target for the reverse-proxy engine
 * (proxy.c) behind the HTTP server session, both sides driven by a script:
 * real sockets, the real loop, client and backend bytes in segments of the
 * fuzzer's choosing, closes, resets, clock steps (tests/fuzz/sm.h).
 *
 * Input: two configuration bytes, then ops. Configuration: byte 0 bits 0-1
 * retries, 2-3 retry_on, 4-5 the buffer size, 6 served_by, 7 pick() starts
 * by answering "full" (requests queue); byte 1 bit 0 keepalive_requests 3,
 * bits 1-2 max_body_size. Ops (low nibble; the high one is the argument):
 * those of sm_common_op (backends answer, close, reset, stop listening),
 * then 10 pick() answers normally / "none" / "full" (and the queue is
 * woken), 12 a server is found down.
 *
 * Invariants, beyond ASan / UBSan / LSan: every session, transfer and
 * upstream connection ends within bounded time whatever the peers do, the
 * pool is empty in the end and every slot pick() reserved was released;
 * the proxy's handler sees exactly the requests the client sent, in order;
 * each backend receives a stream that the strict parser reads as requests
 * (heads and framed bodies), each one a request the client sent, its body
 * the client's (or a prefix, when the transfer was cut), each sent at most
 * retries + 1 times; what the client gets is well-formed, one response per
 * request at most, nothing after a Connection: close.
 */
#include <stdlib.h>
#include <string.h>

#include "core/proxy.h"
#include "sm.h"

enum { PICK_NORMAL, PICK_NONE, PICK_FULL };

static struct sm_world wd;
static struct proxy_conf pc;
static struct proxy_server servers[2];
static struct proxy_server *const server_list[2] = { &servers[0], &servers[1] };
static struct proxy_worker pw;
static int pick_mode;
static long slots; /* reserved by pick(), not yet released */

static int pick(struct proxy_worker *p, unsigned attempt, int avoid)
{
	(void)p;
	(void)attempt;
	if (pick_mode == PICK_NONE)
		return PROXY_PICK_NONE;
	if (pick_mode == PICK_FULL)
		return PROXY_PICK_FULL;
	slots++;
	return avoid == 0 ? 1 : 0;
}

static void release(struct proxy_worker *p, int server)
{
	(void)p;
	REQUIRE(server == 0 || server == 1);
	slots--;
	REQUIRE(slots >= 0);
}

static int handler(struct httpd_session *s)
{
	sm_seen_add(&wd, s);
	return proxy_handle(&pw, s);
}

static bool quiet(struct sm_world *w)
{
	(void)w;
	return pw.busy == 0 && pw.busy_list == NULL && pw.nidle[0] == 0 && pw.nidle[1] == 0 &&
	       pw.queue_head == NULL;
}

/* Every request a backend got is one the client sent, its body the
 * client's or a prefix of it. */
static void check_forwarded(void)
{
	static struct sm_req creqs[SM_MAX_CLIENTS][SM_MAX_REQS];
	static struct sm_req fwd[SM_MAX_REQS];
	static const struct http_limits roomy = { .max_head = 1 << 16,
		                                  .max_headers = HTTP_MAX_HEADERS };
	unsigned ncreq[SM_MAX_CLIENTS], nseen = 0, nfwd = 0;
	bool bad;
	for (unsigned c = 0; c < wd.nclients; c++) {
		ncreq[c] = sm_parse_requests(&wd.clients[c].sent, &wd.srv.limits, creqs[c],
		                             SM_MAX_REQS, &bad);
		nseen += wd.clients[c].nseen;
	}
	for (unsigned b = 0; b < wd.nbackends; b++) {
		const struct sm_bytes *got = &wd.backends[b].got;
		unsigned n = sm_parse_requests(got, &roomy, fwd, SM_MAX_REQS, &bad);
		/* Only valid requests, the last one maybe cut short. */
		REQUIRE(!bad);
		for (unsigned i = 0; i < n; i++) {
			const struct sm_req *q = &fwd[i];
			bool found = false;
			for (unsigned c = 0; c < wd.nclients && !found; c++) {
				const struct sm_client *cl = &wd.clients[c];
				for (unsigned k = 0; k < cl->nseen && k < ncreq[c] && !found; k++) {
					const struct sm_seen *s = &cl->seen[k];
					const struct sm_req *o = &creqs[c][k];
					if (!sm_text_is(&s->method, q->method_name) ||
					    !sm_text_is(&s->path, q->target))
						continue;
					if (q->body.len > o->body.len ||
					    (q->body.len &&
					     memcmp(q->body.p, o->body.p, q->body.len) != 0))
						continue;
					if (q->body_whole && o->body_whole &&
					    q->body.len != o->body.len)
						continue;
					found = true;
				}
			}
			REQUIRE(found);
		}
		nfwd += n;
		sm_reqs_free(fwd, n);
	}
	REQUIRE(nfwd <= nseen * (pc.retries + 1));
	for (unsigned c = 0; c < wd.nclients; c++)
		sm_reqs_free(creqs[c], ncreq[c]);
}

static void own_op(uint8_t op)
{
	unsigned arg = op >> 4;
	switch (op & 0x0f) {
	case 10:
		pick_mode = (int)(arg % 3);
		if (pick_mode == PICK_NORMAL || pick_mode == PICK_NONE)
			proxy_wake_queues(&pc, &pw);
		break;
	case 12:
		proxy_server_down(&pc, (int)(arg & 1));
		break;
	default:
		break;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const unsigned retry_on[4] = { PROXY_RETRY_CONN_FAILURE | PROXY_RETRY_EMPTY_RESPONSE,
		                              0, PROXY_RETRY_CONN_FAILURE,
		                              PROXY_RETRY_CONN_FAILURE |
		                                  PROXY_RETRY_EMPTY_RESPONSE };
	struct fuzz_input sc = { data, size };
	uint8_t cfg0 = fuzz_byte(&sc), cfg1 = fuzz_byte(&sc);
	sm_world_init(&wd, cfg0 >> 4, cfg1 & 1, cfg1 >> 1);

	memset(&pc, 0, sizeof(pc));
	memset(servers, 0, sizeof(servers));
	servers[0].name = "s0";
	servers[1].name = "s1";
	servers[0].addr = servers[1].addr = wd.back;
	pc.servers = server_list;
	pc.nservers = 2;
	pc.timeout_connect = 1000;
	pc.timeout_server = 2500;
	pc.timeout_pool = 5000;
	pc.timeout_queue = 1000;
	pc.retries = (cfg0 & 3) == 3 ? 1 : cfg0 & 3;
	pc.retry_on = retry_on[(cfg0 >> 2) & 3];
	if (((cfg0 >> 2) & 3) == 3)
		pc.retry_on |= proxy_retry_bit(502) | proxy_retry_bit(503);
	pc.pool_max = 2;
	pc.resp_limits =
	    (struct http_limits){ .max_head = wd.conf.max_header_size, .max_headers = 100 };
	pc.forwarded_headers = true;
	pc.proto = "http";
	pc.served_by = cfg0 & 64 ? "fuzz" : NULL;
	pc.pick = pick;
	pc.release = release;
	proxy_metrics_define(&pc, wd.d.metrics, "fuzz");
	pick_mode = cfg0 & 128 ? PICK_FULL : PICK_NORMAL;
	slots = 0;

	sm_world_start(&wd, handler, true);
	proxy_worker_init(&pw, &pc, &wd.w);
	sm_run(&wd, &sc, own_op);
	/* Requests still queued are let go (or time out). */
	pick_mode = PICK_NORMAL;
	proxy_wake_queues(&pc, &pw);
	sm_finish(&wd, quiet);
	REQUIRE(slots == 0);
	check_forwarded();
	proxy_worker_free(&pw);
	free(pc.workers);
	sm_world_free(&wd);
	return 0;
}
