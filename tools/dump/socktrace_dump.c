/* socktrace-dump: read trace files and answer questions about them. */
#define _GNU_SOURCE
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "st_dump.h"
#include "st_trace.h"

static void st_usage(FILE *out)
{
	fputs("usage: socktrace-dump [OPTIONS] FILE...\n"
	      "Views (default: one line per event, all files merged in time order):\n"
	      "  -c, --connections  pair client and server ends of each TCP connection\n"
	      "  -s, --stats        events per call and per process, failures, dropped\n"
	      "  -f, --follow       keep printing events as they are written (one FILE)\n"
	      "Output:\n"
	      "  -n, --numeric      addresses and ports as numbers\n"
	      "  -j, --json         JSON Lines\n"
	      "Filters (all must match):\n"
	      "  --pid PID  --op CALL[,CALL]  --port PORT  --addr ADDR  --fd FD  --errors\n"
	      "  --since TIME  --until TIME   (seconds since the epoch, YYYY-MM-DD HH:MM:SS,\n"
	      "                                or HH:MM:SS[.frac] on the trace's first day)\n"
	      "  -h, --help\n",
	      out);
}

static void st_parse_args(int argc, char **argv, struct st_dump *d, int *first)
{
	static const struct option longopts[] = {
		{"numeric", no_argument, NULL, 'n'},   {"json", no_argument, NULL, 'j'},
		{"connections", no_argument, NULL, 'c'}, {"stats", no_argument, NULL, 's'},
		{"follow", no_argument, NULL, 'f'},    {"help", no_argument, NULL, 'h'},
		{"pid", required_argument, NULL, 'p'}, {"op", required_argument, NULL, 'o'},
		{"port", required_argument, NULL, 'P'}, {"addr", required_argument, NULL, 'a'},
		{"fd", required_argument, NULL, 'F'},  {"errors", no_argument, NULL, 'e'},
		{"since", required_argument, NULL, 'S'}, {"until", required_argument, NULL, 'U'},
		{NULL, 0, NULL, 0},
	};
	int c;
	while ((c = getopt_long(argc, argv, "njcsfh", longopts, NULL)) != -1) {
		switch (c) {
		case 'n': d->numeric = true; break;
		case 'j': d->json = true; break;
		case 'c': d->view = ST_VIEW_CONNECTIONS; break;
		case 's': d->view = ST_VIEW_STATS; break;
		case 'f': d->follow = true; break;
		case 'h': st_usage(stdout); exit(0);
		case '?': st_usage(stderr); exit(2);
		default:
			if (st_filter_option(&d->filter, c, optarg) < 0)
				exit(2);
		}
	}
	if (optind >= argc) {
		fputs("socktrace-dump: no trace file given\n", stderr);
		st_usage(stderr);
		exit(2);
	}
	if (d->follow && (argc - optind != 1 || d->view != ST_VIEW_EVENTS)) {
		fputs("socktrace-dump: --follow takes one FILE and the events view\n", stderr);
		exit(2);
	}
	*first = optind;
}

void st_dump_record(struct st_dump *d, const struct st_rec *r)
{
	if (r->type == ST_REC_PROCESS) {
		st_catalog_add(&d->procs, &r->proc);
		if (d->symbols)
			st_sym_add_process(d->symbols, &r->proc);
	} else if (r->type == ST_REC_MODULE && d->symbols) {
		st_sym_add_module(d->symbols, &r->mod);
	}
}

static void st_dispatch(struct st_dump *d, const struct st_ev *ev, FILE *out)
{
	switch (d->view) {
	case ST_VIEW_EVENTS:
		st_view_event(d, ev, out);
		break;
	case ST_VIEW_CONNECTIONS:
		st_conn_add(d, ev, out);
		break;
	case ST_VIEW_STATS:
		st_stats_add(d, ev);
		break;
	}
}

/* Streams every file through the view; 1 when a file was not read whole.
 * Damage is reported after the output, as it does not stop it. */
static int st_run(struct st_dump *d, char **paths, size_t n, FILE *out)
{
	/* counting needs no order: file order is the fastest */
	struct st_stream *s = st_stream_open(paths, n, d->view != ST_VIEW_STATS);
	if (s == NULL) {
		perror("socktrace-dump");
		exit(2);
	}
	if (st_filter_resolve_times(&d->filter, st_stream_first_ts(s)) < 0)
		exit(2);
	struct st_rec r;
	while (st_stream_next(s, &r)) {
		if (r.type != ST_REC_EVENT)
			st_dump_record(d, &r);
		else if (st_filter_match(&d->filter, &r.ev)) {
			d->nevs++;
			st_dispatch(d, &r.ev, out);
		}
	}
	int status = 0;
	for (size_t i = 0; i < n; i++) {
		const struct st_source_info *info = st_stream_info(s, i);
		d->dropped += info->dropped;
		d->exit_dropped += info->exit_dropped;
	}
	d->many_hosts = d->procs.many_hosts;
	if (d->view == ST_VIEW_CONNECTIONS)
		st_conn_print(d, out);
	else if (d->view == ST_VIEW_STATS)
		st_stats_print(d, out);
	fflush(out);
	for (size_t i = 0; i < n; i++) {
		const struct st_source_info *info = st_stream_info(s, i);
		if (info->warning[0])
			fprintf(stderr, "socktrace-dump: %s: %s%s\n", info->path,
				info->unwritten ? "" : "warning: ", info->warning);
		if (info->error[0])
			fprintf(stderr, "socktrace-dump: %s: %s\n", info->path, info->error);
		if (info->error[0] || (info->warning[0] && !info->unwritten))
			status = 1;
	}
	st_stream_close(s);
	return status;
}

int main(int argc, char **argv)
{
	struct st_dump d = {0};
	st_filter_init(&d.filter);
	int first;
	st_parse_args(argc, argv, &d, &first);
	/* stacks are named only by views that print them */
	if (d.view != ST_VIEW_STATS)
		d.symbols = st_sym_new(stderr);
	if (d.follow) {
		if (st_filter_resolve_times(&d.filter, 0) < 0)
			return 2;
		int rc = st_follow(&d, argv[first], stdout);
		st_sym_free(d.symbols);
		st_catalog_free(&d.procs);
		return rc;
	}
	int status = st_run(&d, argv + first, (size_t)(argc - first), stdout);
	if (d.view == ST_VIEW_EVENTS && !d.json)
		fprintf(stderr, "socktrace-dump: %zu events, %llu dropped\n", d.nevs,
			(unsigned long long)d.dropped);
	st_sym_free(d.symbols);
	st_catalog_free(&d.procs);
	return status;
}
