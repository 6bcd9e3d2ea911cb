/*
 * Number and string output without printf: the text and JSON views print
 * millions of lines, and vfprintf was 70% of their time.  Unlocked stdio:
 * the reader is single-threaded.
 */
#ifndef ST_FMT_H
#define ST_FMT_H

#include <stdint.h>
#include <stdio.h>
#include <string.h>

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

/*
 * A line built in memory and handed to stdio in one fwrite: the text and
 * JSON views made about twenty stdio calls per event line, and stdio's own
 * bookkeeping (fwrite, xsputn, strlen) was 40% of -n's time.  Bounded: a
 * line longer than the buffer goes out in pieces, in order.  Anything
 * written to the FILE directly must come after st_line_flush.
 */
#define ST_LINE_CAP 1024

struct st_line {
	FILE *out;
	size_t n;
	char b[ST_LINE_CAP];
};

static inline void st_line_init(struct st_line *l, FILE *out)
{
	l->out = out;
	l->n = 0;
}

static inline void st_line_flush(struct st_line *l)
{
	if (l->n)
		fwrite_unlocked(l->b, 1, l->n, l->out);
	l->n = 0;
}

/* Room for need more bytes (need <= ST_LINE_CAP), flushing first if full. */
static inline char *st_line_room(struct st_line *l, size_t need)
{
	if (l->n + need > ST_LINE_CAP)
		st_line_flush(l);
	return l->b + l->n;
}

static inline void st_line_mem(struct st_line *l, const char *s, size_t n)
{
	if (n > ST_LINE_CAP) {
		st_line_flush(l);
		fwrite_unlocked(s, 1, n, l->out);
		return;
	}
	memcpy(st_line_room(l, n), s, n);
	l->n += n;
}

static inline void st_line_s(struct st_line *l, const char *s)
{
	st_line_mem(l, s, strlen(s));
}

/* a string literal, its length known at compile time */
#define st_line_lit(l, lit) st_line_mem((l), "" lit, sizeof(lit) - 1)

static inline void st_line_c(struct st_line *l, char c)
{
	*st_line_room(l, 1) = c;
	l->n++;
}

/* "00" to "99": numbers are written two digits per division, which halves
 * the divisions of the views' hottest loop (times, pids, fds, ports). */
static const char st_fmt_pairs[201] =
	"00010203040506070809101112131415161718192021222324252627282930313233343536373839"
	"40414243444546474849505152535455565758596061626364656667686970717273747576777879"
	"8081828384858687888990919293949596979899";

/* How many decimal digits v has, from its bit length (1233/4096 is just
 * over log10(2)) and one comparison: a count by tens took 19 steps for
 * every nanosecond time stamp of --json. */
static inline size_t st_fmt_ndigits(uint64_t v)
{
	static const uint64_t pow10[20] = {
		1ull, 10ull, 100ull, 1000ull, 10000ull, 100000ull, 1000000ull, 10000000ull,
		100000000ull, 1000000000ull, 10000000000ull, 100000000000ull,
		1000000000000ull, 10000000000000ull, 100000000000000ull,
		1000000000000000ull, 10000000000000000ull, 100000000000000000ull,
		1000000000000000000ull, 10000000000000000000ull};
	if (v < 10)
		return 1;
	size_t t = ((size_t)(64 - __builtin_clzll(v)) * 1233) >> 12;
	return t + 1 - (v < pow10[t]);
}

/* v's n digits written backwards from dst+n, into place: no copy of a
 * variable length (a memcpy call per number cost more than it saved). */
static inline void st_fmt_digits(char *dst, size_t n, uint64_t v)
{
	char *p = dst + n;
	while (v >= 100) {
		unsigned pair = (unsigned)(v % 100);
		v /= 100;
		p -= 2;
		p[0] = st_fmt_pairs[2 * pair];
		p[1] = st_fmt_pairs[2 * pair + 1];
	}
	if (v >= 10) {
		p[-2] = st_fmt_pairs[2 * v];
		p[-1] = st_fmt_pairs[2 * v + 1];
	} else {
		p[-1] = (char)('0' + v);
	}
}

static inline void st_line_u(struct st_line *l, uint64_t v)
{
	size_t n = st_fmt_ndigits(v);
	st_fmt_digits(st_line_room(l, n), n, v);
	l->n += n;
}

static inline void st_line_i(struct st_line *l, int64_t v)
{
	if (v < 0) {
		st_line_c(l, '-');
		st_line_u(l, (uint64_t)0 - (uint64_t)v);
	} else {
		st_line_u(l, (uint64_t)v);
	}
}

/* v in exactly width (<= 20) digits, zero-padded */
static inline void st_line_u_width(struct st_line *l, uint64_t v, int width)
{
	char *p = st_line_room(l, (size_t)width);
	int i = width;
	for (; i >= 2; i -= 2, v /= 100) {
		p[i - 2] = st_fmt_pairs[2 * (v % 100)];
		p[i - 1] = st_fmt_pairs[2 * (v % 100) + 1];
	}
	if (i == 1)
		p[0] = (char)('0' + v % 10);
	l->n += (size_t)width;
}

#endif
