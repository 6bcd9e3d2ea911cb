/*
 * The socket calls a front-end saw, with what they did, turned into events
 * and connection states: the core's state machine of a socket (born, connect
 * pending, connected or accepted, result learned, ended).  The front-end
 * says who called (st_record_as), what the call was given (an address it
 * read from the program's memory, or none when it could not) and what it
 * returned; what it must know beyond that it asks the kernel through
 * st_kernel, and never a question the program did not give occasion to.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/close_range.h>

#include "st_core.h"

/* A connect that failed after trying (not one the kernel refused to start):
 * its attempt has a duration worth a result record. */
static bool st_connect_failed_on_the_wire(int err)
{
	return err == ECONNREFUSED || err == ETIMEDOUT || err == EHOSTUNREACH ||
	       err == ENETUNREACH || err == ECONNRESET || err == ECONNABORTED;
}

/*
 * Where this connect leaves the socket's connection.  A connect on a socket
 * whose connect was pending is the program asking how it went (ab, hiredis):
 * the same connection, flagged as a repeat, and its answer is the result.
 */
static uint8_t st_connect_life(int fd, const struct st_outcome *done, uint64_t start_ns,
			       const struct st_addr *peer)
{
	int ret = done->ret, err = done->err;
	enum st_life_state state;
	uint8_t flags = st_sock_life(fd, err != EBADF && err != ENOTSOCK, &state);
	if (state == ST_LIFE_PENDING) {
		if (ret == 0 || err == EISCONN)
			st_end_result(fd, 0, ST_LEARNED_CONNECT, done->ts_ns);
		else if (err != EALREADY && err != EINPROGRESS && err != EAGAIN)
			st_end_result(fd, err, ST_LEARNED_CONNECT, done->ts_ns);
		return flags | ST_EV_REPEAT;
	}
	bool unix_family = peer->len >= sizeof(sa_family_t) && peer->ss.ss_family == AF_UNIX;
	/* EINTR: a blocking connect interrupted by a signal goes on in the
	 * background, as a non-blocking one does (POSIX; Linux alike) */
	if (ret == 0)
		st_life_set(fd, ST_LIFE_CLIENT, flags, start_ns);
	else if (err == EINPROGRESS || err == EINTR || (err == EAGAIN && unix_family))
		st_life_set(fd, ST_LIFE_PENDING, flags, start_ns);
	return flags;
}

/* The local end of a connect that succeeded or is under way. */
static void st_connect_local(int fd, bool connected, const struct st_addr *peer,
			     struct st_addr *local)
{
	struct st_addr kernel_peer;
	if (connected && st_addr_is_specific_inet(peer)) {
		local->len = sizeof local->ss;
		if (st_kernel_name(false, fd, (struct sockaddr *)&local->ss, &local->len) < 0)
			local->len = 0;
		else
			st_fdcache_store(fd, local, peer);
	} else if (st_kernel_endpoints(fd, local, &kernel_peer) && connected) {
		st_fdcache_store(fd, local, &kernel_peer);
	}
	if (local->len > ST_ADDR_MAX)
		local->len = ST_ADDR_MAX;
}

void st_call_connect(int fd, const struct st_addr *peer, const struct st_outcome *done,
		     uint64_t start_ns, const struct st_stack *stack)
{
	int ret = done->ret, err = done->err;
	struct st_addr local;
	local.len = 0; /* no initialiser: zeroing 132 bytes shows in the names loop */
	st_fdcache_forget(fd);
	if (ret == 0 || err == EINPROGRESS)
		st_connect_local(fd, ret == 0, peer, &local);
	uint8_t flags = st_connect_life(fd, done, start_ns, peer);
	st_record_event(ST_OP_CONNECT, fd, -1, done, &local, peer,
			flags | (peer->len ? ST_EV_PEER_REQUESTED : 0), stack);
	/* after its event, which the reader must have seen first */
	if (ret < 0 && st_connect_failed_on_the_wire(err) && !(flags & ST_EV_REPEAT))
		st_end_failed(fd, err, start_ns, done->ts_ns, flags);
	if (ret == 0 && peer->len >= sizeof(sa_family_t) && peer->ss.ss_family == AF_UNIX)
		st_end_peer(fd);
}

