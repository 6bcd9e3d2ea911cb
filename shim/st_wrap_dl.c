/*
 * dlclose may unmap an object whose addresses a later dlopen reuses: the
 * module table is told, so the next stack rescans instead of naming a frame
 * after the object that was there before.  dlopen itself is not wrapped: glibc
 * resolves its search path from the caller's address, which a wrapper would
 * change.
 */
#define _GNU_SOURCE
#include <dlfcn.h>

#include "st_internal.h"

#define ST_EXPORT __attribute__((visibility("default")))

ST_EXPORT int dlclose(void *handle)
{
	int ret = st_real_dlclose(handle);
	st_modules_changed();
	return ret;
}
