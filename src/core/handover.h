/* handover.h - a running daemon's listening sockets passed to the process
 * that replaces it (a binary upgrade), so that not one connection is
 * refused meanwhile: the sockets, with their accept queues, never close.
 * The idea is HAProxy's `-x` (the new process fetches the old one's
 * sockets over its stats socket); the message is our own.
 *
 * The new process connects to the old one's runtime socket (a Unix stream
 * socket: the LB's, src/lb/runtime.c) and sends the line HANDOVER_ASK. The
 * old one answers with one message, a text and its descriptors:
 *
 *   listeners N\n                      N: 0..HANDOVER_MAX
 *   stream 127.0.0.1:8080\n            N lines: the type (stream or dgram)
 *   dgram [::1]:5353\n                 and the address, as addr_format
 *   \n                                 writes it; an empty line ends it
 *
 * with the N descriptors, in the order of the lines, in one SCM_RIGHTS
 * that rides on its first byte. An old process that will not hand over
 * answers "error: WHY\n\n" instead, without descriptors.
 *
 * Once the new process serves, it sends HANDOVER_DONE on the same
 * connection: the old one stops accepting, lets its requests in flight
 * finish and exits (its graceful stop), and answers "ok: ...\n\n".
 *
 * handover_parse is pure (text in, entries out), unit-tested
 * (tests/unit/test_handover.c) and fuzzed (tests/fuzz/fuzz_handover.c).
 * handover_recv refuses what does not match: a count of descriptors that
 * is not N, a socket whose type (SO_TYPE), family (SO_DOMAIN) or bound
 * address (getsockname) is not its line's, a stream socket that is not
 * listening. A refusal closes every descriptor received.
 */
#ifndef TS_HANDOVER_H
#define TS_HANDOVER_H

#include <stdbool.h>
#include <stddef.h>

#include "net.h"

#define HANDOVER_MAX      64 /* descriptors in one message (the kernel's limit is 253) */
#define HANDOVER_TEXT_MAX (32 + HANDOVER_MAX * 80)
#define HANDOVER_ASK      "handover listeners"
#define HANDOVER_DONE     "handover done"

struct handover_entry {
	struct addr addr;
	int socktype; /* SOCK_STREAM or SOCK_DGRAM */
	int fd;       /* -1 in what handover_parse returns */
	bool taken;   /* the receiver's: used by one of its listeners */
};

struct handover {
	struct handover_entry e[HANDOVER_MAX];
	unsigned n;
};

/* The message's text for n entries into out: its length, or -1 when n is
 * over HANDOVER_MAX or it does not fit in len. */
long handover_format(const struct handover_entry *e, unsigned n, char *out, size_t len);

/* Parse p[0..len): the length of the whole message (its empty line
 * included) with e[0..*n) set (fd -1); 0 when the message is not whole
 * yet (read more); -1 with err when it is not one (an old process's
 * "error: ..." answer among them: err is its words). */
long handover_parse(const char *p, size_t len, struct handover_entry *e, unsigned *n, char *err,
                    size_t errlen);

/* Does fd look as e says: its type, family and bound address, listening
 * if a stream? 0, or -1 with err. */
int handover_check(int fd, const struct handover_entry *e, char *err, size_t errlen);

/* The old side: send e[0..n) (their fds) on sock, a blocking or
 * non-blocking Unix stream socket whose buffer has room for the text.
 * 0, or -1 with err (nothing or part of it sent: the peer refuses it). */
int handover_send(int sock, const struct handover_entry *e, unsigned n, char *err, size_t errlen);

/* The new side: read the whole message on sock into h and check it; each
 * fd made non-blocking. 0, or -1 with err (every descriptor received
 * closed, h->n 0). */
int handover_recv(int sock, struct handover *h, char *err, size_t errlen);

/* The new side: connect to path, ask, receive and check the sockets
 * (each fd close-on-exec and non-blocking, as the listeners' are made).
 * Returns the connection (to handover_finish later) with h filled, or -1
 * with err and nothing kept open. timeout_ms bounds each wait. */
int handover_fetch(const char *path, unsigned timeout_ms, struct handover *h, char *err,
                   size_t errlen);

/* The new side, serving now: tell the old process on sock to stop; its
 * answer's first line into answer. Closes sock. 0, or -1 (answer says
 * why). */
int handover_finish(int sock, char *answer, size_t len);

/* Close the descriptors nobody took (and forget them). Returns how many. */
unsigned handover_close_untaken(struct handover *h);

/* The most entries that share one address and type: as many workers as
 * that take every socket of the old process. */
unsigned handover_most(const struct handover *h);

#endif
