/* names_loop_lttng N: the names loop of names_loop.c with one LTTng-UST
 * tracepoint per call, recording what socktrace records (call, fd, result,
 * errno, both endpoints): the reference user-space tracer beside the shim.
 * Prints wall and thread CPU nanoseconds per iteration (two events). */
#define _GNU_SOURCE
#include <errno.h>
#include <string.h>

#include "../bench.h"
#include "names_tp.h"

int main(int argc, char **argv)
{
	long n = argc > 1 ? atol(argv[1]) : 100000;
	int listener = bench_listener();
	int conn = bench_connect(listener);
	uint8_t local[16] = {0}, peer[16] = {0};
	uint64_t start = bench_now(), cpu = bench_cpu_now();
	for (long i = 0; i < n; i++) {
		struct sockaddr_storage ss;
		socklen_t len = sizeof ss;
		int ret = getsockname(conn, (struct sockaddr *)&ss, &len);
		memcpy(local, &ss, sizeof local);
		tracepoint(socktrace_bench, call, 4, conn, ret, ret < 0 ? errno : 0, local, peer);
		len = sizeof ss;
		int ret2 = getpeername(conn, (struct sockaddr *)&ss, &len);
		memcpy(peer, &ss, sizeof peer);
		tracepoint(socktrace_bench, call, 5, conn, ret2, ret2 < 0 ? errno : 0, local, peer);
		if (ret < 0 || ret2 < 0)
			return 1;
	}
	printf("%.1f %.1f\n", (double)(bench_now() - start) / (double)n,
	       (double)(bench_cpu_now() - cpu) / (double)n);
	return 0;
}
