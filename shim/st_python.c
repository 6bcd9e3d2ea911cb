/*
 * Python frames in the stacks (SOCKTRACE_BACKTRACE) of a CPython program
 * (3.11 to 3.15): at the recorded call, the calling thread's frames are read from
 * the interpreter's own memory, as py-spy and austin read them from outside,
 * and put into the stack beside the native frame of the interpreter
 * activation that runs them (see ST_FRAME_PY in st_format.h).
 *
 * Two ways of reading, chosen per event: as plain memory when the native
 * stack proves this thread is inside Python code that called us (below), and
 * otherwise with process_vm_readv on ourselves (core/st_pywalk.c, shared with
 * the tracer, which reads another process the same way), which fails with
 * EFAULT where a load would fault.  No Python API is called.  Layouts differ
 * between CPython versions (core/st_python_layout.h): any version not read
 * keeps native frames only, said once.
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
#include "core/st_pywalk.h"

/* The calling thread's target: this process, its thread by pthread_self,
 * the thread state it had last time. */
static __thread uint64_t st_py_tstate_seen ST_TLS;

static struct st_py_target st_py_self(void)
{
	return (struct st_py_target){
		.pid = (pid_t)st_pid,
		.runtime = st_py_where.runtime,
		.layout = &st_py_where.layout,
		.eval_lo = st_py_where.eval_lo,
		.eval_hi = st_py_where.eval_hi,
		.version = st_py_where.version,
		.by_native_id = false,
		.id = (uint64_t)pthread_self(),
		.tstate_hint = &st_py_tstate_seen,
	};
}

/* The scratch space of the read-by-system-call path: one buffer for the
 * process, taken with an exchange, never waited for: a thread that finds
 * it taken reads frame by frame. */
static struct st_py_scratch st_py_scratch;
static int st_py_scratch_busy;

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
 * PyGILState_GetThisThreadState reads), checked by thread id.  From 3.13
 * the key is where the debug table does not say, so that function itself
 * is called: it reads the key and nothing else (no allocation, no GIL, no
 * Python code), as the GIL-less call it is made for requires.
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

/* The calling thread's state, from CPython's thread-local key; 0 none. */
static uint64_t st_py_tstate_direct(const struct st_py_layout *l)
{
	uint64_t t = 0;
	if (l->runtime_auto_tss != ST_PY_NONE) {
		const uint8_t *tss =
			(const uint8_t *)(uintptr_t)(st_py_where.runtime + l->runtime_auto_tss);
		int initialized;
		pthread_key_t key;
		memcpy(&initialized, tss + ST_PY_TSS_INITIALIZED, sizeof initialized);
		memcpy(&key, tss + ST_PY_TSS_KEY, sizeof key);
		t = initialized ? (uint64_t)(uintptr_t)pthread_getspecific(key) : 0;
	} else if (st_py_where.this_tstate != NULL) {
		t = st_py_where.this_tstate();
	}
	if (t == 0 || st_py_load(t + l->tstate_thread_id) != (uint64_t)pthread_self())
		return 0;
	return t;
}

/* The frames as memory (see above); -1 when anything is not as expected. */
static int st_py_frames_direct(const struct st_py_target *self, struct st_py_frame *out, int max)
{
	const struct st_py_layout *l = self->layout;
	uint64_t t = st_py_tstate_direct(l);
	if (t == 0)
		return -1;
	uint64_t frame = st_py_load(t + l->tstate_frame);
	if (frame != 0 && l->cframe_current != ST_PY_NONE)
		frame = st_py_load(frame + l->cframe_current);
	int n = 0;
	for (; frame != 0 && n < max; n++) {
		struct st_py_raw raw;
		st_pywalk_frame_fields(l, (const uint8_t *)(uintptr_t)frame, &raw);
		frame = raw.previous;
		if (raw.owner >= ST_PY_OWNED_BY_CSTACK) {
			out[n] = (struct st_py_frame){.instr = -1, .entry = true};
			continue;
		}
		const uint8_t *code = (const uint8_t *)(uintptr_t)raw.code;
		if (code == NULL || !st_pywalk_note_code(self, raw.code, code))
			return -1;
		st_pywalk_frame_finish(l, &raw, code, &out[n]);
	}
	return n;
}

static int st_py_frames(const struct st_py_target *self, struct st_py_frame *out, int max)
{
	if (__atomic_exchange_n(&st_py_scratch_busy, 1, __ATOMIC_ACQUIRE))
		return st_pywalk_frames(self, out, max, NULL);
	int n = st_pywalk_frames(self, out, max, &st_py_scratch);
	__atomic_store_n(&st_py_scratch_busy, 0, __ATOMIC_RELEASE);
	return n;
}

void st_python_frames(struct st_stack *s)
{
	struct st_py_frame py[ST_PY_FRAMES_MAX];
	struct st_py_target self = st_py_self();
	int np = -1;
	if (st_py_called_directly(s))
		np = st_py_frames_direct(&self, py, ST_PY_FRAMES_MAX);
	if (np < 0)
		np = st_py_frames(&self, py, ST_PY_FRAMES_MAX);
	if (np > 0)
		st_pywalk_merge(&self, s, py, np);
}
