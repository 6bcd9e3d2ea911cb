/*
 * Record writing.  Each thread appends to a chunk it reserved with a
 * compare-and-swap on the shared header (never an add: a refused request must
 * leave the counter alone); a record becomes visible when its commit word is
 * stored with release semantics, so readers never see a torn record and a
 * SIGKILL loses only calls that had not returned.  A signal handler that
 * interrupts a record in progress uses the next depth's chunk: each depth is
 * owned by one nesting level, so no atomic is needed within a chunk.
 * Everything here is async-signal-safe: no malloc, no lock, no stdio.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "st_core.h"

#define ST_DEPTHS 4
/*
 * Chunks are reserved one at a time (a short-lived thread leaves one chunk in
 * the file, and the capacity is never held by chunks nobody writes), but each
 * cursor maps a window of the file around them: the next chunk it reserves
 * usually falls inside, and only when it does not is a new window mapped,
 * twice as long as the last, up to ST_WINDOW_MAX.  What made a busy thread's
 * events dear was the mapping, not the reservation: on ext4 (Linux 6.18)
 * allocating the pages of a shared file mapping costs 8 us a page in a
 * 16-256 KiB mapping and 4 us in a 4 MiB one (page-cache readahead around
 * each fault); in the names loop of `make bench`, 16 KiB mappings cost 1.41x
 * bare, 256 KiB 1.30x, 4 MiB 1.24x.  A window is address space only: its
 * pages are allocated when chunks in it are taken, 256 KiB ahead
 * (st_chunk_ready).
 */
#define ST_WINDOW_MAX ((uint64_t)4 << 20)

struct st_cursor {
	char *map;        /* this cursor's window of the file; NULL = none */
	uint64_t map_off; /* file offset of map */
	uint64_t map_len;
	uint64_t ready_end; /* file offset up to which the window's pages are allocated */
	uint64_t pos;     /* file offset of the next record; 0 = no chunk */
	uint64_t end;     /* end of the current chunk */
	uint64_t committed; /* file offset after the last committed record */
	/* a chunk reserved and not yet in use: a jump out of a signal handler
	 * during the slow part of taking a chunk (mapping, allocating its
	 * pages) leaves it here for the next try, instead of leaking a chunk
	 * per jump until the trace is "full" */
	uint64_t spare;
	/* set while map, map_off and map_len change together: a jump out of a
	 * handler in between would leave a window that writes one offset's
	 * records over another's, so st_cursor_abandon drops such a window */
	bool moving;
	/* which part of the file its chunks come from: the trace's chunks (the
	 * ring in the flight-recorder mode), or a ring's metadata area */
	bool meta;
	/* the window a refill moved away from, unmapped once the refill is
	 * done: a ring chunk is given back only after the next is claimed, so
	 * a thread always holds its newest events (one preempted between the
	 * two would otherwise find them overwritten) */
	char *retired;
	uint64_t retired_len;
	/* the context record in force for short events (version 5): valid
	 * while ctx_end is the end of the chunk being written, and reset
	 * whenever a chunk is taken (the same offset may come back in a ring) */
	uint64_t ctx_end;
	uint64_t ctx_base;
	uint32_t ctx_pid, ctx_tid;
};

struct st_thread {
	uint32_t tid;
	uint32_t depth;
	/* a stack address inside each level's recorder activation: a jump out of
	 * a signal handler to a frame above it left that level (st_record_jumped) */
	uintptr_t level_sp[ST_DEPTHS];
	/* in libunwind or a module scan (st_record_section_enter): state that a
	 * handler must not re-enter */
	bool in_section;
	uintptr_t section_sp;
	/* whose records this thread writes when not its own (st_record_as) */
	uint32_t as_pid, as_tid;
	bool has_key; /* the thread-exit destructor will unmap the leases */
	struct st_cursor cursor[ST_DEPTHS];
	struct st_cursor meta[ST_DEPTHS]; /* a ring's metadata area, per level */
};

static __thread struct st_thread st_self ST_TLS;
struct st_core_hooks st_core_hooks;
uint32_t st_pid;
static bool st_full;       /* capacity reached or no space left: stop trying */
static bool st_meta_full;  /* a ring's metadata area is used up: the ring takes its records */
static bool st_no_populate; /* kernel before 5.14: no MADV_POPULATE_WRITE */
static pthread_key_t st_thread_key;
static bool st_key_ok;

/* The chunk a cursor writes, or NULL. */
static char *st_cursor_chunk(const struct st_cursor *c)
{
	if (c->pos == 0 || c->moving || c->map == NULL || c->end < c->map_off + ST_CHUNK_SIZE ||
	    c->end > c->map_off + c->map_len)
		return NULL;
	return c->map + (c->end - ST_CHUNK_SIZE - c->map_off);
}

/* A ring chunk the cursor is done with goes back to the ring: the cursor
 * has no chunk from then on (it would otherwise write into a chunk that
 * another thread may be clearing). */
static void st_cursor_release(struct st_cursor *c)
{
	if (!st_trace.ring || c->meta)
		return;
	char *chunk = st_cursor_chunk(c);
	if (chunk != NULL)
		st_ring_release(chunk, st_tid());
	c->pos = 0;
}

static void st_cursor_unmap(struct st_cursor *c)
{
	st_cursor_release(c);
	if (c->map != NULL)
		munmap(c->map, c->map_len);
	*c = (struct st_cursor){0};
}

/* Set when the front-end forbids the recorder any further system call (the
 * program sandboxed itself): an exiting thread then leaves its windows
 * mapped, where munmap could kill the process. */
static bool st_frozen;

void st_record_freeze(void)
{
	__atomic_store_n(&st_frozen, true, __ATOMIC_RELAXED);
}

static void st_thread_exit(void *arg)
{
	(void)arg;
	if (__atomic_load_n(&st_frozen, __ATOMIC_RELAXED))
		return;
	for (unsigned i = 0; i < ST_DEPTHS; i++) {
		st_cursor_unmap(&st_self.cursor[i]);
		st_cursor_unmap(&st_self.meta[i]);
	}
	st_self.has_key = false;
}

