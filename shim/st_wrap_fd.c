/*
 * Calls that end or replace what an fd number names, or change a socket's local
 * address (bind, listen's autobind).  The fd cache forgets the number after the
 * real call; a connection that ends here gets its close record (st_end.c),
 * prepared before the real call, since the number may be reused at once.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <linux/close_range.h>

#include "st_internal.h"

#define ST_EXPORT __attribute__((visibility("default")))

/* The real call `call`, which ends what fd holds: its end is taken before
 * (the number may be reused at once) and recorded after, unless EBADF. */
#define ST_ENDING(fd, how, call)                                   \
	({                                                         \
		struct st_end_note note_;                          \
		bool ready_ = st_ready() && st_end_begin(fd, how, &note_); \
		int ret_ = (call);                                 \
		int errno_ = errno;                                \
		if (ready_)                                        \
			st_end_finish(&note_, ret_, errno_);       \
		errno = errno_;                                    \
		ret_;                                              \
	})

/* Table updates may map a page or ask getpid: none once the program
 * sandboxed itself (st_wrap_seccomp.c), when any system call may kill. */
static void st_fd_duplicated(int fd, int ret)
{
	if (st_following())
		st_call_duplicated(fd, ret);
}

static void st_fd_replaced(int oldfd, int newfd, int ret)
{
	if (st_following())
		st_call_replaced(oldfd, newfd, ret);
}

static void st_fd_socket(int fd, int domain, int type, int protocol)
{
	if (st_following())
		st_call_socket(fd, domain, type, protocol);
}

ST_EXPORT int close(int fd)
{
	int ret = ST_ENDING(fd, ST_END_CLOSE, st_real_close(fd));
	st_fdcache_forget(fd);
	return ret;
}

ST_EXPORT int dup(int fd)
{
	int ret = st_real_dup(fd);
	st_fd_duplicated(fd, ret);
	return ret;
}

/*
 * fcntl's F_DUPFD and F_DUPFD_CLOEXEC are dup under another name (libuv and
 * shells use them): without this, closing the original fd would end a
 * connection its copy still carries.  Every command's third argument is read
 * as one machine word, as glibc's own fcntl does: an argument the command does
 * not take is never used.
 */
static int st_fcntl_with(int (*real)(int, int, unsigned long), int fd, int cmd,
			 unsigned long arg)
{
	int ret = real(fd, cmd, arg);
	if (cmd == F_DUPFD || cmd == F_DUPFD_CLOEXEC)
		st_fd_duplicated(fd, ret);
	return ret;
}

ST_EXPORT int fcntl(int fd, int cmd, ...)
{
	va_list ap;
	va_start(ap, cmd);
	unsigned long arg = va_arg(ap, unsigned long);
	va_end(ap);
	return st_fcntl_with(st_real_fcntl, fd, cmd, arg);
}

ST_EXPORT int fcntl64(int fd, int cmd, ...)
{
	va_list ap;
	va_start(ap, cmd);
	unsigned long arg = va_arg(ap, unsigned long);
	va_end(ap);
	return st_fcntl_with(st_real_fcntl64, fd, cmd, arg);
}

ST_EXPORT int dup2(int oldfd, int newfd)
{
	if (oldfd == newfd)
		return st_real_dup2(oldfd, newfd);
	int ret = ST_ENDING(newfd, ST_END_REPLACED, st_real_dup2(oldfd, newfd));
	st_fd_replaced(oldfd, newfd, ret);
	return ret;
}

ST_EXPORT int dup3(int oldfd, int newfd, int flags)
{
	int ret = oldfd == newfd ? st_real_dup3(oldfd, newfd, flags)
				 : ST_ENDING(newfd, ST_END_REPLACED, st_real_dup3(oldfd, newfd, flags));
	st_fd_replaced(oldfd, newfd, ret);
	return ret;
}

/* Ends of every tracked fd in [first, last], recorded before the real call. */
static void st_end_range(unsigned first, unsigned last, unsigned flags)
{
	if (st_ready())
		st_call_range_ending(first, last, flags);
}

