/*
 * Stack symbolization.  Each recorded object is opened once per (path,
 * build-id), lazily, with libdwfl at its file addresses, and shared by every
 * process that mapped it (forked servers map the same objects).  A runtime
 * address A in an object loaded with bias B is looked up as A - 1 - B (return
 * addresses point after the call), and each distinct (object, address) is
 * named once: the answer is cached.  A name is given only when libdwfl finds
 * a symbol that contains the address and the object still has the build-id
 * recorded: otherwise "??".
 *
 * A trace is untrusted input: a module path is opened only if it is an
 * absolute path to a regular file outside /proc, /dev and /sys, without
 * blocking (a FIFO would hang the reader forever), and the descriptor is
 * handed to libdwfl so it opens nothing else by that name.
 */
#define _GNU_SOURCE
#include <elfutils/libdw.h>
#include <elfutils/libdwfl.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "st_gopcln.h"
#include "st_jitlive.h"
#include "st_jitsyms.h"
#include "st_pysyms.h"
#include "st_gopcln.h"
#include "st_symbols.h"
#include "st_xalloc.h"

/* libstdc++'s demangler: C++ names, and Rust's legacy ones (_ZN...17h<hash>E). */
extern char *__cxa_demangle(const char *mangled, char *out, size_t *len, int *status);

struct st_objfile {
	char *path;
	uint8_t build_id[ST_BUILD_ID_MAX];
	uint8_t build_id_len;
	bool tried;
	bool asked_aranges, no_aranges; /* Go's objects have no .debug_aranges */
	Dwfl *dwfl;
	Dwfl_Module *mod;
	const unsigned char *disk_id;
	int disk_id_len;
	struct st_gopcln *go; /* a stripped Go object's own table, asked when libdwfl names nothing */
	bool go_asked;
	struct st_objfile *next;
};

struct st_pmod {
	uint32_t pid;
	uint16_t flags;
	uint64_t ts, bias, lo, hi;
	size_t seq; /* order of arrival: equal times keep the file's order */
	struct st_objfile *obj;
};

struct st_exec {
	uint32_t pid;
	uint64_t ts;
	size_t seq;
};

struct st_named { /* one cache entry: (obj, addr) -> answer */
	const struct st_objfile *obj;
	uint64_t addr;
	const char *sym; /* owned when demangled */
	bool sym_owned;
	uint64_t off;
	const char *file;
	int line;
};

struct st_symbolizer {
	struct st_pmod *mods; /* by pid, then time */
	size_t nmods, mods_cap;
	struct st_exec *execs; /* by pid, then time */
	size_t nexecs, execs_cap;
	bool sorted; /* mods and execs by pid, time, arrival: sorted at first lookup */
	struct st_objfile *objs;
	struct st_named *cache;
	size_t cache_n, cache_cap;
	size_t opened, named;
	FILE *warn;
	char *debuginfo_path;
	Dwfl_Callbacks callbacks;
	struct st_pysyms *py; /* Python code records (version 5), once one comes */
	struct st_jitsyms *jit; /* JIT symbol records (version 5), once one comes */
	struct st_jitlive *live; /* -f: running programs' own perf maps, or NULL */
};

struct st_symbolizer *st_sym_new(FILE *warn)
{
	struct st_symbolizer *s = calloc(1, sizeof *s);
	if (s == NULL)
		return NULL;
	s->warn = warn;
	s->callbacks.find_elf = dwfl_build_id_find_elf;
	s->callbacks.find_debuginfo = dwfl_standard_find_debuginfo;
	s->callbacks.debuginfo_path = &s->debuginfo_path;
	return s;
}

static int st_by_pid_time(uint32_t pid_a, uint64_t ts_a, size_t seq_a, uint32_t pid_b,
			  uint64_t ts_b, size_t seq_b)
{
	if (pid_a != pid_b)
		return pid_a < pid_b ? -1 : 1;
	if (ts_a != ts_b)
		return ts_a < ts_b ? -1 : 1;
	return seq_a < seq_b ? -1 : seq_a > seq_b;
}

static int st_pmod_order(const void *a, const void *b)
{
	const struct st_pmod *x = a, *y = b;
	return st_by_pid_time(x->pid, x->ts, x->seq, y->pid, y->ts, y->seq);
}

