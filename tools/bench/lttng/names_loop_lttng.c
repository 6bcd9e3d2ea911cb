/* names_loop_lttng N: the names loop of names_loop.c with one LTTng-UST
 * tracepoint per call, recording what socktrace records (call, fd, result,
 * errno, both endpoints): the reference user-space tracer beside the shim.
 * Prints wall and thread CPU nanoseconds per iteration (two events).
 * names_loop_lttng ab BLOCKS PER_BLOCK: blocks with the tracepoints
 * alternated with blocks without, in one process; prints the CPU
 * nanoseconds the tracepoints add per iteration and what the bare ones
 * take (bench_ab). */
#define _GNU_SOURCE
#include <errno.h>
#include <string.h>

#include "../bench.h"
#include "names_tp.h"

static int lttng_conn;

static void lttng_block(long n, bool traced)
{
	uint8_t local[16] = {0}, peer[16] = {0};
	for (long i = 0; i < n; i++) {
		struct sockaddr_storage ss;
		socklen_t len = sizeof ss;
		int ret = getsockname(lttng_conn, (struct sockaddr *)&ss, &len);
		memcpy(local, &ss, sizeof local);
		if (traced)
			tracepoint(socktrace_bench, call, 4, lttng_conn, ret, ret < 0 ? errno : 0,
				   local, peer);
		len = sizeof ss;
		int ret2 = getpeername(lttng_conn, (struct sockaddr *)&ss, &len);
		memcpy(peer, &ss, sizeof peer);
		if (traced)
			tracepoint(socktrace_bench, call, 5, lttng_conn, ret2, ret2 < 0 ? errno : 0,
				   local, peer);
		if (ret < 0 || ret2 < 0)
			bench_die("names");
	}
}

static void lttng_traced(long n, void *arg)
{
	(void)arg;
	lttng_block(n, true);
}

static void lttng_bare(long n, void *arg)
{
	(void)arg;
	lttng_block(n, false);
}

int main(int argc, char **argv)
{
	int listener = bench_listener();
	lttng_conn = bench_connect(listener);
	if (argc > 3 && strcmp(argv[1], "ab") == 0) {
		double bare_per,
			added = bench_ab(atol(argv[2]), atol(argv[3]), lttng_traced, lttng_bare, NULL,
					 &bare_per);
		printf("%.1f %.1f\n", added, bare_per);
		return 0;
	}
	long n = argc > 1 ? atol(argv[1]) : 100000;
	uint64_t start = bench_now(), cpu = bench_cpu_now();
	lttng_block(n, true);
	printf("%.1f %.1f\n", (double)(bench_now() - start) / (double)n,
	       (double)(bench_cpu_now() - cpu) / (double)n);
	return 0;
}
