/*
 * Connections through their lives, for tests/test_life.c: each mode prints
 * what the program itself saw, so the test can hold the trace to it.
 */
#include "progs.h"

#include <fcntl.h>
#include <stdbool.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <sys/time.h>
#include <signal.h>
#include <setjmp.h>

static int life_nonblocking(int family, unsigned port)
{
	int fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK, 0);
	CHECK(fd >= 0);
	struct sockaddr_in in = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	int ret = connect(fd, (struct sockaddr *)&in, sizeof in);
	CHECK(ret == 0 || errno == EINPROGRESS);
	return fd;
}

static int life_wait_writable(int fd)
{
	struct pollfd p = {fd, POLLOUT, 0};
	CHECK(poll(&p, 1, 10000) == 1);
	int err = -1;
	socklen_t len = sizeof err;
	CHECK(getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == 0);
	return err;
}

/* refused: a non-blocking connect to a closed port, learned by SO_ERROR */
static int life_refused(void)
{
	unsigned port;
	int l = tcp_listener(AF_INET, &port);
	close(l); /* nobody listens there now */
	int fd = life_nonblocking(AF_INET, port);
	int err = life_wait_writable(fd);
	printf("so_error=%d fd=%d\n", err, fd);
	close(fd);
	return 0;
}

static void life_write_all(int fd, size_t n)
{
	static char buf[65536];
	while (n > 0) {
		ssize_t w = write(fd, buf, n < sizeof buf ? n : sizeof buf);
		CHECK(w > 0);
		n -= (size_t)w;
	}
}

static void life_read_all(int fd, size_t n)
{
	static char buf[65536];
	while (n > 0) {
		ssize_t r = read(fd, buf, n < sizeof buf ? n : sizeof buf);
		CHECK(r > 0);
		n -= (size_t)r;
	}
}

/* A loopback listener, a client connected to it and the accepted end. */
static void life_connected(int *listener, int *client, int *accepted)
{
	unsigned port;
	*listener = tcp_listener(AF_INET, &port);
	*client = tcp_connect(AF_INET, port);
	*accepted = accept(*listener, NULL, NULL);
	CHECK(*accepted >= 0);
}

/* bytes: a non-blocking connect learned by SO_ERROR, 1 MiB one way and
 * 64 KiB back, then both ends closed (the server in a child) */
static int life_bytes(void)
{
	unsigned port;
	int l = tcp_listener(AF_INET, &port);
	int fd = life_nonblocking(AF_INET, port);
	CHECK(life_wait_writable(fd) == 0);
	CHECK(fcntl(fd, F_SETFL, 0) == 0);
	int a = accept(l, NULL, NULL);
	CHECK(a >= 0);
	pid_t pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		close(fd);
		life_read_all(a, 1 << 20);
		life_write_all(a, 64 << 10);
		shutdown(a, SHUT_WR);
		char c;
		CHECK(read(a, &c, 1) == 0);
		close(a);
		_exit(0);
	}
	close(a); /* the parent's copy: the child's close ends it */
	life_write_all(fd, 1 << 20);
	life_read_all(fd, 64 << 10);
	char c;
	CHECK(read(fd, &c, 1) == 0);
	close(fd);
	CHECK(waitpid(pid, NULL, 0) == pid);
	printf("child=%d fd=%d\n", pid, fd);
	return 0;
}

/* unread: a TLS server's close_notify after its client left: 100 bytes
 * out, 50 back, the client closes; the server writes 30 more, which the
 * client's closed socket answers with a reset, and closes.  The client
 * handed 100 and got 50; the server handed 80 and got 100 (and the
 * client's FIN before the reset, which is no byte). */
static int life_unread(void)
{
	int l, c, a;
	life_connected(&l, &c, &a);
	life_write_all(c, 100);
	life_read_all(a, 100);
	life_write_all(a, 50);
	life_read_all(c, 50);
	close(c);
	char byte;
	CHECK(read(a, &byte, 1) == 0); /* its FIN */
	life_write_all(a, 30);
	/* the reset: POLLHUP only once both directions are shut, bounded */
	struct pollfd p = {.fd = a, .events = 0};
	CHECK(poll(&p, 1, 10000) == 1 && (p.revents & POLLHUP));
	close(a);
	close(l);
	return 0;
}

/* again: connect() asked again until EISCONN, as ab and hiredis do */
static int life_again(void)
{
	unsigned port;
	int l = tcp_listener(AF_INET, &port);
	int fd = life_nonblocking(AF_INET, port);
	struct sockaddr_in in = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	int tries = 0;
	while (connect(fd, (struct sockaddr *)&in, sizeof in) < 0 && errno != EISCONN && tries < 1000) {
		CHECK(errno == EALREADY || errno == EINPROGRESS);
		struct pollfd p = {fd, POLLOUT, 0};
		poll(&p, 1, 100);
		tries++;
	}
	CHECK(accept(l, NULL, NULL) >= 0);
	printf("connected fd=%d\n", fd);
	close(fd);
	return 0;
}

