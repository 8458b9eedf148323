/* fuzz_dns.c - libFuzzer target for dns_answer over the zone of
 * conf/foobar.conf (an embedded copy, loaded once).
 *
 * Any bytes as a query, answered for UDP (512 bytes, or the EDNS size),
 * for TCP (64k), and into a tight output: the response fits the output it
 * was given (an exact-size heap block, so ASan sees any write past it), and
 * when there is one it is at least a header, echoes the query's id and has
 * the QR bit; over UDP it also fits the transport. Never a crash or a leak.
 * A violation is __builtin_trap(), so libFuzzer saves the input.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/stack.h"
#include "dns/dns.h"

#define REQUIRE(c)                                                                                 \
	do {                                                                                       \
		if (!(c))                                                                          \
			__builtin_trap();                                                          \
	} while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* conf/foobar.conf, its header comment left out. */
static const char foobar_conf[] =
    "[site]\n"
    "domain = foobar.com\n"
    "www    = lb-01          ; www.foobar.com resolves to this host\n"
    "state  = var            ; datadirs, secrets, logs, pids\n"
    "\n"
    "[host lb-01]\n"
    "address = 127.0.0.1\n"
    "roles   = lb, dns\n"
    "\n"
    "[host web-01]\n"
    "address = 127.0.0.2\n"
    "roles   = web, app, db-primary\n"
    "\n"
    "[host web-02]\n"
    "address = 127.0.0.3\n"
    "roles   = web, app, db-replica\n"
    "\n"
    "[lb]\n"
    "listen     = :8080\n"
    "admin      = :8404      ; /metrics\n"
    "balance    = roundrobin\n"
    "access_log = {state}/log/{host}.lb.access.log\n"
    "server     = web-01:8080 weight=1\n"
    "server     = web-02:8080 weight=1\n"
    "\n"
    "[web]\n"
    "listen     = :8080\n"
    "admin      = :8405\n"
    "root       = www\n"
    "proxy      = /api/      ; sent to the app on the same host\n"
    "proxy      = /healthz\n"
    "upstream   = :9000\n"
    "access_log = {state}/log/{host}.web.access.log  ; nginx \"combined\" format\n"
    "\n"
    "[app]\n"
    "listen = :9000\n"
    "\n"
    "[dns]\n"
    "listen = :5353\n";

static struct stack stack;
static struct dns_zone zone;

static const struct dns_zone *the_zone(void)
{
	static int ready;
	if (!ready) {
		char err[512];
		if (stack_load_string(&stack, "foobar.conf", foobar_conf, err, sizeof(err)) < 0 ||
		    dns_zone_from_stack(&zone, &stack, (uint32_t)(stack.dns.ttl / 1000), err,
		                        sizeof(err)) < 0) {
			fprintf(stderr, "fuzz_dns: %s\n", err);
			abort();
		}
		ready = 1;
	}
	return &zone;
}

static void answer(const uint8_t *q, size_t qlen, size_t outcap, size_t max_size)
{
	uint8_t *out = malloc(outcap ? outcap : 1);
	size_t n = dns_answer(the_zone(), q, qlen, out, outcap, max_size);
	REQUIRE(n <= outcap);
	if (n > 0) {
		REQUIRE(n >= 12);
		REQUIRE(qlen >= 2 && out[0] == q[0] && out[1] == q[1]);
		REQUIRE(out[2] & 0x80);
		/* The transport's limit holds, whatever the query asked for
		 * (a header-only reply always fits). */
		REQUIRE(n <= max_size || n == 12);
	}
	free(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* An exact-size copy: a read past the query is caught too. */
	uint8_t *q = malloc(size ? size : 1);
	memcpy(q, data, size);
	answer(q, size, 4096, 512);      /* UDP */
	answer(q, size, 65535, 65535);   /* TCP */
	answer(q, size, size % 96, 512); /* less room than the transport */
	free(q);
	return 0;
}
