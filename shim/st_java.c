/*
 * Interpreted Java methods in the stacks (SOCKTRACE_BACKTRACE) of a HotSpot
 * JVM.  Compiled Java code is named from the JVM's perf map (core/
 * st_jitmap.c); code the interpreter runs is one blob, "Interpreter", for
 * every method, so its frames name no method.  Each interpreter frame holds
 * its Method* and the pointer to its current bytecode at fixed slots below
 * its frame pointer (HotSpot's frame_x86.hpp), and the JVM publishes the
 * layout of its own structures for debuggers (gHotSpotVMStructs, read by the
 * serviceability agent): from them the class, method, source file and line
 * are read at the call, as async-profiler and the serviceability agent do.
 *
 * Each such frame becomes a synthetic address (ST_FRAME_JAVA, never a real
 * one) named by a JIT symbol record written once per process for each
 * (method, line): "Java:java.net.Socket.connect Socket.java:633", which the
 * reader shows as "at java.net.Socket.connect (Socket.java:633) [java]".
 *
 * Hazards, and what guards each:
 * - the JVM's memory is read while other threads run (class unloading frees
 *   methods, the GC moves nothing read here: metadata is not in the heap):
 *   every read of it is a process_vm_readv on ourselves, which fails with
 *   EFAULT instead of faulting, and a frame that does not check out (its
 *   bytecode pointer outside its method's code, a name not plausible)
 *   keeps its native "Interpreter" address;
 * - the frame pointer of each frame comes from libunwind's cursor (the same
 *   walk as unw_backtrace's, matched by return address), never guessed;
 * - nothing here calls into the JVM, allocates or takes a lock; loops and
 *   strings are bounded.
 * Layout assumptions not in the JVM's tables (the slot order of an
 * interpreter frame) are checked against what the tables do say
 * (frame::interpreter_frame_last_sp_offset == -2, as from JDK 9 to 21).
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <link.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/uio.h>

#define UNW_LOCAL_ONLY
#include <libunwind.h>

#include "st_internal.h"

bool st_java_on;
static bool st_jv_wanted;

/* What is read of the JVM, from its structure tables. */
static struct st_java_layout {
	uint64_t interp_code; /* &AbstractInterpreter::_code (a StubQueue*) */
	uint32_t queue_buffer, queue_limit; /* StubQueue::_stub_buffer, _buffer_limit */
	uint32_t method_const;              /* Method::_constMethod */
	uint32_t cm_constants, cm_size_words, cm_flags, cm_code_size, cm_name_index, cm_size;
	uint32_t cp_holder, cp_source_index, cp_size;
	uint32_t klass_name, sym_length, sym_body;
	uint32_t has_lines; /* ConstMethod::_has_linenumber_table */
	uint32_t found;     /* bit per value found */
} st_jl;

/* libunwind's cursor, looked up beside unw_backtrace (st_stack.c). */
static int (*st_jv_getcontext)(unw_context_t *);
static int (*st_jv_init_local)(unw_cursor_t *, unw_context_t *);
static int (*st_jv_step)(unw_cursor_t *);
static int (*st_jv_get_reg)(unw_cursor_t *, unw_regnum_t, unw_word_t *);

/* the interpreter frame's slots, in words from its frame pointer */
#define ST_JV_METHOD_SLOT (-3)
#define ST_JV_BCP_SLOT (-8)
#define ST_JV_NAME_MAX 400
#define ST_JV_TABLE_MAX 4096
#define ST_JV_SEEN 4096

struct st_jv_field {
	const char *type, *field;
	uint32_t *into;
};

