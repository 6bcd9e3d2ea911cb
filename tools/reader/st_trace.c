/* Trace parsing: every length is checked against its container before use, so
 * a truncated, corrupt or foreign file yields an error message, never a crash. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "st_xalloc.h"
#include "st_decode.h"
#include "st_trace.h"

const char *st_op_name(uint8_t op)
{
	static const char *const names[] = {
		[ST_OP_CONNECT] = "connect",         [ST_OP_ACCEPT] = "accept",
		[ST_OP_ACCEPT4] = "accept4",         [ST_OP_GETSOCKNAME] = "getsockname",
		[ST_OP_GETPEERNAME] = "getpeername", [ST_OP_HELD] = "held",
	};
	return op < sizeof names / sizeof names[0] && names[op] ? names[op] : NULL;
}

int st_ev_cmp(const void *a, const void *b)
{
	const struct st_ev *x = a, *y = b;
	if (x->ts != y->ts)
		return x->ts < y->ts ? -1 : 1;
	if (x->file != y->file)
		return x->file < y->file ? -1 : 1;
	return x->offset < y->offset ? -1 : x->offset > y->offset;
}

static int st_fail(struct st_trace *t, uint64_t offset, const char *fmt, ...)
{
	char msg[400];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	snprintf(t->error, sizeof t->error, "offset %llu: %s", (unsigned long long)offset, msg);
	return -1;
}

void *st_grow(void *array, size_t *cap, size_t need, size_t elem)
{
	if (need <= *cap)
		return array;
	size_t n = *cap ? *cap * 2 : 256;
	while (n < need)
		n *= 2;
	void *p = st_xrealloc(array, n, elem);
	*cap = n;
	return p;
}

static uint64_t st_u64(const uint8_t *p)
{
	uint64_t v;
	memcpy(&v, p, sizeof v);
	return v;
}

static int st_why(char *why, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(why, ST_WHY, fmt, ap);
	va_end(ap);
	return -1;
}

int st_decode_event(const uint8_t *p, uint32_t len, struct st_ev *ev, char *why)
{
	struct st_event e;
	if (len < sizeof e)
		return st_why(why, "event record too short (%u bytes)", len);
	memcpy(&e, p, sizeof e);
	if (e.local_len > ST_ADDR_MAX || e.peer_len > ST_ADDR_MAX || e.nframes > ST_FRAMES_MAX)
		return st_why(why, "event record has impossible sizes (local %u, peer %u, frames %u)",
			      e.local_len, e.peer_len, e.nframes);
	uint32_t want = sizeof e + ST_ALIGN8(e.local_len) + ST_ALIGN8(e.peer_len) +
			8u * e.nframes;
	if (want != len)
		return st_why(why, "event record length %u does not match its contents (%u)", len,
			      want);
	if (st_op_name(e.op) == NULL)
		return st_why(why, "event record has unknown call number %u", e.op);
	const uint8_t *q = p + sizeof e;
	*ev = (struct st_ev){
		.ts = e.ts_ns, .pid = e.pid, .tid = e.tid, .fd = e.fd, .ret = e.ret,
		.err = e.err, .listen_fd = e.listen_fd, .op = e.op, .flags = e.flags,
		.nframes = e.nframes,
	};
	ev->local = (struct st_endpoint){.at = e.local_len ? q : NULL, .len = e.local_len};
	q += ST_ALIGN8(e.local_len);
	ev->peer = (struct st_endpoint){.at = e.peer_len ? q : NULL, .len = e.peer_len};
	q += ST_ALIGN8(e.peer_len);
	ev->frames = (const uint64_t *)q;
	return 0;
}

int st_decode_context(const uint8_t *p, uint32_t len, struct st_ctx *ctx, char *why)
{
	struct st_context r;
	if (len != sizeof r)
		return st_why(why, "context record of %u bytes (not %zu)", len, sizeof r);
	memcpy(&r, p, sizeof r);
	*ctx = (struct st_ctx){.valid = true, .base = r.ts_ns, .pid = r.pid, .tid = r.tid};
	return 0;
}

/* An IPv4 end of a short event as the 8-byte sockaddr_in an event record
 * holds (family, port, address; no sin_zero), in the endpoint's own bytes.
 * Every field is set: no zeroing first (this runs once per event read). */
