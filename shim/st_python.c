/*
 * Python frames in the stacks (SOCKTRACE_BACKTRACE) of a CPython 3.11
 * program: at the recorded call, the calling thread's frames are read from
 * the interpreter's own memory, as py-spy and austin read them from outside,
 * and put into the stack beside the native frame of the interpreter
 * activation that runs them (see ST_FRAME_PY in st_format.h).
 *
 * Hazards, and what guards each:
 * - The GIL is released around connect(), so another thread may be freeing
 *   objects while we read, and a forked child or an exiting interpreter may
 *   be tearing the state down.  What the calling thread's own frame chain
 *   reaches is kept alive by that thread, inside our wrapper: it is read as
 *   memory when the native stack proves the thread is there (an interpreter
 *   frame and no signal frame before it, st_py_called_directly); anything
 *   else goes through process_vm_readv on ourselves, which fails with
 *   EFAULT where a load would fault, and any failed or implausible read
 *   drops the Python frames of that event (the native stack is kept).
 * - No Python API is called: nothing here allocates, takes the GIL or runs
 *   Python code; loops are bounded (threads, frames, string lengths).
 * - A code object freed and another made at its address: the record cache
 *   keys on the address with the file, name and line-table pointers, and a
 *   code object that differs is recorded again (the reader takes the newest
 *   record before the event).
 * Layouts differ between CPython versions; only 3.11's is known here (from
 * its internal headers, checked against python3.11-dev by
 * tests/test_python.c): any other version keeps native frames only, said
 * once.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <link.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/uio.h>

#include "st_internal.h"
#include "st_python_layout.h"

#define ST_PY_THREADS_MAX 4096
#define ST_PY_FRAMES_MAX (ST_FRAMES_MAX / 2)
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

struct st_py_frame {
	uint64_t code;
	int64_t instr;
	bool entry;
	bool shown; /* false for a frame still being set up (no instruction run) */
};

static bool st_py_read(uint64_t addr, void *buf, size_t len)
{
	struct iovec here = {buf, len}, there = {(void *)(uintptr_t)addr, len};
	return addr != 0 &&
	       ST_SYS(SYS_process_vm_readv, st_pid, &here, 1, &there, 1, 0) == (long)len;
}

/* st_record_pycode's reader of the line table at *arg */
static bool st_py_read_to(void *to, size_t len, void *arg)
{
	return st_py_read(*(const uint64_t *)arg, to, len);
}

static bool st_py_word(uint64_t addr, uint64_t *v)
{
	return st_py_read(addr, v, sizeof *v);
}

/*
 * Reads are what a Python stack costs (a system call each), so an event
 * makes few: the thread state is remembered per thread (checked by its
 * thread id on every use: a thread state freed and made again elsewhere is
 * looked up afresh), its head read at once; the top of the thread's frame
 * stack (the "datastack", where frames not owned by a generator live) is
 * read in one piece; and the code objects of all frames in one call with
 * one iovec each.  The scratch space for the last two is one buffer for the
 * process, taken with an exchange, never waited for: a thread that finds
 * it taken reads frame by frame.
 */
#define ST_PY_TSTATE_HEAD 320 /* through datastack_top */
#define ST_PY_STACK_COPY 16384

static __thread uint64_t st_py_tstate_seen ST_TLS;

static struct {
	uint8_t stack[ST_PY_STACK_COPY];
	uint8_t codes[ST_PY_FRAMES_MAX][ST_PY_CODE_SIZE];
} st_py_scratch;
static int st_py_scratch_busy;

/* The calling thread's PyThreadState and its head (ST_PY_TSTATE_HEAD bytes
 * into head); 0 when it has none. */
static uint64_t st_py_tstate(uint8_t *head)
{
	uint64_t interp, t = st_py_tstate_seen, self = (uint64_t)pthread_self(), id;
	if (t != 0 && st_py_read(t, head, ST_PY_TSTATE_HEAD) &&
	    (memcpy(&id, head + ST_PY_TSTATE_THREAD_ID, 8), id == self))
		return t;
	if (!st_py_word(st_py_where.runtime + ST_PY_RUNTIME_INTERP_HEAD, &interp) ||
	    !st_py_word(interp + ST_PY_INTERP_THREADS_HEAD, &t))
		return 0;
	for (unsigned i = 0; t != 0 && i < ST_PY_THREADS_MAX; i++) {
		if (!st_py_read(t, head, ST_PY_TSTATE_HEAD))
			return 0;
		memcpy(&id, head + ST_PY_TSTATE_THREAD_ID, 8);
		if (id == self) {
			st_py_tstate_seen = t;
			return t;
		}
		memcpy(&t, head + ST_PY_TSTATE_NEXT, 8);
	}
	return 0;
}

