/*
 * getsockname and getpeername learned at the seccomp stop, with no exit
 * stop: one stop per call instead of an entry stop and an exit stop.  A stop
 * is the tracer's whole cost (two context switches, about 3.5 us on this
 * machine, against well under a microsecond for what is done at it), so
 * this halves the cost of a program that asks for names in a loop.
 *
 * The program's own call runs, after the stop: what it gets is the
 * kernel's answer, never one the tracer made.  The record is the answer the
 * kernel gives the same question asked a moment before, through a copy of
 * the descriptor (pidfd_getfd: the same socket, the same answer), down to
 * the errno, so the kernel's own order is followed (net/socket.c,
 * __sys_getsockname and move_addr_to_user):
 *   no such descriptor (or an O_PATH one)  EBADF
 *   not a socket                           ENOTSOCK
 *   the protocol's getname fails           its error (ENOTCONN, ...)
 *   *len unreadable                        EFAULT
 * then, in the order of the running kernel (which has changed between
 * versions: move_addr_to_user now stores the length first):
 *   the real length stored to *len         EFAULT when it cannot be
 *   *len < 0 (after taking the smaller)    EINVAL
 *   min(*len, real) bytes to addr          EFAULT when they cannot be
 * Which order this kernel has is asked of it once, with a call on a socket
 * of the tracer's own (st_tr_length_first), not guessed from its version;
 * when it cannot be asked, the call gets its two stops.  Whether the stores
 * would fault is learned by making them: process_vm_writev of the bytes the
 * kernel is about to store in the same places, which fails with EFAULT
 * exactly where the program's call will (a read-only or unmapped page).
 * Only a change between the stop and the call (another thread's write to
 * *len, a reset arriving in that microsecond) can make the two differ, and
 * then only in the record.  When the tracer cannot ask (its own descriptors
 * exhausted, the process going away), the call gets its exit stop, as
 * every other call does.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/kcmp.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include "st_tracer.h"

/* Whether this kernel stores the length before the address: asked with a
 * NULL address and room for 4 bytes on an unnamed Unix socket (its name is
 * 2 bytes), which fails with EFAULT either way, the length given back (2)
 * only when it is stored first.  -1 when it cannot be asked: then no call
 * is learned at its entry, each has its exit stop. */
static int st_tr_length_first(void)
{
	static int first = -2;
	if (first == -2) {
		int s = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
		socklen_t len = 4;
		first = s < 0 || getsockname(s, NULL, &len) == 0 || errno != EFAULT ? -1
			: len != 4;
		if (s >= 0)
			close(s);
	}
	return first;
}

/* The address part of the answer, in the running kernel's order: 0 or
 * -errno.  Both stores are one process_vm_writev, which stops at the first
 * that faults, as the kernel does: how far it got says which one failed.
 * The program's memory must come out as its own call needs it: the address
 * bytes are the ones that call stores there next, and *len gets back the
 * value it holds (the real length in it now would be the call's input, and
 * change its answer: a NULL address with *len 0 would fault). */
static long st_tr_name_store(pid_t tid, const uint64_t args[6], const struct sockaddr_storage *ss,
			     int klen, int ulen)
{
	int len = ulen > klen ? klen : ulen;
	bool length_first = st_tr_length_first() == 1;
	struct iovec local[2], remote[2];
	unsigned n = 0;
	size_t want = 0;
	if (len < 0)
		return -EINVAL; /* nothing stored, in either order */
	if (length_first) {
		local[n] = (struct iovec){&ulen, sizeof ulen};
		remote[n++] = (struct iovec){(void *)(uintptr_t)args[2], sizeof ulen};
	}
	if (len > 0) {
		local[n] = (struct iovec){(void *)ss, (size_t)len};
		remote[n++] = (struct iovec){(void *)(uintptr_t)args[1], (size_t)len};
	}
	if (!length_first) {
		local[n] = (struct iovec){&ulen, sizeof ulen};
		remote[n++] = (struct iovec){(void *)(uintptr_t)args[2], sizeof ulen};
	}
	for (unsigned i = 0; i < n; i++)
		want += local[i].iov_len;
	if (n > 0 && process_vm_writev(tid, local, n, remote, n, 0) != (ssize_t)want)
		return -EFAULT;
	return 0;
}

/* Whether the descriptors pidfd_getfd reads (the process leader's) are
 * this thread's: not after unshare(CLONE_FILES), nor in a thread cloned
 * without CLONE_FILES.  Asked with kcmp once per thread and again after
 * any unshare(CLONE_FILES) in its process (seen at its entry, so the next
 * question comes after it); when kcmp cannot say, the exit stop tells. */
static bool st_tr_files_shared(struct st_tr_thread *t)
{
	struct st_tr_proc *p = t->proc;
	if (t->files_epoch != p->files_epoch) {
		t->files_shared = t->tid == p->pid ||
				  syscall(SYS_kcmp, p->pid, t->tid, KCMP_FILES, 0L, 0L) == 0;
		t->files_epoch = p->files_epoch;
	}
	return t->files_shared;
}

