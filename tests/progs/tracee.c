/*
 * Programs for the tracer's tests (tests/test_tracer.c).
 *   tracee inline   a client and a server whose socket calls are all inline
 *                   syscall instructions (as Go's runtime and static
 *                   libraries make them): the shim sees none of them
 *   tracee libc     the same through libc's syscall() function
 *   tracee signals  waits for signals and counts them (SIGUSR1, SIGCHLD from
 *                   a child it starts on each SIGUSR2, SIGPIPE from a write
 *                   to a closed pipe on each SIGUSR2), says each new count of
 *                   SIGUSR1 and SIGCHLD, prints all counts and exits on
 *                   SIGTERM; prints "ready PID" first
 *   tracee sleep    prints "ready PID", then sleeps until killed
 *   tracee seccomp  installs a filter of its own that fails connect with
 *                   EPERM, then connects: prints what connect returned
 *   tracee forks    a listener; on each SIGUSR1 a forked child connects to
 *                   it, sends 100 bytes and exits, and the parent accepts,
 *                   reads and closes: prints "served N" after each; exits
 *                   0 on SIGTERM; prints "ready PID" first
 *   tracee euid     prints its effective uid
 *   tracee threadexec PROG ARG...  a second thread execs PROG while the
 *                   first waits: the program's exec from a thread
 *                   other than the leader (Go's runtime can do this)
 *   tracee nopidfd PROG ARG...  runs PROG under a filter that fails
 *                   pidfd_open and pidfd_getfd with ENOSYS, as a kernel before
 *                   5.6 (or a container's policy) would
 *   tracee fan N    N children live at once, each connected to the
 *                   parent's listener, sending 10 bytes, closing when all
 *                   were served (the parent accepts, reads and closes each):
 *                   prints "fan N"
 *   tracee blocked  prints "ready PID port P", then blocks in accept and,
 *                   in a second thread, in poll on a pipe nobody writes
 *                   (60 s): prints what each returned ("accept=ok",
 *                   "poll=0" when it timed out, or the errno name)
 *   tracee zombie   starts a child that exits at once and is never waited
 *                   for: prints "zombie PID", then sleeps
 */
#define _GNU_SOURCE
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include "progs.h"

/* "LABEL fd=N local=... peer=..." from inline getsockname/getpeername. */
static void tracee_ends(bool by_libc, const char *label, int fd)
{
	struct sockaddr_storage l, p;
	socklen_t ll = sizeof l, pl = sizeof p;
	char lb[160], pb[160];
	long a = by_libc ? syscall(SYS_getsockname, fd, &l, &ll)
			 : inline_syscall(SYS_getsockname, fd, (long)&l, (long)&ll);
	long b = by_libc ? syscall(SYS_getpeername, fd, &p, &pl)
			 : inline_syscall(SYS_getpeername, fd, (long)&p, (long)&pl);
	CHECK(a == 0 && b == 0);
	printf("%s fd=%d local=%s peer=%s\n", label, fd, ep_str(&l, ll, lb, sizeof lb),
	       ep_str(&p, pl, pb, sizeof pb));
}

static long tracee_call(bool by_libc, long n, long a1, long a2, long a3)
{
	return by_libc ? syscall(n, a1, a2, a3) : inline_syscall(n, a1, a2, a3);
}

static int tracee_raw(bool by_libc)
{
	struct sockaddr_in in = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof in;
	int l = (int)tracee_call(by_libc, SYS_socket, AF_INET, SOCK_STREAM, 0);
	CHECK(l >= 0 && tracee_call(by_libc, SYS_bind, l, (long)&in, sizeof in) == 0);
	CHECK(tracee_call(by_libc, SYS_listen, l, 8, 0) == 0);
	CHECK(tracee_call(by_libc, SYS_getsockname, l, (long)&in, (long)&len) == 0);
	int c = (int)tracee_call(by_libc, SYS_socket, AF_INET, SOCK_STREAM, 0);
	CHECK(c >= 0 && tracee_call(by_libc, SYS_connect, c, (long)&in, sizeof in) == 0);
	struct sockaddr_storage peer;
	socklen_t peer_len = sizeof peer;
	int a = (int)tracee_call(by_libc, SYS_accept, l, (long)&peer, (long)&peer_len);
	CHECK(a >= 0);
	tracee_ends(by_libc, "client", c);
	tracee_ends(by_libc, "server", a);
	static char buf[3000];
	CHECK(tracee_call(by_libc, SYS_write, c, (long)buf, 3000) == 3000);
	for (long got = 0; got < 3000;) {
		long n = tracee_call(by_libc, SYS_read, a, (long)buf, sizeof buf);
		CHECK(n > 0);
		got += n;
	}
	tracee_call(by_libc, SYS_close, c, 0, 0);
	tracee_call(by_libc, SYS_close, a, 0, 0);
	tracee_call(by_libc, SYS_close, l, 0, 0);
	return 0;
}

