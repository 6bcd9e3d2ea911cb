/* Python frames (version 5): code records kept, and frames named from them. */
#ifndef ST_PYSYMS_H
#define ST_PYSYMS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "st_trace.h"

struct st_pysyms;

struct st_pysyms *st_pysyms_new(void);
/* A code record as the trace gives it, in time order per process; copied. */
void st_pysyms_add(struct st_pysyms *p, const struct st_pyc *r);
/* The file, qualified name and line (0 = unknown) of a frame of pid at ts:
 * false when no record names code.  The strings live as long as p. */
bool st_pysyms_name(const struct st_pysyms *p, uint32_t pid, uint64_t code, int64_t instr,
		    uint64_t ts, const char **file, const char **name, int *line);
/* CPython 3.11's location table: the line of instruction instr (code units),
 * firstlineno before the first, 0 when the table does not say. */
int st_pysyms_line(const uint8_t *table, size_t len, int firstlineno, int64_t instr);
void st_pysyms_free(struct st_pysyms *p);

#endif
