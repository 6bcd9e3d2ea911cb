/*
 * The tracer: socktrace's second front-end (the first is the LD_PRELOAD
 * shim).  It follows programs with ptrace, sees their socket system calls
 * at entry and exit, and feeds them to the same core (shim/core/st_core.h) that
 * the shim feeds, so the trace is the same.  It reaches what the loader
 * cannot: static and Go programs, raw system calls, a process already
 * running (-p).
 */
#ifndef ST_TRACER_H
#define ST_TRACER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <signal.h>
#include <sys/ptrace.h>
#include <sys/types.h>

#include "../../shim/core/st_core.h"
#include "../../shim/core/st_python_layout.h"

struct st_tr_options {
	const char *trace;     /* the trace file, absolute */
	uint64_t size;	       /* its capacity */
	unsigned depth;	       /* -k: frames per stack, 0 none */
	bool quiet;
	pid_t *launched;       /* set to the launched program's pid (signals passed on) */
};

/* socktrace --ptrace -- CMD: runs argv (command: its path) under the
 * tracer; the program's exit status as a shell gives it, or -1 when it
 * could not be started (said). */
int st_tracer_launch(const struct st_tr_options *o, const char *command, char *const argv[]);
/* socktrace -p PID,...: follows running processes until they exit or the
 * launcher is asked to stop (SIGINT, SIGTERM, SIGHUP); 0, or 2 with the
 * reason said when none could be attached. */
int st_tracer_attach(const struct st_tr_options *o, const pid_t *pids, size_t npids);

/* ---- inside the tracer ---- */

/* One traced thread group: its own socket table, a pidfd to borrow its
 * descriptors with. */
struct st_tr_proc {
	pid_t pid;
	int pidfd;
	unsigned threads; /* traced threads not yet at their exit */
	unsigned refs;	  /* thread entries naming it */
	unsigned files_epoch; /* counts unshare(CLONE_FILES) calls seen in it */
	/* it holds or held a Unix socket (socketpair, bind or connect to a
	 * path, sockets it started with, its parent's at fork): another process
	 * may have passed it a connection (SCM_RIGHTS, st_tr_calls.c) */
	bool may_receive;
	bool label_asked, label_same; /* its LSM label is the tracer's (st_tr_names.c) */
	/* CPython (3.11 to 3.15) in it (-k): found in its objects at its first stack */
	bool py_looked;
	uint32_t py_version;
	struct st_py_layout py_layout;
	uint64_t py_runtime, py_eval_lo, py_eval_hi; /* 0: none */
	struct st_java_layout *java; /* its HotSpot JVM's, once found (-k) */
	struct st_jitset *jits; /* JIT code its stacks hold (-k), NULL none yet */
	void *unw_as;		/* libunwind's address space for its stacks (-k) */
	struct st_socktab *tab;
};

/* A system call a thread is in, between its entry and exit stops. */
struct st_tr_call {
	long nr;
	uint64_t args[6];
	uint64_t start_ns;
	struct st_addr addr;  /* connect's address, read at entry */
	long offered_len;     /* accept: the room the program offered, -1 none */
	long name_len;	      /* getsockname/getpeername: the length given back, -1 unknown */
	struct st_end_note note; /* close, dup2 over a followed socket */
	struct st_stack stack;
};

/* One traced thread. */
struct st_tr_thread {
	pid_t tid;
	struct st_tr_proc *proc;
	bool in_call;	   /* its entry was seen and its exit is awaited */
	bool exiting;	   /* at or past PTRACE_EVENT_EXIT */
	bool listening;	   /* in a group-stop, left there with PTRACE_LISTEN */
	bool files_shared; /* its fd table is its leader's (as of files_epoch) */
	unsigned files_epoch; /* its proc's files_epoch when that was asked; 0 never */
	uint64_t py_tstate;   /* its PyThreadState last time, 0 unknown */
	struct st_tr_call call;
};

/* st_tr_loop.c: the wait loop, shared by launched and attached programs. */
#define ST_TR_ATTACH_OPTIONS                                                               \
	(PTRACE_O_TRACESYSGOOD | PTRACE_O_TRACEFORK | PTRACE_O_TRACEVFORK |                \
	 PTRACE_O_TRACECLONE | PTRACE_O_TRACEEXEC | PTRACE_O_TRACEEXIT)
extern volatile sig_atomic_t st_tr_stop_asked; /* let go of everything */
bool st_tr_open_trace(const struct st_tr_options *o);
void st_tr_more_fds(void); /* the tracer's own RLIMIT_NOFILE up to its hard limit */
int st_tr_loop(pid_t root); /* until no thread is left; root's wait status */
void st_tr_abandon(struct st_tr_proc *p); /* lets its threads go (a failed attach) */

