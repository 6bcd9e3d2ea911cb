/* The preload front-end's interfaces (the core's are in st_core.h):
 * nothing here is exported. */
#ifndef ST_INTERNAL_H
#define ST_INTERNAL_H

#include <elf.h>

#include "core/st_core.h"
#include "core/st_python_layout.h"

/* st_real.c: the wrapped functions as the next object (libc) defines them.
 * Safe to call at any time: before binding completes they fall back to the
 * raw system call, so dlsym() calling back into a wrapper cannot recurse. */
int st_real_connect(int fd, const struct sockaddr *addr, socklen_t len);
int st_real_accept(int fd, struct sockaddr *addr, socklen_t *len);
int st_real_accept4(int fd, struct sockaddr *addr, socklen_t *len, int flags);
int st_real_getsockname(int fd, struct sockaddr *addr, socklen_t *len);
int st_real_getpeername(int fd, struct sockaddr *addr, socklen_t *len);
int st_real_close(int fd);
int st_real_dup(int fd);
int st_real_fcntl(int fd, int cmd, unsigned long arg);
int st_real_fcntl64(int fd, int cmd, unsigned long arg);
int st_real_dup2(int oldfd, int newfd);
int st_real_dup3(int oldfd, int newfd, int flags);
int st_real_close_range(unsigned first, unsigned last, int flags);
void st_real_closefrom(int lowfd);
int st_real_fclose(FILE *stream);
int st_real_socket(int domain, int type, int protocol);
int st_real_socketpair(int domain, int type, int protocol, int sv[2]);
int st_real_bind(int fd, const struct sockaddr *addr, socklen_t len);
int st_real_listen(int fd, int backlog);
int st_real_dlclose(void *handle);
int st_real_pipe2(int fds[2], int flags);
int st_real_pipe(int fds[2]);
int st_real_getsockopt(int fd, int level, int name, void *val, socklen_t *len);
ssize_t st_real_recvmsg(int fd, struct msghdr *msg, int flags);
int st_real_shutdown(int fd, int how);
int st_real_prctl(int option, unsigned long a2, unsigned long a3, unsigned long a4,
		  unsigned long a5);
struct addrinfo;
struct hostent;
int st_real_getaddrinfo(const char *node, const char *service, const struct addrinfo *hints,
			struct addrinfo **res);
struct hostent *st_real_gethostbyname(const char *name);
struct hostent *st_real_gethostbyname2(const char *name, int af);
int st_real_gethostbyname_r(const char *name, struct hostent *ret, char *buf, size_t buflen,
			    struct hostent **result, int *h_errnop);
int st_real_gethostbyname2_r(const char *name, int af, struct hostent *ret, char *buf,
			     size_t buflen, struct hostent **result, int *h_errnop);
int st_real_clone(int (*fn)(void *), void *stack, int flags, void *arg, pid_t *ptid,
		  void *tls, pid_t *ctid);

/* st_init.c: process-wide state. */
void st_jump_bind_all(void); /* st_wrap_jump.c: the real longjmp family */
void st_connect_jumped(uintptr_t target_sp); /* st_wrap_sock.c: a jump left a connect */
bool st_ready(void); /* initialises on first use; true when recording */
/* After the program sandboxed itself with seccomp (st_wrap_seccomp.c): no
 * system call of ours, so no recording and no bookkeeping, in this process
 * and the children it forks. */
extern bool st_sandboxed;
void st_sandbox_entered(void);
static inline bool st_following(void)
{
	return ST_LIKELY(!__atomic_load_n(&st_sandboxed, __ATOMIC_RELAXED));
}

void st_child_started(void); /* in a new process that copied this one */
void st_child_started_in(bool new_pid_namespace); /* the same, CLONE_NEWPID or not */
long st_sys_clone(long number, long a1, long a2, long a3, long a4, long a5, long a6);
void st_parent_forked(void); /* in the parent, after fork or clone made one */
void st_exit_work_check(void); /* after a vfork child's exit(): re-arms ours */
void st_exit_now(void); /* _exit(): the exit-time work the destructor would do */

/* st_inherited.c: TCP connections the process was started with, held. */
void st_inherited_scan(void);

/* st_golang.c: says once when the program is Go (its sockets bypass libc). */
void st_golang_check(const char *exe);

/* st_warn.c: messages on the original stderr, one trace's worth once. */
void st_warn_init(const char *file_setting);
void st_warn_mark(const char *file_setting, bool from_constructor);
/* literal and escaped parts alternate, literal first; NULL-terminated */
void st_say(const char *const *parts);
void st_warn(const char *path, const char *reason);

/* st_settings.c: SOCKTRACE_* values, each bad one named in a message. */
uint64_t st_setting_size(const char *value);
unsigned st_setting_depth(const char *value);
bool st_setting_flag(const char *name, const char *value, bool dflt);
bool st_setting_secure_mode(void);
bool st_setting_secure_file(char *out, size_t size);

