/*
 * Number and string output without printf: the text and JSON views print
 * millions of lines, and vfprintf was 70% of their time.  Unlocked stdio:
 * the reader is single-threaded.
 */
#ifndef ST_FMT_H
#define ST_FMT_H

#include <stdint.h>
#include <stdio.h>

static inline void st_put_s(FILE *out, const char *s)
{
	fputs_unlocked(s, out);
}

static inline void st_put_c(FILE *out, char c)
{
	putc_unlocked(c, out);
}

static inline void st_put_u(FILE *out, uint64_t v)
{
	char b[24];
	int n = 0;
	do
		b[n++] = (char)('0' + v % 10);
	while (v /= 10);
	while (n)
		putc_unlocked(b[--n], out);
}

static inline void st_put_i(FILE *out, int64_t v)
{
	if (v < 0) {
		putc_unlocked('-', out);
		st_put_u(out, (uint64_t)0 - (uint64_t)v);
	} else {
		st_put_u(out, (uint64_t)v);
	}
}

/* v in exactly width digits, zero-padded */
static inline void st_put_u_width(FILE *out, uint64_t v, int width)
{
	char b[24];
	for (int i = width - 1; i >= 0; i--, v /= 10)
		b[i] = (char)('0' + v % 10);
	fwrite_unlocked(b, 1, (size_t)width, out);
}

#endif
