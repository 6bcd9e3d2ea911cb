/* names_loop N: N x (getsockname + getpeername) on a connected loopback
 * socket; prints wall and thread CPU nanoseconds per iteration.
 * names_loop ab BLOCKS PER_BLOCK [WARM]: blocks of the loop through the program's
 * own symbols (the shim's when it is preloaded) alternated with blocks
 * through libc's (bare), in one process; prints the CPU nanoseconds the
 * first add per iteration and what the bare ones take (bench_ab); WARM
 * traced iterations first, untimed (a flight-recorder ring wrapped). */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"

typedef int name_fn(int, struct sockaddr *, socklen_t *);

struct names_calls {
	int fd;
	name_fn *sockname, *peername;
};

static void names_block(long n, const struct names_calls *c)
{
	for (long i = 0; i < n; i++) {
		struct sockaddr_storage ss;
		socklen_t len = sizeof ss;
		if (c->sockname(c->fd, (struct sockaddr *)&ss, &len) < 0 ||
		    c->peername(c->fd, (struct sockaddr *)&ss, &len) < 0)
			bench_die("names");
	}
}

static void names_traced(long n, void *arg)
{
	const struct names_calls *bare = arg;
	struct names_calls c = {bare->fd, getsockname, getpeername};
	names_block(n, &c);
}

static void names_bare(long n, void *arg)
{
	names_block(n, arg);
}

static int names_ab(int fd, long blocks, long per_block, long warm)
{
	void *libc = dlopen("libc.so.6", RTLD_NOW | RTLD_NOLOAD);
	struct names_calls bare = {fd, libc ? (name_fn *)dlsym(libc, "getsockname") : NULL,
				   libc ? (name_fn *)dlsym(libc, "getpeername") : NULL};
	if (bare.sockname == NULL || bare.peername == NULL)
		bench_die("libc's getsockname");
	names_traced(warm, &bare); /* a ring filled and wrapped before the timing */
	double bare_per, added = bench_ab(blocks, per_block, names_traced, names_bare, &bare, &bare_per);
	printf("%.1f %.1f\n", added, bare_per);
	return 0;
}

int main(int argc, char **argv)
{
	int listener = bench_listener();
	int conn = bench_connect(listener);
	if (argc > 3 && strcmp(argv[1], "ab") == 0)
		return names_ab(conn, atol(argv[2]), atol(argv[3]), argc > 4 ? atol(argv[4]) : 0);
	long n = argc > 1 ? atol(argv[1]) : 100000;
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
