/*
 * namestops N: N x (getsockname, getpeername) on a connected socket, then the
 * voluntary context switches the loop made (getrusage): each ptrace stop
 * puts the program to sleep once, so under the tracer this counts its stops
 * (socktrace answers these calls at one stop each, strace takes two).
 */
#include "progs.h"

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
	long before = namestops_switches();
	for (long i = 0; i < n; i++) {
		socklen_t len = sizeof ss;
		CHECK(getsockname(c, (struct sockaddr *)&ss, &len) == 0);
		len = sizeof ss;
		CHECK(getpeername(c, (struct sockaddr *)&ss, &len) == 0);
	}
	printf("calls %ld switches %ld\n", 2 * n, namestops_switches() - before);
	close(c);
	close(l);
	return 0;
}
