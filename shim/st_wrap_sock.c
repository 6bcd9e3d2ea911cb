/*
 * The traced calls.  Each calls the real function first with the program's
 * own arguments, so results and errno are exactly libc's, then records.  The
 * program's buffers are read only where the kernel has just proven them
 * readable: connect's address when the connect succeeded or is under way
 * (otherwise copied without faulting), the length a
 * successful getsockname/getpeername wrote back, and accept's peer when the
 * room offered for it was read safely (st_offered_len).  Other addresses the
 * program receives come from the fd cache or from the kernel into our own
 * buffers.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <string.h>
#include <sys/syscall.h>

#include "st_internal.h"

#define ST_EXPORT __attribute__((visibility("default")))

/* The address the program gave, read directly only when the kernel has just
 * read it: a connect that succeeded or is under way.  A failed one may never
 * have looked (EBADF is checked first; connect(-1, (void *)8, 16) is EBADF
 * bare): copied without faulting then. */
static void st_after_connect(int fd, const struct sockaddr *addr, socklen_t len,
			     const struct st_outcome *done, const struct st_stack *stack,
			     uint64_t start_ns)
{
	int ret = done->ret, err = done->err;
	struct st_addr peer;
	peer.len = 0; /* no initialiser: zeroing 132 bytes shows in the names loop */
	bool kernel_read = ret == 0 || err == EINPROGRESS || err == EALREADY || err == EISCONN;
	if (addr != NULL && len <= sizeof peer.ss) {
		if (ST_LIKELY(kernel_read))
			st_addr_from(&peer, addr, len);
		else if (err != EFAULT)
			st_addr_copy(&peer, addr, len);
	}
	st_call_connect(fd, &peer, done, start_ns, stack);
}

/*
 * A connect this thread is blocked in.  A signal handler that leaves it with
 * a jump (alarm() and siglongjmp around a connect: the classic timeout) ends
 * the call without a return, but not the attempt, which the kernel carries on
 * as after EINTR: the jump hook records it so (st_connect_jumped).
 */
static __thread struct {
	bool active;
	int fd;
	const struct sockaddr *addr;
	socklen_t len;
	uint64_t start_ns;
	uintptr_t sp;
} st_connecting ST_TLS;

void st_connect_jumped(uintptr_t target_sp)
{
	if (ST_LIKELY(!st_connecting.active) || st_connecting.sp >= target_sp)
		return;
	st_connecting.active = false;
	struct st_outcome done = {st_now_ns(), -1, EINTR};
	struct st_stack stack = {0};
	st_after_connect(st_connecting.fd, st_connecting.addr, st_connecting.len, &done, &stack,
			 st_connecting.start_ns);
}

/* raw: the program made the call with syscall(), which must stay the raw
 * system call's (no cancellation point, no libc behaviour of its own). */
static inline __attribute__((always_inline)) int st_connect(bool raw, int fd,
							    const struct sockaddr *addr,
							    socklen_t len)
{
	/* a connection's age counts from here; no clock read when not tracing */
	uint64_t start_ns = st_ready() ? st_now_ns() : 0;
	if (start_ns) {
		uintptr_t sp;
		__asm__ volatile("mov %%rsp, %0" : "=r"(sp));
		st_connecting.fd = fd;
		st_connecting.addr = addr;
		st_connecting.len = len;
		st_connecting.start_ns = start_ns;
		st_connecting.sp = sp;
		__atomic_signal_fence(__ATOMIC_SEQ_CST);
		st_connecting.active = true;
		__atomic_signal_fence(__ATOMIC_SEQ_CST);
	}
	int ret = raw ? (int)ST_SYS(SYS_connect, fd, addr, len) : st_real_connect(fd, addr, len);
	int saved = errno;
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	st_connecting.active = false;
	if (st_ready()) {
		struct st_outcome done = st_outcome_of(ret, saved);
		struct st_stack stack;
		st_stack_take(&stack);
		st_after_connect(fd, addr, len, &done, &stack, start_ns);
	}
	errno = saved;
	return ret;
}

ST_EXPORT int connect(int fd, const struct sockaddr *addr, socklen_t len)
{
	return st_connect(false, fd, addr, len);
}

int st_sys_connect(int fd, const struct sockaddr *addr, socklen_t len)
{
	return st_connect(true, fd, addr, len);
}

/*
 * The length the program offers for the peer's address, read before the call
 * only where reading cannot fault: in the stack pages this call is running on
 * (from its own locals up to its return address), where a caller's
 * `socklen_t len = sizeof addr` almost always is.  Anywhere else the pointer
 * may be bad, and the kernel's EFAULT must stay the program's answer, not a
 * SIGSEGV of ours: -1, and the peer is asked of the kernel instead.
 */
