/*
 * syscall(): glibc's is an ordinary interposable function, and programs that
 * make their socket calls through it (libuv closes every socket with
 * syscall(SYS_close, fd)) would otherwise go unseen: a connection would stay
 * "open at exit".  The numbers the shim follows go through the same
 * bookkeeping as the named wrappers, on the raw system call, so the result
 * and errno are exactly the raw call's; every other number is passed through
 * untouched.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdarg.h>
#include <sys/syscall.h>

#include "st_internal.h"

#define ST_EXPORT __attribute__((visibility("default")))

static long st_sys_followed(long n, long a1, long a2, long a3, long a4, long a5,
			    const void *return_slot)
{
	switch (n) {
	case SYS_connect:
		return st_sys_connect((int)a1, (const struct sockaddr *)a2, (socklen_t)a3);
	case SYS_accept:
	case SYS_accept4:
		return st_sys_accept4(n == SYS_accept4, (int)a1, (struct sockaddr *)a2,
				      (socklen_t *)a3, (int)a4, return_slot);
	case SYS_getsockname:
	case SYS_getpeername:
		return st_sys_name(n == SYS_getpeername, (int)a1, (struct sockaddr *)a2,
				   (socklen_t *)a3);
	case SYS_getsockopt:
		return st_sys_getsockopt((int)a1, (int)a2, (int)a3, (void *)a4, (socklen_t *)a5);
	case SYS_shutdown:
		return st_sys_shutdown((int)a1, (int)a2);
	default: /* close, dup, dup2, dup3, fcntl, close_range, socket */
		return st_sys_fd(n, a1, a2, a3);
	}
}

ST_EXPORT long syscall(long number, ...)
{
	va_list ap;
	va_start(ap, number);
	long a1 = va_arg(ap, long), a2 = va_arg(ap, long), a3 = va_arg(ap, long);
	long a4 = va_arg(ap, long), a5 = va_arg(ap, long), a6 = va_arg(ap, long);
	va_end(ap);
	long raw;
	if (st_pipe_check(number, a1, a2, __builtin_return_address(0), &raw))
		return st_sys_result(raw);
	switch (number) {
	case SYS_connect: case SYS_accept: case SYS_accept4: case SYS_getsockname:
	case SYS_getpeername: case SYS_getsockopt: case SYS_shutdown: case SYS_close:
	case SYS_dup: case SYS_dup2: case SYS_dup3: case SYS_fcntl: case SYS_close_range:
	case SYS_socket:
		return st_sys_followed(number, a1, a2, a3, a4, a5,
				       (const char *)__builtin_frame_address(0) + sizeof(void *));
	case SYS_clone: case SYS_clone3: case SYS_fork:
		return st_sys_clone(number, a1, a2, a3, a4, a5, a6);
	case SYS_prctl: case SYS_seccomp:
		if (st_installs_sandbox(number, a1, a2))
			return st_sys_sandbox(number, a1, a2, a3, a4, a5);
		return st_sys(number, a1, a2, a3, a4, a5, a6);
	default:
		return st_sys(number, a1, a2, a3, a4, a5, a6);
	}
}