/* The structure tables' entries of interest into st_jl. */
static bool st_java_read_structs(const struct st_dyn_tables *d)
{
	const Elf64_Sym *tab = st_dyn_lookup(d, "gHotSpotVMStructs");
	const Elf64_Sym *stride = st_dyn_lookup(d, "gHotSpotVMStructEntryArrayStride");
	const Elf64_Sym *type_at = st_dyn_lookup(d, "gHotSpotVMStructEntryTypeNameOffset");
	const Elf64_Sym *field_at = st_dyn_lookup(d, "gHotSpotVMStructEntryFieldNameOffset");
	const Elf64_Sym *offset_at = st_dyn_lookup(d, "gHotSpotVMStructEntryOffsetOffset");
	const Elf64_Sym *address_at = st_dyn_lookup(d, "gHotSpotVMStructEntryAddressOffset");
	if (!tab || !stride || !type_at || !field_at || !offset_at || !address_at)
		return false;
	const struct st_jv_field want[] = {
		{"StubQueue", "_stub_buffer", &st_jl.queue_buffer},
		{"StubQueue", "_buffer_limit", &st_jl.queue_limit},
		{"Method", "_constMethod", &st_jl.method_const},
		{"ConstMethod", "_constants", &st_jl.cm_constants},
		{"ConstMethod", "_constMethod_size", &st_jl.cm_size_words},
		{"ConstMethod", "_flags", &st_jl.cm_flags},
		{"ConstMethod", "_code_size", &st_jl.cm_code_size},
		{"ConstMethod", "_name_index", &st_jl.cm_name_index},
		{"ConstantPool", "_pool_holder", &st_jl.cp_holder},
		{"ConstantPool", "_source_file_name_index", &st_jl.cp_source_index},
		{"Klass", "_name", &st_jl.klass_name},
		{"Symbol", "_length", &st_jl.sym_length},
		{"Symbol", "_body", &st_jl.sym_body},
	};
	uint64_t step = *(const uint64_t *)(d->base + stride->st_value);
	uint64_t tn = *(const uint64_t *)(d->base + type_at->st_value);
	uint64_t fn = *(const uint64_t *)(d->base + field_at->st_value);
	uint64_t on = *(const uint64_t *)(d->base + offset_at->st_value);
	uint64_t an = *(const uint64_t *)(d->base + address_at->st_value);
	const char *e = *(const char *const *)(d->base + tab->st_value);
	if (e == NULL || step < 48 || step > 256 || tn > step || fn > step || on > step || an > step)
		return false;
	for (unsigned k = 0; k < 100000; k++, e += step) {
		const char *type = *(const char *const *)(e + tn), *field = *(const char *const *)(e + fn);
		if (type == NULL)
			break;
		if (field == NULL)
			continue;
		if (strcmp(type, "AbstractInterpreter") == 0 && strcmp(field, "_code") == 0) {
			st_jl.interp_code = *(const uint64_t *)(e + an);
			st_jl.found |= 1u << 31;
		}
		for (unsigned i = 0; i < sizeof want / sizeof want[0]; i++)
			if (strcmp(type, want[i].type) == 0 && strcmp(field, want[i].field) == 0) {
				uint64_t v = *(const uint64_t *)(e + on);
				*want[i].into = v < 4096 ? (uint32_t)v : 0;
				st_jl.found |= 1u << i;
			}
	}
	return st_jl.found == ((1u << 31) | ((1u << (sizeof want / sizeof want[0])) - 1));
}

/* The sizes of ConstMethod and ConstantPool, from the type table. */
static bool st_java_read_types(const struct st_dyn_tables *d)
{
	const Elf64_Sym *tab = st_dyn_lookup(d, "gHotSpotVMTypes");
	const Elf64_Sym *stride = st_dyn_lookup(d, "gHotSpotVMTypeEntryArrayStride");
	const Elf64_Sym *name_at = st_dyn_lookup(d, "gHotSpotVMTypeEntryTypeNameOffset");
	const Elf64_Sym *size_at = st_dyn_lookup(d, "gHotSpotVMTypeEntrySizeOffset");
	if (!tab || !stride || !name_at || !size_at)
		return false;
	uint64_t step = *(const uint64_t *)(d->base + stride->st_value);
	uint64_t nn = *(const uint64_t *)(d->base + name_at->st_value);
	uint64_t sn = *(const uint64_t *)(d->base + size_at->st_value);
	const char *e = *(const char *const *)(d->base + tab->st_value);
	if (e == NULL || step < 16 || step > 256 || nn > step || sn > step)
		return false;
	for (unsigned k = 0; k < 100000; k++, e += step) {
		const char *type = *(const char *const *)(e + nn);
		if (type == NULL)
			break;
		uint64_t size = *(const uint64_t *)(e + sn);
		if (strcmp(type, "ConstMethod") == 0)
			st_jl.cm_size = size < 4096 ? (uint32_t)size : 0;
		else if (strcmp(type, "ConstantPool") == 0)
			st_jl.cp_size = size < 4096 ? (uint32_t)size : 0;
	}
	return st_jl.cm_size != 0 && st_jl.cp_size != 0;
}