static volatile sig_atomic_t tracee_usr1, tracee_chld, tracee_pipe, tracee_term, tracee_usr2;

static void tracee_count(int sig)
{
	if (sig == SIGUSR1)
		tracee_usr1++;
	else if (sig == SIGCHLD)
		tracee_chld++;
	else if (sig == SIGPIPE)
		tracee_pipe++;
	else if (sig == SIGUSR2)
		tracee_usr2++;
	else
		tracee_term = 1;
}

/* SIGUSR2: a child that exits at once (SIGCHLD), and a write to a pipe whose
 * reader is closed (SIGPIPE). */
static void tracee_provoke(void)
{
	pid_t pid = fork();
	CHECK(pid >= 0);
	if (pid == 0)
		_exit(0);
	int p[2];
	CHECK(pipe(p) == 0);
	close(p[0]);
	CHECK(write(p[1], "x", 1) < 0 && errno == EPIPE);
	close(p[1]);
	while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
		;
}

static int tracee_signals(void)
{
	struct sigaction sa = {.sa_handler = tracee_count};
	sigemptyset(&sa.sa_mask);
	int sigs[] = {SIGUSR1, SIGUSR2, SIGCHLD, SIGPIPE, SIGTERM};
	for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
		CHECK(sigaction(sigs[i], &sa, NULL) == 0);
	printf("ready %d\n", (int)getpid());
	fflush(stdout);
	sig_atomic_t provoked = 0, usr1 = 0, chld = 0;
	for (int i = 0; i < 6000 && !tracee_term; i++) { /* a minute at most */
		usleep(10000);
		for (; provoked < tracee_usr2; provoked++)
			tracee_provoke();
		if (usr1 != tracee_usr1) /* each counted, said: the test sends the next */
			printf("usr1=%d\n", (int)(usr1 = tracee_usr1));
		if (chld != tracee_chld)
			printf("chld=%d\n", (int)(chld = tracee_chld));
	}
	printf("usr1=%d chld=%d pipe=%d term=%d\n", (int)tracee_usr1, (int)tracee_chld,
	       (int)tracee_pipe, (int)tracee_term);
	return tracee_term ? 0 : 1;
}

/* A filter of the program's own: connect fails with EPERM, all else runs. */
static int tracee_own_filter(void)
{
	struct sock_filter prog[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_connect, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog fprog = {.len = sizeof prog / sizeof prog[0], .filter = prog};
	CHECK(prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0);
	CHECK(syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &fprog) == 0);
	unsigned port;
	int l = tcp_listener(AF_INET, &port);
	struct sockaddr_in in = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	int c = socket(AF_INET, SOCK_STREAM, 0);
	int ret = connect(c, (struct sockaddr *)&in, sizeof in);
	printf("connect=%d errno=%s\n", ret, ret < 0 ? strerrorname_np(errno) : "0");
	close(c);
	close(l);
	return 0;
}

static int tracee_forks(void)
{
	struct sigaction sa = {.sa_handler = tracee_count};
	sigemptyset(&sa.sa_mask);
	CHECK(sigaction(SIGUSR1, &sa, NULL) == 0 && sigaction(SIGTERM, &sa, NULL) == 0);
	unsigned port;
	int l = tcp_listener(AF_INET, &port);
	struct sockaddr_in in = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	printf("ready %d\n", (int)getpid());
	sig_atomic_t served = 0;
	for (int i = 0; i < 6000 && !tracee_term; i++) { /* a minute at most */
		usleep(10000);
		for (; served < tracee_usr1; served++) {
			pid_t pid = fork();
			CHECK(pid >= 0);
			if (pid == 0) {
				static char buf[100];
				int c = socket(AF_INET, SOCK_STREAM, 0);
				CHECK(c >= 0 && connect(c, (struct sockaddr *)&in, sizeof in) == 0);
				CHECK(write(c, buf, sizeof buf) == (ssize_t)sizeof buf);
				close(c);
				_exit(0);
			}
			int a = accept(l, NULL, NULL);
			CHECK(a >= 0);
			char buf[100];
			for (ssize_t got = 0, n; got < 100; got += n)
				CHECK((n = read(a, buf, sizeof buf)) > 0);
			close(a);
			while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
				;
			printf("served %d\n", (int)served + 1);
		}
	}
	close(l);
	return 0;
}

static char **tracee_exec_argv;

