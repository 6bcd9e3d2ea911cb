/*
 * CPython 3.11's structures as socktrace reads them (x86-64), from its
 * internal headers (Include/internal/pycore_frame.h, pycore_interp.h,
 * pycore_runtime.h, Include/cpython/code.h, unicodeobject.h).
 * tests/test_python.c compiles this beside python3.11-dev's headers and
 * checks every value with offsetof: a layout that changed fails the build
 * of that test, never a traced program.
 */
#ifndef ST_PYTHON_LAYOUT_H
#define ST_PYTHON_LAYOUT_H

enum {
	ST_PY_RUNTIME_INTERP_HEAD = 40,  /* _PyRuntimeState.interpreters.head */
	ST_PY_RUNTIME_AUTO_TSS = 592,    /* _PyRuntimeState.gilstate.autoTSSkey */
	ST_PY_TSS_INITIALIZED = 0,       /* Py_tss_t._is_initialized */
	ST_PY_TSS_KEY = 4,               /* Py_tss_t._key */
	ST_PY_INTERP_THREADS_HEAD = 16,  /* PyInterpreterState.threads.head */
	ST_PY_TSTATE_NEXT = 8,           /* PyThreadState.next */
	ST_PY_TSTATE_CFRAME = 56,        /* PyThreadState.cframe */
	ST_PY_TSTATE_THREAD_ID = 152,    /* PyThreadState.thread_id (pthread_self) */
	ST_PY_TSTATE_NATIVE_THREAD_ID = 160, /* PyThreadState.native_thread_id (gettid) */
	ST_PY_TSTATE_DATASTACK_CHUNK = 296, /* PyThreadState.datastack_chunk */
	ST_PY_TSTATE_DATASTACK_TOP = 304,   /* PyThreadState.datastack_top */
	ST_PY_STACK_CHUNK_DATA = 24,     /* _PyStackChunk.data */
	ST_PY_CFRAME_CURRENT = 8,        /* _PyCFrame.current_frame */
	ST_PY_FRAME_CODE = 32,           /* _PyInterpreterFrame.f_code */
	ST_PY_FRAME_PREVIOUS = 48,
	ST_PY_FRAME_PREV_INSTR = 56,
	ST_PY_FRAME_IS_ENTRY = 68,
	ST_PY_FRAME_OWNER = 69,
	ST_PY_FRAME_SIZE = 72,
	ST_PY_CODE_FIRSTLINENO = 72,     /* PyCodeObject.co_firstlineno */
	ST_PY_CODE_FILENAME = 112,
	ST_PY_CODE_QUALNAME = 128,
	ST_PY_CODE_LINETABLE = 136,
	ST_PY_CODE_CODE = 184,           /* co_code_adaptive: the bytecode */
	ST_PY_CODE_FIRSTTRACEABLE = 168, /* _co_firsttraceable */
	ST_PY_CODE_SIZE = 176,
	ST_PY_BYTES_SIZE = 16,           /* PyVarObject.ob_size */
	ST_PY_BYTES_DATA = 32,           /* PyBytesObject.ob_sval */
	ST_PY_STR_LENGTH = 16,           /* PyASCIIObject.length */
	ST_PY_STR_STATE = 32,
	ST_PY_STR_ASCII_DATA = 48,       /* sizeof(PyASCIIObject) */
	ST_PY_STR_LATIN1_DATA = 72,      /* sizeof(PyCompactUnicodeObject) */
	ST_PY_OWNED_BY_GENERATOR = 1,
};


#endif
