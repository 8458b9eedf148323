/* assets.h - the dashboard's files (www/dashboard/), built into
 * tristack-lb by scripts/embed.sh so the LB serves them with no files on
 * disk. */
#ifndef TS_LB_ASSETS_H
#define TS_LB_ASSETS_H

#include <stddef.h>

struct lb_asset {
	const char *name; /* "dashboard.js" */
	const char *type; /* Content-Type */
	const char *etag; /* "\"<crc>-<size>\"", from the build */
	const unsigned char *data;
	size_t len;
};

extern const struct lb_asset lb_assets[];
extern const unsigned lb_nassets;

#endif
