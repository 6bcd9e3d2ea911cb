/*
 * The flight recorder (SOCKTRACE_RING, socktrace --ring): a trace whose
 * ring chunks are reused oldest first, so the file never grows past its size
 * and always holds the newest events; process, module, resolve and peer
 * records go to a metadata area that is never overwritten, while it has room.
 *
 * Hazards, and what guards each:
 * - two writers in one chunk: a chunk is reused only when its owner (the
 *   tid in its chunk record) is 0, dead, or the caller; a live owner's chunk
 *   is passed over (counted in ring_skipped) and its sequence number lost;
 * - a reader mixing two generations: seq carries ST_SEQ_BUSY while the chunk
 *   is cleared, and changes when it is reused; readers check it before and
 *   after reading (a seqlock);
 * - a SIGKILL mid-reuse: the chunk stays busy (readers skip it) and its
 *   owner dead, so the next writer takes it;
 * - losing count: what a reused chunk held is counted into the header
 *   before it is cleared.
 * Everything here is async-signal-safe: atomics, memset, and on a collision
 * only, kill(0) and a read of /proc.
 */
#define _GNU_SOURCE
#include <string.h>

#include "st_core.h"

static uint64_t st_ring_slot_off(uint64_t seq)
{
	return st_trace.ring_base + (seq - 1) % st_trace.ring_chunks * ST_CHUNK_SIZE;
}

/* The next sequence number and the file offset of its slot.  An add, not a
 * compare-and-swap as in the append mode: a ring never refuses. */
void st_ring_next(uint64_t *off, uint64_t *seq)
{
	uint64_t handed = __atomic_fetch_add(&st_trace.hdr->next_chunk, ST_CHUNK_SIZE,
					     __ATOMIC_ACQ_REL);
	*seq = handed / ST_CHUNK_SIZE + 1;
	*off = st_ring_slot_off(*seq);
}

/* Counts the records of a chunk about to be cleared: they are overwritten. */
static void st_ring_count_lost(const char *chunk)
{
	uint64_t events = 0, others = 0;
	for (uint32_t off = sizeof(struct st_chunk_rec); off + 8 <= ST_CHUNK_SIZE;) {
		uint64_t w = __atomic_load_n((const uint64_t *)(chunk + off), __ATOMIC_ACQUIRE);
		uint32_t len = ST_REC_LEN(w);
		if (w == 0 || ST_REC_MARK_OF(w) != ST_REC_MARK || len < 8 || len % 8 ||
		    len > ST_CHUNK_SIZE - off)
			break;
		uint16_t type = ST_REC_TYPE(w);
		if (type == ST_REC_EVENT || type == ST_REC_SHORT_EVENT)
			events++;
		else if (type != ST_REC_PAD && type != ST_REC_CHUNK && type != ST_REC_CONTEXT)
			others++;
		off += len;
	}
	if (events)
		__atomic_fetch_add(&st_trace.hdr->overwritten, events, __ATOMIC_RELAXED);
	if (others)
		__atomic_fetch_add(&st_trace.hdr->overwritten_records, others, __ATOMIC_RELAXED);
}

/*
 * Takes the chunk at chunk (mapped, its pages allocated) for sequence seq:
 * false when a live thread other than me still writes it.  On success the
 * chunk holds only its chunk record, and me owns it.
 */
