/* dns_fixture.c - the DNS tests' zones. See dns_fixture.h. */
#include "dns_fixture.h"

#include <stdio.h>

int dns_fixture_load(struct dns_zone *z, const char *text, char *err, size_t errlen)
{
	return dns_zone_load_string(z, "z.zone", text, "example", 300, err, errlen);
}

const struct dns_zone *dns_fixture_example(void)
{
	static struct dns_zone z;
	static int ready;
	if (!ready) {
		char err[256];
		if (dns_fixture_load(&z, DNS_FIXTURE_EXAMPLE_ZONE, err, sizeof(err)) < 0) {
			printf("example zone: %s\n", err);
			return NULL;
		}
		ready = 1;
	}
	return &z;
}

int dns_fixture_from_stack(struct dns_zone *z, struct conf *s, const char *conf, uint32_t ttl,
                           char *err, size_t errlen)
{
	if (conf_load_string(s, "t.conf", conf, err, errlen) < 0)
		return -1;
	if (dns_zone_from_stack(z, s, ttl, err, errlen) < 0) {
		conf_free(s);
		return -1;
	}
	return 0;
}
