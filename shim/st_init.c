/*
 * Process-wide set-up: settings from the environment, the trace file, the
 * process record, fork and exit handling.  Runs from the constructor, or from
 * the first wrapper call when another library's constructor calls in first.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "st_internal.h"

#define ST_DEFAULT_FILE "socktrace.trace"


enum { ST_INIT_NONE, ST_INIT_RUNNING, ST_INIT_DONE };
static int st_init_state;
static bool st_recording;
bool st_sandboxed;
static __thread bool st_in_init ST_TLS;

static struct {
	char file_template[4096];
	uint64_t size;
	unsigned depth;
	char exe[1024];
	size_t exe_len;
	char cmd[2048];
	size_t cmd_len;
	char host[256];
	size_t host_len;
} st_conf;

static const char *st_errdesc(int err)
{
	const char *desc = strerrordesc_np(err);
	return desc ? desc : "unknown error";
}

/* "%p" becomes the pid, "%%" a percent sign; async-signal-safe. */
/* false when the expanded path does not fit: a cut path would name
 * another file, silently */
static bool st_expand_path(const char *tmpl, uint32_t pid, char *out, size_t size)
{
	size_t o = 0;
	const char *s = tmpl;
	for (; *s && o + 12 < size; s++) {
		if (s[0] == '%' && s[1] == 'p') {
			char digits[12];
			int n = 0;
			for (uint32_t v = pid; n == 0 || v; v /= 10)
				digits[n++] = (char)('0' + v % 10);
			while (n)
				out[o++] = digits[--n];
			s++;
		} else if (s[0] == '%' && s[1] == '%') {
			out[o++] = '%';
			s++;
		} else {
			out[o++] = *s;
		}
	}
	out[o] = '\0';
	return *s == '\0';
}

/*
 * A program run by naming the dynamic loader ("ld.so [OPTIONS] PROGRAM", as
 * a program of another distribution is run with that distribution's
 * loader): the kernel ran the loader as the program, so /proc/self/exe is
 * the loader and AT_BASE (where the kernel put the interpreter it loaded) is
 * 0.  The program is the first argument after the loader's options in our
 * command line (st_loaderargs.c, as the tracer reads it), not argv[0],
 * which --argv0 may have set to anything.  Without this, the program's code
 * was recorded under the loader's path and build-id: its frames unnamed,
 * and said to be of an object "changed since the trace was taken".
 */
static void st_read_program_path(void)
{
	char real[PATH_MAX];
	size_t len;
	const char *prog = getauxval(AT_BASE) == 0
				   ? st_loader_program_arg(st_conf.cmd, st_conf.cmd_len)
				   : NULL;
	/* a bare name is looked up by the loader like a library: not followed */
	if (prog == NULL || strchr(prog, '/') == NULL || realpath(prog, real) == NULL ||
	    (len = strlen(real)) >= sizeof st_conf.exe)
		return;
	memcpy(st_conf.exe, real, len + 1);
	st_conf.exe_len = len;
}

static void st_read_identity(void)
{
	ssize_t n = readlink("/proc/self/exe", st_conf.exe, sizeof st_conf.exe - 1); /* NUL kept */
	st_conf.exe_len = n > 0 ? (size_t)n : 0;
	st_conf.cmd_len = st_read_file("/proc/self/cmdline", st_conf.cmd, sizeof st_conf.cmd);
	st_read_program_path();
	if (gethostname(st_conf.host, sizeof st_conf.host) == 0)
		st_conf.host_len = strnlen(st_conf.host, sizeof st_conf.host);
}

static void st_write_process(uint32_t ppid)
{
	st_record_process(ppid, st_conf.exe, st_conf.exe_len, st_conf.cmd, st_conf.cmd_len,
			  st_conf.host, st_conf.host_len);
}

static bool st_attach_current(void)
{
	char path[4096];
	const char *why = NULL;
	if (!st_expand_path(st_conf.file_template, st_record_pid(), path, sizeof path)) {
		st_say((const char *const[]){"SOCKTRACE_FILE is longer than 4083 bytes once %p is "
					      "expanded; the program runs untraced", NULL});
		return false;
	}
	int rc = st_file_attach(path, st_conf.size, &why);
	if (rc == 0 && st_note_capped)
		st_say((const char *const[]){"trace ", path, " capped at RLIMIT_FSIZE (ulimit -f): "
					      "events past it are counted as dropped", NULL});
	if (rc == 0)
		return true;
	st_warn(path, why ? why : st_errdesc(-rc));
	return false;
}

/* The parent's side of a fork: its sockets open now may end in a child. */
void st_parent_forked(void)
{
	if (!st_following())
		return;
	st_life_forked(st_now_ns());
}