void st_record_init(void)
{
	st_key_ok = pthread_key_create(&st_thread_key, st_thread_exit) == 0;
}

/* In a new process (fork, clone) that inherited this thread's state: the
 * leases are the parent's to fill, and the mappings are let go. */
/* A process that starts a file of its own (%p) starts with room in it: the
 * parent's "full" was about the parent's file. */
void st_record_new_file(void)
{
	__atomic_store_n(&st_full, false, __ATOMIC_RELAXED);
	__atomic_store_n(&st_meta_full, false, __ATOMIC_RELAXED);
}

/* In a forked child the ring chunks are still the parent's thread's: let go
 * of the mappings without giving the chunks back. */
void st_record_reset_thread(void)
{
	for (unsigned i = 0; i < ST_DEPTHS; i++) {
		st_self.cursor[i].pos = 0;
		st_self.meta[i].pos = 0;
		st_cursor_unmap(&st_self.cursor[i]);
		st_cursor_unmap(&st_self.meta[i]);
	}
	memset(&st_self, 0, sizeof st_self);
}

enum st_refusal { ST_REFUSED_FULL, ST_REFUSED_AT_EXIT };

/* dropped counts call events only; the records that follow them (results,
 * closes, resolutions) are counted apart, so "N events, M dropped" adds up */
static void st_count_dropped(enum st_refusal why, bool event)
{
	if (why == ST_REFUSED_AT_EXIT)
		__atomic_fetch_add(&st_trace.hdr->exit_dropped, 1, __ATOMIC_RELAXED);
	else if (event)
		__atomic_fetch_add(&st_trace.hdr->dropped, 1, __ATOMIC_RELAXED);
	else
		__atomic_fetch_add(&st_trace.hdr->dropped_records, 1, __ATOMIC_RELAXED);
}

/* A connection whose end will not be recorded: said, not silently lost. */
void st_record_unfollowed(void)
{
	if (st_trace.hdr != NULL)
		__atomic_fetch_add(&st_trace.hdr->unfollowed, 1, __ATOMIC_RELAXED);
}

/*
 * Reserves the next chunk.  A compare-and-swap, not an add: a refused request
 * (sealed, full) must leave the shared counter alone, or the header would
 * announce chunks the file does not have.
 */
