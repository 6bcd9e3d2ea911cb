/*
 * A program that sandboxes itself with seccomp (OpenSSH's pre-authentication
 * child, vsftpd, Chromium's renderers, tor) installs a filter written for the
 * system calls it makes, and the kernel kills it with SIGSYS for any other:
 * the shim's getsockopt(TCP_INFO) at a close (what killed every sshd login),
 * its getsockname for an endpoint, an mmap for the next stretch of trace.
 * A filter cannot be read back without privilege, so from a successful
 * install on the shim makes no system call of its own in the process: none
 * of its later calls are recorded, nor those of the children it forks, which
 * inherit the filter.  A note in the trace says so; it is reserved before the
 * install, while every call is still allowed, and committed after with none.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdarg.h>
#include <linux/seccomp.h>
#include <sys/prctl.h>
#include <sys/syscall.h>

#include "st_internal.h"

#define ST_EXPORT __attribute__((visibility("default")))

/* Whether a prctl or seccomp call with these first arguments installs a
 * filter or strict mode (asking which actions exist installs nothing). */
bool st_installs_sandbox(long number, long a1, long a2)
{
	if (number == SYS_prctl)
		return a1 == PR_SET_SECCOMP &&
		       (a2 == SECCOMP_MODE_STRICT || a2 == SECCOMP_MODE_FILTER);
	return number == SYS_seccomp &&
	       (a1 == SECCOMP_SET_MODE_STRICT || a1 == SECCOMP_SET_MODE_FILTER);
}

static bool st_sandbox_begin(struct st_note_slot *note)
{
	note->room = NULL;
	if (!st_ready())
		return false;
	st_record_note_prepare(note, ST_NOTE_SECCOMP);
	return true;
}

/* No system call from here on when installed. */
static void st_sandbox_end(struct st_note_slot *note, bool noting, bool installed)
{
	if (installed)
		st_sandbox_entered();
	if (noting)
		st_record_note_finish(note, installed);
}

ST_EXPORT int prctl(int option, ...)
{
	va_list ap;
	va_start(ap, option);
	unsigned long a2 = va_arg(ap, unsigned long), a3 = va_arg(ap, unsigned long);
	unsigned long a4 = va_arg(ap, unsigned long), a5 = va_arg(ap, unsigned long);
	va_end(ap);
	if (!st_installs_sandbox(SYS_prctl, option, (long)a2))
		return st_real_prctl(option, a2, a3, a4, a5);
	struct st_note_slot note;
	bool noting = st_sandbox_begin(&note);
	int ret = st_real_prctl(option, a2, a3, a4, a5);
	int saved = errno;
	st_sandbox_end(&note, noting, ret == 0);
	errno = saved;
	return ret;
}

/* syscall(SYS_seccomp or SYS_prctl, ...): libseccomp's seccomp_load. */
long st_sys_sandbox(long number, long a1, long a2, long a3, long a4, long a5)
{
	struct st_note_slot note;
	bool noting = st_sandbox_begin(&note);
	long raw = st_raw_syscall(number, a1, a2, a3, a4, a5, 0);
	/* a listener fd (SECCOMP_FILTER_FLAG_NEW_LISTENER) is a success too */
	st_sandbox_end(&note, noting, raw >= 0);
	return st_sys_result(raw);
}
