/*
 * CPython's structures as socktrace reads them (x86-64, builds with the GIL).
 *
 * 3.11 and 3.12: fixed offsets from each version's internal headers
 * (Include/internal/pycore_frame.h, pycore_interp.h, pycore_runtime.h,
 * Include/cpython/code.h, unicodeobject.h).  3.13 and 3.14: the offsets
 * table CPython publishes for out-of-process readers at the start of
 * _PyRuntime (_Py_DebugOffsets), read from the program, so that a build
 * whose objects are laid out differently (a debug build's longer object
 * header) is read right; the table's own shape differs between the two
 * (ST_PYDBG_*, ST_PYDBG314_*, ST_PYDBG315_*), and the few values it lacks
 * are derived from its fields (ST_PY313_*, the same in 3.14 and 3.15).  tests/test_python.c
 * compiles this beside each version's headers and checks every value with
 * offsetof: a layout that changed fails that test, never a traced program.
 * Any other version (3.10 and older, 3.16 and newer, whose table shape is
 * not known here, and free-threaded builds) keeps native frames only.
 */
#ifndef ST_PYTHON_LAYOUT_H
#define ST_PYTHON_LAYOUT_H

#include <stdbool.h>
#include <stdint.h>

/* 3.11 */
enum {
	ST_PY311_RUNTIME_INTERP_HEAD = 40,  /* _PyRuntimeState.interpreters.head */
	ST_PY311_RUNTIME_AUTO_TSS = 592,    /* _PyRuntimeState.gilstate.autoTSSkey */
	ST_PY311_INTERP_THREADS_HEAD = 16,  /* PyInterpreterState.threads.head */
	ST_PY311_TSTATE_NEXT = 8,           /* PyThreadState.next */
	ST_PY311_TSTATE_CFRAME = 56,        /* PyThreadState.cframe */
	ST_PY311_TSTATE_THREAD_ID = 152,    /* PyThreadState.thread_id (pthread_self) */
	ST_PY311_TSTATE_NATIVE_THREAD_ID = 160, /* PyThreadState.native_thread_id (gettid) */
	ST_PY311_TSTATE_DATASTACK_CHUNK = 296,
	ST_PY311_TSTATE_DATASTACK_TOP = 304,
	ST_PY311_CFRAME_CURRENT = 8,        /* _PyCFrame.current_frame */
	ST_PY311_FRAME_CODE = 32,           /* _PyInterpreterFrame.f_code */
	ST_PY311_FRAME_PREVIOUS = 48,
	ST_PY311_FRAME_PREV_INSTR = 56,
	ST_PY311_FRAME_IS_ENTRY = 68,
	ST_PY311_FRAME_OWNER = 69,
	ST_PY311_CODE_FIRSTLINENO = 72,     /* PyCodeObject.co_firstlineno */
	ST_PY311_CODE_FILENAME = 112,
	ST_PY311_CODE_QUALNAME = 128,
	ST_PY311_CODE_LINETABLE = 136,
	ST_PY311_CODE_FIRSTTRACEABLE = 168, /* _co_firsttraceable */
	ST_PY311_CODE_CODE = 184,           /* co_code_adaptive: the bytecode */
	ST_PY311_STR_ASCII_DATA = 48,       /* sizeof(PyASCIIObject) */
	ST_PY311_STR_LATIN1_DATA = 72,      /* sizeof(PyCompactUnicodeObject) */
};

/* 3.12: no is_entry (each interpreter activation pushes a frame owned by
 * the C stack instead), no wstr in strings */
enum {
	ST_PY312_RUNTIME_INTERP_HEAD = 40,
	ST_PY312_RUNTIME_AUTO_TSS = 1544,   /* _PyRuntimeState.autoTSSkey */
	ST_PY312_INTERP_THREADS_HEAD = 72,
	ST_PY312_TSTATE_NEXT = 8,
	ST_PY312_TSTATE_CFRAME = 56,
	ST_PY312_TSTATE_THREAD_ID = 136,
	ST_PY312_TSTATE_NATIVE_THREAD_ID = 144,
	ST_PY312_TSTATE_DATASTACK_CHUNK = 232,
	ST_PY312_TSTATE_DATASTACK_TOP = 240,
	ST_PY312_CFRAME_CURRENT = 0,
	ST_PY312_FRAME_CODE = 0,
	ST_PY312_FRAME_PREVIOUS = 8,
	ST_PY312_FRAME_PREV_INSTR = 56,
	ST_PY312_FRAME_OWNER = 70,
	ST_PY312_CODE_FIRSTLINENO = 68,
	ST_PY312_CODE_FILENAME = 112,
	ST_PY312_CODE_QUALNAME = 128,
	ST_PY312_CODE_LINETABLE = 136,
	ST_PY312_CODE_FIRSTTRACEABLE = 176,
	ST_PY312_CODE_CODE = 192,
	ST_PY312_STR_ASCII_DATA = 40,
	ST_PY312_STR_LATIN1_DATA = 56,
};

