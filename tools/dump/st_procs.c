/* Which program an event came from, and where in it. */
#define _GNU_SOURCE
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "st_dump.h"

static int st_proc_order(const void *a, const void *b)
{
	const struct st_proc *x = a, *y = b;
	if (x->pid != y->pid)
		return x->pid < y->pid ? -1 : 1;
	return x->ts < y->ts ? -1 : x->ts > y->ts;
}

void st_procs_index(struct st_trace *t)
{
	if (t->nprocs)
		qsort(t->procs, t->nprocs, sizeof *t->procs, st_proc_order);
}

/* Index of the first record of pid in the indexed records. */
static size_t st_first_of(const struct st_trace *t, uint32_t pid)
{
	size_t lo = 0, hi = t->nprocs;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (t->procs[mid].pid < pid)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

const struct st_proc *st_proc_of(const struct st_dump *d, const struct st_ev *ev)
{
	const struct st_trace *t = &d->traces[ev->file];
	const struct st_proc *best = NULL;
	for (size_t i = st_first_of(t, ev->pid); i < t->nprocs && t->procs[i].pid == ev->pid; i++) {
		const struct st_proc *p = &t->procs[i];
		/* the newest record before the event; else the first one after it */
		if (p->ts <= ev->ts ? (best == NULL || best->ts > ev->ts || p->ts > best->ts)
				    : (best == NULL || (best->ts > ev->ts && p->ts < best->ts)))
			best = p;
	}
	return best;
}

void st_proc_name(const struct st_proc *p, char *buf, size_t size)
{
	if (p == NULL || (p->exe_len == 0 && p->cmd_len == 0)) {
		snprintf(buf, size, "?");
		return;
	}
	/* argv[0], as ps names it: a program run through a symlink
	 * (redis-server -> redis-check-rdb) keeps the name it was run by. */
	const char *s = p->cmd;
	size_t n = strnlen(p->cmd, p->cmd_len);
	if (n == 0) {
		s = p->exe;
		n = p->exe_len;
	}
	const char *slash = memrchr(s, '/', n);
	if (slash) {
		n -= (size_t)(slash + 1 - s);
		s = slash + 1;
	}
	snprintf(buf, size, "%.*s", (int)n, s);
}

void st_proc_label(const struct st_proc *p, char *buf, size_t size)
{
	char raw[256];
	st_proc_name(p, raw, sizeof raw);
	st_escape(buf, size, raw, strlen(raw));
}

bool st_procs_many_hosts(const struct st_trace *t, size_t n)
{
	const struct st_proc *first = NULL;
	for (size_t i = 0; i < n; i++)
		for (size_t k = 0; k < t[i].nprocs; k++) {
			const struct st_proc *p = &t[i].procs[k];
			if (p->host_len == 0)
				continue;
			if (first == NULL)
				first = p;
			else if (p->host_len != first->host_len ||
				 memcmp(p->host, first->host, p->host_len) != 0)
				return true;
		}
	return false;
}

void st_frame_at(const struct st_dump *d, const struct st_ev *ev, unsigned i, struct st_frame *f)
{
	uint64_t ip; /* frames sit in the mapped file, maybe unaligned for uint64_t */
	memcpy(&ip, &ev->frames[i], sizeof ip);
	st_sym_frame(d->symbols, ev, ip, f);
}

const char *st_stack_top(const struct st_dump *d, const struct st_ev *ev)
{
	if (ev->nframes == 0)
		return NULL;
	struct st_frame f;
	st_frame_at(d, ev, 0, &f);
	return f.sym ? f.sym : "??";
}

void st_print_time(FILE *out, uint64_t ts)
{
	time_t sec = (time_t)(ts / 1000000000u);
	struct tm tm;
	localtime_r(&sec, &tm);
	fprintf(out, "%02d:%02d:%02d.%06u", tm.tm_hour, tm.tm_min, tm.tm_sec,
		(unsigned)(ts % 1000000000u / 1000u));
}
