/*
 * Methods the HotSpot interpreter runs, named from a JVM's memory read with
 * process_vm_readv: by the shim on its own process and by the tracer on the
 * process it stopped.  HotSpot's interpreter runs every method in one blob
 * of code, so a return address into it names no method; but each
 * interpreter frame holds its Method* and the pointer to its current
 * bytecode at fixed slots below its frame pointer (frame_x86.hpp), and the
 * JVM publishes the layout of its own structures for debuggers
 * (gHotSpotVMStructs, gHotSpotVMTypes, gHotSpotVMIntConstants, read by its
 * serviceability agent and async-profiler): from them the class, method,
 * source file and line are read.  A named frame becomes a synthetic address
 * (ST_FRAME_JAVA) named by a JIT symbol record written once per process and
 * (method, bytecode): "Java:java.net.Socket.connect Socket.java:633".
 */
#ifndef ST_JAVAWALK_H
#define ST_JAVAWALK_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "st_core.h"

/* Where the JVM's tables are in the process (the values of libjvm's
 * symbols, relocated), in this order. */
enum {
	ST_JV_SYM_STRUCTS,	 /* gHotSpotVMStructs */
	ST_JV_SYM_STRUCT_STRIDE, /* gHotSpotVMStructEntryArrayStride */
	ST_JV_SYM_STRUCT_TYPE,	 /* gHotSpotVMStructEntryTypeNameOffset */
	ST_JV_SYM_STRUCT_FIELD,	 /* gHotSpotVMStructEntryFieldNameOffset */
	ST_JV_SYM_STRUCT_OFFSET, /* gHotSpotVMStructEntryOffsetOffset */
	ST_JV_SYM_STRUCT_ADDRESS, /* gHotSpotVMStructEntryAddressOffset */
	ST_JV_SYM_TYPES,	 /* gHotSpotVMTypes */
	ST_JV_SYM_TYPE_STRIDE,	 /* gHotSpotVMTypeEntryArrayStride */
	ST_JV_SYM_TYPE_NAME,	 /* gHotSpotVMTypeEntryTypeNameOffset */
	ST_JV_SYM_TYPE_SIZE,	 /* gHotSpotVMTypeEntrySizeOffset */
	ST_JV_SYM_INTS,		 /* gHotSpotVMIntConstants */
	ST_JV_SYM_INT_STRIDE,	 /* gHotSpotVMIntConstantEntryArrayStride */
	ST_JV_SYM_INT_NAME,	 /* gHotSpotVMIntConstantEntryNameOffset */
	ST_JV_SYM_INT_VALUE,	 /* gHotSpotVMIntConstantEntryValueOffset */
	ST_JV_SYMS
};
extern const char *const st_javawalk_symbols[ST_JV_SYMS];

/* What is read of one JVM. */
struct st_java_layout {
	uint64_t interp_code; /* &AbstractInterpreter::_code (a StubQueue*) */
	uint32_t queue_buffer, queue_limit; /* StubQueue::_stub_buffer, _buffer_limit */
	uint32_t method_const;              /* Method::_constMethod */
	uint32_t cm_constants, cm_size_words, cm_flags, cm_code_size, cm_name_index, cm_size;
	uint32_t cp_holder, cp_source_index, cp_size;
	uint32_t klass_name, sym_length, sym_body;
	uint32_t has_lines; /* ConstMethod::_has_linenumber_table */
	uint32_t u5_excluded; /* the bytes UNSIGNED5 leaves out: 1 from JDK 21 ('\0'), 0 before */
	uint32_t found;     /* bit per structure field found */
};

/* The layout of the JVM of process pid from its tables at syms; false when
 * any value is missing or the frame's slots are not where they are read. */
bool st_javawalk_layout(pid_t pid, const uint64_t syms[ST_JV_SYMS], struct st_java_layout *out);
/* [lo, hi) of the interpreter's code; false before the JVM made it. */
bool st_javawalk_interp(pid_t pid, const struct st_java_layout *l, uint64_t *lo, uint64_t *hi);
/* The synthetic address naming the interpreter frame whose frame pointer is
 * fp (its JIT symbol record written the first time), 0 when the frame does
 * not check out. */
uint64_t st_javawalk_frame(pid_t pid, const struct st_java_layout *l, uint64_t fp);
/* pid's named methods forgotten (an exec replaced its program). */
void st_javawalk_forget(pid_t pid);

#endif
