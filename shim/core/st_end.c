/*
 * The ends of connections and the results of pending connects, recorded
 * only from calls the program makes: a close (or dup2 over, close_range,
 * fclose), a shutdown, a normal exit, a getsockopt(SO_ERROR), a repeated
 * connect, a getpeername.  The one system call added is TCP_INFO just before
 * a TCP socket's real close (SOCKTRACE_TCPINFO=0 skips it), and SO_TYPE /
 * SO_PROTOCOL / SO_DOMAIN once for a socket not seen born.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/tcp.h> /* tcp_info with tcpi_bytes_acked: glibc's <netinet/tcp.h> lacks it */
#include <netinet/in.h>
#include <stddef.h>
#include <string.h>
#include <sys/socket.h>

#include "st_core.h"

bool st_tcpinfo_on = true;
struct st_kernel_view st_kernel;

uint8_t st_sock_life(int fd, bool ask_kernel, enum st_life_state *state)
{
	uint8_t flags;
	uint64_t since;
	if (st_life_get(fd, state, &flags, &since))
		return flags;
	*state = 0;
	/* only for an fd a call just proved to be a socket: a program's calls on
	 * other fds must not cost a getsockopt each */
	if (!ask_kernel)
		return 0;
	int type = 0, proto = 0, domain = 0;
	socklen_t len = sizeof type;
	int saved = errno;
	if (st_kernel_getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) < 0) {
		errno = saved;
		return 0; /* not a socket, or closed */
	}
	len = sizeof proto;
	if (st_kernel_getsockopt(fd, SOL_SOCKET, SO_PROTOCOL, &proto, &len) < 0)
		proto = 0;
	len = sizeof domain;
	if (st_kernel_getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &len) < 0)
		domain = 0;
	errno = saved;
	flags = st_life_flags_of(domain, type, proto);
	st_life_set(fd, ST_LIFE_BORN, flags, 0);
	*state = ST_LIFE_BORN;
	return flags;
}

static uint8_t st_role_of(enum st_life_state state)
{
	return state == ST_LIFE_CLIENT ? ST_ROLE_CLIENT
	       : state == ST_LIFE_SERVER ? ST_ROLE_SERVER
	       : state == ST_LIFE_INHERITED ? ST_ROLE_INHERITED : ST_ROLE_PENDING;
}

/* A field of tcp_info is valid when the length the kernel returned covers
 * it: older kernels return a shorter struct. */
#define ST_TI_HAS(len, field) \
	((len) >= offsetof(struct tcp_info, field) + sizeof(((struct tcp_info *)0)->field))

/*
 * What the program handed to TCP: sent once (retransmissions taken out) plus
 * what is still queued unsent.  A FIN queued behind unsent data counts one
 * in write_seq (tcp_send_fin), never in the data: it is taken out.
 */
static uint64_t st_tcp_handed(const struct tcp_info *ti)
{
	enum { FIN_WAIT1 = 4, LAST_ACK = 9, CLOSING = 11 };
	uint64_t unsent = ti->tcpi_notsent_bytes;
	bool our_fin_sent_or_queued = ti->tcpi_state == FIN_WAIT1 || ti->tcpi_state == LAST_ACK ||
				      ti->tcpi_state == CLOSING;
	if (our_fin_sent_or_queued && unsent > 0)
		unsent--;
	uint64_t once = ti->tcpi_bytes_sent >= ti->tcpi_bytes_retrans
				? ti->tcpi_bytes_sent - ti->tcpi_bytes_retrans : 0;
	return once + unsent;
}

/*
 * The kernel loads tcpi_state before it locks the socket for the counters: a
 * FIN that arrives in between (on loopback, often while shutdown() or close()
 * is answered) is in tcpi_bytes_received under a state that does not show it,
 * and the reader would count it as a byte.  In the states a FIN can still
 * change, a second read settles it: when the count did not move between the
 * two, the second state (loaded after the first count) matches that count.
 */
