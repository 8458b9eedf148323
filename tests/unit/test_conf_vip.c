/* [site] vip, the floating address the LB hosts share: what the file may
 * say, where www.<domain> points, who answers for it, and the listeners an
 * LB host adds on it (conf_vip_listen). */
#include <stdio.h>
#include <string.h>

#include "conf/conf.h"
#include "conf_t.h"
#include "t.h"

#define HA                                                                                         \
	"[site]\nvip = 10.0.0.1\n"                                                                 \
	"[host lb-01]\naddress = 10.0.0.11\nroles = lb, dns\n"                                     \
	"[host lb-02]\naddress = 10.0.0.12\nroles = lb, dns\n"                                     \
	"[host web-01]\naddress = 10.0.0.2\nroles = web, app\n"

TEST(stack_vip_checks)
{
	static const struct {
		const char *text, *err;
	} rows[] = {
		{ "[site]\nvip = 10.0.0\n[host lb-01]\naddress = 10.0.0.11\nroles = lb\n",
		  "t.conf:2: bad 'vip' '10.0.0' in [site] (an IPv4 address)" },
		{ "[site]\nvip = fd00::1\n[host lb-01]\naddress = 10.0.0.11\nroles = lb\n",
		  "t.conf:2: bad 'vip' 'fd00::1' in [site] (an IPv4 address)" },
		{ "[site]\nvip = 10.0.0.11\n[host lb-01]\naddress = 10.0.0.11\nroles = lb\n",
		  "t.conf:2: 'vip' in [site] is [host lb-01]'s own address; the floating address "
		  "must be one no host has" },
		{ "[site]\nvip = 10.0.0.1\n[host web-01]\naddress = 10.0.0.2\nroles = web\n",
		  "t.conf:2: 'vip' in [site]: no host has the lb role to hold it" },
	};
	for (size_t i = 0; i < ARRAY_SIZE(rows); i++) {
		t_case("stack vip refused: %s", rows[i].err);
		struct conf s;
		char err[256];
		CHECK_EQ(load(&s, rows[i].text, err, sizeof(err)), -1);
		CHECK_STR(err, rows[i].err);
	}
	t_case("stack vip: www needs no host of that name then");
	struct conf s;
	char err[256];
	CHECK_EQ(load(&s, HA, err, sizeof(err)), 0);
	CHECK_STR(err, "");
	conf_free(&s);
}

TEST(stack_vip_www)
{
	struct conf s;
	char err[256];
	CHECK_EQ(load(&s, HOSTS, err, sizeof(err)), 0);
	t_case("stack without a vip: www is the www host, alone");
	CHECK_STR(conf_www_address(&s), "10.0.0.1");
	CHECK(conf_host_is_www(&s, conf_host(&s, "lb-01")));
	CHECK(!conf_host_is_www(&s, conf_host(&s, "web-01")));
	CHECK(!conf_host_is_www(&s, NULL));
	conf_free(&s);
	t_case("stack with a vip: www is the vip, and every LB host answers for it");
	CHECK_EQ(load(&s, HA, err, sizeof(err)), 0);
	CHECK_STR(conf_www_address(&s), "10.0.0.1");
	CHECK(conf_host_is_www(&s, conf_host(&s, "lb-01")));
	CHECK(conf_host_is_www(&s, conf_host(&s, "lb-02")));
	CHECK(!conf_host_is_www(&s, conf_host(&s, "web-01")));
	conf_free(&s);
}

TEST(stack_vip_listen)
{
	static const struct {
		const char *host, *listen;
		const char *want; /* addr_format, or NULL: none */
	} rows[] = {
		{ "lb-01", "10.0.0.11:80", "10.0.0.1:80" },
		{ "lb-02", "10.0.0.12:443", "10.0.0.1:443" },
		{ "lb-01", "10.0.0.12:80", NULL },   /* another host's address */
		{ "lb-01", "0.0.0.0:80", NULL },     /* the wildcard has the vip already */
		{ "lb-01", "127.0.0.1:8404", NULL }, /* an address of its own choosing */
		{ "lb-01", "unix:/tmp/lb.sock", NULL },
		{ "web-01", "10.0.0.2:80", NULL }, /* not an LB host */
	};
	struct conf s;
	char err[256];
	CHECK_EQ(load(&s, HA, err, sizeof(err)), 0);
	for (size_t i = 0; i < ARRAY_SIZE(rows); i++) {
		t_case("conf_vip_listen %s on %s", rows[i].listen, rows[i].host);
		struct addr l, out;
		CHECK_EQ(addr_parse(rows[i].listen, NULL, &l, err, sizeof(err)), 0);
		int r = conf_vip_listen(&s, conf_host(&s, rows[i].host), &l, &out);
		CHECK_EQ(r, rows[i].want ? 1 : 0);
		char text[128];
		if (r == 1 && rows[i].want)
			CHECK_STR(addr_format(&out, text, sizeof(text)), rows[i].want);
	}
	t_case("conf_vip_listen without a host");
	struct addr l, out;
	CHECK_EQ(addr_parse("10.0.0.11:80", NULL, &l, err, sizeof(err)), 0);
	CHECK_EQ(conf_vip_listen(&s, NULL, &l, &out), 0);
	conf_free(&s);
	t_case("conf_vip_listen without a vip");
	CHECK_EQ(load(&s, HOSTS, err, sizeof(err)), 0);
	CHECK_EQ(addr_parse("10.0.0.1:80", NULL, &l, err, sizeof(err)), 0);
	CHECK_EQ(conf_vip_listen(&s, conf_host(&s, "lb-01"), &l, &out), 0);
	conf_free(&s);
}