static void st_short_endpoint(struct st_endpoint *ep, bool present, uint16_t port, uint32_t addr)
{
	ep->at = NULL;
	ep->len = present ? ST_INET_SHORT_LEN : 0;
	uint16_t family = AF_INET;
	memcpy(ep->inl, &family, 2);
	memcpy(ep->inl + 2, &port, 2);
	memcpy(ep->inl + 4, &addr, 4);
}

int st_decode_short_event(const uint8_t *p, uint32_t len, const struct st_ctx *ctx,
			  struct st_ev *ev, char *why)
{
	struct st_short_event e;
	if (len != sizeof e)
		return st_why(why, "short event of %u bytes (not %zu)", len, sizeof e);
	if (ctx == NULL || !ctx->valid)
		return st_why(why, "short event without a context record before it in its chunk");
	memcpy(&e, p, sizeof e);
	if (st_op_name(e.op) == NULL || e.op == ST_OP_HELD)
		return st_why(why, "short event has unknown call number %u", e.op);
	if (e.ends & ~(ST_SHORT_LOCAL | ST_SHORT_PEER))
		return st_why(why, "short event has unknown ends 0x%x", e.ends);
	int fd = (int)e.fd1 - 1;
	bool accept = e.op == ST_OP_ACCEPT || e.op == ST_OP_ACCEPT4;
	/* field by field: a compound literal would zero the whole event first */
	ev->ts = ctx->base + e.dt_ns;
	ev->pid = ctx->pid;
	ev->tid = ctx->tid;
	ev->fd = fd;
	ev->ret = e.err ? -1 : accept ? fd : 0;
	ev->err = e.err;
	ev->listen_fd = (int)e.listen_fd1 - 1;
	ev->op = e.op;
	ev->flags = e.flags;
	ev->nframes = 0;
	ev->frames = NULL;
	ev->file = 0;
	ev->offset = 0;
	st_short_endpoint(&ev->local, e.ends & ST_SHORT_LOCAL, e.local_port, e.local_addr);
	st_short_endpoint(&ev->peer, e.ends & ST_SHORT_PEER, e.peer_port, e.peer_addr);
	return 0;
}

int st_decode_pycode(const uint8_t *p, uint32_t len, struct st_pyc *c, char *why)
{
	struct st_pycode r;
	if (len < sizeof r)
		return st_why(why, "Python code record too short (%u bytes)", len);
	memcpy(&r, p, sizeof r);
	uint32_t want = ST_ALIGN8(sizeof r + r.file_len + r.name_len + r.table_len);
	if (want != len)
		return st_why(why, "Python code record length %u does not match its contents (%u)",
			      len, want);
	if (r.code & ST_FRAME_PY)
		return st_why(why, "Python code record has an impossible address 0x%llx",
			      (unsigned long long)r.code);
	const char *s = (const char *)p + sizeof r;
	*c = (struct st_pyc){
		.ts = r.ts_ns, .code = r.code, .pid = r.pid, .firstlineno = r.firstlineno,
		.file = s, .file_len = r.file_len, .name = s + r.file_len, .name_len = r.name_len,
		.table = (const uint8_t *)s + r.file_len + r.name_len, .table_len = r.table_len,
		.flags = r.flags, .version = r.version,
	};
	return 0;
}

int st_decode_jitsym(const uint8_t *p, uint32_t len, struct st_jit *j, char *why)
{
	struct st_jitsym r;
	if (len < sizeof r)
		return st_why(why, "JIT symbol record too short (%u bytes)", len);
	memcpy(&r, p, sizeof r);
	if (ST_ALIGN8(sizeof r + r.name_len) != len)
		return st_why(why, "JIT symbol record length %u does not match its name (%u bytes)",
			      len, r.name_len);
	*j = (struct st_jit){.ts = r.ts_ns, .start = r.start, .size = r.size, .pid = r.pid,
			     .name = (const char *)p + sizeof r, .name_len = r.name_len};
	return 0;
}

int st_decode_process(const uint8_t *p, uint32_t len, struct st_proc *pr, char *why)
{
	struct st_process r;
	if (len < sizeof r)
		return st_why(why, "process record too short (%u bytes)", len);
	memcpy(&r, p, sizeof r);
	uint32_t want = ST_ALIGN8(sizeof r + r.exe_len + r.cmd_len + r.host_len);
	if (want != len)
		return st_why(why, "process record length %u does not match its contents (%u)", len,
			      want);
	const char *s = (const char *)p + sizeof r;
	*pr = (struct st_proc){
		.ts = r.ts_ns, .pid = r.pid, .ppid = r.ppid,
		.exe = s, .exe_len = r.exe_len,
		.cmd = s + r.exe_len, .cmd_len = r.cmd_len,
		.host = s + r.exe_len + r.cmd_len, .host_len = r.host_len,
		.flags = r.flags,
	};
	return 0;
}