/* reuse N: N connections that each reuse the same fd number */
static int life_reuse(int n)
{
	unsigned port;
	int l = tcp_listener(AF_INET, &port);
	for (int i = 0; i < n; i++) {
		int fd = tcp_connect(AF_INET, port);
		int a = accept(l, NULL, NULL);
		CHECK(a >= 0);
		life_write_all(fd, (size_t)i + 1);
		life_read_all(a, (size_t)i + 1);
		close(fd);
		close(a);
	}
	printf("connections=%d\n", n);
	return 0;
}

/* timeout: the listener's accept queue is full, so its SYNs are dropped;
 * with one SYN retry the non-blocking connect times out in about 3 s */
static int life_timeout(void)
{
	unsigned port;
	int l = tcp_listener(AF_INET, &port);
	CHECK(listen(l, 0) == 0);
	for (int i = 0; i < 1; i++) /* fills a queue of backlog 0; never accepted */
		tcp_connect(AF_INET, port);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	int one = 1;
	CHECK(setsockopt(fd, IPPROTO_TCP, TCP_SYNCNT, &one, sizeof one) == 0);
	struct sockaddr_in in = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	CHECK(connect(fd, (struct sockaddr *)&in, sizeof in) < 0 && errno == EINPROGRESS);
	struct pollfd p = {fd, POLLOUT, 0};
	CHECK(poll(&p, 1, 20000) == 1);
	int err = 0;
	socklen_t len = sizeof err;
	CHECK(getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == 0);
	printf("so_error=%d\n", err);
	close(fd);
	return 0;
}

/* dup: the client socket moves to fd 10 (dup2, close of the original), sends
 * 100 bytes there; only the last close ends the connection */
static int life_dup(void)
{
	unsigned port;
	int l = tcp_listener(AF_INET, &port);
	int fd = tcp_connect(AF_INET, port);
	int a = accept(l, NULL, NULL);
	CHECK(a >= 0 && dup2(fd, 10) == 10);
	close(fd);
	life_write_all(10, 100);
	life_read_all(a, 100);
	int extra = dup(10); /* a third name, closed first */
	CHECK(extra >= 0);
	close(extra);
	close(10);
	close(a);
	printf("moved\n");
	return 0;
}

/* fdupfd: the same through fcntl(F_DUPFD_CLOEXEC), then fcntl64(F_DUPFD)
 * (the symbol -D_FILE_OFFSET_BITS=64 programs call); the last copy ends it */
extern int fcntl64(int fd, int cmd, ...);

static int life_fdupfd(void)
{
	unsigned port;
	int l = tcp_listener(AF_INET, &port);
	int fd = tcp_connect(AF_INET, port);
	int a = accept(l, NULL, NULL);
	int copy = fcntl(fd, F_DUPFD_CLOEXEC, 20);
	CHECK(a >= 0 && copy >= 20);
	close(fd);
	int last = fcntl64(copy, F_DUPFD, 30);
	CHECK(last >= 30);
	close(copy);
	life_write_all(last, 100);
	life_read_all(a, 100);
	close(last);
	close(a);
	printf("last=%d\n", last);
	return 0;
}

/* The untraced client's side of a served connection (inline system calls,
 * never seen by the shim): 1000 bytes out, 2000 back, one byte to end. */
/* The untraced client's part, up to the last byte it sends. */
static void life_untraced_exchange_begin(int c)
{
	static char buf[2000];
	CHECK(inline_syscall(SYS_write, c, (long)buf, 1000) == 1000);
	for (size_t got = 0; got < 2000;) {
		long n = inline_syscall(SYS_read, c, (long)buf, sizeof buf);
		CHECK(n > 0);
		got += (size_t)n;
	}
}

static void life_untraced_exchange_end(int c)
{
	char byte = 0;
	CHECK(inline_syscall(SYS_write, c, (long)&byte, 1) == 1);
}

static void life_untraced_exchange(int c)
{
	life_untraced_exchange_begin(c);
	life_untraced_exchange_end(c);
}

/* A server's accepted socket, its listener in *l and in *c a client the
 * shim never sees: inline system calls. */
static int life_untraced_pair(int *l, int *c)
{
	unsigned port;
	*l = tcp_listener(AF_INET, &port);
	struct sockaddr_in in = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	*c = (int)inline_syscall(SYS_socket, AF_INET, SOCK_STREAM, 0);
	CHECK(*c >= 0 && inline_syscall(SYS_connect, *c, (long)&in, sizeof in) == 0);
	int a = accept(*l, NULL, NULL);
	CHECK(a >= 0);
	return a;
}

/* prefork: a server that accepts, forks and lets the child serve, as
 * postgres and inetd do; the client is not traced (raw system calls).  With
 * "parent-first" the parent closes its copy at once; with "child-first" it
 * closes it after the child is gone; with "child-exits" the parent closes
 * first and the child leaves with _exit() without closing its copy, as
 * sshd's children do (its end is the kernel's close at exit); with
 * "child-names" the parent closes first and the child names the socket
 * after that close, as postgres' backends do. */
static bool life_child_names;

