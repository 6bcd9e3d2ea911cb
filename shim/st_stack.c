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

#ifndef __x86_64__
/* libunwind's local address space and caching policy are looked up by their
 * x86-64 names (_ULx86_64_...). */
#error "libsocktrace: st_stack.c is written for x86-64 only"
#endif

unsigned st_stack_depth;
int (*st_unw_backtrace)(void **, int);
uintptr_t st_self_lo, st_self_hi;
uintptr_t st_unwinder_lo, st_unwinder_hi;

struct st_range_query {
	uintptr_t addr, lo, hi;
};

static int st_find_object(struct dl_phdr_info *info, size_t size, void *arg)
{
	(void)size;
	struct st_range_query *q = arg;
	uintptr_t lo, hi;
	st_object_range(info, &lo, &hi);
	if (q->addr < lo || q->addr >= hi)
		return 0;
	q->lo = lo;
	q->hi = hi;
	return 1;
}

/* [lo, hi) of the loaded object holding addr; 0, 0 when none does. */
static void st_range_of(const void *addr, uintptr_t *lo, uintptr_t *hi)
{
	struct st_range_query q = {(uintptr_t)addr, 0, 0};
	dl_iterate_phdr(st_find_object, &q);
	*lo = q.lo;
	*hi = q.hi;
}

bool st_stack_init(unsigned depth, const char **why)
{
	if (depth == 0)
		return true;
	void *lib = dlopen("libunwind.so.8", RTLD_NOW | RTLD_LOCAL);
	if (lib == NULL) {
		*why = "libunwind.so.8 cannot be loaded (install libunwind8)";
		return false;
	}
	int (*set_policy)(unw_addr_space_t, unw_caching_policy_t) =
		(int (*)(unw_addr_space_t, unw_caching_policy_t))dlsym(lib, "_ULx86_64_set_caching_policy");
	unw_addr_space_t *local = dlsym(lib, "_ULx86_64_local_addr_space");
	st_unw_backtrace = (int (*)(void **, int))dlsym(lib, "unw_backtrace");
	st_java_init(lib);
	if (st_unw_backtrace == NULL) {
		*why = "libunwind.so.8 has no unw_backtrace";
		return false;
	}
	/* known before libunwind first initialises, when it opens its pipe */
	st_range_of((const void *)(uintptr_t)st_unw_backtrace, &st_unwinder_lo, &st_unwinder_hi);
	st_range_of((const void *)(uintptr_t)st_find_object, &st_self_lo, &st_self_hi);
	st_loader_lock_init();
	/* Per-thread caches take no lock, so a signal handler cannot deadlock on one. */
	if (set_policy && local)
		set_policy(*local, UNW_CACHE_PER_THREAD);
	/* Initialise libunwind now, not in a wrapper. */
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
