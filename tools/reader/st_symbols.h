/* Naming stack addresses after the fact, from the module records of a trace,
 * with elfutils' libdwfl (symbol tables, and DWARF line tables when present). */
#ifndef ST_SYMBOLS_H
#define ST_SYMBOLS_H

#include <stdio.h>

#include "st_trace.h"

struct st_frame {
	uint64_t ip;
	const char *sym;  /* demangled; NULL when it cannot be named */
	uint64_t off;     /* from sym, or from the object's start when sym is NULL */
	const char *obj;  /* NULL when no recorded object holds ip */
	const char *file; /* source file, NULL without debug information */
	int line;         /* 0 without debug information */
	bool changed;     /* the object on disk no longer matches its build-id */
	/* version 5: a Python frame: ip is its code object, off its last
	 * instruction, sym its qualified name, file and line its source
	 * (sym and file NULL when no code record names it) */
	bool py;
	/* version 5: code a JIT made, named from the program's perf map: sym
	 * its function, file V8's place ("/srv/app.js:12:20") or NULL; js: V8;
	 * java: an interpreted Java method (ST_FRAME_JAVA), file and line its
	 * source's */
	bool jit, js, java;
};

struct st_symbolizer;

/* warn: where to say, once per object, why its frames cannot be named
 * (NULL: nowhere). */
struct st_symbolizer *st_sym_new(FILE *warn);
/* Records as the trace gives them, in any order; copied. */
void st_sym_add_module(struct st_symbolizer *s, const struct st_mod *m);
void st_sym_add_process(struct st_symbolizer *s, const struct st_proc *p);
/* All the module and process records of loaded traces at once. */
void st_sym_add_traces(struct st_symbolizer *s, const struct st_trace *t, size_t n);
void st_sym_frame(struct st_symbolizer *s, const struct st_ev *ev, uint64_t ip,
		  struct st_frame *out);
/* Frame i of ev, native or Python; returns the slots it takes (1, or 2 for
 * a Python frame). */
unsigned st_sym_frame_at(struct st_symbolizer *s, const struct st_ev *ev, unsigned i,
			 struct st_frame *out);
/* version 5: a JIT symbol record, as the trace gives it; copied */
void st_sym_add_jit(struct st_symbolizer *s, const struct st_jit *j);
bool st_sym_has_jit(const struct st_symbolizer *s); /* a JIT record was added */
/* -f on a trace of this boot: JIT frames of running programs named from
 * their own perf maps until the trace's copy comes at their exit. */
void st_sym_live_jit(struct st_symbolizer *s, const char *boot_id, uint64_t clock_offset_ns);
/* version 5: a Python code record, as the trace gives it; copied */
void st_sym_add_pycode(struct st_symbolizer *s, const struct st_pyc *c);
/* Objects opened, and frames named by libdwfl (not from the cache). */
void st_sym_counts(const struct st_symbolizer *s, size_t *opened, size_t *named);
void st_sym_free(struct st_symbolizer *s);

#endif
