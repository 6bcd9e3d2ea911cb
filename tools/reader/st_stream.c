/*
 * The streaming reader (see st_stream.h).  A file is read with pread, a
 * chunk at a time, never mapped: a live trace shrunk by its last writer under
 * our feet gives short reads, not a SIGBUS.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "st_decode.h"
#include "st_stream.h"

struct st_chunkref {
	uint64_t first_ts;
	uint64_t off;
	uint64_t stop; /* where reading it ended: its first unwritten word */
	uint32_t file;
	uint64_t seq; /* a ring chunk's sequence number when indexed; 0 otherwise */
	struct st_ctx ctx; /* its context at stop (version 5) */
};

struct st_cursor {
	uint8_t buf[ST_CHUNK_SIZE];
	uint64_t start; /* file offset of buf[0] */
	uint64_t end;   /* file offset after the last byte read */
	uint64_t off;   /* the current record */
	uint64_t ts;
	uint32_t len;
	uint32_t file;
	size_t ref; /* index of its chunk in the stream's list */
	struct st_ctx ctx; /* the chunk's context record so far (version 5) */
};

struct st_source {
	struct st_source_info info;
	uint64_t ring_base; /* chunks from here on start with a chunk record */
	uint64_t ring_handed; /* ring chunks ever taken, as the header said */
	int fd;
	uint64_t size;
	uint64_t error_off; /* of info.error; UINT64_MAX while whole */
};

struct st_stream {
	struct st_source *src;
	size_t nsrc;
	struct st_chunkref *chunks; /* non-empty chunks; sorted by first record when ordered */
	size_t nchunks, next;
	struct st_cursor **heap;
	size_t nheap, heap_cap;
	struct st_cursor *spare; /* a finished cursor, reused: its record was the last returned */
	bool ordered;
	uint64_t first_ts;
};

static void st_src_error(struct st_source *s, uint64_t off, const char *why)
{
	if (off >= s->error_off)
		return;
	s->error_off = off;
	snprintf(s->info.error, sizeof s->info.error, "offset %llu: %s", (unsigned long long)off,
		 why);
}

static uint64_t st_get_u64(const uint8_t *p)
{
	uint64_t v;
	memcpy(&v, p, sizeof v);
	return v;
}

static bool st_index_add(struct st_stream *s, size_t *cap, const struct st_chunkref *c)
{
	if (s->nchunks == *cap) {
		size_t n = *cap ? *cap * 2 : 1024;
		struct st_chunkref *p = realloc(s->chunks, n * sizeof *p);
		if (p == NULL)
			return false;
		s->chunks = p;
		*cap = n;
	}
	s->chunks[s->nchunks++] = *c;
	return true;
}

uint64_t st_chunk_with_data(int fd, uint64_t off, uint64_t *data_end)
{
	off_t data = lseek(fd, (off_t)off, SEEK_DATA);
	if (data < 0 && errno == ENXIO)
		return UINT64_MAX; /* only a hole is left */
	if (data < 0) {
		*data_end = UINT64_MAX; /* cannot tell: read everything */
		return off;
	}
	off_t hole = lseek(fd, data, SEEK_HOLE);
	*data_end = hole < 0 ? UINT64_MAX : (uint64_t)hole;
	return ST_HEADER_SIZE + ((uint64_t)data - ST_HEADER_SIZE) / ST_CHUNK_SIZE * ST_CHUNK_SIZE;
}

/* A chunk's first record and its time (a ring chunk's: the one after its
 * chunk record); false when it holds none. */
static bool st_index_chunk(struct st_source *src, struct st_chunkref *c)
{
	uint8_t head[sizeof(struct st_chunk_rec) + 16] = {0};
	bool ring = src->info.ring && c->off >= src->ring_base;
	size_t skip = ring ? sizeof(struct st_chunk_rec) : 0;
	ssize_t got = pread(src->fd, head, skip + 16, (off_t)c->off);
	if (ring) {
		int rc = st_ring_chunk_seq(head, got > 0 ? (size_t)got : 0, src->info.ring_chunks,
					   src->ring_handed, &c->seq);
		if (rc < 0)
			st_src_error(src, c->off, "corrupt ring chunk record");
		if (rc <= 0)
			return false;
		c->stop = c->off + skip;
	}
	if (got < (ssize_t)(skip + 8) || st_get_u64(head + skip) == 0)
		return false;
	c->first_ts = got == (ssize_t)(skip + 16) ? st_get_u64(head + skip + 8) : 0;
	return true;
}

