/*
 * Python frames named from a trace's code records (version 5): which code
 * object of which process a frame was in, and the line its last instruction
 * belongs to, from the code's line table (the location table of CPython 3.11 to 3.15,
 * Objects/locations.md).  A table cut short, or an instruction past it,
 * gives no line rather than a wrong one.
 */
#include <stdlib.h>
#include <string.h>

#include "st_pysyms.h"
#include "st_xalloc.h"

struct st_pycode_entry {
	uint32_t pid;
	int32_t firstlineno;
	uint64_t code, ts;
	char *file, *name; /* NUL-terminated copies */
	uint8_t *table;
	uint16_t table_len, flags;
	size_t older; /* index + 1 of the previous record of the same (pid, code); 0 = none */
};

struct st_pysyms {
	struct st_pycode_entry *entries;
	size_t n, cap;
	size_t *slot; /* index + 1 of the newest entry of a (pid, code); 0 = free */
	size_t nslots;
};

struct st_pysyms *st_pysyms_new(void)
{
	return st_xcalloc(1, sizeof(struct st_pysyms));
}

static size_t st_pysyms_hash(const struct st_pysyms *p, uint32_t pid, uint64_t code)
{
	uint64_t h = (code >> 4) * 0x9e3779b97f4a7c15ull ^ (uint64_t)pid * 0xc2b2ae3d27d4eb4full;
	return (size_t)(h >> 17) & (p->nslots - 1);
}

/* The slot of (pid, code): its entry's, or the free one where it goes. */
static size_t *st_pysyms_slot(const struct st_pysyms *p, uint32_t pid, uint64_t code)
{
	for (size_t i = st_pysyms_hash(p, pid, code);; i = (i + 1) & (p->nslots - 1)) {
		size_t e = p->slot[i];
		if (e == 0 || (p->entries[e - 1].pid == pid && p->entries[e - 1].code == code))
			return &p->slot[i];
	}
}

static void st_pysyms_rehash(struct st_pysyms *p)
{
	size_t *old = p->slot, nold = p->nslots;
	p->nslots = nold ? nold * 2 : 1024;
	p->slot = st_xcalloc(p->nslots, sizeof *p->slot);
	for (size_t i = 0; i < nold; i++)
		if (old[i]) {
			const struct st_pycode_entry *e = &p->entries[old[i] - 1];
			*st_pysyms_slot(p, e->pid, e->code) = old[i];
		}
	free(old);
}

static char *st_pysyms_copy(const char *s, size_t n)
{
	char *c = st_xmalloc(n + 1);
	if (n)
		memcpy(c, s, n);
	c[n] = '\0';
	return c;
}

void st_pysyms_add(struct st_pysyms *p, const struct st_pyc *r)
{
	if (2 * (p->n + 1) > p->nslots)
		st_pysyms_rehash(p);
	p->entries = st_grow(p->entries, &p->cap, p->n + 1, sizeof *p->entries);
	struct st_pycode_entry *e = &p->entries[p->n];
	*e = (struct st_pycode_entry){
		.pid = r->pid, .firstlineno = r->firstlineno, .code = r->code, .ts = r->ts,
		.file = st_pysyms_copy(r->file, r->file_len),
		.name = st_pysyms_copy(r->name, r->name_len),
		.table = (uint8_t *)st_pysyms_copy((const char *)r->table, r->table_len),
		.table_len = r->table_len, .flags = r->flags,
	};
	size_t *slot = st_pysyms_slot(p, r->pid, r->code);
	e->older = *slot;
	*slot = ++p->n;
}

/* CPython's varints (3.11 to 3.15): 6 bits a byte, bit 6 says more follow. */
static bool st_varint(const uint8_t **q, const uint8_t *end, uint32_t *v)
{
	uint32_t val = 0;
	for (unsigned shift = 0; *q < end && shift < 32; shift += 6) {
		uint8_t b = *(*q)++;
		val |= (uint32_t)(b & 63) << shift;
		if (!(b & 64)) {
			*v = val;
			return true;
		}
	}
	return false;
}

static bool st_svarint(const uint8_t **q, const uint8_t *end, int32_t *v)
{
	uint32_t u;
	if (!st_varint(q, end, &u))
		return false;
	*v = (u & 1) ? -(int32_t)(u >> 1) : (int32_t)(u >> 1);
	return true;
}

/* The line of instruction instr (code units), 0 when unknown (no location,
 * or past a table that was cut). */
int st_pysyms_line(const uint8_t *table, size_t len, int firstlineno, int64_t instr)
{
	if (instr < 0)
		return firstlineno;
	const uint8_t *q = table, *end = table + len;
	int64_t addr = 0;
	int32_t line = firstlineno;
	while (q < end) {
		uint8_t first = *q++;
		if (!(first & 0x80))
			return 0; /* not the start of an entry: a damaged table */
		unsigned code = (first >> 3) & 15, length = (first & 7) + 1;
		int32_t delta = 0;
		uint32_t skip;
		bool ok = true;
		if (code == 14) /* long form: line, end line, column, end column */
			ok = st_svarint(&q, end, &delta) && st_varint(&q, end, &skip) &&
			     st_varint(&q, end, &skip) && st_varint(&q, end, &skip);
		else if (code == 13) /* no column */
			ok = st_svarint(&q, end, &delta);
		else if (code >= 10 && code <= 12) { /* one line, two column bytes */
			delta = (int32_t)code - 10;
			q += 2;
		} else if (code < 10) { /* short form: one column byte */
			q++;
		}
		if (!ok || q > end)
			return 0;
		line += delta;
		if (instr >= addr && instr < addr + length)
			return code == 15 ? 0 : line;
		addr += length;
	}
	return 0;
}

bool st_pysyms_name(const struct st_pysyms *p, uint32_t pid, uint64_t code, int64_t instr,
		    uint64_t ts, const char **file, const char **name, int *line)
{
	if (p->nslots == 0)
		return false;
	size_t e = *st_pysyms_slot(p, pid, code);
	if (e == 0)
		return false;
	/* the newest record before the event; the oldest when all are after */
	while (p->entries[e - 1].ts > ts && p->entries[e - 1].older)
		e = p->entries[e - 1].older;
	const struct st_pycode_entry *c = &p->entries[e - 1];
	*file = c->file;
	*name = c->name;
	*line = st_pysyms_line(c->table, c->table_len, c->firstlineno, instr);
	return true;
}

void st_pysyms_free(struct st_pysyms *p)
{
	if (p == NULL)
		return;
	for (size_t i = 0; i < p->n; i++) {
		free(p->entries[i].file);
		free(p->entries[i].name);
		free(p->entries[i].table);
	}
	free(p->entries);
	free(p->slot);
	free(p);
}
