/* names_loop N: N x (getsockname + getpeername) on a connected loopback
 * socket; prints wall and thread CPU nanoseconds per iteration. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"

int main(int argc, char **argv)
{
	long n = argc > 1 ? atol(argv[1]) : 100000;
	int listener = bench_listener();
	int conn = bench_connect(listener);
	uint64_t start = bench_now(), cpu = bench_cpu_now();
	for (long i = 0; i < n; i++) {
		struct sockaddr_storage ss;
		socklen_t len = sizeof ss;
		if (getsockname(conn, (struct sockaddr *)&ss, &len) < 0 ||
		    getpeername(conn, (struct sockaddr *)&ss, &len) < 0)
			return 1;
	}
	printf("%.1f %.1f\n", (double)(bench_now() - start) / (double)n,
	       (double)(bench_cpu_now() - cpu) / (double)n);
	return 0;
}