static int st_exec_order(const void *a, const void *b)
{
	const struct st_exec *x = a, *y = b;
	return st_by_pid_time(x->pid, x->ts, x->seq, y->pid, y->ts, y->seq);
}

/* Records are appended as they come and sorted once, when the first frame
 * is named: inserting each in place cost a walk over every later pid's
 * records, quadratic in a trace of many processes. */
static void st_sym_sort(struct st_symbolizer *s)
{
	if (s->sorted)
		return;
	if (s->nmods)
		qsort(s->mods, s->nmods, sizeof *s->mods, st_pmod_order);
	if (s->nexecs)
		qsort(s->execs, s->nexecs, sizeof *s->execs, st_exec_order);
	s->sorted = true;
}

/* One object per (path, build-id): the same library in a thousand processes. */
static struct st_objfile *st_obj_for(struct st_symbolizer *s, const struct st_mod *m)
{
	for (struct st_objfile *o = s->objs; o; o = o->next)
		if (strlen(o->path) == m->path_len && memcmp(o->path, m->path, m->path_len) == 0 &&
		    o->build_id_len == m->build_id_len &&
		    memcmp(o->build_id, m->build_id, m->build_id_len) == 0)
			return o;
	struct st_objfile *o = calloc(1, sizeof *o);
	if (o == NULL)
		return NULL;
	o->path = strndup(m->path, m->path_len);
	o->build_id_len = m->build_id_len;
	memcpy(o->build_id, m->build_id, m->build_id_len);
	o->next = s->objs;
	s->objs = o;
	return o;
}

void st_sym_add_module(struct st_symbolizer *s, const struct st_mod *m)
{
	struct st_objfile *o = (m->flags & ST_MOD_UNLOADED) ? NULL : st_obj_for(s, m);
	s->mods = st_grow(s->mods, &s->mods_cap, s->nmods + 1, sizeof *s->mods);
	s->mods[s->nmods] = (struct st_pmod){m->pid, m->flags, m->ts, m->bias, m->lo, m->hi,
					     s->nmods, o};
	s->nmods++;
	s->sorted = false;
}

void st_sym_add_process(struct st_symbolizer *s, const struct st_proc *p)
{
	s->execs = st_grow(s->execs, &s->execs_cap, s->nexecs + 1, sizeof *s->execs);
	s->execs[s->nexecs] = (struct st_exec){p->pid, p->ts, s->nexecs};
	s->nexecs++;
	s->sorted = false;
}

void st_sym_add_traces(struct st_symbolizer *s, const struct st_trace *t, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		for (size_t k = 0; k < t[i].nmods; k++)
			st_sym_add_module(s, &t[i].mods[k]);
		for (size_t k = 0; k < t[i].nprocs; k++)
			st_sym_add_process(s, &t[i].procs[k]);
		for (size_t k = 0; k < t[i].npycodes; k++)
			st_sym_add_pycode(s, &t[i].pycodes[k]);
		for (size_t k = 0; k < t[i].njits; k++)
			st_sym_add_jit(s, &t[i].jits[k]);
	}
}

bool st_sym_has_jit(const struct st_symbolizer *s)
{
	return s != NULL && s->jit != NULL;
}

void st_sym_add_jit(struct st_symbolizer *s, const struct st_jit *j)
{
	if (s->jit == NULL)
		s->jit = st_jitsyms_new();
	st_jitsyms_add(s->jit, j->pid, j->start, j->size, j->name, j->name_len);
}

void st_sym_add_pycode(struct st_symbolizer *s, const struct st_pyc *c)
{
	if (s->py == NULL)
		s->py = st_pysyms_new();
	st_pysyms_add(s->py, c);
}

unsigned st_sym_frame_at(struct st_symbolizer *s, const struct st_ev *ev, unsigned i,
			 struct st_frame *out)
{
	uint64_t ip, instr; /* frames sit in the mapped file, maybe unaligned */
	memcpy(&ip, &ev->frames[i], sizeof ip);
	if (!(ip & ST_FRAME_PY) || i + 1 >= ev->nframes) {
		st_sym_frame(s, ev, ip, out);
		return 1;
	}
	memcpy(&instr, &ev->frames[i + 1], sizeof instr);
	uint64_t code = ip & ~ST_FRAME_PY;
	*out = (struct st_frame){.ip = code, .py = true, .off = instr};
	if (s->py == NULL || !st_pysyms_name(s->py, ev->pid, code, (int64_t)instr, ev->ts,
					     &out->file, &out->sym, &out->line))
		out->file = out->sym = NULL;
	return 2;
}

