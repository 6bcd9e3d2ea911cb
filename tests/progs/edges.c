/*
 * Programs for the reliability suite (tests/test_edges.c): each does what a
 * real program at an edge does and prints what it saw, so a test can compare
 * the traced run with the bare one.  Every traced call is getpeername on a
 * connected loopback socket: one event each.
 */
#include "progs.h"

#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <linux/sched.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>

static int edges_conn; /* connected socket the calls are made on */

static void edges_pair(void)
{
	unsigned port;
	int l = tcp_listener(AF_INET, &port);
	edges_conn = tcp_connect(AF_INET, port);
	CHECK(accept(l, NULL, NULL) >= 0);
}

static void edges_call(void)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof ss;
	CHECK(getpeername(edges_conn, (struct sockaddr *)&ss, &len) == 0);
}

/* loop N: N calls (plus the pair's own 2 events) */
static int edges_loop(long n)
{
	edges_pair();
	for (long i = 0; i < n; i++)
		edges_call();
	printf("calls=%ld\n", n);
	return 0;
}

/* malloc MB: the program's own big allocation, touched; then one call */
static int edges_malloc(long mb)
{
	char *p = malloc((size_t)mb << 20);
	if (p == NULL) {
		printf("malloc failed\n");
		return 3;
	}
	memset(p, 1, (size_t)mb << 20);
	edges_pair();
	edges_call();
	printf("malloc ok\n");
	return 0;
}

/* sockets: how many sockets the program gets before EMFILE (at most 4096) */
static int edges_sockets(void)
{
	int n = 0;
	while (n < 4096 && socket(AF_INET, SOCK_STREAM, 0) >= 0)
		n++;
	printf("sockets=%d errno=%d\n", n, errno);
	return 0;
}

static long edges_clone_calls;
static int edges_clone_child(void *arg)
{
	(void)arg;
	for (long i = 0; i < edges_clone_calls; i++)
		edges_call();
	return 0;
}

/* clone N: a clone() child without CLONE_VM and its parent make N calls each */
static int edges_clone(long n)
{
	edges_pair();
	edges_clone_calls = n;
	size_t size = 1 << 20;
	char *stack = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECK(stack != MAP_FAILED);
	pid_t pid = clone(edges_clone_child, stack + size, SIGCHLD, NULL);
	CHECK(pid > 0);
	edges_clone_child(NULL);
	int status;
	CHECK(waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0);
	printf("child=%d calls=%ld\n", pid, 2 * n);
	return 0;
}

/* rawclone N [KIND]: a child made by a raw system call through syscall(),
 * as vsftpd isolates each session (syscall(__NR_clone, CLONE_NEWPID |
 * CLONE_NEWIPC | CLONE_NEWNET | SIGCHLD, NULL)); it and its parent make N
 * calls each.  KIND: clone (the default), fork, clone3, newpid (clone into
 * a new pid namespace: "newpid unsupported" when not allowed here). */
static int edges_raw_clone(long n, const char *kind)
{
	edges_pair();
	long pid;
	if (strcmp(kind, "fork") == 0) {
		pid = syscall(SYS_fork);
	} else if (strcmp(kind, "clone3") == 0) {
		struct clone_args args = {.exit_signal = SIGCHLD};
		pid = syscall(SYS_clone3, &args, sizeof args);
	} else {
		long flags = SIGCHLD | (strcmp(kind, "newpid") == 0 ? CLONE_NEWPID : 0);
		pid = syscall(SYS_clone, flags, 0L, 0L, 0L, 0L);
		if (pid < 0 && (flags & CLONE_NEWPID)) {
			printf("newpid unsupported: %s\n", strerror(errno));
			return 0;
		}
	}
	CHECK(pid >= 0);
	for (long i = 0; i < n; i++)
		edges_call();
	if (pid == 0)
		_exit(0);
	int status;
	CHECK(waitpid((pid_t)pid, &status, 0) == pid && WIFEXITED(status) &&
	      WEXITSTATUS(status) == 0);
	printf("child=%ld calls=%ld\n", pid, 2 * n);
	return 0;
}

static atomic_long edges_done;
static atomic_int edges_started;

static void *edges_spin(void *arg)
{
	(void)arg;
	atomic_fetch_add(&edges_started, 1);
	for (;;) {
		edges_call();
		atomic_fetch_add(&edges_done, 1);
	}
	return NULL;
}

/* exitthreads T: main returns while T threads keep calling */
static int edges_exit_threads(int threads)
{
	edges_pair();
	pthread_t th;
	for (int i = 0; i < threads; i++)
		CHECK(pthread_create(&th, NULL, edges_spin, NULL) == 0);
	/* Every thread is calling before main returns: bounded, no sleep. */
	for (long spins = 0; atomic_load(&edges_started) < threads || atomic_load(&edges_done) < 1000;
	     spins++)
		if (spins > 100000000L)
			return 4;
		else
			sched_yield();
	printf("exiting with %d threads calling\n", threads);
	fflush(stdout);
	return 0;
}

