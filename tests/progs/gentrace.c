/*
 * gentrace FILE --modules: a small trace whose module records name hostile
 * paths (a device, /proc, a relative path, a huge one), each holding the
 * frame of an event: a seed for the fuzzer.
 *
 * gentrace FILE EVENTS [THREADS [STEP_NS]]: writes a large trace fast with the shim's
 * own recorder (shim/core/st_record.c, st_file.c), no system call per event: the
 * reader-at-scale tests and `make bench` read what it writes.  Each thread
 * writes its share as a server would: accepts and connects with their
 * getsockname/getpeername, on loopback ports, one process record first.
 * STEP_NS spaces each thread's events in time as a real server's would be
 * (0, the default: the clock).  GENTRACE_START_NS: the first event's time
 * (default now), so that two runs write the same events; GENTRACE_LONG=1:
 * every call as an event record, none as a short event (every close as a
 * close record, none short), to compare
 * what readers make of the two forms; GENTRACE_VARIED=1: calls that fail or
 * lack an end among them (gen_vary), a close after each connection
 * (gen_close) and an outcome after each pending connect (gen_result); with
 * GENTRACE_LONG, close and result records only.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../../shim/core/st_core.h"


static long gen_per_thread;
static bool gen_varied;

/* GENTRACE_VARIED: call i as a real program's calls vary (a refused
 * connect, an accept that found nothing, a listener without a peer, a
 * requested peer with socket bits, an fd past what a short event holds). */
static bool gen_vary(long i, uint8_t *op, int *fd, int *listen_fd, struct st_outcome *done,
		     const struct st_addr **local, const struct st_addr **peer, uint8_t *flags)
{
	switch (i % 10) {
	case 4: *op = ST_OP_CONNECT; done->ret = -1; done->err = 111; *local = NULL;
		*flags = ST_EV_PEER_REQUESTED | ST_SOCK_STREAM << ST_EV_SOCK_SHIFT |
			 ST_PROTO_TCP << ST_EV_PROTO_SHIFT;
		return true;
	case 5: *op = ST_OP_ACCEPT; *fd = -1; done->ret = -1; done->err = 11; *local = *peer = NULL;
		return true;
	case 6: *op = ST_OP_GETSOCKNAME; *peer = NULL; *fd = 3; done->ret = 0;
		return true;
	case 7: *op = ST_OP_ACCEPT4; *fd = 70000; done->ret = 70000; *listen_fd = 3;
		return true;
	case 8: *op = ST_OP_GETPEERNAME; done->ret = -1; done->err = 107; *local = *peer = NULL;
		return true;
	case 9: *op = ST_OP_CONNECT; done->ret = -1; done->err = 115; /* EINPROGRESS */
		*fd = i % 30 == 29 ? 70000 : 7;
		*flags = ST_SOCK_STREAM << ST_EV_SOCK_SHIFT | ST_PROTO_TCP << ST_EV_PROTO_SHIFT;
		return true;
	}
	return false;
}
static uint64_t gen_step_ns, gen_start_ns;

/* GENTRACE_VARIED: what became of the pending connect of call i, 500 ns
 * later: connected or refused, with an fd a short result cannot hold every
 * third time (gen_vary). */
static void gen_result(long i, int fd, uint64_t ts)
{
	int err = (i / 10) % 2 ? 111 : 0;
	st_record_result(fd, err, 400 + (uint64_t)i, ST_LEARNED_SO_ERROR,
			 ST_SOCK_STREAM << ST_EV_SOCK_SHIFT | ST_PROTO_TCP << ST_EV_PROTO_SHIFT,
			 ts + 500, err ? 0 : 30 + (uint32_t)(i % 7));
}

/* GENTRACE_VARIED: the end of the connection call i opened, 1 us after it,
 * with numbers a short close holds and (every ninth, and an fd past 65,534)
 * numbers it cannot: a count of 4 GiB or more is written as a close record. */
static void gen_close(long i, int fd, uint64_t ts, bool accepted)
{
	bool shut = i % 7 == 3;
	struct st_close c = {
		.ts_ns = ts + 1000, .fd = fd, .how = shut ? ST_END_SHUTDOWN : ST_END_CLOSE,
		.role = accepted ? ST_ROLE_SERVER : ST_ROLE_CLIENT,
		.flags = ST_SOCK_STREAM << ST_EV_SOCK_SHIFT | ST_PROTO_TCP << ST_EV_PROTO_SHIFT |
			 ST_CLOSE_TCPINFO | ST_CLOSE_SENT,
		.tcp_state = 7, .age_ns = 900 + (uint64_t)i, .rtt_us = 40 + (uint32_t)(i % 50),
		.retrans = (uint32_t)(i % 3), .shut_how = shut ? 1 : -1,
		.bytes_acked = 1000u * (uint64_t)i + 1,
		.bytes_received = (i % 9 == 2 ? 5ull << 30 : 0) + 100u * (uint64_t)i + 1,
		.bytes_sent = (i % 9 == 5 ? 6ull << 30 : 0) + 1000u * (uint64_t)i};
	st_record_close(&c, NULL, NULL);
}

static struct st_addr gen_inet(uint32_t ip, unsigned port)
{
	struct st_addr a = {.len = sizeof(struct sockaddr_in)};
	struct sockaddr_in *in = (struct sockaddr_in *)&a.ss;
	in->sin_family = AF_INET;
	in->sin_port = htons((uint16_t)port);
	in->sin_addr.s_addr = htonl(ip);
	return a;
}

