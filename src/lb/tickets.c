/* tickets.c - the LB's session-ticket keys: [lb] tls_ticket_keys.
 *
 *   ""      keys made in the process (core/tls.c), rotated every
 *           tls_ticket_rotate: a ticket opens on this LB only;
 *   PATH    that file's keys (core/tls_keys.h): the other LB of a pair
 *           reads the same file, so a client resumes on either;
 *   auto    (the default) {state}/secrets/tls-ticket.keys, the file
 *           `tristack up` makes and rotates, when it is there; else the
 *           process's own keys until it appears.
 *
 * The file is read at start (a bad one stops the start, naming file:line),
 * at a reload (a bad one is logged, and the keys in use stay), and when it
 * changes: worker 0 stats it once a second, and reads it again when its
 * inode, size or mtime differ, so that a rotation copied to the LBs reaches
 * them without a signal. A file that goes missing or bad keeps the keys in
 * use and says so once in the error log.
 */
#include <errno.h>
#include <openssl/crypto.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "conf/names.h"
#include "core/daemon.h"
#include "core/log.h"
#include "lb.h"

#define TICKETS_AUTO     "{state}/" STATE_SECRETS "/" SECRET_TLS_TICKET_KEYS
#define TICKETS_CHECK_MS 1000
/* A file changed this recently may be half written (cp, scp write in
 * place): one that does not parse is read again on the next check. */
#define TICKETS_SETTLE_S 2

static bool same_file(const struct stat *a, const struct stat *b)
{
	return a->st_dev == b->st_dev && a->st_ino == b->st_ino && a->st_size == b->st_size &&
	       a->st_mtim.tv_sec == b->st_mtim.tv_sec && a->st_mtim.tv_nsec == b->st_mtim.tv_nsec;
}

static const char *ordinal(unsigned i)
{
	static const char *const names[] = {
		"1st", "2nd", "3rd", "4th", "5th", "6th", "7th", "8th"
	};
	return i < TLS_KEYS_MAX ? names[i] : "?";
}

int lb_tickets_configure(struct lb *lb, const struct lb_conf *conf, char *err, size_t errlen)
{
	struct lb_tickets *tk = &lb->tickets;
	struct daemon *d = lb->d;
	if (!conf->tls_tickets || conf->tls_ticket_keys[0] == '\0')
		return 0; /* path "": the process's own keys */
	tk->is_auto = strcmp(conf->tls_ticket_keys, "auto") == 0;
	if (daemon_path(d, tk->is_auto ? TICKETS_AUTO : conf->tls_ticket_keys, tk->path,
	                sizeof(tk->path)) < 0) {
		snprintf(err, errlen, "%s: [lb] tls_ticket_keys: path too long", d->conf_path);
		return -1;
	}
	struct stat st;
	if (tk->is_auto && stat(tk->path, &st) < 0 && errno == ENOENT)
		return 0; /* not made yet: the process's own keys until it is */
	char e[512];
	if (tls_keys_read(tk->path, &tk->keys, &tk->seen, e, sizeof(e)) == 0) {
		tk->have = true;
		return 0;
	}
	if (d->prev == NULL || d->check_only) {
		snprintf(err, errlen, "%s: [lb] tls_ticket_keys: %s", d->conf_path, e);
		return -1;
	}
	/* a reload: the running generation's keys stay */
	log_error("reload: %s; keeping the session-ticket keys in use", e);
	tk->failing = true;
	if (stat(tk->path, &tk->bad) < 0)
		memset(&tk->bad, 0, sizeof(tk->bad));
	return 0;
}

static void use(const struct lb_tickets *tk)
{
	tls_ticket_keys_use(&tk->keys);
	log_info("session-ticket keys: %u from %s, the %s sealing new tickets", tk->keys.n,
	         tk->path, ordinal(tk->keys.enc));
}

void lb_tickets_apply(struct lb *lb)
{
	struct lb_tickets *tk = &lb->tickets;
	if (tk->have)
		use(tk);
	else if (tk->path[0] == '\0' || lb->d->prev == NULL)
		tls_ticket_keys_use(NULL); /* the process's own */
	/* else a reload that could not read the file: the keys in use stay */
}

/* Is the file's last change so recent that it may be half written? */
static bool settling(const struct stat *st)
{
	return time(NULL) - st->st_mtim.tv_sec < TICKETS_SETTLE_S;
}

static void check(struct lb_tickets *tk)
{
	struct stat st;
	if (stat(tk->path, &st) < 0) {
		if (errno == ENOENT && tk->is_auto && !tk->have)
			return; /* still not made: the process's own keys */
		if (!tk->failing)
			log_error("%s: %s; keeping the session-ticket keys in use", tk->path,
			          strerror(errno));
		tk->failing = true;
		memset(&tk->bad, 0, sizeof(tk->bad));
		return;
	}
	if (tk->have && same_file(&st, &tk->seen))
		return;
	if (tk->failing && same_file(&st, &tk->bad) && !settling(&st))
		return; /* refused already, and said so */
	struct tls_ticket_keys keys;
	struct stat got;
	char e[512];
	if (tls_keys_read(tk->path, &keys, &got, e, sizeof(e)) < 0) {
		if (!tk->failing || !same_file(&st, &tk->bad))
			log_error("%s; keeping the session-ticket keys in use", e);
		tk->failing = true;
		tk->bad = st;
		return;
	}
	tk->keys = keys;
	tk->seen = got;
	tk->have = true;
	tk->failing = false;
	OPENSSL_cleanse(&keys, sizeof(keys));
	use(tk);
}

static void tick(struct timer *t)
{
	struct lb_tickets *tk = container_of(t, struct lb_tickets, timer);
	check(tk);
	loop_timer_set(tk->w->loop, &tk->timer, TICKETS_CHECK_MS);
}

void lb_tickets_start(struct lb *lb, struct worker *w)
{
	struct lb_tickets *tk = &lb->tickets;
	if (tk->path[0] == '\0')
		return;
	tk->w = w;
	tk->timer.fn = tick;
	loop_timer_set(w->loop, &tk->timer, TICKETS_CHECK_MS);
}

void lb_tickets_stop(struct lb *lb)
{
	struct lb_tickets *tk = &lb->tickets;
	if (tk->w)
		loop_timer_stop(tk->w->loop, &tk->timer);
}

void lb_tickets_free(struct lb *lb)
{
	OPENSSL_cleanse(&lb->tickets.keys, sizeof(lb->tickets.keys));
}
