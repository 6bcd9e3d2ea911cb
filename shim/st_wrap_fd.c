/*
 * Calls that end or replace what an fd number names, or change a socket's local
 * address (bind, listen's autobind).  They are wrapped only so the fd cache
 * forgets the number after the real call; nothing is recorded.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <unistd.h>

#include "st_internal.h"

#define ST_EXPORT __attribute__((visibility("default")))

ST_EXPORT int close(int fd)
{
	int ret = st_real_close(fd);
	st_fdcache_forget(fd);
	return ret;
}

ST_EXPORT int dup(int fd)
{
	int ret = st_real_dup(fd);
	st_fdcache_forget(ret);
	return ret;
}

ST_EXPORT int dup2(int oldfd, int newfd)
{
	int ret = st_real_dup2(oldfd, newfd);
	if (oldfd != newfd)
		st_fdcache_forget(newfd);
	return ret;
}

ST_EXPORT int dup3(int oldfd, int newfd, int flags)
{
	int ret = st_real_dup3(oldfd, newfd, flags);
	st_fdcache_forget(newfd);
	return ret;
}

ST_EXPORT int close_range(unsigned first, unsigned last, int flags)
{
	int ret = st_real_close_range(first, last, flags);
	st_fdcache_forget_range(first, last);
	return ret;
}

ST_EXPORT void closefrom(int lowfd)
{
	st_real_closefrom(lowfd);
	if (lowfd >= 0)
		st_fdcache_forget_range((unsigned)lowfd, ~0u);
}

ST_EXPORT int fclose(FILE *stream)
{
	int fd = stream ? fileno_unlocked(stream) : -1;
	int ret = st_real_fclose(stream);
	st_fdcache_forget(fd);
	return ret;
}

ST_EXPORT int socket(int domain, int type, int protocol)
{
	int ret = st_real_socket(domain, type, protocol);
	st_fdcache_forget(ret);
	return ret;
}

ST_EXPORT int socketpair(int domain, int type, int protocol, int sv[2])
{
	int ret = st_real_socketpair(domain, type, protocol, sv);
	if (ret == 0) {
		st_fdcache_forget(sv[0]);
		st_fdcache_forget(sv[1]);
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
