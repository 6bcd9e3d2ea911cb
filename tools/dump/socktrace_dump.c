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

/* Loads every file; damage is reported after the output, as it does not stop it. */
static int st_load_all(struct st_dump *d, char **paths, size_t n)
{
	int status = 0;
	d->traces = calloc(n ? n : 1, sizeof *d->traces);
	d->ntraces = n;
	size_t total = 0;
	for (size_t i = 0; i < n; i++) {
		if (st_trace_load(&d->traces[i], paths[i], (uint32_t)i) < 0 ||
		    (d->traces[i].warning[0] && !d->traces[i].unwritten))
			status = 1;
		st_procs_index(&d->traces[i]);
		total += d->traces[i].nevs;
		d->dropped += d->traces[i].dropped;
		d->exit_dropped += d->traces[i].exit_dropped;
	}
	if (st_filter_resolve_times(&d->filter, d->traces, n) < 0)
		exit(2);
	d->evs = malloc((total ? total : 1) * sizeof *d->evs);
	for (size_t i = 0; i < n; i++)
		for (size_t k = 0; k < d->traces[i].nevs; k++)
			if (st_filter_match(&d->filter, &d->traces[i].evs[k]))
				d->evs[d->nevs++] = d->traces[i].evs[k];
	if (d->nevs)
		qsort(d->evs, d->nevs, sizeof *d->evs, st_ev_cmp);
	d->symbols = st_sym_new(d->traces, n);
	d->many_hosts = st_procs_many_hosts(d->traces, n);
	return status;
}

static void st_report_damage(const struct st_dump *d)
{
	for (size_t i = 0; i < d->ntraces; i++) {
		const struct st_trace *t = &d->traces[i];
		if (t->warning[0])
			fprintf(stderr, "socktrace-dump: %s: warning: %s\n", t->path, t->warning);
		if (t->error[0])
			fprintf(stderr, "socktrace-dump: %s: %s\n", t->path, t->error);
	}
}

int main(int argc, char **argv)
{
	struct st_dump d = {0};
	st_filter_init(&d.filter);
	int first;
	st_parse_args(argc, argv, &d, &first);
	if (d.follow) {
		if (st_filter_resolve_times(&d.filter, NULL, 0) < 0)
			return 2;
		return st_follow(&d, argv[first], stdout);
	}
	int status = st_load_all(&d, argv + first, (size_t)(argc - first));
	switch (d.view) {
	case ST_VIEW_EVENTS:
		st_view_events(&d, d.evs, d.nevs, stdout);
		break;
	case ST_VIEW_CONNECTIONS:
		st_view_connections(&d, stdout);
		break;
	case ST_VIEW_STATS:
		st_view_stats(&d, stdout);
		break;
	}
	fflush(stdout);
	st_report_damage(&d);
	if (d.view == ST_VIEW_EVENTS && !d.json)
		fprintf(stderr, "socktrace-dump: %zu events, %llu dropped\n", d.nevs,
			(unsigned long long)d.dropped);
	st_sym_free(d.symbols);
	for (size_t i = 0; i < d.ntraces; i++)
		st_trace_free(&d.traces[i]);
	free(d.traces);
	free(d.evs);
	return status;
}
