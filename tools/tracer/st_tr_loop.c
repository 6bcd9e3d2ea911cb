/*
 * The tracer's loop: one thread waits for every traced thread's stops and
 * answers each at once, so the program is never held longer than its stop
 * takes.  Launched programs run under a seccomp filter (only the calls the
 * core wants stop); attached ones stop at every system call.  Signals are
 * passed on as they came: a signal-delivery stop is resumed with its
 * signal, a group-stop (SIGSTOP, SIGTSTP from a shell) is left stopped
 * with PTRACE_LISTEN until SIGCONT, as strace does.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/audit.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "st_tracer.h"


static bool st_tr_filtered;   /* launched under the seccomp filter */
static bool st_tr_detaching;  /* -p: asked to let go */
volatile sig_atomic_t st_tr_stop_asked;

/* Resumes a thread: to its next filtered call (or the exit of the one it
 * is in) under the filter, to its next system call when attached. */
static void st_tr_resume(struct st_tr_thread *t, int sig)
{
	int how = st_tr_filtered && !t->in_call ? PTRACE_CONT : PTRACE_SYSCALL;
	ptrace(how, t->tid, 0L, (long)sig);
}

static void st_tr_syscall_stop(struct st_tr_thread *t)
{
	struct __ptrace_syscall_info info;
	memset(&info, 0, sizeof info);
	if (ptrace(PTRACE_GET_SYSCALL_INFO, t->tid, (void *)sizeof info, &info) <= 0) {
		static bool said;
		if (!said && (errno == EIO || errno == EINVAL)) {
			said = true; /* the program runs on, untraced */
			fprintf(stderr, "socktrace: PTRACE_GET_SYSCALL_INFO: %s (Linux 5.3 or "
					"later is needed): no system call is recorded\n",
				strerror(errno));
		}
		return;
	}
	if (info.op == PTRACE_SYSCALL_INFO_ENTRY || info.op == PTRACE_SYSCALL_INFO_SECCOMP) {
		long nr = (long)(info.op == PTRACE_SYSCALL_INFO_ENTRY ? info.entry.nr : info.seccomp.nr);
		const uint64_t *args = info.op == PTRACE_SYSCALL_INFO_ENTRY ? info.entry.args
									 : info.seccomp.args;
		t->in_call = info.arch == AUDIT_ARCH_X86_64 && st_tr_call_wanted(nr) &&
			     st_tr_call_entry(t, nr, args);
		/* under the filter, a name is learned at this stop, with no
		 * exit stop (attached, every call has its exit stop anyway) */
		if (t->in_call && info.op == PTRACE_SYSCALL_INFO_SECCOMP &&
		    (nr == SYS_getsockname || nr == SYS_getpeername) && st_tr_name_learn(t, nr, args))
			t->in_call = false;
	} else if (info.op == PTRACE_SYSCALL_INFO_EXIT && t->in_call) {
		t->in_call = false;
		long rval = (long)info.exit.rval;
		/* -ERESTART*: the call is made again (a new entry), or turned
		 * into EINTR by a handler; not a return of the program's */
		if (info.exit.is_error && rval <= -512 && rval >= -516) {
			st_tr_kernel_release();
			return;
		}
		st_tr_call_exit(t, rval, info.exit.is_error);
	}
}

/* A new traced thread: of a known process, or the first of a new one, with
 * a copy of its parent's sockets (fork copies the fd table) or none. */
static struct st_tr_thread *st_tr_new_thread(pid_t tid, struct st_tr_proc *parent)
{
	pid_t tgid = st_tr_tgid_of(tid);
	struct st_tr_thread *leader = tgid > 0 ? st_tr_thread_find(tgid) : NULL;
	if (leader != NULL && tgid != tid)
		return st_tr_thread_add(tid, leader->proc);
	struct st_tr_proc *proc = st_tr_proc_new(
		tid, parent ? st_socktab_fork(parent->tab, st_now_ns()) : st_socktab_new());
	proc->may_receive = parent != NULL && parent->may_receive; /* its fds were copied */
	st_tr_proc_record(proc, tid);
	return st_tr_thread_add(tid, proc);
}

