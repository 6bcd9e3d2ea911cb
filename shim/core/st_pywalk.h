/*
 * A thread's CPython frames read from its process's memory with
 * process_vm_readv, which fails with EFAULT where a load would fault: by
 * the shim on its own process (when a plain read could meet memory being
 * freed) and by the tracer on the process it stopped.  Each code object's
 * file, name and line table are recorded once per process (st_record_pycode)
 * and the frames put into the native stack beside the interpreter frame
 * that runs them (ST_FRAME_PY).  Layouts: st_python_layout.h.
 */
#ifndef ST_PYWALK_H
#define ST_PYWALK_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "st_core.h"
#include "st_python_layout.h"

#define ST_PY_FRAMES_MAX (ST_FRAMES_MAX / 2)
#define ST_PY_STACK_COPY 16384

/* CPython in one process, and the thread whose frames are wanted. */
struct st_py_target {
	pid_t pid;		    /* whose memory */
	uint64_t runtime;	    /* &_PyRuntime */
	const struct st_py_layout *layout; /* its version's */
	uint64_t eval_lo, eval_hi;  /* _PyEval_EvalFrameDefault */
	uint32_t version;	    /* Py_Version */
	bool by_native_id;	    /* the thread named by gettid's id, else pthread_self's ... */
	uint64_t id;		    /* ... and its value for this one */
	uint64_t *tstate_hint;	    /* its thread state last time, 0 unknown; NULL none */
};

struct st_py_frame {
	uint64_t code;
	int64_t instr;
	bool entry; /* the first its interpreter activation runs */
	bool shown; /* false for a frame still being set up (no instruction run) */
};

/* A frame's fields as read, before its code object is. */
struct st_py_raw {
	uint64_t code, instr_ptr, previous;
	uint8_t owner;
	bool entry;
};

/* Scratch for one walk: the top of the frame stack and the code heads,
 * each copied in one read. */
struct st_py_scratch {
	uint8_t stack[ST_PY_STACK_COPY];
	uint8_t codes[ST_PY_FRAMES_MAX][ST_PY_CODE_HEAD_MAX];
};

/* The thread's frames, innermost first (scratch NULL: read frame by frame);
 * -1 on any doubt: an unreadable or implausible read. */
int st_pywalk_frames(const struct st_py_target *t, struct st_py_frame *out, int max,
		     struct st_py_scratch *scratch);
/* The record of the code object at code (head: its first layout->code_code
 * bytes), unless this process has recorded it already; false when it
 * cannot be read. */
bool st_pywalk_note_code(const struct st_py_target *t, uint64_t code, const uint8_t *head);
/* One frame's fields from its first layout->frame_head bytes. */
void st_pywalk_frame_fields(const struct st_py_layout *l, const uint8_t *f, struct st_py_raw *r);
/* The frame as shown, from its fields and its code object's head. */
void st_pywalk_frame_finish(const struct st_py_layout *l, const struct st_py_raw *r,
			    const uint8_t *code, struct st_py_frame *out);
/* The frames put into s after the interpreter frames that run them. */
void st_pywalk_merge(const struct st_py_target *t, struct st_stack *s,
		     const struct st_py_frame *py, int np);
/* pid's code objects forgotten (an exec replaced its program). */
void st_pywalk_forget(pid_t pid);

#endif
