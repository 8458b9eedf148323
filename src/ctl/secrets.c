/* secrets.c - the state folder's secrets/ (0700): the MariaDB accounts'
 * passwords and the apps' cookie key, each a file of its own (0600), made
 * on first use from getrandom(2) and never printed. */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "conf/names.h"
#include "ctl.h"

/* The secret in {state}/secrets/FILE, made (0600) on first use: nchars
 * random characters of alphabet (whose size divides 256 or nearly). */
static int secret_file(const struct ctl *c, const char *file, const char *alphabet, size_t nchars,
                       char *out, size_t len)
{
	char dir[TS_PATH_MAX], path[TS_PATH_MAX + 100];
	snprintf(dir, sizeof(dir), "%s/" STATE_SECRETS, c->state);
	mkdir(dir, 0700);
	snprintf(path, sizeof(path), "%s/%s", dir, file);
	FILE *f = fopen(path, "r");
	if (f) {
		bool ok = fgets(out, (int)len, f) != NULL;
		fclose(f);
		out[strcspn(out, "\r\n")] = '\0';
		if (ok && out[0])
			return 0;
	}
	unsigned char rnd[64];
	size_t na = strlen(alphabet);
	if (nchars > sizeof(rnd) || len < nchars + 1 ||
	    getrandom(rnd, nchars, 0) != (ssize_t)nchars)
		return -1;
	for (size_t i = 0; i < nchars; i++)
		out[i] = alphabet[rnd[i] % na];
	out[nchars] = '\0';
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0)
		return -1;
	ssize_t w = write(fd, out, strlen(out));
	close(fd);
	return w == (ssize_t)strlen(out) ? 0 : -1;
}

/* A MariaDB password: {state}/secrets/NAME.password, 24 alphanumerics. */
int mdb_secret(const struct ctl *c, const char *name, char *out, size_t len)
{
	char file[256];
	snprintf(file, sizeof(file), "%s" SECRET_PASSWORD_SUFFIX, name);
	return secret_file(c, file,
	                   "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789", 24,
	                   out, len);
}

int mdb_cookie_key(const struct ctl *c, char *out, size_t len)
{
	return secret_file(c, SECRET_COOKIE_KEY, "0123456789abcdef", 64, out, len);
}
