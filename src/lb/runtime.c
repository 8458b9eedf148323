/* runtime.c - the LB's runtime API: a Unix stream socket in the state
 * folder, {state}/run/HOST.lb.sock, that only the operator reaches (mode
 * 0660: the account the LB runs as and its group; root), as HAProxy's
 * stats socket. `tristack drain web-01` and its kin use it (src/ctl/runtime.c).
 *
 * One command per line (command.h), one answer per command: lines that
 * start with "ok:", "error:" or "warning:", or the table of `show
 * servers`, then an empty line, so that a client may send several commands
 * on one connection and knows where each answer ends. A line longer than
 * LB_COMMAND_MAX_LINE is answered with an error and the connection closed;
 * a client silent for RT_IDLE_MS is closed; at most RT_MAX_CLIENTS at once.
 *
 * It runs on worker 0's loop, beside the health checks it starts and stops:
 * every socket is non-blocking, the next command is read only once the
 * answer to the last is written, so a client that does not read holds one
 * answer at most, until its idle time runs out. The socket passes to the
 * next generation at a reload as the other listeners do (worker_listen);
 * the file is removed when the LB stops (if it is still ours).
 *
 * A new tristack-lb started with --takeover this socket (a binary upgrade)
 * asks here for the listening sockets ("handover listeners": they are sent
 * with SCM_RIGHTS, core/handover.h) and, once it serves, tells this one to
 * stop ("handover done": SIGUSR2 to ourselves, after the answer is
 * written: the workers stop accepting and their requests finish).
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "conf/names.h"
#include "core/log.h"
#include "core/sbuf.h"
#include "lb.h"

#define RT_IDLE_MS     10000
#define RT_MAX_CLIENTS 16

struct rt_client {
	struct lb_runtime *rt;
	struct io io;
	struct timer idle;
	struct defer free_d;
	char in[LB_COMMAND_MAX_LINE + 2]; /* a line and its "\r\n" */
	size_t in_len;
	struct sbuf out;
	size_t out_off;
	bool eof;     /* the client has sent all it will */
	bool closing; /* close once the answer is written */
	bool stop;    /* "handover done": stop once the answer is written */
	struct rt_client *prev, *next;
};

struct lb_runtime {
	struct lb *lb;
	struct worker *w;
	struct io listen;
	char path[TS_PATH_MAX];
	struct stat made; /* the socket file, removed at the end if still this one */
	struct rt_client *clients;
	unsigned nclients;
	bool freeing;
};

static const char help_text[] =
    "commands (one a line; each answer ends with an empty line):\n"
    "  show servers                          name address health admin weight "
    "file-weight active backup\n"
    "  set server NAME state ready           take requests\n"
    "  set server NAME state drain           no new requests; those in flight finish\n"
    "  set server NAME state maint           no requests, no health checks\n"
    "  set server NAME weight N              0..256; the stack file's again at a reload "
    "that changes it\n"
    "  handover listeners, handover done     a new tristack-lb --takeover takes the "
    "listening sockets, then has this one stop\n"
    "  help, quit\n";

static void client_free_deferred(struct defer *d)
{
	struct rt_client *c = container_of(d, struct rt_client, free_d);
	sbuf_free(&c->out);
	free(c);
}

static void client_close(struct rt_client *c)
{
	struct lb_runtime *rt = c->rt;
	if (c->io.fd < 0)
		return;
	loop_io_close(&c->io);
	loop_timer_stop(rt->w->loop, &c->idle);
	if (c->prev)
		c->prev->next = c->next;
	else
		rt->clients = c->next;
	if (c->next)
		c->next->prev = c->prev;
	rt->nclients--;
	/* events of this batch may still name c->io: free after it */
	if (rt->freeing)
		client_free_deferred(&c->free_d);
	else
		loop_defer(rt->w->loop, &c->free_d, client_free_deferred);
}

static void client_timeout(struct timer *t)
{
	client_close(container_of(t, struct rt_client, idle));
}

/* ---- the commands ---- */

static void show_servers(struct lb *lb, struct sbuf *o)
{
	sbuf_adds(o, "# name address health admin weight file-weight active backup\n");
	for (unsigned i = 0; i < lb->nservers; i++) {
		const struct lb_server *sv = &lb->servers[i];
		char addr[128];
		sbuf_addf(o, "%s %s %s %s %u %u %d %s\n", sv->px.name,
		          addr_format(&sv->px.addr, addr, sizeof(addr)),
		          atomic_load(&sv->up) ? "UP" : "DOWN",
		          lb_admin_name(atomic_load(&sv->admin)), atomic_load(&sv->weight),
		          sv->config_weight, atomic_load(&sv->active), sv->backup ? "yes" : "no");
	}
}

/* After a change: a word when nothing takes new requests any more. */
static void warn_if_none(struct lb *lb, struct sbuf *o)
{
	for (unsigned i = 0; i < lb->nservers; i++)
		if (lb_balance_usable(&lb->servers[i]))
			return;
	sbuf_adds(o, "warning: no server takes new requests now: every request gets 503\n");
}

