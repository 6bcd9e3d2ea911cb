/*
 * The threads and processes the tracer follows: threads by tid in an
 * open-addressing table (a server with thousands of threads is looked up
 * at every stop), processes owned by their threads and freed with the last.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "st_tracer.h"

static struct st_tr_thread **st_tr_slots;
static size_t st_tr_nslots, st_tr_nthreads;

static size_t st_tr_hash(pid_t tid, size_t nslots)
{
	return ((uint32_t)tid * 2654435761u) & (nslots - 1);
}

static void st_tr_place(struct st_tr_thread **slots, size_t nslots, struct st_tr_thread *t)
{
	size_t i = st_tr_hash(t->tid, nslots);
	while (slots[i] != NULL)
		i = (i + 1) & (nslots - 1);
	slots[i] = t;
}

static void st_tr_grow(void)
{
	size_t nslots = st_tr_nslots ? st_tr_nslots * 2 : 64;
	struct st_tr_thread **slots = calloc(nslots, sizeof *slots);
	if (slots == NULL) {
		perror("socktrace: tracer");
		exit(1);
	}
	for (size_t i = 0; i < st_tr_nslots; i++)
		if (st_tr_slots[i])
			st_tr_place(slots, nslots, st_tr_slots[i]);
	free(st_tr_slots);
	st_tr_slots = slots;
	st_tr_nslots = nslots;
}

struct st_tr_thread *st_tr_thread_find(pid_t tid)
{
	if (st_tr_nslots == 0)
		return NULL;
	for (size_t i = st_tr_hash(tid, st_tr_nslots); st_tr_slots[i];
	     i = (i + 1) & (st_tr_nslots - 1))
		if (st_tr_slots[i]->tid == tid)
			return st_tr_slots[i];
	return NULL;
}

static void st_tr_thread_adopt(struct st_tr_thread *t, struct st_tr_proc *proc)
{
	t->proc = proc;
	proc->threads++;
	proc->refs++;
}

struct st_tr_thread *st_tr_thread_add(pid_t tid, struct st_tr_proc *proc)
{
	struct st_tr_thread *t = st_tr_thread_find(tid);
	if (t != NULL)
		return t;
	if ((st_tr_nthreads + 1) * 2 > st_tr_nslots)
		st_tr_grow();
	t = calloc(1, sizeof *t);
	if (t == NULL) {
		perror("socktrace: tracer");
		exit(1);
	}
	t->tid = tid;
	st_tr_thread_adopt(t, proc);
	st_tr_place(st_tr_slots, st_tr_nslots, t);
	st_tr_nthreads++;
	return t;
}

/* Removal from linear probing: the entries after it in its run move back. */
void st_tr_thread_remove(struct st_tr_thread *t)
{
	size_t i = st_tr_hash(t->tid, st_tr_nslots);
	while (st_tr_slots[i] != t)
		i = (i + 1) & (st_tr_nslots - 1);
	st_tr_slots[i] = NULL;
	for (size_t j = (i + 1) & (st_tr_nslots - 1); st_tr_slots[j];
	     j = (j + 1) & (st_tr_nslots - 1)) {
		struct st_tr_thread *moved = st_tr_slots[j];
		st_tr_slots[j] = NULL;
		st_tr_place(st_tr_slots, st_tr_nslots, moved);
	}
	st_tr_nthreads--;
	struct st_tr_proc *p = t->proc;
	if (p != NULL && !t->exiting)
		p->threads--; /* gone without an exit stop (exec, detach) */
	if (p != NULL && --p->refs == 0)
		st_tr_proc_free(p);
	free(t);
}

void st_tr_proc_free(struct st_tr_proc *p)
{
	/* its pid may be another process's next: nothing known of it is kept */
	st_tr_jits_flush(p); /* let go while it runs (-p): its JIT code named now */
	free(p->jits);
	st_tr_stack_forget(p->pid);
	st_tr_python_forget(p);
	st_tr_java_forget(p);
	st_tr_unwind_forget(p);
	if (p->pidfd >= 0)
		close(p->pidfd);
	st_socktab_free(p->tab);
	free(p);
}