static bool st_tcp_info_read(int fd, struct tcp_info *ti, socklen_t *len)
{
	enum { ESTABLISHED = 1, FIN_WAIT1 = 4, FIN_WAIT2 = 5 };
	*len = sizeof *ti;
	memset(ti, 0, sizeof *ti);
	if (st_kernel_getsockopt(fd, IPPROTO_TCP, TCP_INFO, ti, len) != 0 ||
	    !ST_TI_HAS(*len, tcpi_bytes_received))
		return false;
	for (int tries = 0; tries < 3; tries++) {
		if (ti->tcpi_state != ESTABLISHED && ti->tcpi_state != FIN_WAIT1 &&
		    ti->tcpi_state != FIN_WAIT2)
			return true;
		struct tcp_info again;
		socklen_t again_len = sizeof again;
		memset(&again, 0, sizeof again);
		if (st_kernel_getsockopt(fd, IPPROTO_TCP, TCP_INFO, &again, &again_len) != 0 ||
		    again_len != *len)
			return true;
		bool settled = again.tcpi_bytes_received == ti->tcpi_bytes_received;
		*ti = again;
		if (settled)
			return true;
	}
	return true;
}

/* tcp_info just before the end. */
static void st_tcp_info(int fd, struct st_close *c)
{
	struct tcp_info ti;
	socklen_t len;
	int saved = errno;
	if (st_tcp_info_read(fd, &ti, &len)) {
		c->flags |= ST_CLOSE_TCPINFO;
		c->tcp_state = ti.tcpi_state;
		c->rtt_us = ti.tcpi_rtt;
		c->retrans = ti.tcpi_total_retrans;
		c->bytes_acked = ti.tcpi_bytes_acked;
		c->bytes_received = ti.tcpi_bytes_received;
		if (ST_TI_HAS(len, tcpi_bytes_retrans)) {
			c->flags |= ST_CLOSE_SENT;
			c->bytes_sent = st_tcp_handed(&ti);
		}
	}
	errno = saved;
}

/* SYN to SYN-ACK, when the kernel's smoothed RTT is still its first sample:
 * no data sent yet, so no ACK of data has been sampled (0: unknown). */
static uint32_t st_tcp_handshake_us(int fd)
{
	struct tcp_info ti;
	socklen_t len = sizeof ti;
	int saved = errno;
	uint32_t us = 0;
	memset(&ti, 0, sizeof ti);
	if (st_kernel_getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len) == 0 &&
	    ST_TI_HAS(len, tcpi_data_segs_out) && ti.tcpi_data_segs_out == 0)
		us = ti.tcpi_rtt;
	errno = saved;
	return us;
}

static bool st_end_fill(int fd, uint8_t how, int shut_how, bool take, struct st_close *c)
{
	enum st_life_state state;
	uint8_t flags, close_flags = 0;
	uint64_t since;
	int open_fd = fd;
	bool known = take ? st_life_take(fd, &state, &flags, &since, &close_flags, &open_fd)
			  : st_life_get(fd, &state, &flags, &since);
	if (!known || state < ST_LIFE_PENDING ||
	    (state > ST_LIFE_SERVER && state != ST_LIFE_INHERITED))
		return false;
	/* the reader finds the connection by the fd it was opened on */
	*c = (struct st_close){.fd = fd, .how = how, .role = st_role_of(state),
			       .flags = flags | close_flags, .shut_how = shut_how,
			       .open_fd1 = open_fd != fd && open_fd >= 0 ? (uint32_t)open_fd + 1 : 0};
	/* one clock read: the end is dated when the program asked for it,
	 * just before the real close, and the age runs to then */
	uint64_t now = st_now_ns();
	c->ts_ns = now;
	c->age_ns = now > since ? now - since : 0;
	/* an inherited socket's counts include what came before we knew it */
	if (st_tcpinfo_on && ST_EV_PROTO(flags) == ST_PROTO_TCP)
		st_tcp_info(fd, c);
	/* A pending connect the program never asked about (it just used the
	 * socket once writable) was connected if the peer acknowledged our SYN:
	 * tcp_info says so at no extra cost, since it is read anyway. */
	if (state == ST_LIFE_PENDING && (c->flags & ST_CLOSE_TCPINFO) && c->bytes_acked > 0)
		c->role = ST_ROLE_CLIENT;
	return true;
}

