/* httpchar.c - the byte class table of httpchar.h. */
#include "httpchar.h"

#include <string.h>

uint8_t http_char_class[256];

static void init_classes(void)
{
	static const char tspecial[] = "!#$%&'*+-.^_`|~";
	static const char hostchars[] = "-._~!$&'()*+,;=:[]%";
	for (int c = 0; c < 256; c++) {
		uint8_t v = 0;
		bool alnum =
		    (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
		if (alnum || (c && strchr(tspecial, c)))
			v |= C_TCHAR;
		if (c == '\t' || (c >= 0x20 && c != 0x7f))
			v |= C_FIELD;
		if (c > 0x20 && c < 0x7f)
			v |= C_TARGET;
		if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'))
			v |= C_HEX;
		if (alnum || (c && strchr(hostchars, c)))
			v |= C_HOST;
		if (c == '\t' || c == ' ' || c == 0x21 || (c >= 0x23 && c <= 0x5b) ||
		    (c >= 0x5d && c <= 0x7e) || c >= 0x80)
			v |= C_QDTEXT;
		http_char_class[c] = v;
	}
}

/* The table is filled before main() runs, so threads only ever read it. */
__attribute__((constructor)) static void http_char_init(void)
{
	init_classes();
}