/* The integer constants: the line table's flag, and the frame's last_sp
 * slot that the method and bytecode slots are placed from. */
static bool st_java_read_constants(const struct st_dyn_tables *d)
{
	const Elf64_Sym *tab = st_dyn_lookup(d, "gHotSpotVMIntConstants");
	const Elf64_Sym *stride = st_dyn_lookup(d, "gHotSpotVMIntConstantEntryArrayStride");
	const Elf64_Sym *name_at = st_dyn_lookup(d, "gHotSpotVMIntConstantEntryNameOffset");
	const Elf64_Sym *value_at = st_dyn_lookup(d, "gHotSpotVMIntConstantEntryValueOffset");
	if (!tab || !stride || !name_at || !value_at)
		return false;
	uint64_t step = *(const uint64_t *)(d->base + stride->st_value);
	uint64_t nn = *(const uint64_t *)(d->base + name_at->st_value);
	uint64_t vn = *(const uint64_t *)(d->base + value_at->st_value);
	const char *e = *(const char *const *)(d->base + tab->st_value);
	if (e == NULL || step < 12 || step > 256 || nn > step || vn > step)
		return false;
	bool last_sp_ok = false;
	for (unsigned k = 0; k < 100000; k++, e += step) {
		const char *name = *(const char *const *)(e + nn);
		if (name == NULL)
			break;
		int32_t v;
		memcpy(&v, e + vn, sizeof v);
		if (strcmp(name, "ConstMethod::_has_linenumber_table") == 0)
			st_jl.has_lines = (uint32_t)v;
		else if (strcmp(name, "frame::interpreter_frame_last_sp_offset") == 0)
			last_sp_ok = v == ST_JV_METHOD_SLOT + 1;
	}
	return last_sp_ok && st_jl.has_lines != 0;
}

void st_java_consider(const struct dl_phdr_info *info)
{
	const char *path = info->dlpi_name, *base = path ? strrchr(path, '/') : NULL;
	base = base ? base + 1 : path;
	struct st_dyn_tables d;
	if (!st_jv_wanted || __atomic_load_n(&st_java_on, __ATOMIC_ACQUIRE) || base == NULL ||
	    strcmp(base, "libjvm.so") != 0 || st_jv_step == NULL || !st_dyn_tables(info, &d))
		return;
	if (st_java_read_structs(&d) && st_java_read_types(&d) && st_java_read_constants(&d))
		__atomic_store_n(&st_java_on, true, __ATOMIC_RELEASE);
}

void st_java_want(void)
{
	st_jv_wanted = true;
}

void st_java_init(void *libunwind)
{
	st_jv_getcontext = (int (*)(unw_context_t *))dlsym(libunwind, "_Ux86_64_getcontext");
	st_jv_init_local = (int (*)(unw_cursor_t *, unw_context_t *))dlsym(libunwind, "_ULx86_64_init_local");
	st_jv_get_reg = (int (*)(unw_cursor_t *, unw_regnum_t, unw_word_t *))dlsym(libunwind, "_ULx86_64_get_reg");
	int (*step)(unw_cursor_t *) = (int (*)(unw_cursor_t *))dlsym(libunwind, "_ULx86_64_step");
	if (st_jv_getcontext && st_jv_init_local && st_jv_get_reg)
		st_jv_step = step; /* set last: it says the others are there */
}