static bool st_chunk_reserve(uint64_t *off, enum st_refusal *why)
{
	struct st_header *h = st_trace.hdr;
	uint64_t cur = __atomic_load_n(&h->next_chunk, __ATOMIC_ACQUIRE);
	for (int unsealed = 0;;) {
		if (cur & ST_SEALED) {
			*why = ST_REFUSED_AT_EXIT;
			if (unsealed++ || !st_file_unseal())
				return false;
			cur = __atomic_load_n(&h->next_chunk, __ATOMIC_ACQUIRE);
			continue;
		}
		if (st_trace.capacity < ST_HEADER_SIZE + cur + ST_CHUNK_SIZE) {
			*why = ST_REFUSED_FULL;
			__atomic_store_n(&st_full, true, __ATOMIC_RELAXED);
			return false;
		}
		if (__atomic_compare_exchange_n(&h->next_chunk, &cur, cur + ST_CHUNK_SIZE, true,
						__ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
			*off = ST_HEADER_SIZE + cur;
			return true;
		}
	}
}

/*
 * Maps [off, off + len) of the trace without a file descriptor: mremap with
 * an old size of 0 makes a second mapping of a shared one, from the same file
 * offset, as long as asked; the part before off is unmapped at once.  The
 * source is this cursor's previous window when it lies before (a short span),
 * else the header page.
 */
static char *st_window_map(const struct st_cursor *c, uint64_t off, uint64_t len)
{
	char *src = (char *)st_trace.hdr;
	uint64_t src_off = 0;
	if (c->map != NULL && c->map_off <= off) {
		src = c->map;
		src_off = c->map_off;
	}
	uint64_t skip = off - src_off;
	char *m = mremap(src, 0, skip + len, MREMAP_MAYMOVE);
	if (m == MAP_FAILED)
		return NULL;
	if (skip)
		munmap(m, skip);
	return m + skip;
}

/* A new window for the chunk at off: twice the last one, within the maximum
 * and the capacity; when the address space is short (RLIMIT_AS), the chunk
 * alone.  False when not even that can be mapped. */
static bool st_window_move(struct st_cursor *c, uint64_t off)
{
	uint64_t len = c->map_len ? c->map_len * 2 : ST_CHUNK_SIZE;
	if (len > ST_WINDOW_MAX)
		len = ST_WINDOW_MAX;
	if (len > st_trace.capacity - off)
		len = st_trace.capacity - off;
	char *m = st_window_map(c, off, len);
	if (m == NULL && len > ST_CHUNK_SIZE)
		m = st_window_map(c, off, len = ST_CHUNK_SIZE);
	if (m == NULL)
		return false;
	/* Field by field, flagged first: a struct assignment may be compiled as
	 * "zero it, then store", and a jump in between would see a cursor not
	 * flagged whose map and map_off disagree, and map later chunks at the
	 * wrong file offsets (consecutive chunks lost, found by tests/progs/jumps) */
	char *old_map = c->map;
	uint64_t old_len = c->map_len;
	c->pos = 0; /* no chunk while the window changes */
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	c->moving = true;
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	c->map = m;
	c->map_off = off;
	c->map_len = len;
	c->ready_end = 0;
	c->end = 0;
	c->committed = 0;
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	c->moving = false;
	if (old_map != NULL && c->retired == NULL) {
		c->retired = old_map;
		c->retired_len = old_len;
	} else if (old_map != NULL) {
		munmap(old_map, old_len);
	}
	return true;
}

/* Allocates len bytes of pages now, where failure is an error code: a store
 * to a page the filesystem cannot allocate (disk full, quota) is a SIGBUS. */
static bool st_pages_populate(char *p, uint64_t len)
{
	if (__atomic_load_n(&st_no_populate, __ATOMIC_RELAXED))
		return true;
	if (madvise(p, len, MADV_POPULATE_WRITE) == 0)
		return true;
	if (errno == EINVAL) {
		__atomic_store_n(&st_no_populate, true, __ATOMIC_RELAXED);
		return true;
	}
	return false;
}

/*
 * Makes the chunk at off writable.  The window's next ST_POPULATE_AHEAD
 * bytes are allocated with it in one call (one madvise per 256 KiB, not per
 * chunk: in the names loop 1.25x bare against 1.235x); chunks there that
 * another thread takes are simply ready for it, and what lies past the last
 * chunk handed out is cut off when the file is shrunk.  When that fails (the
 * disk is nearly full) the chunk alone, so the last free blocks still hold
 * events.
 */
#define ST_POPULATE_AHEAD ((uint64_t)256 << 10)

static bool st_chunk_ready(struct st_cursor *c, uint64_t off)
{
	if (off >= c->map_off && off + ST_CHUNK_SIZE <= c->ready_end)
		return true;
	char *p = c->map + (off - c->map_off);
	uint64_t span = c->map_off + c->map_len - off;
	if (span > ST_POPULATE_AHEAD)
		span = ST_POPULATE_AHEAD;
	if (span > ST_CHUNK_SIZE && st_pages_populate(p, span)) {
		c->ready_end = off + span;
		return true;
	}
	if (!st_pages_populate(p, ST_CHUNK_SIZE))
		return false;
	c->ready_end = off + ST_CHUNK_SIZE;
	return true;
}

static void st_thread_watch(void)
{
	if (!st_self.has_key && st_key_ok) {
		st_self.has_key = true;
		pthread_setspecific(st_thread_key, &st_self);
	}
}

/* A new chunk's offset: the next of the append mode, of a ring's metadata
 * area, or of the ring (*seq set, the chunk still to be claimed). */
static bool st_chunk_take(const struct st_cursor *c, uint64_t *off, uint64_t *seq,
			  enum st_refusal *why)
{
	*seq = 0;
	if (c->meta) {
		if (st_ring_meta_next(off))
			return true;
		__atomic_store_n(&st_meta_full, true, __ATOMIC_RELAXED);
		return false;
	}
	if (!st_trace.ring)
		return st_chunk_reserve(off, why);
	st_ring_next(off, seq);
	return true;
}

/* Maps and allocates the chunk at off; false when it cannot be written. */
static bool st_chunk_reach(struct st_cursor *c, uint64_t off)
{
	if (c->map == NULL || off < c->map_off || off + ST_CHUNK_SIZE > c->map_off + c->map_len) {
		/* no address space: the chunk stays a hole */
		if (!st_window_move(c, off))
			return false;
		st_thread_watch();
	}
	if (!st_chunk_ready(c, off)) {
		__atomic_store_n(&st_full, true, __ATOMIC_RELAXED);
		return false;
	}
	return true;
}

/* Gets a chunk ready to write (a ring chunk claimed); false when none. */
static bool st_chunk_get(struct st_cursor *c, uint64_t *off, enum st_refusal *why)
{
	/* a ring whose every chunk is held by live threads: bounded */
	uint64_t tries = st_trace.ring ? (uint64_t)st_trace.ring_chunks + 1 : 1;
	for (uint64_t i = 0; i < tries; i++) {
		uint64_t seq;
		if (!st_chunk_take(c, off, &seq, why))
			return false;
		/* a chunk of its own from here on (a ring chunk: once claimed):
		 * a jump out of a handler while it is mapped leaves it for the
		 * next try (see spare) */
		if (seq == 0)
			c->spare = *off;
		if (!st_chunk_reach(c, *off))
			return false;
		if (seq == 0)
			return true;
		if (st_ring_claim(c->map + (*off - c->map_off), seq, st_tid(), st_now_ns())) {
			c->spare = *off;
			return true;
		}
	}
	return false;
}

static bool st_cursor_refill(struct st_cursor *c, enum st_refusal *why)
{
	*why = ST_REFUSED_FULL;
	if (__atomic_load_n(c->meta ? &st_meta_full : &st_full, __ATOMIC_RELAXED))
		return false;
	int saved = errno;
	uint64_t off = c->spare;
	/* a spare that is already the current chunk (a jump came after the
	 * chunk was published, before the spare was cleared) is not taken
	 * again: its records would be written over from its start */
	if (off != 0 && c->pos != 0 && off == c->end - ST_CHUNK_SIZE)
		off = 0;
	/* the ring chunk in use stays ours until the next one is claimed */
	char *old = st_trace.ring && !c->meta ? st_cursor_chunk(c) : NULL;
	uint64_t old_off = old != NULL ? c->end - ST_CHUNK_SIZE : 0;
	c->pos = 0;
	bool ok = off != 0 ? st_chunk_reach(c, off) : st_chunk_get(c, &off, why);
	if (old != NULL && !(ok && off == old_off))
		st_ring_release(old, st_tid());
	if (c->retired != NULL) {
		munmap(c->retired, c->retired_len);
		c->retired = NULL;
	}
	if (ok) {
		c->spare = off; /* in use only once published below */
		/* a ring chunk starts with its chunk record */
		uint64_t first = off + (st_trace.ring && !c->meta ? sizeof(struct st_chunk_rec) : 0);
		/* in this order: a jump out of a handler between two of these stores
		 * leaves committed and pos in different chunks, which
		 * st_cursor_abandon takes for "no chunk" */
		c->committed = first;
		c->ctx_end = 0; /* a new chunk starts without a context */
		__atomic_signal_fence(__ATOMIC_SEQ_CST);
		c->end = off + ST_CHUNK_SIZE;
		__atomic_signal_fence(__ATOMIC_SEQ_CST);
		c->spare = 0; /* before pos: a spare still set once in use would be
				 taken again and its records written over */
		__atomic_signal_fence(__ATOMIC_SEQ_CST);
		c->pos = first;
	}
	errno = saved;
	return ok;
}

/* Returns room for len bytes in the calling depth's chunk, or NULL. */
static char *st_reserve(struct st_cursor *c, uint32_t len, enum st_refusal *why)
{
	if (ST_UNLIKELY(c->pos == 0 || c->pos + len > c->end) && !st_cursor_refill(c, why))
		return NULL;
	char *p = c->map + (c->pos - c->map_off);
	c->pos += len;
	return p;
}

static void st_commit(struct st_cursor *c, char *p, uint32_t len, uint16_t type)
{
	__atomic_store_n((uint64_t *)p, ST_REC_WORD(len, type), __ATOMIC_RELEASE);
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	c->committed = c->pos;
}

void st_record_as(uint32_t pid, uint32_t tid)
{
	st_self.as_pid = pid;
	st_self.as_tid = tid;
}

static inline uint32_t st_writer_pid(void)
{
	return ST_LIKELY(st_self.as_pid == 0) ? st_pid : st_self.as_pid;
}

uint32_t st_record_pid(void)
{
	return st_writer_pid();
}

uint32_t st_tid(void)
{
	if (ST_UNLIKELY(st_self.tid == 0))
		st_self.tid = (uint32_t)gettid();
	return st_self.tid;
}

static inline uint32_t st_writer_tid(void)
{
	return ST_LIKELY(st_self.as_tid == 0) ? st_tid() : st_self.as_tid;
}

/* Enters a nesting level; returns its cursor or NULL when nested too deep. */
static struct st_cursor *st_enter(void)
{
	uint32_t depth = st_self.depth;
	if (depth < ST_DEPTHS) {
		uintptr_t sp;
		__asm__ volatile("mov %%rsp, %0" : "=r"(sp));
		st_self.level_sp[depth] = sp;
	}
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	st_self.depth = depth + 1;
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	return depth < ST_DEPTHS ? &st_self.cursor[depth] : NULL;
}

static void st_leave(void)
{
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	st_self.depth--;
}

/* Records that kept events need in order to be read go to a ring's
 * metadata area, never overwritten, while it has room. */
static bool st_is_meta(uint16_t type)
{
	return type == ST_REC_PROCESS || type == ST_REC_MODULE || type == ST_REC_RESOLVE ||
	       type == ST_REC_PEER || type == ST_REC_PYCODE || type == ST_REC_JITSYM ||
	       type == ST_REC_NOTE;
}

static struct st_cursor *st_enter_for(uint16_t type)
{
	struct st_cursor *c = st_enter();
	if (c != NULL && ST_UNLIKELY(st_trace.ring) && st_is_meta(type) &&
	    !__atomic_load_n(&st_meta_full, __ATOMIC_RELAXED)) {
		c = &st_self.meta[st_self.depth - 1];
		c->meta = true;
	}
	return c;
}

/* Room in *c, else (a full metadata area) in the level's ring cursor,
 * which *c then names. */
static char *st_reserve_in(struct st_cursor **c, uint32_t len, enum st_refusal *why)
{
	char *p = st_reserve(*c, len, why);
	if (p == NULL && (*c)->meta) {
		*c = &st_self.cursor[*c - st_self.meta];
		p = st_reserve(*c, len, why);
	}
	return p;
}

/* An IPv4 address is stored without sin_zero when that is zero (as the kernel
 * returns it): 8 bytes instead of 16 on every inet event.  Every byte written
 * costs: the kernel zeroes each new page of the trace before we fill it. */
static uint16_t st_stored_len(const struct st_addr *a)
{
	if (a == NULL)
		return 0;
	if (a->len == sizeof(struct sockaddr_in) && a->ss.ss_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)&a->ss;
		uint64_t zero;
		memcpy(&zero, in->sin_zero, sizeof zero);
		if (zero == 0)
			return ST_INET_SHORT_LEN;
	}
	return (uint16_t)a->len;
}