/*
 * Children whose first stop came before their parent's fork or clone event:
 * known already, maybe even gone, when the event is seen.  A short-lived
 * child (connect, send, exit) can stop, run and exit before wait reports its
 * parent's event under load; without this it was made again, with a second
 * process record (found by tracer/children_started_while_attached_are_followed:
 * 7 process records for 4 processes, one run in a few dozen).  Bounded: the
 * oldest is forgotten first (its parent was killed before the event).
 */
#define ST_TR_EARLY_MAX 64
static pid_t st_tr_early[ST_TR_EARLY_MAX];
static unsigned st_tr_early_next;

static void st_tr_early_add(pid_t tid)
{
	st_tr_early[st_tr_early_next++ % ST_TR_EARLY_MAX] = tid;
}

/* Whether tid was seen before its parent's event (forgotten from now on). */
static bool st_tr_early_take(pid_t tid)
{
	for (unsigned i = 0; i < ST_TR_EARLY_MAX; i++)
		if (st_tr_early[i] == tid) {
			st_tr_early[i] = 0;
			return true;
		}
	return false;
}

/* A child of t (fork, vfork, clone), unless its first stop came first. */
static void st_tr_child(struct st_tr_thread *t)
{
	unsigned long msg = 0;
	if (ptrace(PTRACE_GETEVENTMSG, t->tid, 0L, &msg) != 0 || msg == 0)
		return;
	if (!st_tr_early_take((pid_t)msg) && st_tr_thread_find((pid_t)msg) == NULL)
		st_tr_new_thread((pid_t)msg, t->proc);
}

/* After an exec the process has one thread: any other entry of it is a
 * thread the exec killed, whose exit notice must not count it again. */
static void st_tr_exec_killed(struct st_tr_thread *other, void *exec_thread)
{
	const struct st_tr_thread *t = exec_thread;
	if (other != t && other->proc == t->proc)
		other->exiting = true;
}

/* exec: the process is a new program (the shim starts anew in it too); a
 * thread other than the leader that called it now has the leader's id. */
static void st_tr_exec(struct st_tr_thread *t)
{
	unsigned long former = 0;
	ptrace(PTRACE_GETEVENTMSG, t->tid, 0L, &former);
	if ((pid_t)former != t->tid) {
		struct st_tr_thread *gone = st_tr_thread_find((pid_t)former);
		if (gone != NULL)
			st_tr_thread_remove(gone);
	}
	struct st_tr_proc *p = t->proc;
	st_tr_thread_each(st_tr_exec_killed, t);
	t->exiting = false; /* the old leader's entry, if it saw its exit stop */
	t->in_call = false;
	p->threads = 1;
	struct st_socktab *fresh = st_socktab_new();
	if (fresh != NULL) {
		st_socktab_free(p->tab);
		p->tab = fresh;
	}
	st_tr_jits_flush(p); /* the old program's JIT code, named before it is forgotten */
	st_tr_stack_forget(p->pid);
	st_tr_python_forget(p);
	st_tr_java_forget(p);
	st_tr_unwind_forget(p);
	p->label_asked = false; /* an exec may change its security label */
	st_tr_proc_record(p, t->tid);
	st_tr_started_sockets(p);
}

static bool st_tr_is_group_stop_signal(int sig)
{
	return sig == SIGSTOP || sig == SIGTSTP || sig == SIGTTIN || sig == SIGTTOU;
}

/* A stop of a thread not known yet: its parent's fork or clone event has
 * not been seen (it may never be, if the parent was killed meanwhile), so
 * its parent is read from /proc: the parent is stopped at that event or
 * before it, so its sockets are still those the child inherited. */