/* The last of a process's threads to reach its exit ends what it left open,
 * while its descriptors still exist. */
void st_tr_thread_exiting(struct st_tr_thread *t)
{
	if (t->exiting || t->proc == NULL)
		return;
	t->exiting = true;
	if (--t->proc->threads == 0)
		st_tr_proc_exiting(t->proc);
}

size_t st_tr_thread_count(void)
{
	return st_tr_nthreads;
}

void st_tr_thread_each(void (*fn)(struct st_tr_thread *, void *), void *arg)
{
	/* fn may remove the thread it is given: walk a copy */
	size_t n = 0;
	struct st_tr_thread **all = malloc((st_tr_nthreads + 1) * sizeof *all);
	if (all == NULL)
		return;
	for (size_t i = 0; i < st_tr_nslots; i++)
		if (st_tr_slots[i])
			all[n++] = st_tr_slots[i];
	for (size_t i = 0; i < n; i++)
		fn(all[i], arg);
	free(all);
}

struct st_tr_proc *st_tr_proc_new(pid_t pid, struct st_socktab *tab)
{
	struct st_tr_proc *p = calloc(1, sizeof *p);
	if (p == NULL || tab == NULL) {
		perror("socktrace: tracer");
		exit(1);
	}
	p->pid = pid;
	p->tab = tab;
	p->files_epoch = 1;
	p->pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
	static bool said;
	if (p->pidfd < 0 && !said) {
		/* the kernel's view of a traced socket needs pidfd_getfd */
		said = true;
		fprintf(stderr, "socktrace: pidfd_open: %s%s: endpoints the program did not pass, "
				"and bytes at close, are not recorded for process %d%s\n",
			strerror(errno),
			errno == ENOSYS ? " (Linux 5.6 or later is needed to ask the kernel "
					  "about a traced program's sockets)" : "",
			(int)pid, errno == ENOSYS ? "" : " and any other that fails so");
	}
	return p;
}

pid_t st_tr_tgid_of(pid_t tid)
{
	char path[64], buf[2048];
	snprintf(path, sizeof path, "/proc/%d/status", (int)tid);
	size_t n = st_read_file(path, buf, sizeof buf);
	buf[n < sizeof buf ? n : sizeof buf - 1] = '\0';
	const char *line = strstr(buf, "\nTgid:");
	return line ? (pid_t)atoi(line + 6) : -1;
}

/* A /proc file of pid, read whole into buf (NULs kept); its length. */
static size_t st_tr_proc_file(pid_t pid, const char *name, char *buf, size_t size)
{
	char path[64];
	snprintf(path, sizeof path, "/proc/%d/%s", (int)pid, name);
	return st_read_file(path, buf, size);
}

pid_t st_tr_ppid_of(pid_t pid)
{
	char buf[2048];
	size_t n = st_tr_proc_file(pid, "status", buf, sizeof buf);
	buf[n < sizeof buf ? n : sizeof buf - 1] = '\0';
	const char *line = strstr(buf, "\nPPid:");
	return line ? (pid_t)atoi(line + 6) : 0;
}

/* The process record, as the shim writes it from inside: the program, its
 * command line (arguments NUL-separated), the host. */
void st_tr_proc_record(struct st_tr_proc *p, pid_t tid)
{
	char exe[4096], cmd[4096], host[256];
	char path[64];
	snprintf(path, sizeof path, "/proc/%d/exe", (int)p->pid);
	ssize_t exe_len = readlink(path, exe, sizeof exe);
	if (exe_len < 0)
		exe_len = 0;
	size_t cmd_len = st_tr_proc_file(p->pid, "cmdline", cmd, sizeof cmd);
	if (st_tr_loader_program(p->pid, cmd, cmd_len, exe, sizeof exe))
		exe_len = (ssize_t)strlen(exe);
	if (gethostname(host, sizeof host) != 0)
		host[0] = '\0';
	host[sizeof host - 1] = '\0';
	st_record_as((uint32_t)p->pid, (uint32_t)tid);
	st_record_process((uint32_t)st_tr_ppid_of(p->pid), exe, (size_t)exe_len, cmd, cmd_len, host,
			  strlen(host));
}
