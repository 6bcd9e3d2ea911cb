/*
 * Text output of bytes that came from a trace (Unix socket paths, program
 * names, host names, symbol and file names from the traced program's own
 * binaries): a trace is untrusted input, and a raw ESC or newline would let
 * it drive the user's terminal or forge a line.  Valid UTF-8 is kept;
 * control characters (C0, DEL, C1), backslashes and invalid bytes become
 * \n, \t, \\ or \xHH, as the JSON views already escape theirs.
 */
#include <stdint.h>
#include <string.h>

#include "st_escape.h"

/* Length of the valid, printable UTF-8 sequence at s (0 = escape s[0]). */
static size_t st_utf8_ok(const unsigned char *s, size_t n)
{
	unsigned char c = s[0];
	if (c >= 0x20 && c < 0x7f)
		return c == '\\' ? 0 : 1;
	size_t len = c >= 0xc2 && c <= 0xdf ? 2 : c >= 0xe0 && c <= 0xef ? 3
						: c >= 0xf0 && c <= 0xf4 ? 4 : 0;
	if (len == 0 || len > n)
		return 0;
	uint32_t cp = c & (0x7f >> len);
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	static const uint32_t least[] = {0, 0, 0x80, 0x800, 0x10000};
	if (cp < least[len] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff) ||
	    (cp >= 0x80 && cp <= 0x9f))
		return 0;
	return len;
}

size_t st_escape(char *out, size_t size, const char *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *b = (const unsigned char *)s;
	size_t o = 0;
	for (size_t i = 0; i < n && size > 0;) {
		size_t ok = st_utf8_ok(b + i, n - i);
		char esc[4];
		size_t elen = 0;
		if (ok == 0) {
			unsigned char c = b[i];
			esc[0] = '\\';
			esc[1] = c == '\n' ? 'n' : c == '\t' ? 't' : c == '\\' ? '\\' : 'x';
			elen = 2;
			if (esc[1] == 'x') {
				esc[2] = hex[c >> 4];
				esc[3] = hex[c & 15];
				elen = 4;
			}
		}
		size_t take = ok ? ok : elen;
		if (o + take >= size)
			break;
		memcpy(out + o, ok ? (const char *)b + i : esc, take);
		o += take;
		i += ok ? ok : 1;
	}
	if (size > 0)
		out[o] = '\0';
	return o;
}

void st_fput_escaped(FILE *out, const char *s, size_t n)
{
	char buf[512];
	while (n > 0) {
		/* at most 4 output bytes per input byte */
		size_t chunk = n < sizeof buf / 4 ? n : sizeof buf / 4;
		/* never cut a UTF-8 sequence: back up to a lead byte */
		while (chunk < n && chunk > 0 && ((unsigned char)s[chunk] & 0xc0) == 0x80)
			chunk--;
		if (chunk == 0)
			chunk = n < sizeof buf / 4 ? n : sizeof buf / 4;
		size_t len = st_escape(buf, sizeof buf, s, chunk);
		fwrite(buf, 1, len, out);
		s += chunk;
		n -= chunk;
	}
}

void st_fput_escaped_cstr(FILE *out, const char *s)
{
	st_fput_escaped(out, s, strlen(s));
}
