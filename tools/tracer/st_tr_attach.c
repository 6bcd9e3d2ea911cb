/*
 * socktrace -p: following processes already running, all their threads,
 * until they exit or the launcher is asked to stop; then every thread is
 * let go, with the signal its stop was delivering, so the program goes on
 * as if nobody had looked.  Attached threads stop at every system call
 * (a seccomp filter cannot be added to a running process without changing
 * it); the calls the core does not want are resumed at once.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <unistd.h>

#include "st_tracer.h"

/* Why a process cannot be attached, in words. */
static void st_tr_why_not(pid_t pid, int err)
{
	char path[64], status[4096];
	snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
	size_t n = st_read_file(path, status, sizeof status - 1);
	status[n] = '\0';
	const char *tracer = strstr(status, "\nTracerPid:");
	int tracer_pid = tracer ? atoi(tracer + 11) : 0;
	if (n == 0 || err == ESRCH)
		fprintf(stderr, "socktrace: -p %d: no such process\n", (int)pid);
	else if (strstr(status, "\nState:\tZ") != NULL)
		fprintf(stderr, "socktrace: -p %d: a zombie: it has exited, nothing to trace\n",
			(int)pid);
	else if (tracer_pid != 0)
		fprintf(stderr, "socktrace: -p %d: already traced by process %d (a debugger or "
				"strace): a process has one tracer at a time\n",
			(int)pid, tracer_pid);
	else if (err == EPERM)
		fprintf(stderr, "socktrace: -p %d: not permitted to trace it (another user's "
				"process, Yama's ptrace_scope, or no CAP_SYS_PTRACE here)\n",
			(int)pid);
	else
		fprintf(stderr, "socktrace: -p %d: %s\n", (int)pid, strerror(err));
}

static bool st_tr_seize(pid_t tid)
{
	return ptrace(PTRACE_SEIZE, tid, 0L, (long)ST_TR_ATTACH_OPTIONS) == 0 &&
	       ptrace(PTRACE_INTERRUPT, tid, 0L, 0L) == 0;
}

/* Every thread of pid, seized; again until a pass finds none new (threads
 * started by one not yet seized are missed by the pass that listed it). */
static bool st_tr_seize_all(struct st_tr_proc *p)
{
	char path[64];
	snprintf(path, sizeof path, "/proc/%d/task", (int)p->pid);
	for (int pass = 0; pass < 100; pass++) {
		DIR *dir = opendir(path);
		if (dir == NULL)
			return false;
		bool found_new = false;
		struct dirent *de;
		while ((de = readdir(dir)) != NULL) {
			pid_t tid = (pid_t)atoi(de->d_name);
			if (tid <= 0 || st_tr_thread_find(tid) != NULL)
				continue;
			if (!st_tr_seize(tid)) {
				if (tid == p->pid) {
					int err = errno;
					closedir(dir);
					errno = err;
					return false;
				}
				continue; /* a thread that exited meanwhile */
			}
			st_tr_thread_add(tid, p);
			found_new = true;
		}
		closedir(dir);
		if (!found_new)
			return true;
	}
	return true;
}

/* The socket fds of a process, from /proc/PID/fd, and their inodes when
 * inodes is not NULL; how many (at most max). */
static size_t st_tr_socket_fds(pid_t pid, int *fds, uint64_t *inodes, size_t max)
{
	char path[64], link[64];
	snprintf(path, sizeof path, "/proc/%d/fd", (int)pid);
	DIR *dir = opendir(path);
	if (dir == NULL)
		return 0;
	size_t n = 0;
	struct dirent *de;
	while ((de = readdir(dir)) != NULL && n < max) {
		char full[64 + sizeof de->d_name];
		snprintf(full, sizeof full, "%s/%s", path, de->d_name);
		ssize_t len = de->d_name[0] == '.' ? -1 : readlink(full, link, sizeof link - 1);
		if (len > 7 && strncmp(link, "socket:", 7) == 0) {
			link[len] = '\0';
			if (inodes)
				inodes[n] = strtoull(link + 8, NULL, 10); /* socket:[INODE] */
			fds[n++] = atoi(de->d_name);
		}
	}
	closedir(dir);
	return n;
}

/* A listening socket's local end, or false. */
static bool st_tr_listener(int fd, struct st_addr *local)
{
	int listening = 0;
	socklen_t len = sizeof listening;
	local->len = sizeof local->ss;
	return st_kernel_getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) == 0 &&
	       listening && st_kernel_name(false, fd, (struct sockaddr *)&local->ss, &local->len) == 0;
}

