/*
 * Stack symbolization.  Each recorded object is opened once per path with
 * libdwfl at its file addresses; a runtime address A in an object loaded with
 * bias B is looked up as A - 1 - B (return addresses point after the call).
 * A name is given only when libdwfl finds a symbol that contains the address
 * and the object still has the build-id recorded: otherwise "??".
 */
#define _GNU_SOURCE
#include <elfutils/libdwfl.h>
#include <stdlib.h>
#include <string.h>

#include "st_symbols.h"

struct st_objfile {
	char *path;
	Dwfl *dwfl;
	Dwfl_Module *mod;
	const unsigned char *build_id;
	int build_id_len;
	struct st_objfile *next;
};

struct st_pmod {
	const struct st_mod *m;
	char *path;
};

struct st_symbolizer {
	struct st_pmod *mods; /* all module records, by pid then time */
	size_t nmods;
	const struct st_proc **execs; /* process records, by pid then time */
	size_t nexecs;
	struct st_objfile *objs;
	char *debuginfo_path;
	Dwfl_Callbacks callbacks;
};

static int st_cmp_mod(const void *a, const void *b)
{
	const struct st_pmod *x = a, *y = b;
	if (x->m->pid != y->m->pid)
		return x->m->pid < y->m->pid ? -1 : 1;
	return x->m->ts < y->m->ts ? -1 : x->m->ts > y->m->ts;
}

static int st_cmp_proc(const void *a, const void *b)
{
	const struct st_proc *x = *(const struct st_proc *const *)a;
	const struct st_proc *y = *(const struct st_proc *const *)b;
	if (x->pid != y->pid)
		return x->pid < y->pid ? -1 : 1;
	return x->ts < y->ts ? -1 : x->ts > y->ts;
}

struct st_symbolizer *st_sym_new(struct st_trace *traces, size_t ntraces)
{
	struct st_symbolizer *s = calloc(1, sizeof *s);
	size_t nm = 0, np = 0;
	for (size_t i = 0; i < ntraces; i++) {
		nm += traces[i].nmods;
		np += traces[i].nprocs;
	}
	s->mods = calloc(nm + 1, sizeof *s->mods);
	s->execs = calloc(np + 1, sizeof *s->execs);
	for (size_t i = 0; i < ntraces; i++) {
		for (size_t k = 0; k < traces[i].nmods; k++) {
			const struct st_mod *m = &traces[i].mods[k];
			s->mods[s->nmods].m = m;
			s->mods[s->nmods++].path = strndup(m->path, m->path_len);
		}
		for (size_t k = 0; k < traces[i].nprocs; k++)
			s->execs[s->nexecs++] = &traces[i].procs[k];
	}
	qsort(s->mods, s->nmods, sizeof *s->mods, st_cmp_mod);
	qsort(s->execs, s->nexecs, sizeof *s->execs, st_cmp_proc);
	s->callbacks.find_elf = dwfl_build_id_find_elf;
	s->callbacks.find_debuginfo = dwfl_standard_find_debuginfo;
	s->callbacks.debuginfo_path = &s->debuginfo_path;
	return s;
}

static uint32_t st_exec_pid(const struct st_symbolizer *s, size_t i)
{
	return s->execs[i]->pid;
}

static uint32_t st_mod_pid(const struct st_symbolizer *s, size_t i)
{
	return s->mods[i].m->pid;
}

/* First index whose pid is not below pid, in an array sorted by pid then time. */
static size_t st_first_of(const struct st_symbolizer *s, size_t n, uint32_t pid,
			  uint32_t (*pid_at)(const struct st_symbolizer *, size_t))
{
	size_t lo = 0, hi = n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (pid_at(s, mid) < pid)
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
	uint64_t start = 0;
	for (size_t i = st_first_of(s, s->nexecs, pid, st_exec_pid);
	     i < s->nexecs && s->execs[i]->pid == pid && s->execs[i]->ts <= ts; i++)
		start = s->execs[i]->ts;
	return start;
}

