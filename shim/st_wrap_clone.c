/*
 * clone() without CLONE_VM makes a new process that no fork handler hears
 * of: it would keep its parent's pid in every record and write into its
 * parent's chunk, at the same offsets.  Its function is started through a
 * trampoline that first gives it a process of its own, as fork's child gets.
 *
 * Children that share memory (CLONE_VM: threads made by hand, vfork-like
 * children) are passed through untouched: they share this thread's recorder
 * state, which is only safe while the parent waits (CLONE_VFORK).  A raw
 * syscall(SYS_clone) child is not seen at all (libsocktrace(7)).
 */
#define _GNU_SOURCE
#include <sched.h>
#include <stdarg.h>

#include "st_internal.h"

#define ST_EXPORT __attribute__((visibility("default")))

struct st_clone_start {
	int (*fn)(void *);
	void *arg;
};

/* Runs in the child, in its own copy of our memory: the start record on the
 * parent's stack was copied with it. */
static int st_clone_child(void *start)
{
	struct st_clone_start s = *(struct st_clone_start *)start;
	st_child_started();
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
	if ((flags & CLONE_VM) || fn == NULL)
		return st_real_clone(fn, stack, flags, arg, ptid, tls, ctid);
	struct st_clone_start start = {fn, arg};
	int ret = st_real_clone(st_clone_child, stack, flags, &start, ptid, tls, ctid);
	if (ret > 0 && !(flags & CLONE_FILES))
		st_parent_forked(); /* the child has copies of our fds */
	return ret;
}