/* First index whose pid is not below pid. */
static size_t st_first_mod(const struct st_symbolizer *s, uint32_t pid)
{
	size_t lo = 0, hi = s->nmods;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (s->mods[mid].pid < pid)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* The latest process record of pid at or before ts: modules before it belong
 * to an image that exec replaced. */
static uint64_t st_image_start(const struct st_symbolizer *s, uint32_t pid, uint64_t ts)
{
	size_t lo = 0, hi = s->nexecs;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (st_by_pid_time(s->execs[mid].pid, s->execs[mid].ts, 0, pid, ts + 1, 0) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo > 0 && s->execs[lo - 1].pid == pid ? s->execs[lo - 1].ts : 0;
}

static const struct st_pmod *st_find_module(struct st_symbolizer *s, uint32_t pid,
					    uint64_t ts, uint64_t ip)
{
	st_sym_sort(s);
	uint64_t start = st_image_start(s, pid, ts);
	const struct st_pmod *found = NULL;
	for (size_t i = st_first_mod(s, pid); i < s->nmods && s->mods[i].pid == pid &&
					      s->mods[i].ts <= ts; i++) {
		const struct st_pmod *m = &s->mods[i];
		if (m->ts < start)
			continue;
		if (m->flags & ST_MOD_UNLOADED) {
			if (found && found->bias == m->bias && found->lo == m->lo)
				found = NULL;
		} else if (ip >= m->lo && ip < m->hi) {
			found = m;
		}
	}
	return found;
}

/* An fd for path, or -1 and why: only regular files outside the kernel's
 * pseudo-filesystems, and never a wait on a FIFO or a device. */
static int st_safe_open(const char *path, const char **why)
{
	char real[PATH_MAX];
	if (path[0] != '/') {
		*why = "not an absolute path";
		return -1;
	}
	if (realpath(path, real) == NULL) {
		*why = strerror(errno);
		return -1;
	}
	static const char *const pseudo[] = {"/proc/", "/dev/", "/sys/"};
	for (size_t i = 0; i < 3; i++)
		if (strncmp(real, pseudo[i], strlen(pseudo[i])) == 0) {
			*why = "in a kernel pseudo-filesystem (refused)";
			return -1;
		}
	int fd = open(real, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) < 0) {
		*why = strerror(errno);
		if (fd >= 0)
			close(fd);
		return -1;
	}
	if (!S_ISREG(st.st_mode)) {
		*why = S_ISFIFO(st.st_mode) ? "a FIFO, not a regular file"
		       : S_ISDIR(st.st_mode) ? "a directory, not a regular file"
					      : "a device or special file, not a regular file";
		close(fd);
		return -1;
	}
	return fd;
}

static void st_obj_load(struct st_symbolizer *s, struct st_objfile *o)
{
	o->tried = true;
	const char *why = NULL;
	int fd = st_safe_open(o->path, &why);
	if (fd >= 0 && (o->dwfl = dwfl_begin(&s->callbacks)) != NULL) {
		dwfl_report_begin(o->dwfl);
		/* libdwfl takes the fd: it opens nothing by the trace's name */
		o->mod = dwfl_report_elf(o->dwfl, o->path, o->path, fd, 0, false);
		dwfl_report_end(o->dwfl, NULL, NULL);
		fd = -1;
		if (o->mod) {
			GElf_Addr vaddr;
			o->disk_id_len = dwfl_module_build_id(o->mod, &o->disk_id, &vaddr);
		} else {
			why = "not an ELF object libdwfl can read";
		}
	}
	if (fd >= 0)
		close(fd);
	s->opened++;
	if (o->mod == NULL && s->warn && o->path[0])
		fprintf(s->warn, "socktrace-dump: warning: cannot name frames in %s: %s\n", o->path,
			why ? why : "libdwfl failed");
}

static bool st_same_build(const struct st_objfile *o)
{
	if (o->build_id_len == 0)
		return true; /* nothing recorded to compare with */
	return o->disk_id_len == o->build_id_len &&
	       memcmp(o->disk_id, o->build_id, o->build_id_len) == 0;
}

static size_t st_cache_slot(const struct st_symbolizer *s, const struct st_objfile *o,
			    uint64_t addr)
{
	uint64_t h = (addr ^ (uint64_t)(uintptr_t)o) * 0x9e3779b97f4a7c15ull;
	size_t i = (size_t)(h >> 20) & (s->cache_cap - 1);
	while (s->cache[i].obj && !(s->cache[i].obj == o && s->cache[i].addr == addr))
		i = (i + 1) & (s->cache_cap - 1);
	return i;
}

static void st_cache_grow(struct st_symbolizer *s)
{
	struct st_named *old = s->cache;
	size_t old_cap = s->cache_cap;
	s->cache_cap = old_cap ? old_cap * 2 : 1024;
	s->cache = st_xcalloc(s->cache_cap, sizeof *s->cache);
	for (size_t i = 0; i < old_cap; i++)
		if (old[i].obj)
			s->cache[st_cache_slot(s, old[i].obj, old[i].addr)] = old[i];
	free(old);
}

/*
 * The line of addr when libdwfl cannot find its compile unit: Go's linker
 * writes no .debug_aranges, the table libdwfl looks units up in ("address
 * out of range"), so the units are asked one by one for their ranges, as
 * addr2line does.  Only for objects whose first lookup failed so.
 */
static Dwarf_Line *st_line_by_units(Dwfl_Module *mod, uint64_t addr)
{
	Dwarf_Addr bias;
	Dwarf *dw = dwfl_module_getdwarf(mod, &bias);
	Dwarf_Off off = 0, next;
	size_t header;
	while (dw && dwarf_nextcu(dw, off, &next, &header, NULL, NULL, NULL) == 0) {
		Dwarf_Die cu;
		if (dwarf_offdie(dw, off + header, &cu) && dwarf_haspc(&cu, addr - bias) > 0)
			return dwarf_getsrc_die(&cu, addr - bias);
		off = next;
	}
	return NULL;
}

/* Whether the object's DWARF has the address table libdwfl looks in. */
static bool st_has_aranges(Dwfl_Module *mod)
{
	Dwarf_Addr bias;
	Dwarf *dw = dwfl_module_getdwarf(mod, &bias);
	Dwarf_Aranges *aranges;
	size_t n = 0;
	return dw == NULL || (dwarf_getaranges(dw, &aranges, &n) == 0 && n > 0);
}

/* A frame of a Go object with no symbol table (a distribution strips Go
 * programs but not the .gopclntab their runtime needs), named from it. */
static void st_name_go(struct st_objfile *o, uint64_t addr, struct st_named *n)
{
	GElf_Addr bias = 0;
	Elf *elf = dwfl_module_getelf(o->mod, &bias);
	if (!o->go_asked) {
		o->go_asked = true;
		o->go = st_gopcln_open(elf); /* reads the Elf libdwfl owns until dwfl_end */
	}
	const char *name, *file;
	uint64_t entry;
	int line;
	if (o->go == NULL || !st_gopcln_lookup(o->go, addr - bias, &name, &entry, &file, &line))
		return;
	n->sym = name;
	n->off = addr - bias - entry + 1; /* of the return address, as for C */
	if (file != NULL && n->file == NULL) {
		n->file = file;
		n->line = line;
	}
}

static void st_name(struct st_symbolizer *s, struct st_objfile *o, uint64_t addr,
		    struct st_named *n)
{
	GElf_Off off;
	GElf_Sym sym;
	s->named++;
	const char *name = dwfl_module_addrinfo(o->mod, addr, &off, &sym, NULL, NULL, NULL);
	if (name && (sym.st_size == 0 || off < sym.st_size)) {
		int status = -1;
		char *plain = strncmp(name, "_Z", 2) == 0 ? __cxa_demangle(name, NULL, NULL, &status)
							  : NULL;
		n->sym = status == 0 && plain ? plain : name;
		n->sym_owned = n->sym == plain;
		if (!n->sym_owned)
			free(plain);
		n->off = off + 1; /* of the return address, as backtrace(3) prints it */
	}
	if (!o->asked_aranges) {
		o->asked_aranges = true;
		o->no_aranges = !st_has_aranges(o->mod);
	}
	int lineno = 0;
	const char *file = NULL;
	if (!o->no_aranges) {
		Dwfl_Line *line = dwfl_module_getsrc(o->mod, addr);
		file = line ? dwfl_lineinfo(line, NULL, &lineno, NULL, NULL, NULL) : NULL;
	} else {
		Dwarf_Line *unit_line = st_line_by_units(o->mod, addr);
		if (unit_line && dwarf_lineno(unit_line, &lineno) == 0)
			file = dwarf_linesrc(unit_line, NULL, NULL);
	}
	if (file && lineno > 0) {
		n->file = file;
		n->line = lineno;
	}
	if (n->sym == NULL)
		st_name_go(o, addr, n);
}

static const struct st_named *st_named_at(struct st_symbolizer *s, struct st_objfile *o,
					  uint64_t addr)
{
	if (s->cache_n * 2 >= s->cache_cap)
		st_cache_grow(s);
	size_t i = st_cache_slot(s, o, addr);
	if (s->cache[i].obj == NULL) {
		s->cache[i] = (struct st_named){.obj = o, .addr = addr};
		st_name(s, o, addr, &s->cache[i]);
		s->cache_n++;
	}
	return &s->cache[i];
}

/* -f: an unnamed frame of a program still running may be JIT code its perf
 * map named after the shim last copied it (st_jitlive.c). */
static bool st_sym_live_jit_name(struct st_symbolizer *s, const struct st_ev *ev, uint64_t ip,
				 struct st_frame *out)
{
	if (s->jit == NULL)
		s->jit = st_jitsyms_new();
	return st_jitlive_refresh(s->live, s->jit, ev->pid, ev->ts) &&
	       st_jitsyms_name(s->jit, ev->pid, ip, &out->sym, &out->file, &out->line, &out->js,
				   &out->java);
}

void st_sym_live_jit(struct st_symbolizer *s, const char *boot_id, uint64_t clock_offset_ns)
{
	if (s != NULL && s->live == NULL)
		s->live = st_jitlive_new(boot_id, clock_offset_ns);
}

void st_sym_frame(struct st_symbolizer *s, const struct st_ev *ev, uint64_t ip,
		  struct st_frame *out)
{
	memset(out, 0, sizeof *out);
	out->ip = ip;
	const struct st_pmod *pm = st_find_module(s, ev->pid, ev->ts, ip);
	if (pm == NULL &&
	    st_jitsyms_name(s->jit, ev->pid, ip, &out->sym, &out->file, &out->line, &out->js,
				   &out->java))
		out->jit = true; /* code a JIT made, named by its perf map */
	else if (pm == NULL && s->live && st_sym_live_jit_name(s, ev, ip, out))
		out->jit = true; /* the same, read from the running program's map */
	if (pm == NULL || pm->obj == NULL)
		return;
	struct st_objfile *o = pm->obj;
	out->obj = o->path;
	out->off = ip - pm->bias;
	if (!o->tried)
		st_obj_load(s, o);
	if (o->mod == NULL)
		return;
	if (!st_same_build(o)) {
		out->changed = true;
		return;
	}
	const struct st_named *n = st_named_at(s, o, ip - 1 - pm->bias);
	if (n->sym) {
		out->sym = n->sym;
		out->off = n->off;
	}
	out->file = n->file;
	out->line = n->line;
}

void st_sym_counts(const struct st_symbolizer *s, size_t *opened, size_t *named)
{
	*opened = s->opened;
	*named = s->named;
}

void st_sym_free(struct st_symbolizer *s)
{
	if (s == NULL)
		return;
	for (size_t i = 0; i < s->cache_cap; i++)
		if (s->cache[i].sym_owned)
			free((char *)s->cache[i].sym);
	free(s->cache);
	free(s->mods);
	free(s->execs);
	while (s->objs) {
		struct st_objfile *o = s->objs;
		s->objs = o->next;
		st_gopcln_free(o->go); /* points into the Elf dwfl_end frees */
		if (o->dwfl)
			dwfl_end(o->dwfl);
		free(o->path);
		free(o);
	}
	free(s->debuginfo_path);
	st_pysyms_free(s->py);
	st_jitsyms_free(s->jit);
	st_jitlive_free(s->live);
	free(s);
}