int st_decode_module(const uint8_t *p, uint32_t len, struct st_mod *m, char *why)
{
	struct st_module r;
	if (len < sizeof r)
		return st_why(why, "module record too short (%u bytes)", len);
	memcpy(&r, p, sizeof r);
	uint32_t want = ST_ALIGN8(sizeof r + r.build_id_len + r.path_len);
	if (want != len)
		return st_why(why, "module record length %u does not match its contents (%u)", len,
			      want);
	if (r.build_id_len > ST_BUILD_ID_MAX || r.lo > r.hi)
		return st_why(why, "module record has impossible values (build-id %u bytes, "
				   "range 0x%llx-0x%llx)",
			      r.build_id_len, (unsigned long long)r.lo, (unsigned long long)r.hi);
	const uint8_t *q = p + sizeof r;
	*m = (struct st_mod){
		.ts = r.ts_ns, .pid = r.pid, .flags = r.flags, .bias = r.bias, .lo = r.lo,
		.hi = r.hi, .build_id = q, .build_id_len = r.build_id_len,
		.path = (const char *)q + r.build_id_len, .path_len = r.path_len,
	};
	return 0;
}

static int st_result_check(const struct st_result *r, char *why)
{
	if (r->learned < ST_LEARNED_SO_ERROR || r->learned > ST_LEARNED_RETURNED)
		return st_why(why, "result record learned in an unknown way (%u)", r->learned);
	return 0;
}

int st_decode_result(const uint8_t *p, uint32_t len, struct st_result *r, char *why)
{
	if (len != sizeof *r)
		return st_why(why, "result record of %u bytes, not %zu", len, sizeof *r);
	memcpy(r, p, sizeof *r);
	return st_result_check(r, why);
}

int st_decode_short_result(const uint8_t *p, uint32_t len, const struct st_ctx *ctx,
			   struct st_result *r, char *why)
{
	struct st_short_result s;
	if (len != sizeof s)
		return st_why(why, "short result of %u bytes (not %zu)", len, sizeof s);
	if (ctx == NULL || !ctx->valid)
		return st_why(why, "short result without a context record before it in its chunk");
	memcpy(&s, p, sizeof s);
	if (s.fd1 == 0 || s.pad[0] || s.pad[1] || s.pad[2])
		return st_why(why, "short result has impossible values (fd+1 %u)", s.fd1);
	*r = (struct st_result){.word = ST_REC_WORD(sizeof *r, ST_REC_RESULT),
				.ts_ns = ctx->base + s.dt_ns, .pid = ctx->pid, .tid = ctx->tid,
				.fd = (int32_t)s.fd1 - 1, .err = s.err, .latency_ns = s.latency_ns,
				.learned = s.learned, .flags = s.flags,
				.handshake_us = s.handshake_us};
	return st_result_check(r, why);
}

/* A ring's close record may end with the connection's endpoints. */
static int st_decode_close_ends(const uint8_t *p, uint32_t len, struct st_endpoint ends[2],
				char *why)
{
	struct st_close_ends x;
	if (len < sizeof(struct st_close) + sizeof x)
		return st_why(why, "close record of %u bytes, not %zu", len, sizeof(struct st_close));
	memcpy(&x, p + sizeof(struct st_close), sizeof x);
	const uint8_t *q = p + sizeof(struct st_close) + sizeof x;
	if (x.local_len > ST_ADDR_MAX || x.peer_len > ST_ADDR_MAX ||
	    len != sizeof(struct st_close) + sizeof x + ST_ALIGN8(x.local_len) +
			   ST_ALIGN8(x.peer_len))
		return st_why(why, "close record length %u does not match its endpoints", len);
	if (ends != NULL) {
		ends[0] = (struct st_endpoint){.at = x.local_len ? q : NULL, .len = x.local_len};
		q += ST_ALIGN8(x.local_len);
		ends[1] = (struct st_endpoint){.at = x.peer_len ? q : NULL, .len = x.peer_len};
	}
	return 0;
}

static int st_close_check(const struct st_close *c, char *why)
{
	if (c->how < ST_END_CLOSE || c->how > ST_END_EXIT || c->role < ST_ROLE_CLIENT ||
	    c->role > ST_ROLE_INHERITED)
		return st_why(why, "close record has impossible values (how %u, role %u)", c->how,
			      c->role);
	return 0;
}

