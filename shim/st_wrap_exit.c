/*
 * _exit and _Exit: the process leaves without running destructors, so the
 * connections it still holds would get no end in the trace (sshd's children,
 * and forked servers' that leave with _exit, hold theirs to the end: the
 * kernel's close at exit is their last).  Their ends are recorded first, as
 * at exit(); then the process leaves as it asked, through exit_group, which
 * is all glibc's _exit does.
 */
#define _GNU_SOURCE
#include <sys/syscall.h>

#include "st_internal.h"

#define ST_EXPORT __attribute__((visibility("default")))

static __attribute__((noreturn)) void st_leave_now(int status)
{
	for (;;) /* exit_group does not return; glibc's loops the same way */
		st_raw_syscall(SYS_exit_group, status, 0, 0, 0, 0, 0);
}

ST_EXPORT __attribute__((noreturn)) void _exit(int status)
{
	st_exit_now();
	st_leave_now(status);
}

ST_EXPORT __attribute__((noreturn)) void _Exit(int status)
{
	st_exit_now();
	st_leave_now(status);
}
