/*
 * Go functions named from the object's .gopclntab, the table Go's runtime
 * itself reads for its tracebacks.  A Go program packaged by a distribution
 * is stripped (no .symtab, no DWARF: caddy, etcd, prometheus), but its
 * .gopclntab stays, since the program needs it to run: without this its
 * frames were "?? (/usr/bin/caddy+0x405f2e)".
 *
 * The layout is Go's runtime/symtab.go for Go 1.18 and later (magic
 * 0xfffffff0; 0xfffffff1 from 1.20, which only added a field after the ones
 * read here): a header of offsets, a function table of (entry, _func)
 * offsets sorted by entry, and per function the name's offset and the
 * offsets of its pc-value tables for file and line.  Older tables are not
 * read.  The table is untrusted input (a trace names the file): every
 * offset is checked against the section before it is followed.
 */
#define _GNU_SOURCE
#include <stdlib.h>
#include <string.h>

#include "st_gopcln.h"

enum {
	ST_GO_MAGIC_118 = 0xfffffff0u,
	ST_GO_MAGIC_120 = 0xfffffff1u,
	ST_GO_HEADER = 72,       /* the header's size with 8-byte words */
	ST_GO_FUNC_MIN = 36,     /* _func up to and with cuOffset */
	ST_GO_PCVALUE_STEPS = 1 << 16, /* a hostile table costs a bounded time per frame */
};

struct st_gopcln {
	const uint8_t *tab;
	size_t len;
	uint64_t text;  /* where function entries are counted from: .text */
	uint64_t nfunc;
	uint64_t names, cus, files, pcs, funcs; /* offsets into tab */
};

static bool st_go_u32(const struct st_gopcln *g, uint64_t off, uint32_t *v)
{
	if (off > g->len || g->len - off < 4)
		return false;
	memcpy(v, g->tab + off, 4);
	return true;
}

static uint64_t st_go_word(const uint8_t *p)
{
	uint64_t v;
	memcpy(&v, p, 8);
	return v;
}

/* A NUL-terminated string at off, or NULL when it does not end in the table. */
static const char *st_go_string(const struct st_gopcln *g, uint64_t off)
{
	if (off >= g->len || memchr(g->tab + off, '\0', g->len - off) == NULL)
		return NULL;
	return (const char *)g->tab + off;
}

static bool st_go_section(Elf *elf, const char *want, GElf_Shdr *out, Elf_Data **data)
{
	size_t names;
	if (elf_getshdrstrndx(elf, &names) != 0)
		return false;
	for (Elf_Scn *scn = elf_nextscn(elf, NULL); scn; scn = elf_nextscn(elf, scn)) {
		const char *name;
		if (gelf_getshdr(scn, out) == NULL ||
		    (name = elf_strptr(elf, names, out->sh_name)) == NULL || strcmp(name, want) != 0)
			continue;
		*data = data ? elf_getdata(scn, NULL) : NULL;
		return true;
	}
	return false;
}

struct st_gopcln *st_gopcln_open(Elf *elf)
{
	GElf_Shdr pcln_hdr, text_hdr;
	Elf_Data *data = NULL, *unused = NULL;
	if (elf == NULL || !st_go_section(elf, ".gopclntab", &pcln_hdr, &data) || data == NULL ||
	    data->d_buf == NULL || data->d_size < ST_GO_HEADER ||
	    !st_go_section(elf, ".text", &text_hdr, &unused))
		return NULL;
	const uint8_t *h = data->d_buf;
	uint32_t magic;
	memcpy(&magic, h, 4);
	if ((magic != ST_GO_MAGIC_118 && magic != ST_GO_MAGIC_120) || h[4] != 0 || h[5] != 0 ||
	    h[6] != 1 || h[7] != 8) /* x86-64: 1-byte instruction quantum, 8-byte words */
		return NULL;
	struct st_gopcln *g = calloc(1, sizeof *g);
	if (g == NULL)
		return NULL;
	/* entries count from runtime.text: the header's textStart, unless a
	 * position-independent object left it to a relocation (0 in the
	 * file), then the start of .text, where Go's own linker puts it */
	uint64_t text_start = st_go_word(h + 24);
	if (text_start < text_hdr.sh_addr || text_start >= text_hdr.sh_addr + text_hdr.sh_size)
		text_start = text_hdr.sh_addr;
	*g = (struct st_gopcln){.tab = h, .len = data->d_size, .text = text_start,
				.nfunc = st_go_word(h + 8), .names = st_go_word(h + 32),
				.cus = st_go_word(h + 40), .files = st_go_word(h + 48),
				.pcs = st_go_word(h + 56), .funcs = st_go_word(h + 64)};
	/* the function table: nfunc + 1 pairs of 4-byte offsets */
	if (g->funcs > g->len || g->nfunc == 0 || g->nfunc >= (g->len - g->funcs) / 8) {
		free(g);
		return NULL;
	}
	return g;
}

