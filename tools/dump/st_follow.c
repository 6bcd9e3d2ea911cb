/*
 * --follow: print records as they are written to a live trace, like tail -f:
 * events and every record the text view shows (outcomes, closes, shutdowns,
 * resolutions, peers), in the events view, -c (a row per connection once it
 * has ended, like tcplife) or --otlp (spans as connections end, flushed, for
 * a collector's otlpjsonfile receiver following the output).
 * What the file holds when following starts is printed by the streaming
 * reader, which also says where each chunk's records ended; from then on
 * only what was added is read: the header's count of chunks handed out, and
 * the next commit word of each chunk not yet full.  Records are never
 * rewritten once committed, so each is printed once.  Polling slows down to
 * once a second while nothing happens, and the file is watched by path: a
 * missing file, a file that is not a trace, or one replaced at the same path
 * is said in words, and a new file is followed from its start.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "st_decode.h"
#include "st_dump.h"

#define ST_POLL_FAST_MS 200
#define ST_POLL_IDLE_MS 1000

static volatile sig_atomic_t st_stop;

static void st_on_stop(int sig)
{
	(void)sig;
	st_stop = 1;
}

#define ST_PAGE_CHUNKS 256 /* 4 MiB of trace per page of offsets */

struct st_chunk_page {
	uint64_t first; /* chunk index of next[0] */
	uint64_t next[ST_PAGE_CHUNKS];
	/* a ring chunk's generation that next is in (0: none read yet) */
	uint64_t seq[ST_PAGE_CHUNKS];
	/* the context record in force at next (version 5) */
	struct st_ctx ctx[ST_PAGE_CHUNKS];
};

/* Where to go on reading chunk k: its next record, and for a ring chunk the
 * generation (sequence number) that offset belongs to. */
struct st_chunk_pos {
	uint64_t *next;
	uint64_t *seq;
	struct st_ctx *ctx;
};

enum st_state { ST_NONE, ST_MISSING, ST_NOT_TRACE, ST_FOLLOWING };

struct st_follower {
	const char *path;
	int fd;
	dev_t dev;
	ino_t ino;
	enum st_state said;
	/* per chunk: offset of its next record (UINT64_MAX = done), in pages
	 * made only for chunks with data, sorted by first chunk: a sparse file
	 * that claims terabytes costs what it holds, not what it claims */
	struct st_chunk_page **pages;
	size_t npages, pages_cap;
	/* records of one poll, sorted before printing: their bytes in the arena */
	uint8_t *arena;
	size_t arena_len, arena_cap;
	struct st_kept {
		uint64_t off; /* in the file */
		size_t at;    /* in the arena */
		uint32_t len;
		struct st_ctx ctx; /* a short event's context */
	} *kept;
	struct st_rec *recs;
	size_t nrecs, recs_cap;
	size_t printed;
	bool ring; /* a flight recorder: chunks from ring_base are reused */
	uint64_t ring_base;
	uint32_t ring_chunks;
	uint64_t ring_handed; /* as the header said at this poll */
};

static bool st_grow_pages(struct st_follower *f);

static void st_say_state(struct st_follower *f, enum st_state now, const char *why)
{
	if (f->said == now)
		return;
	f->said = now;
	if (now == ST_MISSING)
		fprintf(stderr, "socktrace-dump: %s: no such file yet; waiting for it\n", f->path);
	else if (now == ST_NOT_TRACE)
		fprintf(stderr, "socktrace-dump: %s: %s; waiting for a trace\n", f->path, why);
	fflush(stderr);
}

static void st_forget_file(struct st_follower *f)
{
	if (f->fd >= 0)
		close(f->fd);
	f->fd = -1;
	for (size_t i = 0; i < f->npages; i++)
		free(f->pages[i]);
	free(f->pages);
	f->pages = NULL;
	f->npages = f->pages_cap = 0;
}

static bool st_grow_pages(struct st_follower *f)
{
	if (f->npages < f->pages_cap)
		return true;
	size_t n = f->pages_cap ? f->pages_cap * 2 : 16;
	struct st_chunk_page **p = realloc(f->pages, n * sizeof *p);
	if (p == NULL)
		return false;
	f->pages = p;
	f->pages_cap = n;
	return true;
}

/* Chunk k's next-record offset, its page made on first use; NULL when out
 * of memory. */
