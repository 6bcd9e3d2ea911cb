/*
 * JIT frames named from the perf-map entries a trace holds (record type 13).
 * V8's names are split into function and place ("JS:~f /a.js:3:7" ->
 * "f", "/a.js:3:7"), and so are the shim's names of interpreted Java methods
 * ("Java:java.net.Socket.connect Socket.java:633" -> "java.net.Socket.connect",
 * "Socket.java:633", ST_FRAME_JAVA in st_format.h); other JITs' (Java's
 * compiled "java.net.Socket::connect") are shown as they are.  An address no entry holds stays unnamed: never a
 * neighbour's name.
 */
#include <stdlib.h>
#include <string.h>

#include "st_jitsyms.h"
#include "st_trace.h"
#include "st_xalloc.h"

struct st_jit_entry {
	uint32_t pid;
	uint64_t start, size;
	size_t seq;        /* arrival: later entries win */
	char *fn, *where; /* where NULL for names that are not V8's */
	int line;         /* Java's: where is its file, this its line (0 unknown) */
	bool js, java;
};

struct st_jitsyms {
	struct st_jit_entry *e;
	size_t n, cap;
	bool sorted;
};

/* The longest a lookup walks back from the last entry starting at or
 * before an address: entries of one map rarely nest deeper. */
#define ST_JIT_BACK 64

struct st_jitsyms *st_jitsyms_new(void)
{
	return st_xcalloc(1, sizeof(struct st_jitsyms));
}

static char *st_jit_copy(const char *s, size_t n)
{
	char *c = st_xmalloc(n + 1);
	memcpy(c, s, n);
	c[n] = '\0';
	return c;
}

/* "JS:~name place", "JS:*name place", "LazyCompile:~name place", ... */
static void st_jit_split(struct st_jit_entry *e, const char *name, size_t len)
{
	if (len > 5 && memcmp(name, "Java:", 5) == 0) {
		/* "Java:pkg.Class.method File.java:12", the place left out when unknown */
		const char *fn = name + 5, *space = memchr(fn, ' ', len - 5);
		e->java = true;
		e->fn = st_jit_copy(fn, space ? (size_t)(space - fn) : len - 5);
		if (space == NULL)
			return;
		const char *place = space + 1, *end = name + len, *colon = end;
		while (colon > place && colon[-1] >= '0' && colon[-1] <= '9')
			colon--;
		if (colon > place && colon < end && colon[-1] == ':' && end - colon <= 9) {
			for (const char *d = colon; d < end; d++)
				e->line = e->line * 10 + (*d - '0');
			end = colon - 1;
		}
		e->where = st_jit_copy(place, (size_t)(end - place));
		return;
	}
	const char *colon = memchr(name, ':', len);
	const char *space = colon ? memchr(colon, ' ', len - (size_t)(colon - name)) : NULL;
	bool v8 = colon && space && colon - name <= 16 && colon[1] != ':';
	if (!v8) {
		e->fn = st_jit_copy(name, len);
		return;
	}
	const char *fn = colon + 1;
	if (fn < space && (*fn == '~' || *fn == '*' || *fn == '^' || *fn == '+'))
		fn++;
	e->js = true;
	e->fn = fn < space ? st_jit_copy(fn, (size_t)(space - fn)) : st_jit_copy("(anonymous)", 11);
	e->where = st_jit_copy(space + 1, len - (size_t)(space + 1 - name));
}

void st_jitsyms_add(struct st_jitsyms *j, uint32_t pid, uint64_t start, uint64_t size,
		    const char *name, size_t name_len)
{
	j->e = st_grow(j->e, &j->cap, j->n + 1, sizeof *j->e);
	struct st_jit_entry *e = &j->e[j->n];
	*e = (struct st_jit_entry){.pid = pid, .start = start, .size = size, .seq = j->n};
	st_jit_split(e, name, name_len);
	j->n++;
	j->sorted = false;
}

static int st_jit_order(const void *a, const void *b)
{
	const struct st_jit_entry *x = a, *y = b;
	if (x->pid != y->pid)
		return x->pid < y->pid ? -1 : 1;
	if (x->start != y->start)
		return x->start < y->start ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

bool st_jitsyms_name(struct st_jitsyms *j, uint32_t pid, uint64_t ip, const char **fn,
		     const char **where, int *line, bool *js, bool *java)
{
	if (j == NULL || j->n == 0)
		return false;
	if (!j->sorted) {
		qsort(j->e, j->n, sizeof *j->e, st_jit_order);
		j->sorted = true;
	}
	/* the first entry after (pid, ip) */
	size_t lo = 0, hi = j->n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (j->e[mid].pid < pid || (j->e[mid].pid == pid && j->e[mid].start <= ip))
			lo = mid + 1;
		else
			hi = mid;
	}
	const struct st_jit_entry *best = NULL;
	for (size_t k = 0; k < ST_JIT_BACK && lo > k; k++) {
		const struct st_jit_entry *e = &j->e[lo - 1 - k];
		if (e->pid != pid)
			break;
		if (ip - e->start < e->size && (best == NULL || e->seq > best->seq))
			best = e;
	}
	if (best == NULL)
		return false;
	*fn = best->fn;
	*where = best->where;
	*line = best->line;
	*js = best->js;
	*java = best->java;
	return true;
}

void st_jitsyms_free(struct st_jitsyms *j)
{
	if (j == NULL)
		return;
	for (size_t i = 0; i < j->n; i++) {
		free(j->e[i].fn);
		free(j->e[i].where);
	}
	free(j->e);
	free(j);
}
