/*
 * A traced system call, seen at its entry and at its exit, fed to the core
 * as the shim feeds what its wrappers saw: what ends a connection (close,
 * dup2 over a socket, close_range) is taken at entry, while the socket is
 * still there to ask; everything else at exit, with the call's result.
 * Arguments are the registers the kernel reported; the program's memory is
 * read only for what the call itself read or wrote (connect's address,
 * accept's and getsockname's lengths, SO_ERROR's value).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <string.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>

#include "st_tracer.h"

/* The address connect was given, as the kernel will read it. */
static void st_tr_read_addr(pid_t tid, uint64_t addr, uint64_t len, struct st_addr *a)
{
	a->len = 0;
	if (addr == 0 || len == 0 || len > sizeof a->ss)
		return;
	if (st_tr_read(tid, addr, &a->ss, (size_t)len))
		a->len = (socklen_t)(len > ST_ADDR_MAX ? ST_ADDR_MAX : len);
}

static long st_tr_read_len(pid_t tid, uint64_t addr)
{
	socklen_t len;
	if (addr == 0 || !st_tr_read(tid, addr, &len, sizeof len))
		return -1;
	return (long)len;
}

/* Calls whose result the core does not need: what they change is done at
 * their entry (a forget is always safe early), and the thread runs on to its
 * next filtered call without a second stop.  Event loops make fcntl and
 * getsockopt calls by the thousand; a close of a file is not a socket's. */
static bool st_tr_exit_unneeded(const struct st_tr_call *c)
{
	int fd = (int)c->args[0];
	switch (c->nr) {
	case SYS_close:
		/* The end is recorded at once, as the kernel will end it: the fd
		 * was seen open (a state is kept only for fds the tracer saw
		 * made, and every close, dup2 and exec is seen), so this close
		 * cannot fail with the EBADF that would make the end stale; a
		 * second stop per close would double its cost. */
		st_end_finish(&c->note, 0, 0);
		st_fdcache_forget(fd);
		return true;
	case SYS_fcntl: return c->args[1] != F_DUPFD && c->args[1] != F_DUPFD_CLOEXEC;
	case SYS_getsockopt: return c->args[1] != SOL_SOCKET || c->args[2] != SO_ERROR;
	case SYS_bind:
	case SYS_listen: st_fdcache_forget(fd); return true;
	case SYS_close_range:
		st_fdcache_forget_range((unsigned)c->args[0], (unsigned)c->args[1]);
		return true;
	/* asked again after it too: a thread asking while it runs could
	 * see the table before the change */
	case SYS_unshare: return !(c->args[0] & CLONE_FILES);
	default: return false;
	}
}

/* Whether the tracer follows something under fd: a socket it saw made,
 * connected, accepted or copied, though its close may end nothing (one of
 * several fds naming it: dup's). */
static bool st_tr_fd_seen(int fd)
{
	enum st_life_state state;
	uint8_t flags;
	uint64_t since;
	return st_life_get(fd, &state, &flags, &since);
}

/*
 * A close of an fd the tracer never saw opened, in a process that may have
 * been passed sockets over a Unix one (SCM_RIGHTS): recvmsg is not stopped
 * at (every data read would be), so a connection another process connected
 * and handed over (vsftpd's active-mode data connection, written by the
 * session process, never named) is seen here first, at its close: recorded
 * held, then its close with the kernel's bytes, and the reader joins it to
 * its opener's connection.  Any other fd costs one look (ENOTSOCK).
 */
static void st_tr_close_unseen(int fd, struct st_end_note *note)
{
	st_call_passed_in(&fd, 1);
	st_end_begin(fd, ST_END_CLOSE, note);
}

/* Whether addr (of args[1], args[2] bytes) is a Unix one: the process has
 * a Unix socket then, and may be passed connections through it. */
static bool st_tr_unix_addr(pid_t tid, const uint64_t args[6])
{
	sa_family_t family;
	return args[1] != 0 && args[2] >= sizeof family &&
	       st_tr_read(tid, args[1], &family, sizeof family) && family == AF_UNIX;
}

bool st_tr_call_entry(struct st_tr_thread *t, long nr, const uint64_t args[6])
{
	struct st_tr_call *c = &t->call;
	c->nr = nr;
	memcpy(c->args, args, sizeof c->args);
	c->note.active = false;
	c->name_len = -1;
	c->stack.n = 0;
	c->stack.skipped = false;
	st_tr_kernel_use(t->proc);
	st_record_as((uint32_t)t->proc->pid, (uint32_t)t->tid);
	int fd = (int)args[0], other = (int)args[1];
	switch (nr) {
	case SYS_connect:
		c->start_ns = st_now_ns();
		st_tr_read_addr(t->tid, args[1], args[2], &c->addr);
		t->proc->may_receive |= c->addr.len > 0 && c->addr.ss.ss_family == AF_UNIX;
		break;
	case SYS_bind:
		t->proc->may_receive |= !t->proc->may_receive && st_tr_unix_addr(t->tid, args);
		break;
	case SYS_accept:
	case SYS_accept4:
		c->offered_len = args[1] ? st_tr_read_len(t->tid, args[2]) : -1;
		break;
	case SYS_close:
		if (t->proc->may_receive && !st_tr_fd_seen(fd))
			st_tr_close_unseen(fd, &c->note);
		else
			st_end_begin(fd, ST_END_CLOSE, &c->note);
		break;
	case SYS_dup2:
	case SYS_dup3:
		if (fd != other)
			st_end_begin(other, ST_END_REPLACED, &c->note);
		break;
	case SYS_close_range:
		st_call_range_ending((unsigned)args[0], (unsigned)args[1], (unsigned)args[2]);
		break;
	case SYS_unshare:
		if (args[0] & CLONE_FILES)
			t->proc->files_epoch++; /* which threads share a table: ask again */
		break;
	}
	/* the stack of a call that records an event: taken while the thread
	 * is stopped in it, as the shim takes it inside the call */
	if (st_tr_depth && (nr == SYS_connect || nr == SYS_accept || nr == SYS_accept4 ||
			    nr == SYS_getsockname || nr == SYS_getpeername))
		st_tr_stack_take(t, &c->stack);
	bool exit_wanted = !st_tr_exit_unneeded(c);
	st_tr_kernel_release();
	return exit_wanted;
}