static inline __attribute__((always_inline)) long st_offered_len(const socklen_t *len,
								 const void *our_local,
								 const void *our_return_slot)
{
	uintptr_t page = (uintptr_t)len & ~(uintptr_t)4095;
	uintptr_t lo = (uintptr_t)our_local & ~(uintptr_t)4095;
	uintptr_t hi = (uintptr_t)our_return_slot & ~(uintptr_t)4095;
	if (len == NULL || page < lo || page > hi)
		return -1;
	return (long)*len;
}

/*
 * The peer as the kernel just wrote it into the program's buffer: it wrote
 * min(offered, returned) bytes, so the address is whole when it was offered
 * room for all of it.  Saves the getpeername a connection otherwise costs.
 */
static void st_peer_from_program(struct st_addr *peer, const struct sockaddr *addr,
				 const socklen_t *len, long offered)
{
	socklen_t returned = *len; /* written by the kernel: readable */
	if (offered < 0 || returned == 0 || (long)returned > offered)
		return;
	st_addr_from(peer, addr, returned);
}

/* When the program does not want the peer address, the kernel writes it into
 * our buffer instead: the program sees no difference and we save a syscall. */
static inline __attribute__((always_inline)) int st_accept(bool raw, uint8_t op, int fd,
							   struct sockaddr *addr, socklen_t *len,
							   int flags, const void *return_slot)
{
	struct st_addr peer;
	peer.len = 0;
	bool ours = addr == NULL;
	long offered = ours ? -1 : st_offered_len(len, &peer, return_slot);
	socklen_t our_len = sizeof peer.ss;
	struct sockaddr *use_addr = ours ? (struct sockaddr *)&peer.ss : addr;
	socklen_t *use_len = ours ? &our_len : len;
	int ret = raw ? (int)(op == ST_OP_ACCEPT4
				      ? ST_SYS(SYS_accept4, fd, use_addr, use_len, flags)
				      : ST_SYS(SYS_accept, fd, use_addr, use_len))
	      : op == ST_OP_ACCEPT4 ? st_real_accept4(fd, use_addr, use_len, flags)
				    : st_real_accept(fd, use_addr, use_len);
	int saved = errno;
	if (st_ready()) {
		struct st_outcome done = st_outcome_of(ret, saved);
		struct st_stack stack;
		st_stack_take(&stack);
		if (ours && ret >= 0)
			peer.len = our_len > ST_ADDR_MAX ? ST_ADDR_MAX : our_len;
		else if (ret >= 0)
			st_peer_from_program(&peer, addr, len, offered);
		st_call_accept(op, fd, &done, &peer, &stack);
	}
	errno = saved;
	return ret;
}

/* __builtin_frame_address(0) + one word: where this call's return address is
 * stored, the top of the stack span known to be mapped. */
#define ST_RETURN_SLOT() ((const char *)__builtin_frame_address(0) + sizeof(void *))

ST_EXPORT int accept(int fd, struct sockaddr *addr, socklen_t *len)
{
	return st_accept(false, ST_OP_ACCEPT, fd, addr, len, 0, ST_RETURN_SLOT());
}

ST_EXPORT int accept4(int fd, struct sockaddr *addr, socklen_t *len, int flags)
{
	return st_accept(false, ST_OP_ACCEPT4, fd, addr, len, flags, ST_RETURN_SLOT());
}

/* return_slot: the exported syscall()'s own, as ST_RETURN_SLOT() there gives */
int st_sys_accept4(bool four, int fd, struct sockaddr *addr, socklen_t *len, int flags,
		   const void *return_slot)
{
	return st_accept(true, four ? ST_OP_ACCEPT4 : ST_OP_ACCEPT, fd, addr, len, flags,
			 return_slot);
}

static inline __attribute__((always_inline)) int st_name(bool raw, uint8_t op, int fd,
							  struct sockaddr *addr, socklen_t *len)
{
	int ret;
	if (raw)
		ret = (int)ST_SYS(op == ST_OP_GETSOCKNAME ? SYS_getsockname : SYS_getpeername, fd,
				  addr, len);
	else
		ret = op == ST_OP_GETSOCKNAME ? st_real_getsockname(fd, addr, len)
					      : st_real_getpeername(fd, addr, len);
	int saved = errno;
	if (st_ready()) {
		struct st_outcome done = st_outcome_of(ret, saved);
		struct st_stack stack;
		st_stack_take(&stack);
		/* *len only once the call proved it writable */
		st_call_name(op, fd, &done, ret == 0 ? *len : 0, &stack);
	}
	errno = saved;
	return ret;
}

ST_EXPORT int getsockname(int fd, struct sockaddr *addr, socklen_t *len)
{
	return st_name(false, ST_OP_GETSOCKNAME, fd, addr, len);
}

ST_EXPORT int getpeername(int fd, struct sockaddr *addr, socklen_t *len)
{
	return st_name(false, ST_OP_GETPEERNAME, fd, addr, len);
}

int st_sys_name(bool peer, int fd, struct sockaddr *addr, socklen_t *len)
{
	return st_name(true, peer ? ST_OP_GETPEERNAME : ST_OP_GETSOCKNAME, fd, addr, len);
}
