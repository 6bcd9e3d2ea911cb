/* connect_loop N: N x (socket, connect, accept, close both) over loopback;
 * prints nanoseconds per cycle.  accept is given an address buffer, as real
 * servers give it (NULL would be the cheapest case for the shim). */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bench.h"

int main(int argc, char **argv)
{
	long n = argc > 1 ? atol(argv[1]) : 5000;
	int listener = bench_listener();
	uint64_t start = bench_now();
	for (long i = 0; i < n; i++) {
		int c = bench_connect(listener);
		struct sockaddr_storage peer;
		socklen_t len = sizeof peer;
		int a = accept(listener, (struct sockaddr *)&peer, &len);
		if (a < 0)
			return 1;
		close(c);
		close(a);
	}
	printf("%.1f\n", (double)(bench_now() - start) / (double)n);
	return 0;
}
