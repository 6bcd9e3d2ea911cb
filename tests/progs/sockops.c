/* sockops SCENARIO [ARGS]: socket calls the tests run with and without the
 * shim.  Each scenario prints what the program itself saw, so a test can
 * compare runs byte for byte and check the trace against the program's view. */
#include "progs.h"

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <dirent.h>
#include <spawn.h>
#include <signal.h>
#include <sys/time.h>
#include <sys/wait.h>

static void print_result(const char *what, int ret, int err)
{
	printf("%s ret=%d errno=%s\n", what, ret, ret < 0 ? strerrorname_np(err) : "-");
}

static void pair(int family, int *conn, int *acc)
{
	unsigned port;
	int l = tcp_listener(family, &port);
	*conn = tcp_connect(family, port);
	*acc = accept(l, NULL, NULL);
	CHECK(*acc >= 0);
	close(l);
}

static int names(int family)
{
	int c, a;
	pair(family, &c, &a);
	show_ends("conn", c);
	show_ends("acc", a);
	return 0;
}

static int unix_pair(const struct sockaddr_un *addr, socklen_t len)
{
	int l = socket(AF_UNIX, SOCK_STREAM, 0);
	CHECK(l >= 0 && bind(l, (const struct sockaddr *)addr, len) == 0 && listen(l, 4) == 0);
	int c = socket(AF_UNIX, SOCK_STREAM, 0);
	CHECK(c >= 0 && connect(c, (const struct sockaddr *)addr, len) == 0);
	struct sockaddr_un peer;
	socklen_t plen = sizeof peer;
	int a = accept(l, (struct sockaddr *)&peer, &plen);
	CHECK(a >= 0);
	show_ends("conn", c);
	show_ends("acc", a);
	return 0;
}

static int unix_path(const char *path)
{
	struct sockaddr_un un = {.sun_family = AF_UNIX};
	snprintf(un.sun_path, sizeof un.sun_path, "%s", path);
	unlink(path);
	int rc = unix_pair(&un, sizeof un);
	unlink(path);
	return rc;
}

static int unix_abstract(const char *name)
{
	struct sockaddr_un un = {.sun_family = AF_UNIX};
	size_t n = strlen(name);
	memcpy(un.sun_path + 1, name, n);
	return unix_pair(&un, (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + n));
}

static int unix_socketpair(void)
{
	int sv[2];
	CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
	show_ends("sp0", sv[0]);
	show_ends("sp1", sv[1]);
	return 0;
}

static int refused(void)
{
	unsigned port;
	int l = tcp_listener(AF_INET, &port);
	close(l); /* nothing listens there any more */
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in in = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	int ret = connect(fd, (struct sockaddr *)&in, sizeof in);
	print_result("connect-refused", ret, errno);
	printf("refused-port %u\n", port);
	return 0;
}

static int errors(void)
{
	int c, a;
	pair(AF_INET, &c, &a);
	struct sockaddr_storage ss;
	socklen_t len = sizeof ss;
	int p[2];
	CHECK(pipe(p) == 0);
	int ret = getsockname(p[0], (struct sockaddr *)&ss, &len);
	print_result("getsockname-pipe", ret, errno);
	ret = getsockname(p[0], (struct sockaddr *)1, (socklen_t *)1);
	print_result("getsockname-pipe-badptr", ret, errno);
	len = sizeof ss;
	ret = getsockname(c, NULL, &len);
	print_result("getsockname-null-addr", ret, errno);
	ret = getsockname(c, (struct sockaddr *)&ss, (socklen_t *)8);
	print_result("getsockname-bad-len", ret, errno);
	void *gone = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECK(gone != MAP_FAILED && munmap(gone, 4096) == 0);
	len = sizeof ss;
	ret = getpeername(c, gone, &len);
	print_result("getpeername-unmapped-addr", ret, errno);
	ret = getpeername(c, (struct sockaddr *)&ss, gone);
	print_result("getpeername-unmapped-len", ret, errno);
	ret = connect(socket(AF_INET, SOCK_STREAM, 0), gone, sizeof(struct sockaddr_in));
	print_result("connect-unmapped-addr", ret, errno);
	ret = connect(-1, (struct sockaddr *)&ss, sizeof(struct sockaddr_in));
	print_result("connect-badfd", ret, errno);
	ret = accept(c, gone, gone);
	print_result("accept-not-listening", ret, errno);
	int lone = socket(AF_INET, SOCK_STREAM, 0);
	len = sizeof ss;
	ret = getpeername(lone, (struct sockaddr *)&ss, &len);
	print_result("getpeername-unconnected", ret, errno);
	len = 4; /* truncated: the kernel copies 4 bytes and reports 16 */
	ret = getsockname(c, (struct sockaddr *)&ss, &len);
	print_result("getsockname-short-buffer", ret, errno);
	printf("short-buffer len=%u\n", len);
	errno = 4242;
	len = sizeof ss;
	ret = getsockname(c, (struct sockaddr *)&ss, &len);
	printf("errno-kept-on-success ret=%d errno=%d\n", ret, errno);
	return 0;
}

