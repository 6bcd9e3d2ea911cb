/*
 * Calls through which a program learns how its pending connect ended
 * (getsockopt SO_ERROR), or ends a connection without closing the fd
 * (shutdown).  Each calls the real function first; the program's buffer is
 * read only where the kernel has just written it.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <string.h>
#include <sys/syscall.h>

#include "st_internal.h"

#define ST_EXPORT __attribute__((visibility("default")))

static inline __attribute__((always_inline)) int st_getsockopt(bool raw, int fd, int level,
								int name, void *val,
								socklen_t *len)
{
	int ret = raw ? (int)ST_SYS(SYS_getsockopt, fd, level, name, val, len)
		      : st_real_getsockopt(fd, level, name, val, len);
	if (ret == 0 && level == SOL_SOCKET && name == SO_ERROR && val != NULL && len != NULL &&
	    *len >= (socklen_t)sizeof(int) && st_ready()) {
		uint64_t ts = st_now_ns(); /* the result's time: this call's */
		int saved = errno, err;
		memcpy(&err, val, sizeof err);
		st_call_so_error(fd, err, ts);
		errno = saved;
	}
	return ret;
}

ST_EXPORT int getsockopt(int fd, int level, int name, void *val, socklen_t *len)
{
	return st_getsockopt(false, fd, level, name, val, len);
}

int st_sys_getsockopt(int fd, int level, int name, void *val, socklen_t *len)
{
	return st_getsockopt(true, fd, level, name, val, len);
}

static inline __attribute__((always_inline)) int st_shutdown(bool raw, int fd, int how)
{
	int ret = raw ? (int)ST_SYS(SYS_shutdown, fd, how) : st_real_shutdown(fd, how);
	if (ret == 0 && st_ready()) {
		int saved = errno;
		st_call_shutdown(fd, how);
		errno = saved;
	}
	return ret;
}

ST_EXPORT int shutdown(int fd, int how)
{
	return st_shutdown(false, fd, how);
}

int st_sys_shutdown(int fd, int how)
{
	return st_shutdown(true, fd, how);
}
