/*
 * SOCKTRACE_SIZE, read the same way by every front-end (the shim, the
 * launcher's tracer): decimal digits and an optional unit, clamped to the
 * sizes a trace can have and rounded down to whole chunks.  The front-end
 * says the problem in its own way.
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <strings.h>

#include "st_core.h"

#define ST_DEFAULT_SIZE (64ull << 20)
#define ST_MAX_SIZE (4ull << 40) /* far below ST_SEALED; sparse, so cheap */
#define ST_MIN_SIZE ((uint64_t)ST_HEADER_SIZE + ST_CHUNK_SIZE)

static bool st_suffix(const char *s, uint64_t *mult)
{
	static const struct {
		const char *name;
		uint64_t mult;
	} units[] = {
		{"", 1},
		{"k", 1ull << 10}, {"kib", 1ull << 10}, {"kb", 1000ull},
		{"m", 1ull << 20}, {"mib", 1ull << 20}, {"mb", 1000000ull},
		{"g", 1ull << 30}, {"gib", 1ull << 30}, {"gb", 1000000000ull},
		{"t", 1ull << 40}, {"tib", 1ull << 40}, {"tb", 1000000000000ull},
	};
	for (size_t i = 0; i < sizeof units / sizeof units[0]; i++)
		if (strcasecmp(s, units[i].name) == 0) {
			*mult = units[i].mult;
			return true;
		}
	return false;
}

/* Decimal digits, then an optional unit; false for anything else. */
static bool st_parse_bytes(const char *s, uint64_t *out)
{
	if (!isdigit((unsigned char)s[0]))
		return false;
	errno = 0;
	char *end;
	unsigned long long v = strtoull(s, &end, 10);
	uint64_t mult;
	if (errno == ERANGE || !st_suffix(end, &mult))
		return false;
	*out = v > UINT64_MAX / mult ? UINT64_MAX : v * mult;
	return true;
}

const char *st_size_parse(const char *s, uint64_t *size)
{
	*size = ST_DEFAULT_SIZE;
	if (s == NULL || *s == '\0')
		return NULL;
	uint64_t v;
	if (!st_parse_bytes(s, &v) || v == 0)
		return " is not a trace size (a number with K, M, G or T, such as 64M); using 64M";
	if (v > ST_MAX_SIZE) {
		*size = ST_MAX_SIZE;
		return " is larger than the largest trace; using 4T";
	}
	if (v < ST_MIN_SIZE) {
		*size = ST_MIN_SIZE;
		return " is smaller than the smallest trace; using 20K";
	}
	*size = v - (v - ST_HEADER_SIZE) % ST_CHUNK_SIZE;
	return NULL;
}
