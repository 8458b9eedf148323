/* acme.c - `tristack certs renew`: the site's certificates from an ACME CA
 * ([lb] acme_directory: Let's Encrypt, or pebble in the tests), obtained
 * and renewed by certbot (Debian's), installed where the LB loads them.
 *
 * certbot runs with its webroot plugin, the webroot {state}/acme: it leaves
 * each HTTP-01 key authorization in {state}/acme/.well-known/acme-challenge/
 * and the LBs answer the CA from there (src/lb/acme.c), so no token goes to
 * a web server. Its own folders are the stack's, not /etc/letsencrypt:
 * {state}/secrets/acme (0700: the ACME account key, every certificate and
 * key it obtained), its work folder inside it, its logs in {state}/log/
 * certbot. Two lineages, as `tristack up` makes two certificates:
 * site-ecdsa (P-256) and site-rsa (2048), each for www.<domain>. certbot
 * renews a lineage only when it nears its end (30 days) unless forced, so
 * a daily timer costs the CA nothing.
 *
 * A lineage's fullchain.pem and privkey.pem are installed as one file,
 * {state}/tls/site-ecdsa.pem (site-rsa.pem), 0600, the LB's account's,
 * replaced whole (rename); when one changed, every running LB is sent
 * SIGHUP: a new generation loads it, the old one finishes its connections.
 */
#include <errno.h>
#include <fcntl.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "conf/names.h"
#include "ctl.h"

#define PEM_MAX (64 * 1024) /* a chain and a key; more is not certbot's */

static const char *const lineages[] = { "site-ecdsa", "site-rsa" };

bool acme_on(const struct ctl *c)
{
	const char *d = c->cfg.lb.acme_directory;
	return d != NULL && d[0] != '\0';
}

/* A whole file into out (NUL-terminated): its length, or -1. */
static long read_small(const char *path, char *out, size_t len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	size_t n = 0;
	ssize_t r;
	while (n < len - 1 && (r = read(fd, out + n, len - 1 - n)) > 0)
		n += (size_t)r;
	bool whole = n < len - 1 || read(fd, &(char){ 0 }, 1) == 0;
	close(fd);
	out[n] = '\0';
	return whole ? (long)n : -1;
}

/* The serial number and end of the certificate that starts pem, for the
 * operator: "serial 1A2B..., ends Mar  3 12:00:00 2027 GMT". */
static void describe(const char *pem, char *out, size_t len)
{
	snprintf(out, len, "(unreadable)");
	BIO *b = BIO_new_mem_buf(pem, -1);
	X509 *x = b ? PEM_read_bio_X509(b, NULL, NULL, NULL) : NULL;
	BIGNUM *bn = x ? ASN1_INTEGER_to_BN(X509_get0_serialNumber(x), NULL) : NULL;
	char *hex = bn ? BN_bn2hex(bn) : NULL;
	BIO *m = BIO_new(BIO_s_mem());
	char end[64] = "";
	if (x && m && ASN1_TIME_print(m, X509_get0_notAfter(x)) == 1) {
		int k = BIO_read(m, end, sizeof(end) - 1);
		end[k > 0 ? k : 0] = '\0';
	}
	if (hex)
		snprintf(out, len, "serial %s, ends %s", hex, end);
	OPENSSL_free(hex);
	BN_free(bn);
	X509_free(x);
	BIO_free(b);
	BIO_free(m);
	ERR_clear_error();
}