void st_gopcln_free(struct st_gopcln *g)
{
	free(g);
}

/* A varint of Go's encoding/binary (7 bits a byte, low first) at *p. */
static bool st_go_uvarint(const struct st_gopcln *g, uint64_t *p, uint32_t *v)
{
	uint32_t result = 0;
	for (unsigned shift = 0; shift < 35; shift += 7) {
		if (*p >= g->len)
			return false;
		uint8_t b = g->tab[(*p)++];
		result |= (uint32_t)(b & 0x7f) << shift;
		if (!(b & 0x80)) {
			*v = result;
			return true;
		}
	}
	return false;
}

/* The value a pc-value table (runtime.pcvalue) holds at target: pairs of a
 * zigzag value delta and a pc delta, from -1 at the function's entry; -1
 * when it has none or the table is cut short. */
static int32_t st_go_pcvalue(const struct st_gopcln *g, uint32_t table, uint64_t entry,
			     uint64_t target)
{
	if (table == 0)
		return -1;
	uint64_t p = g->pcs + table, pc = entry;
	int32_t value = -1;
	for (unsigned step = 0; step < ST_GO_PCVALUE_STEPS; step++) {
		uint32_t uv, pcdelta;
		if (p >= g->len || (g->tab[p] == 0 && step > 0) || !st_go_uvarint(g, &p, &uv) ||
		    !st_go_uvarint(g, &p, &pcdelta))
			return -1;
		value += (int32_t)(-(uv & 1) ^ (uv >> 1));
		pc += pcdelta;
		if (target < pc)
			return value;
	}
	return -1;
}

/* Index of the function whose entry is the last at or before off. */
static bool st_go_find(const struct st_gopcln *g, uint64_t off, uint64_t *index)
{
	uint64_t lo = 0, hi = g->nfunc; /* entries [lo, hi) */
	uint32_t first, end;
	if (!st_go_u32(g, g->funcs, &first) || !st_go_u32(g, g->funcs + g->nfunc * 8, &end) ||
	    off < first || off >= end)
		return false;
	while (hi - lo > 1) {
		uint64_t mid = lo + (hi - lo) / 2;
		uint32_t at;
		if (!st_go_u32(g, g->funcs + mid * 8, &at))
			return false;
		if (at <= off)
			lo = mid;
		else
			hi = mid;
	}
	*index = lo;
	return true;
}

static const char *st_go_file(const struct st_gopcln *g, uint32_t cu, int32_t fileno)
{
	uint32_t off;
	if (fileno < 0 || !st_go_u32(g, g->cus + ((uint64_t)cu + (uint64_t)fileno) * 4, &off) ||
	    off == UINT32_MAX)
		return NULL;
	return st_go_string(g, g->files + off);
}

bool st_gopcln_lookup(const struct st_gopcln *g, uint64_t vaddr, const char **name,
		      uint64_t *entry, const char **file, int *line)
{
	uint64_t index;
	uint32_t entry_off, func_off, name_off, pcfile, pcln, cu;
	*file = NULL;
	*line = 0;
	if (g == NULL || vaddr < g->text || !st_go_find(g, vaddr - g->text, &index) ||
	    !st_go_u32(g, g->funcs + index * 8, &entry_off) ||
	    !st_go_u32(g, g->funcs + index * 8 + 4, &func_off))
		return false;
	uint64_t f = g->funcs + func_off;
	if (f > g->len || g->len - f < ST_GO_FUNC_MIN || !st_go_u32(g, f + 4, &name_off) ||
	    !st_go_u32(g, f + 20, &pcfile) || !st_go_u32(g, f + 24, &pcln) ||
	    !st_go_u32(g, f + 32, &cu) || (*name = st_go_string(g, g->names + name_off)) == NULL)
		return false;
	*entry = g->text + entry_off;
	int32_t at_line = st_go_pcvalue(g, pcln, *entry, vaddr);
	const char *at_file = st_go_file(g, cu, st_go_pcvalue(g, pcfile, *entry, vaddr));
	if (at_file != NULL && at_line > 0) {
		*file = at_file;
		*line = at_line;
	}
	return true;
}
