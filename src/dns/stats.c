/* stats.c - tristack-dns's admin listener. See stats.h. */
#include "stats.h"

#include <stdlib.h>

#include "core/httpd.h"

struct dns_admin {
	struct http_server srv;
};

struct dns_admin *dns_admin_listen(struct worker *w, const struct addr *a, char *err, size_t errlen)
{
	struct dns_admin *da = xcalloc(1, sizeof(*da));
	http_server_init(&da->srv, w, NULL, http_admin_handler, w->d);
	if (http_server_listen(&da->srv, a, err, errlen) < 0) {
		http_server_free(&da->srv);
		free(da);
		return NULL;
	}
	return da;
}

void dns_admin_stop(struct dns_admin *da)
{
	if (da)
		http_server_stop(&da->srv);
}

void dns_admin_free(struct dns_admin *da)
{
	if (da == NULL)
		return;
	http_server_free(&da->srv);
	free(da);
}
