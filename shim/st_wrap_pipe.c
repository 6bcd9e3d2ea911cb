/*
 * libunwind opens a pipe when it initialises and keeps it for the life of the
 * process: it checks that an address is readable by write(2)ing one byte from
 * it into the pipe (EFAULT = unreadable).  Those are two fds the program could
 * have had (with `ulimit -n 5` it would get no socket at all).  So libunwind
 * gets no pipe: pipe2/pipe called from libunwind "succeed" with two numbers
 * no process can have open, and its check, which it makes with
 * syscall(SYS_write, ...), is answered here with process_vm_readv on our own
 * memory, which needs no fd.  Its read(2) and close(2) of those numbers fail
 * with EBADF, which it handles by asking for a new pipe.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdarg.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include "st_internal.h"

#ifndef __x86_64__
/* SYS_pipe and the fake fd numbers' use by libunwind are x86-64's. */
#error "libsocktrace: st_wrap_pipe.c is written for x86-64 only"
#endif

#define ST_EXPORT __attribute__((visibility("default")))
/* Above any fd limit the kernel allows (fs.nr_open is at most 2^30). */
#define ST_FAKE_PIPE_RD 0x7ffffffc
#define ST_FAKE_PIPE_WR 0x7ffffffd

/* An address compare, not dladdr, so the program's own calls stay cheap and
 * take no loader lock.  libunwind's range is known before it first
 * initialises (st_stack_init), which is when it asks for the pipe. */
static bool st_called_from_unwinder(const void *ret_addr)
{
	uintptr_t a = (uintptr_t)ret_addr;
	return a >= st_unwinder_lo && a < st_unwinder_hi;
}

ST_EXPORT int pipe2(int fds[2], int flags)
{
	if (st_called_from_unwinder(__builtin_return_address(0))) {
		fds[0] = ST_FAKE_PIPE_RD;
		fds[1] = ST_FAKE_PIPE_WR;
		return 0;
	}
	return st_real_pipe2(fds, flags);
}

ST_EXPORT int pipe(int fds[2])
{
	if (st_called_from_unwinder(__builtin_return_address(0))) {
		fds[0] = ST_FAKE_PIPE_RD;
		fds[1] = ST_FAKE_PIPE_WR;
		return 0;
	}
	return st_real_pipe(fds);
}

/* 1 when one byte at addr can be read, as write(2) of it would find. */
static long st_validate_byte(const void *addr)
{
	char byte;
	struct iovec local = {&byte, 1}, remote = {(void *)addr, 1};
	long n = st_raw_syscall(SYS_process_vm_readv, st_raw_syscall(SYS_getpid, 0, 0, 0, 0, 0, 0),
				(long)&local, 1, (long)&remote, 1, 0);
	return n == 1 ? 1 : -EFAULT;
}

/* libunwind's readability check on the pipe it was given: answered here,
 * as the raw result (-EFAULT), when the call is that one. */
bool st_pipe_check(long number, long a1, long a2, const void *ret_addr, long *raw_ret)
{
	if (number != SYS_write || a1 != ST_FAKE_PIPE_WR || !st_called_from_unwinder(ret_addr))
		return false;
	*raw_ret = st_validate_byte((const void *)a2);
	return true;
}