static int st_close_range_via(bool raw, unsigned first, unsigned last, int flags)
{
	st_end_range(first, last, (unsigned)flags);
	int ret = raw ? (int)ST_SYS(SYS_close_range, first, last, flags)
		      : st_real_close_range(first, last, flags);
	st_fdcache_forget_range(first, last);
	return ret;
}

ST_EXPORT int close_range(unsigned first, unsigned last, int flags)
{
	return st_close_range_via(false, first, last, flags);
}

ST_EXPORT void closefrom(int lowfd)
{
	if (lowfd >= 0)
		st_end_range((unsigned)lowfd, ~0u, 0);
	st_real_closefrom(lowfd);
	if (lowfd >= 0)
		st_fdcache_forget_range((unsigned)lowfd, ~0u);
}

ST_EXPORT int fclose(FILE *stream)
{
	int fd = stream ? fileno_unlocked(stream) : -1;
	int ret = ST_ENDING(fd, ST_END_CLOSE, st_real_fclose(stream));
	st_fdcache_forget(fd);
	return ret;
}

ST_EXPORT int socket(int domain, int type, int protocol)
{
	int ret = st_real_socket(domain, type, protocol);
	st_fd_socket(ret, domain, type, protocol);
	return ret;
}

ST_EXPORT int socketpair(int domain, int type, int protocol, int sv[2])
{
	int ret = st_real_socketpair(domain, type, protocol, sv);
	if (ret == 0 && st_following()) {
		uint8_t flags = st_life_flags_of(domain, type, protocol);
		st_fdcache_forget(sv[0]);
		st_fdcache_forget(sv[1]);
		st_life_set(sv[0], ST_LIFE_BORN, flags, 0);
		st_life_set(sv[1], ST_LIFE_BORN, flags, 0);
	}
	return ret;
}

ST_EXPORT int bind(int fd, const struct sockaddr *addr, socklen_t len)
{
	int ret = st_real_bind(fd, addr, len);
	st_fdcache_forget(fd);
	return ret;
}

ST_EXPORT int listen(int fd, int backlog)
{
	int ret = st_real_listen(fd, backlog);
	st_fdcache_forget(fd);
	return ret;
}

/*
 * The same calls made with syscall() (libuv closes every socket that way):
 * the raw system call's result and errno, and the same bookkeeping.  fcntl
 * is followed for its dup commands only; the others never reach here.
 */
long st_sys_fd(long number, long a1, long a2, long a3)
{
	int fd = (int)a1, other = (int)a2;
	long ret;
	switch (number) {
	case SYS_close:
		ret = ST_ENDING(fd, ST_END_CLOSE, (int)ST_SYS(SYS_close, fd));
		st_fdcache_forget(fd);
		return ret;
	case SYS_dup:
		ret = ST_SYS(SYS_dup, fd);
		st_fd_duplicated(fd, (int)ret);
		return ret;
	case SYS_fcntl:
		ret = ST_SYS(SYS_fcntl, fd, a2, a3);
		if (other == F_DUPFD || other == F_DUPFD_CLOEXEC)
			st_fd_duplicated(fd, (int)ret);
		return ret;
	case SYS_dup2:
	case SYS_dup3:
		if (fd == other)
			return ST_SYS(number, fd, other, a3);
		ret = ST_ENDING(other, ST_END_REPLACED, (int)ST_SYS(number, fd, other, a3));
		st_fd_replaced(fd, other, (int)ret);
		return ret;
	case SYS_close_range:
		return st_close_range_via(true, (unsigned)a1, (unsigned)a2, (int)a3);
	case SYS_socket:
		ret = ST_SYS(SYS_socket, a1, a2, a3);
		st_fd_socket((int)ret, (int)a1, (int)a2, (int)a3);
		return ret;
	default:
		return ST_SYS(number, a1, a2, a3);
	}
}
