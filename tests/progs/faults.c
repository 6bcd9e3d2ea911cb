/*
 * The fault matrix: every wrapped call with bad fds, bad pointers and bad
 * lengths, in the combinations the kernel or libc answers without crashing.
 * Prints one line per call: its return and errno.  The test runs it bare and
 * under the shim and holds the two outputs equal: the program must never
 * notice the shim, not even when it passes garbage.
 */
#include "progs.h"

#include <fcntl.h>
#include <netdb.h>
#include <linux/close_range.h>
#include <sys/mman.h>
#include <sys/syscall.h>

#define FAULTS_FDS 8
#define FAULTS_PTRS 4
#define FAULTS_LENS 6

/* fds: -1, closed, a pipe, an unbound socket, a listener, a connected one,
 * an end of a Unix socketpair (unnamed: a 2-byte name), an O_PATH fd (no
 * socket calls on it: EBADF) */
static int faults_fds[FAULTS_FDS];
/* pointers: NULL, unmapped, a buffer, a read-only page */
static void *faults_ptrs[FAULTS_PTRS];

/* A length pointer of each kind: NULL, unmapped, and valid ones holding
 * 0, 2, a huge value and room for any address. */
static socklen_t *faults_len(int kind, socklen_t *room)
{
	static const socklen_t values[] = {0, 0, 0, 2, 0x7fffffff, 128};
	if (kind == 0)
		return NULL;
	if (kind == 1)
		return (socklen_t *)8;
	*room = values[kind];
	return room;
}

static void faults_say(const char *call, int a, int b, int c, long ret)
{
	printf("%s %d %d %d = %ld errno %d\n", call, a, b, c, ret, ret < 0 ? errno : 0);
}

static void faults_setup(void)
{
	unsigned port;
	int l = tcp_listener(AF_INET, &port);
	CHECK(fcntl(l, F_SETFL, O_NONBLOCK) == 0);
	int c = tcp_connect(AF_INET, port);
	int p[2];
	CHECK(pipe(p) == 0);
	int unbound = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	CHECK(unbound >= 0);
	faults_fds[0] = -1;
	faults_fds[1] = 900; /* never opened */
	faults_fds[2] = p[0];
	faults_fds[3] = unbound;
	faults_fds[4] = l;
	faults_fds[5] = c;
	int pair[2];
	CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, pair) == 0);
	faults_fds[6] = pair[0];
	faults_fds[7] = open("/tmp", O_PATH | O_DIRECTORY);
	CHECK(faults_fds[7] >= 0);
	static char buffer[256];
	char *ro = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECK(ro != MAP_FAILED);
	faults_ptrs[0] = NULL;
	faults_ptrs[1] = (void *)8;
	faults_ptrs[2] = buffer;
	faults_ptrs[3] = ro;
}

/* How far into buffer a call wrote: it is made twice, over two fills, so
 * that a byte written equal to one fill still shows against the other. */
static long faults_name_once(int peer, int f, int p, int l, unsigned char fill, int *extent,
			     socklen_t *after, int *err)
{
	unsigned char *buf = faults_ptrs[p];
	if (p == 2)
		memset(buf, fill, 256);
	socklen_t room;
	socklen_t *len = faults_len(l, &room);
	errno = 0;
	long r = peer ? getpeername(faults_fds[f], faults_ptrs[p], len)
		      : getsockname(faults_fds[f], faults_ptrs[p], len);
	*err = errno;
	*after = l >= 2 ? room : 0;
	for (int i = 0; p == 2 && i < 256; i++)
		if (buf[i] != fill && i + 1 > *extent)
			*extent = i + 1;
	return r;
}

/* getsockname or getpeername: its result and errno, the length it gave
 * back and how many bytes of the address it wrote (a tracer that answers
 * these calls itself must write exactly what the kernel writes). */
static void faults_name(int peer, int f, int p, int l)
{
	int extent = 0, err;
	socklen_t after;
	faults_name_once(peer, f, p, l, 0xaa, &extent, &after, &err);
	long r = faults_name_once(peer, f, p, l, 0x55, &extent, &after, &err);
	errno = err;
	printf("%s %d %d %d = %ld errno %d len %u wrote %d\n", peer ? "getpeername" : "getsockname",
	       f, p, l, r, r < 0 ? err : 0, after, extent);
}

