/* socktrace-dump: print trace files as text (default) or JSON Lines. */
#define _GNU_SOURCE
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "st_endpoint.h"
#include "st_symbols.h"
#include "st_trace.h"

struct st_opts {
	bool numeric;
	bool json;
	struct st_symbolizer *symbols;
};

static void st_usage(FILE *out)
{
	fputs("usage: socktrace-dump [-n] [--json] FILE...\n"
	      "  -n, --numeric  print addresses and ports as numbers\n"
	      "  -j, --json     one JSON object per event (JSON Lines)\n"
	      "  -h, --help     this text\n",
	      out);
}

static void st_print_time(FILE *out, uint64_t ts)
{
	time_t sec = (time_t)(ts / 1000000000u);
	struct tm tm;
	localtime_r(&sec, &tm);
	fprintf(out, "%02d:%02d:%02d.%06u", tm.tm_hour, tm.tm_min, tm.tm_sec,
		(unsigned)(ts % 1000000000u / 1000u));
}

static void st_print_result(FILE *out, const struct st_ev *ev)
{
	fprintf(out, " = %d", ev->ret);
	if (ev->err) {
		const char *name = strerrorname_np(ev->err);
		const char *desc = strerrordesc_np(ev->err);
		if (name)
			fprintf(out, " %s (%s)", name, desc ? desc : "");
		else
			fprintf(out, " errno %d", ev->err);
	}
}

static const char *st_obj_name(const struct st_frame *f)
{
	return f->obj ? f->obj : "??";
}

/* "    at inner+0x1a (/path/prog) prog.c:12" */
static void st_print_stack_text(FILE *out, const struct st_ev *ev, const struct st_opts *o)
{
	if (ev->flags & ST_EV_STACK_SKIPPED)
		fputs("    (no stack: the call interrupted the dynamic loader or the shim)\n", out);
	for (unsigned i = 0; i < ev->nframes; i++) {
		struct st_frame f;
		uint64_t ip;
		memcpy(&ip, &ev->frames[i], sizeof ip);
		st_sym_frame(o->symbols, ev, ip, &f);
		if (f.sym)
			fprintf(out, "    at %s+0x%llx (%s)", f.sym, (unsigned long long)f.off,
				st_obj_name(&f));
		else
			fprintf(out, "    at ?? (%s) [0x%llx]", st_obj_name(&f), (unsigned long long)ip);
		if (f.file)
			fprintf(out, " %s:%d", f.file, f.line);
		if (f.changed)
			fputs(" (object changed since the trace was taken)", out);
		fputc('\n', out);
	}
}

static void st_print_stack_json(FILE *out, const struct st_ev *ev, const struct st_opts *o)
{
	if (ev->flags & ST_EV_STACK_SKIPPED)
		fputs(",\"stack_skipped\":true", out);
	fputs(",\"stack\":[", out);
	for (unsigned i = 0; i < ev->nframes; i++) {
		struct st_frame f;
		uint64_t ip;
		memcpy(&ip, &ev->frames[i], sizeof ip);
		st_sym_frame(o->symbols, ev, ip, &f);
		fprintf(out, "%s{\"ip\":\"0x%llx\",\"sym\":", i ? "," : "", (unsigned long long)ip);
		if (f.sym)
			st_json_string(out, f.sym, strlen(f.sym));
		else
			fputs("null", out);
		fprintf(out, ",\"off\":%llu,\"obj\":", (unsigned long long)f.off);
		if (f.obj)
			st_json_string(out, f.obj, strlen(f.obj));
		else
			fputs("null", out);
		fputs(",\"file\":", out);
		if (f.file)
			st_json_string(out, f.file, strlen(f.file));
		else
			fputs("null", out);
		if (f.line)
			fprintf(out, ",\"line\":%d}", f.line);
		else
			fputs(",\"line\":null}", out);
	}
	fputc(']', out);
}

