/* One pass of socktrace-dump: every file streamed through the chosen view,
 * then what the files turned out to hold (damage, notes) on err. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>

#include <sys/stat.h>
#include <unistd.h>

#include "st_decode.h"
#include "st_dump.h"

void st_dump_record(struct st_dump *d, const struct st_rec *r)
{
	if (r->type == ST_REC_PROCESS) {
		st_catalog_add(&d->procs, &r->proc);
		if (d->symbols)
			st_sym_add_process(d->symbols, &r->proc);
	} else if (r->type == ST_REC_MODULE && d->symbols) {
		st_sym_add_module(d->symbols, &r->mod);
	} else if (r->type == ST_REC_PYCODE && d->symbols) {
		st_sym_add_pycode(d->symbols, &r->pycode);
	} else if (r->type == ST_REC_JITSYM && d->symbols) {
		st_sym_add_jit(d->symbols, &r->jit);
	} else if (r->type == ST_REC_NOTE) {
		st_catalog_note(&d->procs, &r->note, r->file);
	}
}

static void st_dispatch(struct st_dump *d, const struct st_ev *ev, FILE *out)
{
	switch (d->view) {
	case ST_VIEW_EVENTS:
		st_view_event(d, ev, out);
		break;
	case ST_VIEW_CONNECTIONS:
	case ST_VIEW_GRAPH:
	case ST_VIEW_OTLP:
	case ST_VIEW_HTML:
		st_conn_add(d, ev, out);
		break;
	case ST_VIEW_STATS:
		st_stats_add(d, ev);
		break;
	}
}

/* A forked child's close of a connection its parent had: kept when the
 * parent's connection was (--port, --addr, --op select by events). */
static bool st_forked_close_kept(struct st_dump *d, const struct st_rec *r)
{
	if (r->type != ST_REC_CLOSE || !(r->close.flags & ST_CLOSE_FORKED) || d->filter.kept == NULL)
		return false;
	struct st_ev child = {.file = r->file, .pid = r->close.pid};
	const struct st_proc *p = st_proc_of(d, &child);
	struct st_filter parent_only = d->filter;
	parent_only.pid = -1;
	return p &&
	       st_filter_match_life(&parent_only, r->file, p->ppid, st_close_fd(&r->close), r->ts,
				    false, false) &&
	       (d->filter.pid < 0 || r->close.pid == (uint32_t)d->filter.pid);
}

/*
 * A flight recorder's close of a connection that began before the kept
 * window: its opening event was overwritten, so the connection views get
 * one made from the close (its ends, its start: the close's date minus its
 * age), marked ST_EV_BEFORE_WINDOW, which the close then ends.
 */
static void st_ring_opening(struct st_dump *d, const struct st_rec *r, FILE *out)
{
	const struct st_close *c = &r->close;
	if (d->stream == NULL || r->close_ends[0].len == 0 || c->how == ST_END_SHUTDOWN ||
	    (c->role != ST_ROLE_CLIENT && c->role != ST_ROLE_SERVER &&
	     c->role != ST_ROLE_INHERITED) || c->age_ns > c->ts_ns)
		return;
	const struct st_source_info *info = st_stream_info(d->stream, r->file);
	uint64_t start = c->ts_ns - c->age_ns;
	if (!info->ring || info->window_ts == 0 || start >= info->window_ts)
		return;
	struct st_ev ev = {
		.ts = start, .pid = c->pid, .tid = c->tid, .fd = st_close_fd(c), .ret = st_close_fd(c),
		.listen_fd = c->role == ST_ROLE_SERVER ? 0 : -1, .op = ST_OP_HELD,
		.flags = (uint8_t)((c->flags & (3u << ST_EV_SOCK_SHIFT | 3u << ST_EV_PROTO_SHIFT)) |
				   ST_EV_BEFORE_WINDOW),
		.local = r->close_ends[0], .peer = r->close_ends[1], .file = r->file,
		.offset = r->offset,
	};
	if (st_filter_match(&d->filter, &ev))
		st_dispatch(d, &ev, out);
}