/* The accepted socket's local end is the listener's when that is a specific
 * address: learned once per listener, it saves a getsockname per accept. */
static bool st_listener_local(int listen_fd, struct st_addr *local)
{
	struct st_addr peer;
	if (!st_fdcache_load(listen_fd, local, &peer)) {
		st_kernel_endpoints(listen_fd, local, &peer);
		if (peer.len != 0 || !st_addr_is_settled(local))
			return false;
		st_fdcache_store(listen_fd, local, &peer);
	}
	return peer.len == 0 && st_addr_is_shared_by_accepted(local);
}

/* Both ends of a socket just accepted; peer: as the call returned it, if known. */
static void st_accepted_ends(int fd, int listen_fd, struct st_addr *local, struct st_addr *peer)
{
	struct st_addr kernel_peer;
	if (!st_listener_local(listen_fd, local)) {
		local->len = sizeof local->ss;
		if (st_kernel_name(false, fd, (struct sockaddr *)&local->ss, &local->len) < 0)
			local->len = 0;
		if (local->len > ST_ADDR_MAX)
			local->len = ST_ADDR_MAX;
	}
	if (peer->len == 0 && local->len != 0)
		st_kernel_peer(fd, peer); /* the local end came from the listener */
	else if (peer->len == 0 && st_kernel_endpoints(fd, local, &kernel_peer))
		*peer = kernel_peer;
	st_fdcache_store(fd, local, peer);
}

void st_call_accept(uint8_t op, int listen_fd, const struct st_outcome *done,
		    struct st_addr *peer, const struct st_stack *stack)
{
	int ret = done->ret;
	struct st_addr local;
	local.len = 0;
	/* the accepted socket is of its listener's type and protocol */
	enum st_life_state listener;
	uint8_t flags = st_sock_life(listen_fd, ret >= 0 || done->err == EAGAIN, &listener);
	if (ret >= 0) {
		st_fdcache_forget(ret);
		st_life_set(ret, ST_LIFE_SERVER, flags, done->ts_ns);
		st_accepted_ends(ret, listen_fd, &local, peer);
	}
	st_record_event(op, ret >= 0 ? ret : -1, listen_fd, done, &local, peer, flags, stack);
	if (ret >= 0 && local.len >= sizeof(sa_family_t) && local.ss.ss_family == AF_UNIX)
		st_end_peer(ret);
}

/* The cache entry is trusted only when it agrees with the length the call
 * returned; otherwise the kernel is asked once and the entry renewed. */
void st_call_name(uint8_t op, int fd, const struct st_outcome *done, socklen_t returned_len,
		  const struct st_stack *stack)
{
	struct st_addr local, peer;
	local.len = peer.len = 0;
	enum st_life_state state;
	uint8_t flags = st_sock_life(fd, done->ret == 0, &state);
	/* a pending connect's socket that has a peer is connected */
	if (op == ST_OP_GETPEERNAME && done->ret == 0 && state == ST_LIFE_PENDING)
		st_end_result(fd, 0, ST_LEARNED_GETPEERNAME, done->ts_ns);
	if (done->ret == 0) {
		socklen_t returned = returned_len < ST_ADDR_MAX ? returned_len : ST_ADDR_MAX;
		bool hit = st_fdcache_load(fd, &local, &peer) &&
			   (op == ST_OP_GETSOCKNAME ? local.len : peer.len) == returned;
		if (!hit && (st_kernel_endpoints(fd, &local, &peer) || st_addr_is_settled(&local)))
			st_fdcache_store(fd, &local, &peer);
		if (peer.len > 0 && state == ST_LIFE_BORN)
			st_end_learned(fd, flags);
	}
	st_record_event(op, fd, -1, done, &local, &peer, flags, stack);
}

void st_call_socket(int fd, int domain, int type, int protocol)
{
	st_fdcache_forget(fd);
	if (fd >= 0)
		st_life_set(fd, ST_LIFE_BORN, st_life_flags_of(domain, type, protocol), 0);
}

