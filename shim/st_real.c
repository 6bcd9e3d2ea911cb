/*
 * Binding of the real functions with dlsym(RTLD_NEXT).  All symbols are bound
 * at once, by whichever thread gets there first.  dlsym() may allocate, and an
 * interposed allocator may call a wrapper again: while binding is under way
 * (in this thread or another) callers fall back to the raw system call rather
 * than wait, so nothing recurses and nothing deadlocks.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <netdb.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "st_internal.h"

static struct {
	int (*connect)(int, const struct sockaddr *, socklen_t);
	int (*accept)(int, struct sockaddr *, socklen_t *);
	int (*accept4)(int, struct sockaddr *, socklen_t *, int);
	int (*getsockname)(int, struct sockaddr *, socklen_t *);
	int (*getpeername)(int, struct sockaddr *, socklen_t *);
	int (*close)(int);
	int (*dup)(int);
	int (*dup2)(int, int);
	int (*dup3)(int, int, int);
	int (*close_range)(unsigned, unsigned, int);
	void (*closefrom)(int);
	int (*fclose)(FILE *);
	int (*socket)(int, int, int);
	int (*socketpair)(int, int, int, int[2]);
	int (*bind)(int, const struct sockaddr *, socklen_t);
	int (*listen)(int, int);
	int (*dlclose)(void *);
	int (*pipe2)(int[2], int);
	int (*pipe)(int[2]);
	int (*getsockopt)(int, int, int, void *, socklen_t *);
	int (*shutdown)(int, int);
	int (*prctl)(int, ...);
	int (*getaddrinfo)(const char *, const char *, const struct addrinfo *, struct addrinfo **);
	struct hostent *(*gethostbyname)(const char *);
	struct hostent *(*gethostbyname2)(const char *, int);
	int (*gethostbyname_r)(const char *, struct hostent *, char *, size_t, struct hostent **,
			       int *);
	int (*gethostbyname2_r)(const char *, int, struct hostent *, char *, size_t,
				struct hostent **, int *);
	int (*clone)(int (*)(void *), void *, int, void *, ...);
	int (*fcntl)(int, int, ...);
	int (*fcntl64)(int, int, ...);
	ssize_t (*recvmsg)(int, struct msghdr *, int);
} st_fn;

enum { ST_UNBOUND, ST_BINDING, ST_BOUND };
static int st_bind_state;

#define ST_BIND(name) (*(void **)&st_fn.name = dlsym(RTLD_NEXT, #name))

/* DO NOT record or allocate here: this can run inside dlsym's own callers. */
static bool st_bind(void)
{
	int state = __atomic_load_n(&st_bind_state, __ATOMIC_ACQUIRE);
	if (ST_LIKELY(state == ST_BOUND))
		return true;
	int expected = ST_UNBOUND;
	if (!__atomic_compare_exchange_n(&st_bind_state, &expected, ST_BINDING, false,
					 __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
		return expected == ST_BOUND;
	ST_BIND(connect);
	ST_BIND(accept);
	ST_BIND(accept4);
	ST_BIND(getsockname);
	ST_BIND(getpeername);
	ST_BIND(close);
	ST_BIND(dup);
	ST_BIND(dup2);
	ST_BIND(dup3);
	ST_BIND(close_range);
	ST_BIND(closefrom);
	ST_BIND(fclose);
	ST_BIND(socket);
	ST_BIND(socketpair);
	ST_BIND(bind);
	ST_BIND(listen);
	ST_BIND(dlclose);
	ST_BIND(pipe2);
	ST_BIND(pipe);
	ST_BIND(getsockopt);
	ST_BIND(prctl);
	ST_BIND(shutdown);
	ST_BIND(getaddrinfo);
	ST_BIND(gethostbyname);
	ST_BIND(gethostbyname2);
	ST_BIND(gethostbyname_r);
	ST_BIND(gethostbyname2_r);
	ST_BIND(clone);
	ST_BIND(fcntl);
	ST_BIND(fcntl64); /* glibc 2.28 and later: what -D_FILE_OFFSET_BITS=64 calls */
	ST_BIND(recvmsg);
	__atomic_store_n(&st_bind_state, ST_BOUND, __ATOMIC_RELEASE);
	return true;
}

/* Calls the bound function, or the system call while binding is not done. */
#define ST_CALL(name, sysno, ...) \
	((st_bind() && st_fn.name) ? st_fn.name(__VA_ARGS__) \
				   : (int)ST_SYS(sysno, __VA_ARGS__))

int st_real_connect(int fd, const struct sockaddr *addr, socklen_t len)
{
	return ST_CALL(connect, SYS_connect, fd, addr, len);
}

int st_real_accept(int fd, struct sockaddr *addr, socklen_t *len)
{
	return ST_CALL(accept, SYS_accept, fd, addr, len);
}

int st_real_accept4(int fd, struct sockaddr *addr, socklen_t *len, int flags)
{
	return ST_CALL(accept4, SYS_accept4, fd, addr, len, flags);
}

int st_real_getsockname(int fd, struct sockaddr *addr, socklen_t *len)
{
	return ST_CALL(getsockname, SYS_getsockname, fd, addr, len);
}

int st_real_getpeername(int fd, struct sockaddr *addr, socklen_t *len)
{
	return ST_CALL(getpeername, SYS_getpeername, fd, addr, len);
}

int st_real_close(int fd)
{
	return ST_CALL(close, SYS_close, fd);
}

int st_real_dup(int fd)
{
	return ST_CALL(dup, SYS_dup, fd);
}

int st_real_dup2(int oldfd, int newfd)
{
	return ST_CALL(dup2, SYS_dup2, oldfd, newfd);
}

int st_real_dup3(int oldfd, int newfd, int flags)
{
	return ST_CALL(dup3, SYS_dup3, oldfd, newfd, flags);
}

int st_real_fcntl(int fd, int cmd, unsigned long arg)
{
	return ST_CALL(fcntl, SYS_fcntl, fd, cmd, arg);
}

int st_real_fcntl64(int fd, int cmd, unsigned long arg)
{
	if (st_bind() && st_fn.fcntl64)
		return st_fn.fcntl64(fd, cmd, arg);
	return st_real_fcntl(fd, cmd, arg);
}

int st_real_close_range(unsigned first, unsigned last, int flags)
{
	return ST_CALL(close_range, SYS_close_range, first, last, flags);
}

void st_real_closefrom(int lowfd)
{
	if (st_bind() && st_fn.closefrom) {
		st_fn.closefrom(lowfd);
		return;
	}
	int saved = errno;
	ST_SYS(SYS_close_range, (unsigned)lowfd, ~0u, 0);
	errno = saved;
}

int st_real_fclose(FILE *stream)
{
	if (st_bind() && st_fn.fclose)
		return st_fn.fclose(stream);
	/* Only reachable from inside dlsym(): no stdio of ours runs there. */
	errno = EAGAIN;
	return EOF;
}

int st_real_socket(int domain, int type, int protocol)
{
	return ST_CALL(socket, SYS_socket, domain, type, protocol);
}

int st_real_socketpair(int domain, int type, int protocol, int sv[2])
{
	return ST_CALL(socketpair, SYS_socketpair, domain, type, protocol, sv);
}

int st_real_bind(int fd, const struct sockaddr *addr, socklen_t len)
{
	return ST_CALL(bind, SYS_bind, fd, addr, len);
}

int st_real_listen(int fd, int backlog)
{
	return ST_CALL(listen, SYS_listen, fd, backlog);
}

int st_real_dlclose(void *handle)
{
	/* dlsym() never calls dlclose, so binding cannot be in progress here. */
	if (st_bind() && st_fn.dlclose)
		return st_fn.dlclose(handle);
	return -1;
}

int st_real_pipe2(int fds[2], int flags)
{
	return ST_CALL(pipe2, SYS_pipe2, fds, flags);
}

int st_real_pipe(int fds[2])
{
	if (st_bind() && st_fn.pipe)
		return st_fn.pipe(fds);
	return (int)ST_SYS(SYS_pipe2, fds, 0);
}

int st_real_clone(int (*fn)(void *), void *stack, int flags, void *arg, pid_t *ptid,
		  void *tls, pid_t *ctid)
{
	/* No raw fallback: a clone system call does not call fn. */
	if (st_bind() && st_fn.clone)
		return st_fn.clone(fn, stack, flags, arg, ptid, tls, ctid);
	errno = ENOSYS;
	return -1;
}

int st_real_prctl(int option, unsigned long a2, unsigned long a3, unsigned long a4,
		  unsigned long a5)
{
	return ST_CALL(prctl, SYS_prctl, option, a2, a3, a4, a5);
}

int st_real_getsockopt(int fd, int level, int name, void *val, socklen_t *len)
{
	return ST_CALL(getsockopt, SYS_getsockopt, fd, level, name, val, len);
}

ssize_t st_real_recvmsg(int fd, struct msghdr *msg, int flags)
{
	return (st_bind() && st_fn.recvmsg) ? st_fn.recvmsg(fd, msg, flags)
					    : ST_SYS(SYS_recvmsg, fd, msg, flags);
}

int st_real_shutdown(int fd, int how)
{
	return ST_CALL(shutdown, SYS_shutdown, fd, how);
}

/* The resolvers have no system call to fall back on: while binding is under
 * way (only inside dlsym's own callers) they answer "try again". */
int st_real_getaddrinfo(const char *node, const char *service, const struct addrinfo *hints,
			struct addrinfo **res)
{
	if (st_bind() && st_fn.getaddrinfo)
		return st_fn.getaddrinfo(node, service, hints, res);
	return EAI_AGAIN;
}

struct hostent *st_real_gethostbyname(const char *name)
{
	if (st_bind() && st_fn.gethostbyname)
		return st_fn.gethostbyname(name);
	h_errno = TRY_AGAIN;
	return NULL;
}

struct hostent *st_real_gethostbyname2(const char *name, int af)
{
	if (st_bind() && st_fn.gethostbyname2)
		return st_fn.gethostbyname2(name, af);
	h_errno = TRY_AGAIN;
	return NULL;
}

int st_real_gethostbyname_r(const char *name, struct hostent *ret, char *buf, size_t buflen,
			    struct hostent **result, int *h_errnop)
{
	if (st_bind() && st_fn.gethostbyname_r)
		return st_fn.gethostbyname_r(name, ret, buf, buflen, result, h_errnop);
	*result = NULL;
	*h_errnop = TRY_AGAIN;
	return EAGAIN;
}

int st_real_gethostbyname2_r(const char *name, int af, struct hostent *ret, char *buf,
			     size_t buflen, struct hostent **result, int *h_errnop)
{
	if (st_bind() && st_fn.gethostbyname2_r)
		return st_fn.gethostbyname2_r(name, af, ret, buf, buflen, result, h_errnop);
	*result = NULL;
	*h_errnop = TRY_AGAIN;
	return EAGAIN;
}