static void run_set(struct lb *lb, const struct lb_command *cmd, struct sbuf *o)
{
	int i = lb_admin_find(lb, cmd->server);
	if (i < 0) {
		sbuf_addf(o, "error: no server '%.*s' (show servers lists them)\n",
		          (int)cmd->server.len, cmd->server.p);
		return;
	}
	struct lb_server *sv = &lb->servers[i];
	char err[128];
	int was =
	    cmd->kind == LB_CMD_SET_STATE ? atomic_load(&sv->admin) : (int)atomic_load(&sv->weight);
	int r = cmd->kind == LB_CMD_SET_STATE
	            ? lb_admin_set_state(lb, (unsigned)i, cmd->state, err, sizeof(err))
	            : lb_admin_set_weight(lb, (unsigned)i, cmd->weight, err, sizeof(err));
	if (r < 0)
		sbuf_addf(o, "error: %s\n", err);
	else if (cmd->kind == LB_CMD_SET_STATE)
		sbuf_addf(o, "ok: %s is %s (was %s)\n", sv->px.name, lb_admin_name(cmd->state),
		          lb_admin_name((enum lb_admin)was));
	else
		sbuf_addf(o, "ok: %s has weight %u (was %d)\n", sv->px.name, cmd->weight, was);
	if (r == 0)
		warn_if_none(lb, o);
}

/* The listening sockets to a successor, on the client's socket itself:
 * true when sent (the message ends the answer), false with an error
 * queued. */
static bool send_listeners(struct rt_client *c)
{
	struct handover_entry e[HANDOVER_MAX];
	char err[160];
	unsigned n = daemon_listeners(c->rt->lb->d, e, HANDOVER_MAX);
	if (n > HANDOVER_MAX) {
		sbuf_addf(&c->out,
		          "error: %u listening sockets, more than a hand-over takes (%d)\n", n,
		          HANDOVER_MAX);
		return false;
	}
	if (handover_send(c->io.fd, e, n, err, sizeof(err)) < 0) {
		log_warn("runtime API: %s", err);
		c->closing = true; /* part of it may be out: nothing more makes sense */
		return true;
	}
	log_info("runtime API: %u listening sockets handed over", n);
	return true;
}

/* One line, its answer queued. */
static void run_line(struct rt_client *c, const char *line, size_t len)
{
	struct lb *lb = c->rt->lb;
	struct lb_command cmd;
	char err[160];
	if (lb_command_parse(line, len, &cmd, err, sizeof(err)) < 0) {
		sbuf_addf(&c->out, "error: %s\n", err);
	} else {
		switch (cmd.kind) {
		case LB_CMD_HELP:
			sbuf_adds(&c->out, help_text);
			break;
		case LB_CMD_SHOW_SERVERS:
			show_servers(lb, &c->out);
			break;
		case LB_CMD_SET_STATE:
		case LB_CMD_SET_WEIGHT:
			run_set(lb, &cmd, &c->out);
			break;
		case LB_CMD_QUIT:
			c->closing = true;
			return;
		case LB_CMD_HANDOVER:
			if (send_listeners(c))
				return;
			break;
		case LB_CMD_HANDOVER_DONE:
			sbuf_addf(&c->out,
			          "ok: stopping; requests in flight finish (up to %llums)\n",
			          (unsigned long long)lb->d->grace_ms);
			c->stop = true;
			break;
		}
	}
	sbuf_adds(&c->out, "\n");
}

/* ---- the connection ---- */

/* A whole line in hand: run it (true). Too long a line: an error, and
 * the connection ends (true). Else false: read more. */
static bool take_line(struct rt_client *c)
{
	char *nl = memchr(c->in, '\n', c->in_len);
	if (nl == NULL && !(c->eof && c->in_len)) {
		if (c->in_len < sizeof(c->in))
			return false;
		sbuf_addf(&c->out, "error: line too long (%d bytes at most)\n\n",
		          LB_COMMAND_MAX_LINE);
		c->closing = true;
		return true;
	}
	/* a line, or what came before the end without a "\n" */
	size_t len = nl ? (size_t)(nl - c->in) : c->in_len;
	size_t used = nl ? len + 1 : len;
	if (len && c->in[len - 1] == '\r')
		len--;
	run_line(c, c->in, len);
	memmove(c->in, c->in + used, c->in_len - used);
	c->in_len -= used;
	loop_timer_set(c->rt->w->loop, &c->idle, RT_IDLE_MS);
	return true;
}

/* Write what is queued: 1 all of it, 0 the rest on IO_WRITE, -1 closed. */
static int flush(struct rt_client *c)
{
	while (c->out_off < c->out.len) {
		ssize_t n = send(c->io.fd, c->out.p + c->out_off, c->out.len - c->out_off,
		                 MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n > 0) {
			c->out_off += (size_t)n;
		} else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			c->io.ready &= ~IO_WRITE;
			return 0;
		} else if (n < 0 && errno == EINTR) {
			continue;
		} else {
			client_close(c);
			return -1;
		}
	}
	c->out.len = c->out_off = 0;
	return 1;
}

