/*
 * The wait calls, wrapped only to notice a vfork child that left through
 * exit(): the parent waits for it, and the shim re-arms its exit-time work
 * then (st_init.c says why it must).  Each calls the real function through
 * the raw system call, unchanged, and records nothing.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include "st_internal.h"

#define ST_EXPORT __attribute__((visibility("default")))

ST_EXPORT pid_t wait4(pid_t pid, int *status, int options, struct rusage *usage)
{
	pid_t ret = (pid_t)ST_SYS(SYS_wait4, pid, status, options, usage);
	int saved = errno;
	st_exit_work_check();
	errno = saved;
	return ret;
}

ST_EXPORT pid_t waitpid(pid_t pid, int *status, int options)
{
	return wait4(pid, status, options, NULL);
}

ST_EXPORT pid_t wait(int *status)
{
	return wait4(-1, status, 0, NULL);
}

ST_EXPORT int waitid(idtype_t type, id_t id, siginfo_t *info, int options)
{
	int ret = (int)ST_SYS(SYS_waitid, type, id, info, options, NULL);
	int saved = errno;
	st_exit_work_check();
	errno = saved;
	return ret;
}
