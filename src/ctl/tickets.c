/* tickets.c - the LBs' session-ticket key file, made and rotated.
 *
 * tristack-lb reads its session-ticket keys from [lb] tls_ticket_keys
 * (src/lb/tickets.c; the format in core/tls_keys.h): by default (auto)
 * {state}/secrets/tls-ticket.keys, which this file makes. Both LBs of a
 * pair read the same keys, so a client that resumed on one resumes on the
 * other after a failover.
 *
 * tickets_ensure (`tristack up`, the supervisor) looks after auto's file
 * only: made with TLS_KEYS_ROTATE_TO fresh keys when missing, rotated when
 * its mtime is older than [lb] tls_ticket_rotate. A path of the operator's
 * own is theirs, as HAProxy's tls-ticket-keys is. tickets_rotate (`tristack
 * tickets rotate`) rotates whichever file the LB reads, now.
 *
 * A rotation drops the oldest key and appends a fresh one, keeping three:
 * the previous (tickets out there still open), the current (seals), and the
 * next (on every LB before it seals anything). So a ticket lives two
 * rotations, and a rotation copied to two LBs a few seconds apart never
 * makes a ticket the other cannot open. The file is written whole, 0600,
 * to a temporary name in the same folder, then renamed over the old one
 * (an LB never reads half of it); as root it is given to the service
 * account, whose secrets/ it is in.
 */
#include <errno.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "conf/names.h"
#include "core/tls_keys.h"
#include "ctl.h"

#define HEADER                                                                                     \
	"# Session-ticket keys of tristack-lb ([lb] tls_ticket_keys), made by tristack.\n"         \
	"# One key a line, oldest first: base64 of 80 bytes (16 name, 32 AES, 32 HMAC),\n"         \
	"# HAProxy's tls-ticket-keys format. The second to last seals new tickets; the\n"          \
	"# last is the next. Both LBs of a pair must have the same file: rotate with\n"            \
	"# `tristack tickets rotate` and copy it to both within tls_ticket_rotate.\n"

/* The file the LB reads: 1 with path (and *is_auto; the state folder made
 * for it), 0 when it reads none (no LB, no HTTPS, no tickets, or keys of
 * its own), -1 with err. */
static int keys_path(const struct ctl *c, char *path, size_t len, bool *is_auto, char *err,
                     size_t errlen)
{
	const struct lb_conf *lb = &c->cfg.lb;
	if (conf_host_with_role(&c->cfg, ROLE_LB) == NULL || lb->tls_listen[0] == '\0' ||
	    !lb->tls_tickets || lb->tls_ticket_keys[0] == '\0')
		return 0;
	*is_auto = strcmp(lb->tls_ticket_keys, "auto") == 0;
	if (*is_auto) {
		snprintf(path, len, "%s/" STATE_SECRETS "/" SECRET_TLS_TICKET_KEYS, c->state);
		mkdir(c->state, 0750); /* secrets/ goes in it (write_keys) */
		return 1;
	}
	if (strstr(lb->tls_ticket_keys, "{host}")) {
		snprintf(err, errlen,
		         "[lb] tls_ticket_keys = %s: a file per host is not one the LBs share",
		         lb->tls_ticket_keys);
		return -1;
	}
	const char *state = strstr(lb->tls_ticket_keys, "{state}");
	if (state)
		snprintf(path, len, "%.*s%s%s", (int)(state - lb->tls_ticket_keys),
		         lb->tls_ticket_keys, c->state, state + strlen("{state}"));
	else
		snprintf(path, len, "%s", lb->tls_ticket_keys);
	return 1;
}

