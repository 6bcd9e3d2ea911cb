/*
 * longjmp, siglongjmp, _longjmp and __longjmp_chk: a signal handler that
 * interrupted the recorder and leaves with a jump (a timeout around a
 * connect, as ordinary programs write them) never lets the recorder finish.
 * The jump's target is known here, before it is taken: the recorder levels
 * below it are closed (st_record_jumped), then the real function jumps.
 * Only a thread inside the recorder pays more than a load and a compare.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <setjmp.h>
#include <stdint.h>

#include "st_internal.h"

#define ST_EXPORT __attribute__((visibility("default")))

typedef void (*st_jump_fn)(void *env, int val) __attribute__((noreturn));

/*
 * The stack pointer saved in a glibc x86-64 jmp_buf (word 6), which glibc
 * stores mangled: rotated left 17 bits after an xor with the thread's pointer
 * guard (tcbhead_t.pointer_guard, %fs:0x30), as PTR_MANGLE does.
 */
static uintptr_t st_jump_target_sp(const void *env)
{
	uintptr_t word = ((const uintptr_t *)env)[6];
	uintptr_t guard;
	__asm__("mov %%fs:0x30, %0" : "=r"(guard));
	return ((word >> 17) | (word << 47)) ^ guard;
}

/* Bound on first use: a jump needs no recorder, and dlsym is not made
 * async-signal-safe by anything, so the usual first use, long before a
 * handler jumps, is in st_jump_bind_all from the constructor. */
static st_jump_fn st_jump_real[4];
static const char *const st_jump_names[4] = {"longjmp", "_longjmp", "siglongjmp",
					      "__longjmp_chk"};

void st_jump_bind_all(void)
{
	for (int i = 0; i < 4; i++)
		if (__atomic_load_n(&st_jump_real[i], __ATOMIC_ACQUIRE) == NULL)
			__atomic_store_n(&st_jump_real[i],
					 (st_jump_fn)dlsym(RTLD_NEXT, st_jump_names[i]),
					 __ATOMIC_RELEASE);
}

static __attribute__((noreturn)) void st_jump(int which, void *env, int val)
{
	uintptr_t target_sp = st_jump_target_sp(env);
	st_record_jumped(target_sp);
	st_connect_jumped(target_sp); /* after: the recorder's levels are closed */
	st_jump_fn real = __atomic_load_n(&st_jump_real[which], __ATOMIC_ACQUIRE);
	if (real == NULL) {
		st_jump_bind_all();
		real = st_jump_real[which];
	}
	real(env, val);
}

ST_EXPORT void longjmp(jmp_buf env, int val)
{
	st_jump(0, env, val);
}

ST_EXPORT void _longjmp(jmp_buf env, int val)
{
	st_jump(1, env, val);
}

ST_EXPORT void siglongjmp(sigjmp_buf env, int val)
{
	st_jump(2, env, val);
}

ST_EXPORT void __longjmp_chk(jmp_buf env, int val)
{
	st_jump(3, env, val);
}