static int accept4_flags(void)
{
	unsigned port;
	int l = tcp_listener(AF_INET, &port);
	int c = tcp_connect(AF_INET, port);
	struct sockaddr_in peer;
	socklen_t plen = sizeof peer;
	int a = accept4(l, (struct sockaddr *)&peer, &plen, SOCK_CLOEXEC | SOCK_NONBLOCK);
	CHECK(a >= 0);
	printf("accept4 cloexec=%d nonblock=%d plen=%u\n", !!(fcntl(a, F_GETFD) & FD_CLOEXEC),
	       !!(fcntl(a, F_GETFL) & O_NONBLOCK), plen);
	char b[64];
	printf("accept4 peer-matches=%d\n",
	       strcmp(ep_str((struct sockaddr_storage *)&peer, plen, b, sizeof b), "") != 0);
	show_ends("acc", a);
	(void)c;
	return 0;
}

/* fd numbers reused by new sockets: through close(), dup2() and raw close. */
static int fd_reuse(void)
{
	unsigned p1, p2;
	int l1 = tcp_listener(AF_INET, &p1), l2 = tcp_listener(AF_INET6, &p2);
	int a = tcp_connect(AF_INET, p1);
	show_ends("first", a);
	close(a);
	int b = tcp_connect(AF_INET6, p2);
	CHECK(b == a);
	show_ends("second", b);
	int c = tcp_connect(AF_INET, p1);
	show_ends("third", c);
	CHECK(dup2(c, b) == b); /* b now names the IPv4 socket */
	show_ends("dup2", b);
	int d = tcp_connect(AF_INET, p1);
	show_ends("fourth", d);
	CHECK(close_range((unsigned)d, (unsigned)d, 0) == 0);
	int e = tcp_connect(AF_INET, p1);
	CHECK(e == d);
	show_ends("fifth", e);
	(void)l1;
	(void)l2;
	return 0;
}

struct thread_arg {
	int fd, calls;
};

static void *name_loop(void *p)
{
	struct thread_arg *t = p;
	for (int i = 0; i < t->calls; i++) {
		struct sockaddr_storage ss;
		socklen_t len = sizeof ss;
		CHECK(getsockname(t->fd, (struct sockaddr *)&ss, &len) == 0);
	}
	return NULL;
}

static int threads(int n, int calls)
{
	int c, a;
	pair(AF_INET, &c, &a);
	pthread_t th[64];
	struct thread_arg arg = {c, calls};
	for (int i = 0; i < n && i < 64; i++)
		CHECK(pthread_create(&th[i], NULL, name_loop, &arg) == 0);
	for (int i = 0; i < n && i < 64; i++)
		pthread_join(th[i], NULL);
	printf("threads done %d x %d\n", n, calls);
	return 0;
}

static int forked(void)
{
	int c, a;
	pair(AF_INET, &c, &a);
	show_ends("parent", c);
	fflush(stdout);
	pid_t pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		printf("child pid=%d\n", getpid());
		show_ends("child", c);
		fflush(stdout);
		_exit(0);
	}
	int status;
	CHECK(waitpid(pid, &status, 0) == pid);
	show_ends("parent-after", a);
	return 0;
}

/* Acknowledges each returned call with one byte on stdout, then waits to be killed. */
static int killme(int calls)
{
	int c, a;
	pair(AF_INET, &c, &a);
	for (int i = 0; i < calls; i++) {
		struct sockaddr_storage ss;
		socklen_t len = sizeof ss;
		CHECK(getpeername(c, (struct sockaddr *)&ss, &len) == 0);
		CHECK(write(STDOUT_FILENO, "+", 1) == 1);
	}
	for (;;)
		pause();
}