int st_decode_close(const uint8_t *p, uint32_t len, struct st_close *c, struct st_endpoint ends[2],
		    char *why)
{
	if (ends != NULL)
		ends[0] = ends[1] = (struct st_endpoint){.at = NULL, .len = 0};
	/* version 2's close records end before bytes_sent; a ring's may carry
	 * the endpoints after it */
	if (len > sizeof *c && st_decode_close_ends(p, len, ends, why) < 0)
		return -1;
	if (len < sizeof *c && len != ST_CLOSE_V2_SIZE)
		return st_why(why, "close record of %u bytes, not %zu", len, sizeof *c);
	memset(c, 0, sizeof *c);
	memcpy(c, p, len < sizeof *c ? len : sizeof *c);
	if (len == ST_CLOSE_V2_SIZE)
		c->flags &= (uint8_t)~ST_CLOSE_SENT;
	return st_close_check(c, why);
}

int st_decode_short_close(const uint8_t *p, uint32_t len, const struct st_ctx *ctx,
			  struct st_close *c, struct st_endpoint ends[2], char *why)
{
	struct st_short_close s;
	struct st_short_close_ends e;
	if (len != sizeof s && len != sizeof s + sizeof e)
		return st_why(why, "short close of %u bytes (not %zu or %zu)", len, sizeof s,
			      sizeof s + sizeof e);
	if (ends != NULL) {
		bool with_ends = len == sizeof s + sizeof e;
		if (with_ends)
			memcpy(&e, p + sizeof s, sizeof e);
		st_short_endpoint(&ends[0], with_ends, with_ends ? e.local_port : 0,
				  with_ends ? e.local_addr : 0);
		st_short_endpoint(&ends[1], with_ends, with_ends ? e.peer_port : 0,
				  with_ends ? e.peer_addr : 0);
	}
	if (ctx == NULL || !ctx->valid)
		return st_why(why, "short close without a context record before it in its chunk");
	memcpy(&s, p, sizeof s);
	if (s.fd1 == 0 || s.pad != 0)
		return st_why(why, "short close has impossible values (fd+1 %u, pad %u)", s.fd1,
			      s.pad);
	*c = (struct st_close){
		.word = ST_REC_WORD(sizeof *c, ST_REC_CLOSE), .ts_ns = ctx->base + s.dt_ns,
		.pid = ctx->pid, .tid = ctx->tid, .fd = (int32_t)s.fd1 - 1, .how = s.how,
		.role = s.role, .flags = s.flags, .tcp_state = s.tcp_state, .age_ns = s.age_ns,
		.bytes_acked = s.bytes_acked, .bytes_received = s.bytes_received,
		.rtt_us = s.rtt_us, .retrans = s.retrans, .shut_how = s.shut_how,
		.bytes_sent = s.bytes_sent};
	return st_close_check(c, why);
}

int st_decode_resolve(const uint8_t *p, uint32_t len, struct st_res *r, char *why)
{
	struct st_resolve x;
	if (len < sizeof x)
		return st_why(why, "resolve record too short (%u bytes)", len);
	memcpy(&x, p, sizeof x);
	uint32_t strings = ST_ALIGN8((uint32_t)x.name_len + x.serv_len);
	if (x.naddrs > ST_RESOLVE_ADDRS_MAX ||
	    len != sizeof x + strings + (uint32_t)x.naddrs * sizeof(struct st_resolved))
		return st_why(why, "resolve record length %u does not match its contents", len);
	const char *q = (const char *)p + sizeof x;
	*r = (struct st_res){.ts = x.ts_ns, .pid = x.pid, .tid = x.tid, .result = x.result,
			     .call = x.call, .name = q, .name_len = x.name_len,
			     .serv = q + x.name_len, .serv_len = x.serv_len, .naddrs = x.naddrs,
			     .addrs = (const struct st_resolved *)(q + strings)};
	return 0;
}

int st_decode_peer(const uint8_t *p, uint32_t len, struct st_peer *r, char *why)
{
	if (len != sizeof *r)
		return st_why(why, "peer record of %u bytes, not %zu", len, sizeof *r);
	memcpy(r, p, sizeof *r);
	return 0;
}