/* This process's pid as /proc names it: in the pid namespace /proc was
 * mounted in, the one its parent and the reader know, where getpid()
 * answers in the process's own (1 for the first of a new namespace); 0
 * when /proc cannot say. */
static uint32_t st_pid_in_proc(void)
{
	char link[16];
	ssize_t n = readlink("/proc/self", link, sizeof link - 1);
	uint32_t pid = 0;
	for (ssize_t i = 0; i < n && link[i] >= '0' && link[i] <= '9'; i++)
		pid = pid * 10 + (uint32_t)(link[i] - '0');
	return n > 0 ? pid : 0;
}

/* A new process that inherited this one's memory: fork's child, or a child
 * of clone() without CLONE_VM (st_wrap_clone.c). */
void st_child_started(void)
{
	st_child_started_in(false);
}

/* The same, told whether the child is the first of a new pid namespace
 * (CLONE_NEWPID): its records then carry the pid its parent and the reader
 * know (vsftpd's sessions would all be pid 1). */
void st_child_started_in(bool new_pid_namespace)
{
	if (!st_following())
		return; /* the filter came with the copy: no getpid, no new file */
	uint32_t parent = st_pid;
	st_pid = (uint32_t)getpid();
	st_record_reset_thread();
	uint32_t outside = new_pid_namespace ? st_pid_in_proc() : 0;
	if (outside != 0 && outside != st_pid)
		st_record_as(outside, outside); /* this thread's; the man page says what not */
	st_life_new_process(); /* the parent's connections end in the parent */
	st_file_new_process();
	if (!st_recording)
		return;
	if (strstr(st_conf.file_template, "%p") != NULL) {
		/* One file per process was asked for: leave the parent's file alone. */
		st_file_forget();
		st_record_new_file();
		st_recording = st_attach_current();
		if (!st_recording)
			return;
	} else {
		st_file_register_pid(st_record_pid());
	}
	st_write_process(parent);
	if (st_stack_depth)
		st_modules_replay();
}

/* SOCKTRACE_FILE, or in secure mode only the path root configured. */
static bool st_choose_file(const char **file)
{
	static char secure_file[4096];
	if (st_setting_secure_mode()) {
		/* setuid/setgid: the caller's environment and directory are not ours
		 * to trust (libsocktrace(7)). */
		if (!st_setting_secure_file(secure_file, sizeof secure_file))
			return false;
		*file = secure_file;
		return true;
	}
	*file = getenv("SOCKTRACE_FILE");
	if (*file == NULL || **file == '\0')
		*file = ST_DEFAULT_FILE;
	return true;
}

static void st_init(bool from_constructor)
{
	st_pid = (uint32_t)getpid();
	st_clock_init();
	st_jump_bind_all();
	st_core_hooks = (struct st_core_hooks){.stack_seen = st_modules_check,
					       .section_left = st_modules_jumped};
	st_kernel = (struct st_kernel_view){.getsockopt = st_real_getsockopt,
					    .getsockname = st_real_getsockname,
					    .getpeername = st_real_getpeername};
	st_record_init();
	const char *file;
	if (!st_choose_file(&file))
		return;
	bool secure = st_setting_secure_mode();
	st_warn_init(file);
	if (strlen(file) >= sizeof st_conf.file_template) {
		st_say((const char *const[]){"SOCKTRACE_FILE is longer than 4095 bytes; "
					      "the program runs untraced", NULL});
		st_warn_mark(file, from_constructor);
		return;
	}
	strcpy(st_conf.file_template, file);
	st_conf.size = st_setting_size(secure ? NULL : getenv("SOCKTRACE_SIZE"));
	st_conf.depth = st_setting_depth(secure ? NULL : getenv("SOCKTRACE_BACKTRACE"));
	st_tcpinfo_on = st_setting_flag("SOCKTRACE_TCPINFO",
					secure ? NULL : getenv("SOCKTRACE_TCPINFO"), true);
	st_file_ring_wanted = st_setting_flag("SOCKTRACE_RING",
					      secure ? NULL : getenv("SOCKTRACE_RING"), false);
	st_read_identity();
	st_recording = st_attach_current();
	if (st_recording) {
		pthread_atfork(NULL, st_parent_forked, st_child_started);
		st_write_process((uint32_t)getppid());
		st_inherited_scan();
		st_golang_check(st_conf.exe);
		const char *why = NULL;
		if (!st_stack_init(st_conf.depth, &why))
			st_say((const char *const[]){"no call stacks: ", why, NULL});
		if (st_stack_depth) {
			/* before the first scan, which may find libjvm already loaded */
			if (st_setting_flag("SOCKTRACE_JAVA", secure ? NULL : getenv("SOCKTRACE_JAVA"),
					    true))
				st_java_want();
			st_modules_init(st_conf.exe, st_conf.exe_len);
			if (st_setting_flag("SOCKTRACE_PYTHON",
					    secure ? NULL : getenv("SOCKTRACE_PYTHON"), true))
				st_python_init();
		}
	}
	st_warn_mark(st_conf.file_template, from_constructor);
}

