/*
 * Symbols of an object a traced program maps, read from its file's dynamic
 * symbol table (the tracer cannot ask the program's loader): the runtimes
 * found in a program's objects, CPython (st_tr_python.c) and HotSpot
 * (st_tr_java.c).  The file is untrusted input: every header, section and
 * name is bounded.
 */
#define _GNU_SOURCE
#include <stdlib.h>
#include <string.h>

#include "../../shim/st_elf.h"
#include "st_tracer.h"

#define ST_TR_DYNSYM_MAX (16u << 20)

static bool st_tr_section(int fd, const Elf64_Ehdr *eh, unsigned i, Elf64_Shdr *sh)
{
	return i < eh->e_shnum && i < ST_ELF_SECTIONS_MAX &&
	       st_elf_read_at(fd, sh, sizeof *sh, eh->e_shoff + (uint64_t)i * sizeof *sh);
}

static void *st_tr_section_load(int fd, const Elf64_Shdr *sh)
{
	if (sh->sh_size == 0 || sh->sh_size > ST_TR_DYNSYM_MAX)
		return NULL;
	void *buf = malloc(sh->sh_size + 1);
	if (buf != NULL && !st_elf_read_at(fd, buf, sh->sh_size, sh->sh_offset)) {
		free(buf);
		return NULL;
	}
	if (buf != NULL)
		((char *)buf)[sh->sh_size] = '\0'; /* names end inside it */
	return buf;
}

static void st_tr_match(const Elf64_Sym *sym, const char *name, const char *const *names, int n,
			uint64_t *values, uint64_t *sizes)
{
	for (int i = 0; i < n; i++)
		if (strcmp(name, names[i]) == 0) {
			values[i] = sym->st_value;
			sizes[i] = sym->st_size;
		}
}

bool st_tr_dynsyms(int fd, const char *const *names, int n, uint64_t *values, uint64_t *sizes)
{
	Elf64_Ehdr eh;
	memset(values, 0, (size_t)n * sizeof *values);
	memset(sizes, 0, (size_t)n * sizeof *sizes);
	if (!st_elf_read_at(fd, &eh, sizeof eh, 0) || memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0 ||
	    eh.e_ident[EI_CLASS] != ELFCLASS64 || eh.e_shentsize != sizeof(Elf64_Shdr))
		return false;
	for (unsigned i = 0; i < eh.e_shnum && i < ST_ELF_SECTIONS_MAX; i++) {
		Elf64_Shdr sh, strsh;
		if (!st_tr_section(fd, &eh, i, &sh))
			return false;
		if (sh.sh_type != SHT_DYNSYM || !st_tr_section(fd, &eh, sh.sh_link, &strsh))
			continue;
		Elf64_Sym *syms = st_tr_section_load(fd, &sh);
		char *strs = st_tr_section_load(fd, &strsh);
		for (size_t k = 0; syms && strs && k < sh.sh_size / sizeof *syms; k++)
			if (syms[k].st_name < strsh.sh_size && syms[k].st_shndx != SHN_UNDEF)
				st_tr_match(&syms[k], strs + syms[k].st_name, names, n, values, sizes);
		free(syms);
		free(strs);
		return true;
	}
	return false;
}