int st_decode_note(const uint8_t *p, uint32_t len, struct st_note *n, char *why)
{
	if (len != sizeof *n)
		return st_why(why, "note record of %u bytes, not %zu", len, sizeof *n);
	memcpy(n, p, sizeof *n); /* a kind this reader does not know is shown as a number */
	return 0;
}

int st_decode_word(uint64_t w, uint64_t off, uint64_t chunk_end, uint64_t size, uint32_t *len,
		   char *why)
{
	if (w == 0)
		return 0;
	*len = ST_REC_LEN(w);
	if (ST_REC_MARK_OF(w) != ST_REC_MARK)
		return st_why(why, "corrupt record (bad marker 0x%04x)", ST_REC_MARK_OF(w));
	if (*len < 8 || *len % 8 != 0)
		return st_why(why, "corrupt record (length %u)", *len);
	if (off + *len > size)
		return st_why(why, "record of %u bytes runs past the end of the file (%llu bytes): "
				   "truncated file", *len, (unsigned long long)size);
	if (off + *len > chunk_end)
		return st_why(why, "record of %u bytes runs past the end of its chunk", *len);
	return 1;
}

static bool st_all_zero(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i])
			return false;
	return true;
}

static int st_ring_header(const struct st_header *h, struct st_header_info *info,
			  uint64_t *err_off, char *why);

int st_decode_header(const uint8_t *head, uint64_t size, struct st_header_info *info,
		     uint64_t *err_off, char *why)
{
	struct st_header h;
	memset(info, 0, sizeof *info);
	size_t avail = size < ST_HEADER_SIZE ? (size_t)size : ST_HEADER_SIZE;
	*err_off = 0;
	/* A writer killed between creating the file and writing its header
	 * leaves it empty (or zero): a trace with no events, which the next
	 * writer takes over as a fresh file. */
	if (st_all_zero(head, avail)) {
		info->unwritten = true;
		info->content_end = ST_HEADER_SIZE;
		return 0;
	}
	if (size < ST_MAGIC_LEN || memcmp(head, ST_MAGIC, ST_MAGIC_LEN) != 0)
		return st_why(why, "not a socktrace trace (bad magic)");
	if (size < sizeof h) {
		*err_off = size;
		return st_why(why, "file ends inside the trace header (%llu of %zu bytes)",
			      (unsigned long long)size, sizeof h);
	}
	memcpy(&h, head, sizeof h);
	*err_off = 8;
	if (h.version > ST_VERSION)
		return st_why(why, "trace format version %u is newer than this reader's (%u)",
			      h.version, ST_VERSION);
	if (h.version < ST_VERSION_OLDEST)
		return st_why(why, "unknown trace format version %u", h.version);
	*err_off = 12;
	if (h.header_size != ST_HEADER_SIZE || h.chunk_size != ST_CHUNK_SIZE)
		return st_why(why, "header lies about its layout (header %u, chunk %u bytes)",
			      h.header_size, h.chunk_size);
	uint64_t chunks = h.next_chunk & ~ST_SEALED;
	*err_off = 24;
	if (h.capacity < ST_HEADER_SIZE || (h.next_chunk >> 62) > 1 ||
	    chunks % ST_CHUNK_SIZE != 0)
		return st_why(why, "header lies about its size (capacity %llu, chunks %llu)",
			      (unsigned long long)h.capacity, (unsigned long long)chunks);
	info->jit = h.version >= 5 && (h.flags & ST_HDR_JIT);
	if (h.flags & ST_HDR_MONOTONIC) {
		info->clock_offset_ns = h.clock_offset_ns;
		memcpy(info->boot_id, h.boot_id, sizeof info->boot_id);
		info->boot_id[sizeof info->boot_id - 1] = '\0';
	}
	if (h.version >= 4 && (h.flags & ST_HDR_RING))
		return st_ring_header(&h, info, err_off, why);
	/* No chunk handed out yet: the header alone is a whole trace. */
	info->content_end = chunks ? ST_HEADER_SIZE + chunks : size;
	if (info->content_end > h.capacity)
		info->content_end = h.capacity;
	info->dropped = h.dropped;
	info->exit_dropped = h.exit_dropped;
	info->dropped_records = h.version >= 3 ? h.dropped_records : 0;
	info->unfollowed = h.version >= 3 ? h.unfollowed : 0;
	info->version = h.version;
	return 0;
}