static bool st_jv_read(uint64_t addr, void *buf, size_t len)
{
	struct iovec here = {buf, len}, there = {(void *)(uintptr_t)addr, len};
	return addr != 0 && ST_SYS(SYS_process_vm_readv, st_pid, &here, 1, &there, 1, 0) == (long)len;
}

static bool st_jv_word(uint64_t addr, uint64_t *v)
{
	return st_jv_read(addr, v, sizeof *v);
}

static uint16_t st_jv_u16(const uint8_t *p, uint32_t at)
{
	uint16_t v;
	memcpy(&v, p + at, sizeof v);
	return v;
}

static uint64_t st_jv_u64(const uint8_t *p, uint32_t at)
{
	uint64_t v;
	memcpy(&v, p + at, sizeof v);
	return v;
}

/* [lo, hi) of the interpreter's code; false before the JVM made it. */
static bool st_java_interp_range(uint64_t *lo, uint64_t *hi)
{
	uint64_t queue, buffer;
	int32_t limit;
	if (!st_jv_word(st_jl.interp_code, &queue) || !st_jv_word(queue + st_jl.queue_buffer, &buffer) ||
	    !st_jv_read(queue + st_jl.queue_limit, &limit, sizeof limit) || limit <= 0)
		return false;
	*lo = buffer;
	*hi = buffer + (uint64_t)limit;
	return buffer != 0;
}

/* A symbol's text appended to out (at *at, up to max), '/' as '.' when
 * dots; false when it cannot be read or holds a control byte. */
static bool st_jv_symbol(uint64_t sym, char *out, size_t *at, size_t max, bool dots)
{
	uint16_t len;
	if (!st_jv_read(sym + st_jl.sym_length, &len, sizeof len) || len == 0 || *at + len > max ||
	    !st_jv_read(sym + st_jl.sym_body, out + *at, len))
		return false;
	for (size_t i = *at; i < *at + len; i++) {
		if ((uint8_t)out[i] < 0x20 || out[i] == 0x7f)
			return false;
		if (dots && out[i] == '/')
			out[i] = '.';
	}
	*at += len;
	return true;
}

/* HotSpot's UNSIGNED5 number (CompressedReadStream::read_int). */
static bool st_jv_unsigned5(const uint8_t *t, size_t n, size_t *i, uint32_t *v)
{
	uint32_t sum = 0;
	for (unsigned k = 0, shift = 0; k < 5; k++, shift += 6) {
		if (*i >= n)
			return false;
		uint32_t b = t[(*i)++];
		sum += b << shift;
		if (b < 192 || k == 4) {
			*v = sum;
			return true;
		}
	}
	return false;
}

static bool st_jv_signed(const uint8_t *t, size_t n, size_t *i, int32_t *v)
{
	uint32_t u;
	if (!st_jv_unsigned5(t, n, i, &u))
		return false;
	*v = (int32_t)(u >> 1) ^ -(int32_t)(u & 1);
	return true;
}

/* The line of bci from a compressed line number table
 * (Method::line_number_from_bci); -1 unknown. */
static int32_t st_jv_line_of(const uint8_t *t, size_t n, int32_t bci)
{
	int32_t at_bci = 0, line = 0, best_bci = 0, best = -1;
	for (size_t i = 0; i < n;) {
		uint8_t b = t[i++];
		if (b == 0)
			return best;
		if (b == 0xff) {
			int32_t db, dl;
			if (!st_jv_signed(t, n, &i, &db) || !st_jv_signed(t, n, &i, &dl))
				return -1;
			at_bci += db;
			line += dl;
		} else {
			at_bci += b >> 3;
			line += b & 7;
		}
		if (at_bci == bci)
			return line;
		if (at_bci < bci && at_bci >= best_bci) {
			best_bci = at_bci;
			best = line;
		}
	}
	return -1; /* no terminator within what was read */
}

