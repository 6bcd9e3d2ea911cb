/* Allocation that cannot fail: a reader that ran out of memory has nothing
 * useful left to print, and a half-built table would print wrong rows. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "st_xalloc.h"

static void *st_xcheck(void *p)
{
	if (p == NULL) {
		fprintf(stderr, "%s: out of memory\n", program_invocation_short_name);
		exit(2);
	}
	return p;
}

void *st_xmalloc(size_t size)
{
	return st_xcheck(malloc(size ? size : 1));
}

void *st_xcalloc(size_t n, size_t size)
{
	return st_xcheck(calloc(n ? n : 1, size ? size : 1));
}

/* n elements of size bytes, with the multiplication checked */
void *st_xrealloc(void *p, size_t n, size_t size)
{
	size_t bytes;
	if (__builtin_mul_overflow(n, size, &bytes))
		return st_xcheck(NULL);
	return st_xcheck(realloc(p, bytes ? bytes : 1));
}

char *st_xstrdup(const char *s)
{
	return st_xcheck(strdup(s));
}