/* Reads each chunk's first commit word and time; holes are never read. */
static void st_index_source(struct st_stream *s, uint32_t file, uint64_t content_end,
			    size_t *cap)
{
	struct st_source *src = &s->src[file];
	uint64_t end = content_end < src->size ? content_end : src->size;
	uint64_t data_end = 0;
	for (uint64_t off = ST_HEADER_SIZE; off + 8 <= end; off += ST_CHUNK_SIZE) {
		if (off >= data_end &&
		    ((off = st_chunk_with_data(src->fd, off, &data_end)) == UINT64_MAX ||
		     off + 8 > end))
			break;
		struct st_chunkref c = {.off = off, .stop = off, .file = file};
		if (!st_index_chunk(src, &c))
			continue;
		if (!st_index_add(s, cap, &c))
			break;
		if (c.seq != 0 && (src->info.window_ts == 0 || c.first_ts < src->info.window_ts))
			src->info.window_ts = c.first_ts;
		if (s->first_ts == 0 || c.first_ts < s->first_ts)
			s->first_ts = c.first_ts;
	}
}

static void st_open_source(struct st_stream *s, uint32_t file, const char *path, size_t *cap)
{
	struct st_source *src = &s->src[file];
	src->info.path = path;
	src->error_off = UINT64_MAX;
	src->fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
	struct stat st;
	if (src->fd < 0 || fstat(src->fd, &st) < 0) {
		snprintf(src->info.error, sizeof src->info.error, "%s", strerror(errno));
		return;
	}
	if (!S_ISREG(st.st_mode)) {
		snprintf(src->info.error, sizeof src->info.error, "not a regular file (%s)",
			 S_ISDIR(st.st_mode) ? "a directory" : S_ISFIFO(st.st_mode) ? "a FIFO" : "special");
		return;
	}
	src->size = (uint64_t)st.st_size;
	uint8_t head[ST_HEADER_SIZE] = {0};
	ssize_t got = pread(src->fd, head, sizeof head, 0);
	uint64_t size = got < 0 ? 0 : src->size < (uint64_t)got ? src->size : (uint64_t)got;
	if (src->size > size && size < ST_HEADER_SIZE)
		src->size = size; /* shrunk since fstat */
	struct st_header_info h;
	uint64_t err_off;
	char why[ST_WHY];
	if (st_decode_header(head, src->size, &h, &err_off, why) < 0) {
		st_src_error(src, err_off, why);
		return;
	}
	src->info.dropped = h.dropped;
	src->info.exit_dropped = h.exit_dropped;
	src->info.dropped_records = h.dropped_records;
	src->info.unfollowed = h.unfollowed;
	src->info.version = h.version;
	src->info.ring = h.ring;
	src->info.ring_chunks = h.ring_chunks;
	src->info.overwritten = h.overwritten;
	src->info.overwritten_records = h.overwritten_records;
	src->ring_base = h.ring_base;
	src->ring_handed = h.ring_handed;
	if (h.unwritten) {
		src->info.unwritten = true;
		snprintf(src->info.warning, sizeof src->info.warning, "%s", ST_UNWRITTEN_NOTE);
		return;
	}
	if (h.content_end > src->size) {
		snprintf(why, sizeof why, "file ends before the %llu bytes its header announces: "
					  "truncated file", (unsigned long long)h.content_end);
		st_src_error(src, src->size, why);
	}
	st_index_source(s, file, h.content_end, cap);
}

static int st_chunk_order(const void *a, const void *b)
{
	const struct st_chunkref *x = a, *y = b;
	if (x->first_ts != y->first_ts)
		return x->first_ts < y->first_ts ? -1 : 1;
	if (x->file != y->file)
		return x->file < y->file ? -1 : 1;
	return x->off < y->off ? -1 : x->off > y->off;
}

