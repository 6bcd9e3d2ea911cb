/* The loader's object-list lock, which stacks from signal handlers must not
 * wait on when their own thread is taking or holding it. */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <link.h>

#include "../shim/st_internal.h"

struct seen {
	bool for_self, for_other;
};

static int busy_inside(struct dl_phdr_info *info, size_t size, void *arg)
{
	(void)info, (void)size;
	struct seen *seen = arg;
	seen->for_self = st_loader_lock_busy_here(st_tid());
	seen->for_other = st_loader_lock_busy_here(st_tid() + 1);
	return 1;
}

Test(loader_lock, found_and_seen_held_only_inside_dl_iterate_phdr)
{
	st_loader_lock_init();
	cr_assert(st_loader_lock_known(), "the lock was not found in _rtld_global");
	cr_expect_not(st_loader_lock_busy_here(st_tid()), "busy outside the loader");
	struct seen seen = {false, true};
	dl_iterate_phdr(busy_inside, &seen);
	cr_expect(seen.for_self, "not busy for this thread inside dl_iterate_phdr");
	/* another thread would only wait for this one: no reason to skip its stack */
	cr_expect_not(seen.for_other, "held by this thread, yet busy for another");
}
