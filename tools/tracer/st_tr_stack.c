/*
 * Call stacks of a stopped thread (-k), and the objects their addresses
 * fall in.  libunwind's ptrace support unwinds with the objects' unwind
 * tables, as it does inside the shim; a program without them (Go, whose
 * amd64 code keeps frame pointers) is walked along its frame pointers with
 * process_vm_readv.  Objects come from /proc/PID/maps, read again when an
 * address falls outside every object known for the process.
 */
#define _GNU_SOURCE
#include <elf.h>
#include <fcntl.h>
#include <libunwind-ptrace.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/user.h>
#include <unistd.h>

#include "../../shim/st_elf.h"
#include "st_tracer.h"

unsigned st_tr_depth;

/* The objects recorded for the process whose stacks are taken now: the
 * tracer records stacks of one process at a time (per stop). */
struct st_tr_object {
	pid_t pid;
	uint64_t lo, hi;
};
static struct st_tr_object *st_tr_objects;
static size_t st_tr_nobjects, st_tr_objects_cap;
static pid_t st_tr_stack_pid;
static struct st_tr_proc *st_tr_stack_proc; /* the process st_tr_stack_pid names */

/*
 * One libunwind address space per traced process, with its caches kept
 * between stacks: libunwind's ptrace accessors remember the unwind tables of
 * one object at a time, and finding another reads /proc/PID/maps and maps
 * the object's file again; a stack through libc, the program and libc again
 * did that at every frame (about 450 us a stack).  The cache keys unwind
 * rules by address, so it is kept per process (another process may have
 * other code at the same address) and dropped when the process's code
 * changes: an exec, or a rescan of its objects that found new ones (a
 * library loaded where one was unloaded).
 */
static unw_addr_space_t st_tr_unw_space(struct st_tr_proc *p)
{
	if (p->unw_as == NULL) {
		p->unw_as = unw_create_addr_space(&_UPT_accessors, 0);
		if (p->unw_as != NULL)
			unw_set_caching_policy(p->unw_as, UNW_CACHE_GLOBAL);
	}
	return p->unw_as;
}

void st_tr_unwind_forget(struct st_tr_proc *p)
{
	if (p->unw_as != NULL)
		unw_destroy_addr_space(p->unw_as);
	p->unw_as = NULL;
}

/* The stopped thread's return addresses, and each frame's frame pointer
 * into fp (for the JVM's interpreter frames). */
static unsigned st_tr_unwind(struct st_tr_proc *p, pid_t tid, uint64_t *ip, uint64_t *fp,
			     unsigned max)
{
	unw_addr_space_t as = st_tr_unw_space(p);
	if (as == NULL)
		return 0;
	void *upt = _UPT_create(tid);
	if (upt == NULL)
		return 0;
	unw_cursor_t cursor;
	unsigned n = 0;
	if (unw_init_remote(&cursor, as, upt) == 0) {
		do {
			unw_word_t pc, bp;
			if (unw_get_reg(&cursor, UNW_REG_IP, &pc) != 0 || pc == 0)
				break;
			fp[n] = unw_get_reg(&cursor, UNW_X86_64_RBP, &bp) == 0 ? bp : 0;
			ip[n++] = pc;
		} while (n < max && unw_step(&cursor) > 0);
	}
	_UPT_destroy(upt);
	return n;
}

/* Frame pointers: [rbp] the caller's rbp, [rbp + 8] the return address. */
static unsigned st_tr_frame_walk(pid_t tid, uint64_t *ip, unsigned max)
{
	struct user_regs_struct regs;
	if (ptrace(PTRACE_GETREGS, tid, NULL, &regs) != 0)
		return 0;
	unsigned n = 0;
	ip[n++] = regs.rip;
	uint64_t fp = regs.rbp;
	while (n < max && fp >= regs.rsp && fp - regs.rsp < (64u << 20)) {
		uint64_t frame[2];
		if (!st_tr_read(tid, fp, frame, sizeof frame) || frame[1] == 0)
			break;
		ip[n++] = frame[1];
		if (frame[0] <= fp) /* the chain goes up the stack, or it ends */
			break;
		fp = frame[0];
	}
	return n;
}

static void st_tr_maps_scan(pid_t pid, uint64_t ts);

