/* Loaded with dlopen by stackprog: a call chain inside a late library. */
#define _GNU_SOURCE
#include <sys/socket.h>

__attribute__((noinline)) static int dl_inner(int fd, const struct sockaddr *sa, socklen_t len)
{
	int ret = connect(fd, sa, len);
	__asm__ volatile("" ::: "memory"); /* no tail call: keep this frame */
	return ret;
}

__attribute__((noinline)) int dl_outer(int fd, const struct sockaddr *sa, socklen_t len)
{
	int ret = dl_inner(fd, sa, len);
	__asm__ volatile("" ::: "memory");
	return ret;
}
