/*
 * libFuzzer target: the whole reader on hostile input, both ways in: the
 * whole-file loader, and the streaming reader through every view of
 * socktrace-dump (one per input: events as text and JSON, stats,
 * connections as text and JSON, the DOT map, the OTLP export; the HTML report
 * shares their rows and runs dot, too slow here) with the symbolizer on, so crafted module records reach it (it
 * refuses what is not a regular file outside /proc, /dev and /sys).  Names
 * are numeric: no resolver is asked.
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>

#include "st_dump.h"
#include "st_endpoint.h"
#include "st_trace.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static FILE *fuzz_sink;

static void fuzz_loader(const uint8_t *data, size_t size)
{
	struct st_trace t;
	st_trace_parse(&t, data, size, 0);
	for (size_t i = 0; i < t.nevs; i++) {
		st_endpoint_text(fuzz_sink, &t.evs[i].local, true);
		st_endpoint_json(fuzz_sink, &t.evs[i].peer);
	}
	st_trace_free(&t);
}

/* One view per input, chosen by the input's last byte: every view is
 * reached across the corpus at one eighth of the cost per input. */
static void fuzz_views(char *path, uint8_t choice)
{
	static const struct {
		enum st_view view;
		bool json;
	} runs[] = {
		{ST_VIEW_EVENTS, false}, {ST_VIEW_EVENTS, true}, {ST_VIEW_STATS, false},
		{ST_VIEW_STATS, true},   {ST_VIEW_CONNECTIONS, false}, {ST_VIEW_CONNECTIONS, true},
		{ST_VIEW_GRAPH, false},  {ST_VIEW_OTLP, false},
	};
	size_t i = choice % (sizeof runs / sizeof runs[0]);
	struct st_dump d = {.numeric = true, .json = runs[i].json, .view = runs[i].view};
	st_filter_init(&d.filter);
	d.symbols = st_sym_new(NULL);
	st_run(&d, &path, 1, fuzz_sink, fuzz_sink);
	st_sym_free(d.symbols);
	st_catalog_free(&d.procs);
	st_names_free(&d); /* resolutions: without it every one was a leak report */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (fuzz_sink == NULL)
		fuzz_sink = fopen("/dev/null", "w");
	fuzz_loader(data, size);
	/* the streaming reader reads a file: a memfd holds the input */
	int fd = memfd_create("fuzz-trace", MFD_CLOEXEC);
	if (fd < 0)
		return 0;
	if (write(fd, data, size) == (ssize_t)size) {
		char path[64];
		snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
		fuzz_views(path, size ? data[size - 1] : 0);
	}
	close(fd);
	return 0;
}