static int life_prefork_with(bool parent_first, bool parent_killed, bool child_closes)
{
	int l, c, a = life_untraced_pair(&l, &c);
	pid_t pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		life_read_all(a, 1000); /* after the parent's close, with parent_first */
		struct sockaddr_storage ss;
		socklen_t len = sizeof ss;
		CHECK(!life_child_names || getsockname(a, (struct sockaddr *)&ss, &len) == 0);
		life_write_all(a, 2000);
		life_read_all(a, 1); /* its ACK came with it: all 2000 acknowledged */
		if (child_closes)
			close(a);
		_exit(0);
	}
	if (parent_first)
		close(a);
	life_untraced_exchange(c);
	CHECK(waitpid(pid, NULL, 0) == pid);
	if (parent_killed)
		kill(getpid(), SIGKILL); /* its copy is never closed in the trace */
	if (!parent_first)
		close(a);
	inline_syscall(SYS_close, c, 0, 0);
	printf("child=%d\n", pid);
	return 0;
}

static int life_prefork(bool parent_first, bool parent_killed)
{
	return life_prefork_with(parent_first, parent_killed, true);
}

/*
 * reexec: sshd's way.  The server accepts, forks and closes its copy; the
 * child exec's this program again ("reexec-child FD"), which names the
 * socket it inherited, forks a grandchild that serves and closes, and
 * leaves with _exit() still holding its own copy.
 */
static int life_reexec(const char *self)
{
	int l, c, a = life_untraced_pair(&l, &c);
	pid_t pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		char fd[16];
		snprintf(fd, sizeof fd, "%d", a);
		inline_syscall(SYS_close, c, 0, 0); /* the client's socket is not the server's */
		execl(self, self, "reexec-child", fd, (char *)NULL);
		_exit(127);
	}
	close(a);
	life_untraced_exchange(c);
	int status;
	CHECK(waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0);
	inline_syscall(SYS_close, c, 0, 0);
	printf("child=%d\n", pid);
	return 0;
}

/*
 * inetd: inetd's (and socat EXEC's, tcpserver's) way.  The server accepts,
 * forks and closes its copy; the child puts the socket on fds 0 and 1 and
 * exec's this program again ("inetd-child"), which serves on them without
 * ever naming the socket, and exits without closing them.  With late, the
 * server closes its copy while the child serves (the child's start comes
 * before that close in the trace, and its end after); with exec, the child
 * first exec's itself once more in its place (a wrapper script's exec).
 */
static int life_inetd(const char *self, bool late, bool again)
{
	int l, c, a = life_untraced_pair(&l, &c);
	pid_t pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		CHECK(dup2(a, 0) == 0 && dup2(a, 1) == 1);
		close(a);
		close(l);
		inline_syscall(SYS_close, c, 0, 0); /* the client's socket is not the server's */
		execl(self, self, "inetd-child", again ? "again" : NULL, (char *)NULL);
		_exit(127);
	}
	if (!late)
		close(a);
	life_untraced_exchange_begin(c);
	if (late)
		close(a); /* the child holds it, waiting for the last byte */
	life_untraced_exchange_end(c);
	int status;
	CHECK(waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0);
	inline_syscall(SYS_close, c, 0, 0);
	printf("child=%d\n", pid);
	return 0;
}

static int life_inetd_child(const char *self, bool again)
{
	if (again) {
		execl(self, self, "inetd-child", (char *)NULL);
		_exit(127);
	}
	life_read_all(0, 1000);
	life_write_all(1, 2000);
	life_read_all(0, 1);
	exit(0);
}

/*
 * selfexec: nc -l -e's way.  The server accepts, puts the connection on fds
 * 0 and 1 and exec's this program in its place ("inetd-child"), no fork; the
 * client is a child of it making inline system calls.
 */
static int life_selfexec(const char *self)
{
	unsigned port;
	int l = tcp_listener(AF_INET, &port);
	pid_t pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		struct sockaddr_in in = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
					 .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
		int c = (int)inline_syscall(SYS_socket, AF_INET, SOCK_STREAM, 0);
		CHECK(c >= 0 && inline_syscall(SYS_connect, c, (long)&in, sizeof in) == 0);
		life_untraced_exchange(c);
		inline_syscall(SYS_close, c, 0, 0);
		_exit(0);
	}
	int a = accept(l, NULL, NULL);
	CHECK(a >= 0);
	printf("client=%d\n", pid);
	CHECK(dup2(a, 0) == 0 && dup2(a, 1) == 1);
	close(a);
	close(l);
	execl(self, self, "inetd-child", (char *)NULL);
	return 127;
}

static int life_reexec_child(int a)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof ss;
	CHECK(getpeername(a, (struct sockaddr *)&ss, &len) == 0);
	pid_t pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		life_read_all(a, 1000);
		life_write_all(a, 2000);
		life_read_all(a, 1);
		close(a);
		_exit(0);
	}
	CHECK(waitpid(pid, NULL, 0) == pid);
	_exit(0);
}

/* prefork parent-killed: the same server as a child of this process, killed
 * by SIGKILL once its child has served and closed the connection */
static int life_in_a_child_killed(int (*server)(bool, bool))
{
	pid_t pid = fork();
	CHECK(pid >= 0);
	if (pid == 0)
		_exit(server(false, true));
	int status;
	CHECK(waitpid(pid, &status, 0) == pid);
	CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
	printf("server=%d killed\n", pid);
	return 0;
}

