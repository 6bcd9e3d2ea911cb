/*
 * A Go program's runtime makes its socket system calls itself, never through
 * libc: under LD_PRELOAD it would run with no event and no word.  At start
 * the shim looks for the section Go's linker writes into every program
 * (.go.buildinfo) and says once that its sockets bypass the shim.  Reads the
 * ELF section headers of /proc/self/exe with pread: no stdio, no malloc.
 */
#define _GNU_SOURCE
#include <fcntl.h>

#include "st_elf.h"
#include "st_internal.h"

void st_golang_check(const char *exe)
{
	int fd = (int)ST_SYS(SYS_openat, AT_FDCWD, "/proc/self/exe", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	bool go = st_elf_has_section(fd, ".go.buildinfo");
	ST_SYS(SYS_close, fd);
	if (go)
		st_say((const char *const[]){exe, " is a Go program: its runtime makes its socket "
					      "system calls itself, which LD_PRELOAD cannot see; "
					      "only calls made through C libraries (cgo) are "
					      "recorded", NULL});
}