static char *st_put_addr(char *p, const struct st_addr *a, uint16_t stored)
{
	if (stored) {
		/* Inline fixed-size copies for inet and inet6: the source holds a
		 * whole sockaddr_storage and the record has the padding. */
		uint32_t padded = ST_ALIGN8(stored);
		if (padded == 8)
			__builtin_memcpy(p, &a->ss, 8);
		else if (padded == 16)
			__builtin_memcpy(p, &a->ss, 16);
		else if (padded == 32)
			__builtin_memcpy(p, &a->ss, 32);
		else
			memcpy(p, &a->ss, stored);
		p += padded;
	}
	return p;
}

/*
 * Room for a record that counts as dropped when lost (calls, results,
 * closes, resolutions): NULL, and one more dropped, when there is none.  On
 * success the caller is inside the recorder until st_record_done.
 */
static char *st_record_begin(uint32_t len, uint16_t type, struct st_cursor **used)
{
	struct st_cursor *c = st_enter_for(type);
	enum st_refusal why = ST_REFUSED_FULL;
	char *p = c ? st_reserve_in(&c, len, &why) : NULL;
	if (p == NULL) {
		st_count_dropped(why, type == ST_REC_EVENT);
		st_leave();
	}
	*used = c;
	return p;
}

static void st_record_done(struct st_cursor *c, char *p, uint32_t len, uint16_t type)
{
	st_commit(c, p, len, type);
	st_leave();
}

bool st_record_busy(void)
{
	return st_self.depth != 0 || st_self.in_section;
}

void st_record_section_enter(void)
{
	uintptr_t sp;
	__asm__ volatile("mov %%rsp, %0" : "=r"(sp));
	st_self.section_sp = sp;
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	st_self.in_section = true;
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
}

void st_record_section_leave(void)
{
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	st_self.in_section = false;
}

/* Whether a is an IPv4 end a short event can hold (8 stored bytes: no
 * sin_zero), or none; its port and address then, in network order. */
static bool st_short_end(const struct st_addr *a, uint16_t stored, uint16_t *port,
			 uint32_t *addr)
{
	*port = 0;
	*addr = 0;
	if (a == NULL || stored == 0)
		return true;
	if (stored != ST_INET_SHORT_LEN || a->ss.ss_family != AF_INET)
		return false;
	const struct sockaddr_in *in = (const struct sockaddr_in *)&a->ss;
	*port = in->sin_port;
	*addr = in->sin_addr.s_addr;
	return true;
}

