/*
 * Interpreted Java methods in the shim's stacks (SOCKTRACE_BACKTRACE): libjvm
 * found by the module scan, its structure tables read by the core
 * (core/st_javawalk.c, shared with the tracer), and at each stack the frame
 * pointer of every interpreter frame taken from libunwind's cursor (the
 * same walk as unw_backtrace's, matched by return address), never guessed.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <link.h>
#include <string.h>

#define UNW_LOCAL_ONLY
#include <libunwind.h>

#include "st_internal.h"
#include "core/st_javawalk.h"

bool st_java_on;
static bool st_jv_wanted;
static struct st_java_layout st_jl;

/* libunwind's cursor, looked up beside unw_backtrace (st_stack.c). */
static int (*st_jv_getcontext)(unw_context_t *);
static int (*st_jv_init_local)(unw_cursor_t *, unw_context_t *);
static int (*st_jv_step)(unw_cursor_t *);
static int (*st_jv_get_reg)(unw_cursor_t *, unw_regnum_t, unw_word_t *);

void st_java_consider(const struct dl_phdr_info *info)
{
	const char *path = info->dlpi_name, *base = path ? strrchr(path, '/') : NULL;
	base = base ? base + 1 : path;
	struct st_dyn_tables d;
	if (!st_jv_wanted || __atomic_load_n(&st_java_on, __ATOMIC_ACQUIRE) || base == NULL ||
	    strcmp(base, "libjvm.so") != 0 || st_jv_step == NULL || !st_dyn_tables(info, &d))
		return;
	uint64_t syms[ST_JV_SYMS];
	for (int i = 0; i < ST_JV_SYMS; i++) {
		const Elf64_Sym *sym = st_dyn_lookup(&d, st_javawalk_symbols[i]);
		if (sym == NULL)
			return;
		syms[i] = d.base + sym->st_value;
	}
	if (st_javawalk_layout((pid_t)st_pid, syms, &st_jl))
		__atomic_store_n(&st_java_on, true, __ATOMIC_RELEASE);
}

void st_java_want(void)
{
	st_jv_wanted = true;
}

void st_java_init(void *libunwind)
{
	st_jv_getcontext = (int (*)(unw_context_t *))dlsym(libunwind, "_Ux86_64_getcontext");
	st_jv_init_local = (int (*)(unw_cursor_t *, unw_context_t *))dlsym(libunwind, "_ULx86_64_init_local");
	st_jv_get_reg = (int (*)(unw_cursor_t *, unw_regnum_t, unw_word_t *))dlsym(libunwind, "_ULx86_64_get_reg");
	int (*step)(unw_cursor_t *) = (int (*)(unw_cursor_t *))dlsym(libunwind, "_ULx86_64_step");
	if (st_jv_getcontext && st_jv_init_local && st_jv_get_reg)
		st_jv_step = step; /* set last: it says the others are there */
}

/* The frame pointers of the stack's interpreter frames (from first on),
 * from libunwind's cursor, matched to the stack by return address: fps[j]
 * for frame j, 0 where none was found. */
static void st_jv_frame_pointers(const struct st_stack *s, unsigned first, uint64_t lo,
				 uint64_t hi, uint64_t *fps)
{
	unw_context_t uc;
	unw_cursor_t c;
	if (st_jv_getcontext(&uc) != 0 || st_jv_init_local(&c, &uc) != 0)
		return;
	unsigned j = first;
	for (unsigned k = 0; k < ST_FRAMES_MAX + ST_OWN_FRAMES_MAX + 16 && j < s->n; k++) {
		unw_word_t ip, fp;
		if (st_jv_get_reg(&c, UNW_REG_IP, &ip) != 0)
			break;
		if (ip == s->ip[j]) {
			if (st_jv_get_reg(&c, UNW_X86_64_RBP, &fp) == 0)
				fps[j] = fp;
			/* on to the stack's next interpreter frame */
			for (j++; j < s->n && !(s->ip[j] >= lo && s->ip[j] < hi); j++)
				;
		}
		if (st_jv_step(&c) <= 0)
			break;
	}
}

void st_java_frames(struct st_stack *s)
{
	uint64_t lo, hi, fps[ST_FRAMES_MAX] = {0};
	unsigned first = s->n;
	if (st_jv_step == NULL || !st_javawalk_interp((pid_t)st_pid, &st_jl, &lo, &hi))
		return;
	for (unsigned i = 0; i < s->n && first == s->n; i++)
		if (s->ip[i] >= lo && s->ip[i] < hi)
			first = i;
	if (first == s->n)
		return; /* no interpreted frame */
	/* the same walk again, with each frame's registers; in libunwind, as
	 * unw_backtrace is: a handler must not re-enter it meanwhile */
	st_record_section_enter();
	st_jv_frame_pointers(s, first, lo, hi, fps);
	st_record_section_leave();
	for (unsigned j = first; j < s->n; j++) {
		uint64_t synth = fps[j] ? st_javawalk_frame((pid_t)st_pid, &st_jl, fps[j]) : 0;
		if (synth != 0)
			s->ip[j] = synth;
	}
}
