/*
 * Streaming trace reader: records of any number of files, in time order,
 * without loading them.  Each chunk is written by one thread in time order,
 * so a k-way merge over the chunks that overlap in time (a heap of chunk
 * cursors, each chunk opened when the merge reaches its first timestamp)
 * yields every record in the order of a full sort by (time, file, offset),
 * holding only the open chunks: memory follows how many threads wrote at the
 * same time, not the size of the file.  Sparse holes and unused chunks are
 * skipped without reading them (SEEK_DATA).
 */
#ifndef ST_STREAM_H
#define ST_STREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "st_trace.h"

struct st_rec {
	uint16_t type; /* enum st_rec_type: which member of the union is set */
	uint64_t ts;
	uint32_t file;
	uint64_t offset;
	union {
		struct st_ev ev;
		struct st_proc proc;
		struct st_mod mod;
		struct st_result result; /* version 2, as written */
		struct st_close close;
		struct st_res resolve;
		struct st_peer peer;
		struct st_pyc pycode; /* version 5 */
		struct st_jit jit;    /* version 5 */
		struct st_note note;  /* type 16 */
	};
	/* a ring's close: the connection's endpoints, {NULL, 0} when absent */
	struct st_endpoint close_ends[2];
};

/* What a file turned out to hold, complete once the stream has ended. */
struct st_source_info {
	const char *path;
	uint32_t version; /* of the format; version 1 has no result or close records */
	uint64_t dropped, exit_dropped;
	uint64_t dropped_records; /* results, closes, resolutions (version 3) */
	uint32_t unfollowed;      /* connections whose ends were not followed */
	bool unwritten;
	/* version 4, flight-recorder mode */
	bool ring;
	uint32_t ring_chunks;
	uint64_t overwritten, overwritten_records; /* lost to reuse, per the header */
	uint64_t reused_while_read; /* ring chunks reused while this reader read them */
	uint64_t window_ts; /* the earliest record of a ring chunk: where the kept window begins */
	char error[512];   /* "offset N: problem", "" when whole */
	char warning[512]; /* skipped records, or an unwritten header */
};

struct st_stream;

/* ordered: time order across all files; otherwise file order, chunk by chunk
 * (the fastest way to count).  Files that cannot be opened are reported in
 * their info and yield nothing. */
struct st_stream *st_stream_open(char *const *paths, size_t n, bool ordered);
/* The next record, valid until the next call; false at the end. */
bool st_stream_next(struct st_stream *s, struct st_rec *r);
/* Earliest first-record time of any chunk, 0 when the files hold none. */
uint64_t st_stream_first_ts(const struct st_stream *s);
size_t st_stream_files(const struct st_stream *s);
/* The format version of a file, known from the start (0: unreadable). */
uint32_t st_stream_version(const struct st_stream *s, uint32_t file);
/* Once the stream has ended: each non-empty chunk, and the offset where its
 * records ended (where a follower goes on reading). */
size_t st_stream_chunks(const struct st_stream *s);
/* *seq: a ring chunk's sequence number when it was indexed (0: not a ring's);
 * *ctx: the context record in force at stop (version 5) */
struct st_ctx;
void st_stream_chunk(const struct st_stream *s, size_t i, uint32_t *file, uint64_t *off,
		     uint64_t *stop, uint64_t *seq, struct st_ctx *ctx);
/* One record of len bytes at p, from file at offset off: 0, -1 when damaged,
 * 1 for a type this reader does not know (why says which). */
/* The first chunk at or after off that may hold data (holes skipped with
 * SEEK_DATA), UINT64_MAX when only holes are left; *data_end: where that
 * run of data ends (UINT64_MAX when the filesystem cannot tell). */
uint64_t st_chunk_with_data(int fd, uint64_t off, uint64_t *data_end);
/* ctx: the context record before it in its chunk (version 5), NULL when
 * none; a context record itself returns 1 without a word (its reader takes
 * it in with st_decode_context). */
int st_rec_decode(const uint8_t *p, uint32_t len, uint32_t file, uint64_t off,
		  const struct st_ctx *ctx, struct st_rec *r, char *why);
const struct st_source_info *st_stream_info(const struct st_stream *s, size_t file);
void st_stream_close(struct st_stream *s);

#endif