static bool st_ready_from(bool from_constructor)
{
	int state = __atomic_load_n(&st_init_state, __ATOMIC_ACQUIRE);
	if (ST_LIKELY(state == ST_INIT_DONE))
		return st_recording;
	if (st_in_init)
		return false;
	int expected = ST_INIT_NONE;
	if (state == ST_INIT_NONE &&
	    __atomic_compare_exchange_n(&st_init_state, &expected, ST_INIT_RUNNING, false,
					__ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
		st_in_init = true;
		st_init(from_constructor);
		st_in_init = false;
		__atomic_store_n(&st_init_state, ST_INIT_DONE, __ATOMIC_RELEASE);
		return st_recording;
	}
	/* Another thread is setting up: it takes milliseconds at most. */
	while (__atomic_load_n(&st_init_state, __ATOMIC_ACQUIRE) != ST_INIT_DONE)
		sched_yield();
	return st_recording;
}

/*
 * A vfork child that calls exit() runs its parent's exit machinery in the
 * parent's memory: glibc's _dl_fini marks every object finalized there, so
 * the parent's own exit would never run our destructor (no open-at-exit
 * closes, the file left unsealed at full size).  The child's pass through
 * the destructor says so; the parent's wait for it (st_wrap_wait.c), and
 * only that (no wrapper's hot path pays for it), registers the same work as a
 * destructor of its thread, which exit() still runs.
 */
static bool st_fini_consumed;

static void st_finish(void);

/* glibc's: a thread-exit destructor, run by exit() before the atexit list.
 * The child's exit() also closed that list to new entries (__exit_funcs_done),
 * so atexit() would fail; this one is per thread and still taken. */
extern int __cxa_thread_atexit_impl(void (*fn)(void *), void *arg, void *dso);
extern void *__dso_handle;

static void st_finish_at_thread_exit(void *unused)
{
	(void)unused;
	st_finish();
}

static __attribute__((noinline)) void st_rearm_finish(void)
{
	if (!__atomic_exchange_n(&st_fini_consumed, false, __ATOMIC_ACQ_REL))
		return;
	if ((uint32_t)getpid() == st_pid)
		__cxa_thread_atexit_impl(st_finish_at_thread_exit, NULL, &__dso_handle);
	else
		__atomic_store_n(&st_fini_consumed, true, __ATOMIC_RELEASE); /* still the child */
}

void st_exit_work_check(void)
{
	if (ST_UNLIKELY(__atomic_load_n(&st_fini_consumed, __ATOMIC_RELAXED)))
		st_rearm_finish();
}

/* Plain stores: the filter is in place, and any system call may kill. */
void st_sandbox_entered(void)
{
	__atomic_store_n(&st_sandboxed, true, __ATOMIC_RELAXED);
	st_recording = false;
	st_record_freeze();
}

bool st_ready(void)
{
	return st_ready_from(false);
}

__attribute__((constructor)) static void st_constructor(void)
{
	(void)st_ready_from(true);
}

/* jit_names: false where the JIT's map cannot be read (its sort may
 * allocate, and _exit may be called from a signal handler) */
static void st_finish_with(bool jit_names)
{
	if (__atomic_load_n(&st_init_state, __ATOMIC_ACQUIRE) == ST_INIT_DONE && st_recording &&
	    (uint32_t)getpid() == st_pid) {
		st_recording = false; /* once, whichever path comes first */
		if (jit_names) /* the JIT's names for our stacks' code */
			st_jitset_flush(&st_jit_self, st_pid, geteuid());
		st_end_at_exit(); /* connections still open: "open at exit" */
		st_file_detach();
	}
}

static void st_finish(void)
{
	st_finish_with(true);
}

/* _exit() runs no destructor, and sshd's children, and many forked servers',
 * leave with it holding their connections: their ends are recorded here.  A
 * vfork child (another pid in its parent's memory) does nothing. */
void st_exit_now(void)
{
	if (st_following())
		st_finish_with(false);
}

/* A vfork child calling exit() runs this in its parent's memory: only the
 * process that attached may leave (st_pid is still the parent's there). */
__attribute__((destructor)) static void st_destructor(void)
{
	if (!st_following())
		return; /* sandboxed: not even getpid */
	if ((uint32_t)getpid() != st_pid) {
		__atomic_store_n(&st_fini_consumed, true, __ATOMIC_RELEASE);
		return;
	}
	st_finish();
}