static void *tracee_exec_thread(void *arg)
{
	(void)arg;
	execv(tracee_exec_argv[0], tracee_exec_argv);
	perror("execv");
	_exit(127);
}

static int tracee_thread_exec(char **argv)
{
	tracee_exec_argv = argv;
	pthread_t t;
	CHECK(pthread_create(&t, NULL, tracee_exec_thread, NULL) == 0);
	pthread_join(t, NULL); /* never returns: the exec replaces this thread too */
	return 1;
}

static int tracee_no_pidfd(char **argv)
{
	struct sock_filter prog[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_pidfd_open, 2, 0),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_pidfd_getfd, 1, 0),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ENOSYS),
	};
	struct sock_fprog fprog = {.len = sizeof prog / sizeof prog[0], .filter = prog};
	CHECK(prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0);
	CHECK(syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &fprog) == 0);
	execv(argv[0], argv);
	perror("execv");
	return 127;
}

static int tracee_fan(int n)
{
	unsigned port;
	int l = tcp_listener(AF_INET, &port);
	CHECK(listen(l, n + 8) == 0);
	struct sockaddr_in in = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	int go[2];
	CHECK(pipe(go) == 0);
	for (int i = 0; i < n; i++) {
		pid_t pid = fork();
		CHECK(pid >= 0);
		if (pid == 0) {
			close(go[1]);
			int c = socket(AF_INET, SOCK_STREAM, 0);
			CHECK(c >= 0 && connect(c, (struct sockaddr *)&in, sizeof in) == 0);
			CHECK(write(c, "0123456789", 10) == 10);
			char byte;
			CHECK(read(go[0], &byte, 1) == 0); /* all children live at once */
			close(c);
			_exit(0);
		}
	}
	close(go[0]);
	for (int i = 0; i < n; i++) {
		int a = accept(l, NULL, NULL);
		CHECK(a >= 0);
		char buf[16];
		for (ssize_t got = 0, r; got < 10; got += r)
			CHECK((r = read(a, buf, sizeof buf)) > 0);
		close(a);
	}
	close(go[1]); /* every child was live until now; they close theirs */
	while (wait(NULL) > 0)
		;
	printf("fan %d\n", n);
	return 0;
}

static void *tracee_poll_thread(void *arg)
{
	int *never = arg;
	struct pollfd p = {never[0], POLLIN, 0};
	int n = poll(&p, 1, 2000);
	printf("poll=%s\n", n < 0 ? strerrorname_np(errno) : n == 0 ? "0" : "ready");
	return NULL;
}

static int tracee_blocked(void)
{
	unsigned port;
	int l = tcp_listener(AF_INET, &port);
	int never[2];
	CHECK(pipe(never) == 0);
	pthread_t t;
	CHECK(pthread_create(&t, NULL, tracee_poll_thread, never) == 0);
	printf("ready %d port %u\n", (int)getpid(), port);
	int a = accept(l, NULL, NULL);
	printf("accept=%s\n", a >= 0 ? "ok" : strerrorname_np(errno));
	pthread_join(t, NULL);
	return 0;
}

static int tracee_zombie(void)
{
	pid_t pid = fork();
	CHECK(pid >= 0);
	if (pid == 0)
		_exit(0);
	printf("zombie %d\n", (int)pid);
	for (int i = 0; i < 600; i++)
		usleep(100000);
	return 0;
}

int main(int argc, char **argv)
{
	const char *mode = argc > 1 ? argv[1] : "";
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (!strcmp(mode, "inline"))
		return tracee_raw(false);
	if (!strcmp(mode, "libc"))
		return tracee_raw(true);
	if (!strcmp(mode, "signals"))
		return tracee_signals();
	if (!strcmp(mode, "sleep")) {
		printf("ready %d\n", (int)getpid());
		for (int i = 0; i < 600; i++)
			usleep(100000);
		return 0;
	}
	if (!strcmp(mode, "seccomp"))
		return tracee_own_filter();
	if (!strcmp(mode, "forks"))
		return tracee_forks();
	if (!strcmp(mode, "euid")) {
		printf("euid=%d\n", (int)geteuid());
		return 0;
	}
	if (!strcmp(mode, "threadexec") && argc > 2)
		return tracee_thread_exec(argv + 2);
	if (!strcmp(mode, "nopidfd") && argc > 2)
		return tracee_no_pidfd(argv + 2);
	if (!strcmp(mode, "fan") && argc > 2)
		return tracee_fan(atoi(argv[2]));
	if (!strcmp(mode, "blocked"))
		return tracee_blocked();
	if (!strcmp(mode, "zombie"))
		return tracee_zombie();
	fprintf(stderr, "usage: tracee inline|libc|signals|sleep|seccomp|zombie\n");
	return 2;
}