/* The line of the method's bytecode at bcp; -1 unknown. */
static int32_t st_jv_line(uint64_t cm, const uint8_t *head, uint64_t bcp)
{
	uint64_t code = cm + st_jl.cm_size;
	uint16_t code_size = st_jv_u16(head, st_jl.cm_code_size);
	uint32_t words;
	memcpy(&words, head + st_jl.cm_size_words, sizeof words);
	if (!(st_jv_u16(head, st_jl.cm_flags) & st_jl.has_lines) || bcp < code ||
	    bcp >= code + code_size)
		return -1;
	uint64_t table = code + code_size, end = cm + (uint64_t)words * 8;
	if (end <= table)
		return -1;
	size_t n = end - table < ST_JV_TABLE_MAX ? (size_t)(end - table) : ST_JV_TABLE_MAX;
	uint8_t t[ST_JV_TABLE_MAX];
	if (!st_jv_read(table, t, n))
		return -1;
	return st_jv_line_of(t, n, (int32_t)(bcp - code));
}

/* ":LINE" into out; its length. */
static size_t st_jv_decimal(char *out, uint32_t v)
{
	char digits[12];
	size_t n = 0;
	do
		digits[n++] = (char)('0' + v % 10);
	while ((v /= 10) != 0);
	out[0] = ':';
	for (size_t i = 0; i < n; i++)
		out[1 + i] = digits[n - 1 - i];
	return n + 1;
}

/* "Java:pkg.Class.method File.java:LINE" for the method and its line into
 * out; its length, 0 when the method does not check out. */
static size_t st_jv_name(uint64_t method, uint64_t cm, const uint8_t *head, int32_t line,
			 char *out, size_t max)
{
	uint8_t cp[512];
	uint64_t constants = st_jv_u64(head, st_jl.cm_constants), klass, klass_name, name_sym;
	uint16_t name_index = st_jv_u16(head, st_jl.cm_name_index);
	(void)method;
	(void)cm;
	if (st_jl.cp_size > sizeof cp || !st_jv_read(constants, cp, st_jl.cp_size))
		return 0;
	klass = st_jv_u64(cp, st_jl.cp_holder);
	uint16_t source_index = st_jv_u16(cp, st_jl.cp_source_index);
	if (!st_jv_word(klass + st_jl.klass_name, &klass_name) ||
	    !st_jv_word(constants + st_jl.cp_size + (uint64_t)name_index * 8, &name_sym))
		return 0;
	size_t at = 5;
	memcpy(out, "Java:", 5);
	if (!st_jv_symbol(klass_name, out, &at, max - 24, true))
		return 0;
	out[at++] = '.';
	if (!st_jv_symbol(name_sym, out, &at, max - 24, false))
		return 0;
	uint64_t source_sym;
	if (source_index != 0 &&
	    st_jv_word(constants + st_jl.cp_size + (uint64_t)source_index * 8, &source_sym)) {
		size_t before = at;
		out[at++] = ' ';
		if (!st_jv_symbol(source_sym, out, &at, max - 16, false))
			at = before;
		else if (line > 0)
			at += st_jv_decimal(out + at, (uint32_t)line);
	}
	return at;
}

/* (method, its ConstMethod, bytecode) already named in this process, and
 * the synthetic address given to it: a method freed and another made at its
 * address has another ConstMethod. */
static struct st_jv_seen {
	uint64_t method; /* stored last */
	uint64_t cm, bcp;
	uint32_t pid;
	uint64_t synth;
} st_jv_seen[ST_JV_SEEN];
static uint64_t st_jv_next = 1;

/* The synthetic address naming the frame whose method and bytecode are
 * these; 0 when they do not check out. */
