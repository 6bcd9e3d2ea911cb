/* JIT names of a process still running (-f): its perf map read as it grows. */
#ifndef ST_JITLIVE_H
#define ST_JITLIVE_H

#include <stdbool.h>
#include <stdint.h>

#include "st_jitsyms.h"

struct st_jitlive;

/* NULL unless the trace was written on this machine since its last boot
 * (boot_id and clock_offset_ns: the trace header's; its times are
 * CLOCK_MONOTONIC + clock_offset_ns): elsewhere a pid names another process. */
struct st_jitlive *st_jitlive_new(const char *boot_id, uint64_t clock_offset_ns);
/* The entries /tmp/perf-PID.map gained since the last look into j, when pid
 * is still the process that made an event at ts (a trace time): true when
 * any were added.  Looks again at most every 50 ms per process. */
bool st_jitlive_refresh(struct st_jitlive *l, struct st_jitsyms *j, uint32_t pid, uint64_t ts);
void st_jitlive_free(struct st_jitlive *l);

#endif
