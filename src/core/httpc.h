/* httpc.h - the HTTP client: one exchange over a connection of its own, on
 * a loop: connect, send the request, read what comes back. What the owner
 * makes of the bytes, and when it gives up, is its own: the LB's health
 * checks and monitor scrapes run it on a worker's loop.
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

#endif