static uint64_t st_jv_frame(uint64_t method, uint64_t bcp)
{
	uint64_t cm;
	uint8_t head[128];
	if (st_jl.cm_size > sizeof head || !st_jv_word(method + st_jl.method_const, &cm))
		return 0;
	struct st_jv_seen *seen = &st_jv_seen[((method >> 3) ^ (bcp * 0x9e3779b97f4a7c15ull >> 40)) % ST_JV_SEEN];
	if (__atomic_load_n(&seen->method, __ATOMIC_ACQUIRE) == method && seen->cm == cm &&
	    seen->bcp == bcp && seen->pid == (uint32_t)st_pid)
		return seen->synth;
	if (!st_jv_read(cm, head, st_jl.cm_size))
		return 0;
	int32_t line = st_jv_line(cm, head, bcp);
	char name[ST_JV_NAME_MAX * 2 + 64];
	size_t len = st_jv_name(method, cm, head, line, name, sizeof name);
	if (len == 0)
		return 0;
	uint64_t synth = ST_FRAME_JAVA | __atomic_fetch_add(&st_jv_next, 1, __ATOMIC_RELAXED);
	st_record_jitsym(synth, 1, name, len);
	__atomic_store_n(&seen->method, 0, __ATOMIC_RELAXED);
	seen->cm = cm;
	seen->bcp = bcp;
	seen->pid = (uint32_t)st_pid;
	seen->synth = synth;
	__atomic_store_n(&seen->method, method, __ATOMIC_RELEASE);
	return synth;
}

/* The stack's frame j (its return address ip) named from the interpreter
 * frame whose frame pointer is fp, when it checks out. */
static void st_jv_name_frame(struct st_stack *s, unsigned j, uint64_t fp)
{
	uint64_t method, bcp;
	if (!st_jv_word(fp + ST_JV_METHOD_SLOT * 8, &method) || !st_jv_word(fp + ST_JV_BCP_SLOT * 8, &bcp))
		return;
	uint64_t synth = st_jv_frame(method, bcp);
	if (synth != 0)
		s->ip[j] = synth;
}

/* The frame pointers of the stack's interpreter frames (from first on),
 * from libunwind's cursor, matched to the stack by return address: fps[j]
 * for frame j, 0 where none was found. */
static void st_jv_frame_pointers(const struct st_stack *s, unsigned first, uint64_t lo,
				 uint64_t hi, uint64_t *fps)
{
	unw_context_t uc;
	unw_cursor_t c;
	if (st_jv_getcontext(&uc) != 0 || st_jv_init_local(&c, &uc) != 0)
		return;
	unsigned j = first;
	for (unsigned k = 0; k < ST_FRAMES_MAX + ST_OWN_FRAMES_MAX + 16 && j < s->n; k++) {
		unw_word_t ip, fp;
		if (st_jv_get_reg(&c, UNW_REG_IP, &ip) != 0)
			break;
		if (ip == s->ip[j]) {
			if (st_jv_get_reg(&c, UNW_X86_64_RBP, &fp) == 0)
				fps[j] = fp;
			/* on to the stack's next interpreter frame */
			for (j++; j < s->n && !(s->ip[j] >= lo && s->ip[j] < hi); j++)
				;
		}
		if (st_jv_step(&c) <= 0)
			break;
	}
}

void st_java_frames(struct st_stack *s)
{
	uint64_t lo, hi, fps[ST_FRAMES_MAX] = {0};
	unsigned first = s->n;
	if (st_jv_step == NULL || !st_java_interp_range(&lo, &hi))
		return;
	for (unsigned i = 0; i < s->n && first == s->n; i++)
		if (s->ip[i] >= lo && s->ip[i] < hi)
			first = i;
	if (first == s->n)
		return; /* no interpreted frame */
	/* the same walk again, with each frame's registers; in libunwind, as
	 * unw_backtrace is: a handler must not re-enter it meanwhile */
	st_record_section_enter();
	st_jv_frame_pointers(s, first, lo, hi, fps);
	st_record_section_leave();
	for (unsigned j = first; j < s->n; j++)
		if (fps[j] != 0)
			st_jv_name_frame(s, j, fps[j]);
}