struct st_stream *st_stream_open(char *const *paths, size_t n, bool ordered)
{
	struct st_stream *s = calloc(1, sizeof *s);
	if (s == NULL)
		return NULL;
	s->src = calloc(n ? n : 1, sizeof *s->src);
	s->heap_cap = 64; /* grown as chunks open */
	s->heap = calloc(s->heap_cap, sizeof *s->heap);
	if (s->src == NULL || s->heap == NULL) { /* nothing to close yet: nsrc is 0 */
		free(s->src);
		free(s->heap);
		free(s);
		errno = ENOMEM;
		return NULL;
	}
	s->nsrc = n;
	for (size_t i = 0; i < n; i++)
		s->src[i].fd = -1;
	s->ordered = ordered;
	size_t cap = 0;
	for (size_t i = 0; i < n; i++)
		st_open_source(s, (uint32_t)i, paths[i], &cap);
	if (ordered && s->nchunks)
		qsort(s->chunks, s->nchunks, sizeof *s->chunks, st_chunk_order);
	return s;
}

/* The commit word at c->off: 1 and c->len for a record, 0 at the chunk's
 * end, -1 when damaged (said in the source's error). */
static int st_cursor_word(struct st_stream *s, struct st_cursor *c)
{
	struct st_source *src = &s->src[c->file];
	if (c->off + 8 > c->end)
		return 0;
	uint64_t w = st_get_u64(c->buf + (c->off - c->start));
	char why[ST_WHY];
	int rc = st_decode_word(w, c->off, c->start + ST_CHUNK_SIZE, src->size, &c->len, why);
	if (rc < 0)
		st_src_error(src, c->off, why);
	if (rc <= 0)
		return rc;
	if (c->off + c->len > c->end) {
		st_src_error(src, c->off, "record cut short: the file shrank while it was read");
		return -1;
	}
	return 1;
}

/* Loads the record at c->off and its time: true when one starts there.
 * Context records are taken in on the way (never returned): the short
 * events after them are timed from their base. */
static bool st_cursor_load(struct st_stream *s, struct st_cursor *c)
{
	for (;;) {
		if (st_cursor_word(s, c) <= 0)
			return false;
		const uint8_t *p = c->buf + (c->off - c->start);
		uint16_t type = ST_REC_TYPE(st_get_u64(p));
		if (type == ST_REC_CONTEXT) {
			char why[ST_WHY];
			if (st_decode_context(p, c->len, &c->ctx, why) < 0) {
				st_src_error(&s->src[c->file], c->off, why);
				return false;
			}
			c->off += c->len;
			continue;
		}
		if ((type == ST_REC_SHORT_EVENT || type == ST_REC_SHORT_CLOSE ||
		     type == ST_REC_SHORT_RESULT) && c->len >= 12) {
			uint32_t dt;
			memcpy(&dt, p + 8, sizeof dt);
			c->ts = c->ctx.base + dt;
		} else if (c->len >= 16) {
			c->ts = st_get_u64(p + 8);
		}
		return true;
	}
}

static struct st_cursor *st_cursor_open(struct st_stream *s, size_t index)
{
	struct st_chunkref *ref = &s->chunks[index];
	struct st_cursor *c = s->spare;
	s->spare = NULL;
	if (c == NULL && (c = malloc(sizeof *c)) == NULL)
		return NULL;
	struct st_source *src = &s->src[ref->file];
	ssize_t got = pread(src->fd, c->buf, ST_CHUNK_SIZE, (off_t)ref->off);
	c->start = c->off = ref->off;
	c->end = ref->off + (got > 0 ? (uint64_t)got : 0);
	if (ref->seq != 0) {
		/* a ring chunk: kept only when it is still the generation indexed,
		 * before and after the read (a seqlock) */
		uint64_t seq = 0, now = 0;
		bool same = st_ring_chunk_seq(c->buf, c->end - c->start, src->info.ring_chunks,
					      src->ring_handed, &seq) > 0 &&
			    seq == ref->seq &&
			    pread(src->fd, &now, sizeof now, (off_t)(ref->off + ST_CHUNK_SEQ_OFF)) ==
				    (ssize_t)sizeof now &&
			    now == ref->seq;
		if (!same) {
			src->info.reused_while_read++;
			c->end = c->start; /* nothing of it is read */
		}
		c->off = ref->off + sizeof(struct st_chunk_rec);
	}
	c->file = ref->file;
	c->ts = ref->first_ts;
	c->ref = index;
	c->ctx = (struct st_ctx){0};
	if (!st_cursor_load(s, c)) {
		ref->stop = c->off;
		ref->ctx = c->ctx;
		s->spare = c;
		return NULL;
	}
	return c;
}