/* The last answer is written: no more from us. What the client still
 * sends is read and dropped until it closes (or its idle time ends):
 * closing with unread bytes would reset the connection, and the client
 * could lose the answer (nginx's lingering close). */
static void linger(struct rt_client *c)
{
	char drop[512];
	if (!c->eof) {
		shutdown(c->io.fd, SHUT_WR);
		c->eof = true; /* no command is read any more */
		c->in_len = 0;
	}
	for (;;) {
		ssize_t n = read(c->io.fd, drop, sizeof(drop));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			c->io.ready &= ~IO_READ;
			return;
		}
		if (n <= 0) {
			client_close(c);
			return;
		}
	}
}

static void client_io(struct io *io)
{
	struct rt_client *c = container_of(io, struct rt_client, io);
	for (;;) {
		if ((io->ready & IO_ERR) || flush(c) < 0) {
			client_close(c);
			return;
		}
		if (c->out.len)
			return; /* the answer first: on IO_WRITE */
		if (c->stop) {
			c->stop = false;
			log_info("runtime API: the successor serves; stopping");
			kill(getpid(), SIGUSR2); /* the main thread's: daemon.c */
		}
		if (c->closing) {
			linger(c);
			return;
		}
		if (c->eof && c->in_len == 0) {
			client_close(c);
			return;
		}
		if (take_line(c))
			continue;
		if (!(io->ready & IO_READ))
			return;
		ssize_t n = read(io->fd, c->in + c->in_len, sizeof(c->in) - c->in_len);
		if (n > 0)
			c->in_len += (size_t)n;
		else if (n == 0)
			c->eof = true;
		else if (errno == EAGAIN || errno == EWOULDBLOCK)
			io->ready &= ~IO_READ;
		else if (errno != EINTR) {
			client_close(c);
			return;
		}
	}
}

static void accept_ready(struct io *io)
{
	struct lb_runtime *rt = container_of(io, struct lb_runtime, listen);
	for (;;) {
		int fd = worker_accept(io, NULL, NULL);
		if (fd < 0)
			return; /* none left, or EMFILE and friends: on the next event */
		if (rt->nclients >= RT_MAX_CLIENTS) {
			static const char full[] = "error: too many clients at once\n\n";
			ssize_t w = send(fd, full, sizeof(full) - 1, MSG_NOSIGNAL | MSG_DONTWAIT);
			(void)w;
			close(fd);
			continue;
		}
		struct rt_client *c = xcalloc(1, sizeof(*c));
		c->rt = rt;
		c->idle.fn = client_timeout;
		if (loop_io_add(rt->w->loop, &c->io, fd, client_io) < 0) {
			close(fd);
			free(c);
			continue;
		}
		c->next = rt->clients;
		if (c->next)
			c->next->prev = c;
		rt->clients = c;
		rt->nclients++;
		loop_timer_set(rt->w->loop, &c->idle, RT_IDLE_MS);
	}
}

/* ---- life ---- */

struct lb_runtime *lb_runtime_start(struct lb *lb, struct worker *w)
{
	struct lb_runtime *rt = xcalloc(1, sizeof(*rt));
	rt->lb = lb;
	rt->w = w;
	rt->listen.fd = -1;
	char spec[TS_PATH_MAX + 8], err[256];
	struct addr a;
	if (daemon_path(lb->d, "{state}/" STATE_RUN "/{host}" STATE_LB_SOCKET_SUFFIX, rt->path,
	                sizeof(rt->path)) < 0 ||
	    snprintf(spec, sizeof(spec), "unix:%s", rt->path) >= (int)sizeof(spec) ||
	    addr_parse(spec, NULL, &a, err, sizeof(err)) < 0) {
		log_warn("no runtime API: the socket's path %s is too long for a Unix socket "
		         "(a shorter state folder)",
		         rt->path);
		rt->path[0] = '\0';
		return rt;
	}
	if (worker_listen(w, &rt->listen, &a, SOCK_STREAM, 0, accept_ready, err, sizeof(err)) < 0) {
		log_warn("no runtime API: %s", err);
		rt->path[0] = '\0';
		return rt;
	}
	/* the account and its group only (0660 whatever the umask) */
	if (chmod(rt->path, 0660) < 0 || stat(rt->path, &rt->made) < 0)
		log_warn("%s: %s", rt->path, strerror(errno));
	return rt;
}

void lb_runtime_stop(struct lb_runtime *rt)
{
	if (rt == NULL)
		return;
	struct worker *w = rt->w;
	worker_unlisten(w, &rt->listen);
	/* at a reload the next generation has the socket; at the end it goes */
	struct stat st;
	if (!w->reloading && rt->path[0] && stat(rt->path, &st) == 0 &&
	    st.st_ino == rt->made.st_ino && st.st_dev == rt->made.st_dev)
		unlink(rt->path);
	while (rt->clients)
		client_close(rt->clients);
}

void lb_runtime_free(struct lb_runtime *rt)
{
	if (rt == NULL)
		return;
	rt->freeing = true;
	lb_runtime_stop(rt);
	free(rt);
}
