/*
 * Choosing the layout a CPython program is read with (st_python_layout.h).
 * A 3.13 program's own debug table is untrusted input like any memory of
 * the program: each offset taken from it is checked against the bytes the
 * walker reads of that object, so a table that does not fit (a build this
 * code does not know) gives native frames only, never a read out of bounds.
 */
#include <string.h>

#include "st_python_layout.h"

static const struct st_py_layout st_py_layout_311 = {
	.runtime_interp_head = ST_PY311_RUNTIME_INTERP_HEAD,
	.runtime_auto_tss = ST_PY311_RUNTIME_AUTO_TSS,
	.interp_threads_head = ST_PY311_INTERP_THREADS_HEAD,
	.tstate_next = ST_PY311_TSTATE_NEXT,
	.tstate_thread_id = ST_PY311_TSTATE_THREAD_ID,
	.tstate_native_thread_id = ST_PY311_TSTATE_NATIVE_THREAD_ID,
	.tstate_frame = ST_PY311_TSTATE_CFRAME,
	.cframe_current = ST_PY311_CFRAME_CURRENT,
	.tstate_datastack_chunk = ST_PY311_TSTATE_DATASTACK_CHUNK,
	.tstate_datastack_top = ST_PY311_TSTATE_DATASTACK_TOP,
	.frame_code = ST_PY311_FRAME_CODE,
	.frame_previous = ST_PY311_FRAME_PREVIOUS,
	.frame_instr = ST_PY311_FRAME_PREV_INSTR,
	.frame_owner = ST_PY311_FRAME_OWNER,
	.frame_is_entry = ST_PY311_FRAME_IS_ENTRY,
	.frame_head = 72,
	.code_firstlineno = ST_PY311_CODE_FIRSTLINENO,
	.code_filename = ST_PY311_CODE_FILENAME,
	.code_qualname = ST_PY311_CODE_QUALNAME,
	.code_linetable = ST_PY311_CODE_LINETABLE,
	.code_firsttraceable = ST_PY311_CODE_FIRSTTRACEABLE,
	.code_code = ST_PY311_CODE_CODE,
	.bytes_size = ST_PY_BYTES_SIZE,
	.bytes_data = ST_PY_BYTES_DATA,
	.str_length = ST_PY_STR_LENGTH,
	.str_state = ST_PY_STR_STATE,
	.str_ascii_data = ST_PY311_STR_ASCII_DATA,
	.str_latin1_data = ST_PY311_STR_LATIN1_DATA,
	.frame_code_mask = ~(uint64_t)0,
};

static const struct st_py_layout st_py_layout_312 = {
	.runtime_interp_head = ST_PY312_RUNTIME_INTERP_HEAD,
	.runtime_auto_tss = ST_PY312_RUNTIME_AUTO_TSS,
	.interp_threads_head = ST_PY312_INTERP_THREADS_HEAD,
	.tstate_next = ST_PY312_TSTATE_NEXT,
	.tstate_thread_id = ST_PY312_TSTATE_THREAD_ID,
	.tstate_native_thread_id = ST_PY312_TSTATE_NATIVE_THREAD_ID,
	.tstate_frame = ST_PY312_TSTATE_CFRAME,
	.cframe_current = ST_PY312_CFRAME_CURRENT,
	.tstate_datastack_chunk = ST_PY312_TSTATE_DATASTACK_CHUNK,
	.tstate_datastack_top = ST_PY312_TSTATE_DATASTACK_TOP,
	.frame_code = ST_PY312_FRAME_CODE,
	.frame_previous = ST_PY312_FRAME_PREVIOUS,
	.frame_instr = ST_PY312_FRAME_PREV_INSTR,
	.frame_owner = ST_PY312_FRAME_OWNER,
	.frame_is_entry = ST_PY_NONE,
	.frame_head = 72,
	.code_firstlineno = ST_PY312_CODE_FIRSTLINENO,
	.code_filename = ST_PY312_CODE_FILENAME,
	.code_qualname = ST_PY312_CODE_QUALNAME,
	.code_linetable = ST_PY312_CODE_LINETABLE,
	.code_firsttraceable = ST_PY312_CODE_FIRSTTRACEABLE,
	.code_code = ST_PY312_CODE_CODE,
	.bytes_size = ST_PY_BYTES_SIZE,
	.bytes_data = ST_PY_BYTES_DATA,
	.str_length = ST_PY_STR_LENGTH,
	.str_state = ST_PY_STR_STATE,
	.str_ascii_data = ST_PY312_STR_ASCII_DATA,
	.str_latin1_data = ST_PY312_STR_LATIN1_DATA,
	.frame_code_mask = ~(uint64_t)0,
};

static uint32_t st_py_debug_field(const uint8_t *debug, unsigned at)
{
	uint64_t v;
	memcpy(&v, debug + at, sizeof v);
	return v > UINT32_MAX / 2 ? UINT32_MAX / 2 : (uint32_t)v;
}

