/* app_conf.c - the [app] section's keys. See app_conf.h. */
#include "app_conf.h"

#include "conf/conf.h"

static const struct cfg_key app_keys[] = {
	HTTP_CONF_KEYS(struct app_conf, ":9000", "16k", "0"),
	CFG_KEY("admin", CFG_STR, struct app_conf, http.admin, ":9001", 0, 0),
	CFG_KEY_END,
};

const struct cfg_section app_conf_section = {
	.name = "app",
	.keys = app_keys,
	.off = offsetof(struct conf, app),
};
