/* A library whose constructor makes socket calls: it runs before the shim's
 * own constructor, so the shim must set itself up on first use. */
#define _GNU_SOURCE
#include <stdio.h>
#include <sys/socket.h>

__attribute__((constructor)) static void early_calls(void)
{
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0)
		return;
	struct sockaddr_storage ss;
	socklen_t len = sizeof ss;
	int ret = getsockname(sv[0], (struct sockaddr *)&ss, &len);
	printf("early-constructor fd=%d getsockname=%d\n", sv[0], ret);
	fflush(stdout);
}
