/* --stats: events per call and per process, failures by errno, dropped
 * events, first and last time, outcomes and bytes; per peer and the slowest
 * connects in st_stats_peers.c. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "st_xalloc.h"
#include "st_dump.h"
#include "st_endpoint.h"
#include "st_stats_peers.h"

#define ST_OPS 8

struct st_pcount {
	uint32_t file, pid;
	size_t events, failed;
	uint64_t first_ts; /* rows are printed in order of each process's first event */
};

struct st_ecount {
	int err;
	size_t n;
};

struct st_view_state {
	size_t per_op[ST_OPS], failed_op[ST_OPS];
	size_t in_progress; /* connects that returned EINPROGRESS: not failures */
	size_t outcome[8];  /* ok, refused, timeout, unreachable, other, abandoned */
	size_t closes;
	struct st_pcount *procs;
	size_t nprocs, procs_cap;
	size_t *slot_of; /* open addressing on (file, pid): index + 1 into procs, 0 = free */
	size_t nslots;   /* a power of two, at least twice the processes */
	size_t last_proc; /* index + 1 of the process found last: most events follow one of
			    the same process, and the hash and probe were a quarter of
			    st_stats_add */
	struct st_ecount errs[256];
	size_t nerrs;
	uint64_t first, last;
	struct st_peers *peers;
};

static void st_slots_grow(struct st_view_state *s)
{
	free(s->slot_of);
	s->nslots = s->nslots ? s->nslots * 2 : 256;
	s->slot_of = st_xcalloc(s->nslots, sizeof *s->slot_of);
	for (size_t k = 0; k < s->nprocs; k++) {
		const struct st_pcount *p = &s->procs[k];
		size_t i = (((size_t)p->pid * 0x9e3779b97f4a7c15u) ^ p->file) & (s->nslots - 1);
		while (s->slot_of[i])
			i = (i + 1) & (s->nslots - 1);
		s->slot_of[i] = k + 1;
	}
}

/* Hashed: a fork-per-connection server has about as many processes as events. */
static struct st_pcount *st_proc_slot_hashed(struct st_view_state *s, const struct st_ev *ev)
{
	if (s->nprocs * 2 >= s->nslots)
		st_slots_grow(s);
	size_t h = ((size_t)ev->pid * 0x9e3779b97f4a7c15u) ^ ev->file;
	for (size_t i = h & (s->nslots - 1);; i = (i + 1) & (s->nslots - 1)) {
		if (s->slot_of[i] == 0) {
			if (s->nprocs == s->procs_cap) {
				s->procs_cap = s->procs_cap ? s->procs_cap * 2 : 256;
				s->procs = st_xrealloc(s->procs, s->procs_cap, sizeof *s->procs);
			}
			s->procs[s->nprocs] = (struct st_pcount){.file = ev->file, .pid = ev->pid,
								 .first_ts = ev->ts};
			s->slot_of[i] = ++s->nprocs;
			return &s->procs[s->nprocs - 1];
		}
		struct st_pcount *p = &s->procs[s->slot_of[i] - 1];
		if (p->pid == ev->pid && p->file == ev->file)
			return p;
	}
}

static struct st_pcount *st_proc_slot(struct st_view_state *s, const struct st_ev *ev)
{
	if (s->last_proc) {
		struct st_pcount *p = &s->procs[s->last_proc - 1];
		if (p->pid == ev->pid && p->file == ev->file)
			return p;
	}
	struct st_pcount *p = st_proc_slot_hashed(s, ev);
	s->last_proc = (size_t)(p - s->procs) + 1; /* an index: procs may move as it grows */
	return p;
}

static void st_count_err(struct st_view_state *s, int err)
{
	for (size_t i = 0; i < s->nerrs; i++)
		if (s->errs[i].err == err) {
			s->errs[i].n++;
			return;
		}
	if (s->nerrs < sizeof s->errs / sizeof s->errs[0])
		s->errs[s->nerrs++] = (struct st_ecount){err, 1};
}

