/*
 * The core of socktrace's writer: the trace file, the clock, the recorder,
 * the per-fd socket state and the connection ends.  It knows nothing of how
 * a call was observed: a front-end (the LD_PRELOAD shim, st_internal.h)
 * feeds it, answers its questions through st_kernel and st_core_hooks, and
 * the core's files include only this header, so a call up into a front-end
 * does not compile.
 */
#ifndef ST_CORE_H
#define ST_CORE_H

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/types.h>

#include "../st_format.h"

#define ST_TLS __attribute__((tls_model("initial-exec")))
#define ST_LIKELY(x) __builtin_expect(!!(x), 1)
#define ST_UNLIKELY(x) __builtin_expect(!!(x), 0)

/* An endpoint as the shim keeps it: len 0 means "none". */
struct st_addr {
	socklen_t len;
	struct sockaddr_storage ss;
};

#ifdef __x86_64__
/* The system call instruction itself: -errno on failure, errno untouched.
 * The shim exports syscall() (st_wrap_pipe.c), so it cannot call its own. */
static inline long st_raw_syscall(long n, long a1, long a2, long a3, long a4, long a5, long a6)
{
	long ret;
	register long r10 __asm__("r10") = a4;
	register long r8 __asm__("r8") = a5;
	register long r9 __asm__("r9") = a6;
	__asm__ volatile("syscall"
			 : "=a"(ret)
			 : "a"(n), "D"(a1), "S"(a2), "d"(a3), "r"(r10), "r"(r8), "r"(r9)
			 : "rcx", "r11", "memory");
	return ret;
}
#else
#error "libsocktrace: st_raw_syscall is written for x86-64 only"
#endif

/* A system call as glibc's syscall() makes it (-1 and errno on failure), for
 * the shim's own use: it must never reach the exported syscall(), which
 * records (a raw close during binding would recurse). */
static inline long st_sys_result(long raw) /* -1 and errno for -4095..-1 */
{
	if (raw < 0 && raw > -4096) {
		errno = (int)-raw;
		return -1;
	}
	return raw;
}

static inline long st_sys(long n, long a1, long a2, long a3, long a4, long a5, long a6)
{
	return st_sys_result(st_raw_syscall(n, a1, a2, a3, a4, a5, a6));
}
#define ST_SYS(...) ST_SYS_(__VA_ARGS__, 0, 0, 0, 0, 0, 0, 0)
#define ST_SYS_(n, a, b, c, d, e, f, ...) \
	st_sys((n), (long)(a), (long)(b), (long)(c), (long)(d), (long)(e), (long)(f))

/* st_record.c: the process records are written for (set by the front-end). */
extern uint32_t st_pid;

/* st_file.c: a small file of /proc, read whole; 0 when unreadable */
size_t st_read_file(const char *path, char *buf, size_t size);

/* st_loaderargs.c: in a command line "LOADER [OPTIONS] PROGRAM ..." (its
 * arguments NUL-separated, len bytes), the program the loader runs; NULL
 * when it runs none (only options) or the line is cut short. */
const char *st_loader_program_arg(const char *cmd, size_t len);
/* st_file.c: closes one of the shim's own fds with the system call itself
 * (the core binds no libc function: a tracer links it too) */
void st_file_close(int fd);

/* st_fdpages.c: a per-fd table of lazily mapped pages, for fds below
 * ST_FDPAGES_FDS; pages has ST_FDPAGES_FDS / per_page slots.  Inline with
 * constant per_page and entry_size: the wrappers' hot path divides by a
 * constant (a shift), never by a loaded value. */
#define ST_FDPAGES_FDS 65536u
void *st_fdpages_make(void **pages, unsigned page, size_t bytes);
int st_fdpages_high(void *const *pages, unsigned per_page); /* fds at or above: never kept */
/* a copy of every mapped page of src into dst (empty); false: no memory */
bool st_fdpages_copy(void **dst, void *const *src, unsigned per_page, size_t page_bytes);
void st_fdpages_free(void **pages, unsigned per_page, size_t page_bytes);

