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

#endif
