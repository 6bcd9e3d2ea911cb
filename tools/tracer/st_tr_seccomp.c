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
#include <fcntl.h>
#include <sched.h>
#include <sys/socket.h>
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
 * number, since every close, dup2 and exec is seen.  fcntl, getsockopt and
 * unshare stop only in the forms the core needs (their arguments checked
 * by the filter): an event loop's F_GETFL/F_SETFL and its own getsockopt
 * calls run at full speed. */
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

/* The filter under construction: forward jumps to labels, patched at the
 * end (a BPF jump skips 0 to 255 instructions). */
enum st_tr_label { ST_L_NEXT = -1, ST_L_ALLOW, ST_L_RUN, ST_L_TRACE, ST_L_FCNTL,
		   ST_L_GETSOCKOPT, ST_L_UNSHARE, ST_L_COUNT };
#define ST_TR_PROG_MAX 64

struct st_tr_bpf {
	struct sock_filter prog[ST_TR_PROG_MAX];
	int8_t jt[ST_TR_PROG_MAX], jf[ST_TR_PROG_MAX]; /* labels, ST_L_NEXT: none */
	size_t label_at[ST_L_COUNT];
	size_t n;
};

static void st_tr_stmt(struct st_tr_bpf *b, uint16_t code, uint32_t k)
{
	b->jt[b->n] = b->jf[b->n] = ST_L_NEXT;
	b->prog[b->n++] = (struct sock_filter)BPF_STMT(code, k);
}

static void st_tr_jump(struct st_tr_bpf *b, uint16_t code, uint32_t k, int jt, int jf)
{
	b->jt[b->n] = (int8_t)jt;
	b->jf[b->n] = (int8_t)jf;
	b->prog[b->n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | code | BPF_K, k, 0, 0);
}

static void st_tr_load_arg(struct st_tr_bpf *b, unsigned i)
{
	/* the low 32 bits (little-endian): these arguments are ints */
	st_tr_stmt(b, BPF_LD | BPF_W | BPF_ABS, (uint32_t)offsetof(struct seccomp_data, args[i]));
}

/* false when a jump would go backwards or too far (a mistake here, never
 * the program's: the filter is not installed and the launch fails) */
static bool st_tr_patch(struct st_tr_bpf *b)
{
	for (size_t i = 0; i < b->n; i++) {
		if ((b->jt[i] != ST_L_NEXT && b->label_at[b->jt[i]] <= i) ||
		    (b->jf[i] != ST_L_NEXT && b->label_at[b->jf[i]] <= i))
			return false;
		if (b->jt[i] != ST_L_NEXT)
			b->prog[i].jt = (uint8_t)(b->label_at[b->jt[i]] - (i + 1));
		if (b->jf[i] != ST_L_NEXT)
			b->prog[i].jf = (uint8_t)(b->label_at[b->jf[i]] - (i + 1));
	}
	return b->n < 256;
}

/* The calls whose arguments decide: F_DUPFD(_CLOEXEC) only (dup's other
 * name), SOL_SOCKET/SO_ERROR only (a pending connect's outcome), unshare
 * with CLONE_FILES only. */
static void st_tr_argument_checks(struct st_tr_bpf *b)
{
	b->label_at[ST_L_FCNTL] = b->n;
	st_tr_load_arg(b, 1);
	st_tr_jump(b, BPF_JEQ, F_DUPFD, ST_L_TRACE, ST_L_NEXT);
	st_tr_jump(b, BPF_JEQ, F_DUPFD_CLOEXEC, ST_L_TRACE, ST_L_RUN);
	b->label_at[ST_L_GETSOCKOPT] = b->n;
	st_tr_load_arg(b, 1);
	st_tr_jump(b, BPF_JEQ, SOL_SOCKET, ST_L_NEXT, ST_L_RUN);
	st_tr_load_arg(b, 2);
	st_tr_jump(b, BPF_JEQ, SO_ERROR, ST_L_TRACE, ST_L_RUN);
	b->label_at[ST_L_UNSHARE] = b->n;
	st_tr_load_arg(b, 0);
	st_tr_jump(b, BPF_JSET, CLONE_FILES, ST_L_TRACE, ST_L_RUN);
	b->label_at[ST_L_RUN] = b->n; /* jumps go forward only: a second ALLOW */
	st_tr_stmt(b, BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
}

int st_tr_seccomp_install(void)
{
	struct st_tr_bpf b = {.n = 0};
	st_tr_stmt(&b, BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch));
	/* another architecture's entry: not ours to decode */
	st_tr_jump(&b, BPF_JEQ, AUDIT_ARCH_X86_64, ST_L_NEXT, ST_L_ALLOW);
	st_tr_stmt(&b, BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr));
	/* x32's numbers carry this bit: not ours either */
	st_tr_jump(&b, BPF_JGE, 0x40000000u, ST_L_ALLOW, ST_L_NEXT);
	for (size_t i = 0; i < ST_TR_NTRACED; i++) {
		long nr = st_tr_traced[i];
		int to = nr == SYS_fcntl ? ST_L_FCNTL
			 : nr == SYS_getsockopt ? ST_L_GETSOCKOPT
			 : nr == SYS_unshare ? ST_L_UNSHARE : ST_L_TRACE;
		st_tr_jump(&b, BPF_JEQ, (uint32_t)nr, to, ST_L_NEXT);
	}
	b.label_at[ST_L_ALLOW] = b.n; /* no traced call: runs */
	st_tr_stmt(&b, BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
	st_tr_argument_checks(&b);
	b.label_at[ST_L_TRACE] = b.n;
	st_tr_stmt(&b, BPF_RET | BPF_K, SECCOMP_RET_TRACE);
	if (!st_tr_patch(&b))
		return -EINVAL;
	struct sock_fprog fprog = {.len = (unsigned short)b.n, .filter = b.prog};
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
		return -errno;
	if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &fprog) != 0)
		return -errno;
	return 0;
}