/* A str object's text as UTF-8, up to max bytes into out: ASCII and Latin-1
 * compact strings; "?" for others (UCS-2 and UCS-4 names are rare, and
 * converting them would take more stack); false when it cannot be read. */
static bool st_py_text(uint64_t str, char *out, size_t max, uint16_t *len)
{
	uint64_t length;
	uint32_t state;
	if (!st_py_word(str + ST_PY_STR_LENGTH, &length) ||
	    !st_py_read(str + ST_PY_STR_STATE, &state, sizeof state))
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
		return st_py_read(str + ST_PY_STR_ASCII_DATA, out, n);
	}
	/* Latin-1 read into out's second half and widened to UTF-8 forwards:
	 * byte i is read before out[2i + 1] can reach it */
	size_t n = length < max / 2 ? length : max / 2;
	uint8_t *latin1 = (uint8_t *)out + max / 2;
	if (!st_py_read(str + ST_PY_STR_LATIN1_DATA, latin1, n))
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

/* Writes the record of a code object not yet recorded by this process. */
static bool st_py_note_code(uint64_t code, const uint8_t *head)
{
	uint64_t filename, qualname, linetable;
	memcpy(&filename, head + ST_PY_CODE_FILENAME, 8);
	memcpy(&qualname, head + ST_PY_CODE_QUALNAME, 8);
	memcpy(&linetable, head + ST_PY_CODE_LINETABLE, 8);
	struct st_py_seen *seen = &st_py_seen[(code >> 4) % ST_PY_SEEN];
	if (__atomic_load_n(&seen->code, __ATOMIC_ACQUIRE) == code && seen->pid == st_pid &&
	    seen->filename == filename && seen->qualname == qualname && seen->linetable == linetable)
		return true;
	/* 1.5 KiB of stack, less than libunwind takes; the table goes straight
	 * into the record (no per-thread buffer: memory the program could use) */
	char file[ST_PY_FILE_MAX], name[ST_PY_NAME_MAX];
	struct st_pycode rec = {.ts_ns = st_now_ns(), .code = code, .version = st_py_where.version};
	memcpy(&rec.firstlineno, head + ST_PY_CODE_FIRSTLINENO, 4);
	uint64_t table_len;
	if (!st_py_text(filename, file, sizeof file, &rec.file_len) ||
	    !st_py_text(qualname, name, sizeof name, &rec.name_len) ||
	    !st_py_word(linetable + ST_PY_BYTES_SIZE, &table_len))
		return false;
	if (table_len > ST_PY_TABLE_MAX) {
		table_len = ST_PY_TABLE_MAX;
		rec.flags |= ST_PYCODE_TABLE_CUT;
	}
	rec.table_len = (uint16_t)table_len;
	uint64_t from = linetable + ST_PY_BYTES_DATA;
	st_record_pycode(&rec, file, name, st_py_read_to, &from);
	__atomic_store_n(&seen->code, 0, __ATOMIC_RELAXED);
	seen->pid = st_pid;
	seen->filename = filename;
	seen->qualname = qualname;
	seen->linetable = linetable;
	__atomic_store_n(&seen->code, code, __ATOMIC_RELEASE);
	return true;
}

/* A copy of [base, base + len) of the program's memory, or len 0. */
struct st_py_copy {
	uint64_t base;
	size_t len;
	const uint8_t *bytes;
};

/* The top of the thread's frame stack, in one read. */
static struct st_py_copy st_py_copy_stack(const uint8_t *head, uint8_t *buf)
{
	uint64_t chunk, top;
	memcpy(&chunk, head + ST_PY_TSTATE_DATASTACK_CHUNK, 8);
	memcpy(&top, head + ST_PY_TSTATE_DATASTACK_TOP, 8);
	uint64_t lo = chunk + ST_PY_STACK_CHUNK_DATA;
	if (chunk == 0 || top <= lo)
		return (struct st_py_copy){0};
	if (top - lo > ST_PY_STACK_COPY)
		lo = top - ST_PY_STACK_COPY;
	if (!st_py_read(lo, buf, top - lo))
		return (struct st_py_copy){0};
	return (struct st_py_copy){lo, top - lo, buf};
}

/* A frame's first bytes: from the copy when they are all in it. */
static bool st_py_frame_read(const struct st_py_copy *c, uint64_t frame, uint8_t *f)
{
	if (frame >= c->base && frame - c->base + ST_PY_FRAME_SIZE <= c->len) {
		memcpy(f, c->bytes + (frame - c->base), ST_PY_FRAME_SIZE);
		return true;
	}
	return st_py_read(frame, f, ST_PY_FRAME_SIZE);
}