/* A ring's close names its connection's ends, from what connect, accept or
 * getsockname/getpeername learned (no system call): the event that named
 * them may be overwritten before the close is read. */
static void st_end_ends(int fd, struct st_addr *local, struct st_addr *peer)
{
	if (!st_trace.ring || !st_fdcache_load(fd, local, peer))
		local->len = peer->len = 0;
}

void st_end_now(int fd, uint8_t how, int shut_how)
{
	struct st_close c;
	struct st_addr local, peer;
	/* after a shutdown the fd, and its connection's state, stay */
	if (st_end_fill(fd, how, shut_how, how != ST_END_SHUTDOWN, &c)) {
		st_end_ends(fd, &local, &peer);
		st_record_close(&c, &local, &peer);
	}
}

bool st_end_begin(int fd, uint8_t how, struct st_end_note *n)
{
	n->active = st_end_fill(fd, how, -1, true, &n->rec);
	if (n->active)
		st_end_ends(fd, &n->local, &n->peer);
	return n->active;
}

void st_end_finish(const struct st_end_note *n, int close_ret, int close_errno)
{
	/* EBADF: nothing was open there; the state taken was stale */
	if (n->active && !(close_ret < 0 && close_errno == EBADF)) {
		struct st_close c = n->rec;
		st_record_close(&c, &n->local, &n->peer);
	}
}

/* ts: when the call that told the program returned, so the result sorts
 * with that call's own event, not after it. */
void st_end_result(int fd, int err, uint8_t learned, uint64_t ts)
{
	enum st_life_state state;
	uint8_t flags;
	uint64_t since;
	if (!st_life_get(fd, &state, &flags, &since) || state != ST_LIFE_PENDING)
		return;
	if (!st_life_settle(fd, err == 0 ? ST_LIFE_CLIENT : ST_LIFE_BORN))
		return; /* another thread learned it first */
	uint32_t handshake_us = 0;
	if (err == 0 && st_tcpinfo_on && ST_EV_PROTO(flags) == ST_PROTO_TCP)
		handshake_us = st_tcp_handshake_us(fd);
	st_record_result(fd, err, ts > since ? ts - since : 0, learned, flags, ts, handshake_us);
}

/* A blocking connect that failed (refused, timed out): its result is its
 * return, recorded so that the reader knows when it began. */
void st_end_failed(int fd, int err, uint64_t start_ns, uint64_t ts, uint8_t flags)
{
	st_record_result(fd, err, ts > start_ns ? ts - start_ns : 0, ST_LEARNED_RETURNED, flags, ts,
			 0);
}

void st_end_at_exit(void)
{
	int high = st_life_high();
	for (int fd = 0; fd < high; fd++)
		st_end_now(fd, ST_END_EXIT, -1);
}

/* One getsockopt, on Unix stream sockets only: it names the process at the
 * other end even when only one side is traced, and pairs the two ends. */
void st_end_peer(int fd)
{
	enum st_life_state state;
	uint8_t flags = st_sock_life(fd, false, &state);
	if (ST_EV_SOCK(flags) != ST_SOCK_STREAM || ST_EV_PROTO(flags) != ST_PROTO_OTHER)
		return;
	struct ucred cred;
	socklen_t len = sizeof cred;
	int saved = errno;
	if (st_kernel_getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0 && len == sizeof cred)
		st_record_peer(fd, (uint32_t)cred.pid, cred.uid, cred.gid);
	errno = saved;
}

/* A socket found connected that the shim never saw connected or accepted
 * (inherited across exec, connected by a raw system call) is followed from
 * now on, so that its end is recorded too. */
void st_end_learned(int fd, uint8_t flags)
{
	st_life_set(fd, ST_LIFE_INHERITED, flags, st_now_ns());
}
