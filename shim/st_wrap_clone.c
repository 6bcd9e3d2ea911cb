/*
 * clone() without CLONE_VM makes a new process that no fork handler hears
 * of: it would keep its parent's pid in every record and write into its
 * parent's chunk, at the same offsets.  Its function is started through a
 * trampoline that first gives it a process of its own, as fork's child gets.
 *
 * Children that share memory (CLONE_VM: threads made by hand, vfork-like
 * children) are passed through untouched: they share this thread's recorder
 * state, which is only safe while the parent waits (CLONE_VFORK).
 *
 * The same for a child made by a raw clone, clone3 or fork system call
 * through syscall(), as vsftpd isolates each session
 * (syscall(__NR_clone, CLONE_NEWPID | CLONE_NEWIPC | CLONE_NEWNET |
 * SIGCHLD, NULL)): unseen, it wrote its records into its parent's chunk at
 * the parent's offsets, tearing both, and the reader stopped at the first
 * torn record.  One that copies our memory onto the same stack (no
 * CLONE_VM, no stack given) comes back through this code as fork's child
 * does.  One with a stack or a thread pointer of its own (CLONE_SETTLS)
 * cannot run our code after the call: passed through, and not seen
 * (libsocktrace(7)).
 */
#define _GNU_SOURCE
#include <linux/sched.h>
#include <sched.h>
#include <stdarg.h>
#include <stddef.h>
#include <sys/syscall.h>
#include <sys/uio.h>

#include "st_internal.h"

#define ST_EXPORT __attribute__((visibility("default")))

struct st_clone_start {
	int (*fn)(void *);
	void *arg;
	bool new_pid_namespace;
};

/* Runs in the child, in its own copy of our memory: the start record on the
 * parent's stack was copied with it. */
static int st_clone_child(void *start)
{
	struct st_clone_start s = *(struct st_clone_start *)start;
	st_child_started_in(s.new_pid_namespace);
	return s.fn(s.arg);
}

ST_EXPORT int clone(int (*fn)(void *), void *stack, int flags, void *arg, ...)
{
	va_list ap;
	va_start(ap, arg);
	/* Read whether or not the flags ask for them, as glibc's clone does. */
	pid_t *ptid = va_arg(ap, pid_t *);
	void *tls = va_arg(ap, void *);
	pid_t *ctid = va_arg(ap, pid_t *);
	va_end(ap);
	/* CLONE_SETTLS: the child's thread-local variables are not ours */
	if ((flags & (CLONE_VM | CLONE_SETTLS)) || fn == NULL)
		return st_real_clone(fn, stack, flags, arg, ptid, tls, ctid);
	struct st_clone_start start = {fn, arg, (flags & CLONE_NEWPID) != 0};
	int ret = st_real_clone(st_clone_child, stack, flags, &start, ptid, tls, ctid);
	if (ret > 0 && !(flags & CLONE_FILES))
		st_parent_forked(); /* the child has copies of our fds */
	return ret;
}

/* A clone3's flags and stack, read as the kernel will (process_vm_readv
 * on ourselves: EFAULT instead of a fault); false when it cannot be, and
 * the kernel's EFAULT or EINVAL is left to the call. */
static bool st_clone3_args(long args, long size, uint64_t *flags, uint64_t *stack)
{
	struct clone_args ca;
	if (size < (long)offsetof(struct clone_args, stack_size) + 8 || args == 0)
		return false;
	struct iovec local = {&ca, offsetof(struct clone_args, stack_size) + 8};
	struct iovec remote = {(void *)args, local.iov_len};
	long pid = st_raw_syscall(SYS_getpid, 0, 0, 0, 0, 0, 0);
	if (st_raw_syscall(SYS_process_vm_readv, pid, (long)&local, 1, (long)&remote, 1, 0) !=
	    (long)local.iov_len)
		return false;
	*flags = ca.flags;
	*stack = ca.stack;
	return true;
}

/* syscall(SYS_clone | SYS_clone3 | SYS_fork, ...): a child that copies our
 * memory and comes back on this stack gets a process of its own, as fork's
 * does; every other form is passed through. */
long st_sys_clone(long number, long a1, long a2, long a3, long a4, long a5, long a6)
{
	uint64_t flags = 0, stack = 0;
	bool known = true;
	if (number == SYS_clone) {
		flags = (uint64_t)a1;
		stack = (uint64_t)a2;
	} else if (number == SYS_clone3) {
		known = st_clone3_args(a1, a2, &flags, &stack);
	}
	/* CLONE_SETTLS: the child's thread pointer is another, and with it
	 * every thread-local variable of ours */
	if (!known || (flags & (CLONE_VM | CLONE_SETTLS)) || stack != 0)
		return st_sys(number, a1, a2, a3, a4, a5, a6);
	long ret = st_raw_syscall(number, a1, a2, a3, a4, a5, a6);
	if (ret == 0)
		st_child_started_in((flags & CLONE_NEWPID) != 0);
	else if (ret > 0 && !(flags & CLONE_FILES))
		st_parent_forked(); /* the child has copies of our fds */
	return st_sys_result(ret);
}
