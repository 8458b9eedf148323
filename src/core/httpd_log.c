/* httpd_log.c - what a request leaves behind: its metrics and its access log
 * line (nginx's combined format unless the server has its own), and the
 * client's address as the log shows it. See httpd.h.
 */
#include "httpd.h"
#include "httpd_int.h"

#include <arpa/inet.h>
#include <string.h>
#include <time.h>

#include "net.h"

/* ---- access log ---- */

void httpd_log_escaped(struct buf *b, struct str v)
{
	static const char hex[] = "0123456789ABCDEF";
	for (size_t i = 0; i < v.len && buf_room(b) > 8; i++) {
		unsigned char c = (unsigned char)v.p[i];
		if (c == '"' || c == '\\' || c < 0x20 || c >= 0x7f) {
			char e[4] = { '\\', 'x', hex[c >> 4], hex[c & 15] };
			buf_append(b, e, 4);
		} else {
			buf_append(b, &c, 1);
		}
	}
}

static void log_field(struct buf *b, struct str v)
{
	if (v.len)
		httpd_log_escaped(b, v);
	else
		buf_append_lit(b, "-");
}

void httpd_log_time_format(struct httpd_server *srv, int64_t now)
{
	struct buf b = { .data = srv->log_time, .size = sizeof(srv->log_time) };
	httpd_log_time(&b, now, false);
	srv->log_time_len = (uint8_t)buf_len(&b);
}

void httpd_log_time(struct buf *b, int64_t wall, bool ms)
{
	static const char months[12][4] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun",
		                            "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };
	struct timespec ts;
	time_t now = (time_t)wall;
	long msec = 0;
	if (ms) {
		clock_gettime(CLOCK_REALTIME, &ts);
		now = ts.tv_sec;
		msec = ts.tv_nsec / 1000000;
	}
	struct tm tm;
	gmtime_r(&now, &tm);
	buf_appendf(b, "[%02d/%s/%04d:%02d:%02d:%02d", tm.tm_mday, months[tm.tm_mon],
	            tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
	if (ms)
		buf_appendf(b, ".%03ld]", msec);
	else
		buf_append_lit(b, " +0000]");
}

void httpd_log_request(struct buf *b, const struct httpd_session *s)
{
	if (s->req->head_len == 0)
		return;
	httpd_log_escaped(b, s->req->method_name);
	buf_append_lit(b, " ");
	httpd_log_escaped(b, s->req->raw_target);
	if (s->req->minor)
		buf_append_lit(b, " HTTP/1.1");
	else
		buf_append_lit(b, " HTTP/1.0");
}

/* nginx's "combined": $remote_addr - $remote_user [$time_local] "$request"
 * $status $body_bytes_sent "$http_referer" "$http_user_agent" */
static void log_combined(const struct httpd_session *s, struct buf *b)
{
	char ip[64];
	struct httpd_server *srv = s->srv;
	if (s->req->real_ip_len)
		buf_append(b, s->req->real_ip, s->req->real_ip_len);
	else
		buf_append(b, ip, strlen(httpd_session_client_ip(s, ip, sizeof(ip))));
	buf_append_lit(b, " - - ");
	httpd_refresh_common(srv);
	buf_append(b, srv->log_time, srv->log_time_len);
	buf_append_lit(b, " \"");
	httpd_log_request(b, s);
	buf_append_lit(b, "\" ");
	buf_append_u64(b, (uint64_t)(s->req->status > 0 ? s->req->status : 0));
	buf_append_lit(b, " ");
	buf_append_u64(b, s->req->bytes_out);
	buf_append_lit(b, " \"");
	log_field(b, s->req->referer);
	buf_append_lit(b, "\" \"");
	log_field(b, s->req->user_agent);
	buf_append_lit(b, "\"\n");
}

static void access_log(struct httpd_session *s)
{
	struct httpd_server *srv = s->srv;
	char line[4096];
	struct buf b = { .data = line, .size = sizeof(line) - 1 };
	if (srv->log_line)
		srv->log_line(s, &b);
	else
		log_combined(s, &b);
	if (buf_len(&b) == 0 || line[buf_len(&b) - 1] != '\n')
		line[b.tail++] = '\n'; /* a line cut short still ends */
	log_file_write(srv->access_log, line, buf_len(&b));
}

void httpd_count_request(struct httpd_session *s)
{
	struct httpd_server *srv = s->srv;
	if (srv->count) {
		int cls = s->req->status >= 100 && s->req->status < 600 ? s->req->status / 100 : 0;
		struct metrics_shard *sh = srv->w->shard;
		metrics_add(sh, srv->m.requests[cls], 1);
		metrics_add(sh, srv->m.bytes_out, (int64_t)s->req->bytes_out);
		if (s->req->t_start_us)
			metrics_observe(srv->w->d->metrics, sh, srv->m.duration_id,
			                (double)(httpd_now_us() - s->req->t_start_us) / 1e6);
	}
	if (srv->access_log)
		access_log(s);
}

/* ---- the client ---- */

int httpd_session_client_port(const struct httpd_session *s)
{
	const struct sockaddr *sa = (const struct sockaddr *)&s->peer;
	if (sa->sa_family == AF_INET)
		return ntohs(((const struct sockaddr_in *)(const void *)sa)->sin_port);
	if (sa->sa_family == AF_INET6)
		return ntohs(s->peer.sin6_port);
	return 0;
}

struct str httpd_session_client_ip_str(struct httpd_session *s)
{
	if (s->req->peer_text_len == 0) {
		sockaddr_ip((const struct sockaddr *)&s->peer, s->req->peer_text,
		            sizeof(s->req->peer_text));
		s->req->peer_text_len = (uint8_t)strlen(s->req->peer_text);
	}
	return (struct str){ s->req->peer_text, s->req->peer_text_len };
}

const char *httpd_session_client_ip(const struct httpd_session *s, char *out, size_t len)
{
	return sockaddr_ip((const struct sockaddr *)&s->peer, out, len);
}