/* scmrights: a connected socket passed to a child over a Unix socket
 * (SCM_RIGHTS); the child names its peer, sends 100 bytes and closes it */
/* One byte of data with room for one fd of control data. */
struct life_fd_msg {
	char byte;
	struct iovec iov;
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} u;
	struct msghdr m;
};

static struct msghdr *life_fd_msg_init(struct life_fd_msg *x)
{
	x->byte = 'f';
	x->iov = (struct iovec){&x->byte, 1};
	x->m = (struct msghdr){.msg_iov = &x->iov, .msg_iovlen = 1, .msg_control = x->u.buf,
			       .msg_controllen = sizeof x->u.buf};
	return &x->m;
}

static void life_send_fd(int over, int fd)
{
	struct life_fd_msg x;
	struct msghdr *m = life_fd_msg_init(&x);
	struct cmsghdr *c = CMSG_FIRSTHDR(m);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(c), &fd, sizeof fd);
	CHECK(sendmsg(over, m, 0) == 1);
}

static int life_recv_fd(int over)
{
	struct life_fd_msg x;
	struct msghdr *m = life_fd_msg_init(&x);
	CHECK(recvmsg(over, m, 0) == 1);
	struct cmsghdr *c = CMSG_FIRSTHDR(m);
	CHECK(c != NULL && c->cmsg_type == SCM_RIGHTS);
	int fd;
	memcpy(&fd, CMSG_DATA(c), sizeof fd);
	return fd;
}

static int life_scmrights(void)
{
	int sp[2];
	CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sp) == 0);
	pid_t pid = fork(); /* before the connection: the child inherits nothing of it */
	CHECK(pid >= 0);
	if (pid == 0) {
		int fd = life_recv_fd(sp[1]);
		struct sockaddr_storage ss;
		socklen_t len = sizeof ss;
		CHECK(getpeername(fd, (struct sockaddr *)&ss, &len) == 0);
		life_write_all(fd, 100);
		char c;
		CHECK(read(fd, &c, 1) == 1); /* the server's byte: our 100 were acknowledged */
		close(fd);
		_exit(0);
	}
	int l, fd, a;
	life_connected(&l, &fd, &a);
	life_send_fd(sp[0], fd);
	life_read_all(a, 100);
	CHECK(write(a, "k", 1) == 1);
	CHECK(waitpid(pid, NULL, 0) == pid);
	close(fd);
	close(a);
	printf("child=%d\n", pid);
	return 0;
}

/* handoff: node's cluster master: the accepted connection is handed to a
 * worker over a Unix socket (SCM_RIGHTS), which names it (getsockname) and
 * tells the master, who closes its copy at once; the worker reads 1000 bytes,
 * writes 2000 and closes.  The client is never seen (inline system calls).
 * silent: vsftpd's way, the worker never names it; silent-early: and the
 * master closes its copy as soon as it is sent, before the worker has it. */
static int life_handoff(const char *how)
{
	bool names = how == NULL, waits = how == NULL || strcmp(how, "silent-early") != 0;
	int sp[2];
	CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sp) == 0);
	pid_t pid = fork(); /* before the connection: the worker inherits nothing of it */
	CHECK(pid >= 0);
	if (pid == 0) {
		int fd = life_recv_fd(sp[1]);
		struct sockaddr_storage ss;
		socklen_t len = sizeof ss;
		CHECK(!names || getsockname(fd, (struct sockaddr *)&ss, &len) == 0);
		CHECK(!waits || write(sp[1], "k", 1) == 1);
		life_read_all(fd, 1000);
		life_write_all(fd, 2000);
		life_read_all(fd, 1); /* its ACK came with it: all 2000 acknowledged */
		close(fd);
		_exit(0);
	}
	unsigned port;
	int l = tcp_listener(AF_INET, &port);
	struct sockaddr_in in = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	int c = (int)inline_syscall(SYS_socket, AF_INET, SOCK_STREAM, 0);
	CHECK(c >= 0 && inline_syscall(SYS_connect, c, (long)&in, sizeof in) == 0);
	int a = accept(l, NULL, NULL);
	CHECK(a >= 0);
	life_send_fd(sp[0], a);
	char k;
	CHECK(!waits || read(sp[0], &k, 1) == 1);
	close(a);
	life_untraced_exchange(c);
	CHECK(waitpid(pid, NULL, 0) == pid);
	inline_syscall(SYS_close, c, 0, 0);
	printf("worker=%d\n", pid);
	return 0;
}

/* silent: a non-blocking connect used once writable, never asked about;
 * abandon: one closed before its SYN was answered (the queue is full) */
static int life_silent(bool abandon)
{
	unsigned port;
	int l = tcp_listener(AF_INET, &port);
	if (abandon) {
		CHECK(listen(l, 0) == 0);
		tcp_connect(AF_INET, port); /* fills a queue of backlog 0 */
	}
	int fd = life_nonblocking(AF_INET, port);
	if (!abandon) {
		struct pollfd p = {fd, POLLOUT, 0};
		CHECK(poll(&p, 1, 10000) == 1);
		CHECK(write(fd, "hello", 5) == 5);
	}
	close(fd);
	printf("%s\n", abandon ? "abandoned" : "used");
	return 0;
}

