/* Naming stack addresses after the fact, from the module records of a trace,
 * with elfutils' libdwfl (symbol tables, and DWARF line tables when present). */
#ifndef ST_SYMBOLS_H
#define ST_SYMBOLS_H

#include "st_trace.h"

struct st_frame {
	uint64_t ip;
	const char *sym;  /* NULL when it cannot be named */
	uint64_t off;     /* from sym, or from the object's start when sym is NULL */
	const char *obj;  /* NULL when no recorded object holds ip */
	const char *file; /* source file, NULL without debug information */
	int line;         /* 0 without debug information */
	bool changed;     /* the object on disk no longer matches its build-id */
};

struct st_symbolizer;

struct st_symbolizer *st_sym_new(struct st_trace *traces, size_t ntraces);
void st_sym_frame(struct st_symbolizer *s, const struct st_ev *ev, uint64_t ip,
		  struct st_frame *out);
void st_sym_free(struct st_symbolizer *s);

#endif
