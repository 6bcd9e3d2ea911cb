/*
 * Writes numbered events for the flight-recorder tests:
 *   ring calls PROCS THREADS N [US]   each thread of each process calls
 *                                getsockname(ST_RING_FD0 + i) for i < N: a
 *                                descriptor that is not open (EBADF), so
 *                                the event's fd is its number in the run;
 *                                US: a pause of US microseconds every 500
 *                                calls (a reader polls while it wraps)
 *   ring early N                 a TCP connection to "localhost" (resolved
 *                                with getaddrinfo) made, 1000 bytes each way,
 *                                then N numbered calls, then both ends
 *                                closed: the connection began long before
 *                                the newest events
 *   ring resolves N              N getaddrinfo("localhost") calls: more
 *                                resolutions than a small ring's metadata
 *                                area holds
 *   ring storm COUNTERS PROCS THREADS RUN   every thread calls as fast as it
 *                                can until killed: call n of thread slot s
 *                                of run r names descriptor ST_STORM_FD(r, s,
 *                                n), and n + 1 is stored in the slot's
 *                                counter (a shared file of 16 longs) once it
 *                                returned; process p stores its pid in
 *                                counter 8 + p
 */
#include <fcntl.h>
#include <netdb.h>
#include <pthread.h>
#include <sys/mman.h>
#include <sys/wait.h>

#include "progs.h"

#define ST_RING_FD0 (1 << 20)

static long calls_each, pause_us;

static void *numbered_calls(void *arg)
{
	(void)arg;
	for (long i = 0; i < calls_each; i++) {
		struct sockaddr_storage ss;
		socklen_t len = sizeof ss;
		CHECK(getsockname((int)(ST_RING_FD0 + i), (struct sockaddr *)&ss, &len) < 0 &&
		      errno == EBADF);
		if (pause_us && i % 500 == 499)
			usleep((useconds_t)pause_us);
	}
	return NULL;
}

static void threads_of_calls(int threads)
{
	pthread_t th[64];
	for (int i = 0; i < threads && i < 64; i++)
		CHECK(pthread_create(&th[i], NULL, numbered_calls, NULL) == 0);
	for (int i = 0; i < threads && i < 64; i++)
		pthread_join(th[i], NULL);
}

static int calls(int procs, int threads, long n)
{
	calls_each = n;
	for (int p = 1; p < procs; p++) {
		pid_t pid = fork();
		CHECK(pid >= 0);
		if (pid == 0) {
			threads_of_calls(threads);
			_exit(0);
		}
	}
	threads_of_calls(threads);
	int status;
	for (int p = 1; p < procs; p++)
		CHECK(wait(&status) > 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0);
	printf("calls done %d x %d x %ld\n", procs, threads, n);
	return 0;
}

/* A descriptor that is never open, naming the call: bit 30 set, the run
 * (mod 64), the thread's slot (< 8), the call (< 2^20). */
#define ST_STORM_FD(run, slot, n) \
	((int)(1 << 30 | ((run)&0x3f) << 23 | ((slot)&7) << 20 | ((n)&0xfffff)))

static long *storm_slots;
static int storm_run_no;

struct storm_thread {
	int slot;
};

static void *storm_calls(void *arg)
{
	int slot = ((struct storm_thread *)arg)->slot;
	for (long n = 0; n < 0xfffff; n++) {
		struct sockaddr_storage ss;
		socklen_t len = sizeof ss;
		getsockname(ST_STORM_FD(storm_run_no, slot, n), (struct sockaddr *)&ss, &len);
		__atomic_store_n(&storm_slots[slot], n + 1, __ATOMIC_RELEASE);
	}
	for (;;)
		pause();
	return NULL;
}

static void storm_threads(int first_slot, int threads, int proc)
{
	__atomic_store_n(&storm_slots[8 + proc], (long)getpid(), __ATOMIC_RELEASE);
	pthread_t th[8];
	struct storm_thread arg[8];
	for (int i = 0; i < threads && i < 8; i++) {
		arg[i].slot = first_slot + i;
		CHECK(pthread_create(&th[i], NULL, storm_calls, &arg[i]) == 0);
	}
	for (;;)
		pause();
}

static int storm(const char *counters, int procs, int threads, int run)
{
	int fd = open(counters, O_RDWR);
	CHECK(fd >= 0);
	storm_slots = mmap(NULL, 16 * sizeof(long), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	CHECK(storm_slots != MAP_FAILED);
	close(fd);
	storm_run_no = run;
	for (int p = 1; p < procs && p * threads < 8; p++)
		if (fork() == 0)
			storm_threads(p * threads, threads, p);
	storm_threads(0, threads, 0);
	return 0;
}

static int resolves(long n)
{
	struct addrinfo hints = {.ai_family = AF_INET, .ai_socktype = SOCK_STREAM}, *res;
	for (long i = 0; i < n; i++) {
		CHECK(getaddrinfo("localhost", "80", &hints, &res) == 0);
		freeaddrinfo(res);
	}
	printf("resolves done %ld\n", n);
	return 0;
}

static int early(long n)
{
	unsigned port;
	int l = tcp_listener(AF_INET, &port);
	char service[16];
	snprintf(service, sizeof service, "%u", port);
	struct addrinfo hints = {.ai_family = AF_INET, .ai_socktype = SOCK_STREAM}, *res;
	CHECK(getaddrinfo("localhost", service, &hints, &res) == 0);
	int c = socket(AF_INET, SOCK_STREAM, 0);
	CHECK(c >= 0 && connect(c, res->ai_addr, res->ai_addrlen) == 0);
	freeaddrinfo(res);
	int a = accept(l, NULL, NULL);
	CHECK(a >= 0);
	char buf[1000] = {0};
	CHECK(write(c, buf, sizeof buf) == (ssize_t)sizeof buf);
	CHECK(read(a, buf, sizeof buf) == (ssize_t)sizeof buf);
	CHECK(write(a, buf, sizeof buf) == (ssize_t)sizeof buf);
	CHECK(read(c, buf, sizeof buf) == (ssize_t)sizeof buf);
	calls_each = n;
	numbered_calls(NULL);
	printf("early port=%u\n", port);
	close(c);
	close(a);
	close(l);
	return 0;
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	const char *s = argc > 1 ? argv[1] : "";
	if (!strcmp(s, "calls") && argc > 4)
		return pause_us = argc > 5 ? atol(argv[5]) : 0,
		       calls(atoi(argv[2]), atoi(argv[3]), atol(argv[4]));
	if (!strcmp(s, "storm") && argc > 5)
		return storm(argv[2], atoi(argv[3]), atoi(argv[4]), atoi(argv[5]));
	if (!strcmp(s, "resolves") && argc > 2)
		return resolves(atol(argv[2]));
	if (!strcmp(s, "early") && argc > 2)
		return early(atol(argv[2]));
	fprintf(stderr, "ring: unknown scenario '%s'\n", s);
	return 2;
}
