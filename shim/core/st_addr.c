/* Endpoint helpers shared by the wrappers. */
#define _GNU_SOURCE
#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/uio.h>

#include "st_core.h"

void st_addr_from(struct st_addr *a, const void *sa, socklen_t len)
{
	if (len > ST_ADDR_MAX)
		len = ST_ADDR_MAX;
	a->len = len;
	if (len)
		memcpy(&a->ss, sa, len);
}

/*
 * The same, for an address the kernel may never have read (a connect that
 * failed with EBADF, or was refused by a seccomp filter before the call ran):
 * copied with process_vm_readv on this process, which fails with EFAULT
 * instead of faulting.  Only on failed calls, so its cost is rare.
 */
void st_addr_copy(struct st_addr *a, const void *sa, socklen_t len)
{
	if (len > ST_ADDR_MAX)
		len = ST_ADDR_MAX;
	a->len = 0;
	if (len == 0 || sa == NULL)
		return;
	struct iovec local = {&a->ss, len}, remote = {(void *)sa, len};
	long pid = st_raw_syscall(SYS_getpid, 0, 0, 0, 0, 0, 0);
	if (st_raw_syscall(SYS_process_vm_readv, pid, (long)&local, 1, (long)&remote, 1, 0) ==
	    (long)len)
		a->len = len;
}

/* True for an inet address the kernel will report back unchanged as the peer
 * (connecting to 0.0.0.0 or :: reaches loopback, which getpeername shows). */
bool st_addr_is_specific_inet(const struct st_addr *a)
{
	if (a->len >= sizeof(struct sockaddr_in) && a->ss.ss_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)&a->ss;
		return in->sin_addr.s_addr != htonl(INADDR_ANY) && in->sin_port != 0;
	}
	if (a->len >= sizeof(struct sockaddr_in6) && a->ss.ss_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)&a->ss;
		return !IN6_IS_ADDR_UNSPECIFIED(&in6->sin6_addr) && in6->sin6_port != 0;
	}
	return false;
}

static bool st_addr_unix_named(const struct st_addr *a)
{
	return a->ss.ss_family == AF_UNIX && a->len > sizeof(sa_family_t);
}

static unsigned st_addr_port(const struct st_addr *a)
{
	if (a->ss.ss_family == AF_INET && a->len >= sizeof(struct sockaddr_in))
		return ((const struct sockaddr_in *)&a->ss)->sin_port;
	if (a->ss.ss_family == AF_INET6 && a->len >= sizeof(struct sockaddr_in6))
		return ((const struct sockaddr_in6 *)&a->ss)->sin6_port;
	return 0;
}

/* A local address that nothing but connect (which forgets the fd) can change:
 * an inet port once bound, a unix name once bound. */
bool st_addr_is_settled(const struct st_addr *a)
{
	return st_addr_port(a) != 0 || st_addr_unix_named(a);
}

/* A listener's local address that its accepted sockets share exactly: a bound
 * unix name, or an inet address that is not the wildcard. */
bool st_addr_is_shared_by_accepted(const struct st_addr *a)
{
	return st_addr_is_specific_inet(a) || st_addr_unix_named(a);
}

/* Asks the kernel for the peer; true when the socket is connected. */
bool st_kernel_peer(int fd, struct st_addr *peer)
{
	int saved = errno;
	peer->len = sizeof peer->ss;
	bool connected =
		st_kernel_name(true, fd, (struct sockaddr *)&peer->ss, &peer->len) == 0;
	if (!connected)
		peer->len = 0;
	if (peer->len > ST_ADDR_MAX)
		peer->len = ST_ADDR_MAX;
	errno = saved;
	return connected;
}

/* Asks the kernel for both ends; true when the socket is connected. */
bool st_kernel_endpoints(int fd, struct st_addr *local, struct st_addr *peer)
{
	int saved = errno;
	local->len = sizeof local->ss;
	if (st_kernel_name(false, fd, (struct sockaddr *)&local->ss, &local->len) < 0)
		local->len = 0;
	if (local->len > ST_ADDR_MAX)
		local->len = ST_ADDR_MAX;
	errno = saved;
	return st_kernel_peer(fd, peer) && local->len > 0;
}