/* Whether the call's numbers fit a short event exactly (its ret is implied). */
static bool st_short_fits(uint8_t op, int fd, int listen_fd, const struct st_outcome *done)
{
	if (fd < -1 || fd > ST_SHORT_FD_MAX || listen_fd < -1 || listen_fd > ST_SHORT_FD_MAX ||
	    done->err < 0 || done->err > 255 || op == ST_OP_HELD)
		return false;
	bool accept = op == ST_OP_ACCEPT || op == ST_OP_ACCEPT4;
	int implied = done->err != 0 ? -1 : accept ? fd : 0;
	return done->ret == implied;
}

/* Whether c's context record names pid, tid and a base at most
 * ST_SHORT_DT_MAX before ts, with room for a short record of size after it. */
static bool st_context_fits(const struct st_cursor *c, uint32_t pid, uint32_t tid, uint64_t ts,
			    uint32_t size)
{
	return c->pos != 0 && c->ctx_end == c->end && c->pos + size <= c->end &&
	       c->ctx_pid == pid && c->ctx_tid == tid && ts >= c->ctx_base &&
	       ts - c->ctx_base <= ST_SHORT_DT_MAX;
}

bool st_record_short_events = true;

/*
 * Room for a short record of size bytes at ts (version 5): after a context
 * record of the same chunk, both in one reservation when the chunk has none
 * for this thread yet, so the two can never land in different chunks.  The
 * context is committed first, then published in the cursor: a jump out of a
 * handler in between costs one more context record, never a short record
 * read with another's base.  NULL (counted as dropped) when there is no
 * room; otherwise *dt is ts after the base, and the caller is inside the
 * recorder until st_record_done.
 */
static char *st_reserve_short(uint32_t size, uint64_t ts, bool is_event, struct st_cursor **used,
			      uint32_t *dt)
{
	uint32_t pid = st_writer_pid(), tid = st_writer_tid();
	struct st_cursor *c = st_enter();
	bool need_ctx = c != NULL && !st_context_fits(c, pid, tid, ts, size);
	uint32_t len = size + (need_ctx ? sizeof(struct st_context) : 0);
	enum st_refusal why = ST_REFUSED_FULL;
	char *p = c ? st_reserve(c, len, &why) : NULL;
	if (p == NULL) {
		st_count_dropped(why, is_event);
		st_leave();
		return NULL;
	}
	if (need_ctx) {
		struct st_context *ctx = (struct st_context *)p;
		ctx->ts_ns = ts;
		ctx->pid = pid;
		ctx->tid = tid;
		__atomic_store_n(&ctx->word, ST_REC_WORD(sizeof *ctx, ST_REC_CONTEXT),
				 __ATOMIC_RELEASE);
		__atomic_signal_fence(__ATOMIC_SEQ_CST);
		c->committed = c->pos - size;
		c->ctx_pid = pid;
		c->ctx_tid = tid;
		c->ctx_base = ts;
		__atomic_signal_fence(__ATOMIC_SEQ_CST);
		c->ctx_end = c->end;
		p += sizeof *ctx;
	}
	*dt = (uint32_t)(ts - c->ctx_base);
	*used = c;
	return p;
}

/* The 32-byte form of an event (version 5). */
static bool st_record_short(uint8_t op, int fd, int listen_fd, const struct st_outcome *done,
			    const struct st_addr *local, uint16_t llen,
			    const struct st_addr *peer, uint16_t plen, uint8_t flags)
{
	uint16_t local_port, peer_port;
	uint32_t local_addr, peer_addr, dt;
	if (!st_short_end(local, llen, &local_port, &local_addr) ||
	    !st_short_end(peer, plen, &peer_port, &peer_addr))
		return false;
	struct st_cursor *c;
	char *p = st_reserve_short(sizeof(struct st_short_event), done->ts_ns, true, &c, &dt);
	if (p == NULL)
		return true; /* counted as dropped */
	/* written in place, field by field: a record built on the stack in
	 * narrow stores and copied with wide loads stalled on store
	 * forwarding (two fifths of st_record_event's samples) */
	struct st_short_event *ev = (struct st_short_event *)p;
	ev->dt_ns = dt;
	ev->fd1 = (uint16_t)(fd + 1);
	ev->listen_fd1 = (uint16_t)(listen_fd + 1);
	ev->op = op;
	ev->flags = flags;
	ev->err = (uint8_t)done->err;
	ev->ends = (uint8_t)((llen ? ST_SHORT_LOCAL : 0) | (plen ? ST_SHORT_PEER : 0));
	ev->local_port = local_port;
	ev->peer_port = peer_port;
	ev->local_addr = local_addr;
	ev->peer_addr = peer_addr;
	st_record_done(c, p, sizeof *ev, ST_REC_SHORT_EVENT);
	return true;
}

void st_record_event(uint8_t op, int fd, int listen_fd, const struct st_outcome *done,
		     const struct st_addr *local, const struct st_addr *peer, uint8_t flags,
		     const struct st_stack *stack)
{
	uint16_t llen = st_stored_len(local), plen = st_stored_len(peer);
	unsigned nframes = stack ? stack->n : 0;
	if (stack && stack->skipped)
		flags |= ST_EV_STACK_SKIPPED;
	if (nframes == 0 && ST_LIKELY(st_record_short_events) &&
	    st_short_fits(op, fd, listen_fd, done) &&
	    st_record_short(op, fd, listen_fd, done, local, llen, peer, plen, flags))
		return;
	if (nframes && st_core_hooks.stack_seen) {
		st_record_section_enter();
		st_core_hooks.stack_seen(stack->ip, nframes, done->ts_ns);
		st_record_section_leave();
	}
	uint32_t pid = st_writer_pid(), tid = st_writer_tid();
	uint32_t len = sizeof(struct st_event) + ST_ALIGN8(llen) + ST_ALIGN8(plen) + 8u * nframes;
	struct st_cursor *c;
	char *p = st_record_begin(len, ST_REC_EVENT, &c);
	if (p == NULL)
		return;
	struct st_event *ev = (struct st_event *)p;
	ev->ts_ns = done->ts_ns;
	ev->pid = pid;
	ev->tid = tid;
	ev->fd = fd;
	ev->ret = done->ret;
	ev->err = done->err;
	ev->listen_fd = listen_fd;
	ev->op = op;
	ev->flags = flags;
	ev->nframes = (uint16_t)nframes;
	ev->local_len = llen;
	ev->peer_len = plen;
	char *q = st_put_addr(st_put_addr(p + sizeof *ev, local, llen), peer, plen);
	if (nframes)
		memcpy(q, stack->ip, 8u * nframes);
	st_record_done(c, p, len, ST_REC_EVENT);
}