bool st_ring_claim(char *chunk, uint64_t seq, uint32_t me, uint64_t ts)
{
	uint32_t *owner = (uint32_t *)(chunk + ST_CHUNK_OWNER_OFF);
	uint64_t *seqp = (uint64_t *)(chunk + ST_CHUNK_SEQ_OFF);
	uint32_t held = __atomic_load_n(owner, __ATOMIC_ACQUIRE);
	uint32_t holder = held & ~ST_OWNER_CLAIMING;
	/* owned as "claiming" until the chunk is busy: the chunk's own
	 * writer reclaiming its slot must not look, for that moment, like
	 * the writer still holding its old events */
	if ((holder != 0 && holder != me && st_file_pid_alive(holder)) ||
	    !__atomic_compare_exchange_n(owner, &held, me | ST_OWNER_CLAIMING, false,
					 __ATOMIC_ACQ_REL, __ATOMIC_RELAXED)) {
		__atomic_fetch_add(&st_trace.hdr->ring_skipped, 1, __ATOMIC_RELAXED);
		return false;
	}
	uint64_t old = __atomic_load_n(seqp, __ATOMIC_ACQUIRE);
	if ((old & ~ST_SEQ_BUSY) > seq) {
		/* the ring went round while this thread was getting here: the
		 * chunk already holds newer events than it would */
		__atomic_store_n(owner, held, __ATOMIC_RELEASE);
		__atomic_fetch_add(&st_trace.hdr->ring_skipped, 1, __ATOMIC_RELAXED);
		return false;
	}
	__atomic_store_n(seqp, seq | ST_SEQ_BUSY, __ATOMIC_RELEASE);
	/* readers that saw the old seq must see it change before any byte
	 * of the chunk does */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (old != 0) {
		if (!(old & ST_SEQ_BUSY))
			st_ring_count_lost(chunk);
		memset(chunk + sizeof(struct st_chunk_rec), 0,
		       ST_CHUNK_SIZE - sizeof(struct st_chunk_rec));
	}
	struct st_chunk_rec *rec = (struct st_chunk_rec *)chunk;
	rec->ts_ns = ts;
	rec->writer = me;
	__atomic_store_n(&rec->word, ST_REC_WORD(sizeof *rec, ST_REC_CHUNK), __ATOMIC_RELEASE);
	__atomic_store_n(seqp, seq, __ATOMIC_RELEASE);
	__atomic_store_n(owner, me, __ATOMIC_RELEASE);
	return true;
}

/*
 * The thread is done with the chunk: another may reuse it.  A chunk whose
 * slot came round while this thread still held it (others skipped it) is
 * older than every chunk of the ring's window: kept, it would show older
 * events of this thread while newer ones were overwritten, a gap.  It is
 * retired instead: its records counted as overwritten, then marked busy,
 * which readers skip and the next claim clears without counting again.
 */
void st_ring_release(char *chunk, uint32_t me)
{
	uint32_t *owner = (uint32_t *)(chunk + ST_CHUNK_OWNER_OFF);
	uint64_t *seqp = (uint64_t *)(chunk + ST_CHUNK_SEQ_OFF);
	if (__atomic_load_n(owner, __ATOMIC_ACQUIRE) != me)
		return;
	uint64_t seq = __atomic_load_n(seqp, __ATOMIC_ACQUIRE);
	uint64_t handed = __atomic_load_n(&st_trace.hdr->next_chunk, __ATOMIC_ACQUIRE) /
			  ST_CHUNK_SIZE;
	if (seq != 0 && !(seq & ST_SEQ_BUSY) && seq + st_trace.ring_chunks <= handed) {
		__atomic_store_n(seqp, seq | ST_SEQ_BUSY, __ATOMIC_RELEASE);
		__atomic_thread_fence(__ATOMIC_SEQ_CST);
		st_ring_count_lost(chunk);
	}
	__atomic_store_n(owner, 0, __ATOMIC_RELEASE);
}

/* A chunk of the metadata area, handed out as the append mode does (a
 * compare-and-swap that leaves the counter alone when refused); false when
 * the area is full, and the caller writes to the ring instead. */
bool st_ring_meta_next(uint64_t *off)
{
	struct st_header *h = st_trace.hdr;
	uint64_t cur = __atomic_load_n(&h->meta_next, __ATOMIC_ACQUIRE);
	uint64_t size = (uint64_t)st_trace.meta_chunks * ST_CHUNK_SIZE;
	while (cur + ST_CHUNK_SIZE <= size) {
		if (__atomic_compare_exchange_n(&h->meta_next, &cur, cur + ST_CHUNK_SIZE, true,
						__ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
			*off = ST_HEADER_SIZE + cur;
			return true;
		}
	}
	return false;
}
