/* --stats: events per call and per process, failures by errno, dropped
 * events, first and last time. */
#define _GNU_SOURCE
#include <stdlib.h>
#include <string.h>

#include "st_dump.h"
#include "st_endpoint.h"

#define ST_OPS 8

struct st_pcount {
	uint32_t file, pid;
	size_t events, failed;
	const struct st_ev *sample;
};

struct st_ecount {
	int err;
	size_t n;
};

struct st_stats {
	size_t per_op[ST_OPS], failed_op[ST_OPS];
	struct st_pcount *procs; /* in order of first event */
	size_t nprocs;
	size_t *slot_of; /* open addressing on (file, pid): index + 1 into procs, 0 = free */
	size_t nslots;   /* a power of two, at least twice the events */
	struct st_ecount errs[256];
	size_t nerrs;
	uint64_t first, last;
};

/* Hashed: a fork-per-connection server has about as many processes as events. */
static struct st_pcount *st_proc_slot(struct st_stats *s, const struct st_ev *ev)
{
	size_t h = ((size_t)ev->pid * 0x9e3779b97f4a7c15u) ^ ev->file;
	for (size_t i = h & (s->nslots - 1);; i = (i + 1) & (s->nslots - 1)) {
		if (s->slot_of[i] == 0) {
			s->procs[s->nprocs] = (struct st_pcount){.file = ev->file, .pid = ev->pid,
								 .sample = ev};
			s->slot_of[i] = ++s->nprocs;
			return &s->procs[s->nprocs - 1];
		}
		struct st_pcount *p = &s->procs[s->slot_of[i] - 1];
		if (p->pid == ev->pid && p->file == ev->file)
			return p;
	}
}

static void st_count_err(struct st_stats *s, int err)
{
	for (size_t i = 0; i < s->nerrs; i++)
		if (s->errs[i].err == err) {
			s->errs[i].n++;
			return;
		}
	if (s->nerrs < sizeof s->errs / sizeof s->errs[0])
		s->errs[s->nerrs++] = (struct st_ecount){err, 1};
}

static void st_gather(const struct st_dump *d, struct st_stats *s)
{
	s->procs = calloc(d->nevs + 1, sizeof *s->procs);
	for (s->nslots = 16; s->nslots < 2 * (d->nevs + 1); s->nslots *= 2)
		;
	s->slot_of = calloc(s->nslots, sizeof *s->slot_of);
	for (size_t i = 0; i < d->nevs; i++) {
		const struct st_ev *ev = &d->evs[i];
		bool failed = ev->ret < 0;
		s->per_op[ev->op % ST_OPS]++;
		s->failed_op[ev->op % ST_OPS] += failed;
		struct st_pcount *p = st_proc_slot(s, ev);
		p->events++;
		p->failed += failed;
		if (failed)
			st_count_err(s, ev->err);
		if (i == 0)
			s->first = ev->ts;
		s->last = ev->ts;
	}
}

static const char *st_errname(int err)
{
	const char *n = strerrorname_np(err);
	return n ? n : "?";
}

static void st_stats_text(struct st_dump *d, const struct st_stats *s, FILE *out)
{
	fprintf(out, "events %zu, dropped %llu", d->nevs, (unsigned long long)d->dropped);
	if (d->exit_dropped)
		fprintf(out, ", %llu more after their process left at exit",
			(unsigned long long)d->exit_dropped);
	if (d->nevs) {
		fputs(", from ", out);
		st_print_time(out, s->first);
		fputs(" to ", out);
		st_print_time(out, s->last);
		fprintf(out, " (%.6f s)", (double)(s->last - s->first) / 1e9);
	}
	fputs("\n\nCALL          EVENTS   FAILED\n", out);
	for (uint8_t op = 1; op < ST_OPS && st_op_name(op); op++)
		fprintf(out, "%-12s %7zu %8zu\n", st_op_name(op), s->per_op[op], s->failed_op[op]);
	fputs("\nPID      PROGRAM              EVENTS   FAILED\n", out);
	for (size_t i = 0; i < s->nprocs; i++) {
		char name[64];
		st_proc_label(st_proc_of(d, s->procs[i].sample), name, sizeof name);
		fprintf(out, "%-8u %-18s %8zu %8zu\n", s->procs[i].pid, name, s->procs[i].events,
			s->procs[i].failed);
	}
	if (s->nerrs) {
		fputs("\nERRNO           FAILED\n", out);
		for (size_t i = 0; i < s->nerrs; i++)
			fprintf(out, "%-15s %6zu\n", st_errname(s->errs[i].err), s->errs[i].n);
	}
}

static void st_stats_json(struct st_dump *d, const struct st_stats *s, FILE *out)
{
	fprintf(out, "{\"events\":%zu,\"dropped\":%llu,\"exit_dropped\":%llu,\"first_ts\":",
		d->nevs, (unsigned long long)d->dropped, (unsigned long long)d->exit_dropped);
	if (d->nevs)
		fprintf(out, "%llu,\"last_ts\":%llu", (unsigned long long)s->first,
			(unsigned long long)s->last);
	else
		fputs("null,\"last_ts\":null", out);
	fputs(",\"calls\":{", out);
	bool first = true;
	for (uint8_t op = 1; op < ST_OPS && st_op_name(op); op++, first = false)
		fprintf(out, "%s\"%s\":{\"events\":%zu,\"failed\":%zu}", first ? "" : ",",
			st_op_name(op), s->per_op[op], s->failed_op[op]);
	fputs("},\"processes\":[", out);
	for (size_t i = 0; i < s->nprocs; i++) {
		char name[64];
		st_proc_name(st_proc_of(d, s->procs[i].sample), name, sizeof name);
		fprintf(out, "%s{\"pid\":%u,\"program\":", i ? "," : "", s->procs[i].pid);
		st_json_string(out, name, strlen(name));
		fprintf(out, ",\"events\":%zu,\"failed\":%zu}", s->procs[i].events, s->procs[i].failed);
	}
	fputs("],\"errors\":{", out);
	for (size_t i = 0; i < s->nerrs; i++)
		fprintf(out, "%s\"%s\":%zu", i ? "," : "", st_errname(s->errs[i].err), s->errs[i].n);
	fputs("}}\n", out);
}

void st_view_stats(struct st_dump *d, FILE *out)
{
	struct st_stats s = {0};
	st_gather(d, &s);
	if (d->json)
		st_stats_json(d, &s, out);
	else
		st_stats_text(d, &s, out);
	free(s.procs);
	free(s.slot_of);
}