static bool st_cursor_before(const struct st_cursor *a, const struct st_cursor *b)
{
	if (a->ts != b->ts)
		return a->ts < b->ts;
	if (a->file != b->file)
		return a->file < b->file;
	return a->off < b->off;
}

static void st_heap_down(struct st_stream *s, size_t i)
{
	for (;;) {
		size_t l = 2 * i + 1, r = l + 1, m = i;
		if (l < s->nheap && st_cursor_before(s->heap[l], s->heap[m]))
			m = l;
		if (r < s->nheap && st_cursor_before(s->heap[r], s->heap[m]))
			m = r;
		if (m == i)
			return;
		struct st_cursor *t = s->heap[i];
		s->heap[i] = s->heap[m];
		s->heap[m] = t;
		i = m;
	}
}

static bool st_heap_push(struct st_stream *s, struct st_cursor *c)
{
	if (s->nheap == s->heap_cap) {
		size_t n = s->heap_cap * 2;
		struct st_cursor **h = realloc(s->heap, n * sizeof *h);
		if (h == NULL)
			return false;
		s->heap = h;
		s->heap_cap = n;
	}
	size_t i = s->nheap++;
	s->heap[i] = c;
	while (i > 0 && st_cursor_before(s->heap[i], s->heap[(i - 1) / 2])) {
		struct st_cursor *t = s->heap[i];
		s->heap[i] = s->heap[(i - 1) / 2];
		s->heap[(i - 1) / 2] = t;
		i = (i - 1) / 2;
	}
	return true;
}

/* Opens every chunk that may hold the next record in time order. */
static void st_open_due(struct st_stream *s)
{
	while (s->next < s->nchunks &&
	       (s->nheap == 0 || (s->ordered && s->chunks[s->next].first_ts <= s->heap[0]->ts))) {
		struct st_cursor *c = st_cursor_open(s, s->next++);
		if (c && !st_heap_push(s, c))
			free(c);
	}
}

int st_rec_decode(const uint8_t *p, uint32_t len, uint32_t file, uint64_t off,
		  const struct st_ctx *ctx, struct st_rec *r, char *why)
{
	uint16_t type = ST_REC_TYPE(st_get_u64(p));
	int rc;
	r->type = type;
	r->ts = len >= 16 ? st_get_u64(p + 8) : 0;
	r->file = file;
	r->offset = off;
	switch (type) {
	case ST_REC_EVENT:
		rc = st_decode_event(p, len, &r->ev, why);
		r->ev.file = file;
		r->ev.offset = off;
		break;
	case ST_REC_SHORT_EVENT:
		/* read as the event it stands for: views know events only */
		r->type = ST_REC_EVENT;
		rc = st_decode_short_event(p, len, ctx, &r->ev, why);
		r->ts = r->ev.ts;
		r->ev.file = file;
		r->ev.offset = off;
		break;
	case ST_REC_PROCESS:
		rc = st_decode_process(p, len, &r->proc, why);
		r->proc.file = file;
		break;
	case ST_REC_MODULE:
		rc = st_decode_module(p, len, &r->mod, why);
		r->mod.file = file;
		break;
	case ST_REC_RESULT:
		rc = st_decode_result(p, len, &r->result, why);
		break;
	case ST_REC_CLOSE:
		rc = st_decode_close(p, len, &r->close, r->close_ends, why);
		break;
	case ST_REC_SHORT_RESULT:
		/* read as the result record it stands for */
		r->type = ST_REC_RESULT;
		rc = st_decode_short_result(p, len, ctx, &r->result, why);
		r->ts = r->result.ts_ns;
		break;
	case ST_REC_SHORT_CLOSE:
		/* read as the close record it stands for */
		r->type = ST_REC_CLOSE;
		rc = st_decode_short_close(p, len, ctx, &r->close, r->close_ends, why);
		r->ts = r->close.ts_ns;
		break;
	case ST_REC_RESOLVE:
		rc = st_decode_resolve(p, len, &r->resolve, why);
		break;
	case ST_REC_PEER:
		rc = st_decode_peer(p, len, &r->peer, why);
		break;
	case ST_REC_NOTE:
		rc = st_decode_note(p, len, &r->note, why);
		break;
	case ST_REC_PYCODE:
		rc = st_decode_pycode(p, len, &r->pycode, why);
		break;
	case ST_REC_JITSYM:
		rc = st_decode_jitsym(p, len, &r->jit, why);
		break;
	case ST_REC_PAD:
	case ST_REC_CHUNK:
	case ST_REC_CONTEXT: /* taken in by the caller, which reads its chunk in order */
		why[0] = '\0'; /* room a writer never filled: skipped without a word */
		return 1;
	default:
		snprintf(why, ST_WHY, "unknown record type %u (%u bytes) skipped", type, len);
		return 1;
	}
	return rc < 0 ? -1 : 0;
}

