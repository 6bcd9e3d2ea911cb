/*
 * A per-fd table made of pages mapped when an fd in their range is first
 * stored: a program using 50 fds pays for one page, not for the megabytes a
 * table of every possible fd would reserve against its RLIMIT_AS.  The fd
 * cache (endpoints) and the connection states (st_life.c) are two such
 * tables.  Async-signal-safe: mmap and a compare-and-swap, no lock, so a
 * wrapper interrupted by a signal handler that calls another cannot
 * deadlock.  Fds at or above ST_FDPAGES_FDS are not kept (their callers
 * count what that loses).
 */
#define _GNU_SOURCE
#include <sys/mman.h>

#include "st_core.h"

void *st_fdpages_make(void **pages, unsigned page, size_t bytes)
{
	void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return NULL;
	void *none = NULL;
	if (!__atomic_compare_exchange_n(&pages[page], &none, p, false, __ATOMIC_ACQ_REL,
					 __ATOMIC_ACQUIRE)) {
		munmap(p, bytes); /* another thread mapped it first: use theirs */
		return none;
	}
	return p;
}

int st_fdpages_high(void *const *pages, unsigned per_page)
{
	for (int page = (int)(ST_FDPAGES_FDS / per_page) - 1; page >= 0; page--)
		if (__atomic_load_n(&pages[page], __ATOMIC_ACQUIRE))
			return (page + 1) * (int)per_page;
	return 0;
}

bool st_fdpages_copy(void **dst, void *const *src, unsigned per_page, size_t page_bytes)
{
	for (unsigned page = 0; page < ST_FDPAGES_FDS / per_page; page++) {
		const void *from = __atomic_load_n(&src[page], __ATOMIC_ACQUIRE);
		if (from == NULL)
			continue;
		void *to = st_fdpages_make(dst, page, page_bytes);
		if (to == NULL)
			return false;
		__builtin_memcpy(to, from, page_bytes);
	}
	return true;
}

void st_fdpages_free(void **pages, unsigned per_page, size_t page_bytes)
{
	for (unsigned page = 0; page < ST_FDPAGES_FDS / per_page; page++)
		if (pages[page] != NULL) {
			munmap(pages[page], page_bytes);
			pages[page] = NULL;
		}
}
