/*
 * The objects mapped into the process, recorded so the reader can name stack
 * addresses after the program has gone.  Recorded at start and whenever a stack
 * holds an address outside every known object (a dlopen since), or after a
 * dlclose.  The table is append-only; one scan runs at a time (a nested or
 * concurrent caller skips it: its addresses are covered by the running scan).
 */
#define _GNU_SOURCE
#include <elf.h>
#include <link.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>

#include "st_internal.h"

#define ST_MODS_MAX 1024

struct st_mod {
	uintptr_t lo, hi, bias;
	bool live;
	bool seen;
};

static struct st_mod st_mods[ST_MODS_MAX];
static unsigned st_nmods;
static int st_scanning;
static bool st_dirty;
static const char *st_exe_path;
static size_t st_exe_len;

struct st_found {
	uintptr_t lo, hi;
	const uint8_t *build_id;
	uint8_t build_id_len;
};

static const uint8_t *st_note_build_id(uintptr_t addr, size_t size, uint8_t *len)
{
	size_t off = 0;
	while (off + sizeof(ElfW(Nhdr)) <= size) {
		const ElfW(Nhdr) *nh = (const ElfW(Nhdr) *)(addr + off);
		size_t name = (nh->n_namesz + 3u) & ~3u;
		size_t desc = (nh->n_descsz + 3u) & ~3u;
		const char *nm = (const char *)(nh + 1);
		if (nh->n_type == NT_GNU_BUILD_ID && nh->n_namesz == 4 && memcmp(nm, "GNU", 4) == 0 &&
		    nh->n_descsz <= ST_BUILD_ID_MAX) {
			*len = (uint8_t)nh->n_descsz;
			return (const uint8_t *)nm + name;
		}
		off += sizeof *nh + name + desc;
	}
	return NULL;
}

void st_object_range(const struct dl_phdr_info *info, uintptr_t *lo, uintptr_t *hi)
{
	*lo = UINTPTR_MAX;
	*hi = 0;
	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		uintptr_t start = info->dlpi_addr + ph->p_vaddr;
		if (ph->p_type != PT_LOAD)
			continue;
		if (start < *lo)
			*lo = start;
		if (start + ph->p_memsz > *hi)
			*hi = start + ph->p_memsz;
	}
}

static void st_describe(const struct dl_phdr_info *info, struct st_found *f)
{
	st_object_range(info, &f->lo, &f->hi);
	f->build_id = NULL;
	f->build_id_len = 0;
	for (int i = 0; i < info->dlpi_phnum && f->build_id == NULL; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		if (ph->p_type == PT_NOTE)
			f->build_id = st_note_build_id(info->dlpi_addr + ph->p_vaddr, ph->p_memsz,
						       &f->build_id_len);
	}
}

static struct st_mod *st_known(uintptr_t bias, uintptr_t lo)
{
	unsigned n = __atomic_load_n(&st_nmods, __ATOMIC_ACQUIRE);
	for (unsigned i = 0; i < n; i++)
		if (st_mods[i].live && st_mods[i].bias == bias && st_mods[i].lo == lo)
			return &st_mods[i];
	return NULL;
}

static void st_emit(uint64_t ts, const struct st_mod *m, const char *path, size_t path_len,
		    const uint8_t *build_id, uint8_t build_id_len, uint16_t flags)
{
	st_record_module(ts, flags, m->bias, m->lo, m->hi, build_id, build_id_len, path,
			 path_len);
}

/* arg: when the objects found were known to be mapped (see st_modules_check) */
static int st_scan_one(struct dl_phdr_info *info, size_t size, void *arg)
{
	(void)size;
	struct st_found f;
	st_describe(info, &f);
	if (f.hi == 0)
		return 0;
	struct st_mod *m = st_known(info->dlpi_addr, f.lo);
	if (m != NULL) {
		m->seen = true;
		return 0;
	}
	unsigned n = st_nmods;
	if (n == ST_MODS_MAX)
		return 0;
	st_mods[n] = (struct st_mod){.lo = f.lo, .hi = f.hi, .bias = info->dlpi_addr,
				     .live = true, .seen = true};
	__atomic_store_n(&st_nmods, n + 1, __ATOMIC_RELEASE);
	const char *path = info->dlpi_name;
	size_t len = path ? strlen(path) : 0;
	if (len == 0 && n == 0) { /* the executable itself has no name here */
		path = st_exe_path;
		len = st_exe_len;
	}
	st_emit(*(const uint64_t *)arg, &st_mods[n], path, len, f.build_id, f.build_id_len, 0);
	st_python_consider(info);
	st_java_consider(info);
	return 0;
}

