/* app_conf.h - the [app] section of the stack file (app_conf.c). The app
 * also reads [db] (src/conf/conf.h). */
#ifndef TS_APP_CONF_H
#define TS_APP_CONF_H

#include "core/cfg.h"
#include "core/http_conf.h"

struct app_conf {
	struct http_conf http;
};

extern const struct cfg_section app_conf_section;

#endif