static struct st_view_state *st_stats_state(struct st_dump *d)
{
	if (d->state == NULL) {
		d->state = st_xcalloc(1, sizeof *d->state);
		d->state->peers = st_peers_new();
	}
	return d->state;
}

void st_stats_add(struct st_dump *d, const struct st_ev *ev)
{
	struct st_view_state *s = st_stats_state(d);
	st_peers_event(s->peers, d, ev);
	/* a connect still in progress, or asked again, has not failed (yet) */
	bool pending = ev->op == ST_OP_CONNECT &&
		       (ev->err == EINPROGRESS || ev->err == EALREADY || (ev->flags & ST_EV_REPEAT));
	bool failed = ev->ret < 0 && !pending;
	s->in_progress += ev->op == ST_OP_CONNECT && ev->err == EINPROGRESS;
	s->per_op[ev->op % ST_OPS]++;
	s->failed_op[ev->op % ST_OPS] += failed;
	struct st_pcount *p = st_proc_slot(s, ev);
	p->events++;
	p->failed += failed;
	if (ev->ts < p->first_ts)
		p->first_ts = ev->ts;
	if (failed)
		st_count_err(s, ev->err);
	if (s->first == 0 || ev->ts < s->first)
		s->first = ev->ts;
	if (ev->ts > s->last)
		s->last = ev->ts;
}

void st_stats_life(struct st_dump *d, const struct st_rec *r)
{
	struct st_view_state *s = st_stats_state(d);
	st_peers_life(s->peers, d, r);
	if (r->type == ST_REC_RESULT) {
		const char *n = st_result_name(r->result.err);
		static const char *const kinds[] = {"ok", "refused", "timeout", "unreachable"};
		size_t k = 4;
		for (size_t i = 0; i < 4; i++)
			if (strcmp(n, kinds[i]) == 0)
				k = i;
		s->outcome[k]++;
		return;
	}
	if (r->close.how == ST_END_SHUTDOWN)
		return;
	s->closes++;
	s->outcome[5] += r->close.role == ST_ROLE_PENDING;
}

static int st_pcount_order(const void *a, const void *b)
{
	const struct st_pcount *x = a, *y = b;
	if (x->first_ts != y->first_ts)
		return x->first_ts < y->first_ts ? -1 : 1;
	if (x->file != y->file)
		return x->file < y->file ? -1 : 1;
	return x->pid < y->pid ? -1 : x->pid > y->pid;
}

/* The name of a process: its newest record (no event to place it in time). */
static const struct st_proc *st_pcount_proc(const struct st_dump *d, const struct st_pcount *p)
{
	struct st_ev probe = {.pid = p->pid, .file = p->file, .ts = UINT64_MAX};
	return st_proc_of(d, &probe);
}

/* Which front-end recorded a process ("?" without a process record). */
static const char *st_recorded_by(const struct st_proc *p)
{
	return p == NULL ? "?" : (p->flags & ST_PROC_PTRACE) ? "ptrace" : "preload";
}

static const char *st_errname(int err)
{
	const char *n = strerrorname_np(err);
	return n ? n : "?";
}

/* The processes the shim stopped recording; the first few by name. */
#define ST_NOTES_SHOWN 20

static void st_notes_text(struct st_dump *d, FILE *out)
{
	const struct st_catalog *c = &d->procs;
	if (c->nnotes == 0)
		return;
	fprintf(out, "\n%s\nPID      PROGRAM            SINCE\n", st_sandboxed_text(c->nnotes));
	for (size_t i = 0; i < c->nnotes && i < ST_NOTES_SHOWN; i++) {
		char name[64];
		struct st_ev probe = {.pid = c->notes[i].pid, .file = c->notes[i].file,
				      .ts = c->notes[i].ts};
		st_proc_label_fit(st_proc_of(d, &probe), name, sizeof name, 18);
		fprintf(out, "%-8u %-18s ", c->notes[i].pid, name);
		st_print_time(out, c->notes[i].ts);
		fputc('\n', out);
	}
	if (c->nnotes > ST_NOTES_SHOWN)
		fprintf(out, "and %zu more\n", c->nnotes - ST_NOTES_SHOWN);
}