/* The code objects' heads, one iovec each, in one call. */
static bool st_py_codes_read(const struct st_py_frame *fr, int n, uint8_t (*codes)[ST_PY_CODE_SIZE])
{
	struct iovec here[ST_PY_FRAMES_MAX], there[ST_PY_FRAMES_MAX];
	for (int i = 0; i < n; i++) {
		here[i] = (struct iovec){codes[i], ST_PY_CODE_SIZE};
		there[i] = (struct iovec){(void *)(uintptr_t)fr[i].code, ST_PY_CODE_SIZE};
	}
	return ST_SYS(SYS_process_vm_readv, st_pid, here, n, there, n, 0) ==
	       (long)n * ST_PY_CODE_SIZE;
}

/* The frame chain from frame: code, instruction, entry; code heads after. */
static int st_py_walk(const struct st_py_copy *copy, uint64_t frame, struct st_py_frame *out,
		      int max, uint64_t *prev_instr, uint8_t *owner)
{
	int n = 0;
	for (; frame != 0 && n < max; n++) {
		uint8_t f[ST_PY_FRAME_SIZE];
		if (!st_py_frame_read(copy, frame, f))
			return -1;
		memcpy(&out[n].code, f + ST_PY_FRAME_CODE, 8);
		memcpy(&prev_instr[n], f + ST_PY_FRAME_PREV_INSTR, 8);
		out[n].entry = f[ST_PY_FRAME_IS_ENTRY] != 0;
		owner[n] = f[ST_PY_FRAME_OWNER];
		memcpy(&frame, f + ST_PY_FRAME_PREVIOUS, 8);
	}
	return n;
}

/* The thread's Python frames, innermost first, with scratch for copies
 * (NULL: none, read frame by frame); -1 on any doubt. */
static int st_py_frames_with(struct st_py_frame *out, int max, uint8_t *stack,
			     uint8_t (*codes)[ST_PY_CODE_SIZE])
{
	uint8_t head[ST_PY_TSTATE_HEAD];
	uint64_t cframe, frame;
	if (st_py_tstate(head) == 0)
		return -1;
	memcpy(&cframe, head + ST_PY_TSTATE_CFRAME, 8);
	if (!st_py_word(cframe + ST_PY_CFRAME_CURRENT, &frame))
		return -1;
	struct st_py_copy copy = stack ? st_py_copy_stack(head, stack) : (struct st_py_copy){0};
	uint64_t prev_instr[ST_PY_FRAMES_MAX];
	uint8_t owner[ST_PY_FRAMES_MAX];
	int n = st_py_walk(&copy, frame, out, max, prev_instr, owner);
	if (n <= 0)
		return n;
	if (codes && !st_py_codes_read(out, n, codes))
		return -1;
	for (int i = 0; i < n; i++) {
		uint8_t one[ST_PY_CODE_SIZE];
		const uint8_t *code = codes ? codes[i] : one;
		if ((!codes && !st_py_read(out[i].code, one, sizeof one)) ||
		    !st_py_note_code(out[i].code, code))
			return -1;
		int32_t first_traceable;
		memcpy(&first_traceable, code + ST_PY_CODE_FIRSTTRACEABLE, 4);
		int64_t instr = ((int64_t)prev_instr[i] - (int64_t)(out[i].code + ST_PY_CODE_CODE)) / 2;
		out[i].instr = instr < -1 ? -1 : instr;
		/* _PyFrame_IsIncomplete: set up, not yet running */
		out[i].shown = owner[i] == ST_PY_OWNED_BY_GENERATOR || instr >= first_traceable;
	}
	return n;
}

/*
 * Without a system call: when the native stack shows that this thread is
 * running Python code that called us directly (an interpreter frame among
 * the native ones, and no signal frame before it), every object reached
 * from the thread's current frame is kept alive by this very thread, which
 * is inside our wrapper: the frames (on its frame stack, or owned by
 * generators the chain keeps alive), their code objects (each frame holds a
 * reference) and the code's strings.  Nothing can free them meanwhile; so
 * they are read as memory.  A handler that interrupted Python halfway
 * through popping a frame could see a code object being freed: a signal
 * frame (the return into libc's __restore_rt, learnt from the handler
 * CPython installs for SIGINT) sends the event to the read-by-system-call
 * path, as does a native stack too short to show the interpreter frame.
 * The thread state comes from CPython's own thread-local key (what
 * PyGILState_GetThisThreadState reads), checked by thread id.
 */
