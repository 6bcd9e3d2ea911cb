/*
 * Python frames read with process_vm_readv (see st_pywalk.h).
 *
 * Hazards, and what guards each:
 * - Another thread may be freeing objects while we read (the GIL is released
 *   around connect), and a forked child or an exiting interpreter may be
 *   tearing the state down: every read is a process_vm_readv, which fails
 *   with EFAULT instead of faulting, and any failed or implausible read
 *   drops the Python frames of that event (the native stack is kept).
 * - No Python API is called: nothing here allocates, takes the GIL or runs
 *   Python code; loops are bounded (threads, frames, string lengths).
 * - A code object freed and another made at its address: the record cache
 *   keys on the address with the file, name and line-table pointers, and a
 *   code object that differs is recorded again (the reader takes the newest
 *   record before the event).
 * - Reads are what a Python stack costs (a system call each), so an event
 *   makes few: the thread state is remembered per thread (checked by its
 *   id on every use: a thread state freed and made again elsewhere is
 *   looked up afresh), its head read at once; the top of the thread's frame
 *   stack (the "datastack", where frames not owned by a generator live) in
 *   one piece; and the code objects of all frames in one call with one
 *   iovec each.
 */
#define _GNU_SOURCE
#include <string.h>
#include <sys/syscall.h>
#include <sys/uio.h>

#include "st_pywalk.h"

#define ST_PY_THREADS_MAX 4096
#define ST_PY_FILE_MAX 1024
#define ST_PY_NAME_MAX 512
#define ST_PY_TABLE_MAX 8192
#define ST_PY_SEEN 4096

/* code objects already recorded, by process (a forked child records its own) */
static struct st_py_seen {
	uint64_t code; /* stored last */
	uint64_t filename, qualname, linetable;
	uint32_t pid;
} st_py_seen[ST_PY_SEEN];

static bool st_py_read(const struct st_py_target *t, uint64_t addr, void *buf, size_t len)
{
	struct iovec here = {buf, len}, there = {(void *)(uintptr_t)addr, len};
	return addr != 0 &&
	       ST_SYS(SYS_process_vm_readv, t->pid, &here, 1, &there, 1, 0) == (long)len;
}

static bool st_py_word(const struct st_py_target *t, uint64_t addr, uint64_t *v)
{
	return st_py_read(t, addr, v, sizeof *v);
}

/* st_record_pycode's reader of the line table */
struct st_py_table_from {
	const struct st_py_target *t;
	uint64_t addr;
};

static bool st_py_read_to(void *to, size_t len, void *arg)
{
	const struct st_py_table_from *from = arg;
	return st_py_read(from->t, from->addr, to, len);
}

/* Whether the thread state whose head is in head is the wanted thread's. */
static bool st_py_is_thread(const struct st_py_target *t, const uint8_t *head)
{
	const struct st_py_layout *l = t->layout;
	uint64_t id;
	memcpy(&id, head + (t->by_native_id ? l->tstate_native_thread_id : l->tstate_thread_id),
	       sizeof id);
	return id == t->id;
}

/* The thread's PyThreadState and its head (layout->tstate_head bytes into
 * head); 0 when it has none. */
static uint64_t st_py_tstate(const struct st_py_target *t, uint8_t *head)
{
	uint64_t interp, ts = t->tstate_hint ? *t->tstate_hint : 0;
	if (ts != 0 && st_py_read(t, ts, head, t->layout->tstate_head) && st_py_is_thread(t, head))
		return ts;
	if (!st_py_word(t, t->runtime + t->layout->runtime_interp_head, &interp) ||
	    !st_py_word(t, interp + t->layout->interp_threads_head, &ts))
		return 0;
	for (unsigned i = 0; ts != 0 && i < ST_PY_THREADS_MAX; i++) {
		if (!st_py_read(t, ts, head, t->layout->tstate_head))
			return 0;
		if (st_py_is_thread(t, head)) {
			if (t->tstate_hint)
				*t->tstate_hint = ts;
			return ts;
		}
		memcpy(&ts, head + t->layout->tstate_next, 8);
	}
	return 0;
}

