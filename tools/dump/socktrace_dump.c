/* socktrace-dump: read trace files and answer questions about them. */
#define _GNU_SOURCE
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "st_dump.h"
#include "st_endpoint.h"
#include "st_trace.h"

static void st_usage(FILE *out)
{
	fputs("usage: socktrace-dump [OPTIONS] FILE...\n"
	      "Views (default: one line per event, all files merged in time order):\n"
	      "  -c, --connections  pair client and server ends of each TCP connection\n"
	      "  -s, --stats        events per call and per process, failures, dropped\n"
	      "  -f, --follow       keep printing records as they are written (one FILE);\n"
	      "                     with -c a row per connection as it ends, with --otlp\n"
	      "                     its spans\n"
	      "  --graph            the service map as Graphviz DOT (dot -Tsvg renders it)\n"
	      "  --html REPORT      a self-contained HTML report: map, timeline, table\n"
	      "  --otlp             OpenTelemetry traces, OTLP JSON Lines (otlpjsonfile)\n"
	      "Output:\n"
	      "  -n, --numeric      addresses and ports as numbers\n"
	      "  -r, --resolve      names from reverse DNS too (sends queries; default: names\n"
	      "                     from /etc/hosts and the trace's own resolutions only)\n"
	      "  -j, --json         JSON Lines\n"
	      "Filters (all must match):\n"
	      "  --pid PID  --op CALL[,CALL]  --port PORT  --addr ADDR  --fd FD  --errors\n"
	      "  --since TIME  --until TIME   (seconds since the epoch, YYYY-MM-DD HH:MM:SS,\n"
	      "                                or HH:MM:SS[.frac] on the trace's first day)\n"
	      "  -h, --help\n",
	      out);
}

/* One view per run: a second one is refused, never silently the last. */
static void st_choose_view(struct st_dump *d, enum st_view view, const char *option,
			   const char **chosen)
{
	if (*chosen && d->view != view) {
		fprintf(stderr, "socktrace-dump: %s and %s are two views: choose one\n", *chosen,
			option);
		exit(2);
	}
	d->view = view;
	*chosen = option;
}

static void st_parse_args(int argc, char **argv, struct st_dump *d, int *first)
{
	const char *view = NULL;
	static const struct option longopts[] = {
		{"numeric", no_argument, NULL, 'n'},   {"json", no_argument, NULL, 'j'},
		{"resolve", no_argument, NULL, 'r'},
		{"connections", no_argument, NULL, 'c'}, {"stats", no_argument, NULL, 's'},
		{"follow", no_argument, NULL, 'f'},    {"help", no_argument, NULL, 'h'},
		{"graph", no_argument, NULL, 'G'},     {"otlp", no_argument, NULL, 'O'},
		{"html", required_argument, NULL, 'H'},
		{"pid", required_argument, NULL, 'p'}, {"op", required_argument, NULL, 'o'},
		{"port", required_argument, NULL, 'P'}, {"addr", required_argument, NULL, 'a'},
		{"fd", required_argument, NULL, 'F'},  {"errors", no_argument, NULL, 'e'},
		{"since", required_argument, NULL, 'S'}, {"until", required_argument, NULL, 'U'},
		{NULL, 0, NULL, 0},
	};
	int c;
	while ((c = getopt_long(argc, argv, "njrcsfh", longopts, NULL)) != -1) {
		switch (c) {
		case 'n': d->numeric = true; break;
		case 'r': st_endpoint_allow_dns(true); break;
		case 'j': d->json = true; break;
		case 'c': st_choose_view(d, ST_VIEW_CONNECTIONS, "-c", &view); break;
		case 's': st_choose_view(d, ST_VIEW_STATS, "--stats", &view); break;
		case 'G': st_choose_view(d, ST_VIEW_GRAPH, "--graph", &view); break;
		case 'O': st_choose_view(d, ST_VIEW_OTLP, "--otlp", &view); break;
		case 'H':
			st_choose_view(d, ST_VIEW_HTML, "--html", &view);
			d->html_path = optarg;
			break;
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
	if (d->follow && (argc - optind != 1 ||
			  (d->view != ST_VIEW_EVENTS && d->view != ST_VIEW_CONNECTIONS &&
			   d->view != ST_VIEW_OTLP))) {
		fputs("socktrace-dump: --follow takes one FILE and the events view, -c or --otlp\n",
		      stderr);
		exit(2);
	}
	*first = optind;
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
	int status = st_run(&d, argv + first, (size_t)(argc - first), stdout, stderr);
	if (d.view == ST_VIEW_EVENTS && !d.json)
		st_dump_summary(&d, stderr);
	st_sym_free(d.symbols);
	st_catalog_free(&d.procs);
	st_names_free(&d);
	return status;
}
