/*
 * A thread's CPython 3.11 frames read from its process's memory with
 * process_vm_readv, which fails with EFAULT where a load would fault: by
 * the shim on its own process (when a plain read could meet memory being
 * freed) and by the tracer on the process it stopped.  Each code object's
 * file, name and line table are recorded once per process (st_record_pycode)
 * and the frames put into the native stack beside the interpreter frame
 * that runs them (ST_FRAME_PY).  Layout: st_python_layout.h.
 */
#ifndef ST_PYWALK_H
#define ST_PYWALK_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "st_core.h"
#include "st_python_layout.h"

#define ST_PY_FRAMES_MAX (ST_FRAMES_MAX / 2)
#define ST_PY_TSTATE_HEAD 320 /* through datastack_top */
#define ST_PY_STACK_COPY 16384

/* CPython in one process, and the thread whose frames are wanted. */
struct st_py_target {
	pid_t pid;		    /* whose memory */
	uint64_t runtime;	    /* &_PyRuntime */
	uint64_t eval_lo, eval_hi;  /* _PyEval_EvalFrameDefault */
	uint32_t version;	    /* Py_Version */
	unsigned id_offset;	    /* the PyThreadState field naming the thread ... */
	uint64_t id;		    /* ... and its value for this one */
	uint64_t *tstate_hint;	    /* its thread state last time, 0 unknown; NULL none */
};

struct st_py_frame {
	uint64_t code;
	int64_t instr;
	bool entry;
	bool shown; /* false for a frame still being set up (no instruction run) */
};

/* Scratch for one walk: the top of the frame stack and the code heads,
 * each copied in one read. */
struct st_py_scratch {
	uint8_t stack[ST_PY_STACK_COPY];
	uint8_t codes[ST_PY_FRAMES_MAX][ST_PY_CODE_SIZE];
};

/* The thread's frames, innermost first (scratch NULL: read frame by frame);
 * -1 on any doubt: an unreadable or implausible read. */
int st_pywalk_frames(const struct st_py_target *t, struct st_py_frame *out, int max,
		     struct st_py_scratch *scratch);
/* The record of the code object at code (head: its first ST_PY_CODE_SIZE
 * bytes), unless this process has recorded it already; false when it
 * cannot be read. */
bool st_pywalk_note_code(const struct st_py_target *t, uint64_t code, const uint8_t *head);
/* The frames put into s after the interpreter frames that run them. */
void st_pywalk_merge(const struct st_py_target *t, struct st_stack *s,
		     const struct st_py_frame *py, int np);
/* pid's code objects forgotten (an exec replaced its program). */
void st_pywalk_forget(pid_t pid);

#endif