/* A str object's text as UTF-8, up to max bytes into out: ASCII and Latin-1
 * compact strings; "?" for others (UCS-2 and UCS-4 names are rare, and
 * converting them would take more stack); false when it cannot be read. */
static bool st_py_text(const struct st_py_target *t, uint64_t str, char *out, size_t max,
		       uint16_t *len)
{
	const struct st_py_layout *l = t->layout;
	uint64_t length;
	uint32_t state;
	if (!st_py_word(t, str + l->str_length, &length) ||
	    !st_py_read(t, str + l->str_state, &state, sizeof state))
		return false;
	unsigned kind = (state >> 2) & 7, compact = (state >> 5) & 1, ascii = (state >> 6) & 1;
	if (!compact || kind != 1) {
		out[0] = '?';
		*len = 1;
		return true;
	}
	if (ascii) {
		size_t n = length < max ? length : max;
		*len = (uint16_t)n;
		return st_py_read(t, str + l->str_ascii_data, out, n);
	}
	/* Latin-1 read into out's second half and widened to UTF-8 forwards:
	 * byte i is read before out[2i + 1] can reach it */
	size_t n = length < max / 2 ? length : max / 2;
	uint8_t *latin1 = (uint8_t *)out + max / 2;
	if (!st_py_read(t, str + l->str_latin1_data, latin1, n))
		return false;
	size_t o = 0;
	for (size_t i = 0; i < n; i++) {
		uint8_t b = latin1[i];
		if (b < 0x80) {
			out[o++] = (char)b;
		} else {
			out[o++] = (char)(0xc0 | b >> 6);
			out[o++] = (char)(0x80 | (b & 0x3f));
		}
	}
	*len = (uint16_t)o;
	return true;
}

bool st_pywalk_note_code(const struct st_py_target *t, uint64_t code, const uint8_t *head)
{
	const struct st_py_layout *l = t->layout;
	uint64_t filename, qualname, linetable;
	memcpy(&filename, head + l->code_filename, 8);
	memcpy(&qualname, head + l->code_qualname, 8);
	memcpy(&linetable, head + l->code_linetable, 8);
	struct st_py_seen *seen = &st_py_seen[(code >> 4) % ST_PY_SEEN];
	if (__atomic_load_n(&seen->code, __ATOMIC_ACQUIRE) == code &&
	    seen->pid == (uint32_t)t->pid && seen->filename == filename &&
	    seen->qualname == qualname && seen->linetable == linetable)
		return true;
	/* 1.5 KiB of stack, less than libunwind takes; the table goes straight
	 * into the record (no per-thread buffer: memory the program could use) */
	char file[ST_PY_FILE_MAX], name[ST_PY_NAME_MAX];
	struct st_pycode rec = {.ts_ns = st_now_ns(), .code = code, .version = t->version};
	memcpy(&rec.firstlineno, head + l->code_firstlineno, 4);
	uint64_t table_len;
	if (!st_py_text(t, filename, file, sizeof file, &rec.file_len) ||
	    !st_py_text(t, qualname, name, sizeof name, &rec.name_len) ||
	    !st_py_word(t, linetable + l->bytes_size, &table_len))
		return false;
	if (table_len > ST_PY_TABLE_MAX) {
		table_len = ST_PY_TABLE_MAX;
		rec.flags |= ST_PYCODE_TABLE_CUT;
	}
	rec.table_len = (uint16_t)table_len;
	struct st_py_table_from from = {t, linetable + l->bytes_data};
	st_record_pycode(&rec, file, name, st_py_read_to, &from);
	__atomic_store_n(&seen->code, 0, __ATOMIC_RELAXED);
	seen->pid = (uint32_t)t->pid;
	seen->filename = filename;
	seen->qualname = qualname;
	seen->linetable = linetable;
	__atomic_store_n(&seen->code, code, __ATOMIC_RELEASE);
	return true;
}