static uint16_t st_tr_port(const struct st_addr *a)
{
	if (a->ss.ss_family == AF_INET)
		return ((const struct sockaddr_in *)&a->ss)->sin_port;
	if (a->ss.ss_family == AF_INET6)
		return ((const struct sockaddr_in6 *)&a->ss)->sin6_port;
	return 0;
}

/* The listener a connected socket was accepted from: one of the same
 * process with its family and local port (ss's view of a server end). */
static int st_tr_accepted_from(int fd, const int *listeners, const struct st_addr *ends,
			       size_t nlisteners)
{
	struct st_addr local;
	local.len = sizeof local.ss;
	if (st_kernel_name(false, fd, (struct sockaddr *)&local.ss, &local.len) != 0)
		return -1;
	for (size_t i = 0; i < nlisteners; i++)
		if (ends[i].ss.ss_family == local.ss.ss_family && st_tr_port(&local) != 0 &&
		    st_tr_port(&ends[i]) == st_tr_port(&local))
			return listeners[i];
	return -1;
}

/* The sockets it already holds: each connected one recorded with both ends
 * and followed from now on, as the shim follows a socket it finds connected,
 * so -c lists its connection and its end. */
static void st_tr_held_sockets(struct st_tr_proc *p)
{
	enum { ST_TR_HELD_MAX = 4096 };
	static int fds[ST_TR_HELD_MAX], listeners[ST_TR_HELD_MAX];
	static struct st_addr ends[ST_TR_HELD_MAX];
	size_t n = st_tr_socket_fds(p->pid, fds, NULL, ST_TR_HELD_MAX), nlisteners = 0;
	p->may_receive = n > 0; /* any of them may be a Unix socket */
	st_tr_kernel_use(p);
	st_record_as((uint32_t)p->pid, (uint32_t)p->pid);
	for (size_t i = 0; i < n; i++) {
		if (st_tr_listener(fds[i], &ends[nlisteners]))
			listeners[nlisteners++] = fds[i];
		st_tr_kernel_release();
	}
	for (size_t i = 0; i < n; i++) {
		st_call_held(fds[i], st_tr_accepted_from(fds[i], listeners, ends, nlisteners));
		st_tr_kernel_release();
	}
}

/* After an exec: the sockets the new program starts with, followed as the
 * shim follows them in a program it starts in (st_call_started_with). */
void st_tr_started_sockets(struct st_tr_proc *p)
{
	enum { ST_TR_STARTED_MAX = 256 };
	static int fds[ST_TR_STARTED_MAX];
	static uint64_t inodes[ST_TR_STARTED_MAX];
	size_t n = st_tr_socket_fds(p->pid, fds, inodes, ST_TR_STARTED_MAX);
	if (n == 0)
		return;
	p->may_receive = true; /* any of them may be a Unix socket */
	st_tr_kernel_use(p);
	st_record_as((uint32_t)p->pid, (uint32_t)p->pid);
	st_call_started_with(fds, inodes, n);
	st_tr_kernel_release();
}

static void st_tr_ask_stop(int sig)
{
	(void)sig;
	st_tr_stop_asked = 1;
}

static void st_tr_stop_on_signals(void)
{
	/* no SA_RESTART: the wait returns, and the loop starts letting go */
	struct sigaction sa = {.sa_handler = st_tr_ask_stop};
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
}

int st_tracer_attach(const struct st_tr_options *o, const pid_t *pids, size_t npids)
{
	st_tr_stop_on_signals();
	signal(SIGXFSZ, SIG_IGN); /* a trace past RLIMIT_FSIZE: EFBIG, not death */
	st_tr_more_fds();
	if (!st_tr_open_trace(o))
		return 2;
	size_t attached = 0;
	for (size_t i = 0; i < npids; i++) {
		/* a thread's id names its whole process, as for strace -p */
		pid_t tgid = st_tr_tgid_of(pids[i]);
		pid_t pid = tgid > 0 ? tgid : pids[i];
		if (st_tr_thread_find(pid) != NULL)
			continue;
		struct st_tr_proc *p = st_tr_proc_new(pid, st_socktab_new());
		if (!st_tr_seize_all(p)) {
			st_tr_why_not(pid, errno);
			if (p->refs == 0)
				st_tr_proc_free(p);
			else
				st_tr_abandon(p); /* the threads seized before the failure */
			continue;
		}
		st_tr_proc_record(p, p->pid);
		st_tr_held_sockets(p);
		attached++;
	}
	if (attached == 0) {
		st_file_detach();
		return 2;
	}
	if (!o->quiet)
		fprintf(stderr, "socktrace: attached to %zu process%s; Ctrl-C to detach\n",
			attached, attached == 1 ? "" : "es");
	st_tr_loop(0);
	st_file_detach();
	return 0;
}