/* A ring's header: its chunks lie over the whole ring, whatever was handed out. */
static int st_ring_header(const struct st_header *h, struct st_header_info *info,
			  uint64_t *err_off, char *why)
{
	uint64_t ring_end = h->ring_base + (uint64_t)h->ring_chunks * ST_CHUNK_SIZE;
	*err_off = offsetof(struct st_header, ring_base);
	if (h->ring_chunks < 1 || h->meta_chunks < 1 ||
	    h->ring_base != ST_HEADER_SIZE + (uint64_t)h->meta_chunks * ST_CHUNK_SIZE ||
	    ring_end > h->capacity || h->meta_next > (uint64_t)h->meta_chunks * ST_CHUNK_SIZE)
		return st_why(why, "header lies about its ring (base %llu, %u chunks, %u metadata)",
			      (unsigned long long)h->ring_base, h->ring_chunks, h->meta_chunks);
	info->ring = true;
	info->ring_base = h->ring_base;
	info->ring_chunks = h->ring_chunks;
	info->meta_chunks = h->meta_chunks;
	info->ring_handed = (h->next_chunk & ~ST_SEALED) / ST_CHUNK_SIZE;
	info->overwritten = h->overwritten;
	info->overwritten_records = h->overwritten_records;
	/* nothing handed out yet: the header alone is a whole trace (its
	 * writer may have been killed before making the file its size) */
	info->content_end = info->ring_handed ? ring_end
			    : h->meta_next ? ST_HEADER_SIZE + h->meta_next : ST_HEADER_SIZE;
	info->dropped = h->dropped;
	info->exit_dropped = h->exit_dropped;
	info->dropped_records = h->dropped_records;
	info->unfollowed = h->unfollowed;
	info->version = h->version;
	return 0;
}

int st_ring_chunk_seq(const uint8_t *chunk, size_t avail, uint32_t ring_chunks, uint64_t handed,
		      uint64_t *seq)
{
	struct st_chunk_rec r;
	if (avail < sizeof r)
		return 0;
	memcpy(&r, chunk, sizeof r);
	if (r.word != ST_REC_WORD(sizeof r, ST_REC_CHUNK))
		return r.word == 0 ? 0 : -1;
	if (r.seq == 0 || (r.seq & ST_SEQ_BUSY))
		return 0;
	/* its slot came round and its writer no longer holds it (given back,
	 * to be retired, or being claimed for reuse): older than the window */
	if (r.owner != r.writer && r.seq + ring_chunks <= handed)
		return 0;
	*seq = r.seq;
	return 1;
}

static int st_fail_why(struct st_trace *t, uint64_t offset, const char *why)
{
	return st_fail(t, offset, "%s", why);
}