void st_record_note_prepare(struct st_note_slot *slot, uint32_t kind)
{
	uint32_t pid = st_writer_pid(), tid = st_writer_tid();
	slot->room = st_record_begin(sizeof(struct st_note), ST_REC_NOTE, &slot->cursor);
	if (slot->room == NULL)
		return;
	struct st_note *n = (struct st_note *)slot->room;
	n->ts_ns = st_now_ns();
	n->pid = pid;
	n->tid = tid;
	n->kind = kind;
	n->pad = 0;
}

/* No system call here: the change may have forbidden them.  Padding keeps
 * the note's word and time, which is all a padding record has. */
void st_record_note_finish(struct st_note_slot *slot, bool happened)
{
	if (slot->room != NULL)
		st_record_done(slot->cursor, slot->room, sizeof(struct st_note),
			       happened ? ST_REC_NOTE : ST_REC_PAD);
}

/* s may be NULL when n is 0 (an object with no name). */
static char *st_put_bytes(char *p, const char *s, size_t n)
{
	if (n)
		memcpy(p, s, n);
	return p + n;
}

uint16_t st_record_process_flags;

void st_record_process(uint32_t ppid, const char *exe, size_t exe_len,
		       const char *cmd, size_t cmd_len, const char *host, size_t host_len)
{
	uint32_t len = ST_ALIGN8(sizeof(struct st_process) + exe_len + cmd_len + host_len);
	struct st_cursor *c = st_enter_for(ST_REC_PROCESS);
	enum st_refusal why;
	char *p = c ? st_reserve_in(&c, len, &why) : NULL;
	if (p != NULL) {
		struct st_process *pr = (struct st_process *)p;
		pr->ts_ns = st_now_ns();
		pr->pid = st_writer_pid();
		pr->ppid = ppid;
		pr->exe_len = (uint16_t)exe_len;
		pr->cmd_len = (uint16_t)cmd_len;
		pr->host_len = (uint16_t)host_len;
		pr->flags = st_record_process_flags;
		char *q = st_put_bytes(p + sizeof *pr, exe, exe_len);
		st_put_bytes(st_put_bytes(q, cmd, cmd_len), host, host_len);
		st_commit(c, p, len, ST_REC_PROCESS);
	}
	st_leave();
}

void st_record_module(uint64_t ts, uint16_t flags, uint64_t bias, uint64_t lo, uint64_t hi,
		      const uint8_t *build_id, uint8_t build_id_len, const char *path,
		      size_t path_len)
{
	if (path_len > 1024)
		path_len = 1024;
	uint32_t len = ST_ALIGN8(sizeof(struct st_module) + build_id_len + path_len);
	struct st_cursor *c = st_enter_for(ST_REC_MODULE);
	enum st_refusal why;
	char *p = c ? st_reserve_in(&c, len, &why) : NULL;
	if (p != NULL) {
		struct st_module *m = (struct st_module *)p;
		m->ts_ns = ts;
		m->pid = st_writer_pid();
		m->flags = flags;
		m->path_len = (uint16_t)path_len;
		m->bias = bias;
		m->lo = lo;
		m->hi = hi;
		m->build_id_len = build_id_len;
		char *q = p + sizeof *m;
		if (build_id_len)
			q = st_put_bytes(q, (const char *)build_id, build_id_len);
		st_put_bytes(q, path, path_len);
		st_commit(c, p, len, ST_REC_MODULE);
	}
	st_leave();
}

void st_record_pycode(const struct st_pycode *rec, const char *file, const char *name,
		      bool (*read_table)(void *to, size_t len, void *arg), void *arg)
{
	uint32_t len = ST_ALIGN8(sizeof *rec + rec->file_len + rec->name_len + rec->table_len);
	struct st_cursor *c = st_enter_for(ST_REC_PYCODE);
	enum st_refusal why;
	char *p = c ? st_reserve_in(&c, len, &why) : NULL;
	if (p != NULL) {
		struct st_pycode *r = (struct st_pycode *)p;
		memcpy(p + 8, (const char *)rec + 8, sizeof *rec - 8);
		r->pid = st_writer_pid();
		char *q = st_put_bytes(p + sizeof *rec, file, rec->file_len);
		q = st_put_bytes(q, name, rec->name_len);
		/* straight into the record: no table-sized buffer on any stack */
		if (rec->table_len && !read_table(q, rec->table_len, arg)) {
			memset(q, 0, rec->table_len);
			r->flags |= ST_PYCODE_TABLE_CUT; /* no line rather than a wrong one */
		}
		st_commit(c, p, len, ST_REC_PYCODE);
	}
	st_leave();
}

void st_record_jitsym(uint64_t start, uint64_t size, const char *name, size_t name_len)
{
	if (name_len > 1024)
		name_len = 1024;
	uint32_t len = ST_ALIGN8(sizeof(struct st_jitsym) + name_len);
	struct st_cursor *c = st_enter_for(ST_REC_JITSYM);
	enum st_refusal why;
	char *p = c ? st_reserve_in(&c, len, &why) : NULL;
	if (p != NULL) {
		struct st_jitsym *r = (struct st_jitsym *)p;
		r->ts_ns = st_now_ns();
		r->pid = st_writer_pid();
		r->name_len = (uint16_t)name_len;
		r->start = start;
		r->size = size;
		st_put_bytes(p + sizeof *r, name, name_len);
		st_commit(c, p, len, ST_REC_JITSYM);
		__atomic_fetch_or(&st_trace.hdr->flags, ST_HDR_JIT, __ATOMIC_RELAXED);
	}
	st_leave();
}

