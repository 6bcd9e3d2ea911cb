/*
 * The filter a launched program runs under: SECCOMP_RET_TRACE for the calls
 * the core records or needs for its bookkeeping, SECCOMP_RET_ALLOW for every
 * other, which then runs at full speed with no stop (strace --seccomp-bpf).
 * fork, clone, vfork and exec are followed by ptrace options, not here.
 * Calls made through the 32-bit entry (int 0x80) are let through untraced:
 * their numbers are another table's.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "st_tracer.h"

/* socket(2) is not here: a new socket's type and protocol are asked of the
 * kernel when a call first needs them (one getsockopt per connect or
 * listener, cheaper than a stop), and no stale state can be left under its
 * number, since every close, dup2 and exec is seen. */
static const long st_tr_traced[] = {
	SYS_socketpair, SYS_connect, SYS_accept, SYS_accept4,
	SYS_getsockname, SYS_getpeername, SYS_getsockopt, SYS_close, SYS_shutdown,
	SYS_dup,	 SYS_dup2,	 SYS_dup3,    SYS_fcntl,  SYS_close_range,
	SYS_bind,	 SYS_listen,	 SYS_unshare,
};
#define ST_TR_NTRACED (sizeof st_tr_traced / sizeof st_tr_traced[0])

bool st_tr_call_wanted(long nr)
{
	for (size_t i = 0; i < ST_TR_NTRACED; i++)
		if (st_tr_traced[i] == nr)
			return true;
	return false;
}

int st_tr_seccomp_install(void)
{
	struct sock_filter prog[4 + ST_TR_NTRACED + 2];
	size_t n = 0;
	prog[n++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
						 offsetof(struct seccomp_data, arch));
	/* another architecture's entry: on to the ALLOW (jumps count the
	 * instructions skipped: ALLOW is at 4 + N, TRACE at 5 + N) */
	prog[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 0,
						 (uint8_t)(ST_TR_NTRACED + 2));
	prog[n++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
						 offsetof(struct seccomp_data, nr));
	/* x32's numbers carry this bit: not ours to decode */
	prog[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, 0x40000000u,
						 (uint8_t)ST_TR_NTRACED, 0);
	for (size_t i = 0; i < ST_TR_NTRACED; i++) /* match: jump to TRACE */
		prog[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K,
							 (uint32_t)st_tr_traced[i],
							 (uint8_t)(ST_TR_NTRACED - i), 0);
	prog[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
	prog[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_TRACE);
	struct sock_fprog fprog = {.len = (unsigned short)n, .filter = prog};
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
		return -errno;
	if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &fprog) != 0)
		return -errno;
	return 0;
}