/* reset: the client aborts (SO_LINGER 0: a reset, no FIN) after 79 bytes
 * out and 153 back; the server closes once the reset is in, its
 * socket in TCP_CLOSE with no FIN received (haproxy ends every connection to
 * a backend so, and the backend's count must not lose a byte to a FIN that
 * never came) */
static int life_reset(void)
{
	int l, c, a;
	life_connected(&l, &c, &a);
	life_write_all(c, 79);
	life_read_all(a, 79);
	life_write_all(a, 153);
	life_read_all(c, 153);
	struct linger abort_now = {1, 0};
	CHECK(setsockopt(c, SOL_SOCKET, SO_LINGER, &abort_now, sizeof abort_now) == 0);
	close(c);
	struct pollfd p = {a, POLLIN, 0};
	CHECK(poll(&p, 1, 10000) == 1 && (p.revents & (POLLERR | POLLHUP)));
	close(a);
	close(l);
	printf("reset\n");
	return 0;
}

/* killed: a child makes a non-blocking connect, its listener accepts it,
 * bytes go over it, and the child dies of SIGKILL holding both ends: nothing
 * of the shim runs, so neither the client's outcome nor a close is traced. */
static int life_killed(void)
{
	pid_t child = fork();
	CHECK(child >= 0);
	if (child == 0) {
		unsigned port;
		int l = tcp_listener(AF_INET, &port);
		int fd = life_nonblocking(AF_INET, port);
		int s = accept(l, NULL, NULL);
		CHECK(s >= 0);
		CHECK(write(s, "hello", 5) == 5);
		kill(getpid(), SIGKILL);
		_exit(1);
		(void)fd;
	}
	int status;
	CHECK(waitpid(child, &status, 0) == child);
	CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
	printf("killed\n");
	return 0;
}

/* badopt: getsockopt(SO_ERROR) where it cannot work, results printed */
static int life_badopt(void)
{
	int p[2];
	CHECK(pipe(p) == 0);
	int err = 0;
	socklen_t len = sizeof err;
	int r1 = getsockopt(p[0], SOL_SOCKET, SO_ERROR, &err, &len);
	int e1 = errno;
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	len = 2;
	int r2 = getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
	int e2 = errno;
	len = sizeof err;
	int r3 = getsockopt(fd, SOL_SOCKET, SO_ERROR, (void *)8, &len);
	int e3 = errno;
	printf("pipe=%d/%d short=%d/%d/%u badptr=%d/%d\n", r1, e1, r2, r2 < 0 ? e2 : 0,
	       (unsigned)len, r3, e3);
	return 0;
}

/* One accept of a waiting client, the room for its address given as asked;
 * prints what the program saw and the client's port, for the trace to match. */
static void life_accept_case(const char *name, int l, unsigned port, int family,
			     struct sockaddr_storage *ss, socklen_t *lenp, bool use4)
{
	int c = tcp_connect(family, port);
	struct sockaddr_storage mine;
	socklen_t mlen = sizeof mine;
	CHECK(getsockname(c, (struct sockaddr *)&mine, &mlen) == 0);
	unsigned client_port = ntohs(((struct sockaddr_in *)&mine)->sin_port);
	if ((uintptr_t)ss > 4096) /* what a shim reading a short copy would take */
		memset(ss, 0xab, sizeof *ss);
	int a = use4 ? accept4(l, (struct sockaddr *)ss, lenp, SOCK_CLOEXEC)
		     : accept(l, (struct sockaddr *)ss, lenp);
	int err = a < 0 ? errno : 0;
	unsigned got_port = a >= 0 && *lenp >= 4 ? ntohs(((struct sockaddr_in *)ss)->sin_port) : 0;
	printf("%s ret=%s errno=%d got_port=%u client_port=%u\n", name, a < 0 ? "-1" : "fd", err,
	       got_port, client_port);
	if (a >= 0)
		close(a);
	close(c);
}

/* peerbuf: accept's address buffer in every shape: room read on the stack,
 * in the heap, too short, exactly enough, a bad length or address pointer */
static int life_peerbuf(bool sanitized)
{
	unsigned port, port6;
	int l = tcp_listener(AF_INET, &port), l6 = tcp_listener(AF_INET6, &port6);
	struct sockaddr_storage ss;
	socklen_t len = sizeof ss;
	life_accept_case("stack", l, port, AF_INET, &ss, &len, false);
	len = sizeof ss;
	life_accept_case("stack4", l, port, AF_INET, &ss, &len, true);
	len = sizeof ss;
	life_accept_case("stack6", l6, port6, AF_INET6, &ss, &len, false);
	len = sizeof(struct sockaddr_in);
	life_accept_case("exact", l, port, AF_INET, &ss, &len, false);
	len = 2;
	life_accept_case("short", l, port, AF_INET, &ss, &len, false);
	socklen_t *heap = malloc(sizeof *heap);
	CHECK(heap != NULL);
	*heap = sizeof ss;
	life_accept_case("heap", l, port, AF_INET, &ss, heap, false);
	*heap = 3;
	life_accept_case("heapshort", l, port, AF_INET, &ss, heap, false);
	free(heap);
	len = sizeof ss;
	life_accept_case("badaddr", l, port, AF_INET, (struct sockaddr_storage *)8, &len, false);
	/* ASan's own accept interceptor reads the length first, and faults */
	if (!sanitized)
		life_accept_case("badlen", l, port, AF_INET, &ss, (socklen_t *)8, false);
	return 0;
}

