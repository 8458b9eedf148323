/* httpc.h - the HTTP client: one exchange over a connection of its own, on
 * a loop: connect, send the request, read what comes back. What the owner
 * makes of the bytes, and when it gives up, is its own: the LB's health
 * checks and monitor scrapes run it on a worker's loop; httpc_get runs one
 * to its end on a loop of its own, for a program that has none (the CLI).
 *
 * Its owner hears of each step through event(): HTTPC_DATA (resp has
 * grown), HTTPC_EOF (the server closed), or -errno (EMSGSIZE: resp is full).
 * On DATA the owner may end it (httpc_close) or let it read on; on EOF and
 * errors it ends it. The owner's own timer gives up on it (a timeout) the
 * same way.
 */
#ifndef TS_CORE_HTTPC_H
#define TS_CORE_HTTPC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "conn.h"
#include "net.h"

enum { HTTPC_DATA = 0, HTTPC_EOF = 1 };

struct httpc {
	struct conn conn; /* io.fd < 0: not open */
	bool connected;
	const char *req;
	size_t req_len, sent;
	char *resp;
	size_t resp_len, resp_cap;
	uint64_t t_start_us; /* set by httpc_start */
	void (*event)(struct httpc *f, int what);
};

/* 0, or the errno of a connect that failed at once (nothing is open). */
int httpc_start(struct httpc *f, struct loop *loop, const struct addr *a);
void httpc_close(struct httpc *f);
static inline bool httpc_open(const struct httpc *f)
{
	return f->conn.io.fd >= 0;
}

/* Send req to a and read the answer into resp[0, cap) until the server
 * closes, resp is full, or it says nothing for idle_ms; the connect gets
 * connect_ms. Returns the bytes read, or -1 when the request could not be
 * sent whole (no connection, a reset, the connect's time ran out). Blocks. */
ssize_t httpc_get(const struct addr *a, const char *req, size_t req_len, char *resp, size_t cap,
                  unsigned connect_ms, unsigned idle_ms);
/* The status of the response head at resp[0, len) (http_parse_response's
 * rules), and in *body (if not NULL) what follows the head; -1 when there
 * is no whole, valid head. */
int httpc_status(const char *resp, size_t len, struct str *body);

#endif
