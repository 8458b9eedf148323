/* httpdate.c - HTTP dates (RFC 9110 5.6.7): writing them (http_date) and
 * reading them (http_date_parse). See http.h. */
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

void http_date(int64_t t, char out[30])
{
	static const char days[7][4] = { "Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat" };
	static const char months[12][4] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun",
		                            "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };
	struct tm tm;
	time_t tt = (time_t)t;
	gmtime_r(&tt, &tm);
	/* Built by hand: strftime depends on the locale. */
	char *p = out;
	memcpy(p, days[tm.tm_wday], 3);
	p += 3;
	*p++ = ',';
	*p++ = ' ';
	*p++ = (char)('0' + tm.tm_mday / 10);
	*p++ = (char)('0' + tm.tm_mday % 10);
	*p++ = ' ';
	memcpy(p, months[tm.tm_mon], 3);
	p += 3;
	*p++ = ' ';
	int y = tm.tm_year + 1900;
	*p++ = (char)('0' + y / 1000 % 10);
	*p++ = (char)('0' + y / 100 % 10);
	*p++ = (char)('0' + y / 10 % 10);
	*p++ = (char)('0' + y % 10);
	*p++ = ' ';
	*p++ = (char)('0' + tm.tm_hour / 10);
	*p++ = (char)('0' + tm.tm_hour % 10);
	*p++ = ':';
	*p++ = (char)('0' + tm.tm_min / 10);
	*p++ = (char)('0' + tm.tm_min % 10);
	*p++ = ':';
	*p++ = (char)('0' + tm.tm_sec / 10);
	*p++ = (char)('0' + tm.tm_sec % 10);
	memcpy(p, " GMT", 5);
}