#ifndef SA_RESTORER
#define SA_RESTORER 0x04000000 /* the kernel's; glibc sets it and keeps it to itself */
#endif
static uint64_t st_py_restorer;   /* __restore_rt, 0 while unknown */
static bool st_py_restorer_tried;

static void st_py_learn_restorer(void)
{
	struct sigaction sa;
	st_py_restorer_tried = true;
	if (sigaction(SIGINT, NULL, &sa) == 0 && (sa.sa_flags & SA_RESTORER))
		st_py_restorer = (uint64_t)(uintptr_t)sa.sa_restorer;
}

/* Whether the stack's innermost interpreter frame is shown with no signal
 * frame before it. */
static bool st_py_called_directly(const struct st_stack *s)
{
	if (!st_py_restorer_tried)
		st_py_learn_restorer();
	if (st_py_restorer == 0)
		return false;
	for (unsigned i = 0; i < s->n; i++) {
		if (s->ip[i] - st_py_restorer < 16)
			return false;
		if (s->ip[i] >= st_py_where.eval_lo && s->ip[i] < st_py_where.eval_hi)
			return true;
	}
	return false;
}

static uint64_t st_py_load(uint64_t addr)
{
	return *(const uint64_t *)(uintptr_t)addr;
}

/* The frames as memory (see above); -1 when anything is not as expected. */
static int st_py_frames_direct(struct st_py_frame *out, int max)
{
	const uint8_t *tss = (const uint8_t *)(uintptr_t)(st_py_where.runtime + ST_PY_RUNTIME_AUTO_TSS);
	int initialized;
	pthread_key_t key;
	memcpy(&initialized, tss + ST_PY_TSS_INITIALIZED, sizeof initialized);
	memcpy(&key, tss + ST_PY_TSS_KEY, sizeof key);
	uint64_t t = initialized ? (uint64_t)(uintptr_t)pthread_getspecific(key) : 0;
	if (t == 0 || st_py_load(t + ST_PY_TSTATE_THREAD_ID) != (uint64_t)pthread_self())
		return -1;
	uint64_t cframe = st_py_load(t + ST_PY_TSTATE_CFRAME);
	uint64_t frame = cframe ? st_py_load(cframe + ST_PY_CFRAME_CURRENT) : 0;
	int n = 0;
	for (; frame != 0 && n < max; n++) {
		const uint8_t *f = (const uint8_t *)(uintptr_t)frame;
		uint64_t c, prev_instr;
		memcpy(&c, f + ST_PY_FRAME_CODE, 8);
		memcpy(&prev_instr, f + ST_PY_FRAME_PREV_INSTR, 8);
		if (c == 0 || !st_py_note_code(c, (const uint8_t *)(uintptr_t)c))
			return -1;
		int32_t first_traceable;
		memcpy(&first_traceable, (const uint8_t *)(uintptr_t)c + ST_PY_CODE_FIRSTTRACEABLE, 4);
		int64_t instr = ((int64_t)prev_instr - (int64_t)(c + ST_PY_CODE_CODE)) / 2;
		out[n] = (struct st_py_frame){
			.code = c, .instr = instr < -1 ? -1 : instr, .entry = f[ST_PY_FRAME_IS_ENTRY] != 0,
			.shown = f[ST_PY_FRAME_OWNER] == ST_PY_OWNED_BY_GENERATOR ||
				 instr >= first_traceable,
		};
		memcpy(&frame, f + ST_PY_FRAME_PREVIOUS, 8);
	}
	return n;
}

static int st_py_frames(struct st_py_frame *out, int max)
{
	if (__atomic_exchange_n(&st_py_scratch_busy, 1, __ATOMIC_ACQUIRE))
		return st_py_frames_with(out, max, NULL, NULL);
	int n = st_py_frames_with(out, max, st_py_scratch.stack, st_py_scratch.codes);
	__atomic_store_n(&st_py_scratch_busy, 0, __ATOMIC_RELEASE);
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

void st_python_frames(struct st_stack *s)
{
	struct st_py_frame py[ST_PY_FRAMES_MAX];
	int np = -1;
	if (st_py_called_directly(s))
		np = st_py_frames_direct(py, ST_PY_FRAMES_MAX);
	if (np < 0)
		np = st_py_frames(py, ST_PY_FRAMES_MAX);
	if (np <= 0)
		return;
	uint64_t out[ST_FRAMES_MAX];
	unsigned n = 0;
	int next = 0;
	for (unsigned i = 0; i < s->n && n < ST_FRAMES_MAX; i++) {
		out[n++] = s->ip[i];
		if (s->ip[i] < st_py_where.eval_lo || s->ip[i] >= st_py_where.eval_hi)
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