static void st_notes_json(struct st_dump *d, FILE *out)
{
	const struct st_catalog *c = &d->procs;
	fputs(",\"sandboxed\":[", out);
	for (size_t i = 0; i < c->nnotes; i++) {
		char name[64];
		struct st_ev probe = {.pid = c->notes[i].pid, .file = c->notes[i].file,
				      .ts = c->notes[i].ts};
		st_proc_name(st_proc_of(d, &probe), name, sizeof name);
		fprintf(out, "%s{\"pid\":%u,\"program\":", i ? "," : "", c->notes[i].pid);
		st_json_string(out, name, strlen(name));
		fprintf(out, ",\"ts\":%llu}", (unsigned long long)c->notes[i].ts);
	}
	fputc(']', out);
}

static void st_stats_text(struct st_dump *d, const struct st_view_state *s, FILE *out)
{
	/* connections still waiting for a close end now: the totals and the
	 * outcomes printed first count them */
	uint64_t tx, rx;
	st_peers_end(s->peers);
	st_peers_bytes(s->peers, &tx, &rx);
	fprintf(out, "events %zu, dropped %llu", d->nevs, (unsigned long long)d->dropped);
	if (d->exit_dropped)
		fprintf(out, ", %llu more after their process left at exit",
			(unsigned long long)d->exit_dropped);
	if (d->unfollowed)
		fprintf(out, "; %s", st_unfollowed_text(d->unfollowed));
	if (d->ring)
		st_ring_text(d, out);
	if (d->nevs) {
		fputs(", from ", out);
		st_print_time(out, s->first);
		fputs(" to ", out);
		st_print_time(out, s->last);
		fprintf(out, " (%.6f s)", (double)(s->last - s->first) / 1e9);
	}
	if (s->in_progress || s->closes)
		fprintf(out, "\nconnects in progress %zu: ok %zu, refused %zu, timed out %zu, "
			     "unreachable %zu, other %zu, abandoned %zu, no outcome %zu; "
			     "closes %zu, tx %llu B, rx %llu B",
			s->in_progress, s->outcome[0] + st_peers_ok_unasked(s->peers), s->outcome[1],
			s->outcome[2], s->outcome[3],
			s->outcome[4], s->outcome[5], st_peers_unended(s->peers), s->closes,
			(unsigned long long)tx, (unsigned long long)rx);
	fputs("\n\nCALL          EVENTS   FAILED\n", out);
	for (uint8_t op = 1; op < ST_OPS && st_op_name(op); op++)
		if (op != ST_OP_HELD || s->per_op[op]) /* only a tracer's attach has them */
			fprintf(out, "%-12s %7zu %8zu\n", st_op_name(op), s->per_op[op],
				s->failed_op[op]);
	fputs("\nPID      PROGRAM              EVENTS   FAILED  VIA\n", out);
	for (size_t i = 0; i < s->nprocs; i++) {
		char name[64];
		const struct st_proc *proc = st_pcount_proc(d, &s->procs[i]);
		st_proc_label_fit(proc, name, sizeof name, 18);
		fprintf(out, "%-8u %-18s %8zu %8zu  %s\n", s->procs[i].pid, name, s->procs[i].events,
			s->procs[i].failed, st_recorded_by(proc));
	}
	st_notes_text(d, out);
	if (s->nerrs) {
		fputs("\nERRNO           FAILED\n", out);
		for (size_t i = 0; i < s->nerrs; i++)
			fprintf(out, "%-15s %6zu\n", st_errname(s->errs[i].err), s->errs[i].n);
	}
	if (s->peers)
		st_peers_text(s->peers, d, out);
}