static void st_print_text(FILE *out, const struct st_ev *ev, const struct st_opts *o)
{
	st_print_time(out, ev->ts);
	bool accepts = ev->op == ST_OP_ACCEPT || ev->op == ST_OP_ACCEPT4;
	fprintf(out, " %u/%u %s(%d)", ev->pid, ev->tid, st_op_name(ev->op),
		accepts ? ev->listen_fd : ev->fd);
	st_print_result(out, ev);
	if (ev->local.sa) {
		fputs(" local=", out);
		st_endpoint_text(out, &ev->local, o->numeric);
	}
	if (ev->peer.sa) {
		fputs(" peer=", out);
		st_endpoint_text(out, &ev->peer, o->numeric);
	}
	fputc('\n', out);
	st_print_stack_text(out, ev, o);
}

static void st_print_json(FILE *out, const struct st_ev *ev, const struct st_opts *o)
{
	fprintf(out, "{\"ts\":%llu,\"pid\":%u,\"tid\":%u,\"op\":\"%s\",\"fd\":%d,\"ret\":%d,",
		(unsigned long long)ev->ts, ev->pid, ev->tid, st_op_name(ev->op), ev->fd, ev->ret);
	const char *name = ev->err ? strerrorname_np(ev->err) : NULL;
	if (name)
		fprintf(out, "\"errno\":\"%s\",", name);
	else if (ev->err)
		fprintf(out, "\"errno\":\"E%d\",", ev->err);
	else
		fputs("\"errno\":null,", out);
	if (ev->op == ST_OP_ACCEPT || ev->op == ST_OP_ACCEPT4)
		fprintf(out, "\"listen_fd\":%d,", ev->listen_fd);
	fputs("\"local\":", out);
	st_endpoint_json(out, &ev->local);
	fputs(",\"peer\":", out);
	st_endpoint_json(out, &ev->peer);
	st_print_stack_json(out, ev, o);
	fputs("}\n", out);
}

static int st_parse_args(int argc, char **argv, struct st_opts *o)
{
	static const struct option longopts[] = {
		{"numeric", no_argument, NULL, 'n'},
		{"json", no_argument, NULL, 'j'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	int c;
	while ((c = getopt_long(argc, argv, "njh", longopts, NULL)) != -1) {
		switch (c) {
		case 'n': o->numeric = true; break;
		case 'j': o->json = true; break;
		case 'h': st_usage(stdout); exit(0);
		default: st_usage(stderr); exit(2);
		}
	}
	if (optind >= argc) {
		fputs("socktrace-dump: no trace file given\n", stderr);
		st_usage(stderr);
		exit(2);
	}
	return optind;
}

int main(int argc, char **argv)
{
	struct st_opts o = {0};
	int first = st_parse_args(argc, argv, &o);
	size_t nfiles = (size_t)(argc - first);
	struct st_trace *traces = calloc(nfiles, sizeof *traces);
	size_t total = 0;
	uint64_t dropped = 0;
	int status = 0;
	for (size_t i = 0; i < nfiles; i++) {
		if (st_trace_load(&traces[i], argv[first + (int)i], (uint32_t)i) < 0)
			status = 1;
		if (traces[i].warning[0])
			status = 1;
		total += traces[i].nevs;
		dropped += traces[i].dropped;
	}
	struct st_ev *all = malloc((total ? total : 1) * sizeof *all);
	size_t n = 0;
	for (size_t i = 0; i < nfiles; i++) {
		if (traces[i].nevs)
			memcpy(all + n, traces[i].evs, traces[i].nevs * sizeof *all);
		n += traces[i].nevs;
	}
	if (n)
		qsort(all, n, sizeof *all, st_ev_cmp);
	o.symbols = st_sym_new(traces, nfiles);
	for (size_t i = 0; i < n; i++) {
		if (o.json)
			st_print_json(stdout, &all[i], &o);
		else
			st_print_text(stdout, &all[i], &o);
	}
	fflush(stdout);
	for (size_t i = 0; i < nfiles; i++) {
		if (traces[i].warning[0])
			fprintf(stderr, "socktrace-dump: %s: warning: %s\n", traces[i].path,
				traces[i].warning);
		if (traces[i].error[0])
			fprintf(stderr, "socktrace-dump: %s: %s\n", traces[i].path, traces[i].error);
	}
	if (!o.json)
		fprintf(stderr, "socktrace-dump: %zu events, %llu dropped\n", n,
			(unsigned long long)dropped);
	st_sym_free(o.symbols);
	for (size_t i = 0; i < nfiles; i++)
		st_trace_free(&traces[i]);
	free(traces);
	free(all);
	return status;
}