static inline void *st_fdpages_entry(void **pages, unsigned per_page, size_t entry_size, int fd,
				     bool make)
{
	if (fd < 0 || (unsigned)fd >= ST_FDPAGES_FDS)
		return NULL;
	unsigned page = (unsigned)fd / per_page;
	char *tab = (char *)__atomic_load_n(&pages[page], __ATOMIC_ACQUIRE);
	if (tab == NULL && make)
		tab = (char *)st_fdpages_make(pages, page, (size_t)per_page * entry_size);
	return tab ? tab + (size_t)((unsigned)fd % per_page) * entry_size : NULL;
}

/* st_size.c: SOCKTRACE_SIZE (NULL or empty: the default), rounded to whole
 * chunks into *size; NULL, or the problem to say after "SOCKTRACE_SIZE=s"
 * (*size is then what is used instead). */
const char *st_size_parse(const char *s, uint64_t *size);

/* st_clock.c: the trace's clock, monotonic with an offset to wall time. */
void st_clock_init(void);
uint64_t st_now_ns(void);
void st_clock_stamp(struct st_header *h);
void st_clock_adopt(const struct st_header *h);

/* st_file.c: the trace file; only its header page stays mapped. */
struct st_file {
	struct st_header *hdr;
	uint64_t capacity; /* this process writes below this file offset */
	dev_t dev;
	ino_t ino;
	char path[4096];
	/* flight-recorder mode, as the file's header says (not as asked:
	 * whoever made the file chose) */
	bool ring;
	uint64_t ring_base;
	uint32_t ring_chunks, meta_chunks;
};
extern struct st_file st_trace;
extern bool st_file_ring_wanted; /* SOCKTRACE_RING, --ring: for a file this process makes */
int st_file_attach(const char *path, uint64_t capacity, const char **why);
void st_file_detach(void);
bool st_file_unseal(void);
void st_file_register_pid(uint32_t pid);
void st_file_forget(void);
void st_file_new_process(void); /* a forked child: the parent's slot is not its own */
uint64_t st_file_size_limit(void); /* RLIMIT_FSIZE in whole chunks */
/* a process or thread (tid) that exists and is not a zombie */
bool st_file_pid_alive(uint32_t pid);
extern bool st_note_capped; /* attach lowered the capacity to RLIMIT_FSIZE */

/* What the real call did, taken the moment it returned: the event's time is
 * the call's, not that of the recording work done after it. */
struct st_outcome {
	uint64_t ts_ns;
	int ret, err; /* err: errno when ret < 0, else 0 */
};
static inline struct st_outcome st_outcome_of(int ret, int saved_errno)
{
	return (struct st_outcome){st_now_ns(), ret, ret < 0 ? saved_errno : 0};
}

/* st_record.c: per-thread chunks and record writing (async-signal-safe). */
struct st_stack;
void st_record_event(uint8_t op, int fd, int listen_fd, const struct st_outcome *done,
		     const struct st_addr *local, const struct st_addr *peer,
		     uint8_t flags, const struct st_stack *stack);
/* version 5: calls that fit are written as 32-byte short events (false:
 * every call as an event record, for a program that writes a trace of
 * long events to compare with, as tests/progs/gentrace does) */
extern bool st_record_short_events;
bool st_record_busy(void); /* this thread is inside the recorder (a signal interrupted it) */
extern uint16_t st_record_process_flags; /* ST_PROC_*: set by the front-end */
void st_record_process(uint32_t ppid, const char *exe, size_t exe_len,
		       const char *cmd, size_t cmd_len, const char *host,
		       size_t host_len);
/* a Python code object (version 5): rec's word and pid are filled here */
void st_record_pycode(const struct st_pycode *rec, const char *file, const char *name,
		      bool (*read_table)(void *to, size_t len, void *arg), void *arg);
/* a JIT's name for [start, start + size) (version 5) */
void st_record_jitsym(uint64_t start, uint64_t size, const char *name, size_t name_len);
void st_record_module(uint64_t ts, uint16_t flags, uint64_t bias, uint64_t lo, uint64_t hi,
		      const uint8_t *build_id, uint8_t build_id_len, const char *path,
		      size_t path_len);
void st_record_result(int fd, int err, uint64_t latency_ns, uint8_t learned, uint8_t flags,
		       uint64_t ts, uint32_t handshake_us);
