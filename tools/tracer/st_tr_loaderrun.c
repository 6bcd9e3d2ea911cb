/*
 * A program run by naming its dynamic loader ("ld.so [OPTIONS] PROGRAM
 * ARGS", as a program of another distribution is run with that
 * distribution's loader).  The kernel then ran the loader as the program:
 * /proc/PID/exe is the loader and AT_BASE is 0.  The shim learns the program
 * from its argv[0], which the loader rewrote; the tracer writes its process
 * record at the exec stop, before the loader has run, so it reads the
 * program the way the loader will: after the loader's own options in the
 * command line (st_loaderargs.c, shared with the shim).  Without this the
 * process record named the loader.
 */
#define _GNU_SOURCE
#include <elf.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "st_tracer.h"

/* AT_BASE of pid, from the copy of its auxiliary vector the kernel keeps;
 * false when it cannot be read. */
static bool st_tr_at_base(pid_t pid, uint64_t *base)
{
	char path[64];
	uint64_t auxv[128];
	snprintf(path, sizeof path, "/proc/%d/auxv", (int)pid);
	size_t n = st_read_file(path, (char *)auxv, sizeof auxv) / sizeof auxv[0];
	for (size_t i = 0; i + 1 < n && auxv[i] != AT_NULL; i += 2)
		if (auxv[i] == AT_BASE) {
			*base = auxv[i + 1];
			return true;
		}
	return false;
}

/* Whether the running program's file is glibc's dynamic loader: it alone
 * exports _rtld_global_ro.  A static program also has AT_BASE 0. */
static bool st_tr_exe_is_loader(pid_t pid)
{
	char path[64];
	snprintf(path, sizeof path, "/proc/%d/exe", (int)pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0)
		return false;
	static const char *const names[] = {"_rtld_global_ro"};
	uint64_t value, size;
	bool loader = st_tr_dynsyms(fd, names, 1, &value, &size) && value != 0;
	close(fd);
	return loader;
}

bool st_tr_loader_program(pid_t pid, const char *cmd, size_t cmd_len, char *out, size_t size)
{
	uint64_t base;
	if (cmd_len == 0 || !st_tr_at_base(pid, &base) || base != 0 || !st_tr_exe_is_loader(pid))
		return false;
	const char *prog = st_loader_program_arg(cmd, cmd_len);
	/* a bare name is looked up by the loader like a library: not followed */
	if (prog == NULL || strchr(prog, '/') == NULL)
		return false;
	char path[PATH_MAX + 64], real[PATH_MAX];
	if (prog[0] == '/')
		snprintf(path, sizeof path, "%s", prog);
	else
		snprintf(path, sizeof path, "/proc/%d/cwd/%s", (int)pid, prog);
	size_t len;
	if (realpath(path, real) == NULL || (len = strlen(real)) >= size)
		return false;
	memcpy(out, real, len + 1);
	return true;
}
