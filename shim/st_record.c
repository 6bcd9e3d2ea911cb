/*
 * Record writing.  Each thread appends to a chunk it reserved with one atomic
 * add on the shared header; a record becomes visible when its commit word is
 * stored with release semantics, so readers never see a torn record and a
 * SIGKILL loses only calls that had not returned.  A signal handler that
 * interrupts a record in progress uses the next depth's chunk: each depth is
 * owned by one nesting level, so no atomic is needed within a chunk.
 * Everything here is async-signal-safe: no malloc, no lock, no stdio.
 */
#define _GNU_SOURCE
#include <netinet/in.h>
#include <string.h>
#include <unistd.h>

#include "st_internal.h"

#define ST_DEPTHS 4

struct st_cursor {
	uint64_t pos; /* file offset of the next record; 0 = no chunk */
	uint64_t end;
};

struct st_thread {
	uint32_t tid;
	uint32_t depth;
	struct st_cursor cursor[ST_DEPTHS];
};

static __thread struct st_thread st_self ST_TLS;
static bool st_full;
static bool st_stopped;

void st_record_reset_thread(void)
{
	memset(&st_self, 0, sizeof st_self);
}

void st_record_stop(void)
{
	__atomic_store_n(&st_stopped, true, __ATOMIC_RELEASE);
}

static void st_count_dropped(void)
{
	__atomic_fetch_add(&st_trace.hdr->dropped, 1, __ATOMIC_RELAXED);
}

static bool st_cursor_refill(struct st_cursor *c)
{
	struct st_header *h = st_trace.hdr;
	for (int attempt = 0; attempt < 2; attempt++) {
		if (__atomic_load_n(&st_full, __ATOMIC_RELAXED))
			return false;
		uint64_t off = __atomic_fetch_add(&h->next_chunk, ST_CHUNK_SIZE, __ATOMIC_RELAXED);
		if (off & ST_SEALED) {
			if (!st_file_unseal())
				return false;
			continue;
		}
		if (ST_HEADER_SIZE + off + ST_CHUNK_SIZE > st_trace.capacity) {
			__atomic_store_n(&st_full, true, __ATOMIC_RELAXED);
			return false;
		}
		c->pos = ST_HEADER_SIZE + off;
		c->end = c->pos + ST_CHUNK_SIZE;
		return true;
	}
	return false;
}

/* Returns room for len bytes in the calling depth's chunk, or NULL. */
static char *st_reserve(struct st_cursor *c, uint32_t len)
{
	if (ST_UNLIKELY(c->pos == 0 || c->pos + len > c->end) && !st_cursor_refill(c))
		return NULL;
	char *p = st_trace.base + c->pos;
	c->pos += len;
	return p;
}

static void st_commit(char *p, uint32_t len, uint16_t type)
{
	__atomic_store_n((uint64_t *)p, ST_REC_WORD(len, type), __ATOMIC_RELEASE);
}

uint32_t st_tid(void)
{
	if (ST_UNLIKELY(st_self.tid == 0))
		st_self.tid = (uint32_t)gettid();
	return st_self.tid;
}

/* Enters a nesting level; returns its cursor or NULL when nested too deep. */
static struct st_cursor *st_enter(void)
{
	uint32_t depth = st_self.depth++;
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	return depth < ST_DEPTHS ? &st_self.cursor[depth] : NULL;
}

static void st_leave(void)
{
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	st_self.depth--;
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

bool st_record_busy(void)
{
	return st_self.depth != 0;
}

void st_record_event(uint8_t op, int fd, int listen_fd, const struct st_outcome *done,
		     const struct st_addr *local, const struct st_addr *peer, uint8_t flags,
		     const struct st_stack *stack)
{
	if (__atomic_load_n(&st_stopped, __ATOMIC_ACQUIRE))
		return;
	uint16_t llen = st_stored_len(local), plen = st_stored_len(peer);
	unsigned nframes = stack ? stack->n : 0;
	if (stack && stack->skipped)
		flags |= ST_EV_STACK_SKIPPED;
	if (nframes)
		st_modules_check(stack->ip, nframes, done->ts_ns);
	uint32_t tid = st_tid();
	struct st_cursor *c = st_enter();
	uint32_t len = sizeof(struct st_event) + ST_ALIGN8(llen) + ST_ALIGN8(plen) + 8u * nframes;
	char *p = c ? st_reserve(c, len) : NULL;
	if (p == NULL) {
		st_count_dropped();
		st_leave();
		return;
	}
	struct st_event *ev = (struct st_event *)p;
	ev->ts_ns = done->ts_ns;
	ev->pid = st_pid;
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
	st_commit(p, len, ST_REC_EVENT);
	st_leave();
}

static char *st_put_bytes(char *p, const char *s, size_t n)
{
	memcpy(p, s, n);
	return p + n;
}

void st_record_process(uint32_t ppid, const char *exe, size_t exe_len,
		       const char *cmd, size_t cmd_len, const char *host, size_t host_len)
{
	uint32_t len = ST_ALIGN8(sizeof(struct st_process) + exe_len + cmd_len + host_len);
	struct st_cursor *c = st_enter();
	char *p = c ? st_reserve(c, len) : NULL;
	if (p != NULL) {
		struct st_process *pr = (struct st_process *)p;
		pr->ts_ns = st_now_ns();
		pr->pid = st_pid;
		pr->ppid = ppid;
		pr->exe_len = (uint16_t)exe_len;
		pr->cmd_len = (uint16_t)cmd_len;
		pr->host_len = (uint16_t)host_len;
		char *q = st_put_bytes(p + sizeof *pr, exe, exe_len);
		st_put_bytes(st_put_bytes(q, cmd, cmd_len), host, host_len);
		st_commit(p, len, ST_REC_PROCESS);
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
	struct st_cursor *c = st_enter();
	char *p = c ? st_reserve(c, len) : NULL;
	if (p != NULL) {
		struct st_module *m = (struct st_module *)p;
		m->ts_ns = ts;
		m->pid = st_pid;
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
		st_commit(p, len, ST_REC_MODULE);
	}
	st_leave();
}