/* st_stack.c: return addresses with libunwind, when asked for. */
extern unsigned st_stack_depth; /* 0 = off */
extern int (*st_unw_backtrace)(void **, int);
extern uintptr_t st_self_lo, st_self_hi; /* this object's addresses */
extern uintptr_t st_unwinder_lo, st_unwinder_hi; /* libunwind's, once loaded */
bool st_stack_init(unsigned depth, const char **why);
bool st_stack_safe(void);

/* st_modules.c: this process's JIT addresses (core/st_jitmap.c) */
extern struct st_jitset st_jit_self;

/* st_dynsym.c: an object's dynamic symbols, from its loaded tables. */
struct st_dyn_tables {
	uintptr_t base;
	const Elf64_Sym *symtab;
	const char *strtab;
	const uint32_t *gnu_hash;
};

struct dl_phdr_info;
bool st_dyn_tables(const struct dl_phdr_info *info, struct st_dyn_tables *d);
const Elf64_Sym *st_dyn_lookup(const struct st_dyn_tables *d, const char *name);

/* st_java.c: interpreted Java methods named in the stacks of a HotSpot JVM. */
extern bool st_java_on;
void st_java_init(void *libunwind);
void st_java_want(void); /* stacks on, SOCKTRACE_JAVA not 0 */
void st_java_consider(const struct dl_phdr_info *info); /* an object the scan found */
void st_java_frames(struct st_stack *s);

/* st_python_find.c: CPython (3.11 to 3.15) in this process, when it runs us. */
extern bool st_python_on;
extern struct st_py_where {
	uint64_t runtime;          /* &_PyRuntime */
	uintptr_t eval_lo, eval_hi; /* _PyEval_EvalFrameDefault */
	uint32_t version;          /* PY_VERSION_HEX */
	struct st_py_layout layout; /* its version's */
	/* PyGILState_GetThisThreadState: where the layout does not say where
	 * the thread-state key is (3.13+), the function that reads it */
	uint64_t (*this_tstate)(void);
} st_py_where;
void st_python_init(void);
struct dl_phdr_info;
void st_python_consider(const struct dl_phdr_info *info); /* an object the scan found */
/* st_python.c: the calling thread's Python frames put into its stack. */
void st_python_frames(struct st_stack *s);
/* st_loader_lock.c: the loader's object-list lock, found at start-up. */
void st_loader_lock_init(void);
bool st_loader_lock_busy_here(uint32_t tid);
bool st_loader_lock_known(void);

/*
 * Inlined into each exported wrapper, so that libunwind starts one frame from
 * the program: every frame of our own it steps through costs about 10 ns.
 */
static inline __attribute__((always_inline)) void st_stack_take(struct st_stack *s)
{
	s->n = 0;
	s->skipped = false;
	if (ST_LIKELY(st_stack_depth == 0))
		return;
	if (!st_stack_safe()) {
		s->skipped = true;
		return;
	}
	void *raw[ST_FRAMES_MAX + ST_OWN_FRAMES_MAX];
	st_record_section_enter();
	int n = st_unw_backtrace(raw, (int)st_stack_depth + ST_OWN_FRAMES_MAX);
	st_record_section_leave();
	int first = 0;
	while (first < n && (uintptr_t)raw[first] >= st_self_lo && (uintptr_t)raw[first] < st_self_hi)
		first++;
	for (int i = first; i < n && s->n < st_stack_depth; i++)
		s->ip[s->n++] = (uint64_t)(uintptr_t)raw[i];
	if (ST_UNLIKELY(st_python_on))
		st_python_frames(s);
	if (ST_UNLIKELY(st_java_on))
		st_java_frames(s);
}

/* st_modules.c: objects mapped, recorded so stacks can be named offline. */
struct dl_phdr_info;
/* [lo, hi): the runtime addresses of an object's loaded segments */
void st_object_range(const struct dl_phdr_info *info, uintptr_t *lo, uintptr_t *hi);
void st_modules_init(const char *exe, size_t exe_len);
void st_modules_check(const uint64_t *ips, unsigned n, uint64_t event_ts);
void st_modules_changed(void);
void st_modules_replay(void);
void st_modules_jumped(void); /* a jump left a scan: let the next one run */

/* The named wrappers' bodies on the raw system call, for syscall()
 * (st_wrap_syscall.c): each returns as glibc's syscall() would. */
int st_sys_connect(int fd, const struct sockaddr *addr, socklen_t len);
int st_sys_accept4(bool four, int fd, struct sockaddr *addr, socklen_t *len, int flags,
		   const void *return_slot);
int st_sys_name(bool peer, int fd, struct sockaddr *addr, socklen_t *len);
int st_sys_getsockopt(int fd, int level, int name, void *val, socklen_t *len);
int st_sys_shutdown(int fd, int how);
long st_sys_fd(long number, long a1, long a2, long a3);
/* st_wrap_seccomp.c: a filter the program installs (see there). */
bool st_installs_sandbox(long number, long a1, long a2);
long st_sys_sandbox(long number, long a1, long a2, long a3, long a4, long a5);
bool st_pipe_check(long number, long a1, long a2, const void *ret_addr, long *raw_ret);

#endif
