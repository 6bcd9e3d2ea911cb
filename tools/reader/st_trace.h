/* Reading trace files: load, validate and index records (socktrace-dump and tests). */
#ifndef ST_TRACE_H
#define ST_TRACE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../../shim/st_format.h"

/* An endpoint as recorded: a raw sockaddr of len bytes (0 = none), either
 * inside the loaded file (at) or, for a version-5 short event whose
 * endpoint is stored in 6 bytes, rebuilt here (at NULL): the bytes travel
 * with the struct when it is copied or sorted.  Read it through st_ep_sa. */
struct st_endpoint {
	const uint8_t *at;
	uint16_t len;
	uint8_t inl[ST_INET_SHORT_LEN];
};

static inline const uint8_t *st_ep_sa(const struct st_endpoint *ep)
{
	return ep->len == 0 ? NULL : ep->at != NULL ? ep->at : ep->inl;
}

struct st_ev {
	uint64_t ts;
	uint32_t pid, tid;
	int32_t fd, ret, err, listen_fd;
	uint8_t op, flags;
	uint16_t nframes;
	struct st_endpoint local, peer;
	const uint64_t *frames;
	uint32_t file; /* index of the trace it came from */
	uint64_t offset;
};

/* Set by the reader only, never in a file: a connection of a flight
 * recorder whose opening event was overwritten, made from its close (op
 * ST_OP_HELD; its time is the connection's start). */
#define ST_EV_BEFORE_WINDOW 0x80

/* Events that open a connection's end in the reader's views: a connect (not
 * a repeat), an accept that returned a socket, a socket held at an attach. */
static inline bool st_ev_opens_client(const struct st_ev *ev)
{
	return (ev->op == ST_OP_CONNECT && !(ev->flags & ST_EV_REPEAT)) ||
	       (ev->op == ST_OP_HELD && ev->listen_fd < 0);
}

static inline bool st_ev_is_accept(const struct st_ev *ev)
{
	return ev->op == ST_OP_ACCEPT || ev->op == ST_OP_ACCEPT4 ||
	       (ev->op == ST_OP_HELD && ev->listen_fd >= 0);
}

/* The fd a close's connection was opened on, where the views find it: its
 * own, unless its last copy closed on another (open_fd1, later writers). */
static inline int32_t st_close_fd(const struct st_close *c)
{
	return c->open_fd1 && c->open_fd1 <= INT32_MAX ? (int32_t)(c->open_fd1 - 1) : c->fd;
}

static inline bool st_ev_opens_server(const struct st_ev *ev)
{
	return st_ev_is_accept(ev) && ev->ret >= 0;
}

struct st_proc {
	uint64_t ts;
	uint32_t pid, ppid;
	const char *exe, *cmd, *host; /* not NUL-terminated */
	uint16_t exe_len, cmd_len, host_len;
	uint16_t flags; /* ST_PROC_* */
	uint32_t file;
};

struct st_mod {
	uint64_t ts;
	uint32_t pid;
	uint16_t flags;
	uint64_t bias, lo, hi;
	const uint8_t *build_id;
	uint8_t build_id_len;
	const char *path; /* not NUL-terminated */
	uint16_t path_len;
	uint32_t file;
};

/* A resolution (version 2): strings and addresses inside the record. */
struct st_res {
	uint64_t ts;
	uint32_t pid, tid;
	int32_t result;
	uint8_t call;
	const char *name, *serv; /* not NUL-terminated */
	uint16_t name_len, serv_len, naddrs;
	const struct st_resolved *addrs; /* maybe unaligned: copy before use */
};

/* A Python code record (version 5): strings and table inside the record. */
struct st_pyc {
	uint64_t ts, code;
	uint32_t pid;
	int32_t firstlineno;
	const char *file, *name; /* not NUL-terminated */
	uint16_t file_len, name_len;
	const uint8_t *table;
	uint16_t table_len, flags;
	uint32_t version;
};

/* A JIT symbol record (version 5): the name inside the record. */
struct st_jit {
	uint64_t ts, start, size;
	uint32_t pid;
	const char *name; /* not NUL-terminated */
	uint16_t name_len;
};

struct st_trace {
	char *path;
	uint8_t *data;
	size_t size;
	uint64_t dropped;
	uint64_t exit_dropped; /* events of threads still running after their process left */
	uint64_t dropped_records; /* results, closes, resolutions lost (version 3) */
	uint32_t unfollowed; /* connections whose ends the shim could not follow */
	bool unwritten;        /* empty or all-zero header: its writer died before writing it */
	/* version 4, flight-recorder mode */
	bool ring;
	uint64_t ring_base;
	uint32_t ring_chunks;
	uint64_t ring_handed; /* ring chunks ever taken, when the header was read */
	uint64_t overwritten, overwritten_records; /* lost to reuse */
	struct st_ev *evs;
	size_t nevs, evs_cap;
	struct st_proc *procs;
	size_t nprocs, procs_cap;
	struct st_mod *mods;
	size_t nmods, mods_cap;
	struct st_result *results; /* version 2, as written */
	size_t nresults, results_cap;
	struct st_close *closes;
	size_t ncloses, closes_cap;
	struct st_res *resolves;
	size_t nresolves, resolves_cap;
	struct st_peer *peers;
	size_t npeers, peers_cap;
	struct st_note *notes; /* processes the shim stopped recording */
	size_t nnotes, notes_cap;
	struct st_pyc *pycodes; /* version 5 */
	size_t npycodes, pycodes_cap;
	struct st_jit *jits; /* version 5 */
	size_t njits, jits_cap;
	char error[512];   /* first fatal problem, "" when the file is whole */
	char warning[512]; /* last skipped-record warning, "" when none */
};

#define ST_UNWRITTEN_NOTE \
	"no trace header yet (its writer was stopped before writing it, or is starting)"

/* Loads and parses path.  Returns 0 when the file is whole, -1 when it is
 * damaged: records before the damage are kept and error says what and where. */
int st_trace_load(struct st_trace *t, const char *path, uint32_t index);
/* Same, for bytes already in memory (copied). */
int st_trace_parse(struct st_trace *t, const uint8_t *data, size_t size, uint32_t index);
void st_trace_free(struct st_trace *t);

const char *st_op_name(uint8_t op);
/* array with room for need elements of elem bytes (doubling); exits with a
 * message when memory is out: the reader has nothing to fall back on */
void *st_grow(void *array, size_t *cap, size_t need, size_t elem);
/* Time order; ties broken by file, then position in the file. */
int st_ev_cmp(const void *a, const void *b);

#endif