static void st_tr_accepted(struct st_tr_thread *t, const struct st_outcome *done)
{
	const struct st_tr_call *c = &t->call;
	struct st_addr peer;
	peer.len = 0;
	/* whole when the room offered held all of it, as in the shim */
	long returned = done->ret >= 0 && c->args[1] ? st_tr_read_len(t->tid, c->args[2]) : -1;
	if (returned > 0 && c->offered_len >= returned && returned <= (long)sizeof peer.ss &&
	    st_tr_read(t->tid, c->args[1], &peer.ss, (size_t)returned))
		peer.len = (socklen_t)(returned > ST_ADDR_MAX ? ST_ADDR_MAX : returned);
	st_call_accept(c->nr == SYS_accept4 ? ST_OP_ACCEPT4 : ST_OP_ACCEPT, (int)c->args[0], done,
		       &peer, &c->stack);
}

static void st_tr_named(struct st_tr_thread *t, const struct st_outcome *done)
{
	const struct st_tr_call *c = &t->call;
	long returned = done->ret != 0 ? 0
			: c->name_len >= 0 ? c->name_len
					   : st_tr_read_len(t->tid, c->args[2]);
	st_call_name(c->nr == SYS_getsockname ? ST_OP_GETSOCKNAME : ST_OP_GETPEERNAME,
		     (int)c->args[0], done, returned > 0 ? (socklen_t)returned : 0, &c->stack);
}

static void st_tr_socketpair(struct st_tr_thread *t)
{
	const struct st_tr_call *c = &t->call;
	int sv[2];
	if (!st_tr_read(t->tid, c->args[3], sv, sizeof sv))
		return;
	st_call_socket(sv[0], (int)c->args[0], (int)c->args[1], (int)c->args[2]);
	st_call_socket(sv[1], (int)c->args[0], (int)c->args[1], (int)c->args[2]);
}

static void st_tr_so_error(struct st_tr_thread *t, uint64_t ts)
{
	const struct st_tr_call *c = &t->call;
	long len = st_tr_read_len(t->tid, c->args[4]);
	int err;
	if (c->args[1] == SOL_SOCKET && c->args[2] == SO_ERROR && len >= (long)sizeof err &&
	    st_tr_read(t->tid, c->args[3], &err, sizeof err))
		st_call_so_error((int)c->args[0], err, ts);
}

void st_tr_call_exit(struct st_tr_thread *t, long rval, bool is_error)
{
	struct st_tr_call *c = &t->call;
	int ret = is_error ? -1 : (int)rval;
	struct st_outcome done = st_outcome_of(ret, is_error ? (int)-rval : 0);
	int fd = (int)c->args[0], other = (int)c->args[1];
	st_tr_kernel_use(t->proc);
	st_record_as((uint32_t)t->proc->pid, (uint32_t)t->tid);
	switch (c->nr) {
	case SYS_socketpair:
		if (ret == 0) {
			st_tr_socketpair(t);
			t->proc->may_receive |= c->args[0] == AF_UNIX;
		}
		break;
	case SYS_connect: st_call_connect(fd, &c->addr, &done, c->start_ns, &c->stack); break;
	case SYS_accept:
	case SYS_accept4: st_tr_accepted(t, &done); break;
	case SYS_getsockname:
	case SYS_getpeername: st_tr_named(t, &done); break;
	case SYS_getsockopt: if (ret == 0) st_tr_so_error(t, done.ts_ns); break;
	case SYS_shutdown: if (ret == 0) st_call_shutdown(fd, other); break;
	case SYS_dup: st_call_duplicated(fd, ret); break;
	case SYS_unshare: t->proc->files_epoch++; break;
	case SYS_fcntl:
		if (other == F_DUPFD || other == F_DUPFD_CLOEXEC)
			st_call_duplicated(fd, ret);
		break;
	case SYS_dup2:
	case SYS_dup3:
		if (fd != other) {
			st_end_finish(&c->note, ret, done.err);
			st_call_replaced(fd, other, ret);
		}
		break;
	}
	st_tr_kernel_release();
}

/* Connections still open when the process exits: their ends, dated now,
 * while its descriptors still exist to ask (PTRACE_EVENT_EXIT comes before
 * the kernel closes them). */
void st_tr_proc_exiting(struct st_tr_proc *p)
{
	st_tr_kernel_use(p);
	st_record_as((uint32_t)p->pid, (uint32_t)p->pid);
	st_end_at_exit();
	st_tr_kernel_release();
	st_tr_jits_flush(p);
}

/* The JIT's names for the code its stacks held, from its perf map, while
 * the process still exists to say whose the map must be. */
void st_tr_jits_flush(struct st_tr_proc *p)
{
	char path[64];
	struct stat st;
	snprintf(path, sizeof path, "/proc/%d", (int)p->pid);
	if (p->jits == NULL || stat(path, &st) != 0)
		return;
	st_record_as((uint32_t)p->pid, (uint32_t)p->pid);
	st_jitset_flush(p->jits, (uint32_t)p->pid, st.st_uid);
	free(p->jits);
	p->jits = NULL;
}
