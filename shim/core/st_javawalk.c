/*
 * Methods the HotSpot interpreter runs, named from a JVM's memory (see
 * st_javawalk.h).
 *
 * Hazards, and what guards each:
 * - the JVM's memory is read while its threads run (class unloading frees
 *   methods; metadata is not in the collected heap, so nothing read here
 *   moves): every read is a process_vm_readv, which fails with EFAULT
 *   instead of faulting, and a frame that does not check out (its bytecode
 *   pointer outside its method's code, a name with a control byte) keeps
 *   its native "Interpreter" address;
 * - a method freed and another made at its address: the name cache keys on
 *   the method's ConstMethod and bytecode pointer too;
 * - the tables are the program's, untrusted: strides and offsets are
 *   bounded, loops over entries are bounded, strings are read with a bound;
 * - the slot order of an interpreter frame is not in the tables: it is
 *   checked against what they do say (frame::interpreter_frame_last_sp_offset
 *   == -2, as from JDK 9 to 21) before any frame is read;
 * - nothing here calls into the JVM, allocates or takes a lock.
 */
#define _GNU_SOURCE
#include <stddef.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/uio.h>

#include "st_javawalk.h"

/* the interpreter frame's slots, in words from its frame pointer */
#define ST_JV_METHOD_SLOT (-3)
#define ST_JV_BCP_SLOT (-8)
#define ST_JV_NAME_MAX 400
#define ST_JV_TABLE_MAX 4096
#define ST_JV_SEEN 4096
#define ST_JV_ENTRIES_MAX 20000
#define ST_JV_STRING_MAX 64

const char *const st_javawalk_symbols[ST_JV_SYMS] = {
	"gHotSpotVMStructs",
	"gHotSpotVMStructEntryArrayStride",
	"gHotSpotVMStructEntryTypeNameOffset",
	"gHotSpotVMStructEntryFieldNameOffset",
	"gHotSpotVMStructEntryOffsetOffset",
	"gHotSpotVMStructEntryAddressOffset",
	"gHotSpotVMTypes",
	"gHotSpotVMTypeEntryArrayStride",
	"gHotSpotVMTypeEntryTypeNameOffset",
	"gHotSpotVMTypeEntrySizeOffset",
	"gHotSpotVMIntConstants",
	"gHotSpotVMIntConstantEntryArrayStride",
	"gHotSpotVMIntConstantEntryNameOffset",
	"gHotSpotVMIntConstantEntryValueOffset",
};

static bool st_jv_read(pid_t pid, uint64_t addr, void *buf, size_t len)
{
	struct iovec here = {buf, len}, there = {(void *)(uintptr_t)addr, len};
	return addr != 0 && ST_SYS(SYS_process_vm_readv, pid, &here, 1, &there, 1, 0) == (long)len;
}