/* syscall: one connection made, used and ended only through libc's
 * syscall() (as libuv closes), then calls the kernel refuses, whose results
 * and errnos the program prints for the test to hold against a bare run */
static int life_syscall(void)
{
	unsigned port;
	int l = tcp_listener(AF_INET, &port);
	struct sockaddr_in in = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	int fd = (int)syscall(SYS_socket, AF_INET, SOCK_STREAM, 0);
	CHECK(fd >= 0);
	CHECK(syscall(SYS_connect, fd, &in, sizeof in) == 0);
	int a = (int)syscall(SYS_accept4, l, NULL, NULL, 0);
	CHECK(a >= 0);
	struct sockaddr_storage ss;
	socklen_t len = sizeof ss;
	CHECK(syscall(SYS_getpeername, a, &ss, &len) == 0);
	int copy = (int)syscall(SYS_fcntl, a, F_DUPFD, 100);
	CHECK(copy >= 100);
	CHECK(syscall(SYS_close, a) == 0); /* the copy still carries the connection */
	life_write_all(fd, 1000);
	life_read_all(copy, 1000);
	life_write_all(copy, 500);
	life_read_all(fd, 500);
	CHECK(syscall(SYS_shutdown, fd, SHUT_WR) == 0);
	char c;
	CHECK(read(copy, &c, 1) == 0);
	CHECK(syscall(SYS_dup2, l, copy) == copy); /* ends the server's end */
	CHECK(syscall(SYS_close, fd) == 0);
	int err = 0;
	len = sizeof err;
	printf("copy=%d fd=%d\n", copy, fd);
	/* refused calls: the raw answers, bare and traced alike */
	long r[8];
	int e[8];
#define LIFE_RAW(i, ...) (errno = 0, r[i] = syscall(__VA_ARGS__), e[i] = errno)
	LIFE_RAW(0, SYS_close, -1);
	LIFE_RAW(1, SYS_connect, -1, (void *)8, 16);
	LIFE_RAW(2, SYS_dup2, 999, 998);
	LIFE_RAW(3, SYS_getsockopt, -1, SOL_SOCKET, SO_ERROR, &err, &len);
	CHECK(fcntl(l, F_SETFL, O_NONBLOCK) == 0); /* EAGAIN, never a wait */
	LIFE_RAW(4, SYS_accept4, l, (void *)8, (void *)8, 0);
	LIFE_RAW(5, SYS_getsockname, 0x7fffff00, &ss, &len);
	LIFE_RAW(6, SYS_fcntl, -1, F_DUPFD, 0);
	LIFE_RAW(7, SYS_close_range, 5, 3, 0);
	for (int i = 0; i < 8; i++)
		printf("raw%d=%ld errno=%d\n", i, r[i], e[i]);
	return 0;
}

/* unacked: a sender that closes right after a large write its reader has
 * not read yet: most of it is queued or in flight at the close.  The reader
 * (a forked child) starts reading only after the close, and prints what it
 * got; the sender prints what it handed to TCP. */
static int life_unacked(void)
{
	unsigned port;
	int l = tcp_listener(AF_INET, &port);
	int go[2];
	CHECK(pipe(go) == 0);
	pid_t pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		int a = accept(l, NULL, NULL);
		CHECK(a >= 0);
		char c;
		CHECK(read(go[0], &c, 1) == 1); /* the sender has closed */
		static char buf[65536];
		long got = 0, n;
		while ((n = read(a, buf, sizeof buf)) > 0)
			got += n;
		printf("received=%ld\n", got);
		close(a);
		_exit(0);
	}
	int fd = tcp_connect(AF_INET, port);
	int big = 4 << 20;
	CHECK(setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &big, sizeof big) == 0);
	CHECK(fcntl(fd, F_SETFL, O_NONBLOCK) == 0);
	static char buf[65536];
	long wrote = 0, n;
	while (wrote < (8 << 20) && (n = write(fd, buf, sizeof buf)) > 0)
		wrote += n;
	CHECK(wrote > 0);
	close(fd);
	CHECK(write(go[1], "x", 1) == 1);
	CHECK(waitpid(pid, NULL, 0) == pid);
	printf("wrote=%ld\n", wrote);
	return 0;
}

/* refusedblock: a blocking connect to a port nobody listens on */
static int life_refused_blocking(void)
{
	unsigned port;
	int l = tcp_listener(AF_INET, &port);
	close(l);
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in in = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	CHECK(connect(fd, (struct sockaddr *)&in, sizeof in) < 0 && errno == ECONNREFUSED);
	printf("refused fd=%d\n", fd);
	close(fd);
	return 0;
}

/* vforkexit: a connection open, a vfork child whose exec fails and that
 * leaves with exit() (its parent's exit machinery, in its parent's memory),
 * then the parent waits and returns from main with the connection open */