static struct st_tr_thread *st_tr_newcomer(pid_t tid)
{
	struct st_tr_thread *parent = st_tr_thread_find(st_tr_ppid_of(tid));
	st_tr_early_add(tid);
	return st_tr_new_thread(tid, parent ? parent->proc : NULL);
}

/* Detaching: a thread that reports any stop is let go, with the signal
 * its stop was delivering, if any. */
static void st_tr_let_go(struct st_tr_thread *t, int sig)
{
	ptrace(PTRACE_DETACH, t->tid, 0L, (long)sig);
	st_tr_thread_remove(t);
}

static void st_tr_stopped(pid_t tid, int status)
{
	struct st_tr_thread *t = st_tr_thread_find(tid);
	if (t == NULL)
		t = st_tr_newcomer(tid);
	int sig = WSTOPSIG(status), event = (int)((unsigned)status >> 16);
	if (sig == (SIGTRAP | 0x80) || event == PTRACE_EVENT_SECCOMP) {
		st_tr_syscall_stop(t);
		sig = 0;
	} else if (event == PTRACE_EVENT_FORK || event == PTRACE_EVENT_VFORK ||
		   event == PTRACE_EVENT_CLONE) {
		st_tr_child(t);
		sig = 0;
	} else if (event == PTRACE_EVENT_EXEC) {
		st_tr_exec(t);
		sig = 0;
	} else if (event == PTRACE_EVENT_EXIT) {
		st_tr_thread_exiting(t);
		sig = 0;
	} else if (event == PTRACE_EVENT_STOP) {
		if (st_tr_is_group_stop_signal(sig) && !st_tr_detaching) {
			t->listening = true; /* stays stopped, as bare, until SIGCONT */
			ptrace(PTRACE_LISTEN, tid, 0L, 0L);
			return;
		}
		sig = 0; /* an interrupt, or a new thread's first stop */
	}
	t->listening = false;
	if (st_tr_detaching && !t->in_call) {
		st_tr_let_go(t, sig);
		return;
	}
	st_tr_resume(t, sig);
}

/* One wait; false when nothing is left to wait for. */
static bool st_tr_wait_one(pid_t root, int *root_status)
{
	int status;
	pid_t tid = waitpid(-1, &status, __WALL);
	if (tid < 0)
		return errno == EINTR;
	if (WIFSTOPPED(status)) {
		st_tr_stopped(tid, status);
		return true;
	}
	if (tid == root && (WIFEXITED(status) || WIFSIGNALED(status)))
		*root_status = status;
	struct st_tr_thread *t = st_tr_thread_find(tid);
	if (t != NULL && (WIFEXITED(status) || WIFSIGNALED(status)))
		st_tr_thread_remove(t);
	return true;
}

static void st_tr_interrupt_one(struct st_tr_thread *t, void *arg)
{
	(void)arg;
	ptrace(PTRACE_INTERRUPT, t->tid, 0L, 0L);
}

static void st_tr_abandon_one(struct st_tr_thread *t, void *arg)
{
	if (t->proc != arg)
		return;
	int status;
	if (waitpid(t->tid, &status, __WALL) == t->tid && WIFSTOPPED(status))
		ptrace(PTRACE_DETACH, t->tid, 0L, 0L);
	st_tr_thread_remove(t);
}

void st_tr_abandon(struct st_tr_proc *p)
{
	st_tr_thread_each(st_tr_abandon_one, p);
}

static void st_tr_begin_detach(void)
{
	st_tr_detaching = true;
	st_tr_thread_each(st_tr_interrupt_one, NULL);
}

int st_tr_loop(pid_t root)
{
	int root_status = 0;
	while (st_tr_thread_count() > 0) {
		if (st_tr_stop_asked && !st_tr_detaching)
			st_tr_begin_detach();
		if (!st_tr_wait_one(root, &root_status))
			break;
	}
	return root_status;
}

/* The tracer keeps a pidfd per traced process: a server forking a child
 * per connection must not run it out of descriptors.  Its own limit only:
 * raised after the program was forked, which keeps its own. */