void st_tr_stack_take(struct st_tr_thread *t, struct st_stack *s)
{
	unsigned max = st_tr_depth < ST_FRAMES_MAX ? st_tr_depth : ST_FRAMES_MAX;
	st_tr_stack_pid = t->proc->pid;
	st_tr_stack_proc = t->proc;
	if (!t->proc->py_looked) {
		/* its objects now, not after this stack: CPython's among them */
		t->proc->py_looked = true;
		st_tr_maps_scan(t->proc->pid, st_now_ns());
	}
	uint64_t fps[ST_FRAMES_MAX] = {0};
	s->n = st_tr_unwind(t->proc, t->tid, s->ip, fps, max);
	if (s->n <= 1) { /* no unwind tables where it stopped */
		s->n = st_tr_frame_walk(t->tid, s->ip, max);
		memset(fps, 0, sizeof fps);
	}
	s->skipped = false;
	st_tr_python_frames(t, s);
	st_tr_java_frames(t->proc, s, fps);
}

static bool st_tr_covered(pid_t pid, uint64_t ip)
{
	for (size_t i = 0; i < st_tr_nobjects; i++)
		if (st_tr_objects[i].pid == pid && ip >= st_tr_objects[i].lo &&
		    ip < st_tr_objects[i].hi)
			return true;
	return false;
}

/* The load bias of an object mapped at start from file offset off: where
 * the segment holding off was placed, less where the file asked for it. */
static bool st_tr_bias(int fd, uint64_t start, uint64_t off, uint64_t *bias)
{
	Elf64_Ehdr eh;
	if (!st_elf_read_at(fd, &eh, sizeof eh, 0) || memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0 ||
	    eh.e_phentsize != sizeof(Elf64_Phdr))
		return false;
	for (unsigned i = 0; i < eh.e_phnum && i < 256; i++) {
		Elf64_Phdr ph;
		if (!st_elf_read_at(fd, &ph, sizeof ph, eh.e_phoff + i * sizeof ph))
			return false;
		if (ph.p_type == PT_LOAD && (ph.p_offset & ~4095ull) <= off &&
		    off < ph.p_offset + ph.p_filesz) {
			*bias = start - ((ph.p_vaddr & ~4095ull) + (off - (ph.p_offset & ~4095ull)));
			return true;
		}
	}
	return false;
}

static uint8_t st_tr_build_id(int fd, uint8_t *id)
{
	Elf64_Ehdr eh;
	if (!st_elf_read_at(fd, &eh, sizeof eh, 0))
		return 0;
	for (unsigned i = 0; i < eh.e_phnum && i < 256; i++) {
		Elf64_Phdr ph;
		if (!st_elf_read_at(fd, &ph, sizeof ph, eh.e_phoff + i * sizeof ph))
			return 0;
		if (ph.p_type != PT_NOTE || ph.p_filesz > 4096)
			continue;
		char note[4096];
		if (!st_elf_read_at(fd, note, ph.p_filesz, ph.p_offset))
			continue;
		for (size_t at = 0; at + sizeof(Elf64_Nhdr) <= ph.p_filesz;) {
			Elf64_Nhdr nh;
			memcpy(&nh, note + at, sizeof nh);
			size_t name = (nh.n_namesz + 3u) & ~3u, desc = (nh.n_descsz + 3u) & ~3u;
			if (at + sizeof nh + name + desc > ph.p_filesz)
				break;
			if (nh.n_type == NT_GNU_BUILD_ID && nh.n_namesz == 4 &&
			    memcmp(note + at + sizeof nh, "GNU", 4) == 0 &&
			    nh.n_descsz <= ST_BUILD_ID_MAX) {
				memcpy(id, note + at + sizeof nh + name, nh.n_descsz);
				return (uint8_t)nh.n_descsz;
			}
			at += sizeof nh + name + desc;
		}
	}
	return 0;
}

static void st_tr_object_add(pid_t pid, uint64_t lo, uint64_t hi)
{
	if (st_tr_nobjects == st_tr_objects_cap) {
		size_t cap = st_tr_objects_cap ? st_tr_objects_cap * 2 : 64;
		struct st_tr_object *grown = realloc(st_tr_objects, cap * sizeof *grown);
		if (grown == NULL)
			return;
		st_tr_objects = grown;
		st_tr_objects_cap = cap;
	}
	st_tr_objects[st_tr_nobjects++] = (struct st_tr_object){pid, lo, hi};
}