/* st_tr_procs.c: the threads and processes followed. */
struct st_tr_thread *st_tr_thread_find(pid_t tid);
struct st_tr_thread *st_tr_thread_add(pid_t tid, struct st_tr_proc *proc);
void st_tr_thread_remove(struct st_tr_thread *t);
size_t st_tr_thread_count(void);
void st_tr_thread_each(void (*fn)(struct st_tr_thread *, void *), void *arg);
struct st_tr_proc *st_tr_proc_new(pid_t pid, struct st_socktab *tab);
void st_tr_proc_free(struct st_tr_proc *p); /* one no thread names */
void st_tr_thread_exiting(struct st_tr_thread *t); /* PTRACE_EVENT_EXIT */
void st_tr_proc_record(struct st_tr_proc *p, pid_t tid); /* its process record */
/* st_tr_attach.c: after an exec, the sockets the program starts with */
void st_tr_started_sockets(struct st_tr_proc *p);
pid_t st_tr_tgid_of(pid_t tid); /* from /proc; -1 when gone */
pid_t st_tr_ppid_of(pid_t pid); /* from /proc; 0 when gone */

/* st_tr_kernel.c: another process's memory and descriptors. */
void st_tr_kernel_use(struct st_tr_proc *p); /* the process st_kernel answers for */
void st_tr_kernel_release(void); /* closes the descriptors borrowed for this stop */
bool st_tr_read(pid_t tid, uint64_t addr, void *buf, size_t len);
/* as the program's own store would: false where it would fault */
bool st_tr_write(pid_t tid, uint64_t addr, const void *buf, size_t len);
/* a copy of the process's fd for this stop (closed by st_tr_kernel_release);
 * -1 with pidfd_getfd's errno */
int st_tr_borrow(int fd);

/* st_tr_calls.c: a system call seen at entry and exit. */
bool st_tr_call_wanted(long nr);
/* true: its exit is wanted (false: all was done at its entry) */
bool st_tr_call_entry(struct st_tr_thread *t, long nr, const uint64_t args[6]);
void st_tr_call_exit(struct st_tr_thread *t, long rval, bool is_error);
void st_tr_proc_exiting(struct st_tr_proc *p); /* its last thread exits: open ends */
void st_tr_jits_flush(struct st_tr_proc *p); /* its JIT code's names (exit, exec, detach) */

/* st_tr_names.c: getsockname/getpeername's answer learned at a seccomp stop
 * and recorded, the program's call left to run with no exit stop; false:
 * not learned, the call needs its exit stop. */
bool st_tr_name_learn(struct st_tr_thread *t, long nr, const uint64_t args[6]);

/* st_tr_seccomp.c: the filter a launched program runs under. */
int st_tr_seccomp_install(void); /* in the child, before exec; -errno */

/* st_tr_stack.c: a stopped thread's call stack (-k). */
extern unsigned st_tr_depth;
void st_tr_stack_take(struct st_tr_thread *t, struct st_stack *s);
void st_tr_stack_seen(const uint64_t *ips, unsigned n, uint64_t event_ts);
void st_tr_stack_forget(pid_t pid); /* gone, or replaced by exec */
void st_tr_unwind_forget(struct st_tr_proc *p); /* its code changed, or it is gone */

/* st_tr_python.c: Python frames in its stacks (-k). */
struct st_stack;
void st_tr_python_object(struct st_tr_proc *p, int fd, uint64_t bias, const char *path);
void st_tr_python_frames(struct st_tr_thread *t, struct st_stack *s);
void st_tr_python_forget(struct st_tr_proc *p); /* exec: another program */

/* st_tr_java.c: interpreted Java methods in its stacks (-k); fps[j]: the
 * frame pointer of frame j, 0 unknown. */
void st_tr_java_object(struct st_tr_proc *p, int fd, uint64_t bias, const char *path);
void st_tr_java_frames(struct st_tr_proc *p, struct st_stack *s, const uint64_t *fps);
void st_tr_java_forget(struct st_tr_proc *p); /* exec: another program */

/* st_tr_elfsyms.c: the values and sizes of names[0..n) in the file's
 * dynamic symbol table (0 for those it lacks); false when it has none. */
bool st_tr_dynsyms(int fd, const char *const *names, int n, uint64_t *values, uint64_t *sizes);

/* st_tr_loaderrun.c: when pid is glibc's loader running a program named in
 * its command line (cmd, NUL-separated), that program's real path in out. */
bool st_tr_loader_program(pid_t pid, const char *cmd, size_t cmd_len, char *out, size_t size);

#endif