void st_pywalk_forget(pid_t pid)
{
	for (unsigned i = 0; i < ST_PY_SEEN; i++)
		if (st_py_seen[i].pid == (uint32_t)pid)
			__atomic_store_n(&st_py_seen[i].code, 0, __ATOMIC_RELAXED);
}

/* A copy of [base, base + len) of the program's memory, or len 0. */
struct st_py_copy {
	uint64_t base;
	size_t len;
	const uint8_t *bytes;
};

/* The top of the thread's frame stack, in one read. */
static struct st_py_copy st_py_copy_stack(const struct st_py_target *t, const uint8_t *head,
					  uint8_t *buf)
{
	uint64_t chunk, top;
	memcpy(&chunk, head + t->layout->tstate_datastack_chunk, 8);
	memcpy(&top, head + t->layout->tstate_datastack_top, 8);
	uint64_t lo = chunk + ST_PY_STACK_CHUNK_DATA;
	if (chunk == 0 || top <= lo)
		return (struct st_py_copy){0};
	if (top - lo > ST_PY_STACK_COPY)
		lo = top - ST_PY_STACK_COPY;
	if (!st_py_read(t, lo, buf, top - lo))
		return (struct st_py_copy){0};
	return (struct st_py_copy){lo, top - lo, buf};
}

/* A frame's first bytes: from the copy when they are all in it. */
static bool st_py_frame_read(const struct st_py_target *t, const struct st_py_copy *c,
			     uint64_t frame, uint8_t *f)
{
	uint32_t len = t->layout->frame_head;
	if (frame >= c->base && frame - c->base + len <= c->len) {
		memcpy(f, c->bytes + (frame - c->base), len);
		return true;
	}
	return st_py_read(t, frame, f, len);
}

/* The code objects' heads, one iovec each, in one call (entries of the C
 * stack have none). */
static bool st_py_codes_read(const struct st_py_target *t, const struct st_py_raw *raw, int n,
			     uint8_t (*codes)[ST_PY_CODE_HEAD_MAX])
{
	struct iovec here[ST_PY_FRAMES_MAX], there[ST_PY_FRAMES_MAX];
	size_t len = t->layout->code_code;
	int m = 0;
	for (int i = 0; i < n; i++) {
		if (raw[i].owner >= ST_PY_OWNED_BY_CSTACK)
			continue;
		here[m] = (struct iovec){codes[i], len};
		there[m++] = (struct iovec){(void *)(uintptr_t)raw[i].code, len};
	}
	return m == 0 || ST_SYS(SYS_process_vm_readv, t->pid, here, m, there, m, 0) == (long)(m * len);
}

void st_pywalk_frame_fields(const struct st_py_layout *l, const uint8_t *f, struct st_py_raw *r)
{
	memcpy(&r->code, f + l->frame_code, 8);
	r->code &= l->frame_code_mask;
	memcpy(&r->instr_ptr, f + l->frame_instr, 8);
	memcpy(&r->previous, f + l->frame_previous, 8);
	r->owner = f[l->frame_owner];
	r->entry = l->frame_is_entry != ST_PY_NONE && f[l->frame_is_entry] != 0;
}

void st_pywalk_frame_finish(const struct st_py_layout *l, const struct st_py_raw *r,
			    const uint8_t *code, struct st_py_frame *out)
{
	int32_t first_traceable;
	memcpy(&first_traceable, code + l->code_firsttraceable, 4);
	int64_t instr = ((int64_t)r->instr_ptr - (int64_t)(r->code + l->code_code)) / 2;
	*out = (struct st_py_frame){
		.code = r->code,
		.instr = instr < -1 ? -1 : instr,
		.entry = r->entry,
		/* _PyFrame_IsIncomplete: set up, not yet running */
		.shown = r->owner == ST_PY_OWNED_BY_GENERATOR || instr >= first_traceable,
	};
}

