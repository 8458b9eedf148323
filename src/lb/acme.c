/* acme.c - the LB's answer to ACME's HTTP-01 challenge (acme.h): the token
 * a request names, and the key authorization certbot left for it in the
 * challenge folder. */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "acme.h"
#include "conf/names.h"
#include "core/log.h"
#include "core/path.h"
#include "lb.h"

static bool base64url(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '-' || c == '_';
}

enum lb_acme_match lb_acme_match(const char *target, size_t len, char *token, size_t tokenlen)
{
	const size_t pre = sizeof(LB_ACME_PREFIX) - 1;
	/* every request comes here: a path that neither names the folder nor
	 * hides a letter behind an escape cannot be ACME's */
	const char *q = memchr(target, '?', len);
	size_t plen = q ? (size_t)(q - target) : len;
	if (memchr(target, '%', plen) == NULL && memmem(target, plen, "acme-challenge", 14) == NULL)
		return LB_ACME_NOT_MINE;
	bool sent_mine = len >= pre && memcmp(target, LB_ACME_PREFIX, pre) == 0;
	/* room for the prefix, one token too many (so a longer one is seen) */
	char norm[sizeof(LB_ACME_PREFIX) + LB_ACME_TOKEN_MAX + 1];
	long n = path_normalize(target, len, norm, sizeof(norm), PATH_NO_ENCODED_SLASH);
	bool path_mine = n >= (long)pre && memcmp(norm, LB_ACME_PREFIX, pre) == 0;
	if (!sent_mine && !path_mine)
		return LB_ACME_NOT_MINE;
	if (!path_mine || q != NULL || tokenlen <= LB_ACME_TOKEN_MAX)
		return LB_ACME_BAD;
	size_t t = (size_t)n - pre;
	if (t == 0 || t > LB_ACME_TOKEN_MAX)
		return LB_ACME_BAD;
	for (size_t i = 0; i < t; i++)
		if (!base64url(norm[pre + i]))
			return LB_ACME_BAD;
	memcpy(token, norm + pre, t);
	token[t] = '\0';
	return LB_ACME_TOKEN;
}

/* The key authorization for token, read from the challenge folder into
 * body: its length, or -1 (none: the folder, the file or a regular file of
 * at most LB_ACME_BODY_MAX bytes missing). Symbolic links are not followed. */
static long read_answer(struct lb *lb, const char *token, char *body, size_t bodylen)
{
	char path[TS_PATH_MAX];
	if (daemon_path(lb->d, "{state}/" STATE_ACME_CHALLENGES "/", path, sizeof(path)) < 0 ||
	    strlen(path) + strlen(token) >= sizeof(path))
		return -1;
	strcat(path, token);
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0) {
		if (errno != ENOENT)
			log_warn("%s: %s", path, strerror(errno));
		return -1;
	}
	struct stat st;
	long n = -1;
	if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size <= (off_t)bodylen)
		n = (long)read(fd, body, bodylen);
	close(fd);
	return n;
}

int lb_acme_answer(struct lb *lb, struct httpd_session *s)
{
	char token[LB_ACME_TOKEN_MAX + 1];
	struct str target = s->req->target;
	enum lb_acme_match m = lb_acme_match(target.p, target.len, token, sizeof(token));
	if (m == LB_ACME_NOT_MINE)
		return LB_ACME_DECLINED;
	if (s->req->method != HTTP_GET && s->req->method != HTTP_HEAD)
		return httpd_error(s, 405, false);
	char body[LB_ACME_BODY_MAX];
	long n = m == LB_ACME_TOKEN ? read_answer(lb, token, body, sizeof(body)) : -1;
	if (n < 0)
		return httpd_error(s, 404, false);
	return httpd_respond(s, 200, "application/octet-stream", body, (size_t)n);
}