static void st_dispatch_life(struct st_dump *d, const struct st_rec *r, FILE *out)
{
	bool result = r->type == ST_REC_RESULT, peer = r->type == ST_REC_PEER;
	uint32_t pid = peer ? r->peer.pid : result ? r->result.pid : r->close.pid;
	int32_t fd = peer ? r->peer.fd : result ? r->result.fd : st_close_fd(&r->close);
	bool failed = peer ? false : result ? r->result.err != 0 : r->close.role == ST_ROLE_PENDING;
	/* a close of a socket a forked child may hold leaves it selected, for
	 * the child's close */
	bool ends = r->type == ST_REC_CLOSE && r->close.how != ST_END_SHUTDOWN &&
		    !(r->close.flags & ST_CLOSE_SHARED);
	/* -c and --stats take them all: filters apply to the connections' events */
	if (r->type == ST_REC_CLOSE && (d->view == ST_VIEW_CONNECTIONS || d->view >= ST_VIEW_GRAPH))
		st_ring_opening(d, r, out);
	if (d->view == ST_VIEW_CONNECTIONS || d->view >= ST_VIEW_GRAPH)
		st_conn_life(d, r);
	else if (d->view == ST_VIEW_STATS) {
		if (!peer)
			st_stats_life(d, r);
	}
	else if (st_filter_match_life(&d->filter, r->file, pid, fd, r->ts, failed, ends) ||
		 st_forked_close_kept(d, r)) {
		st_view_life(d, r, out);
		if (r->type == ST_REC_CLOSE && r->close.how == ST_END_SHUTDOWN)
			d->shown_shutdowns++; /* the connection goes on: not a close */
		else
			d->shown[r->type]++;
	}
}

const char *st_sandboxed_text(uint64_t n)
{
	static char text[160];
	snprintf(text, sizeof text, "%llu process%s installed a seccomp filter: nothing of %s "
		 "traced after it", (unsigned long long)n, n == 1 ? "" : "es",
		 n == 1 ? "it" : "them");
	return text;
}

/* What was shown, by kind, and what was lost: "14 events, 5 closes, ..." */
const char *st_unfollowed_text(uint64_t n)
{
	static char text[160];
	snprintf(text, sizeof text, "%llu connection%s not followed to %s end (fd 65536 or above, "
		 "or over 1024 duplicated sockets at once)", (unsigned long long)n,
		 n == 1 ? "" : "s", n == 1 ? "its" : "their");
	return text;
}

void st_dump_summary(const struct st_dump *d, FILE *err)
{
	static const struct {
		int type;
		const char *one, *many;
	} kinds[] = {
		{ST_REC_RESULT, "outcome", "outcomes"}, {ST_REC_CLOSE, "close", "closes"},
		{ST_REC_RESOLVE, "resolution", "resolutions"}, {ST_REC_PEER, "peer", "peers"},
	};
	fprintf(err, "socktrace-dump: %zu event%s", d->nevs, d->nevs == 1 ? "" : "s");
	for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
		size_t n = d->shown[kinds[i].type];
		if (n)
			fprintf(err, ", %zu %s", n, n == 1 ? kinds[i].one : kinds[i].many);
		if (kinds[i].type == ST_REC_CLOSE && d->shown_shutdowns)
			fprintf(err, ", %zu shutdown%s", d->shown_shutdowns,
				d->shown_shutdowns == 1 ? "" : "s");
	}
	if (d->shown_notes)
		fprintf(err, ", %zu note%s", d->shown_notes, d->shown_notes == 1 ? "" : "s");
	fprintf(err, " shown; %llu event%s dropped", (unsigned long long)d->dropped,
		d->dropped == 1 ? "" : "s");
	if (d->dropped_records)
		fprintf(err, ", %llu other record%s dropped", (unsigned long long)d->dropped_records,
			d->dropped_records == 1 ? "" : "s");
	if (d->unfollowed)
		fprintf(err, "; %s", st_unfollowed_text(d->unfollowed));
	if (d->ring)
		st_ring_text(d, err);
	if (d->procs.nnotes)
		fprintf(err, "; %s", st_sandboxed_text(d->procs.nnotes));
	fputc('\n', err);
}

/* "; ring: 1200 events, 30 other records overwritten, kept from 12:00:01.000002" */
void st_ring_text(const struct st_dump *d, FILE *out)
{
	fprintf(out, "; ring: %llu event%s, %llu other record%s overwritten",
		(unsigned long long)d->overwritten, d->overwritten == 1 ? "" : "s",
		(unsigned long long)d->overwritten_records,
		d->overwritten_records == 1 ? "" : "s");
	if (d->window_ts) {
		fputs(", kept from ", out);
		st_print_time(out, d->window_ts);
	}
}

uint32_t st_dump_version(const struct st_dump *d, uint32_t file)
{
	if (d->stream)
		return st_stream_version(d->stream, file);
	return d->follow ? d->follow_version : 0;
}