static bool st_jv_word(pid_t pid, uint64_t addr, uint64_t *v)
{
	return st_jv_read(pid, addr, v, sizeof *v);
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

/* A symbol's text appended to out (at *at, up to max), '/' as '.' when
 * dots; false when it cannot be read or holds a control byte. */
static bool st_jv_symbol(pid_t pid, const struct st_java_layout *l, uint64_t sym, char *out,
			 size_t *at, size_t max, bool dots)
{
	uint16_t len;
	if (!st_jv_read(pid, sym + l->sym_length, &len, sizeof len) || len == 0 || *at + len > max ||
	    !st_jv_read(pid, sym + l->sym_body, out + *at, len))
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

/* HotSpot's UNSIGNED5 number (CompressedReadStream::read_int): base-64
 * digits, each byte below 192 the last.  From JDK 21 (the UNSIGNED5 class)
 * no byte is 0, so that 0 can end a stream: every byte is its digit plus
 * excluded (1), which is taken out again here; before, excluded is 0.
 * Decoding a 21 table the old way gave wrong lines for every pair written
 * in the long form (a line number past 7, a bytecode jump past 31). */
static bool st_jv_unsigned5(const uint8_t *t, size_t n, size_t *i, uint32_t excluded, uint32_t *v)
{
	uint32_t sum = 0;
	for (unsigned k = 0, shift = 0; k < 5; k++, shift += 6) {
		if (*i >= n)
			return false;
		uint32_t b = t[(*i)++];
		if (b < excluded)
			return false; /* a byte the writer never writes */
		sum += (b - excluded) << shift;
		if (b < 192 || k == 4) {
			*v = sum;
			return true;
		}
	}
	return false;
}

static bool st_jv_signed(const uint8_t *t, size_t n, size_t *i, uint32_t excluded, int32_t *v)
{
	uint32_t u;
	if (!st_jv_unsigned5(t, n, i, excluded, &u))
		return false;
	*v = (int32_t)(u >> 1) ^ -(int32_t)(u & 1);
	return true;
}

/* The line of bci from a compressed line number table
 * (Method::line_number_from_bci); -1 unknown. */
static int32_t st_jv_line_of(const uint8_t *t, size_t n, uint32_t excluded, int32_t bci)
{
	int32_t at_bci = 0, line = 0, best_bci = 0, best = -1;
	for (size_t i = 0; i < n;) {
		uint8_t b = t[i++];
		if (b == 0)
			return best;
		if (b == 0xff) {
			int32_t db, dl;
			if (!st_jv_signed(t, n, &i, excluded, &db) ||
			    !st_jv_signed(t, n, &i, excluded, &dl))
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
static int32_t st_jv_line(pid_t pid, const struct st_java_layout *l, uint64_t cm,
			  const uint8_t *head, uint64_t bcp)
{
	uint64_t code = cm + l->cm_size;
	uint16_t code_size = st_jv_u16(head, l->cm_code_size);
	uint32_t words;
	memcpy(&words, head + l->cm_size_words, sizeof words);
	if (!(st_jv_u16(head, l->cm_flags) & l->has_lines) || bcp < code ||
	    bcp >= code + code_size)
		return -1;
	uint64_t table = code + code_size, end = cm + (uint64_t)words * 8;
	if (end <= table)
		return -1;
	size_t n = end - table < ST_JV_TABLE_MAX ? (size_t)(end - table) : ST_JV_TABLE_MAX;
	uint8_t t[ST_JV_TABLE_MAX];
	if (!st_jv_read(pid, table, t, n))
		return -1;
	return st_jv_line_of(t, n, l->u5_excluded, (int32_t)(bcp - code));
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
static size_t st_jv_name(pid_t pid, const struct st_java_layout *l, const uint8_t *head,
			 int32_t line, char *out, size_t max)
{
	uint8_t cp[512];
	uint64_t constants = st_jv_u64(head, l->cm_constants), klass, klass_name, name_sym;
	uint16_t name_index = st_jv_u16(head, l->cm_name_index);
	if (l->cp_size > sizeof cp || !st_jv_read(pid, constants, cp, l->cp_size))
		return 0;
	klass = st_jv_u64(cp, l->cp_holder);
	uint16_t source_index = st_jv_u16(cp, l->cp_source_index);
	if (!st_jv_word(pid, klass + l->klass_name, &klass_name) ||
	    !st_jv_word(pid, constants + l->cp_size + (uint64_t)name_index * 8, &name_sym))
		return 0;
	size_t at = 5;
	memcpy(out, "Java:", 5);
	if (!st_jv_symbol(pid, l, klass_name, out, &at, max - 24, true))
		return 0;
	out[at++] = '.';
	if (!st_jv_symbol(pid, l, name_sym, out, &at, max - 24, false))
		return 0;
	uint64_t source_sym;
	if (source_index != 0 &&
	    st_jv_word(pid, constants + l->cp_size + (uint64_t)source_index * 8, &source_sym)) {
		size_t before = at;
		out[at++] = ' ';
		if (!st_jv_symbol(pid, l, source_sym, out, &at, max - 16, false))
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
static uint64_t st_jv_frame(pid_t pid, const struct st_java_layout *l, uint64_t method,
			    uint64_t bcp)
{
	uint64_t cm;
	uint8_t head[128];
	if (l->cm_size > sizeof head || !st_jv_word(pid, method + l->method_const, &cm))
		return 0;
	struct st_jv_seen *seen = &st_jv_seen[((method >> 3) ^ (bcp * 0x9e3779b97f4a7c15ull >> 40)) % ST_JV_SEEN];
	if (__atomic_load_n(&seen->method, __ATOMIC_ACQUIRE) == method && seen->cm == cm &&
	    seen->bcp == bcp && seen->pid == (uint32_t)pid)
		return seen->synth;
	if (!st_jv_read(pid, cm, head, l->cm_size))
		return 0;
	int32_t line = st_jv_line(pid, l, cm, head, bcp);
	char name[ST_JV_NAME_MAX * 2 + 64];
	size_t len = st_jv_name(pid, l, head, line, name, sizeof name);
	if (len == 0)
		return 0;
	uint64_t synth = ST_FRAME_JAVA | __atomic_fetch_add(&st_jv_next, 1, __ATOMIC_RELAXED);
	st_record_jitsym(synth, 1, name, len);
	__atomic_store_n(&seen->method, 0, __ATOMIC_RELAXED);
	seen->cm = cm;
	seen->bcp = bcp;
	seen->pid = (uint32_t)pid;
	seen->synth = synth;
	__atomic_store_n(&seen->method, method, __ATOMIC_RELEASE);
	return synth;
}


/* A C string of the program's at addr into buf (NUL-terminated, cut at
 * size - 1); false when nothing can be read.  A read that reaches an
 * unmapped page stops there (process_vm_readv copies page by page). */
static bool st_jv_string(pid_t pid, uint64_t addr, char *buf, size_t size)
{
	struct iovec here = {buf, size - 1}, there = {(void *)(uintptr_t)addr, size - 1};
	long got = addr ? ST_SYS(SYS_process_vm_readv, pid, &here, 1, &there, 1, 0) : -1;
	if (got <= 0)
		return false;
	buf[got] = '\0';
	return true;
}

/* One of the JVM's tables: where its entries are, their stride, and where
 * in an entry each of its fields is. */
struct st_jv_table {
	uint64_t entries, stride, at[4];
};

static bool st_jv_table(pid_t pid, const uint64_t syms[ST_JV_SYMS], int first, int nat,
			struct st_jv_table *t)
{
	if (!st_jv_word(pid, syms[first], &t->entries) || !st_jv_word(pid, syms[first + 1], &t->stride) ||
	    t->entries == 0 || t->stride < 8 || t->stride > 256)
		return false;
	for (int i = 0; i < nat; i++)
		if (!st_jv_word(pid, syms[first + 2 + i], &t->at[i]) || t->at[i] + 8 > t->stride)
			return false;
	return true;
}

/* Entry k of table t into e (t->stride bytes); false past its end or when
 * it cannot be read.  A table ends with an entry whose first name is NULL. */
static bool st_jv_entry(pid_t pid, const struct st_jv_table *t, unsigned k, uint8_t *e)
{
	uint64_t name;
	if (k >= ST_JV_ENTRIES_MAX || !st_jv_read(pid, t->entries + k * t->stride, e, t->stride))
		return false;
	memcpy(&name, e + t->at[0], 8);
	return name != 0;
}

struct st_jv_field {
	const char *type, *field;
	size_t at;            /* offsetof its st_java_layout member */
	const char *field_21; /* its name from JDK 21 on, when it changed */
};

static const struct st_jv_field st_jv_fields[] = {
	{"StubQueue", "_stub_buffer", offsetof(struct st_java_layout, queue_buffer), NULL},
	{"StubQueue", "_buffer_limit", offsetof(struct st_java_layout, queue_limit), NULL},
	{"Method", "_constMethod", offsetof(struct st_java_layout, method_const), NULL},
	{"ConstMethod", "_constants", offsetof(struct st_java_layout, cm_constants), NULL},
	{"ConstMethod", "_constMethod_size", offsetof(struct st_java_layout, cm_size_words), NULL},
	/* JDK 21 made the flags a ConstMethodFlags object, whose int holds them
	 * (the line table's flag still in its low 16 bits, as the u2 of 17) */
	{"ConstMethod", "_flags", offsetof(struct st_java_layout, cm_flags), "_flags._flags"},
	{"ConstMethod", "_code_size", offsetof(struct st_java_layout, cm_code_size), NULL},
	{"ConstMethod", "_name_index", offsetof(struct st_java_layout, cm_name_index), NULL},
	{"ConstantPool", "_pool_holder", offsetof(struct st_java_layout, cp_holder), NULL},
	{"ConstantPool", "_source_file_name_index", offsetof(struct st_java_layout, cp_source_index), NULL},
	{"Klass", "_name", offsetof(struct st_java_layout, klass_name), NULL},
	{"Symbol", "_length", offsetof(struct st_java_layout, sym_length), NULL},
	{"Symbol", "_body", offsetof(struct st_java_layout, sym_body), NULL},
};
#define ST_JV_NFIELDS (sizeof st_jv_fields / sizeof st_jv_fields[0])
#define ST_JV_INTERP_FOUND (1u << 31)

/* Whether type is one whose fields are read (its field name read only then). */
static bool st_jv_type_wanted(const char *type)
{
	if (strcmp(type, "AbstractInterpreter") == 0)
		return true;
	for (size_t i = 0; i < ST_JV_NFIELDS; i++)
		if (strcmp(type, st_jv_fields[i].type) == 0)
			return true;
	return false;
}

/* One entry of the structure table (type, field, offset, static address). */
static void st_jv_struct_entry(pid_t pid, const uint8_t *e, const struct st_jv_table *t,
			       struct st_java_layout *out)
{
	char type[ST_JV_STRING_MAX], field[ST_JV_STRING_MAX];
	uint64_t type_at, field_at, value;
	memcpy(&type_at, e + t->at[0], 8);
	memcpy(&field_at, e + t->at[1], 8);
	if (!st_jv_string(pid, type_at, type, sizeof type) || !st_jv_type_wanted(type) ||
	    !st_jv_string(pid, field_at, field, sizeof field))
		return;
	if (strcmp(type, "AbstractInterpreter") == 0 && strcmp(field, "_code") == 0) {
		memcpy(&out->interp_code, e + t->at[3], 8);
		out->found |= ST_JV_INTERP_FOUND;
		return;
	}
	for (size_t i = 0; i < ST_JV_NFIELDS; i++)
		if (strcmp(type, st_jv_fields[i].type) == 0 &&
		    (strcmp(field, st_jv_fields[i].field) == 0 ||
		     (st_jv_fields[i].field_21 && strcmp(field, st_jv_fields[i].field_21) == 0))) {
			memcpy(&value, e + t->at[2], 8);
			uint32_t v = value < 4096 ? (uint32_t)value : 0;
			memcpy((char *)out + st_jv_fields[i].at, &v, sizeof v);
			out->found |= 1u << i;
		}
}

static bool st_jv_structs(pid_t pid, const uint64_t syms[ST_JV_SYMS], struct st_java_layout *out)
{
	struct st_jv_table t;
	uint8_t e[256];
	if (!st_jv_table(pid, syms, ST_JV_SYM_STRUCTS, 4, &t))
		return false;
	for (unsigned k = 0; st_jv_entry(pid, &t, k, e); k++)
		st_jv_struct_entry(pid, e, &t, out);
	return out->found == (ST_JV_INTERP_FOUND | ((1u << ST_JV_NFIELDS) - 1));
}

/* The sizes of ConstMethod and ConstantPool, from the type table. */
static bool st_jv_types(pid_t pid, const uint64_t syms[ST_JV_SYMS], struct st_java_layout *out)
{
	struct st_jv_table t;
	uint8_t e[256];
	if (!st_jv_table(pid, syms, ST_JV_SYM_TYPES, 2, &t))
		return false;
	for (unsigned k = 0; st_jv_entry(pid, &t, k, e); k++) {
		char type[ST_JV_STRING_MAX];
		uint64_t name_at, size;
		memcpy(&name_at, e + t.at[0], 8);
		memcpy(&size, e + t.at[1], 8);
		if (!st_jv_string(pid, name_at, type, sizeof type))
			continue;
		if (strcmp(type, "ConstMethod") == 0)
			out->cm_size = size < 4096 ? (uint32_t)size : 0;
		else if (strcmp(type, "ConstantPool") == 0)
			out->cp_size = size < 4096 ? (uint32_t)size : 0;
	}
	return out->cm_size != 0 && out->cp_size != 0;
}

/* The integer constants: the line table's flag, and the frame's last_sp
 * slot that the method and bytecode slots are placed from. */
static bool st_jv_constants(pid_t pid, const uint64_t syms[ST_JV_SYMS], struct st_java_layout *out)
{
	struct st_jv_table t;
	uint8_t e[256];
	bool last_sp_ok = false;
	if (!st_jv_table(pid, syms, ST_JV_SYM_INTS, 2, &t))
		return false;
	for (unsigned k = 0; st_jv_entry(pid, &t, k, e); k++) {
		char name[ST_JV_STRING_MAX];
		uint64_t name_at;
		int32_t v;
		memcpy(&name_at, e + t.at[0], 8);
		memcpy(&v, e + t.at[1], sizeof v);
		if (!st_jv_string(pid, name_at, name, sizeof name))
			continue;
		/* the line table's flag: its name until JDK 17, and from JDK 21 */
		if (strcmp(name, "ConstMethod::_has_linenumber_table") == 0) {
			out->has_lines = (uint32_t)v;
		} else if (strcmp(name, "ConstMethodFlags::_misc_has_linenumber_table") == 0) {
			/* JDK 21's name, the JDK whose streams leave out '\0' */
			out->has_lines = (uint32_t)v;
			out->u5_excluded = 1;
		}
		else if (strcmp(name, "frame::interpreter_frame_last_sp_offset") == 0)
			last_sp_ok = v == ST_JV_METHOD_SLOT + 1;
	}
	return last_sp_ok && out->has_lines != 0;
}

bool st_javawalk_layout(pid_t pid, const uint64_t syms[ST_JV_SYMS], struct st_java_layout *out)
{
	*out = (struct st_java_layout){0};
	return st_jv_structs(pid, syms, out) && st_jv_types(pid, syms, out) &&
	       st_jv_constants(pid, syms, out);
}

bool st_javawalk_interp(pid_t pid, const struct st_java_layout *l, uint64_t *lo, uint64_t *hi)
{
	uint64_t queue, buffer;
	int32_t limit;
	if (!st_jv_word(pid, l->interp_code, &queue) || !st_jv_word(pid, queue + l->queue_buffer, &buffer) ||
	    !st_jv_read(pid, queue + l->queue_limit, &limit, sizeof limit) || limit <= 0 || buffer == 0)
		return false;
	*lo = buffer;
	*hi = buffer + (uint64_t)limit;
	return true;
}

uint64_t st_javawalk_frame(pid_t pid, const struct st_java_layout *l, uint64_t fp)
{
	uint64_t method, bcp;
	if (!st_jv_word(pid, fp + ST_JV_METHOD_SLOT * 8, &method) ||
	    !st_jv_word(pid, fp + ST_JV_BCP_SLOT * 8, &bcp))
		return 0;
	return st_jv_frame(pid, l, method, bcp);
}

void st_javawalk_forget(pid_t pid)
{
	for (unsigned i = 0; i < ST_JV_SEEN; i++)
		if (st_jv_seen[i].pid == (uint32_t)pid)
			__atomic_store_n(&st_jv_seen[i].method, 0, __ATOMIC_RELAXED);
}