/* Write keys to path, whole or not at all. */
static int write_keys(const struct ctl *c, const char *path, const struct tls_ticket_keys *k,
                      char *err, size_t errlen)
{
	char dir[TS_PATH_MAX], tmp[TS_PATH_MAX + 32];
	const char *slash = strrchr(path, '/');
	if (slash == NULL)
		snprintf(dir, sizeof(dir), ".");
	else
		snprintf(dir, sizeof(dir), "%.*s", slash == path ? 1 : (int)(slash - path), path);
	if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
		snprintf(err, errlen, "cannot make %s: %s", dir, strerror(errno));
		return -1;
	}
	snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path, (long)getpid());
	/* a name planted before us (a link, a hard link to root's file) is
	 * removed, never written through */
	unlink(tmp);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0) {
		snprintf(err, errlen, "cannot write %s: %s", tmp, strerror(errno));
		return -1;
	}
	/* as root: the service account's, as the folder is */
	struct stat st;
	ssize_t w = -1;
	if (c->drop ? fchown(fd, c->uid, c->gid) < 0
	            : geteuid() == 0 && stat(dir, &st) == 0 && fchown(fd, st.st_uid, st.st_gid) < 0)
		goto fail;
	char text[sizeof(HEADER) + TLS_KEYS_MAX * (TLS_KEY_LINE + 1)];
	size_t n = strlen(HEADER);
	memcpy(text, HEADER, n);
	for (unsigned i = 0; i < k->n; i++) {
		tls_keys_line(&k->keys[i], text + n);
		n += TLS_KEY_LINE;
		text[n++] = '\n';
	}
	w = write(fd, text, n);
	OPENSSL_cleanse(text, sizeof(text));
	if (w != (ssize_t)n || fsync(fd) < 0)
		goto fail;
	close(fd);
	if (rename(tmp, path) < 0) {
		snprintf(err, errlen, "cannot rename %s to %s: %s", tmp, path, strerror(errno));
		unlink(tmp);
		return -1;
	}
	return 0;
fail:
	snprintf(err, errlen, "cannot write %s: %s", tmp, w < 0 ? strerror(errno) : "short write");
	close(fd);
	unlink(tmp);
	return -1;
}

/* One rotation of the file at path (made when missing); *made says which. */
static int rotate(const struct ctl *c, const char *path, bool *made, char *err, size_t errlen)
{
	struct tls_ticket_keys k;
	struct stat st;
	*made = stat(path, &st) < 0 && errno == ENOENT;
	if (*made) {
		memset(&k, 0, sizeof(k));
	} else if (tls_keys_read(path, &k, NULL, err, errlen) < 0) {
		size_t used = strlen(err);
		snprintf(err + used, errlen - used, " (fix it, or remove it for new keys)");
		return -1;
	}
	/* keep the newest TLS_KEYS_ROTATE_TO - 1, then fresh ones to make it up */
	unsigned keep = k.n < TLS_KEYS_ROTATE_TO - 1 ? k.n : TLS_KEYS_ROTATE_TO - 1;
	memmove(&k.keys[0], &k.keys[k.n - keep], keep * sizeof(k.keys[0]));
	k.n = keep;
	do {
		if (tls_keys_random(&k.keys[k.n++]) < 0) {
			snprintf(err, errlen, "no randomness for new keys");
			OPENSSL_cleanse(&k, sizeof(k));
			return -1;
		}
	} while (*made && k.n < TLS_KEYS_ROTATE_TO);
	k.enc = tls_keys_sealing(k.n);
	int rc = write_keys(c, path, &k, err, errlen);
	OPENSSL_cleanse(&k, sizeof(k));
	return rc;
}

int tickets_ensure(struct ctl *c, char *err, size_t errlen)
{
	char path[TS_PATH_MAX];
	bool is_auto = false, made;
	int r = keys_path(c, path, sizeof(path), &is_auto, err, errlen);
	if (r <= 0 || !is_auto)
		return r < 0 ? -1 : 0;
	struct stat st;
	if (stat(path, &st) == 0) {
		double age_ms = difftime(time(NULL), st.st_mtime) * 1000;
		if (age_ms < (double)c->cfg.lb.tls_ticket_rotate)
			return 0;
	} else if (errno != ENOENT) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	return rotate(c, path, &made, err, errlen);
}

int cmd_tickets(struct ctl *c, int argc, char **argv)
{
	if (argc != 1 || strcmp(argv[0], "rotate") != 0) {
		fprintf(stderr, "usage: tristack tickets rotate\n");
		return 1;
	}
	char path[TS_PATH_MAX], err[512];
	bool is_auto = false, made;
	int r = keys_path(c, path, sizeof(path), &is_auto, err, sizeof(err));
	if (r == 0)
		fprintf(stderr,
		        "tristack: the LB reads no session-ticket key file ([lb] tls_listen, "
		        "tls_tickets or tls_ticket_keys): nothing to rotate\n");
	if (r <= 0) {
		if (r < 0)
			fprintf(stderr, "tristack: %s\n", err);
		return 1;
	}
	if (rotate(c, path, &made, err, sizeof(err)) < 0) {
		fprintf(stderr, "tristack: %s\n", err);
		return 1;
	}
	if (made)
		printf("%s: made, %d new keys\n", path, TLS_KEYS_ROTATE_TO);
	else
		printf("%s: rotated: the oldest key dropped, a new one added\n", path);
	printf("an LB reading it takes the new keys within a second; copy it to the LBs of other "
	       "machines now\n");
	return 0;
}
