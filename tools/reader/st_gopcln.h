/* Go functions named from an object's .gopclntab (see st_gopcln.c). */
#ifndef ST_GOPCLN_H
#define ST_GOPCLN_H

#include <gelf.h>
#include <stdbool.h>
#include <stdint.h>

struct st_gopcln;

/* The table of a Go object (Go 1.18 and later), or NULL when it has none or
 * one this reader does not know.  Reads from elf, which must outlive it. */
struct st_gopcln *st_gopcln_open(Elf *elf);
/* The function holding vaddr (an address in the object's own terms), its
 * entry, and its file and line (NULL, 0 when unknown); false when no
 * function holds it.  The strings live in the object's table. */
bool st_gopcln_lookup(const struct st_gopcln *g, uint64_t vaddr, const char **name,
		      uint64_t *entry, const char **file, int *line);
void st_gopcln_free(struct st_gopcln *g);

#endif
