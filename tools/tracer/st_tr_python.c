/*
 * Python frames in the tracer's stacks (-k): CPython (3.11 to 3.15) found in a traced
 * process's objects (the executable or a libpython, from /proc/PID/maps, its
 * three symbols read from the file's dynamic symbol table), then at each
 * stack the stopped thread's frames read from the process's memory by the
 * core's walker (shim/core/st_pywalk.c, the shim's own read-by-system-call
 * path), the thread matched by its native_thread_id.  The program is
 * stopped while it is read, so its frames cannot change under the read; a
 * failed or implausible read leaves the native stack alone.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../shim/core/st_pywalk.h"
#include "st_tracer.h"

static const char *const st_tr_py_names[] = {"Py_Version", "_PyRuntime", "_PyEval_EvalFrameDefault"};

/* The values of CPython's three symbols in the file's .dynsym; false when
 * any is missing (Py_Version may be: before 3.11). */
struct st_tr_py_syms {
	uint64_t version, runtime, eval, eval_size;
};

static bool st_tr_py_syms(int fd, struct st_tr_py_syms *out)
{
	uint64_t values[3], sizes[3];
	if (!st_tr_dynsyms(fd, st_tr_py_names, 3, values, sizes))
		return false;
	*out = (struct st_tr_py_syms){values[0], values[1], values[2], sizes[2]};
	return out->runtime && out->eval && out->eval_size; /* no version: before 3.11 */
}

/* Whether the object at path (name only) may be CPython: the interpreter
 * itself or its library. */
static bool st_tr_py_named(const char *path)
{
	const char *base = strrchr(path, '/');
	base = base ? base + 1 : path;
	return strncmp(base, "python3", 7) == 0 || strncmp(base, "libpython3.", 11) == 0;
}

void st_tr_python_object(struct st_tr_proc *p, int fd, uint64_t bias, const char *path)
{
	static bool off_said, version_said;
	const char *env = getenv("SOCKTRACE_PYTHON");
	struct st_tr_py_syms syms;
	if (p == NULL || p->py_runtime != 0 || (env && strcmp(env, "0") == 0) ||
	    !st_tr_py_named(path) || !st_tr_py_syms(fd, &syms))
		return;
	uint64_t version = 0;
	uint8_t debug[ST_PYDBG_READ];
	if (syms.version != 0 && !st_tr_read(p->pid, bias + syms.version, &version, sizeof version))
		return;
	bool debug_read = st_tr_read(p->pid, bias + syms.runtime, debug, sizeof debug);
	if (!st_py_layout_for((uint32_t)version, debug_read ? debug : NULL, &p->py_layout)) {
		char which[32] = "older than 3.11";
		if (version != 0)
			snprintf(which, sizeof which, "3.%u", (unsigned)(version >> 16 & 0xff));
		if (!version_said && !off_said)
			fprintf(stderr, "socktrace: %s is CPython %s, not one socktrace reads "
					"(3.11 to 3.15, with the GIL): its stacks show native frames only\n",
				path, which);
		version_said = true;
		return;
	}
	p->py_version = (uint32_t)version;
	p->py_runtime = bias + syms.runtime;
	p->py_eval_lo = bias + syms.eval;
	p->py_eval_hi = p->py_eval_lo + syms.eval_size;
}

void st_tr_python_frames(struct st_tr_thread *t, struct st_stack *s)
{
	static struct st_py_scratch scratch; /* one stop at a time */
	const struct st_tr_proc *p = t->proc;
	if (p->py_runtime == 0 || s->n == 0)
		return;
	struct st_py_target target = {
		.pid = p->pid,
		.runtime = p->py_runtime,
		.layout = &p->py_layout,
		.eval_lo = p->py_eval_lo,
		.eval_hi = p->py_eval_hi,
		.version = p->py_version,
		.by_native_id = true,
		.id = (uint64_t)t->tid,
		.tstate_hint = &t->py_tstate,
	};
	struct st_py_frame py[ST_PY_FRAMES_MAX];
	int np = st_pywalk_frames(&target, py, ST_PY_FRAMES_MAX, &scratch);
	if (np > 0)
		st_pywalk_merge(&target, s, py, np);
}

void st_tr_python_forget(struct st_tr_proc *p)
{
	p->py_runtime = p->py_eval_lo = p->py_eval_hi = 0;
	p->py_looked = false;
	st_pywalk_forget(p->pid);
}