static void faults_names(void)
{
	for (int f = 0; f < FAULTS_FDS; f++)
		for (int p = 0; p < FAULTS_PTRS; p++)
			for (int l = 0; l < FAULTS_LENS; l++) {
				socklen_t room;
				socklen_t *len = faults_len(l, &room);
				errno = 0;
				faults_name(0, f, p, l);
				faults_name(1, f, p, l);
				len = faults_len(l, &room);
				faults_say("accept", f, p, l, accept(faults_fds[f], faults_ptrs[p], len));
				len = faults_len(l, &room);
				faults_say("accept4", f, p, l,
					   accept4(faults_fds[f], faults_ptrs[p], len, SOCK_CLOEXEC));
				len = faults_len(l, &room);
				faults_say("sys_accept4", f, p, l,
					   syscall(SYS_accept4, faults_fds[f], faults_ptrs[p], len, 0));
				len = faults_len(l, &room);
				faults_say("getsockopt", f, p, l,
					   getsockopt(faults_fds[f], SOL_SOCKET, SO_ERROR, faults_ptrs[p],
						      len));
			}
}

static void faults_connects(void)
{
	/* lengths given to connect itself: 0, 2, 16, 200 (more than any sockaddr) */
	static const socklen_t lens[] = {0, 2, 16, 200};
	for (int f = 0; f < FAULTS_FDS; f++)
		for (int p = 0; p < FAULTS_PTRS; p++)
			for (int l = 0; l < 4; l++) {
				if (f == 3 && p >= 2)
					continue; /* a real address: a real connect, not a fault */
				faults_say("connect", f, p, l,
					   connect(faults_fds[f], faults_ptrs[p], lens[l]));
				faults_say("sys_connect", f, p, l,
					   syscall(SYS_connect, faults_fds[f], faults_ptrs[p], lens[l]));
			}
}

static void faults_fd_calls(void)
{
	for (int f = 0; f < 3; f++) { /* -1, closed, pipe: the others stay open */
		faults_say("shutdown", f, 0, 0, shutdown(faults_fds[f], SHUT_RDWR));
		faults_say("dup2", f, 0, 0, dup2(faults_fds[f], 901));
		faults_say("dup3", f, 0, 0, dup3(faults_fds[f], faults_fds[f], 0));
		faults_say("fcntl", f, 0, 0, fcntl(faults_fds[f], F_DUPFD, 902));
		faults_say("sys_dup2", f, 0, 0, syscall(SYS_dup2, faults_fds[f], -5));
	}
	faults_say("dup2", 5, 0, 0, dup2(faults_fds[5], -1));
	faults_say("dup3", 5, 0, 0, dup3(faults_fds[5], 903, 0x7fff));
	faults_say("close_range", 0, 0, 0, close_range(905, 904, 0));
	faults_say("close_range", 1, 0, 0, close_range(904, 905, 0x40000000));
	faults_say("sys_close_range", 0, 0, 0, syscall(SYS_close_range, 905, 904, 0));
	faults_say("close", 0, 0, 0, close(-1));
	faults_say("close", 1, 0, 0, close(900));
	faults_say("sys_close", 0, 0, 0, syscall(SYS_close, -1));
	faults_say("sys_getsockopt", 0, 0, 0,
		   syscall(SYS_getsockopt, faults_fds[5], SOL_SOCKET, SO_ERROR, (void *)8,
			   (void *)8));
	faults_say("sys_fcntl", 0, 0, 0, syscall(SYS_fcntl, -1, F_DUPFD, 0));
}

static void faults_resolvers(void)
{
	struct addrinfo *res = NULL, hints = {.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV};
	int r = getaddrinfo(NULL, NULL, NULL, &res);
	faults_say("getaddrinfo", 0, 0, 0, r);
	r = getaddrinfo("not-a-number", "80", &hints, &res);
	faults_say("getaddrinfo", 1, 0, 0, r);
	r = getaddrinfo("127.0.0.1", "no-such-service-x", &hints, &res);
	faults_say("getaddrinfo", 2, 0, 0, r);
	struct hostent he, *out = NULL;
	char tiny[4];
	int herr = 0;
	r = gethostbyname_r("localhost", &he, tiny, sizeof tiny, &out, &herr);
	faults_say("gethostbyname_r", 0, herr, out != NULL, r);
	r = gethostbyname2_r("localhost", 12345, &he, tiny, sizeof tiny, &out, &herr);
	faults_say("gethostbyname2_r", 0, herr, out != NULL, r);
	errno = 0;
	struct hostent *h = gethostbyname2("localhost", 12345);
	faults_say("gethostbyname2", 0, h_errno, 0, h != NULL);
}

int main(void)
{
	faults_setup();
	faults_names();
	faults_connects();
	faults_fd_calls();
	faults_resolvers();
	return 0;
}