void st_run_record(struct st_dump *d, const struct st_rec *r, FILE *out)
{
	if (r->type == ST_REC_EVENT) {
		if (st_filter_match(&d->filter, &r->ev)) {
			d->nevs++;
			st_dispatch(d, &r->ev, out);
		}
	} else if (r->type == ST_REC_RESULT || r->type == ST_REC_CLOSE || r->type == ST_REC_PEER) {
		st_dispatch_life(d, r, out);
	} else if (r->type == ST_REC_RESOLVE) {
		st_names_add(d, &r->resolve);
		if (d->view == ST_VIEW_EVENTS &&
		    st_filter_match_life(&d->filter, r->file, r->resolve.pid, -1, r->ts,
					 r->resolve.result != 0, false)) {
			st_view_resolve(d, &r->resolve, out);
			d->shown[ST_REC_RESOLVE]++;
		}
	} else {
		st_dump_record(d, r);
		if (r->type == ST_REC_NOTE && d->view == ST_VIEW_EVENTS &&
		    st_filter_match_life(&d->filter, r->file, r->note.pid, -1, r->ts, false, false)) {
			st_view_note(d, &r->note, out);
			d->shown_notes++;
		}
	}
}

/* Whether path's header says it holds JIT symbol records. */
static bool st_has_jit(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
	if (fd < 0)
		return false;
	static uint8_t head[ST_HEADER_SIZE];
	struct stat st;
	ssize_t got = fstat(fd, &st) == 0 && S_ISREG(st.st_mode) ? pread(fd, head, sizeof head, 0)
								  : -1;
	close(fd);
	struct st_header_info h;
	uint64_t err_off;
	char why[ST_WHY];
	return got > 0 && st_decode_header(head, (uint64_t)st.st_size, &h, &err_off, why) == 0 &&
	       h.jit;
}

/* A JIT's names are copied at the program's exit, after the events whose
 * stacks they name: they are read first, from the files that hold some. */
static void st_read_jit_names(struct st_dump *d, char **paths, size_t n)
{
	for (size_t i = 0; d->symbols && i < n; i++) {
		if (!st_has_jit(paths[i]))
			continue;
		struct st_stream *s = st_stream_open(&paths[i], 1, false);
		struct st_rec r;
		while (s && st_stream_next(s, &r))
			if (r.type == ST_REC_JITSYM)
				st_sym_add_jit(d->symbols, &r.jit);
		st_stream_close(s);
	}
}

/* Streams every file through the view; 1 when a file was not read whole.
 * Damage is reported after the output, as it does not stop it. */
int st_run(struct st_dump *d, char **paths, size_t n, FILE *out, FILE *err)
{
	/* every view takes records in time order: --stats too, whose peers need
	 * a connect before its result and its close (the merge costs it little) */
	struct st_stream *s = st_stream_open(paths, n, true);
	if (s == NULL) {
		perror("socktrace-dump");
		exit(2);
	}
	if (st_filter_resolve_times(&d->filter, st_stream_first_ts(s)) < 0)
		exit(2);
	st_read_jit_names(d, paths, n);
	d->stream = s;
	struct st_rec r;
	while (st_stream_next(s, &r))
		st_run_record(d, &r, out);
	int status = 0;
	for (size_t i = 0; i < n; i++) {
		const struct st_source_info *info = st_stream_info(s, i);
		d->dropped += info->dropped;
		d->exit_dropped += info->exit_dropped;
		d->dropped_records += info->dropped_records;
		d->unfollowed += info->unfollowed;
		if (info->ring) {
			d->ring = true;
			d->overwritten += info->overwritten;
			d->overwritten_records += info->overwritten_records;
			if (info->window_ts && (d->window_ts == 0 || info->window_ts < d->window_ts))
				d->window_ts = info->window_ts;
		}
	}
	d->many_hosts = d->procs.many_hosts;
	if (d->view == ST_VIEW_CONNECTIONS || d->view >= ST_VIEW_GRAPH)
		st_conn_print(d, out);
	if (d->view == ST_VIEW_GRAPH)
		st_graph_print(d, out);
	else if (d->view == ST_VIEW_HTML)
		st_html_print(d, out);
	else if (d->view == ST_VIEW_STATS)
		st_stats_print(d, out);
	fflush(out);
	for (size_t i = 0; i < n; i++) {
		const struct st_source_info *info = st_stream_info(s, i);
		if (info->warning[0])
			fprintf(err, "socktrace-dump: %s: %s%s\n", info->path,
				info->unwritten ? "" : "warning: ", info->warning);
		if (info->error[0])
			fprintf(err, "socktrace-dump: %s: %s\n", info->path, info->error);
		if (info->error[0] || (info->warning[0] && !info->unwritten))
			status = 1;
	}
	d->stream = NULL;
	st_stream_close(s);
	st_filter_free(&d->filter);
	return status;
}