/* Parses one chunk; a zero commit word ends it (the rest was never written). */
static int st_parse_chunk(struct st_trace *t, uint64_t start, uint64_t end, uint32_t index)
{
	char why[ST_WHY];
	struct st_ctx ctx = {0};
	for (uint64_t off = start; off + 8 <= end;) {
		uint32_t len = 0;
		uint64_t w = st_u64(t->data + off);
		int rc = st_decode_word(w, off, end, t->size, &len, why);
		if (rc <= 0)
			return rc < 0 ? st_fail_why(t, off, why) : 0;
		const uint8_t *p = t->data + off;
		switch (ST_REC_TYPE(w)) {
		case ST_REC_EVENT:
			t->evs = st_grow(t->evs, &t->evs_cap, t->nevs + 1, sizeof *t->evs);
			rc = st_decode_event(p, len, &t->evs[t->nevs], why);
			if (rc == 0) {
				t->evs[t->nevs].file = index;
				t->evs[t->nevs++].offset = off;
			}
			break;
		case ST_REC_SHORT_EVENT:
			t->evs = st_grow(t->evs, &t->evs_cap, t->nevs + 1, sizeof *t->evs);
			rc = st_decode_short_event(p, len, &ctx, &t->evs[t->nevs], why);
			if (rc == 0) {
				t->evs[t->nevs].file = index;
				t->evs[t->nevs++].offset = off;
			}
			break;
		case ST_REC_CONTEXT:
			rc = st_decode_context(p, len, &ctx, why);
			break;
		case ST_REC_JITSYM:
			t->jits = st_grow(t->jits, &t->jits_cap, t->njits + 1, sizeof *t->jits);
			rc = st_decode_jitsym(p, len, &t->jits[t->njits], why);
			t->njits += rc == 0;
			break;
		case ST_REC_PYCODE:
			t->pycodes = st_grow(t->pycodes, &t->pycodes_cap, t->npycodes + 1,
					     sizeof *t->pycodes);
			rc = st_decode_pycode(p, len, &t->pycodes[t->npycodes], why);
			t->npycodes += rc == 0;
			break;
		case ST_REC_PROCESS:
			t->procs = st_grow(t->procs, &t->procs_cap, t->nprocs + 1, sizeof *t->procs);
			rc = st_decode_process(p, len, &t->procs[t->nprocs], why);
			if (rc == 0)
				t->procs[t->nprocs++].file = index;
			break;
		case ST_REC_MODULE:
			t->mods = st_grow(t->mods, &t->mods_cap, t->nmods + 1, sizeof *t->mods);
			rc = st_decode_module(p, len, &t->mods[t->nmods], why);
			if (rc == 0)
				t->mods[t->nmods++].file = index;
			break;
		case ST_REC_RESULT:
			t->results = st_grow(t->results, &t->results_cap, t->nresults + 1,
					     sizeof *t->results);
			rc = st_decode_result(p, len, &t->results[t->nresults], why);
			t->nresults += rc == 0;
			break;
		case ST_REC_CLOSE:
			t->closes = st_grow(t->closes, &t->closes_cap, t->ncloses + 1, sizeof *t->closes);
			rc = st_decode_close(p, len, &t->closes[t->ncloses], NULL, why);
			t->ncloses += rc == 0;
			break;
		case ST_REC_SHORT_RESULT:
			t->results = st_grow(t->results, &t->results_cap, t->nresults + 1,
					     sizeof *t->results);
			rc = st_decode_short_result(p, len, &ctx, &t->results[t->nresults], why);
			t->nresults += rc == 0;
			break;
		case ST_REC_SHORT_CLOSE:
			t->closes = st_grow(t->closes, &t->closes_cap, t->ncloses + 1, sizeof *t->closes);
			rc = st_decode_short_close(p, len, &ctx, &t->closes[t->ncloses], NULL, why);
			t->ncloses += rc == 0;
			break;
		case ST_REC_PEER:
			t->peers = st_grow(t->peers, &t->peers_cap, t->npeers + 1, sizeof *t->peers);
			rc = st_decode_peer(p, len, &t->peers[t->npeers], why);
			t->npeers += rc == 0;
			break;
		case ST_REC_NOTE:
			t->notes = st_grow(t->notes, &t->notes_cap, t->nnotes + 1, sizeof *t->notes);
			rc = st_decode_note(p, len, &t->notes[t->nnotes], why);
			t->nnotes += rc == 0;
			break;
		case ST_REC_RESOLVE:
			t->resolves = st_grow(t->resolves, &t->resolves_cap, t->nresolves + 1,
					      sizeof *t->resolves);
			rc = st_decode_resolve(p, len, &t->resolves[t->nresolves], why);
			t->nresolves += rc == 0;
			break;
		case ST_REC_PAD:
		case ST_REC_CHUNK: /* read by st_parse_ring_chunk */
			break; /* room a writer never filled: nothing to read */
		default:
			snprintf(t->warning, sizeof t->warning,
				 "offset %llu: unknown record type %u (%u bytes) skipped",
				 (unsigned long long)off, ST_REC_TYPE(w), len);
		}
		if (rc < 0)
			return st_fail_why(t, off, why);
		off += len;
	}
	return 0;
}

static int st_parse_header(struct st_trace *t, uint64_t *content_end)
{
	struct st_header_info info;
	uint64_t err_off;
	char why[ST_WHY];
	if (st_decode_header(t->data, t->size, &info, &err_off, why) < 0)
		return st_fail_why(t, err_off, why);
	if (info.unwritten) {
		t->unwritten = true;
		snprintf(t->warning, sizeof t->warning, "%s", ST_UNWRITTEN_NOTE);
		return 1;
	}
	*content_end = info.content_end;
	t->ring = info.ring;
	t->ring_base = info.ring_base;
	t->ring_chunks = info.ring_chunks;
	t->ring_handed = info.ring_handed;
	t->overwritten = info.overwritten;
	t->overwritten_records = info.overwritten_records;
	t->dropped = info.dropped;
	t->exit_dropped = info.exit_dropped;
	t->dropped_records = info.dropped_records;
	t->unfollowed = info.unfollowed;
	return 0;
}

