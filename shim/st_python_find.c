/*
 * Finding CPython (3.11 to 3.15) in a process, for the Python frames of its stacks
 * (st_python.c reads them): its version, its runtime state and the range of
 * the interpreter loop, from the program's global symbols at start-up, or
 * from a libpython the program loads itself later (dlopen, RTLD_LOCAL, as
 * plugins and embedding programs do), looked up in the library's loaded
 * dynamic symbol table when the module scan first sees it.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <link.h>
#include <string.h>

#include "st_internal.h"

bool st_python_on;
struct st_py_where st_py_where;
static bool st_py_wanted; /* stacks on, SOCKTRACE_PYTHON not 0 */

/* CPython's version and runtime state into st_py_where, when its layout is
 * one read here (from 3.13 its debug table, at the start of _PyRuntime). */
static bool st_python_take(uint32_t version, uintptr_t runtime, uintptr_t eval, size_t eval_size)
{
	if (!st_py_layout_for(version, (const uint8_t *)runtime, &st_py_where.layout) ||
	    eval_size == 0)
		return false;
	st_py_where.version = version;
	st_py_where.runtime = runtime;
	st_py_where.this_tstate = NULL;
	st_py_where.eval_lo = eval;
	st_py_where.eval_hi = eval + eval_size;
	return true;
}

/* "this CPython (3.N) ..." said once, without stdio; version 0: one
 * without Py_Version, which came in 3.11. */
static void st_python_say_unread(uint32_t version)
{
	char which[8] = "3.";
	unsigned m = version >> 16 & 0xff, i = 2;
	if (m >= 100)
		which[i++] = (char)('0' + m / 100);
	if (m >= 10)
		which[i++] = (char)('0' + m / 10 % 10);
	which[i] = (char)('0' + m % 10);
	const char *const parts[] = {"this CPython (", version ? which : "older than 3.11",
				     ") is not one socktrace reads (3.11 to 3.15, with the GIL): "
				     "its stacks show native frames only",
				     NULL};
	st_say(parts);
}

/* CPython in handle (RTLD_DEFAULT: the program's global scope). */
static void st_python_find(void *handle)
{
	const unsigned long *version = dlsym(handle, "Py_Version");
	void *runtime = dlsym(handle, "_PyRuntime");
	void *eval = dlsym(handle, "_PyEval_EvalFrameDefault");
	if (runtime == NULL || eval == NULL)
		return; /* not a Python program (or one that does not export them) */
	if (version == NULL) {
		st_python_say_unread(0);
		return;
	}
	Dl_info info;
	const ElfW(Sym) *sym = NULL;
	if (dladdr1(eval, &info, (void **)&sym, RTLD_DL_SYMENT) == 0 || sym == NULL)
		return;
	if (!st_python_take((uint32_t)*version, (uintptr_t)runtime, (uintptr_t)eval, sym->st_size)) {
		st_python_say_unread((uint32_t)*version);
		return;
	}
	st_py_where.this_tstate = (uint64_t (*)(void))dlsym(handle, "PyGILState_GetThisThreadState");
	st_python_on = true;
}

void st_python_init(void)
{
	st_py_wanted = true;
	st_python_find(RTLD_DEFAULT);
}

/*
 * A program that loads libpython itself (dlopen, often RTLD_LOCAL, as
 * plugins and embedding programs do): the module scan that first sees the
 * library hands it here, and CPython's three symbols are looked up in its
 * loaded dynamic symbol table (GNU hash), as memory: no dlsym, which the
 * scan (inside dl_iterate_phdr, signals blocked, maybe in a handler) must
 * not call.
 */

void st_python_consider(const struct dl_phdr_info *info)
{
	const char *path = info->dlpi_name, *base = path ? strrchr(path, '/') : NULL;
	base = base ? base + 1 : path;
	struct st_dyn_tables d;
	if (!st_py_wanted || __atomic_load_n(&st_python_on, __ATOMIC_ACQUIRE) || base == NULL ||
	    strncmp(base, "libpython3.", 11) != 0 || !st_dyn_tables(info, &d))
		return;
	const Elf64_Sym *version = st_dyn_lookup(&d, "Py_Version");
	const Elf64_Sym *runtime = st_dyn_lookup(&d, "_PyRuntime");
	const Elf64_Sym *eval = st_dyn_lookup(&d, "_PyEval_EvalFrameDefault");
	if (version == NULL || runtime == NULL || eval == NULL || eval->st_size == 0)
		return;
	const unsigned long *v = (const unsigned long *)(d.base + version->st_value);
	const Elf64_Sym *this_tstate = st_dyn_lookup(&d, "PyGILState_GetThisThreadState");
	if (!st_python_take((uint32_t)*v, d.base + runtime->st_value, d.base + eval->st_value,
			    eval->st_size))
		return;
	if (this_tstate != NULL)
		st_py_where.this_tstate = (uint64_t (*)(void))(d.base + this_tstate->st_value);
	__atomic_store_n(&st_python_on, true, __ATOMIC_RELEASE);
}