/* 3.13: where _Py_DebugOffsets (at offset 0 of _PyRuntime) keeps the
 * fields read here, and what it lacks, derived from them */
enum {
	ST_PYDBG_COOKIE = 0, /* "xdebugpy" */
	ST_PYDBG_VERSION = 8,
	ST_PYDBG_FREE_THREADED = 16,
	ST_PYDBG_RUNTIME_INTERP_HEAD = 40,
	ST_PYDBG_INTERP_THREADS_HEAD = 72,
	ST_PYDBG_TSTATE_NEXT = 168,
	ST_PYDBG_TSTATE_CURRENT_FRAME = 184,
	ST_PYDBG_TSTATE_THREAD_ID = 192,
	ST_PYDBG_TSTATE_NATIVE_THREAD_ID = 200,
	ST_PYDBG_TSTATE_DATASTACK_CHUNK = 208,
	ST_PYDBG_FRAME_PREVIOUS = 232,
	ST_PYDBG_FRAME_EXECUTABLE = 240,
	ST_PYDBG_FRAME_INSTR_PTR = 248,
	ST_PYDBG_FRAME_OWNER = 264,
	ST_PYDBG_CODE_FILENAME = 280,
	ST_PYDBG_CODE_QUALNAME = 296,
	ST_PYDBG_CODE_LINETABLE = 304,
	ST_PYDBG_CODE_FIRSTLINENO = 312,
	ST_PYDBG_CODE_CODE = 344,
	ST_PYDBG_BYTES_SIZE = 520,
	ST_PYDBG_BYTES_DATA = 528,
	ST_PYDBG_STR_STATE = 544,
	ST_PYDBG_STR_LENGTH = 552,
	ST_PYDBG_STR_ASCII_SIZE = 560,
	ST_PYDBG_SIZE = 584,
	/* PyThreadState.datastack_top follows datastack_chunk */
	ST_PY313_DATASTACK_TOP_AFTER_CHUNK = 8,
	/* PyCodeObject: int _co_firsttraceable; void *co_extra; co_code_adaptive */
	ST_PY313_FIRSTTRACEABLE_BEFORE_CODE = 16,
	/* PyCompactUnicodeObject: PyASCIIObject, then utf8_length and utf8 */
	ST_PY313_LATIN1_AFTER_ASCII = 16,
};

/* 3.14: the same fields in its longer table (interpreters and frames gained
 * fields before them; sets were added) */
enum {
	ST_PYDBG314_RUNTIME_INTERP_HEAD = 40,
	ST_PYDBG314_INTERP_THREADS_HEAD = 72,
	ST_PYDBG314_TSTATE_NEXT = 192,
	ST_PYDBG314_TSTATE_CURRENT_FRAME = 208,
	ST_PYDBG314_TSTATE_THREAD_ID = 216,
	ST_PYDBG314_TSTATE_NATIVE_THREAD_ID = 224,
	ST_PYDBG314_TSTATE_DATASTACK_CHUNK = 232,
	ST_PYDBG314_FRAME_PREVIOUS = 256,
	ST_PYDBG314_FRAME_EXECUTABLE = 264, /* a _PyStackRef: its low bit a tag */
	ST_PYDBG314_FRAME_INSTR_PTR = 272,
	ST_PYDBG314_FRAME_OWNER = 288,
	ST_PYDBG314_CODE_FILENAME = 320,
	ST_PYDBG314_CODE_QUALNAME = 336,
	ST_PYDBG314_CODE_LINETABLE = 344,
	ST_PYDBG314_CODE_FIRSTLINENO = 352,
	ST_PYDBG314_CODE_CODE = 384,
	ST_PYDBG314_BYTES_SIZE = 600,
	ST_PYDBG314_BYTES_DATA = 608,
	ST_PYDBG314_STR_STATE = 624,
	ST_PYDBG314_STR_LENGTH = 632,
	ST_PYDBG314_STR_ASCII_SIZE = 640,
	ST_PYDBG314_SIZE = 760,
	ST_PY314_STACKREF_TAG = 3, /* Py_TAG_BITS of a build with the GIL: the low two bits */
};

