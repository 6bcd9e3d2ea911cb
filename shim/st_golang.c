/*
 * A Go program's runtime makes its socket system calls itself, never through
 * libc: under LD_PRELOAD it would run with no event and no word.  At start
 * the shim looks for the section Go's linker writes into every program
 * (.go.buildinfo) and says once that its sockets bypass the shim.  Reads the
 * ELF section headers of /proc/self/exe with pread: no stdio, no malloc.
 */
#define _GNU_SOURCE
#include <elf.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "st_internal.h"

#define ST_ELF_SECTIONS_MAX 4096u

static bool st_read_at(int fd, void *buf, size_t len, uint64_t off)
{
	return pread(fd, buf, len, (off_t)off) == (ssize_t)len;
}

static bool st_elf_has_section(int fd, const char *want)
{
	Elf64_Ehdr eh;
	Elf64_Shdr names;
	if (!st_read_at(fd, &eh, sizeof eh, 0) || memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0 ||
	    eh.e_ident[EI_CLASS] != ELFCLASS64 || eh.e_shentsize != sizeof names ||
	    eh.e_shstrndx >= eh.e_shnum ||
	    !st_read_at(fd, &names, sizeof names, eh.e_shoff + eh.e_shstrndx * sizeof names))
		return false;
	size_t want_len = strlen(want) + 1;
	for (unsigned i = 0; i < eh.e_shnum && i < ST_ELF_SECTIONS_MAX; i++) {
		Elf64_Shdr sh;
		char name[32];
		if (!st_read_at(fd, &sh, sizeof sh, eh.e_shoff + i * sizeof sh))
			return false;
		if (sh.sh_name + want_len <= names.sh_size &&
		    st_read_at(fd, name, want_len, names.sh_offset + sh.sh_name) &&
		    memcmp(name, want, want_len) == 0)
			return true;
	}
	return false;
}

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
