/* Shared set-up of the benchmark loops: loopback only. */
#ifndef BENCH_H
#define BENCH_H

#include <arpa/inet.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>

static inline uint64_t bench_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* CPU time of the calling thread: what tracing adds to it, whatever else
 * the machine is doing. */
static inline uint64_t bench_cpu_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static inline void bench_die(const char *what)
{
	perror(what);
	exit(2);
}

static inline int bench_listener(void)
{
	struct sockaddr_in in = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&in, sizeof in) < 0 || listen(fd, 128) < 0)
		bench_die("listener");
	return fd;
}

static inline int bench_connect(int listener)
{
	struct sockaddr_in in;
	socklen_t len = sizeof in;
	if (getsockname(listener, (struct sockaddr *)&in, &len) < 0)
		bench_die("getsockname");
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&in, len) < 0)
		bench_die("connect");
	return fd;
}

/*
 * What tracing adds to each call, measured inside one process: blocks of
 * traced calls and blocks of the same calls made bare alternate (ABBA, so
 * that a drift of the machine's speed during the run weighs on both alike),
 * each block timed in the thread's own CPU time.  Runs of separate
 * processes differ by more than tracing adds (page cache, frequency, the
 * neighbours of a VM); blocks a millisecond apart do not.  Returns the
 * added CPU ns per iteration, and the bare CPU ns per iteration in *bare_per;
 * blocks x per_block iterations of each.
 */
typedef void bench_block_fn(long iterations, void *arg);

static inline double bench_ab(long blocks, long per_block, bench_block_fn *traced,
			      bench_block_fn *bare, void *arg, double *bare_per)
{
	uint64_t traced_ns = 0, bare_ns = 0;
	traced(per_block, arg); /* warm both paths before timing */
	bare(per_block, arg);
	for (long b = 0; b < blocks; b++) {
		bool traced_first = (b & 1) == 0;
		for (int half = 0; half < 2; half++) {
			bool is_traced = (half == 0) == traced_first;
			uint64_t t0 = bench_cpu_now();
			(is_traced ? traced : bare)(per_block, arg);
			uint64_t spent = bench_cpu_now() - t0;
			*(is_traced ? &traced_ns : &bare_ns) += spent;
		}
	}
	*bare_per = (double)bare_ns / (double)(blocks * per_block);
	return ((double)traced_ns - (double)bare_ns) / (double)(blocks * per_block);
}

#endif
