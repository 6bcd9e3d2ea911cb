/*
 * A program that sandboxes itself with seccomp, as OpenSSH's
 * pre-authentication child does: after the filter, any system call outside
 * its own needs kills it with SIGSYS, and the shim's own calls are outside
 * them.  The filter here kills the calls the shim could make (getsockopt for
 * TCP_INFO at a close, getsockname/getpeername, getpid/gettid, mmap and
 * munmap for trace windows, openat) and allows the rest, which is all this
 * program needs after it.
 *
 *   sandbox prctl    prctl(PR_SET_SECCOMP) through libc, then closes its socket
 *   sandbox syscall  syscall(SYS_seccomp) (libseccomp's way), then the same
 *   sandbox fork     prctl, then a forked child closes its copy and exits
 *   sandbox thread   a thread that recorded a call exits after the filter
 *                    (TSYNC: it applies to every thread)
 *   sandbox bad      a prctl that fails (EFAULT): still traced after it
 * Each prints pid= and the child's child= before the filter, then "done".
 */
#include "progs.h"

#include <linux/filter.h>
#include <linux/seccomp.h>
#include <pthread.h>
#include <stddef.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#define SANDBOX_KILL(nr) \
	BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (nr), 0, 1), \
	BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS)

static struct sock_filter sandbox_insns[] = {
	BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
	SANDBOX_KILL(SYS_getsockopt), SANDBOX_KILL(SYS_getsockname),
	SANDBOX_KILL(SYS_getpeername), SANDBOX_KILL(SYS_getpid), SANDBOX_KILL(SYS_gettid),
	SANDBOX_KILL(SYS_mmap), SANDBOX_KILL(SYS_munmap), SANDBOX_KILL(SYS_openat),
	BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
};

static struct sock_fprog sandbox_prog = {
	.len = sizeof sandbox_insns / sizeof sandbox_insns[0],
	.filter = sandbox_insns,
};

static int sandbox_conn, sandbox_go[2], sandbox_ready[2];

/* A thread with records of its own, waiting for the filter before it exits. */
static void *sandbox_thread(void *arg)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof ss;
	CHECK(getpeername(sandbox_conn, (struct sockaddr *)&ss, &len) == 0);
	CHECK(write(sandbox_ready[1], "r", 1) == 1);
	char byte;
	CHECK(read(sandbox_go[0], &byte, 1) == 1);
	return arg;
}

static int sandbox_enter(const char *how)
{
	CHECK(prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0);
	if (!strcmp(how, "syscall"))
		return (int)syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &sandbox_prog);
	if (!strcmp(how, "thread"))
		return (int)syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER,
				    SECCOMP_FILTER_FLAG_TSYNC, &sandbox_prog);
	if (!strcmp(how, "bad"))
		return prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, NULL, 0, 0);
	return prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &sandbox_prog, 0, 0);
}

int main(int argc, char **argv)
{
	const char *how = argc > 1 ? argv[1] : "prctl";
	setvbuf(stdout, NULL, _IONBF, 0);
	unsigned port;
	int l = tcp_listener(AF_INET, &port);
	int conn = tcp_connect(AF_INET, port);
	int served = accept(l, NULL, NULL);
	CHECK(served >= 0);
	struct sockaddr_storage ss;
	socklen_t len = sizeof ss;
	CHECK(getpeername(conn, (struct sockaddr *)&ss, &len) == 0);
	printf("pid=%d\n", (int)getpid());
	pthread_t thread;
	sandbox_conn = conn;
	if (!strcmp(how, "thread")) {
		CHECK(pipe(sandbox_go) == 0 && pipe(sandbox_ready) == 0);
		CHECK(pthread_create(&thread, NULL, sandbox_thread, NULL) == 0);
		char byte;
		CHECK(read(sandbox_ready[0], &byte, 1) == 1);
	}
	int rc = sandbox_enter(how);
	int err = errno;
	if (!strcmp(how, "bad")) {
		CHECK(rc == -1 && err == EFAULT);
		len = sizeof ss;
		CHECK(getpeername(conn, (struct sockaddr *)&ss, &len) == 0);
	} else {
		CHECK(rc == 0);
	}
	if (!strcmp(how, "thread")) {
		CHECK(write(sandbox_go[1], "x", 1) == 1);
		CHECK(pthread_join(thread, NULL) == 0);
	}
	if (!strcmp(how, "fork")) {
		pid_t child = fork();
		CHECK(child >= 0);
		if (child == 0) {
			close(conn);
			_exit(0);
		}
		int status;
		CHECK(waitpid(child, &status, 0) == child);
		CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	}
	close(conn);
	close(served);
	printf("done\n");
	return 0;
}
