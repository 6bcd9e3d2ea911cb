/*
 * The socket tables the core works on (st_core.h): the shim's own, static
 * (no allocation before the program's first call), and those a tracer makes
 * per traced process, mapped (no malloc: the core also runs in signal
 * handlers of the shim).
 */
#define _GNU_SOURCE
#include <string.h>
#include <sys/mman.h>

#include "st_core.h"

static struct st_socktab st_socktab_own = {.check_owner = true};
struct st_socktab *st_tab = &st_socktab_own;

struct st_socktab *st_socktab_new(void)
{
	void *p = mmap(NULL, sizeof(struct st_socktab), PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	return p == MAP_FAILED ? NULL : p;
}

struct st_socktab *st_socktab_fork(struct st_socktab *parent, uint64_t now_ns)
{
	struct st_socktab *child = st_socktab_new();
	if (child == NULL)
		return NULL;
	memcpy(child->conns, parent->conns, sizeof child->conns);
	child->cache_high = parent->cache_high;
	child->check_owner = parent->check_owner;
	child->life_gen = parent->life_gen;
	if (!st_fdpages_copy(child->life_pages, parent->life_pages, ST_LIFE_PAGE,
			     st_life_page_bytes) ||
	    !st_fdpages_copy(child->cache_pages, parent->cache_pages, ST_FDCACHE_PAGE,
			     st_fdcache_page_bytes)) {
		st_socktab_free(child);
		return NULL;
	}
	/* what st_child_started and st_parent_forked do in the shim, where the
	 * child's copy is fork's own */
	struct st_socktab *was = st_tab;
	st_tab = parent;
	st_life_forked(now_ns);
	st_tab = child;
	st_life_new_process();
	st_tab = was;
	return child;
}

void st_socktab_free(struct st_socktab *t)
{
	if (t == NULL || t == &st_socktab_own)
		return;
	st_fdpages_free(t->life_pages, ST_LIFE_PAGE, st_life_page_bytes);
	st_fdpages_free(t->cache_pages, ST_FDCACHE_PAGE, st_fdcache_page_bytes);
	munmap(t, sizeof *t);
}
