/*
 * Interpreted Java methods in the tracer's stacks (-k): libjvm found in a
 * traced process's objects (its tables' symbols from the file's dynamic
 * symbol table), its structure tables read from the stopped program by the
 * core (shim/core/st_javawalk.c, shared with the shim), and at each stack
 * every interpreter frame named from the frame pointer libunwind's cursor
 * gave for it.  A frame that does not check out keeps its native address.
 */
#define _GNU_SOURCE
#include <stdlib.h>
#include <string.h>

#include "../../shim/core/st_javawalk.h"
#include "st_tracer.h"

void st_tr_java_object(struct st_tr_proc *p, int fd, uint64_t bias, const char *path)
{
	const char *env = getenv("SOCKTRACE_JAVA"), *base = strrchr(path, '/');
	base = base ? base + 1 : path;
	uint64_t syms[ST_JV_SYMS], sizes[ST_JV_SYMS];
	if (p == NULL || p->java != NULL || (env && strcmp(env, "0") == 0) ||
	    strcmp(base, "libjvm.so") != 0 || !st_tr_dynsyms(fd, st_javawalk_symbols, ST_JV_SYMS, syms, sizes))
		return;
	for (int i = 0; i < ST_JV_SYMS; i++) {
		if (syms[i] == 0)
			return;
		syms[i] += bias;
	}
	struct st_java_layout *l = malloc(sizeof *l);
	if (l != NULL && st_javawalk_layout(p->pid, syms, l))
		p->java = l;
	else
		free(l);
}

void st_tr_java_frames(struct st_tr_proc *p, struct st_stack *s, const uint64_t *fps)
{
	uint64_t lo, hi;
	if (p->java == NULL || !st_javawalk_interp(p->pid, p->java, &lo, &hi))
		return;
	for (unsigned j = 0; j < s->n; j++) {
		if (s->ip[j] < lo || s->ip[j] >= hi || fps[j] == 0)
			continue;
		uint64_t synth = st_javawalk_frame(p->pid, p->java, fps[j]);
		if (synth != 0)
			s->ip[j] = synth;
	}
}

void st_tr_java_forget(struct st_tr_proc *p)
{
	free(p->java);
	p->java = NULL;
	st_javawalk_forget(p->pid);
}