struct st_close;
/* fills word, pid, tid; local and peer (may be NULL, or of length 0) follow
 * it in a ring, so a connection whose start was overwritten keeps its ends */
void st_record_close(const struct st_close *c, const struct st_addr *local,
		     const struct st_addr *peer);
void st_record_peer(int fd, uint32_t peer_pid, uint32_t uid, uint32_t gid);
/* A note is reserved before the change it announces, while any system call
 * is still allowed, and committed after it: as the note when the change
 * happened, as padding when it did not.  Between the two the thread is inside
 * the recorder. */
struct st_note_slot {
	struct st_cursor *cursor;
	char *room; /* NULL: no room (counted as dropped) */
};
void st_record_note_prepare(struct st_note_slot *slot, uint32_t kind);
void st_record_note_finish(struct st_note_slot *slot, bool happened);
struct st_resolved;
void st_record_resolve(uint8_t call, int result, const char *name, size_t name_len,
		       const char *serv, size_t serv_len, const struct st_resolved *addrs,
		       unsigned naddrs);
/* What the recorder asks of the front-end that feeds it, so that the core
 * never calls up into one: set by the front-end before it records (the
 * shim: st_init.c); a NULL hook is not asked. */
struct st_core_hooks {
	/* an event's stack holds these addresses: the objects holding them
	 * must be recorded before it (the shim: st_modules_check) */
	void (*stack_seen)(const uint64_t *ips, unsigned n, uint64_t event_ts);
	/* a jump out of a signal handler left a section of the front-end's */
	void (*section_left)(void);
};
extern struct st_core_hooks st_core_hooks;

/* The kernel's view of a socket, which the core asks through the front-end:
 * in-process calls in the shim (the real functions, never our wrappers), a
 * tracee's descriptor in a tracer.  Unset, every question fails (ENOSYS). */
struct st_kernel_view {
	int (*getsockopt)(int fd, int level, int name, void *val, socklen_t *len);
	int (*getsockname)(int fd, struct sockaddr *addr, socklen_t *len);
	int (*getpeername)(int fd, struct sockaddr *addr, socklen_t *len);
};
extern struct st_kernel_view st_kernel;

static inline int st_kernel_getsockopt(int fd, int level, int name, void *val, socklen_t *len)
{
	if (st_kernel.getsockopt == NULL) {
		errno = ENOSYS;
		return -1;
	}
	return st_kernel.getsockopt(fd, level, name, val, len);
}

static inline int st_kernel_name(bool peer, int fd, struct sockaddr *addr, socklen_t *len)
{
	int (*ask)(int, struct sockaddr *, socklen_t *) =
		peer ? st_kernel.getpeername : st_kernel.getsockname;
	if (ask == NULL) {
		errno = ENOSYS;
		return -1;
	}
	return ask(fd, addr, len);
}

void st_record_jumped(uintptr_t target_sp); /* a longjmp to target_sp is under way */
/* around libunwind and module scans: what a signal handler must not re-enter */
void st_record_section_enter(void);
void st_record_section_leave(void);
void st_record_unfollowed(void); /* counts a connection not followed to its end */

/* st_ring.c: the flight recorder's chunks (st_trace.ring) */
void st_ring_next(uint64_t *off, uint64_t *seq);
bool st_ring_claim(char *chunk, uint64_t seq, uint32_t me, uint64_t ts);
void st_ring_release(char *chunk, uint32_t me);
bool st_ring_meta_next(uint64_t *off);
void st_record_init(void);
void st_record_freeze(void); /* no system call from the recorder from here on */
void st_record_reset_thread(void);
void st_record_new_file(void); /* %p child: its own file is not full */

uint32_t st_tid(void); /* this thread's id, cached */
uint32_t st_record_pid(void); /* the pid this thread's records carry */
/* Whose records this thread writes next: its own process and thread unless
 * named here (a front-end writing for others, as a tracer does for the
 * processes it follows, names them before each record); 0, 0: its own. */
void st_record_as(uint32_t pid, uint32_t tid);

/* A call stack taken by the front-end, passed with its event. */
#define ST_OWN_FRAMES_MAX 16
struct st_stack {
	unsigned n;
	bool skipped;
	uint64_t ip[ST_FRAMES_MAX];
};