void st_call_duplicated(int fd, int newfd)
{
	st_fdcache_forget(newfd);
	if (newfd >= 0) {
		st_life_forget(newfd);
		st_life_share(fd, newfd);
	}
}

void st_call_replaced(int oldfd, int newfd, int ret)
{
	st_fdcache_forget(newfd);
	if (ret >= 0)
		st_life_share(oldfd, newfd);
}

void st_call_so_error(int fd, int err, uint64_t ts)
{
	/* still connecting: the program asked too early, nothing is known */
	if (err != EINPROGRESS && err != EALREADY)
		st_end_result(fd, err, ST_LEARNED_SO_ERROR, ts);
}

void st_call_shutdown(int fd, int how)
{
	st_end_now(fd, ST_END_SHUTDOWN, how);
}

/* Arguments the kernel refuses before closing anything (EINVAL): no end
 * is recorded for a call that closes nothing. */
static bool st_close_range_closes(unsigned first, unsigned last, unsigned flags)
{
	return first <= last && !(flags & ~(CLOSE_RANGE_UNSHARE | CLOSE_RANGE_CLOEXEC)) &&
	       !(flags & CLOSE_RANGE_CLOEXEC); /* that one only marks them */
}

void st_call_range_ending(unsigned first, unsigned last, unsigned flags)
{
	if (!st_close_range_closes(first, last, flags))
		return;
	unsigned high = (unsigned)st_life_high();
	for (unsigned fd = first; fd <= last && fd < high; fd++)
		st_end_now((int)fd, ST_END_RANGE, -1);
}

/* Whether fd is a TCP socket (asked of the kernel: fd was just listed). */
static bool st_call_is_tcp(int fd)
{
	int domain = 0, type = 0;
	socklen_t len = sizeof domain;
	if (st_kernel_getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &len) < 0 ||
	    (domain != AF_INET && domain != AF_INET6))
		return false;
	len = sizeof type;
	return st_kernel_getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) == 0 &&
	       type == SOCK_STREAM;
}

/*
 * The sockets a program starts with, after an exec: inetd's, socat's and
 * sshd's children get their connection on fds 0 and 1 and many never name
 * it, so its end would be missing.  Each TCP socket with a peer is recorded
 * held and followed; fds naming one socket (one inode: fds 0 and 1) share one
 * state, as dup2 makes, so the last one's close is the end.  Unix sockets are
 * left alone: under systemd every service's stdout is one, to journald.
 */
void st_call_started_with(const int *fds, const uint64_t *inodes, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		size_t first = i;
		for (size_t j = 0; j < i && first == i; j++)
			if (inodes[j] == inodes[i])
				first = j;
		if (first != i)
			st_call_replaced(fds[first], fds[i], fds[i]);
		else if (st_call_is_tcp(fds[i]))
			st_call_held(fds[i], -1);
	}
}

/* Sockets another process passed to this one (SCM_RIGHTS): vsftpd's
 * privileged process connects an active-mode data connection and hands it
 * to the session process, which sends the file and closes it, after the
 * connecting process let its own copy go with nothing sent.  Each TCP
 * socket with a peer is recorded held, as one a program starts with, so
 * that the reader joins it to its opener's connection and ends that at the
 * later close, with the bytes the kernel counted by then. */
void st_call_passed_in(const int *fds, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (fds[i] >= 0 && st_call_is_tcp(fds[i]))
			st_call_held(fds[i], -1);
}

/* A socket found open when following began (a tracer attaching to a running
 * process): a connected one is recorded with both ends (a "held" event, so
 * that the views list its connection) and followed from then on, as a socket
 * found connected later is, so that its end is recorded too. */
bool st_call_held(int fd, int listen_fd)
{
	enum st_life_state state;
	uint8_t flags = st_sock_life(fd, true, &state);
	struct st_addr local, peer;
	if (state != ST_LIFE_BORN || !st_kernel_endpoints(fd, &local, &peer))
		return false;
	st_fdcache_store(fd, &local, &peer);
	struct st_outcome now = {st_now_ns(), 0, 0};
	st_record_event(ST_OP_HELD, fd, listen_fd, &now, &local, &peer, flags, NULL);
	st_end_learned(fd, flags);
	return true;
}