/* 3.15: longer again (thread states and frames gained profiling fields) */
enum {
	ST_PYDBG315_RUNTIME_INTERP_HEAD = 40,
	ST_PYDBG315_INTERP_THREADS_HEAD = 72,
	ST_PYDBG315_TSTATE_NEXT = 192,
	ST_PYDBG315_TSTATE_CURRENT_FRAME = 208,
	ST_PYDBG315_TSTATE_THREAD_ID = 240,
	ST_PYDBG315_TSTATE_NATIVE_THREAD_ID = 248,
	ST_PYDBG315_TSTATE_DATASTACK_CHUNK = 256,
	ST_PYDBG315_FRAME_PREVIOUS = 320,
	ST_PYDBG315_FRAME_EXECUTABLE = 328,
	ST_PYDBG315_FRAME_INSTR_PTR = 336,
	ST_PYDBG315_FRAME_OWNER = 352,
	ST_PYDBG315_CODE_FILENAME = 384,
	ST_PYDBG315_CODE_QUALNAME = 400,
	ST_PYDBG315_CODE_LINETABLE = 408,
	ST_PYDBG315_CODE_FIRSTLINENO = 416,
	ST_PYDBG315_CODE_CODE = 448,
	ST_PYDBG315_BYTES_SIZE = 696,
	ST_PYDBG315_BYTES_DATA = 704,
	ST_PYDBG315_STR_STATE = 720,
	ST_PYDBG315_STR_LENGTH = 728,
	ST_PYDBG315_STR_ASCII_SIZE = 736,
	ST_PYDBG315_SIZE = 888,
};
/* what is read at the start of _PyRuntime: the longest table known */
#define ST_PYDBG_READ ST_PYDBG315_SIZE

/* the same in every version read */
enum {
	ST_PY_TSS_INITIALIZED = 0, /* Py_tss_t._is_initialized */
	ST_PY_TSS_KEY = 4,         /* Py_tss_t._key */
	ST_PY_STACK_CHUNK_DATA = 24, /* _PyStackChunk.data */
	ST_PY_BYTES_SIZE = 16,     /* PyVarObject.ob_size */
	ST_PY_BYTES_DATA = 32,     /* PyBytesObject.ob_sval */
	ST_PY_STR_LENGTH = 16,     /* PyASCIIObject.length */
	ST_PY_STR_STATE = 32,
	ST_PY_OWNED_BY_GENERATOR = 1,
	/* 3.12+: an interpreter activation's entry frame, owned by the C stack
	 * (3.12, 3.13: FRAME_OWNED_BY_CSTACK; 3.14: FRAME_OWNED_BY_INTERPRETER,
	 * and CSTACK after it; 3.15: INTERPRETER alone): an owner from this one
	 * up is never a Python function's frame (3.11's owners stop below it) */
	ST_PY_OWNED_BY_CSTACK = 3,
};

/* How much of each object a walk reads at once (bounds for the layouts
 * taken from a program's debug table, too). */
#define ST_PY_TSTATE_HEAD_MAX 320
#define ST_PY_FRAME_HEAD_MAX 128
#define ST_PY_CODE_HEAD_MAX 384
#define ST_PY_NONE UINT32_MAX /* a field this version does not have */

/* One CPython version's layout, as the walker uses it. */
struct st_py_layout {
	uint32_t runtime_interp_head, runtime_auto_tss; /* auto_tss: ST_PY_NONE for 3.13 */
	uint32_t interp_threads_head;
	uint32_t tstate_next, tstate_thread_id, tstate_native_thread_id;
	uint32_t tstate_frame;   /* the cframe, or (cframe_current NONE) the frame itself */
	uint32_t cframe_current;
	uint32_t tstate_datastack_chunk, tstate_datastack_top;
	uint32_t tstate_head;    /* bytes read of a thread state: through its last field read */
	uint32_t frame_code, frame_previous, frame_instr, frame_owner;
	uint64_t frame_code_mask; /* the code object's bits of the frame's field (3.14: a tagged ref) */
	uint32_t frame_is_entry; /* 3.11; NONE: entries are frames owned by the C stack */
	uint32_t frame_head;     /* bytes read of a frame */
	uint32_t code_firstlineno, code_filename, code_qualname, code_linetable;
	uint32_t code_firsttraceable, code_code; /* code_code: bytes read of a code object */
	uint32_t bytes_size, bytes_data;
	uint32_t str_length, str_state, str_ascii_data, str_latin1_data;
};

/* The layout of CPython version (Py_Version) into out; debug: the first
 * ST_PYDBG_READ bytes of the program's _PyRuntime (needed from 3.13, NULL
 * when unread).  False: a version not read (native frames only). */
bool st_py_layout_for(uint32_t version, const uint8_t *debug, struct st_py_layout *out);

#endif
