/* Whether an ELF file has a section of a given name (".go.buildinfo" marks a
 * Go program): read with pread only, no stdio or malloc, so the shim can ask
 * at start-up and the launcher before it runs a program. */
#ifndef ST_ELF_H
#define ST_ELF_H

#include <elf.h>
#include <stdbool.h>
#include <string.h>
#include <unistd.h>

#define ST_ELF_SECTIONS_MAX 4096u

static inline bool st_elf_read_at(int fd, void *buf, size_t len, uint64_t off)
{
	return pread(fd, buf, len, (off_t)off) == (ssize_t)len;
}

static inline bool st_elf_has_section(int fd, const char *want)
{
	Elf64_Ehdr eh;
	Elf64_Shdr names;
	if (!st_elf_read_at(fd, &eh, sizeof eh, 0) || memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0 ||
	    eh.e_ident[EI_CLASS] != ELFCLASS64 || eh.e_shentsize != sizeof names ||
	    eh.e_shstrndx >= eh.e_shnum ||
	    !st_elf_read_at(fd, &names, sizeof names, eh.e_shoff + eh.e_shstrndx * sizeof names))
		return false;
	size_t want_len = strlen(want) + 1;
	char name[64];
	if (want_len > sizeof name)
		return false;
	for (unsigned i = 0; i < eh.e_shnum && i < ST_ELF_SECTIONS_MAX; i++) {
		Elf64_Shdr sh;
		if (!st_elf_read_at(fd, &sh, sizeof sh, eh.e_shoff + i * sizeof sh))
			return false;
		if (sh.sh_name + want_len <= names.sh_size &&
		    st_elf_read_at(fd, name, want_len, names.sh_offset + sh.sh_name) &&
		    memcmp(name, want, want_len) == 0)
			return true;
	}
	return false;
}

#endif