static int life_vfork_exit(void)
{
	int l, fd, a;
	life_connected(&l, &fd, &a);
	pid_t pid = vfork();
	if (pid == 0) {
		execl("/nonexistent/program", "x", (char *)NULL);
		exit(3);
	}
	CHECK(pid > 0 && waitpid(pid, NULL, 0) == pid);
	printf("fd=%d accepted=%d\n", fd, a);
	return 0;
}

/* badrange: close_range calls the kernel refuses (first above last, an
 * unknown flag) on a range holding a connection, then its real closes */
static int life_bad_range(void)
{
	int l, fd, a;
	life_connected(&l, &fd, &a);
	unsigned lo = (unsigned)(fd < a ? fd : a), hi = (unsigned)(fd < a ? a : fd);
	CHECK(close_range(hi, lo, 0) < 0 && errno == EINVAL);
	CHECK(close_range(lo, hi, 0x40000000) < 0 && errno == EINVAL);
	close(fd);
	close(a);
	printf("fd=%d accepted=%d\n", fd, a);
	return 0;
}

/* fullfork: 2000 calls fill a small trace, then a forked child makes 10 of
 * its own (into a file of its own with %p) */
static int life_full_fork(void)
{
	unsigned port;
	int l = tcp_listener(AF_INET, &port);
	struct sockaddr_storage ss;
	for (int i = 0; i < 2000; i++) {
		socklen_t len = sizeof ss;
		CHECK(getsockname(l, (struct sockaddr *)&ss, &len) == 0);
	}
	pid_t pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		for (int i = 0; i < 10; i++) {
			socklen_t len = sizeof ss;
			CHECK(getsockname(l, (struct sockaddr *)&ss, &len) == 0);
		}
		_exit(0);
	}
	CHECK(waitpid(pid, NULL, 0) == pid);
	printf("child=%d\n", pid);
	return 0;
}

/* forkdup: the inetd and forking-server pattern: the child moves the
 * accepted socket to fd 0 (dup2, close) and serves there; the parent closes
 * its copy at once.  The client makes inline system calls: never seen. */
static int life_fork_dup(void)
{
	unsigned port;
	int l = tcp_listener(AF_INET, &port);
	struct sockaddr_in in = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	int c = (int)inline_syscall(SYS_socket, AF_INET, SOCK_STREAM, 0);
	CHECK(c >= 0 && inline_syscall(SYS_connect, c, (long)&in, sizeof in) == 0);
	int a = accept(l, NULL, NULL);
	CHECK(a >= 0);
	pid_t pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		CHECK(dup2(a, 0) == 0);
		close(a);
		life_read_all(0, 1000);
		life_write_all(0, 2000);
		life_read_all(0, 1); /* its ACK came with it: all 2000 acknowledged */
		close(0);
		_exit(0);
	}
	close(a);
	life_untraced_exchange(c);
	CHECK(waitpid(pid, NULL, 0) == pid);
	inline_syscall(SYS_close, c, 0, 0);
	printf("child=%d\n", pid);
	return 0;
}

/* vforkclose: a vfork child closes the parent's client socket and dup2s
 * over the accepted one before its (failed) exec, as a spawner closing fds
 * does; the parent then sends 100 bytes each way and closes both itself */
static int life_vfork_close(void)
{
	int l, fd, a;
	life_connected(&l, &fd, &a);
	pid_t pid = vfork();
	if (pid == 0) {
		close(fd);
		dup2(l, a);
		execl("/nonexistent/program", "x", (char *)NULL);
		_exit(3);
	}
	CHECK(pid > 0 && waitpid(pid, NULL, 0) == pid);
	life_write_all(fd, 100);
	life_read_all(a, 100);
	life_write_all(a, 100);
	life_read_all(fd, 100);
	close(fd);
	close(a);
	printf("fd=%d accepted=%d\n", fd, a);
	return 0;
}

/* clockstep: the wall clock steps back an hour, then forward two, while two
 * connections are open (libfaketime, told through FAKETIME_TIMESTAMP_FILE) */
static void life_step_clock(const char *offset)
{
	const char *path = getenv("FAKETIME_TIMESTAMP_FILE");
	CHECK(path != NULL);
	FILE *f = fopen(path, "w");
	CHECK(f != NULL);
	fprintf(f, "%s\n", offset);
	CHECK(fclose(f) == 0);
}

static int life_clock_step(void)
{
	int l, fd, a;
	life_connected(&l, &fd, &a);
	life_step_clock("-3600");
	life_write_all(fd, 100);
	life_read_all(a, 100);
	life_step_clock("+7200");
	life_write_all(a, 100);
	life_read_all(fd, 100);
	close(fd);
	life_step_clock("-3600");
	close(a);
	printf("fd=%d accepted=%d\n", fd, a);
	return 0;
}

/* manydup: 1,025 connections, each client end duplicated (dup) while all
 * are open: one more shared socket than the shim's table holds */
