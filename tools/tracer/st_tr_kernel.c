/*
 * The kernel's view of a traced process's socket, as the core asks it
 * (st_kernel): the tracer borrows the descriptor with pidfd_getfd (a copy
 * naming the same socket), asks, and closes its copy before the thread it
 * stopped runs again (st_tr_kernel_release), so the program's close is
 * always the socket's last: socktrace never holds a connection open.  The
 * program's memory is read with process_vm_readv, which fails cleanly on
 * a bad address instead of faulting.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include "st_tracer.h"

static struct st_tr_proc *st_tr_asked; /* whose descriptors the questions name */

/* The descriptors borrowed while handling one stop: a close handled at its
 * entry asks several questions of one socket, one copy serves them all. */
#define ST_TR_BORROWED 4
static struct {
	int theirs, ours;
} st_tr_borrowed[ST_TR_BORROWED];
static unsigned st_tr_nborrowed;

int st_tr_borrow(int fd)
{
	for (unsigned i = 0; i < st_tr_nborrowed; i++)
		if (st_tr_borrowed[i].theirs == fd)
			return st_tr_borrowed[i].ours;
	if (st_tr_asked == NULL || st_tr_asked->pidfd < 0 || fd < 0) {
		errno = EBADF;
		return -1;
	}
	int ours = (int)syscall(SYS_pidfd_getfd, st_tr_asked->pidfd, fd, 0);
	if (ours < 0)
		return -1;
	if (st_tr_nborrowed == ST_TR_BORROWED)
		st_tr_kernel_release();
	st_tr_borrowed[st_tr_nborrowed].theirs = fd;
	st_tr_borrowed[st_tr_nborrowed++].ours = ours;
	return ours;
}

void st_tr_kernel_release(void)
{
	for (unsigned i = 0; i < st_tr_nborrowed; i++)
		close(st_tr_borrowed[i].ours);
	st_tr_nborrowed = 0;
}

static int st_tr_getsockopt(int fd, int level, int name, void *val, socklen_t *len)
{
	int ours = st_tr_borrow(fd);
	return ours < 0 ? -1 : getsockopt(ours, level, name, val, len);
}

static int st_tr_getsockname(int fd, struct sockaddr *addr, socklen_t *len)
{
	int ours = st_tr_borrow(fd);
	return ours < 0 ? -1 : getsockname(ours, addr, len);
}

static int st_tr_getpeername(int fd, struct sockaddr *addr, socklen_t *len)
{
	int ours = st_tr_borrow(fd);
	return ours < 0 ? -1 : getpeername(ours, addr, len);
}

void st_tr_kernel_use(struct st_tr_proc *p)
{
	if (p != st_tr_asked)
		st_tr_kernel_release();
	st_tr_asked = p;
	st_tab = p->tab;
	st_kernel = (struct st_kernel_view){.getsockopt = st_tr_getsockopt,
					    .getsockname = st_tr_getsockname,
					    .getpeername = st_tr_getpeername};
}

bool st_tr_read(pid_t tid, uint64_t addr, void *buf, size_t len)
{
	if (len == 0)
		return true;
	struct iovec local = {buf, len}, remote = {(void *)(uintptr_t)addr, len};
	return process_vm_readv(tid, &local, 1, &remote, 1, 0) == (ssize_t)len;
}

bool st_tr_write(pid_t tid, uint64_t addr, const void *buf, size_t len)
{
	if (len == 0)
		return true;
	struct iovec local = {(void *)buf, len}, remote = {(void *)(uintptr_t)addr, len};
	return process_vm_writev(tid, &local, 1, &remote, 1, 0) == (ssize_t)len;
}