static void *gen_thread(void *arg)
{
	long id = (long)arg;
	/* as thread 10000 + id, whatever its tid: two runs write the same records */
	st_record_as(st_pid, 10000 + (uint32_t)id);
	static const uint8_t ops[4] = {ST_OP_ACCEPT4, ST_OP_GETSOCKNAME, ST_OP_GETPEERNAME,
				       ST_OP_CONNECT};
	for (long i = 0; i < gen_per_thread; i++) {
		unsigned client_port = 20000 + (unsigned)((id * gen_per_thread + i) / 4 % 40000);
		struct st_addr server = gen_inet(0x7f000001, 8080);
		struct st_addr client = gen_inet(0x7f000001 + (uint32_t)id, client_port);
		uint8_t op = ops[i % 4];
		/* + id: no two threads at the same ns, so time alone orders them */
		uint64_t ts = gen_step_ns ? gen_start_ns + (uint64_t)i * gen_step_ns + (uint64_t)id
					  : st_now_ns();
		struct st_outcome done = {ts, op == ST_OP_ACCEPT4 ? 7 : 0, 0};
		bool accepts = op == ST_OP_ACCEPT4;
		int fd = 7, listen_fd = accepts ? 3 : -1;
		const struct st_addr *local = accepts ? &server : &client;
		const struct st_addr *peer = accepts ? &client : &server;
		uint8_t flags = 0;
		if (gen_varied)
			gen_vary(i, &op, &fd, &listen_fd, &done, &local, &peer, &flags);
		st_record_event(op, fd, listen_fd, &done, local, peer, flags, NULL);
		bool opened = (op == ST_OP_ACCEPT4 || op == ST_OP_CONNECT) && done.ret >= 0;
		if (gen_varied && opened)
			gen_close(i, fd, ts, op == ST_OP_ACCEPT4);
		if (gen_varied && op == ST_OP_CONNECT && done.err == 115)
			gen_result(i, fd, ts);
	}
	return NULL;
}

static int gen_modules(const char *path)
{
	static char huge[1100];
	memset(huge, 'a', sizeof huge - 1);
	huge[0] = '/';
	const char *paths[] = {"/dev/zero", "/proc/self/mem", "relative/lib.so", huge, "/bin/true"};
	const char *why = NULL;
	if (st_file_attach(path, 1 << 20, &why) != 0)
		return 1;
	st_record_process(1, "/bin/x", 6, "x", 2, "h", 1);
	uint64_t ts = st_now_ns();
	for (size_t i = 0; i < 5; i++) {
		uint64_t lo = 0x10000000ull * (i + 1);
		uint8_t id[20] = {(uint8_t)i};
		st_record_module(ts + i, 0, lo, lo, lo + 0x10000, id, i % 2 ? 20 : 0, paths[i],
				 strlen(paths[i]));
		struct st_stack stack = {.n = 2, .ip = {lo + 0x1234, lo + 0x99}};
		struct st_outcome done = {ts + 100 + i, 0, 0};
		struct st_addr a = gen_inet(0x7f000001, 80 + (unsigned)i);
		st_record_event(ST_OP_CONNECT, 3, -1, &done, &a, &a, 0, &stack);
	}
	st_file_detach();
	return 0;
}

int main(int argc, char **argv)
{
	st_clock_init();
	st_pid = 4242; /* the writer's process, as a front-end sets it */
	if (argc == 3 && strcmp(argv[2], "--modules") == 0)
		return gen_modules(argv[1]);
	if (argc < 3) {
		fputs("usage: gentrace FILE EVENTS [THREADS]\n", stderr);
		return 2;
	}
	long events = atol(argv[2]);
	int threads = argc > 3 ? atoi(argv[3]) : 4;
	if (threads < 1 || threads > 64)
		threads = 4;
	gen_step_ns = argc > 4 ? strtoull(argv[4], NULL, 10) : 0;
	const char *start = getenv("GENTRACE_START_NS");
	gen_start_ns = start ? strtoull(start, NULL, 10) : st_now_ns();
	const char *lng = getenv("GENTRACE_LONG");
	st_record_short_events = !(lng && strcmp(lng, "1") == 0);
	const char *varied = getenv("GENTRACE_VARIED");
	gen_varied = varied && strcmp(varied, "1") == 0;
	const char *why = NULL;
	uint64_t capacity = (uint64_t)events * 64 + (64ull << 20);
	if (st_file_attach(argv[1], capacity, &why) != 0) {
		fprintf(stderr, "gentrace: %s: %s\n", argv[1], why ? why : "cannot attach");
		return 1;
	}
	static const char cmd[] = "gen-server\0--port\0008080";
	st_record_process(1, "/usr/sbin/gen-server", 20, cmd, sizeof cmd, "genhost", 7);
	gen_per_thread = events / threads;
	pthread_t th[64];
	for (long i = 0; i < threads; i++)
		pthread_create(&th[i], NULL, gen_thread, (void *)i);
	for (int i = 0; i < threads; i++)
		pthread_join(th[i], NULL);
	st_file_detach();
	printf("events=%ld\n", gen_per_thread * threads);
	return 0;
}
