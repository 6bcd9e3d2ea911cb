/* Endpoint helpers shared by the wrappers. */
#define _GNU_SOURCE
#include <errno.h>
#include <netinet/in.h>
#include <string.h>

#include "st_internal.h"

void st_addr_from(struct st_addr *a, const void *sa, socklen_t len)
{
	if (len > ST_ADDR_MAX)
		len = ST_ADDR_MAX;
	a->len = len;
	if (len)
		memcpy(&a->ss, sa, len);
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

/* Asks the kernel for both ends; true when the socket is connected. */
bool st_kernel_endpoints(int fd, struct st_addr *local, struct st_addr *peer)
{
	int saved = errno;
	local->len = sizeof local->ss;
	if (st_real_getsockname(fd, (struct sockaddr *)&local->ss, &local->len) < 0)
		local->len = 0;
	peer->len = sizeof peer->ss;
	bool connected =
		st_real_getpeername(fd, (struct sockaddr *)&peer->ss, &peer->len) == 0;
	if (!connected)
		peer->len = 0;
	if (local->len > ST_ADDR_MAX)
		local->len = ST_ADDR_MAX;
	if (peer->len > ST_ADDR_MAX)
		peer->len = ST_ADDR_MAX;
	errno = saved;
	return connected && local->len > 0;
}