static uint32_t st_py_max(uint32_t a, uint32_t b)
{
	return a > b ? a : b;
}

/* Whether every offset leaves a whole field inside what the walker reads;
 * how much of a thread state it reads. */
static bool st_py_layout_fits(struct st_py_layout *l)
{
	uint32_t tstate = st_py_max(st_py_max(l->tstate_next, l->tstate_frame),
				    st_py_max(l->tstate_thread_id, l->tstate_native_thread_id));
	tstate = st_py_max(tstate, st_py_max(l->tstate_datastack_chunk, l->tstate_datastack_top));
	uint32_t code = st_py_max(st_py_max(l->code_filename, l->code_qualname),
				  st_py_max(l->code_linetable, l->code_firstlineno));
	l->tstate_head = tstate + 8;
	return l->tstate_head <= ST_PY_TSTATE_HEAD_MAX && l->frame_head <= ST_PY_FRAME_HEAD_MAX &&
	       l->code_code <= ST_PY_CODE_HEAD_MAX && code + 8 <= l->code_code &&
	       l->code_firsttraceable + 4 <= l->code_code && l->str_ascii_data < 1024 &&
	       l->str_latin1_data < 1024 && l->str_length < 256 && l->str_state < 256 &&
	       l->bytes_size < 256 && l->bytes_data < 256 &&
	       l->runtime_interp_head < (1u << 20) && l->interp_threads_head < (1u << 20);
}

/* Where one version's debug table keeps the fields read (its shape). */
struct st_py_debug_shape {
	uint32_t version; /* major and minor, as Py_Version >> 16 */
	uint32_t interp_head, threads_head, tstate_next, tstate_frame, tstate_thread_id,
		tstate_native_thread_id, tstate_chunk, frame_previous, frame_executable,
		frame_instr, frame_owner, code_filename, code_qualname, code_linetable,
		code_firstlineno, code_code, bytes_size, bytes_data, str_state, str_length,
		str_ascii_size;
	uint64_t code_mask;
};

static const struct st_py_debug_shape st_py_debug_shapes[] = {
	{0x030d, ST_PYDBG_RUNTIME_INTERP_HEAD, ST_PYDBG_INTERP_THREADS_HEAD, ST_PYDBG_TSTATE_NEXT,
	 ST_PYDBG_TSTATE_CURRENT_FRAME, ST_PYDBG_TSTATE_THREAD_ID, ST_PYDBG_TSTATE_NATIVE_THREAD_ID,
	 ST_PYDBG_TSTATE_DATASTACK_CHUNK, ST_PYDBG_FRAME_PREVIOUS, ST_PYDBG_FRAME_EXECUTABLE,
	 ST_PYDBG_FRAME_INSTR_PTR, ST_PYDBG_FRAME_OWNER, ST_PYDBG_CODE_FILENAME,
	 ST_PYDBG_CODE_QUALNAME, ST_PYDBG_CODE_LINETABLE, ST_PYDBG_CODE_FIRSTLINENO,
	 ST_PYDBG_CODE_CODE, ST_PYDBG_BYTES_SIZE, ST_PYDBG_BYTES_DATA, ST_PYDBG_STR_STATE,
	 ST_PYDBG_STR_LENGTH, ST_PYDBG_STR_ASCII_SIZE, ~(uint64_t)0},
	{0x030e, ST_PYDBG314_RUNTIME_INTERP_HEAD, ST_PYDBG314_INTERP_THREADS_HEAD,
	 ST_PYDBG314_TSTATE_NEXT, ST_PYDBG314_TSTATE_CURRENT_FRAME, ST_PYDBG314_TSTATE_THREAD_ID,
	 ST_PYDBG314_TSTATE_NATIVE_THREAD_ID, ST_PYDBG314_TSTATE_DATASTACK_CHUNK,
	 ST_PYDBG314_FRAME_PREVIOUS, ST_PYDBG314_FRAME_EXECUTABLE, ST_PYDBG314_FRAME_INSTR_PTR,
	 ST_PYDBG314_FRAME_OWNER, ST_PYDBG314_CODE_FILENAME, ST_PYDBG314_CODE_QUALNAME,
	 ST_PYDBG314_CODE_LINETABLE, ST_PYDBG314_CODE_FIRSTLINENO, ST_PYDBG314_CODE_CODE,
	 ST_PYDBG314_BYTES_SIZE, ST_PYDBG314_BYTES_DATA, ST_PYDBG314_STR_STATE,
	 ST_PYDBG314_STR_LENGTH, ST_PYDBG314_STR_ASCII_SIZE, ~(uint64_t)ST_PY314_STACKREF_TAG},
	{0x030f, ST_PYDBG315_RUNTIME_INTERP_HEAD, ST_PYDBG315_INTERP_THREADS_HEAD,
	 ST_PYDBG315_TSTATE_NEXT, ST_PYDBG315_TSTATE_CURRENT_FRAME, ST_PYDBG315_TSTATE_THREAD_ID,
	 ST_PYDBG315_TSTATE_NATIVE_THREAD_ID, ST_PYDBG315_TSTATE_DATASTACK_CHUNK,
	 ST_PYDBG315_FRAME_PREVIOUS, ST_PYDBG315_FRAME_EXECUTABLE, ST_PYDBG315_FRAME_INSTR_PTR,
	 ST_PYDBG315_FRAME_OWNER, ST_PYDBG315_CODE_FILENAME, ST_PYDBG315_CODE_QUALNAME,
	 ST_PYDBG315_CODE_LINETABLE, ST_PYDBG315_CODE_FIRSTLINENO, ST_PYDBG315_CODE_CODE,
	 ST_PYDBG315_BYTES_SIZE, ST_PYDBG315_BYTES_DATA, ST_PYDBG315_STR_STATE,
	 ST_PYDBG315_STR_LENGTH, ST_PYDBG315_STR_ASCII_SIZE, ~(uint64_t)ST_PY314_STACKREF_TAG},
};