int acme_install(struct ctl *c, unsigned i, bool *changed, char *err, size_t errlen)
{
	char live[TS_PATH_MAX + 100], tls[TS_PATH_MAX + 100], tmp[TS_PATH_MAX + 110];
	static char chain[PEM_MAX], key[PEM_MAX], now[2 * PEM_MAX];
	snprintf(live, sizeof(live), "%s/%s/%s/live/%s/fullchain.pem", c->state, STATE_SECRETS,
	         SECRET_ACME, lineages[i]);
	long nc = read_small(live, chain, sizeof(chain));
	if (nc < 0)
		return 0; /* none obtained yet */
	snprintf(live, sizeof(live), "%s/%s/%s/live/%s/privkey.pem", c->state, STATE_SECRETS,
	         SECRET_ACME, lineages[i]);
	long nk = read_small(live, key, sizeof(key));
	if (nc == 0 || nk <= 0 || strstr(chain, "-----BEGIN CERTIFICATE-----") == NULL) {
		snprintf(err, errlen, "%s: no certificate and key there", live);
		return -1;
	}
	snprintf(tls, sizeof(tls), "%s/tls/%s.pem", c->state, lineages[i]);
	long have = read_small(tls, now, sizeof(now));
	if (have == nc + nk && memcmp(now, chain, (size_t)nc) == 0 &&
	    memcmp(now + nc, key, (size_t)nk) == 0)
		return 1; /* installed already */
	snprintf(tmp, sizeof(tmp), "%s.tmp", tls);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	/* the LB's account's from the start: a reload may come at any time */
	bool ok = fd >= 0 && fchmod(fd, 0600) == 0 &&
	          (!c->drop || fchown(fd, c->uid, c->gid) == 0) &&
	          write(fd, chain, (size_t)nc) == nc && write(fd, key, (size_t)nk) == nk;
	if (fd >= 0 && close(fd) < 0)
		ok = false;
	if (!ok || rename(tmp, tls) < 0) {
		snprintf(err, errlen, "cannot write %s: %s", tls, strerror(errno));
		unlink(tmp);
		return -1;
	}
	char what[200];
	describe(chain, what, sizeof(what));
	printf("  installed %s from ACME: %s\n", tls, what);
	*changed = true;
	return 1;
}

/* Run certbot (argv), its output the operator's; 0 when it exited 0. */
static int run_certbot(char *const argv[], const char *logs, char *err, size_t errlen)
{
	fflush(stdout);
	pid_t pid = fork();
	if (pid < 0) {
		snprintf(err, errlen, "cannot run certbot: %s", strerror(errno));
		return -1;
	}
	if (pid == 0) {
		execvp(argv[0], argv);
		fprintf(stderr, "tristack: cannot run %s: %s (apt install certbot)\n", argv[0],
		        strerror(errno));
		_exit(127);
	}
	int st;
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
		return 0;
	snprintf(err, errlen, "certbot failed (its log: %s/letsencrypt.log)", logs);
	return -1;
}

/* A folder of the operator's with this mode (made, or its mode set). */
static int own_dir(const char *path, mode_t mode, char *err, size_t errlen)
{
	if ((mkdir(path, mode) < 0 && errno != EEXIST) || chmod(path, mode) < 0) {
		snprintf(err, errlen, "cannot make %s: %s", path, strerror(errno));
		return -1;
	}
	return 0;
}

/* certbot certonly for lineage i: obtained when missing, renewed when near
 * its end or force. */
