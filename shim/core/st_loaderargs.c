/*
 * A program run by naming the dynamic loader: "ld.so [OPTIONS] PROGRAM
 * ARGS", as a program of another distribution is run with that
 * distribution's loader.  The kernel then runs the loader as the program
 * (/proc/PID/exe is the loader, AT_BASE is 0), and the program is the first
 * argument after the loader's own options, as glibc's rtld.c (dl_main)
 * reads them.  Both front-ends name the process by that program: the shim
 * from its own command line, the tracer from the traced one's.  The command
 * line is untrusted (any program can write one): every string is bounded
 * by its length.
 */
#define _GNU_SOURCE
#include <string.h>

#include "st_core.h"

/* The loader's options that take an argument (rtld.c, dl_main). */
static bool st_loader_option_has_arg(const char *opt)
{
	static const char *const with_arg[] = {
		"--library-path", "--inhibit-rpath", "--audit", "--preload", "--argv0",
		"--glibc-hwcaps-prefix", "--glibc-hwcaps-mask"};
	for (size_t i = 0; i < sizeof with_arg / sizeof with_arg[0]; i++)
		if (strcmp(opt, with_arg[i]) == 0)
			return true;
	return false;
}

const char *st_loader_program_arg(const char *cmd, size_t len)
{
	if (len == 0)
		return NULL;
	const char *end = cmd + len, *arg = cmd + strnlen(cmd, len) + 1;
	while (arg < end) {
		size_t n = strnlen(arg, (size_t)(end - arg));
		if (n == (size_t)(end - arg))
			return NULL; /* not NUL-terminated: cut short */
		const char *next = arg + n + 1;
		if (strcmp(arg, "--") == 0)
			return next < end && strnlen(next, (size_t)(end - next)) < (size_t)(end - next)
				       ? next
				       : NULL;
		if (strncmp(arg, "--", 2) != 0)
			return arg;
		if (st_loader_option_has_arg(arg)) {
			if (next >= end)
				return NULL;
			next += strnlen(next, (size_t)(end - next)) + 1;
		}
		arg = next;
	}
	return NULL;
}