static void st_scan(uint64_t mapped_ts)
{
	if (__atomic_exchange_n(&st_scanning, 1, __ATOMIC_ACQUIRE))
		return;
	__atomic_store_n(&st_dirty, false, __ATOMIC_RELAXED);
	unsigned n = st_nmods;
	for (unsigned i = 0; i < n; i++)
		st_mods[i].seen = false;
	/* Signals blocked while dl_iterate_phdr holds the loader's lock, as
	 * libunwind does around its own calls: a handler that left with a jump
	 * would leave it held, and every other thread's dlopen would wait
	 * forever.  Only when objects changed: not on the hot path. */
	sigset_t all, saved;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &saved);
	dl_iterate_phdr(st_scan_one, &mapped_ts);
	pthread_sigmask(SIG_SETMASK, &saved, NULL);
	for (unsigned i = 0; i < n; i++) {
		if (st_mods[i].live && !st_mods[i].seen) {
			st_mods[i].live = false;
			st_emit(mapped_ts, &st_mods[i], "", 0, NULL, 0, ST_MOD_UNLOADED);
		}
	}
	__atomic_store_n(&st_scanning, 0, __ATOMIC_RELEASE);
}

void st_modules_init(const char *exe, size_t exe_len)
{
	st_exe_path = exe;
	st_exe_len = exe_len;
	st_scan(st_now_ns());
}

static bool st_covered(uint64_t ip)
{
	unsigned n = __atomic_load_n(&st_nmods, __ATOMIC_ACQUIRE);
	for (unsigned i = 0; i < n; i++)
		if (st_mods[i].live && ip >= st_mods[i].lo && ip < st_mods[i].hi)
			return true;
	return false;
}

/* An object holding one of the event's addresses was mapped when the call
 * returned, so new objects are recorded with the event's time: the reader
 * names a frame from the objects recorded at or before its event. */
struct st_jitset st_jit_self;

void st_modules_check(const uint64_t *ips, unsigned n, uint64_t event_ts)
{
	bool rescan = __atomic_load_n(&st_dirty, __ATOMIC_RELAXED);
	for (unsigned i = 0; i < n && !rescan; i++) {
		if (ips[i] & ST_FRAME_PY) { /* a Python frame: code object, instruction */
			i++;
			continue;
		}
		rescan = !(ips[i] & ST_FRAME_JAVA) && !st_covered(ips[i]) &&
			 !st_jitset_known(&st_jit_self, ips[i]);
	}
	if (!rescan)
		return;
	st_scan(event_ts);
	/* still in no object after a fresh scan: a JIT's code, named at exit
	 * from its perf map, and no reason to scan again */
	for (unsigned i = 0; i < n; i++) {
		if (ips[i] & ST_FRAME_PY)
			i++;
		else if (!(ips[i] & ST_FRAME_JAVA) && !st_covered(ips[i]))
			st_jitset_note(&st_jit_self, ips[i]);
	}
}

void st_modules_jumped(void)
{
	__atomic_store_n(&st_scanning, 0, __ATOMIC_RELEASE);
	__atomic_store_n(&st_dirty, true, __ATOMIC_RELAXED); /* it may have stopped half-way */
}

void st_modules_changed(void)
{
	__atomic_store_n(&st_dirty, true, __ATOMIC_RELAXED);
}

/* A forked child has its parent's objects under its own pid. */
void st_modules_replay(void)
{
	unsigned n = st_nmods;
	for (unsigned i = 0; i < n; i++)
		st_mods[i].live = false;
	st_nmods = 0;
	st_scanning = 0;
	st_scan(st_now_ns());
}