/* An inetd-style server: the accepted socket becomes fd 0 of an exec'd program. */
static int inherited(const char *self)
{
	int c, a;
	pair(AF_INET, &c, &a);
	fflush(stdout);
	pid_t pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		CHECK(dup2(a, 0) == 0);
		execl(self, self, "fd0", (char *)NULL);
		_exit(127);
	}
	int status;
	CHECK(waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0);
	show_ends("client", c);
	return 0;
}

static int fd0(void)
{
	printf("server pid=%d\n", getpid());
	show_ends("server", 0);
	return 0;
}

static int nonblocking(void)
{
	unsigned port;
	int l = tcp_listener(AF_INET, &port);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	struct sockaddr_in in = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	int ret = connect(fd, (struct sockaddr *)&in, sizeof in);
	int err = errno;
	print_result("connect-nonblock", ret, err);
	struct pollfd pfd = {.fd = fd, .events = POLLOUT};
	CHECK(poll(&pfd, 1, 5000) == 1);
	int soerr;
	socklen_t sl = sizeof soerr;
	CHECK(getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) == 0 && soerr == 0);
	show_ends("nonblock", fd);
	(void)l;
	return 0;
}

static int sig_fd;
static volatile sig_atomic_t sig_calls;

static void on_alarm(int sig)
{
	(void)sig;
	int saved = errno;
	struct sockaddr_storage ss;
	socklen_t len = sizeof ss;
	if (getsockname(sig_fd, (struct sockaddr *)&ss, &len) == 0)
		sig_calls++;
	errno = saved;
}

/* getsockname from a SIGALRM handler that interrupts a getpeername loop,
 * often in the middle of the shim's own recording. */
static int signals(int calls)
{
	int c, a;
	pair(AF_INET, &c, &a);
	sig_fd = c;
	struct sigaction sa = {.sa_handler = on_alarm, .sa_flags = SA_RESTART};
	CHECK(sigaction(SIGALRM, &sa, NULL) == 0);
	struct itimerval it = {{0, 50}, {0, 50}};
	CHECK(setitimer(ITIMER_REAL, &it, NULL) == 0);
	for (int i = 0; i < calls; i++) {
		struct sockaddr_storage ss;
		socklen_t len = sizeof ss;
		CHECK(getpeername(c, (struct sockaddr *)&ss, &len) == 0);
	}
	struct itimerval off = {{0, 0}, {0, 0}};
	CHECK(setitimer(ITIMER_REAL, &off, NULL) == 0);
	printf("signals handler=%d main=%d\n", (int)sig_calls, calls);
	return 0;
}

/* The descriptors open at main: the shim must hold none of them. */
static int fds(void)
{
	int c, a;
	pair(AF_INET, &c, &a);
	DIR *d = opendir("/proc/self/fd");
	CHECK(d != NULL);
	char list[4096] = "";
	struct dirent *e;
	int nums[256], n = 0;
	while ((e = readdir(d)) != NULL && n < 256)
		if (e->d_name[0] != '.' && atoi(e->d_name) != dirfd(d))
			nums[n++] = atoi(e->d_name);
	closedir(d);
	for (int i = 0; i < n; i++)
		for (int j = i + 1; j < n; j++)
			if (nums[j] < nums[i]) {
				int t = nums[i];
				nums[i] = nums[j];
				nums[j] = t;
			}
	for (int i = 0; i < n; i++)
		snprintf(list + strlen(list), sizeof list - strlen(list), " %d", nums[i]);
	printf("open-fds%s\n", list);
	return 0;
}

/* A connect that times out: the listener's backlog is full and never drained. */
static int backlog_full(void)
{
	int l = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in in = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof in;
	CHECK(bind(l, (struct sockaddr *)&in, sizeof in) == 0 && listen(l, 0) == 0);
	CHECK(getsockname(l, (struct sockaddr *)&in, &len) == 0);
	struct timeval tv = {0, 200000};
	for (int i = 0; i < 64; i++) {
		int fd = socket(AF_INET, SOCK_STREAM, 0);
		CHECK(setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv) == 0);
		if (connect(fd, (struct sockaddr *)&in, sizeof in) < 0) {
			print_result("connect-backlog-full", -1, errno);
			return 0;
		}
	}
	printf("backlog never filled\n");
	return 1;
}