/* Decodes the record under c: 0, 1 for a type to skip, -1 when damaged. */
static int st_decode_at(struct st_stream *s, const struct st_cursor *c, struct st_rec *r)
{
	struct st_source *src = &s->src[c->file];
	const uint8_t *p = c->buf + (c->off - c->start);
	char why[ST_WHY];
	int rc = st_rec_decode(p, c->len, c->file, c->off, &c->ctx, r, why);
	r->ts = c->ts;
	if (rc > 0 && why[0])
		snprintf(src->info.warning, sizeof src->info.warning, "offset %llu: %s",
			 (unsigned long long)c->off, why);
	else if (rc < 0)
		st_src_error(src, c->off, why);
	return rc;
}

bool st_stream_next(struct st_stream *s, struct st_rec *r)
{
	for (;;) {
		st_open_due(s);
		if (s->nheap == 0)
			return false;
		struct st_cursor *c = s->heap[0];
		int rc = st_decode_at(s, c, r);
		bool ok = rc == 0, damaged = rc < 0;
		c->off += c->len;
		if (!damaged && st_cursor_load(s, c)) {
			st_heap_down(s, 0);
		} else {
			/* Finished: its buffer holds r until the next call. */
			s->chunks[c->ref].stop = c->off;
			s->chunks[c->ref].ctx = c->ctx;
			s->heap[0] = s->heap[--s->nheap];
			st_heap_down(s, 0);
			free(s->spare);
			s->spare = c;
		}
		if (ok)
			return true;
	}
}

size_t st_stream_chunks(const struct st_stream *s)
{
	return s->nchunks;
}

void st_stream_chunk(const struct st_stream *s, size_t i, uint32_t *file, uint64_t *off,
		     uint64_t *stop, uint64_t *seq, struct st_ctx *ctx)
{
	*ctx = s->chunks[i].ctx;
	*seq = s->chunks[i].seq;
	*file = s->chunks[i].file;
	*off = s->chunks[i].off;
	*stop = s->chunks[i].stop;
}

uint32_t st_stream_version(const struct st_stream *s, uint32_t file)
{
	return file < s->nsrc ? s->src[file].info.version : 0;
}

uint64_t st_stream_first_ts(const struct st_stream *s)
{
	return s->first_ts;
}

size_t st_stream_files(const struct st_stream *s)
{
	return s->nsrc;
}

const struct st_source_info *st_stream_info(const struct st_stream *s, size_t file)
{
	return &s->src[file].info;
}

void st_stream_close(struct st_stream *s)
{
	if (s == NULL)
		return;
	for (size_t i = 0; i < s->nsrc; i++)
		if (s->src[i].fd >= 0)
			close(s->src[i].fd);
	for (size_t i = 0; i < s->nheap; i++)
		free(s->heap[i]);
	free(s->spare);
	free(s->heap);
	free(s->chunks);
	free(s->src);
	free(s);
}