/*
 * st_socktab.c: one process's sockets as the core follows them: endpoints
 * learned per fd (st_fdcache.c), where each fd is in its connection's life
 * (st_life.c), and the sockets several fds name.  The shim has one, its
 * own; a tracer has one per traced process (threads share it, a forked
 * child gets a copy, as its fd table is) and names the one it feeds next.
 */
#define ST_LIFE_PAGE 512u    /* st_life.c slots per page */
#define ST_FDCACHE_PAGE 128u /* st_fdcache.c entries per page */
#define ST_SOCKTAB_CONNS 1024u
struct st_conn { /* a socket named by several fds (dup) */
	uint32_t refs; /* 0 = free */
	uint8_t state, flags;
	uint8_t from_parent; /* inherited across fork: its end is a ST_CLOSE_FORKED one */
	int32_t open_fd; /* the fd its state was on when the first copy was made */
	uint64_t since_ns;
};
struct st_socktab {
	void *life_pages[ST_FDPAGES_FDS / ST_LIFE_PAGE];
	void *cache_pages[ST_FDPAGES_FDS / ST_FDCACHE_PAGE];
	uint32_t life_gen;   /* bumped by a forked child: what it inherited is its parent's */
	uint32_t cache_high; /* highest fd ever cached + 1 */
	uint64_t forked_ns;  /* this process's last fork, or 0 */
	/* a child may run in this table's memory (vfork): only the process that
	 * owns it (st_pid) changes a followed socket.  Off in a tracer. */
	bool check_owner;
	struct st_conn conns[ST_SOCKTAB_CONNS];
};
extern struct st_socktab *st_tab; /* the one the core works on now */
extern const size_t st_life_page_bytes, st_fdcache_page_bytes;
struct st_socktab *st_socktab_new(void); /* NULL: no memory */
/* a forked child's table: a copy of its parent's, as fork copies memory */
struct st_socktab *st_socktab_fork(struct st_socktab *parent, uint64_t now_ns);
void st_socktab_free(struct st_socktab *t);

/* st_fdcache.c: endpoints learned per socket: connected ones (both ends), and
 * unconnected ones whose local address is settled (peer length 0). */

void st_fdcache_store(int fd, const struct st_addr *local, const struct st_addr *peer);
bool st_fdcache_load(int fd, struct st_addr *local, struct st_addr *peer);
void st_fdcache_forget(int fd);
void st_fdcache_forget_range(unsigned first, unsigned last);

/* st_life.c: where each socket fd is in its connection's life. */
enum st_life_state {
	ST_LIFE_BORN = 1,    /* type and protocol known, not connected */
	ST_LIFE_PENDING = 2, /* connect returned EINPROGRESS: result not learned yet */
	ST_LIFE_CLIENT = 3,  /* connected */
	ST_LIFE_SERVER = 4,  /* accepted */
	ST_LIFE_SHARED = 5,  /* one of several fds naming a socket (st_conns) */
	ST_LIFE_INHERITED = 6, /* found connected, not seen connected or accepted */
};
uint8_t st_life_flags_of(int domain, int type, int protocol);
void st_life_set(int fd, enum st_life_state state, uint8_t flags, uint64_t since_ns);
bool st_life_get(int fd, enum st_life_state *state, uint8_t *flags, uint64_t *since_ns);
bool st_life_settle(int fd, enum st_life_state state); /* from pending only */
/* close_flags: ST_CLOSE_SHARED and ST_CLOSE_FORKED as they apply */
/* *open_fd: the fd the connection was opened or found on (fd itself unless
 * it is a copy) */
bool st_life_take(int fd, enum st_life_state *state, uint8_t *flags, uint64_t *since_ns,
		  uint8_t *close_flags, int *open_fd);
void st_life_forget(int fd);
void st_life_share(int oldfd, int newfd); /* dup, dup2, dup3 */
void st_life_new_process(void);
void st_life_forked(uint64_t now_ns); /* in the parent, after a fork or clone */
int st_life_high(void); /* fds at or above this were never tracked */