static int life_many_dup(void)
{
	enum { N = 1025 };
	static int client[N], copy[N], accepted[N];
	unsigned port;
	int l = tcp_listener(AF_INET, &port);
	for (int i = 0; i < N; i++) {
		client[i] = tcp_connect(AF_INET, port);
		accepted[i] = accept(l, NULL, NULL);
		CHECK(accepted[i] >= 0);
		copy[i] = dup(client[i]);
		CHECK(copy[i] >= 0);
	}
	for (int i = 0; i < N; i++) {
		close(client[i]);
		close(copy[i]);
		close(accepted[i]);
	}
	printf("connections=%d\n", N);
	return 0;
}

/* connectjump: a blocking connect to a listener whose queue is full (its
 * SYNs go unanswered) left by a 200 ms timer's handler with siglongjmp, the
 * classic timeout; then the socket is closed */
static sigjmp_buf life_jump_env;

static void life_on_alarm(int sig)
{
	(void)sig;
	siglongjmp(life_jump_env, 1);
}

static int life_connect_jump(void)
{
	unsigned port;
	int l = tcp_listener(AF_INET, &port);
	CHECK(listen(l, 0) == 0);
	tcp_connect(AF_INET, port); /* fills the queue of backlog 0; never accepted */
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	CHECK(fd >= 0);
	struct sigaction sa = {.sa_handler = life_on_alarm};
	CHECK(sigaction(SIGALRM, &sa, NULL) == 0);
	struct sockaddr_in in = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	if (sigsetjmp(life_jump_env, 1) == 0) {
		struct itimerval it = {{0, 0}, {0, 200000}};
		CHECK(setitimer(ITIMER_REAL, &it, NULL) == 0);
		int rc = connect(fd, (struct sockaddr *)&in, sizeof in);
		printf("connect returned %d\n", rc);
		return 1;
	}
	close(fd);
	printf("timed out fd=%d\n", fd);
	return 0;
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	/* LIFE_UNIX=1: the process holds a Unix socket, as most daemons do (a
	 * syslog connection, a socketpair to a helper): the tracer then looks
	 * at the closes of fds it never saw opened */
	int unix_pair[2];
	if (getenv("LIFE_UNIX") != NULL)
		CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, unix_pair) == 0);
	const char *s = argc > 1 ? argv[1] : "";
	if (!strcmp(s, "refused")) return life_refused();
	if (!strcmp(s, "syscall")) return life_syscall();
	if (!strcmp(s, "unacked")) return life_unacked();
	if (!strcmp(s, "vforkexit")) return life_vfork_exit();
	if (!strcmp(s, "badrange")) return life_bad_range();
	if (!strcmp(s, "fullfork")) return life_full_fork();
	if (!strcmp(s, "forkdup")) return life_fork_dup();
	if (!strcmp(s, "vforkclose")) return life_vfork_close();
	if (!strcmp(s, "clockstep")) return life_clock_step();
	if (!strcmp(s, "manydup")) return life_many_dup();
	if (!strcmp(s, "connectjump")) return life_connect_jump();
	if (!strcmp(s, "refusedblock")) return life_refused_blocking();
	if (!strcmp(s, "bytes")) return life_bytes();
	if (!strcmp(s, "unread")) return life_unread();
	if (!strcmp(s, "again")) return life_again();
	if (!strcmp(s, "reuse")) return life_reuse(argc > 2 ? atoi(argv[2]) : 100);
	if (!strcmp(s, "badopt")) return life_badopt();
	if (!strcmp(s, "timeout")) return life_timeout();
	if (!strcmp(s, "dup")) return life_dup();
	if (!strcmp(s, "silent")) return life_silent(false);
	if (!strcmp(s, "abandon")) return life_silent(true);
	if (!strcmp(s, "killed")) return life_killed();
	if (!strcmp(s, "reset")) return life_reset();
	if (!strcmp(s, "handoff")) return life_handoff(argc > 2 ? argv[2] : NULL);
	if (!strcmp(s, "peerbuf")) return life_peerbuf(argc > 2 && !strcmp(argv[2], "asan"));
	if (!strcmp(s, "fdupfd")) return life_fdupfd();
	if (!strcmp(s, "scmrights")) return life_scmrights();
	if (!strcmp(s, "prefork") && argc > 2 && !strcmp(argv[2], "parent-killed"))
		return life_in_a_child_killed(life_prefork);
	if (!strcmp(s, "reexec")) return life_reexec(argv[0]);
	if (!strcmp(s, "inetd"))
		return life_inetd(argv[0], argc > 2 && !strcmp(argv[2], "late"),
				  argc > 2 && !strcmp(argv[2], "exec"));
	if (!strcmp(s, "inetd-child")) return life_inetd_child(argv[0], argc > 2);
	if (!strcmp(s, "selfexec")) return life_selfexec(argv[0]);
	if (!strcmp(s, "reexec-child") && argc > 2) return life_reexec_child(atoi(argv[2]));
	if (!strcmp(s, "prefork") && argc > 2 && !strcmp(argv[2], "child-exits"))
		return life_prefork_with(true, false, false);
	if (!strcmp(s, "prefork") && argc > 2 && !strcmp(argv[2], "child-names"))
		return life_child_names = true, life_prefork(true, false);
	if (!strcmp(s, "prefork") && argc > 2)
		return life_prefork(!strcmp(argv[2], "parent-first"), false);
	fprintf(stderr, "usage: life refused|bytes|again|reuse N|badopt\n");
	return 2;
}