static int udp(void)
{
	int fd = socket(AF_INET, SOCK_DGRAM, 0);
	struct sockaddr_in in = {.sin_family = AF_INET, .sin_port = htons(9),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	CHECK(connect(fd, (struct sockaddr *)&in, sizeof in) == 0);
	show_ends("udp", fd);
	return 0;
}

/* An IPv4 client of a dual-stack IPv6 listener: the server sees ::ffff:127.0.0.1. */
static int mapped(void)
{
	int l = socket(AF_INET6, SOCK_STREAM, 0), off = 0;
	struct sockaddr_in6 in6 = {.sin6_family = AF_INET6, .sin6_addr = in6addr_any};
	socklen_t len = sizeof in6;
	CHECK(setsockopt(l, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof off) == 0);
	CHECK(bind(l, (struct sockaddr *)&in6, sizeof in6) == 0 && listen(l, 4) == 0);
	CHECK(getsockname(l, (struct sockaddr *)&in6, &len) == 0);
	int c = tcp_connect(AF_INET, ntohs(in6.sin6_port));
	int a = accept(l, NULL, NULL);
	CHECK(a >= 0);
	show_ends("conn", c);
	show_ends("acc", a);
	return 0;
}

/* posix_spawn and vfork+exec of traced children. */
static int spawn(const char *self)
{
	extern char **environ;
	char *args[] = {(char *)self, "names4", NULL};
	pid_t pid;
	CHECK(posix_spawn(&pid, self, NULL, NULL, args, environ) == 0);
	int status;
	CHECK(waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0);
	printf("spawned pid=%d\n", pid);
	fflush(stdout);
	pid = vfork();
	if (pid == 0) {
		execve(self, args, environ);
		_exit(127);
	}
	CHECK(pid > 0 && waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0);
	printf("vforked pid=%d\n", pid);
	return 0;
}

static void *connect_loop(void *p)
{
	int pairs = *(int *)p;
	unsigned port;
	int l = tcp_listener(AF_INET, &port);
	for (int i = 0; i < pairs; i++) {
		int c = tcp_connect(AF_INET, port);
		int a = accept(l, NULL, NULL);
		CHECK(a >= 0);
		close(c);
		close(a);
	}
	close(l);
	return NULL;
}

static int connect_threads(int n, int pairs)
{
	pthread_t th[64];
	for (int i = 0; i < n && i < 64; i++)
		CHECK(pthread_create(&th[i], NULL, connect_loop, &pairs) == 0);
	for (int i = 0; i < n && i < 64; i++)
		pthread_join(th[i], NULL);
	printf("connect-threads done %d x %d\n", n, pairs);
	return 0;
}

/* A daemon that closes every descriptor it did not open itself at start. */
static int closeall(void)
{
	CHECK(close_range(3, ~0u, 0) == 0);
	closefrom(3);
	return names(AF_INET);
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	const char *s = argc > 1 ? argv[1] : "";
	if (!strcmp(s, "names4")) return names(AF_INET);
	if (!strcmp(s, "names6")) return names(AF_INET6);
	if (!strcmp(s, "unix") && argc > 2) return unix_path(argv[2]);
	if (!strcmp(s, "abstract") && argc > 2) return unix_abstract(argv[2]);
	if (!strcmp(s, "socketpair")) return unix_socketpair();
	if (!strcmp(s, "refused")) return refused();
	if (!strcmp(s, "errors")) return errors();
	if (!strcmp(s, "accept4")) return accept4_flags();
	if (!strcmp(s, "fdreuse")) return fd_reuse();
	if (!strcmp(s, "threads") && argc > 3) return threads(atoi(argv[2]), atoi(argv[3]));
	if (!strcmp(s, "fork")) return forked();
	if (!strcmp(s, "killme") && argc > 2) return killme(atoi(argv[2]));
	if (!strcmp(s, "inherited")) return inherited(argv[0]);
	if (!strcmp(s, "fd0")) return fd0();
	if (!strcmp(s, "nonblock")) return nonblocking();
	if (!strcmp(s, "closeall")) return closeall();
	if (!strcmp(s, "signals") && argc > 2) return signals(atoi(argv[2]));
	if (!strcmp(s, "fds")) return fds();
	if (!strcmp(s, "backlog")) return backlog_full();
	if (!strcmp(s, "udp")) return udp();
	if (!strcmp(s, "mapped")) return mapped();
	if (!strcmp(s, "spawn")) return spawn(argv[0]);
	if (!strcmp(s, "cthreads") && argc > 3) return connect_threads(atoi(argv[2]), atoi(argv[3]));
	fprintf(stderr, "sockops: unknown scenario '%s'\n", s);
	return 2;
}