/* st_end.c: the end of a connection, and the result of a pending connect. */
extern bool st_tcpinfo_on; /* SOCKTRACE_TCPINFO, default on */
/* What a close is about to end, taken before the real call: after it, the
 * fd number may already name another thread's new socket. */
struct st_end_note {
	bool active;
	struct st_close rec;
	/* a ring's close carries the endpoints (len 0: unknown) */
	struct st_addr local, peer;
};
/* type and protocol for events, and the fd's state (0: unknown); asks the
 * kernel once, when ask_kernel (the fd is known to be a socket) */
uint8_t st_sock_life(int fd, bool ask_kernel, enum st_life_state *state);
void st_end_now(int fd, uint8_t how, int shut_how); /* records at once (range, shutdown, exit) */
bool st_end_begin(int fd, uint8_t how, struct st_end_note *n);
void st_end_finish(const struct st_end_note *n, int close_ret, int close_errno);
void st_end_result(int fd, int err, uint8_t learned, uint64_t ts);
void st_end_failed(int fd, int err, uint64_t start_ns, uint64_t ts, uint8_t flags);
void st_end_at_exit(void);
void st_end_peer(int fd); /* a Unix stream socket connected or accepted: who is there */
void st_end_learned(int fd, uint8_t flags); /* born elsewhere, found connected: follow it */

/* st_calls.c: the socket calls a front-end saw, with what they did: events
 * and connection states.  peer/returned_len: what the program's memory held
 * after the call, as far as the front-end could read it (len 0: not read). */
void st_call_connect(int fd, const struct st_addr *peer, const struct st_outcome *done,
		     uint64_t start_ns, const struct st_stack *stack);
void st_call_accept(uint8_t op, int listen_fd, const struct st_outcome *done,
		    struct st_addr *peer, const struct st_stack *stack);
void st_call_name(uint8_t op, int fd, const struct st_outcome *done, socklen_t returned_len,
		  const struct st_stack *stack);
void st_call_socket(int fd, int domain, int type, int protocol); /* fd: its result */
void st_call_duplicated(int fd, int newfd); /* dup, F_DUPFD: newfd is the result */
void st_call_replaced(int oldfd, int newfd, int ret); /* after dup2, dup3 (ended first) */
void st_call_so_error(int fd, int err, uint64_t ts); /* getsockopt(SO_ERROR) returned err */
void st_call_shutdown(int fd, int how);		      /* after one that succeeded */
/* before close_range(first, last, flags): the ends of what it closes */
void st_call_range_ending(unsigned first, unsigned last, unsigned flags);
/* found open when following began (a tracer's attach); listen_fd: the
 * process's listener with its local port, or -1; true when connected */
bool st_call_held(int fd, int listen_fd);
/* after an exec: the sockets fds[i] (inodes[i]) the program starts with */
void st_call_started_with(const int *fds, const uint64_t *inodes, size_t n);
void st_call_passed_in(const int *fds, size_t n); /* SCM_RIGHTS */

/* st_addr.c: endpoint helpers. */
void st_addr_from(struct st_addr *a, const void *sa, socklen_t len);
void st_addr_copy(struct st_addr *a, const void *sa, socklen_t len); /* never faults */
bool st_addr_is_specific_inet(const struct st_addr *a);
bool st_addr_is_settled(const struct st_addr *a);
bool st_addr_is_shared_by_accepted(const struct st_addr *a);
bool st_kernel_endpoints(int fd, struct st_addr *local, struct st_addr *peer);
bool st_kernel_peer(int fd, struct st_addr *peer);

/* st_jitmap.c: addresses of JIT code in one process's stacks, named at its
 * exit from the JIT's perf map (record type 13). */
#define ST_JIT_SET 8192
struct st_jitset {
	uint64_t ips[ST_JIT_SET]; /* 0 = free slot */
	unsigned count;
};
bool st_jitset_known(const struct st_jitset *set, uint64_t ip);
void st_jitset_note(struct st_jitset *set, uint64_t ip);
/* /tmp/perf-PID.map's entries holding a kept address, as records, when the
 * map is a regular file of owner's */
void st_jitset_flush(const struct st_jitset *set, uint32_t pid, uid_t owner);

#endif