/* A fixed-size record of len bytes from rec (its word and identity filled
 * here), or one more dropped event. */
static void st_record_fixed(const void *rec, uint32_t len, uint16_t type)
{
	uint32_t pid = st_writer_pid(), tid = st_writer_tid();
	struct st_cursor *c;
	char *p = st_record_begin(len, type, &c);
	if (p == NULL)
		return;
	/* pid and tid sit after word and ts in every fixed record */
	memcpy(p + 8, (const char *)rec + 8, len - 8);
	memcpy(p + 16, &pid, 4);
	memcpy(p + 20, &tid, 4);
	st_record_done(c, p, len, type);
}

/* The 32-byte form of a result (version 6), when its numbers fit. */
static bool st_record_result_short(int fd, int err, uint64_t latency_ns, uint8_t learned,
				   uint8_t flags, uint64_t ts, uint32_t handshake_us)
{
	if (!ST_LIKELY(st_record_short_events) || fd < 0 || fd > ST_SHORT_FD_MAX || err < 0 ||
	    err > 255)
		return false;
	struct st_short_result r = {.fd1 = (uint16_t)(fd + 1), .err = (uint8_t)err,
				    .learned = learned, .flags = flags,
				    .handshake_us = handshake_us, .latency_ns = latency_ns};
	struct st_cursor *c;
	char *p = st_reserve_short(sizeof r, ts, false, &c, &r.dt_ns);
	if (p != NULL) {
		memcpy(p + 8, (const char *)&r + 8, sizeof r - 8);
		st_record_done(c, p, sizeof r, ST_REC_SHORT_RESULT);
	}
	return true; /* written, or counted as dropped */
}

void st_record_result(int fd, int err, uint64_t latency_ns, uint8_t learned, uint8_t flags,
		       uint64_t ts, uint32_t handshake_us)
{
	if (st_record_result_short(fd, err, latency_ns, learned, flags, ts, handshake_us))
		return;
	struct st_result r = {.ts_ns = ts, .fd = fd, .err = err,
			      .latency_ns = latency_ns, .learned = learned, .flags = flags,
			      .handshake_us = handshake_us};
	st_record_fixed(&r, sizeof r, ST_REC_RESULT);
}

static void st_record_close_ends(const struct st_close *rec, const struct st_addr *local,
				 const struct st_addr *peer)
{
	uint16_t llen = st_stored_len(local), plen = st_stored_len(peer);
	uint32_t pid = st_writer_pid(), tid = st_writer_tid();
	uint32_t len = sizeof *rec + sizeof(struct st_close_ends) + ST_ALIGN8(llen) +
		       ST_ALIGN8(plen);
	struct st_cursor *c;
	char *p = st_record_begin(len, ST_REC_CLOSE, &c);
	if (p == NULL)
		return;
	memcpy(p + 8, (const char *)rec + 8, sizeof *rec - 8);
	memcpy(p + 16, &pid, 4);
	memcpy(p + 20, &tid, 4);
	struct st_close_ends ends = {.local_len = llen, .peer_len = plen};
	memcpy(p + sizeof *rec, &ends, sizeof ends);
	st_put_addr(st_put_addr(p + sizeof *rec + sizeof ends, local, llen), peer, plen);
	st_record_done(c, p, len, ST_REC_CLOSE);
}

/* Whether a close's numbers fit a short close exactly. */
static bool st_short_close_fits(const struct st_close *c)
{
	return c->fd >= 0 && c->fd <= ST_SHORT_FD_MAX && c->shut_how >= -1 && c->shut_how <= 127 &&
	       c->open_fd1 == 0 && c->bytes_acked <= UINT32_MAX && c->bytes_received <= UINT32_MAX &&
	       c->bytes_sent <= UINT32_MAX;
}

/* The 48-byte form of a close (version 6), with its IPv4 ends (64 bytes)
 * when ends is not NULL. */
static void st_record_close_short(const struct st_close *c, const struct st_short_close_ends *ends)
{
	struct st_short_close s = {
		.fd1 = (uint16_t)(c->fd + 1), .how = c->how, .role = c->role, .flags = c->flags,
		.tcp_state = c->tcp_state, .shut_how = (int8_t)c->shut_how, .rtt_us = c->rtt_us,
		.age_ns = c->age_ns, .retrans = c->retrans, .bytes_acked = (uint32_t)c->bytes_acked,
		.bytes_received = (uint32_t)c->bytes_received, .bytes_sent = (uint32_t)c->bytes_sent};
	uint32_t len = sizeof s + (ends ? sizeof *ends : 0);
	struct st_cursor *cur;
	char *p = st_reserve_short(len, c->ts_ns, false, &cur, &s.dt_ns);
	if (p == NULL)
		return; /* counted as dropped */
	memcpy(p + 8, (const char *)&s + 8, sizeof s - 8);
	if (ends)
		memcpy(p + sizeof s, ends, sizeof *ends);
	st_record_done(cur, p, len, ST_REC_SHORT_CLOSE);
}

/* A ring's close names its connection's ends: in 16 bytes when both are
 * IPv4 as short events hold them. */
static bool st_short_close_ends_of(const struct st_addr *local, const struct st_addr *peer,
				   struct st_short_close_ends *e)
{
	uint16_t llen = st_stored_len(local), plen = st_stored_len(peer);
	*e = (struct st_short_close_ends){0};
	return llen != 0 && plen != 0 && st_short_end(local, llen, &e->local_port, &e->local_addr) &&
	       st_short_end(peer, plen, &e->peer_port, &e->peer_addr);
}