static int obtain(struct ctl *c, unsigned i, bool force, char *err, size_t errlen)
{
	char dirs[4][TS_PATH_MAX + 100];
	snprintf(dirs[0], sizeof(dirs[0]), "%s/%s", c->state, STATE_ACME);
	snprintf(dirs[1], sizeof(dirs[1]), "%s/%s", c->state, STATE_SECRETS);
	snprintf(dirs[2], sizeof(dirs[2]), "%s/%s/%s", c->state, STATE_SECRETS, SECRET_ACME);
	snprintf(dirs[3], sizeof(dirs[3]), "%s/log", c->state);
	/* the webroot: the LB's account reads the tokens; the rest is ours */
	static const mode_t modes[] = { 0755, 0700, 0700, 0750 };
	for (unsigned k = 0; k < ARRAY_SIZE(modes); k++)
		if (own_dir(dirs[k], modes[k], err, errlen) < 0)
			return -1;
	char store[8192];
	char *argv[48];
	struct argv_buf b = { argv, 0, ARRAY_SIZE(argv), store, store + sizeof(store), false };
	argv_add(&b, "certbot");
	argv_add(&b, "certonly");
	argv_add(&b, "--non-interactive");
	argv_add(&b, "--agree-tos");
	argv_add(&b, "--server=%s", c->cfg.lb.acme_directory);
	if (c->cfg.lb.acme_email[0])
		argv_add(&b, "--email=%s", c->cfg.lb.acme_email);
	else
		argv_add(&b, "--register-unsafely-without-email");
	argv_add(&b, "--config-dir=%s", dirs[2]);
	argv_add(&b, "--work-dir=%s/work", dirs[2]);
	argv_add(&b, "--logs-dir=%s/certbot", dirs[3]);
	argv_add(&b, "--webroot");
	argv_add(&b, "--webroot-path=%s", dirs[0]);
	argv_add(&b, "--preferred-challenges=http");
	argv_add(&b, "--cert-name=%s", lineages[i]);
	argv_add(&b, "--domain=www.%s", c->cfg.site.domain);
	if (i == 0) {
		argv_add(&b, "--key-type=ecdsa");
		argv_add(&b, "--elliptic-curve=secp256r1");
	} else {
		argv_add(&b, "--key-type=rsa");
		argv_add(&b, "--rsa-key-size=2048");
	}
	argv_add(&b, "%s", force ? "--force-renewal" : "--keep-until-expiring");
	argv_add(&b, "--no-eff-email");
	if (b.full) {
		snprintf(err, errlen, "certbot's arguments are too long");
		return -1;
	}
	printf("certbot: %s for www.%s from %s\n", lineages[i], c->cfg.site.domain,
	       c->cfg.lb.acme_directory);
	char logs[TS_PATH_MAX + 110];
	snprintf(logs, sizeof(logs), "%s/certbot", dirs[3]);
	return run_certbot(argv, logs, err, errlen);
}

/* tristack certs renew [--force] */
int cmd_certs(struct ctl *c, int argc, char **argv)
{
	bool force = argc == 2 && strcmp(argv[1], "--force") == 0;
	if (argc < 1 || strcmp(argv[0], "renew") != 0 || (argc == 2 && !force) || argc > 2) {
		fprintf(stderr, "usage: tristack certs renew [--force]\n");
		return 2;
	}
	const struct lb_conf *lb = &c->cfg.lb;
	const char *why = NULL;
	if (!acme_on(c))
		why = "[lb] acme_directory is not set (ACME is off)";
	else if (lb->tls_listen == NULL || lb->tls_listen[0] == '\0')
		why = "[lb] tls_listen is not set (no HTTPS to serve a certificate on)";
	else if (lb->ntls_certs > 0)
		why = "[lb] tls_cert names certificates of the operator's own: remove it, "
		      "ACME's are installed in {state}/tls";
	if (why) {
		fprintf(stderr, "tristack: certs renew: %s\n", why);
		return 1;
	}
	char err[5 * TS_PATH_MAX]; /* room for the paths it may name */
	bool changed = false;
	if (acct_init(c, err, sizeof(err)) < 0) { /* as root: whose the LB's files are */
		fprintf(stderr, "tristack: certs renew: %s\n", err);
		return 1;
	}
	for (unsigned i = 0; i < ARRAY_SIZE(lineages); i++)
		if (obtain(c, i, force, err, sizeof(err)) < 0 ||
		    acme_install(c, i, &changed, err, sizeof(err)) < 0) {
			fprintf(stderr, "tristack: certs renew: %s\n", err);
			return 1;
		}
	if (acct_state(c, err, sizeof(err)) < 0) { /* the LB's account reads them */
		fprintf(stderr, "tristack: certs renew: %s\n", err);
		return 1;
	}
	if (changed && units_reload_lbs(c) == 0)
		fprintf(stderr,
		        "tristack: certs renew: no running tristack-lb found to reload (none, or "
		        "one this user may not see): the new certificates load at its next reload "
		        "(systemctl reload tristack-lb)\n");
	else if (!changed)
		printf("  the certificates in %s/tls are current: nothing to reload\n", c->state);
	return 0;
}
