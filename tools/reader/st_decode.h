/*
 * Decoding of one record, of a commit word and of the header: every length
 * is checked against its container before use.  Shared by the whole-file
 * loader (st_trace.c) and the streaming reader (st_stream.c).  Each returns
 * 0, or -1 with why[] saying what is wrong (the caller adds file and offset).
 */
#ifndef ST_DECODE_H
#define ST_DECODE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "st_trace.h"

#define ST_WHY 400

int st_decode_event(const uint8_t *p, uint32_t len, struct st_ev *ev, char *why);
/* version 5: the context of the short events that follow in a chunk; a
 * reader keeps one per chunk it reads, reset at the chunk's start */
struct st_ctx {
	bool valid;
	uint32_t pid, tid;
	uint64_t base;
};
int st_decode_context(const uint8_t *p, uint32_t len, struct st_ctx *ctx, char *why);
/* A short event, read as the event record it stands for (its ends in the
 * st_endpoint's own bytes); ctx: the chunk's context so far */
/* A short result (version 6) as the result record it stands for. */
int st_decode_short_result(const uint8_t *p, uint32_t len, const struct st_ctx *ctx,
			   struct st_result *r, char *why);
/* A short close (version 6) as the close record it stands for; ends (may
 * be NULL): a ring's close endpoints, {NULL, 0} when absent. */
int st_decode_short_close(const uint8_t *p, uint32_t len, const struct st_ctx *ctx,
			  struct st_close *c, struct st_endpoint ends[2], char *why);
int st_decode_short_event(const uint8_t *p, uint32_t len, const struct st_ctx *ctx,
			  struct st_ev *ev, char *why);
int st_decode_jitsym(const uint8_t *p, uint32_t len, struct st_jit *j, char *why);
int st_decode_pycode(const uint8_t *p, uint32_t len, struct st_pyc *c, char *why);
int st_decode_process(const uint8_t *p, uint32_t len, struct st_proc *pr, char *why);
int st_decode_module(const uint8_t *p, uint32_t len, struct st_mod *m, char *why);
/* version 2 */
int st_decode_result(const uint8_t *p, uint32_t len, struct st_result *r, char *why);
/* ends (may be NULL): a ring's close endpoints, {NULL, 0} when absent */
int st_decode_close(const uint8_t *p, uint32_t len, struct st_close *c, struct st_endpoint ends[2],
		    char *why);
int st_decode_resolve(const uint8_t *p, uint32_t len, struct st_res *r, char *why);
int st_decode_peer(const uint8_t *p, uint32_t len, struct st_peer *r, char *why);
/* type 16: what the trace will not hold of a process from here on */
int st_decode_note(const uint8_t *p, uint32_t len, struct st_note *n, char *why);

/* The commit word w at off, in a chunk ending at chunk_end of a file of size
 * bytes: 1 and *len for a record, 0 for the end of the chunk, -1 for damage. */
int st_decode_word(uint64_t w, uint64_t off, uint64_t chunk_end, uint64_t size, uint32_t *len,
		   char *why);

struct st_header_info {
	uint64_t content_end; /* end of the chunks handed out, or of the file */
	uint64_t dropped, exit_dropped;
	uint64_t dropped_records; /* version 3: results, closes, resolutions lost */
	uint32_t unfollowed;      /* version 3: connections whose ends were not followed */
	uint32_t version;
	bool unwritten;       /* empty or zero: its writer died before writing it */
	bool jit;             /* version 5: JIT symbol records, written at exit */
	/* times are CLOCK_MONOTONIC + clock_offset_ns of the boot named by
	 * boot_id (version 3, ST_HDR_MONOTONIC); boot_id "" when not */
	uint64_t clock_offset_ns;
	char boot_id[40];
	/* version 4, flight-recorder mode: ring chunks start at ring_base */
	bool ring;
	uint64_t ring_base;
	uint64_t overwritten, overwritten_records; /* lost to reuse */
	uint64_t ring_handed; /* ring chunks ever taken (sequence numbers used) */
	uint32_t ring_chunks, meta_chunks;
};
/* head: the first min(size, ST_HEADER_SIZE) bytes of a file of size bytes.
 * On -1, *err_off is where the problem is. */
int st_decode_header(const uint8_t *head, uint64_t size, struct st_header_info *info,
		     uint64_t *err_off, char *why);

/* The chunk record starting a ring chunk: 1 and its sequence number, 0
 * when the chunk is unused or being cleared (skip it), -1 when damaged. */
int st_ring_chunk_seq(const uint8_t *chunk, size_t avail, uint32_t ring_chunks, uint64_t handed,
		      uint64_t *seq);

#endif
