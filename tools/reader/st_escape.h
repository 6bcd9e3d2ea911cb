/* Trace bytes made safe for a terminal (st_escape.c). */
#ifndef ST_ESCAPE_H
#define ST_ESCAPE_H

#include <stddef.h>
#include <stdio.h>

/* Escaped copy of s[0..n) into out (always NUL-terminated); returns its length. */
size_t st_escape(char *out, size_t size, const char *s, size_t n);
void st_fput_escaped(FILE *out, const char *s, size_t n);
void st_fput_escaped_cstr(FILE *out, const char *s);

#endif
