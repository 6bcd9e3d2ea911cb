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

#include "st_internal.h"

bool st_tcpinfo_on = true;

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
	if (st_real_getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) < 0) {
		errno = saved;
		return 0; /* not a socket, or closed */
	}
	len = sizeof proto;
	if (st_real_getsockopt(fd, SOL_SOCKET, SO_PROTOCOL, &proto, &len) < 0)
		proto = 0;
	len = sizeof domain;
	if (st_real_getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &len) < 0)
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

/* tcp_info just before the end; older kernels return a shorter struct,
 * so each field is used only when the length returned covers it. */
static void st_tcp_info(int fd, struct st_close *c)
{
	struct tcp_info ti;
	socklen_t len = sizeof ti;
	int saved = errno;
	memset(&ti, 0, sizeof ti);
	if (st_real_getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len) == 0 &&
	    len >= offsetof(struct tcp_info, tcpi_bytes_received) + sizeof ti.tcpi_bytes_received) {
		c->flags |= ST_CLOSE_TCPINFO;
		c->tcp_state = ti.tcpi_state;
		c->rtt_us = ti.tcpi_rtt;
		c->retrans = ti.tcpi_total_retrans;
		c->bytes_acked = ti.tcpi_bytes_acked;
		c->bytes_received = ti.tcpi_bytes_received;
	}
	errno = saved;
}

static bool st_end_fill(int fd, uint8_t how, int shut_how, bool take, struct st_close *c)
{
	enum st_life_state state;
	uint8_t flags, close_flags = 0;
	uint64_t since;
	bool known = take ? st_life_take(fd, &state, &flags, &since, &close_flags)
			  : st_life_get(fd, &state, &flags, &since);
	if (!known || state < ST_LIFE_PENDING ||
	    (state > ST_LIFE_SERVER && state != ST_LIFE_INHERITED))
		return false;
	*c = (struct st_close){.fd = fd, .how = how, .role = st_role_of(state),
			       .flags = flags | close_flags, .shut_how = shut_how};
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

void st_end_now(int fd, uint8_t how, int shut_how)
{
	struct st_close c;
	/* after a shutdown the fd, and its connection's state, stay */
	if (st_end_fill(fd, how, shut_how, how != ST_END_SHUTDOWN, &c))
		st_record_close(&c);
}

bool st_end_begin(int fd, uint8_t how, struct st_end_note *n)
{
	n->active = st_end_fill(fd, how, -1, true, &n->rec);
	return n->active;
}

void st_end_finish(const struct st_end_note *n, int close_ret, int close_errno)
{
	/* EBADF: nothing was open there; the state taken was stale */
	if (n->active && !(close_ret < 0 && close_errno == EBADF)) {
		struct st_close c = n->rec;
		st_record_close(&c);
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
	st_record_result(fd, err, ts > since ? ts - since : 0, learned, flags, ts);
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
	if (st_real_getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0 && len == sizeof cred)
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