void st_tr_more_fds(void)
{
	struct rlimit lim;
	if (getrlimit(RLIMIT_NOFILE, &lim) == 0 && lim.rlim_cur < lim.rlim_max) {
		lim.rlim_cur = lim.rlim_max;
		setrlimit(RLIMIT_NOFILE, &lim);
	}
}

/* The trace file, attached as the shim attaches it. */
bool st_tr_open_trace(const struct st_tr_options *o)
{
	st_pid = (uint32_t)getpid();
	st_clock_init();
	st_record_init();
	st_tr_depth = o->depth;
	st_record_process_flags = ST_PROC_PTRACE;
	st_core_hooks = (struct st_core_hooks){.stack_seen = o->depth ? st_tr_stack_seen : NULL};
	const char *why = NULL;
	int rc = st_file_attach(o->trace, o->size, &why);
	if (rc != 0) {
		fprintf(stderr, "socktrace: %s: %s\n", o->trace, why ? why : strerror(-rc));
		return false;
	}
	st_file_register_pid(st_pid);
	return true;
}

int st_tracer_launch(const struct st_tr_options *o, const char *command, char *const argv[])
{
	/* a trace past RLIMIT_FSIZE fails its write (EFBIG, counted as full),
	 * not the tracer: the program gets the disposition back before exec */
	signal(SIGXFSZ, SIG_IGN);
	if (!st_tr_open_trace(o)) {
		/* as the shim does: the program runs untraced, and it was said why */
		fprintf(stderr, "socktrace: running %s untraced\n", command);
		signal(SIGXFSZ, SIG_DFL);
		execv(command, argv);
		fprintf(stderr, "socktrace: %s: %s\n", command, strerror(errno));
		return errno == ENOENT ? 127 : 126;
	}
	pid_t tracer = getpid();
	pid_t pid = fork();
	if (pid < 0) {
		perror("socktrace: fork");
		return -1;
	}
	if (pid == 0) {
		/* stopped until the tracer holds it: the filter would answer
		 * ENOSYS to every filtered call without one */
		signal(SIGTERM, SIG_DFL);
		signal(SIGINT, SIG_DFL);
		signal(SIGHUP, SIG_DFL);
		signal(SIGQUIT, SIG_DFL);
		signal(SIGXFSZ, SIG_DFL);
		/* a tracer killed before it holds this child must not leave it
		 * stopped forever: killed with it until then, and only until
		 * then (the program keeps no death signal of ours) */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != tracer)
			_exit(127);
		raise(SIGSTOP);
		prctl(PR_SET_PDEATHSIG, 0);
		int rc = st_tr_seccomp_install();
		if (rc < 0) {
			fprintf(stderr, "socktrace: seccomp filter: %s\n", strerror(-rc));
			_exit(126);
		}
		execv(command, argv);
		fprintf(stderr, "socktrace: %s: %s\n", command, strerror(errno));
		_exit(errno == ENOENT ? 127 : 126);
	}
	int status;
	if (waitpid(pid, &status, WSTOPPED) != pid || !WIFSTOPPED(status) ||
	    ptrace(PTRACE_SEIZE, pid, 0L,
		   (long)(ST_TR_ATTACH_OPTIONS | PTRACE_O_TRACESECCOMP | PTRACE_O_EXITKILL)) != 0) {
		fprintf(stderr, "socktrace: cannot trace %s: %s\n", command, strerror(errno));
		kill(pid, SIGKILL);
		waitpid(pid, &status, 0);
		return -1;
	}
	if (o->launched)
		__atomic_store_n(o->launched, pid, __ATOMIC_RELEASE);
	st_tr_filtered = true;
	st_tr_more_fds();
	struct st_tr_proc *p = st_tr_proc_new(pid, st_socktab_new());
	st_tr_thread_add(pid, p);
	kill(pid, SIGCONT);
	status = st_tr_loop(pid);
	st_file_detach();
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}