/* The frame an interpreter activation pushes on entry (3.12+): not shown,
 * it ends the frames that activation runs. */
static const struct st_py_frame st_py_entry_mark = {.instr = -1, .entry = true};

/* The frame chain from frame, innermost first. */
static int st_py_walk(const struct st_py_target *t, const struct st_py_copy *copy, uint64_t frame,
		      struct st_py_raw *raw, int max)
{
	int n = 0;
	for (; frame != 0 && n < max; n++) {
		uint8_t f[ST_PY_FRAME_HEAD_MAX];
		if (!st_py_frame_read(t, copy, frame, f))
			return -1;
		st_pywalk_frame_fields(t->layout, f, &raw[n]);
		frame = raw[n].previous;
	}
	return n;
}

/* The thread's current frame, from its thread state's head. */
static bool st_py_current(const struct st_py_target *t, const uint8_t *head, uint64_t *frame)
{
	const struct st_py_layout *l = t->layout;
	memcpy(frame, head + l->tstate_frame, 8);
	if (l->cframe_current == ST_PY_NONE)
		return true;
	return st_py_word(t, *frame + l->cframe_current, frame);
}

int st_pywalk_frames(const struct st_py_target *t, struct st_py_frame *out, int max,
		     struct st_py_scratch *scratch)
{
	uint8_t head[ST_PY_TSTATE_HEAD_MAX];
	uint64_t frame;
	if (max > ST_PY_FRAMES_MAX)
		max = ST_PY_FRAMES_MAX;
	if (st_py_tstate(t, head) == 0 || !st_py_current(t, head, &frame))
		return -1;
	struct st_py_copy copy =
		scratch ? st_py_copy_stack(t, head, scratch->stack) : (struct st_py_copy){0};
	struct st_py_raw raw[ST_PY_FRAMES_MAX];
	int n = st_py_walk(t, &copy, frame, raw, max);
	if (n <= 0)
		return n;
	if (scratch && !st_py_codes_read(t, raw, n, scratch->codes))
		return -1;
	for (int i = 0; i < n; i++) {
		if (raw[i].owner >= ST_PY_OWNED_BY_CSTACK) {
			out[i] = st_py_entry_mark;
			continue;
		}
		uint8_t one[ST_PY_CODE_HEAD_MAX];
		const uint8_t *code = scratch ? scratch->codes[i] : one;
		if ((!scratch && !st_py_read(t, raw[i].code, one, t->layout->code_code)) ||
		    !st_pywalk_note_code(t, raw[i].code, code))
			return -1;
		st_pywalk_frame_finish(t->layout, &raw[i], code, &out[i]);
	}
	return n;
}

static bool st_py_put(uint64_t *out, unsigned *n, const struct st_py_frame *f)
{
	if (!f->shown)
		return true;
	if (*n + 2 > ST_FRAMES_MAX)
		return false;
	out[(*n)++] = ST_FRAME_PY | f->code;
	out[(*n)++] = (uint64_t)f->instr;
	return true;
}

void st_pywalk_merge(const struct st_py_target *t, struct st_stack *s,
		     const struct st_py_frame *py, int np)
{
	uint64_t out[ST_FRAMES_MAX];
	unsigned n = 0;
	int next = 0;
	for (unsigned i = 0; i < s->n && n < ST_FRAMES_MAX; i++) {
		out[n++] = s->ip[i];
		if (s->ip[i] < t->eval_lo || s->ip[i] >= t->eval_hi)
			continue;
		/* this activation runs the frames up to its entry frame */
		while (next < np) {
			bool entry = py[next].entry;
			if (!st_py_put(out, &n, &py[next++]))
				break;
			if (entry)
				break;
		}
	}
	while (next < np && st_py_put(out, &n, &py[next]))
		next++;
	memcpy(s->ip, out, n * sizeof out[0]);
	s->n = n;
}