/* vforkexit N: N calls, a vfork child that exit()s, N calls */
static int edges_vfork_exit(long n)
{
	edges_pair();
	for (long i = 0; i < n; i++)
		edges_call();
	fflush(stdout);
	pid_t pid = vfork();
	if (pid == 0)
		exit(0); /* runs atexit handlers and destructors, in the parent's memory */
	CHECK(pid > 0);
	CHECK(waitpid(pid, NULL, 0) == pid);
	for (long i = 0; i < n; i++)
		edges_call();
	printf("calls=%ld\n", 2 * n);
	return 0;
}

/*
 * storm COUNTERS P T: P processes of T threads call forever; thread k of
 * process p adds each completed call (event recorded, call returned) to slot
 * p*T+k of the shared counter file, so after a SIGKILL at any moment the
 * test knows how many calls completed: events = completed + at most one in
 * flight per thread.
 */
static atomic_long *edges_slots;

static void *edges_storm_thread(void *arg)
{
	atomic_long *slot = arg;
	for (;;) {
		edges_call();
		atomic_fetch_add(slot, 1);
	}
	return NULL;
}

static void edges_storm_process(int p, int threads)
{
	edges_pair();
	pthread_t th;
	for (int k = 1; k < threads; k++)
		CHECK(pthread_create(&th, NULL, edges_storm_thread, &edges_slots[p * threads + k]) == 0);
	edges_storm_thread(&edges_slots[p * threads]);
}

static int edges_storm(const char *counters, int procs, int threads)
{
	int fd = open(counters, O_RDWR);
	CHECK(fd >= 0);
	edges_slots = mmap(NULL, (size_t)procs * threads * sizeof(long), PROT_READ | PROT_WRITE,
			   MAP_SHARED, fd, 0);
	CHECK(edges_slots != MAP_FAILED);
	close(fd);
	for (int p = 1; p < procs; p++) {
		pid_t pid = fork();
		CHECK(pid >= 0);
		if (pid == 0)
			edges_storm_process(p, threads);
	}
	edges_storm_process(0, threads);
	return 0;
}

/* A child makes one call and leaves with _exit (no destructor); waited for. */
static void edges_child_call(void)
{
	pid_t pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		edges_call();
		_exit(0);
	}
	CHECK(waitpid(pid, NULL, 0) == pid);
}

/* children N: N children make one call each and _exit (no destructor) */
static int edges_children(long n)
{
	edges_pair();
	for (long i = 0; i < n; i++)
		edges_child_call();
	printf("children=%ld\n", n);
	return 0;
}

/* fdfull: uses every fd it may have, then exits normally */
static int edges_fd_full(void)
{
	edges_pair();
	edges_call();
	int n = 0;
	while (n < 1 << 20 && socket(AF_INET, SOCK_STREAM, 0) >= 0)
		n++;
	printf("fds=%d\n", n);
	return 0;
}

/*
 * daemon DIR DATA: like a daemon, closes 0-2 and opens its data file, which
 * becomes fds 0-2; its trace directory DIR is moved away first, so the
 * forked child (tracing to DIR/%p.trace) cannot attach and would warn.
 */
static int edges_daemon(const char *dir, const char *data)
{
	edges_pair();
	char moved[4096];
	snprintf(moved, sizeof moved, "%s.moved", dir);
	CHECK(rename(dir, moved) == 0);
	close(0);
	close(1);
	close(2);
	CHECK(open(data, O_WRONLY | O_CREAT | O_APPEND, 0600) == 0);
	CHECK(dup(0) == 1 && dup(0) == 2);
	edges_child_call();
	CHECK(write(1, "data\n", 5) == 5);
	return 0;
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	const char *s = argc > 1 ? argv[1] : "";
	long n = argc > 2 ? atol(argv[2]) : 0;
	if (!strcmp(s, "loop")) return edges_loop(n);
	if (!strcmp(s, "malloc")) return edges_malloc(n);
	if (!strcmp(s, "sockets")) return edges_sockets();
	if (!strcmp(s, "clone")) return edges_clone(n);
	if (!strcmp(s, "rawclone")) return edges_raw_clone(n, argc > 3 ? argv[3] : "clone");
	if (!strcmp(s, "exitthreads")) return edges_exit_threads((int)n);
	if (!strcmp(s, "vforkexit")) return edges_vfork_exit(n);
	if (!strcmp(s, "children")) return edges_children(n);
	if (!strcmp(s, "fdfull")) return edges_fd_full();
	if (!strcmp(s, "daemon") && argc > 3) return edges_daemon(argv[2], argv[3]);
	if (!strcmp(s, "storm") && argc > 4) return edges_storm(argv[2], atoi(argv[3]), atoi(argv[4]));
	fprintf(stderr, "usage: edges loop|malloc|sockets|clone|exitthreads|vforkexit|children N\n"
			"       edges rawclone N [clone|fork|clone3|newpid]\n"
			"       edges fdfull | daemon DIR DATA\n"
			"       edges storm COUNTERS PROCS THREADS\n");
	return 2;
}