/* pid's security label (/proc/PID/attr/current) into buf: its text, or
 * "-errno" when there is none to read (no LSM gives one: EINVAL). */
static void st_tr_label_of(const char *pid, char *buf, size_t size)
{
	char path[64];
	snprintf(path, sizeof path, "/proc/%s/attr/current", pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t got = fd >= 0 ? read(fd, buf, size - 1) : -1;
	int err = errno;
	if (fd >= 0)
		close(fd);
	if (got < 0)
		snprintf(buf, size, "-%d", err);
	else
		buf[got] = '\0';
}

/* Whether the process runs under the tracer's own security label: a Linux
 * security module (AppArmor, SELinux) checks getsockname and getpeername
 * against the caller's label, and the tracer's copy of the call would be
 * allowed where the program's own is denied.  Asked once per process;
 * under another label, the exit stop tells. */
static bool st_tr_same_label(struct st_tr_proc *p)
{
	if (!p->label_asked) {
		char theirs[256], ours[256], pid[16];
		snprintf(pid, sizeof pid, "%d", (int)p->pid);
		st_tr_label_of(pid, theirs, sizeof theirs);
		st_tr_label_of("self", ours, sizeof ours);
		p->label_same = strcmp(theirs, ours) == 0;
		p->label_asked = true;
	}
	return p->label_same;
}

/* The kernel's answer to the call, as ret >= 0 or -errno; false when the
 * tracer could not learn it and the call needs its exit stop. */
/*
 * A connected TCP socket's own address, as the kernel gave it when the
 * tracer saw the socket connected or accepted: it stays the same while the
 * socket lives (a bind after a connect is refused, a disconnect is a connect
 * the filter stops at and forgets it, and a reset or both FINs leave it, where
 * getpeername turns to ENOTCONN: checked on this kernel), the same trust the
 * shim's cache puts in it.  Saves the copy of the descriptor and the question:
 * three of the stop's eight system calls.
 */
static bool st_tr_local_known(int fd, struct sockaddr_storage *ss, socklen_t *len)
{
	enum st_life_state state;
	uint8_t flags;
	uint64_t since;
	struct st_addr local, peer;
	if (!st_life_get(fd, &state, &flags, &since) ||
	    (state != ST_LIFE_CLIENT && state != ST_LIFE_SERVER && state != ST_LIFE_INHERITED) ||
	    ST_EV_PROTO(flags) != ST_PROTO_TCP || !st_fdcache_load(fd, &local, &peer) ||
	    local.len == 0 || local.len >= ST_ADDR_MAX)
		return false;
	memcpy(ss, &local.ss, local.len);
	*len = local.len;
	return true;
}

/* The kernel's own answer, asked through a copy of the descriptor: 0, or
 * -errno as the program's call will fail; false when the tracer could not
 * ask (its own EMFILE, the process going away). */
static bool st_tr_name_asked(long nr, int fd, struct sockaddr_storage *ss, socklen_t *klen,
			     long *ret)
{
	int ours = st_tr_borrow(fd);
	if (ours < 0) {
		if (errno != EBADF)
			return false; /* ours to fail (EMFILE, ESRCH), not the program's */
		*ret = -EBADF;
		return true;
	}
	int rc = nr == SYS_getsockname ? getsockname(ours, (struct sockaddr *)ss, klen)
				       : getpeername(ours, (struct sockaddr *)ss, klen);
	*ret = rc != 0 ? -errno : 0;
	return true;
}

static bool st_tr_name_answer(struct st_tr_thread *t, long nr, const uint64_t args[6],
			      long *ret, socklen_t *real_len)
{
	if (t->proc->pidfd < 0 || st_tr_length_first() < 0 || !st_tr_same_label(t->proc) ||
	    !st_tr_files_shared(t))
		return false; /* no way to ask the same question: the exit stop tells */
	struct sockaddr_storage ss;
	socklen_t klen = sizeof ss;
	if (!(nr == SYS_getsockname && st_tr_local_known((int)args[0], &ss, &klen))) {
		if (!st_tr_name_asked(nr, (int)args[0], &ss, &klen, ret))
			return false;
		if (*ret != 0)
			return true;
	}
	int ulen;
	if (!st_tr_read(t->tid, args[2], &ulen, sizeof ulen)) {
		*ret = -EFAULT;
		return true;
	}
	*ret = st_tr_name_store(t->tid, args, &ss, (int)klen, ulen);
	*real_len = klen;
	return true;
}

bool st_tr_name_learn(struct st_tr_thread *t, long nr, const uint64_t args[6])
{
	long ret;
	socklen_t real_len = 0;
	st_tr_kernel_use(t->proc);
	if (!st_tr_name_answer(t, nr, args, &ret, &real_len)) {
		st_tr_kernel_release();
		return false;
	}
	t->call.name_len = ret == 0 ? (long)real_len : -1;
	st_tr_call_exit(t, ret < 0 ? ret : 0, ret < 0);
	return true;
}