static struct st_chunk_pos st_chunk_next(struct st_follower *f, uint64_t k)
{
	uint64_t first = k / ST_PAGE_CHUNKS * ST_PAGE_CHUNKS;
	size_t lo = 0, hi = f->npages;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (f->pages[mid]->first < first)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo == f->npages || f->pages[lo]->first != first) {
		struct st_chunk_page *p = malloc(sizeof *p);
		if (p == NULL || !st_grow_pages(f)) {
			free(p);
			return (struct st_chunk_pos){NULL, NULL, NULL};
		}
		p->first = first;
		for (size_t i = 0; i < ST_PAGE_CHUNKS; i++) {
			p->next[i] = ST_HEADER_SIZE + (first + i) * ST_CHUNK_SIZE;
			p->seq[i] = 0;
			p->ctx[i] = (struct st_ctx){0};
		}
		memmove(&f->pages[lo + 1], &f->pages[lo], (f->npages - lo) * sizeof *f->pages);
		f->pages[lo] = p;
		f->npages++;
	}
	struct st_chunk_page *page = f->pages[lo];
	return (struct st_chunk_pos){&page->next[k - first], &page->seq[k - first],
				     &page->ctx[k - first]};
}

/* What the file holds now, through the streaming reader, which says where
 * each chunk stopped. */
static void st_initial(struct st_dump *d, struct st_follower *f, FILE *out)
{
	char *paths[1] = {(char *)f->path};
	struct st_stream *s = st_stream_open(paths, 1, true);
	if (s == NULL)
		return;
	struct st_rec r;
	d->stream = s;
	while (st_stream_next(s, &r))
		st_run_record(d, &r, out);
	d->stream = NULL;
	for (size_t i = 0; i < st_stream_chunks(s); i++) {
		uint32_t file;
		uint64_t off, stop, seq;
		struct st_ctx ctx;
		st_stream_chunk(s, i, &file, &off, &stop, &seq, &ctx);
		struct st_chunk_pos pos = st_chunk_next(f, (off - ST_HEADER_SIZE) / ST_CHUNK_SIZE);
		if (pos.next != NULL) {
			*pos.next = stop;
			*pos.seq = seq;
			*pos.ctx = ctx;
		}
	}
	const struct st_source_info *info = st_stream_info(s, 0);
	if (info->error[0])
		fprintf(stderr, "socktrace-dump: %s: %s\n", f->path, info->error);
	st_stream_close(s);
	fflush(out);
}

