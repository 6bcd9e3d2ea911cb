/*
 * namestops N: N x (getsockname, getpeername) on a connected socket, then the
 * voluntary context switches the loop made (getrusage): each ptrace stop
 * puts the program to sleep once, so under the tracer this counts its stops
 * (socktrace answers these calls at one stop each, strace takes two).
 * namestops N loop: N x what an event loop calls on its sockets that the
 * tracer needs no stop for: fcntl F_GETFL and F_SETFL, getsockopt of its
 * own (SO_RCVBUF), unshare without CLONE_FILES.
 */
#define _GNU_SOURCE
#include "progs.h"

#include <fcntl.h>
#include <sched.h>
#include <stdbool.h>

#include <sys/resource.h>

static long namestops_switches(void)
{
	struct rusage ru;
	CHECK(getrusage(RUSAGE_SELF, &ru) == 0);
	return ru.ru_nvcsw;
}

int main(int argc, char **argv)
{
	long n = argc > 1 ? atol(argv[1]) : 1000;
	unsigned port;
	int l = tcp_listener(AF_INET, &port);
	int c = tcp_connect(AF_INET, port);
	struct sockaddr_storage ss;
	bool loop = argc > 2 && strcmp(argv[2], "loop") == 0;
	long before = namestops_switches();
	for (long i = 0; i < n && loop; i++) {
		int fl = fcntl(c, F_GETFL);
		CHECK(fl >= 0 && fcntl(c, F_SETFL, fl) == 0);
		int v;
		socklen_t vlen = sizeof v;
		CHECK(getsockopt(c, SOL_SOCKET, SO_RCVBUF, &v, &vlen) == 0);
		CHECK(unshare(0) == 0);
	}
	for (long i = 0; i < n && !loop; i++) {
		socklen_t len = sizeof ss;
		CHECK(getsockname(c, (struct sockaddr *)&ss, &len) == 0);
		len = sizeof ss;
		CHECK(getpeername(c, (struct sockaddr *)&ss, &len) == 0);
	}
	printf("calls %ld switches %ld\n", (loop ? 4 : 2) * n, namestops_switches() - before);
	close(c);
	close(l);
	return 0;
}
