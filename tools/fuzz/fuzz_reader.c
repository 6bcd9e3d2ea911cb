/* libFuzzer target: the trace parser and the printing of what it accepts.
 * Names are printed numerically (no resolver) and stacks are not symbolized
 * (that would open files named by the input). */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>

#include "st_endpoint.h"
#include "st_trace.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static FILE *sink;
	if (sink == NULL)
		sink = fopen("/dev/null", "w");
	struct st_trace t;
	st_trace_parse(&t, data, size, 0);
	for (size_t i = 0; i < t.nevs; i++) {
		st_endpoint_text(sink, &t.evs[i].local, true);
		st_endpoint_json(sink, &t.evs[i].peer);
		uint64_t sum = 0;
		for (unsigned k = 0; k < t.evs[i].nframes; k++)
			sum += t.evs[i].frames[k];
		fprintf(sink, "%llu", (unsigned long long)sum);
	}
	for (size_t i = 0; i < t.nprocs; i++)
		st_json_string(sink, t.procs[i].cmd, t.procs[i].cmd_len);
	for (size_t i = 0; i < t.nmods; i++)
		st_json_string(sink, t.mods[i].path, t.mods[i].path_len);
	st_trace_free(&t);
	return 0;
}
