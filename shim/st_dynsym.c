/*
 * An object's dynamic symbols looked up in its loaded tables (GNU hash), as
 * memory: the module scan (inside dl_iterate_phdr, signals blocked, maybe in
 * a handler) must not call dlsym.  For the runtimes found in a library the
 * program loads itself: libpython (st_python_find.c), libjvm (st_java.c).
 */
#define _GNU_SOURCE
#include <link.h>
#include <string.h>

#include "st_internal.h"

static uint32_t st_dyn_gnu_hash(const char *s)
{
	uint32_t h = 5381;
	for (; *s; s++)
		h = h * 33 + (uint8_t)*s;
	return h;
}

const Elf64_Sym *st_dyn_lookup(const struct st_dyn_tables *d, const char *name)
{
	const uint32_t *h = d->gnu_hash;
	uint32_t nbuckets = h[0], symoffset = h[1], bloom_size = h[2];
	if (nbuckets == 0 || bloom_size == 0)
		return NULL;
	const uint64_t *bloom = (const uint64_t *)(h + 4);
	const uint32_t *buckets = (const uint32_t *)(bloom + bloom_size);
	const uint32_t *chain = buckets + nbuckets;
	uint32_t hash = st_dyn_gnu_hash(name);
	uint32_t i = buckets[hash % nbuckets];
	if (i < symoffset)
		return NULL;
	for (unsigned k = 0; k < 1u << 20; k++, i++) {
		uint32_t ch = chain[i - symoffset];
		if ((ch | 1) == (hash | 1) && strcmp(d->strtab + d->symtab[i].st_name, name) == 0)
			return &d->symtab[i];
		if (ch & 1)
			return NULL;
	}
	return NULL;
}

/* The object's dynamic tables, from its PT_DYNAMIC (addresses relocated by
 * the loader, as glibc leaves them). */
bool st_dyn_tables(const struct dl_phdr_info *info, struct st_dyn_tables *d)
{
	*d = (struct st_dyn_tables){.base = info->dlpi_addr};
	for (unsigned i = 0; i < info->dlpi_phnum; i++) {
		if (info->dlpi_phdr[i].p_type != PT_DYNAMIC)
			continue;
		const Elf64_Dyn *dyn = (const Elf64_Dyn *)(info->dlpi_addr + info->dlpi_phdr[i].p_vaddr);
		for (; dyn->d_tag != DT_NULL; dyn++) {
			if (dyn->d_tag == DT_SYMTAB)
				d->symtab = (const Elf64_Sym *)dyn->d_un.d_ptr;
			else if (dyn->d_tag == DT_STRTAB)
				d->strtab = (const char *)dyn->d_un.d_ptr;
			else if (dyn->d_tag == DT_GNU_HASH)
				d->gnu_hash = (const uint32_t *)dyn->d_un.d_ptr;
		}
	}
	return d->symtab && d->strtab && d->gnu_hash;
}

