/*
 * Call stacks, when SOCKTRACE_BACKTRACE asks for them: raw return addresses
 * from libunwind's unw_backtrace (about 90 ns for 16 frames, no syscall, no
 * malloc), named later by the reader.  libunwind is dlopen'ed RTLD_LOCAL so
 * that its exported `backtrace` and `_Unwind_*` never shadow glibc's or
 * libgcc's for the program, and so that runs without stacks do not load it.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <link.h>
#include <string.h>

#define UNW_LOCAL_ONLY
#include <libunwind.h>

#include "st_internal.h"

unsigned st_stack_depth;
bool st_stack_loading;
int (*st_unw_backtrace)(void **, int);
uintptr_t st_self_lo, st_self_hi;

static int st_find_self(struct dl_phdr_info *info, size_t size, void *arg)
{
	(void)size;
	uintptr_t me = (uintptr_t)arg, lo, hi;
	st_object_range(info, &lo, &hi);
	if (me < lo || me >= hi)
		return 0;
	st_self_lo = lo;
	st_self_hi = hi;
	return 1;
}

static bool st_stack_load(unsigned depth, const char **why);

bool st_stack_init(unsigned depth, const char **why)
{
	if (depth == 0)
		return true;
	st_stack_loading = true;
	bool ok = st_stack_load(depth, why);
	st_stack_loading = false;
	return ok;
}

static bool st_stack_load(unsigned depth, const char **why)
{
	void *lib = dlopen("libunwind.so.8", RTLD_NOW | RTLD_LOCAL);
	if (lib == NULL) {
		*why = "libunwind.so.8 cannot be loaded (install libunwind8)";
		return false;
	}
	int (*set_policy)(unw_addr_space_t, unw_caching_policy_t) =
		(int (*)(unw_addr_space_t, unw_caching_policy_t))dlsym(lib, "_ULx86_64_set_caching_policy");
	unw_addr_space_t *local = dlsym(lib, "_ULx86_64_local_addr_space");
	st_unw_backtrace = (int (*)(void **, int))dlsym(lib, "unw_backtrace");
	if (st_unw_backtrace == NULL) {
		*why = "libunwind.so.8 has no unw_backtrace";
		return false;
	}
	/* Per-thread caches take no lock, so a signal handler cannot deadlock on one. */
	if (set_policy && local)
		set_policy(*local, UNW_CACHE_PER_THREAD);
	dl_iterate_phdr(st_find_self, (void *)(uintptr_t)st_find_self);
	st_loader_lock_init();
	/* Initialise libunwind now (it opens its pipe here), not in a wrapper. */
	void *warm[4];
	st_unw_backtrace(warm, 4);
	st_stack_depth = depth > ST_FRAMES_MAX ? ST_FRAMES_MAX : depth;
	return true;
}

/*
 * Unwinding looks up unwind tables through dl_iterate_phdr.  A signal handler
 * that interrupted the dynamic loader in this thread (dlopen or dlclose in the
 * middle of mapping or unmapping an object) would walk a half-built or
 * half-torn-down object list and fault; the loader announces such windows to
 * debuggers in _r_debug.r_state, though not around every list update: the
 * object-list lock is checked as well (st_loader_lock.c).  Likewise a handler
 * that interrupted our own recording (and maybe libunwind) must not re-enter
 * libunwind's per-thread cache.
 */
bool st_stack_safe(void)
{
	return !st_record_busy() &&
	       __atomic_load_n(&_r_debug.r_state, __ATOMIC_ACQUIRE) == RT_CONSISTENT &&
	       !st_loader_lock_busy_here(st_tid());
}