static bool st_py_layout_debug(const uint8_t *debug, uint32_t minor, struct st_py_layout *out)
{
	const struct st_py_debug_shape *d = NULL;
	for (size_t i = 0; i < sizeof st_py_debug_shapes / sizeof st_py_debug_shapes[0]; i++)
		if (st_py_debug_shapes[i].version == minor)
			d = &st_py_debug_shapes[i];
	uint64_t version, free_threaded;
	memcpy(&version, debug + ST_PYDBG_VERSION, sizeof version);
	memcpy(&free_threaded, debug + ST_PYDBG_FREE_THREADED, sizeof free_threaded);
	/* the table's own shape is known only for the version it says */
	if (d == NULL || memcmp(debug + ST_PYDBG_COOKIE, "xdebugpy", 8) != 0 ||
	    (version >> 16) != minor || free_threaded != 0)
		return false;
#define F(at) st_py_debug_field(debug, (at))
	uint32_t chunk = F(d->tstate_chunk), code = F(d->code_code), ascii = F(d->str_ascii_size);
	*out = (struct st_py_layout){
		.runtime_interp_head = F(d->interp_head),
		.runtime_auto_tss = ST_PY_NONE,
		.interp_threads_head = F(d->threads_head),
		.tstate_next = F(d->tstate_next),
		.tstate_thread_id = F(d->tstate_thread_id),
		.tstate_native_thread_id = F(d->tstate_native_thread_id),
		.tstate_frame = F(d->tstate_frame),
		.cframe_current = ST_PY_NONE,
		.tstate_datastack_chunk = chunk,
		.tstate_datastack_top = chunk + ST_PY313_DATASTACK_TOP_AFTER_CHUNK,
		.frame_code = F(d->frame_executable),
		.frame_code_mask = d->code_mask,
		.frame_previous = F(d->frame_previous),
		.frame_instr = F(d->frame_instr),
		.frame_owner = F(d->frame_owner),
		.frame_is_entry = ST_PY_NONE,
		.code_firstlineno = F(d->code_firstlineno),
		.code_filename = F(d->code_filename),
		.code_qualname = F(d->code_qualname),
		.code_linetable = F(d->code_linetable),
		.code_firsttraceable = code >= ST_PY313_FIRSTTRACEABLE_BEFORE_CODE
					       ? code - ST_PY313_FIRSTTRACEABLE_BEFORE_CODE
					       : UINT32_MAX / 2,
		.code_code = code,
		.bytes_size = F(d->bytes_size),
		.bytes_data = F(d->bytes_data),
		.str_length = F(d->str_length),
		.str_state = F(d->str_state),
		.str_ascii_data = ascii,
		.str_latin1_data = ascii + ST_PY313_LATIN1_AFTER_ASCII,
	};
#undef F
	out->frame_head = st_py_max(st_py_max(out->frame_code, out->frame_previous),
				    out->frame_instr) + 8;
	out->frame_head = st_py_max(out->frame_head, out->frame_owner + 1);
	return true;
}

bool st_py_layout_for(uint32_t version, const uint8_t *debug, struct st_py_layout *out)
{
	switch (version >> 16) {
	case 0x030b:
		*out = st_py_layout_311;
		break;
	case 0x030c:
		*out = st_py_layout_312;
		break;
	case 0x030d:
	case 0x030e:
	case 0x030f:
		if (debug == NULL || !st_py_layout_debug(debug, version >> 16, out))
			return false;
		break;
	default:
		return false;
	}
	return st_py_layout_fits(out);
}
