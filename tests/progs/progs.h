/* Helpers for the programs the tests run under the shim. */
#ifndef PROGS_H
#define PROGS_H

#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define CHECK(x)                                                                  \
	do {                                                                      \
		if (!(x)) {                                                       \
			fprintf(stderr, "%s:%d: %s failed: %s\n", __FILE__, __LINE__, \
				#x, strerror(errno));                             \
			exit(99);                                                 \
		}                                                                 \
	} while (0)

/* A system call made by the syscall instruction itself, as Go's runtime and
 * static libraries make them: no libc function is called, so the shim cannot
 * see it (-errno on failure). */
static inline long inline_syscall(long n, long a1, long a2, long a3)
{
	long ret;
	__asm__ volatile("syscall" : "=a"(ret) : "a"(n), "D"(a1), "S"(a2), "d"(a3)
			 : "rcx", "r11", "memory");
	return ret;
}

/* A loopback TCP listener on a kernel-chosen port; *port receives it. */
static inline int tcp_listener(int family, unsigned *port)
{
	int fd = socket(family, SOCK_STREAM, 0);
	CHECK(fd >= 0);
	struct sockaddr_storage ss = {0};
	socklen_t len;
	if (family == AF_INET) {
		struct sockaddr_in *in = (struct sockaddr_in *)&ss;
		in->sin_family = AF_INET;
		in->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		len = sizeof *in;
	} else {
		struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
		in6->sin6_family = AF_INET6;
		in6->sin6_addr = in6addr_loopback;
		len = sizeof *in6;
	}
	CHECK(bind(fd, (struct sockaddr *)&ss, len) == 0);
	CHECK(listen(fd, 64) == 0);
	len = sizeof ss;
	CHECK(getsockname(fd, (struct sockaddr *)&ss, &len) == 0);
	*port = ntohs(family == AF_INET ? ((struct sockaddr_in *)&ss)->sin_port
					: ((struct sockaddr_in6 *)&ss)->sin6_port);
	return fd;
}

static inline int tcp_connect(int family, unsigned port)
{
	int fd = socket(family, SOCK_STREAM, 0);
	CHECK(fd >= 0);
	struct sockaddr_storage ss = {0};
	socklen_t len;
	if (family == AF_INET) {
		struct sockaddr_in *in = (struct sockaddr_in *)&ss;
		in->sin_family = AF_INET;
		in->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		in->sin_port = htons((uint16_t)port);
		len = sizeof *in;
	} else {
		struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
		in6->sin6_family = AF_INET6;
		in6->sin6_addr = in6addr_loopback;
		in6->sin6_port = htons((uint16_t)port);
		len = sizeof *in6;
	}
	CHECK(connect(fd, (struct sockaddr *)&ss, len) == 0);
	return fd;
}

/* "addr:port" of an inet endpoint, "unix:path" / "unix:@name" / "unix:" */
static inline const char *ep_str(const struct sockaddr_storage *ss, socklen_t len, char *buf,
				 size_t size)
{
	char a[INET6_ADDRSTRLEN];
	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)ss;
		snprintf(buf, size, "%s:%u", inet_ntop(AF_INET, &in->sin_addr, a, sizeof a),
			 ntohs(in->sin_port));
	} else if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)ss;
		snprintf(buf, size, "[%s]:%u", inet_ntop(AF_INET6, &in6->sin6_addr, a, sizeof a),
			 ntohs(in6->sin6_port));
	} else if (ss->ss_family == AF_UNIX) {
		const struct sockaddr_un *un = (const struct sockaddr_un *)ss;
		size_t n = len > offsetof(struct sockaddr_un, sun_path)
				   ? len - offsetof(struct sockaddr_un, sun_path) : 0;
		if (n == 0)
			snprintf(buf, size, "unix:");
		else if (un->sun_path[0] == '\0')
			snprintf(buf, size, "unix:@%.*s", (int)n - 1, un->sun_path + 1);
		else
			snprintf(buf, size, "unix:%.*s", (int)strnlen(un->sun_path, n), un->sun_path);
	} else {
		snprintf(buf, size, "family%d", ss->ss_family);
	}
	return buf;
}

/* Prints "LABEL fd=N local=... peer=..." as the program itself sees it. */
static inline void show_ends(const char *label, int fd)
{
	struct sockaddr_storage l, p;
	socklen_t ll = sizeof l, pl = sizeof p;
	char lb[160], pb[160];
	CHECK(getsockname(fd, (struct sockaddr *)&l, &ll) == 0);
	CHECK(getpeername(fd, (struct sockaddr *)&p, &pl) == 0);
	printf("%s fd=%d local=%s peer=%s\n", label, fd, ep_str(&l, ll, lb, sizeof lb),
	       ep_str(&p, pl, pb, sizeof pb));
}

#endif