static void st_stats_json(struct st_dump *d, const struct st_view_state *s, FILE *out)
{
	/* connections still waiting for a close end now: the totals and the
	 * outcomes printed first count them */
	uint64_t tx, rx;
	st_peers_end(s->peers);
	st_peers_bytes(s->peers, &tx, &rx);
	fprintf(out, "{\"events\":%zu,\"dropped\":%llu,\"exit_dropped\":%llu,\"unfollowed\":%llu,"
		"\"first_ts\":", d->nevs, (unsigned long long)d->dropped,
		(unsigned long long)d->exit_dropped, (unsigned long long)d->unfollowed);
	if (d->nevs)
		fprintf(out, "%llu,\"last_ts\":%llu", (unsigned long long)s->first,
			(unsigned long long)s->last);
	else
		fputs("null,\"last_ts\":null", out);
	if (d->ring)
		fprintf(out, ",\"ring\":{\"overwritten\":%llu,\"overwritten_records\":%llu,"
			     "\"window_ts\":%llu}",
			(unsigned long long)d->overwritten,
			(unsigned long long)d->overwritten_records, (unsigned long long)d->window_ts);
	else
		fputs(",\"ring\":null", out);
	fputs(",\"calls\":{", out);
	bool first = true;
	for (uint8_t op = 1; op < ST_OPS && st_op_name(op); op++, first = false)
		fprintf(out, "%s\"%s\":{\"events\":%zu,\"failed\":%zu}", first ? "" : ",",
			st_op_name(op), s->per_op[op], s->failed_op[op]);
	fputs("},\"processes\":[", out);
	for (size_t i = 0; i < s->nprocs; i++) {
		char name[64];
		st_proc_name(st_pcount_proc(d, &s->procs[i]), name, sizeof name);
		fprintf(out, "%s{\"pid\":%u,\"program\":", i ? "," : "", s->procs[i].pid);
		st_json_string(out, name, strlen(name));
		fprintf(out, ",\"events\":%zu,\"failed\":%zu,\"recorded_by\":\"%s\"}",
			s->procs[i].events, s->procs[i].failed,
			st_recorded_by(st_pcount_proc(d, &s->procs[i])));
	}
	fputc(']', out);
	st_notes_json(d, out);
	fputs(",\"errors\":{", out);
	for (size_t i = 0; i < s->nerrs; i++)
		fprintf(out, "%s\"%s\":%zu", i ? "," : "", st_errname(s->errs[i].err), s->errs[i].n);
	fprintf(out, "},\"connects_in_progress\":{\"count\":%zu,\"ok\":%zu,\"refused\":%zu,"
		     "\"timeout\":%zu,\"unreachable\":%zu,\"other\":%zu,\"abandoned\":%zu,"
		     "\"no_outcome\":%zu},\"closes\":%zu,\"tx_bytes\":%llu,\"rx_bytes\":%llu",
		s->in_progress, s->outcome[0] + st_peers_ok_unasked(s->peers), s->outcome[1],
		s->outcome[2], s->outcome[3], s->outcome[4], s->outcome[5],
		st_peers_unended(s->peers), s->closes, (unsigned long long)tx, (unsigned long long)rx);
	if (s->peers)
		st_peers_json(s->peers, d, out);
	else
		fputs(",\"peers\":[],\"slowest_connects\":[]", out);
	fputs("}\n", out);
}

void st_stats_print(struct st_dump *d, FILE *out)
{
	static struct st_view_state none;
	struct st_view_state *s = d->state ? d->state : &none;
	if (s->nprocs)
		qsort(s->procs, s->nprocs, sizeof *s->procs, st_pcount_order);
	if (d->json)
		st_stats_json(d, s, out);
	else
		st_stats_text(d, s, out);
	free(s->procs);
	free(s->slot_of);
	st_peers_free(s->peers);
	if (d->state) {
		free(d->state);
		d->state = NULL;
	}
}
