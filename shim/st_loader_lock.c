/*
 * The dynamic loader's lock on its object list, seen from a signal handler.
 * dl_iterate_phdr (which libunwind calls to find unwind tables, and which the
 * module scan calls) takes that recursive lock.  A handler that interrupted its
 * own thread in the middle of taking it (the lock word set, the owner not yet)
 * would wait on itself forever; one that interrupted a list update it owns
 * would walk a half-edited list.  glibc's _r_debug.r_state does not cover these
 * windows (seen on glibc 2.36: RT_CONSISTENT while dlopen adds to the list).
 *
 * The lock lives inside ld.so's private _rtld_global, at an offset that varies
 * between glibc versions, so it is found at start-up instead: inside a
 * dl_iterate_phdr callback it is the one recursive mutex in _rtld_global owned
 * by this thread with a count of one.  Its fields are read through glibc's
 * public pthread_mutex_t layout.  If it cannot be found unambiguously, only
 * r_state guards stacks, as before.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <link.h>
#include <pthread.h>
#include <unistd.h>

#include "st_internal.h"

static const pthread_mutex_t *st_list_lock;

struct st_lock_search {
	const char *base;
	size_t size;
	pid_t self;
	const pthread_mutex_t *found;
	unsigned matches;
};

static int st_search_lock(struct dl_phdr_info *info, size_t size, void *arg)
{
	(void)info, (void)size;
	struct st_lock_search *s = arg;
	size_t align = _Alignof(pthread_mutex_t);
	for (size_t off = 0; off + sizeof(pthread_mutex_t) <= s->size; off += align) {
		const pthread_mutex_t *m = (const pthread_mutex_t *)(s->base + off);
		if (m->__data.__owner == s->self && m->__data.__count == 1 &&
		    (m->__data.__kind & 3) == PTHREAD_MUTEX_RECURSIVE_NP && m->__data.__lock != 0) {
			s->found = m;
			s->matches++;
		}
	}
	return 1; /* the lock is held for the whole walk: one callback is enough */
}

void st_loader_lock_init(void)
{
	void *rtld = dlsym(RTLD_DEFAULT, "_rtld_global");
	Dl_info info;
	const ElfW(Sym) *sym = NULL;
	if (rtld == NULL || !dladdr1(rtld, &info, (void **)&sym, RTLD_DL_SYMENT) || sym == NULL)
		return;
	struct st_lock_search s = {.base = rtld, .size = sym->st_size, .self = gettid()};
	dl_iterate_phdr(st_search_lock, &s);
	if (s.matches == 1)
		st_list_lock = s.found;
}

bool st_loader_lock_busy_here(uint32_t tid)
{
	if (st_list_lock == NULL)
		return false;
	int lock = __atomic_load_n(&st_list_lock->__data.__lock, __ATOMIC_ACQUIRE);
	int owner = __atomic_load_n(&st_list_lock->__data.__owner, __ATOMIC_RELAXED);
	/* owner 0 with the lock word set: someone, maybe this thread, is between
	 * the two stores of taking or releasing it; skipping one stack is cheap */
	return lock != 0 && (owner == 0 || (uint32_t)owner == tid);
}

bool st_loader_lock_known(void)
{
	return st_list_lock != NULL;
}
