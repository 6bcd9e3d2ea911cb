/*
 * libunwind opens a pipe when it initialises (it validates suspect addresses
 * by writing them to it).  Left alone, that pipe takes the program's lowest
 * free fd numbers, and the program would see its own fds numbered differently
 * under the shim.  Only when the caller is libunwind are the two fds moved to
 * the top of the fd range, where programs almost never reach.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sys/resource.h>
#include <unistd.h>

#include "st_internal.h"

#define ST_EXPORT __attribute__((visibility("default")))

/* An address compare, not dladdr, so the program's own pipe2 calls stay cheap
 * and take no loader lock.  libunwind's range is known before it first
 * initialises (st_stack_init), which is when it opens the pipe. */
static bool st_called_from_unwinder(const void *ret_addr)
{
	uintptr_t a = (uintptr_t)ret_addr;
	return a >= st_unwinder_lo && a < st_unwinder_hi;
}

static void st_move_high(int *fd)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur < 64)
		return;
	int high = fcntl(*fd, F_DUPFD_CLOEXEC, (int)(rl.rlim_cur - 32));
	if (high < 0)
		return;
	st_real_close(*fd);
	*fd = high;
}

ST_EXPORT int pipe2(int fds[2], int flags)
{
	int ret = st_real_pipe2(fds, flags);
	if (ret == 0 && st_called_from_unwinder(__builtin_return_address(0))) {
		int saved = errno;
		st_move_high(&fds[0]);
		st_move_high(&fds[1]);
		errno = saved;
	}
	return ret;
}