static const struct st_pmod *st_find_module(const struct st_symbolizer *s, uint32_t pid,
					    uint64_t ts, uint64_t ip)
{
	uint64_t start = st_image_start(s, pid, ts);
	const struct st_pmod *found = NULL;
	for (size_t i = st_first_of(s, s->nmods, pid, st_mod_pid);
	     i < s->nmods && s->mods[i].m->pid == pid && s->mods[i].m->ts <= ts; i++) {
		const struct st_mod *m = s->mods[i].m;
		if (m->ts < start)
			continue;
		if (m->flags & ST_MOD_UNLOADED) {
			if (found && found->m->bias == m->bias && found->m->lo == m->lo)
				found = NULL;
		} else if (ip >= m->lo && ip < m->hi) {
			found = &s->mods[i];
		}
	}
	return found;
}

static struct st_objfile *st_open_obj(struct st_symbolizer *s, const char *path)
{
	for (struct st_objfile *o = s->objs; o; o = o->next)
		if (strcmp(o->path, path) == 0)
			return o;
	struct st_objfile *o = calloc(1, sizeof *o);
	o->path = strdup(path);
	o->dwfl = dwfl_begin(&s->callbacks);
	if (o->dwfl && path[0] == '/') {
		dwfl_report_begin(o->dwfl);
		o->mod = dwfl_report_elf(o->dwfl, path, path, -1, 0, false);
		dwfl_report_end(o->dwfl, NULL, NULL);
		if (o->mod) {
			GElf_Addr vaddr;
			o->build_id_len = dwfl_module_build_id(o->mod, &o->build_id, &vaddr);
		}
	}
	o->next = s->objs;
	s->objs = o;
	return o;
}

static bool st_same_build(const struct st_objfile *o, const struct st_mod *m)
{
	if (m->build_id_len == 0)
		return true; /* nothing recorded to compare with */
	return o->build_id_len == m->build_id_len &&
	       memcmp(o->build_id, m->build_id, m->build_id_len) == 0;
}

static void st_name(struct st_objfile *o, uint64_t addr, struct st_frame *out)
{
	GElf_Off off;
	GElf_Sym sym;
	const char *name = dwfl_module_addrinfo(o->mod, addr, &off, &sym, NULL, NULL, NULL);
	if (name && (sym.st_size == 0 || off < sym.st_size)) {
		out->sym = name;
		out->off = off + 1; /* of the return address, as backtrace(3) prints it */
	}
	Dwfl_Line *line = dwfl_module_getsrc(o->mod, addr);
	int lineno = 0;
	const char *file = line ? dwfl_lineinfo(line, NULL, &lineno, NULL, NULL, NULL) : NULL;
	if (file && lineno > 0) {
		out->file = file;
		out->line = lineno;
	}
}

void st_sym_frame(struct st_symbolizer *s, const struct st_ev *ev, uint64_t ip,
		  struct st_frame *out)
{
	memset(out, 0, sizeof *out);
	out->ip = ip;
	const struct st_pmod *pm = st_find_module(s, ev->pid, ev->ts, ip);
	if (pm == NULL)
		return;
	out->obj = pm->path;
	out->off = ip - pm->m->bias;
	struct st_objfile *o = st_open_obj(s, pm->path);
	if (o->mod == NULL)
		return;
	if (!st_same_build(o, pm->m)) {
		out->changed = true;
		return;
	}
	st_name(o, ip - 1 - pm->m->bias, out);
}

void st_sym_free(struct st_symbolizer *s)
{
	if (s == NULL)
		return;
	for (size_t i = 0; i < s->nmods; i++)
		free(s->mods[i].path);
	free(s->mods);
	free(s->execs);
	while (s->objs) {
		struct st_objfile *o = s->objs;
		s->objs = o->next;
		if (o->dwfl)
			dwfl_end(o->dwfl);
		free(o->path);
		free(o);
	}
	free(s);
}
