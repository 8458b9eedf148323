/* httpdate.c - reading HTTP dates (RFC 9110 5.6.7). Writing them is
 * http_date() in http.c. */
#include <string.h>
#include <time.h>

#include "http.h"

static int two_digits(const char *p)
{
	if (p[0] < '0' || p[0] > '9' || p[1] < '0' || p[1] > '9')
		return -1;
	return (p[0] - '0') * 10 + (p[1] - '0');
}

/* IMF-fixdate only: "Sun, 06 Nov 1994 08:49:37 GMT", with the date's own
 * weekday. The obsolete RFC 850 and asctime forms are refused, so a
 * condition using them is ignored. */
int http_date_parse(struct str s, int64_t *out)
{
	static const char days[] = "SunMonTueWedThuFriSat";
	static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
	const char *p = s.p;
	if (s.len != 29 || p[3] != ',' || p[4] != ' ' || p[7] != ' ' || p[11] != ' ' ||
	    p[16] != ' ' || p[19] != ':' || p[22] != ':' || memcmp(p + 25, " GMT", 4) != 0)
		return -1;
	int wday = -1, mon = -1;
	for (int i = 0; i < 7; i++)
		if (memcmp(p, days + 3 * i, 3) == 0)
			wday = i;
	for (int i = 0; i < 12; i++)
		if (memcmp(p + 8, months + 3 * i, 3) == 0)
			mon = i;
	int mday = two_digits(p + 5), y1 = two_digits(p + 12), y2 = two_digits(p + 14);
	int hh = two_digits(p + 17), mm = two_digits(p + 20), ss = two_digits(p + 23);
	if (wday < 0 || mon < 0 || mday < 1 || mday > 31 || y1 < 0 || y2 < 0 || hh < 0 || hh > 23 ||
	    mm < 0 || mm > 59 || ss < 0 || ss > 60)
		return -1;
	struct tm tm = { .tm_year = y1 * 100 + y2 - 1900,
		         .tm_mon = mon,
		         .tm_mday = mday,
		         .tm_hour = hh,
		         .tm_min = mm,
		         .tm_sec = ss };
	time_t t = timegm(&tm);
	if (t == (time_t)-1 || tm.tm_mday != mday)
		return -1; /* 31 Feb and friends */
	if (tm.tm_wday != wday)
		return -1; /* "Mon, 06 Nov 1994" (a Sunday) is no real date */
	*out = (int64_t)t;
	return 0;
}
