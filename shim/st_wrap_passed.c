/*
 * recvmsg(), wrapped only to see sockets another process passes to this one
 * (SCM_RIGHTS): vsftpd's privileged process connects an active-mode data
 * connection and hands it to the session process, which sends the file;
 * unseen, the connection ended at the connecting process's close with 0
 * bytes, where the kernel counted the whole file.  Messages without control
 * data (every data read) cost one test.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <string.h>
#include <sys/socket.h>

#include "st_internal.h"

#define ST_EXPORT __attribute__((visibility("default")))

/* At most this many fds are looked at per message: a message carries at
 * most SCM_MAX_FD (253) per control header, and a program that passes
 * sockets passes one or a few at a time. */
#define ST_PASSED_MAX 64

/* The fds of msg's SCM_RIGHTS headers, into fds; how many.  The kernel
 * wrote the control data just now, so its lengths are its own. */
static size_t st_passed_fds(const struct msghdr *msg, int *fds, size_t max)
{
	size_t n = 0;
	for (const struct cmsghdr *h = CMSG_FIRSTHDR(msg); h != NULL;
	     h = CMSG_NXTHDR((struct msghdr *)msg, (struct cmsghdr *)h)) {
		if (h->cmsg_level != SOL_SOCKET || h->cmsg_type != SCM_RIGHTS ||
		    h->cmsg_len < CMSG_LEN(0))
			continue;
		size_t count = (h->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t i = 0; i < count && n < max; i++)
			memcpy(&fds[n++], CMSG_DATA(h) + i * sizeof(int), sizeof(int));
	}
	return n;
}

ST_EXPORT ssize_t recvmsg(int fd, struct msghdr *msg, int flags)
{
	ssize_t ret = st_real_recvmsg(fd, msg, flags);
	if (ST_LIKELY(ret < 0 || msg->msg_controllen == 0) || msg->msg_control == NULL)
		return ret;
	int saved = errno;
	if (st_ready() && st_following()) {
		int fds[ST_PASSED_MAX];
		size_t n = st_passed_fds(msg, fds, ST_PASSED_MAX);
		if (n > 0)
			st_call_passed_in(fds, n);
	}
	errno = saved;
	return ret;
}
