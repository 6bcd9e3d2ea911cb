/*
 * The trace's clock.  Every ts_ns is CLOCK_MONOTONIC plus one offset to wall
 * time, measured when the trace file was made and stored in its header, so
 * that every process of one boot stamps on one timeline.  Differences of
 * CLOCK_REALTIME readings would make ages and latencies zero, negative or
 * hours long when NTP or `date -s` steps the clock during a connection, and
 * would break the reader's rule that a chunk is in time order.  The price:
 * a date shown is the wall time as the clock stood at the trace's creation,
 * advanced by the monotonic clock (perf and LTTng record it the same way).
 */
#define _GNU_SOURCE
#include <string.h>
#include <time.h>

#include "st_core.h"

static uint64_t st_clock_offset; /* wall time minus CLOCK_MONOTONIC, mod 2^64 */
static char st_boot_id[ST_BOOT_ID_LEN];

static uint64_t st_clock_read(clockid_t id)
{
	struct timespec ts;
	clock_gettime(id, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* This process's own offset, and the boot it is measured in: a trace made in
 * another boot has a monotonic clock that started elsewhere. */
void st_clock_init(void)
{
	char id[ST_BOOT_ID_LEN] = {0};
	if (st_read_file("/proc/sys/kernel/random/boot_id", id, sizeof id - 1) >= 36)
		memcpy(st_boot_id, id, 36);
	uint64_t wall_before = st_clock_read(CLOCK_REALTIME);
	uint64_t mono = st_clock_read(CLOCK_MONOTONIC);
	uint64_t wall_after = st_clock_read(CLOCK_REALTIME);
	st_clock_offset = wall_before + (wall_after - wall_before) / 2 - mono;
}

uint64_t st_now_ns(void)
{
	return st_clock_read(CLOCK_MONOTONIC) + st_clock_offset;
}

/* A fresh header: later processes of this boot take its offset. */
void st_clock_stamp(struct st_header *h)
{
	h->flags |= ST_HDR_MONOTONIC;
	h->clock_offset_ns = st_clock_offset;
	memcpy(h->boot_id, st_boot_id, sizeof h->boot_id);
	h->created_ns = st_now_ns();
}

/* Joining a trace: its timeline, when it was made in this boot. */
void st_clock_adopt(const struct st_header *h)
{
	if ((h->flags & ST_HDR_MONOTONIC) && st_boot_id[0] != '\0' &&
	    memcmp(h->boot_id, st_boot_id, sizeof h->boot_id) == 0)
		st_clock_offset = h->clock_offset_ns;
}