/* Takes ownership of data. */
static int st_parse_owned(struct st_trace *t, uint8_t *data, size_t size, uint32_t index)
{
	t->data = data;
	t->size = size;
	uint64_t end;
	int hdr = st_parse_header(t, &end);
	if (hdr != 0)
		return hdr < 0 ? -1 : 0;
	uint64_t avail = end < t->size ? end : t->size;
	for (uint64_t chunk = ST_HEADER_SIZE; chunk < avail; chunk += ST_CHUNK_SIZE) {
		uint64_t chunk_end = chunk + ST_CHUNK_SIZE < avail ? chunk + ST_CHUNK_SIZE : avail;
		uint64_t first = chunk;
		if (t->ring && chunk >= t->ring_base) {
			uint64_t seq;
			int rc = st_ring_chunk_seq(t->data + chunk, chunk_end - chunk, t->ring_chunks,
						   t->ring_handed, &seq);
			if (rc < 0)
				return st_fail(t, chunk, "corrupt ring chunk record");
			if (rc == 0)
				continue; /* unused, or being cleared for reuse */
			first += sizeof(struct st_chunk_rec);
		}
		if (st_parse_chunk(t, first, chunk_end, index) < 0)
			return -1;
	}
	if (end > t->size)
		return st_fail(t, t->size, "file ends before the %llu bytes its header announces: "
					   "truncated file", (unsigned long long)end);
	return 0;
}

int st_trace_parse(struct st_trace *t, const uint8_t *data, size_t size, uint32_t index)
{
	memset(t, 0, sizeof *t);
	uint8_t *copy = st_xmalloc(size);
	memcpy(copy, data, size);
	return st_parse_owned(t, copy, size, index);
}

static int st_read_all(const char *path, uint8_t **out, size_t *size, char *err, size_t errlen)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) < 0) {
		snprintf(err, errlen, "%s", strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	if (!S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "not a regular file (%s)",
			 S_ISDIR(st.st_mode) ? "a directory" : S_ISFIFO(st.st_mode) ? "a FIFO" : "special");
		close(fd);
		return -1;
	}
	size_t cap = (size_t)st.st_size + 1, n = 0;
	uint8_t *buf = malloc(cap);
	ssize_t r = 0;
	while (buf && (r = read(fd, buf + n, cap - n)) > 0) {
		n += (size_t)r;
		if (n == cap) {
			uint8_t *bigger = realloc(buf, cap *= 2);
			if (bigger == NULL)
				free(buf);
			buf = bigger;
		}
	}
	int saved = errno;
	close(fd);
	if (buf == NULL || r < 0) {
		snprintf(err, errlen, "%s", buf ? strerror(saved) : "out of memory");
		free(buf);
		return -1;
	}
	*out = buf;
	*size = n;
	return 0;
}

/*
 * A ring's writers may reuse a chunk while it is read: the second half of
 * a seqlock.  Each ring chunk whose sequence number in the file is no
 * longer the one read is blanked in the copy (as if unused): none of its
 * records can be trusted to be of one generation.
 */
static void st_ring_settle(const char *path, uint8_t *buf, size_t size)
{
	struct st_header_info info;
	uint64_t err_off;
	char why[ST_WHY];
	if (st_decode_header(buf, size, &info, &err_off, why) < 0 || !info.ring)
		return;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0)
		return;
	for (uint64_t off = info.ring_base; off + sizeof(struct st_chunk_rec) <= size &&
					    off < info.content_end; off += ST_CHUNK_SIZE) {
		uint64_t now;
		if (pread(fd, &now, sizeof now, (off_t)(off + ST_CHUNK_SEQ_OFF)) != sizeof now ||
		    memcmp(&now, buf + off + ST_CHUNK_SEQ_OFF, sizeof now) != 0)
			memset(buf + off, 0, sizeof(struct st_chunk_rec));
	}
	close(fd);
}

int st_trace_load(struct st_trace *t, const char *path, uint32_t index)
{
	memset(t, 0, sizeof *t);
	t->path = strdup(path);
	uint8_t *buf;
	size_t size;
	if (st_read_all(path, &buf, &size, t->error, sizeof t->error) < 0)
		return -1;
	st_ring_settle(path, buf, size);
	return st_parse_owned(t, buf, size, index);
}

void st_trace_free(struct st_trace *t)
{
	free(t->path);
	free(t->data);
	free(t->evs);
	free(t->procs);
	free(t->mods);
	free(t->results);
	free(t->closes);
	free(t->resolves);
	free(t->peers);
	free(t->notes);
	free(t->pycodes);
	free(t->jits);
	memset(t, 0, sizeof *t);
}