/* Opens path when it is (again) a trace; true when following it. */
static bool st_attach(struct st_dump *d, struct st_follower *f, FILE *out)
{
	struct stat st;
	if (stat(f->path, &st) < 0) {
		st_forget_file(f);
		st_say_state(f, ST_MISSING, NULL);
		return false;
	}
	if (f->fd >= 0 && st.st_dev == f->dev && st.st_ino == f->ino)
		return true;
	bool replaced = f->fd >= 0;
	st_forget_file(f);
	f->fd = open(f->path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
	if (f->fd < 0 || fstat(f->fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		st_forget_file(f);
		st_say_state(f, ST_NOT_TRACE, "not a regular file");
		return false;
	}
	uint8_t head[ST_HEADER_SIZE] = {0};
	ssize_t got = pread(f->fd, head, sizeof head, 0);
	struct st_header_info h;
	uint64_t err_off;
	char why[ST_WHY];
	if (got < 0 || st_decode_header(head, (uint64_t)got, &h, &err_off, why) < 0 ||
	    h.unwritten) {
		st_forget_file(f);
		st_say_state(f, ST_NOT_TRACE, got >= 0 && !h.unwritten ? why : "no trace header yet");
		return false;
	}
	f->dev = st.st_dev;
	f->ino = st.st_ino;
	f->ring = h.ring;
	f->ring_base = h.ring_base;
	f->ring_chunks = h.ring_chunks;
	d->follow_version = h.version;
	if (h.boot_id[0])
		st_sym_live_jit(d->symbols, h.boot_id, h.clock_offset_ns);
	if (replaced || f->said != ST_NONE)
		fprintf(stderr, "socktrace-dump: %s: %s; following it from its start\n", f->path,
			replaced ? "replaced by a new file" : "is a trace now");
	f->said = ST_FOLLOWING;
	st_initial(d, f, out);
	return true;
}

static void st_keep_record(struct st_follower *f, const uint8_t *rec, uint32_t len, uint64_t off,
			   const struct st_ctx *ctx)
{
	if (f->arena_len + len > f->arena_cap) {
		size_t n = f->arena_cap ? f->arena_cap * 2 : 1 << 16;
		while (n < f->arena_len + len)
			n *= 2;
		uint8_t *a = realloc(f->arena, n);
		if (a == NULL)
			return;
		f->arena = a;
		f->arena_cap = n;
	}
	if (f->nrecs == f->recs_cap) {
		size_t n = f->recs_cap ? f->recs_cap * 2 : 1024;
		struct st_rec *e = realloc(f->recs, n * sizeof *e);
		struct st_kept *k = e ? realloc(f->kept, n * sizeof *k) : NULL;
		if (k == NULL) {
			f->recs = e ? e : f->recs;
			return;
		}
		f->recs = e;
		f->kept = k;
		f->recs_cap = n;
	}
	memcpy(f->arena + f->arena_len, rec, len);
	/* decoded once the arena stops moving */
	f->kept[f->nrecs++] = (struct st_kept){off, f->arena_len, len, *ctx};
	f->arena_len += len;
}

/* Reads what chunk k gained since the last poll; false when it is damaged. */
static bool st_read_records(struct st_dump *d, struct st_follower *f, uint64_t k, uint64_t *next,
			    struct st_ctx *ctx, uint64_t size)
{
	uint64_t start = ST_HEADER_SIZE + k * ST_CHUNK_SIZE, end = start + ST_CHUNK_SIZE;
	static uint8_t rec[ST_CHUNK_SIZE];
	char why[ST_WHY];
	while (*next + 8 <= end) {
		uint64_t off = *next, w = 0;
		if (pread(f->fd, &w, sizeof w, (off_t)off) != (ssize_t)sizeof w || w == 0)
			return true;
		uint32_t len;
		int rc = st_decode_word(w, off, end, size, &len, why);
		if (rc > 0 && pread(f->fd, rec, len, (off_t)off) != (ssize_t)len)
			return true; /* shrank meanwhile: read again next poll */
		struct st_rec r = {.type = ST_REC_TYPE(w)};
		/* processes and modules at once: the records that follow need them */
		if (rc > 0 && (r.type == ST_REC_PROCESS || r.type == ST_REC_MODULE)) {
			rc = st_rec_decode(rec, len, 0, off, NULL, &r, why) == 0 ? 1 : -1;
			if (rc > 0)
				st_dump_record(d, &r);
		} else if (rc > 0 && r.type == ST_REC_CONTEXT) {
			/* the short events after it are read with it */
			rc = st_decode_context(rec, len, ctx, why) == 0 ? 1 : -1;
		} else if (rc > 0) {
			st_keep_record(f, rec, len, off, ctx);
		}
		if (rc < 0) {
			fprintf(stderr, "socktrace-dump: %s: offset %llu: %s\n", f->path,
				(unsigned long long)off, why);
			return false;
		}
		*next = off + len;
	}
	return true;
}

static uint64_t st_seq_now(const struct st_follower *f, uint64_t chunk)
{
	uint8_t rec[sizeof(struct st_chunk_rec)];
	uint64_t seq = 0;
	if (pread(f->fd, rec, sizeof rec, (off_t)chunk) != (ssize_t)sizeof rec ||
	    st_ring_chunk_seq(rec, sizeof rec, f->ring_chunks, f->ring_handed, &seq) <= 0)
		return 0;
	return seq;
}

/*
 * A ring chunk: read as a seqlock.  A new generation is read from its
 * start (what the old one held past where we were was overwritten); what
 * was read in this poll is kept only when the generation did not change
 * while it was read, and each generation's records are read once.
 */
static bool st_read_ring_chunk(struct st_dump *d, struct st_follower *f, uint64_t k,
			       struct st_chunk_pos pos, uint64_t size)
{
	uint64_t start = ST_HEADER_SIZE + k * ST_CHUNK_SIZE;
	uint64_t seq = st_seq_now(f, start);
	if (seq == 0)
		return true; /* unused, or being cleared: next poll */
	if (seq != *pos.seq) {
		*pos.seq = seq;
		*pos.next = start + sizeof(struct st_chunk_rec);
		*pos.ctx = (struct st_ctx){0};
	}
	size_t nrecs = f->nrecs, arena_len = f->arena_len;
	uint64_t next = *pos.next;
	struct st_ctx ctx = *pos.ctx;
	bool ok = st_read_records(d, f, k, &next, &ctx, size);
	if (st_seq_now(f, start) != seq) {
		/* reused while read: nothing of it, the new generation next poll */
		f->nrecs = nrecs;
		f->arena_len = arena_len;
		return true;
	}
	*pos.next = next;
	*pos.ctx = ctx;
	return ok;
}

static bool st_read_chunk(struct st_dump *d, struct st_follower *f, uint64_t k,
			  struct st_chunk_pos pos, uint64_t size)
{
	if (f->ring && ST_HEADER_SIZE + k * ST_CHUNK_SIZE >= f->ring_base)
		return st_read_ring_chunk(d, f, k, pos, size);
	return st_read_records(d, f, k, pos.next, pos.ctx, size);
}

/* The chunks below end that hold data: holes (never written, or a sparse
 * file's claim) are skipped with SEEK_DATA, as the streaming reader does. */
static void st_read_chunks(struct st_dump *d, struct st_follower *f, uint64_t end,
			   uint64_t size)
{
	uint64_t data_end = 0;
	for (uint64_t off = ST_HEADER_SIZE; off + ST_CHUNK_SIZE <= end; off += ST_CHUNK_SIZE) {
		if (off >= data_end &&
		    ((off = st_chunk_with_data(f->fd, off, &data_end)) == UINT64_MAX ||
		     off + ST_CHUNK_SIZE > end))
			return;
		uint64_t k = (off - ST_HEADER_SIZE) / ST_CHUNK_SIZE;
		struct st_chunk_pos pos = st_chunk_next(f, k);
		if (pos.next == NULL)
			return;
		if (*pos.next != UINT64_MAX && !st_read_chunk(d, f, k, pos, size))
			*pos.next = UINT64_MAX;
	}
}

static int st_rec_order(const void *a, const void *b)
{
	const struct st_rec *x = a, *y = b;
	if (x->ts != y->ts)
		return x->ts < y->ts ? -1 : 1;
	return x->offset < y->offset ? -1 : x->offset > y->offset;
}

static uint64_t st_wall_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Decodes the poll's records from the arena, sorts them by time and passes
 * them through the view; then -c and --otlp print what has settled. */
static size_t st_flush(struct st_dump *d, struct st_follower *f, FILE *out)
{
	size_t n = 0;
	for (size_t i = 0; i < f->nrecs; i++) {
		uint64_t off = f->kept[i].off;
		const uint8_t *rec = f->arena + f->kept[i].at;
		uint32_t len = f->kept[i].len;
		char why[ST_WHY];
		int rc = st_rec_decode(rec, len, 0, off, &f->kept[i].ctx, &f->recs[n], why);
		if (rc < 0)
			fprintf(stderr, "socktrace-dump: %s: offset %llu: %s\n", f->path,
				(unsigned long long)off, why);
		else if (rc == 0)
			n++;
	}
	if (n)
		qsort(f->recs, n, sizeof *f->recs, st_rec_order);
	for (size_t i = 0; i < n; i++)
		st_run_record(d, &f->recs[i], out);
	if (d->view != ST_VIEW_EVENTS)
		st_conn_tick(d, st_wall_ns(), out);
	fflush(out);
	f->nrecs = 0;
	f->arena_len = 0;
	f->printed += n;
	return n;
}

/* One poll: new chunks from the header, new records in chunks not full. */
static size_t st_poll(struct st_dump *d, struct st_follower *f, FILE *out)
{
	if (!st_attach(d, f, out))
		return 0;
	uint8_t head[ST_HEADER_SIZE];
	struct stat st;
	ssize_t got = pread(f->fd, head, sizeof head, 0);
	struct st_header_info h;
	uint64_t err_off;
	char why[ST_WHY];
	if (got < 0 || fstat(f->fd, &st) < 0 ||
	    st_decode_header(head, (uint64_t)got, &h, &err_off, why) < 0 || h.unwritten)
		return 0;
	uint64_t size = (uint64_t)st.st_size;
	uint64_t end = h.content_end < size ? h.content_end : size;
	f->ring_handed = h.ring_handed;
	st_read_chunks(d, f, end, size);
	return st_flush(d, f, out);
}

int st_follow(struct st_dump *d, const char *path, FILE *out)
{
	struct sigaction sa = {.sa_handler = st_on_stop};
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	struct st_follower f = {.path = path, .fd = -1};
	long wait_ms = ST_POLL_FAST_MS;
	while (!st_stop) {
		size_t before = f.printed;
		size_t n = st_poll(d, &f, out);
		wait_ms = n || f.printed != before ? ST_POLL_FAST_MS
						   : (wait_ms * 2 > ST_POLL_IDLE_MS ? ST_POLL_IDLE_MS
										    : wait_ms * 2);
		struct timespec ts = {wait_ms / 1000, (wait_ms % 1000) * 1000000L};
		nanosleep(&ts, NULL);
	}
	st_forget_file(&f);
	free(f.arena);
	free(f.recs);
	free(f.kept);
	if (d->view != ST_VIEW_EVENTS)
		st_conn_print(d, out); /* the rows still open when following stopped */
	fflush(out);
	if (!d->json && d->view == ST_VIEW_EVENTS)
		st_dump_summary(d, stderr);
	st_filter_free(&d->filter);
	return 0;
}
