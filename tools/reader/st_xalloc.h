/* Allocation for the reader and its views: out of memory is said once, in
 * one form, and ends the program with status 2 (st_xalloc.c). */
#ifndef ST_XALLOC_H
#define ST_XALLOC_H

#include <stddef.h>

void *st_xmalloc(size_t size);
void *st_xcalloc(size_t n, size_t size);
void *st_xrealloc(void *p, size_t n, size_t size);
char *st_xstrdup(const char *s);

#endif