/* One executable mapping of a file: its object's record, once. */
static void st_tr_object_found(pid_t pid, uint64_t lo, uint64_t hi, uint64_t off,
			       const char *path, uint64_t ts)
{
	if (st_tr_covered(pid, lo))
		return;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
	if (fd < 0)
		return;
	uint64_t bias;
	uint8_t id[ST_BUILD_ID_MAX];
	if (st_tr_bias(fd, lo, off, &bias)) {
		uint8_t id_len = st_tr_build_id(fd, id);
		st_record_module(ts, 0, bias, lo, hi, id, id_len, path, strlen(path));
		st_tr_object_add(pid, lo, hi);
		if (st_tr_stack_proc != NULL && st_tr_stack_proc->pid == pid) {
			st_tr_python_object(st_tr_stack_proc, fd, bias, path);
			st_tr_java_object(st_tr_stack_proc, fd, bias, path);
			/* new code: unwind rules cached for its addresses may be
			 * an unloaded object's */
			if (st_tr_stack_proc->unw_as != NULL)
				unw_flush_cache(st_tr_stack_proc->unw_as, 0, 0);
		}
	}
	close(fd);
}

static void st_tr_maps_scan(pid_t pid, uint64_t ts)
{
	char path[64];
	snprintf(path, sizeof path, "/proc/%d/maps", (int)pid);
	FILE *f = fopen(path, "re");
	if (f == NULL)
		return;
	char line[4096 + 128];
	while (fgets(line, sizeof line, f)) {
		unsigned long long lo, hi, off;
		char perms[8];
		int name_at = 0;
		if (sscanf(line, "%llx-%llx %7s %llx %*s %*s %n", &lo, &hi, perms, &off, &name_at) < 4 ||
		    perms[2] != 'x' || name_at == 0 || line[name_at] != '/')
			continue;
		line[strcspn(line, "\n")] = '\0';
		st_tr_object_found(pid, lo, hi, off, line + name_at, ts);
	}
	fclose(f);
}

/* Whether ips[i] is an address that needs an object: not the two slots of
 * a Python frame (code object, instruction), not a JIT's code kept already. */
static bool st_tr_unnamed(const uint64_t *ips, unsigned i, const struct st_jitset *jits)
{
	return !(ips[i] & ST_FRAME_PY) && (i == 0 || !(ips[i - 1] & ST_FRAME_PY)) &&
	       !st_tr_covered(st_tr_stack_pid, ips[i]) &&
	       (jits == NULL || !st_jitset_known(jits, ips[i]));
}

void st_tr_stack_seen(const uint64_t *ips, unsigned n, uint64_t event_ts)
{
	struct st_tr_proc *p = st_tr_stack_proc;
	bool rescan = false;
	for (unsigned i = 0; i < n && !rescan; i++)
		rescan = st_tr_unnamed(ips, i, p ? p->jits : NULL);
	if (!rescan)
		return;
	st_tr_maps_scan(st_tr_stack_pid, event_ts);
	/* still in no object after a fresh scan: a JIT's code, named at the
	 * process's exit from its perf map, and no reason to scan again */
	for (unsigned i = 0; p != NULL && i < n; i++) {
		if (!st_tr_unnamed(ips, i, p->jits))
			continue;
		if (p->jits == NULL && (p->jits = calloc(1, sizeof *p->jits)) == NULL)
			return;
		st_jitset_note(p->jits, ips[i]);
	}
}

/* A process gone, or replaced by exec: its objects are no longer known. */
void st_tr_stack_forget(pid_t pid)
{
	if (st_tr_stack_proc != NULL && st_tr_stack_proc->pid == pid)
		st_tr_stack_proc = NULL;
	size_t kept = 0;
	for (size_t i = 0; i < st_tr_nobjects; i++)
		if (st_tr_objects[i].pid != pid)
			st_tr_objects[kept++] = st_tr_objects[i];
	st_tr_nobjects = kept;
}