void st_record_close(const struct st_close *c, const struct st_addr *local,
		     const struct st_addr *peer)
{
	bool shorts = ST_LIKELY(st_record_short_events) && st_short_close_fits(c);
	struct st_short_close_ends ends;
	if (st_trace.ring && local != NULL && peer != NULL && local->len != 0) {
		if (shorts && st_short_close_ends_of(local, peer, &ends))
			st_record_close_short(c, &ends);
		else
			st_record_close_ends(c, local, peer);
	} else if (shorts) {
		st_record_close_short(c, NULL);
	} else {
		st_record_fixed(c, sizeof *c, ST_REC_CLOSE);
	}
}

void st_record_resolve(uint8_t call, int result, const char *name, size_t name_len,
		       const char *serv, size_t serv_len, const struct st_resolved *addrs,
		       unsigned naddrs)
{
	if (name_len > 1024)
		name_len = 1024;
	if (serv_len > 256)
		serv_len = 256;
	if (naddrs > ST_RESOLVE_ADDRS_MAX)
		naddrs = ST_RESOLVE_ADDRS_MAX;
	uint64_t ts = st_now_ns();
	uint32_t pid = st_writer_pid(), tid = st_writer_tid();
	uint32_t strings = ST_ALIGN8(name_len + serv_len);
	uint32_t len = sizeof(struct st_resolve) + strings + naddrs * sizeof *addrs;
	struct st_cursor *c;
	char *p = st_record_begin(len, ST_REC_RESOLVE, &c);
	if (p == NULL)
		return;
	struct st_resolve *r = (struct st_resolve *)p;
	r->ts_ns = ts;
	r->pid = pid;
	r->tid = tid;
	r->result = result;
	r->name_len = (uint16_t)name_len;
	r->serv_len = (uint16_t)serv_len;
	r->naddrs = (uint16_t)naddrs;
	r->call = call;
	st_put_bytes(st_put_bytes(p + sizeof *r, name, name_len), serv, serv_len);
	if (naddrs)
		memcpy(p + sizeof *r + strings, addrs, naddrs * sizeof *addrs);
	st_record_done(c, p, len, ST_REC_RESOLVE);
}

void st_record_peer(int fd, uint32_t peer_pid, uint32_t uid, uint32_t gid)
{
	struct st_peer r = {.ts_ns = st_now_ns(), .fd = fd, .peer_pid = peer_pid,
			    .peer_uid = uid, .peer_gid = gid};
	st_record_fixed(&r, sizeof r, ST_REC_PEER);
}

/*
 * A level of the recorder that a jump left: a signal handler interrupted it
 * and left with siglongjmp (a timeout, as ordinary programs do), so it will
 * never commit its reservation nor leave.  Its reservation becomes a padding
 * record that readers skip (else the reader would stop at its zero commit
 * word and the rest of the chunk would be lost); when the jump came mid-way
 * through taking a new chunk, the cursor simply takes another.
 */
static void st_cursor_abandon(struct st_cursor *c)
{
	if (c->moving) {
		/* a window half replaced: forget it (its address space is lost,
		 * never its file offsets mixed); the reserved chunk is kept */
		*c = (struct st_cursor){.spare = c->spare};
		return;
	}
	uint64_t start = c->end - ST_CHUNK_SIZE;
	bool whole = c->pos != 0 && c->map != NULL && c->end >= ST_HEADER_SIZE + ST_CHUNK_SIZE &&
		     start >= c->map_off && c->end <= c->map_off + c->map_len &&
		     c->committed >= start && c->committed <= c->pos && c->pos <= c->end;
	uint64_t open = whole ? c->pos - c->committed : 0;
	if (whole && c->spare == start)
		c->spare = 0; /* the chunk was being published: it is in use */
	if (!whole || (open != 0 && open < 16)) {
		c->pos = 0;
		return;
	}
	if (open == 0)
		return;
	char *p = c->map + (c->committed - c->map_off);
	uint64_t ts = st_now_ns(); /* after every record already in the chunk */
	memcpy(p + 8, &ts, sizeof ts);
	__atomic_store_n((uint64_t *)p, ST_REC_WORD(open, ST_REC_PAD), __ATOMIC_RELEASE);
	c->committed = c->pos;
}

/* Whether level sp (a stack address of that level) is left by a jump to
 * target_sp from a handler at here_sp.  The stack grows down: a level
 * entered after the jump's target was saved lies below it.  A level on a
 * signal stack (sigaltstack) that the jump leaves is left whatever the
 * addresses. */
static bool st_level_left(uintptr_t sp, uintptr_t target_sp, const stack_t *alt)
{
	bool alt_on = alt->ss_flags & SS_ONSTACK;
	uintptr_t lo = (uintptr_t)alt->ss_sp, hi = lo + alt->ss_size;
	bool level_alt = alt_on && sp >= lo && sp < hi;
	bool target_alt = alt_on && target_sp >= lo && target_sp < hi;
	if (level_alt != target_alt)
		return level_alt;
	return sp < target_sp;
}

void st_record_jumped(uintptr_t target_sp)
{
	uint32_t depth = st_self.depth;
	if (ST_LIKELY(depth == 0 && !st_self.in_section))
		return;
	stack_t alt = {0};
	sigaltstack(NULL, &alt);
	if (st_self.in_section && st_level_left(st_self.section_sp, target_sp, &alt)) {
		/* no lock to give back: libunwind and the module scan block
		 * signals while dl_iterate_phdr holds the loader's */
		if (st_core_hooks.section_left)
			st_core_hooks.section_left();
		st_self.in_section = false;
	}
	uint32_t levels = depth < ST_DEPTHS ? depth : ST_DEPTHS;
	uint32_t keep = depth;
	for (uint32_t d = 0; d < levels && keep == depth; d++)
		if (st_level_left(st_self.level_sp[d], target_sp, &alt))
			keep = d;
	for (uint32_t d = keep; d < levels; d++) {
		st_cursor_abandon(&st_self.cursor[d]);
		st_cursor_abandon(&st_self.meta[d]);
	}
	st_self.depth = keep;
}
