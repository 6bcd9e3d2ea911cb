/*
 * floor_tracer SET PROG ARGS...: the least a ptrace tracer can do on a given
 * set of stops (wait, learn which call, resume), to measure what the stops
 * alone cost, apart from what a tracer does at them.  make bench runs it
 * beside socktrace --ptrace and strace: it is the floor under both.
 *   SET = socktrace: the stops socktrace --ptrace makes (getsockname and
 *         getpeername learned at one stop; connect, accept, accept4 entry
 *         and exit; close entry only)
 *   SET = strace:    the stops of strace -f --seccomp-bpf -e trace=network
 *         on these loops (socket, connect, accept, accept4, getsockname,
 *         getpeername, each entry and exit)
 * The filter's SECCOMP_RET_DATA says whether the exit is wanted, so a stop
 * costs one wait4, one PTRACE_GETEVENTMSG and one resume.
 */
#define _GNU_SOURCE
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define FLOOR_EXIT 1 /* RET_DATA: stop at the exit too */
#define FLOOR_ENTRY 2

struct floor_call {
	long nr;
	unsigned data;
};

static const struct floor_call floor_socktrace[] = {
	{SYS_getsockname, FLOOR_ENTRY}, {SYS_getpeername, FLOOR_ENTRY},
	{SYS_connect, FLOOR_EXIT},	{SYS_accept, FLOOR_EXIT},
	{SYS_accept4, FLOOR_EXIT},	{SYS_close, FLOOR_ENTRY},
};
static const struct floor_call floor_strace[] = {
	{SYS_socket, FLOOR_EXIT},      {SYS_connect, FLOOR_EXIT},     {SYS_accept, FLOOR_EXIT},
	{SYS_accept4, FLOOR_EXIT},     {SYS_getsockname, FLOOR_EXIT}, {SYS_getpeername, FLOOR_EXIT},
};

static void floor_filter(const struct floor_call *calls, unsigned n)
{
	struct sock_filter prog[3 + 2 * 8];
	unsigned k = 0;
	prog[k++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
						 offsetof(struct seccomp_data, nr));
	for (unsigned i = 0; i < n; i++) {
		prog[k++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K,
							 (unsigned)calls[i].nr, 0, 1);
		prog[k++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K,
							 SECCOMP_RET_TRACE | calls[i].data);
	}
	prog[k++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
	struct sock_fprog fprog = {.len = (unsigned short)k, .filter = prog};
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 ||
	    syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &fprog) != 0) {
		perror("floor_tracer: seccomp");
		_exit(127);
	}
}

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: floor_tracer socktrace|strace PROG ARGS...\n");
		return 2;
	}
	int strace_set = strcmp(argv[1], "strace") == 0;
	pid_t child = fork();
	if (child == 0) {
		raise(SIGSTOP); /* until seized */
		if (strace_set)
			floor_filter(floor_strace, sizeof floor_strace / sizeof floor_strace[0]);
		else
			floor_filter(floor_socktrace, sizeof floor_socktrace / sizeof floor_socktrace[0]);
		execvp(argv[2], argv + 2);
		_exit(127);
	}
	int status;
	waitpid(child, &status, WUNTRACED);
	if (ptrace(PTRACE_SEIZE, child, 0L,
		   (void *)(long)(PTRACE_O_TRACESECCOMP | PTRACE_O_TRACESYSGOOD |
				  PTRACE_O_EXITKILL)) != 0) {
		perror("floor_tracer: PTRACE_SEIZE");
		return 1;
	}
	kill(child, SIGCONT);
	for (;;) {
		pid_t tid = waitpid(-1, &status, __WALL);
		if (tid < 0)
			return 1;
		if (WIFEXITED(status) || WIFSIGNALED(status)) {
			if (tid == child)
				return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
			continue;
		}
		int sig = WSTOPSIG(status), how = PTRACE_CONT;
		if ((unsigned)status >> 16 == PTRACE_EVENT_SECCOMP) {
			unsigned long data = 0;
			ptrace(PTRACE_GETEVENTMSG, tid, 0L, &data);
			if (data & FLOOR_EXIT)
				how = PTRACE_SYSCALL;
			sig = 0;
		} else if (sig == (SIGTRAP | 0x80) || status >> 16 != 0) {
			sig = 0; /* an exit stop, another event */
		}
		ptrace(how, tid, 0L, (void *)(long)sig);
	}
}
