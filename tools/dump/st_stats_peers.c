/*
 * --stats, per peer: how many connections went to each address dialled (by
 * the name the program resolved it from, when the trace has it) or came in at
 * each local address served, how many failed, the bytes they carried; and the
 * slowest connects.  Records arrive in time order: a connect before its result
 * and its close.  Memory is bounded by the peers (at most ST_PEERS_MAX rows,
 * then one row for the rest) and by the connections open at once.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

#include "st_xalloc.h"
#include "st_dump.h"
#include "st_endpoint.h"
#include "st_escape.h"
#include "st_stats_peers.h"

#define ST_PEERS_MAX 65536u
#define ST_KEY_MAX 112u

enum st_dir { ST_DIR_TO, ST_DIR_AT }; /* dialled by a traced program / served by one */

struct st_peer_row {
	uint8_t dir;
	uint8_t key_len;
	uint8_t key[ST_KEY_MAX]; /* the sockaddr, normalised (see st_key_of) */
	char name[96];           /* the name the address was dialled by, or "" */
	size_t conns, failed, with_bytes;
	uint64_t tx, rx;
};

/* A connection open now: which row it counts in, and when its connect returned. */
struct st_open {
	uint32_t file, pid;
	int32_t fd;
	uint32_t row;     /* index + 1 into rows; 0 = free slot */
	uint64_t done_ts; /* the connect's return (a blocking one: its end) */
	bool blocking_ok; /* connected by the connect call itself */
	bool in_progress; /* a connect that returned EINPROGRESS */
	bool has_result;
	bool have_child_close; /* a forked child (or a receiver) closed its copy first */
	struct st_close child_close;
	bool client;      /* opened by a connect */
	uint64_t tuple;   /* its ends' ports and low address bytes (st_tuple_of) */
	uint32_t carries; /* copies passed to other processes, not closed yet */
	bool own_closed;  /* closed here while a passed copy lives on */
};

/* A copy of a socket passed to another process (SCM_RIGHTS: node's cluster
 * master hands every accepted connection to a worker): the receiver's
 * (file, pid, fd), and the opener's, whose connection ends at the later of
 * their closes. */
struct st_peer_carry {
	struct st_peer_carry *next;
	uint32_t file, pid, to_file, to_pid;
	int32_t fd, to_fd;
	/* or the opener's connection itself, when the opener had closed its copy
	 * already, waiting for a forked child (sshd: the listener forks, closes,
	 * and the child exec's and names the socket): it ends here */
	struct st_await *held;
	bool receiver_closed; /* its own close came first, flagged shared */
};

#define ST_PEER_CARRY_BUCKETS 1024u

/* A connection its process closed while a forked child may still hold it
 * (ST_CLOSE_SHARED): it ends at the later of that close and the child's. */
struct st_await {
	struct st_await *next;
	uint32_t file, pid;
	int32_t fd;
	uint64_t start;
	uint32_t row;
	bool blocking_ok;
	uint64_t done_ts;
	struct st_close close;
	uint64_t tuple; /* st_tuple_of its opening event */
};

#define ST_AWAIT_BUCKETS 4096u

struct st_slow {
	uint64_t latency_ns;
	uint32_t row, pid, file;
	uint64_t ts; /* when the connect returned or its result was learned */
	int err;
	char peer[160], name[96]; /* filled from the row before rows are sorted */
};

struct st_peers {
	struct st_peer_row *rows;
	size_t nrows, rows_cap;
	uint32_t *row_slot; /* open addressing on the key: index + 1 */
	size_t nrow_slots;
	uint32_t last_row;  /* the row found last (index + 1): a server's accepts all
			       have its listener's end, a client's connects one peer */
	struct st_peer_row other; /* past ST_PEERS_MAX */
	struct st_open *open;     /* open addressing on (file, pid, fd) */
	size_t nopen, nopen_slots;
	struct st_slow slow[ST_SLOWEST];
	size_t nslow;
	struct st_await *await[ST_AWAIT_BUCKETS];
	size_t ok_unasked; /* pending connects the program used without asking: ok at close */
	size_t unended_lost; /* connects in progress whose fd number was reused with
				neither an outcome nor a close traced */
	/* the bytes of every connection, once, at its end: a socket shared
	 * with a forked child has two closes, and the later one has them all */
	uint64_t ended_tx, ended_rx;
	bool ends_done; /* the trace's end is applied (st_peers_end) */
	struct st_peer_carry *carry[ST_PEER_CARRY_BUCKETS];
};

struct st_peers *st_peers_new(void)
{
	return st_xcalloc(1, sizeof(struct st_peers));
}

/* The address as a key: what the kernel would report back the same way.
 * sin_zero and the IPv6 flow label are left out, a Unix path ends at its NUL
 * (connect's length may count the whole sun_path). */
static uint8_t st_key_of(const struct st_endpoint *ep, uint8_t *key)
{
	size_t len = ep->len < ST_KEY_MAX ? ep->len : ST_KEY_MAX;
	const uint8_t *sa = st_ep_sa(ep);
	if (sa == NULL || len < sizeof(sa_family_t))
		return 0;
	sa_family_t family;
	memcpy(&family, sa, sizeof family);
	/* the common case in a fixed-size copy: a copy of a variable length
	 * was a third of --stats' time (rep movsq's start-up, per event) */
	if (family == AF_INET && len >= offsetof(struct sockaddr_in, sin_zero)) {
		memcpy(key, sa, offsetof(struct sockaddr_in, sin_zero));
		return (uint8_t)offsetof(struct sockaddr_in, sin_zero);
	}
	memcpy(key, sa, len);
	if (family == AF_INET6 && len >= sizeof(struct sockaddr_in6)) {
		memset(key + offsetof(struct sockaddr_in6, sin6_flowinfo), 0, sizeof(uint32_t));
		return (uint8_t)sizeof(struct sockaddr_in6);
	}
	size_t path = offsetof(struct sockaddr_un, sun_path);
	if (family == AF_UNIX && len > path && key[path] != 0) {
		const uint8_t *nul = memchr(key + path, 0, len - path);
		if (nul)
			len = (size_t)(nul - key);
	}
	return (uint8_t)len;
}

/* Eight bytes at a time (a byte-wise FNV's chain of multiplies was a fifth
 * of --stats per event); the high bits mixed down, the table is indexed by
 * the low ones. */
static size_t st_key_hash(uint8_t dir, const uint8_t *key, uint8_t len)
{
	uint64_t h = 0x9e3779b97f4a7c15ull ^ dir ^ ((uint64_t)len << 8);
	uint8_t i = 0;
	for (; i + 8 <= len; i += 8) {
		uint64_t w;
		memcpy(&w, key + i, sizeof w);
		h = (h ^ w) * 0xff51afd7ed558ccdull;
		h ^= h >> 32;
	}
	for (; i < len; i++)
		h = (h ^ key[i]) * 0x100000001b3ull;
	return (size_t)(h ^ h >> 29);
}

static void st_rows_rehash(struct st_peers *p)
{
	free(p->row_slot);
	p->nrow_slots = p->nrow_slots ? p->nrow_slots * 2 : 256;
	p->row_slot = st_xcalloc(p->nrow_slots, sizeof *p->row_slot);
	for (size_t k = 0; k < p->nrows; k++) {
		const struct st_peer_row *r = &p->rows[k];
		size_t i = st_key_hash(r->dir, r->key, r->key_len) & (p->nrow_slots - 1);
		while (p->row_slot[i])
			i = (i + 1) & (p->nrow_slots - 1);
		p->row_slot[i] = (uint32_t)k + 1;
	}
}

/* An IPv4 key (8 bytes) compared as one word, not through memcmp's call. */
static bool st_key_equal(const uint8_t *a, const uint8_t *b, uint8_t len)
{
	if (len == sizeof(uint64_t)) {
		uint64_t x, y;
		memcpy(&x, a, sizeof x);
		memcpy(&y, b, sizeof y);
		return x == y;
	}
	return memcmp(a, b, len) == 0;
}

/* The row of (dir, key) by its hash, made when new. */
static uint32_t st_row_hashed(struct st_peers *p, uint8_t dir, const uint8_t *key, uint8_t len)
{
	if (p->nrows * 2 >= p->nrow_slots)
		st_rows_rehash(p);
	size_t i = st_key_hash(dir, key, len) & (p->nrow_slots - 1);
	for (uint32_t k; (k = p->row_slot[i]) != 0; i = (i + 1) & (p->nrow_slots - 1)) {
		const struct st_peer_row *r = &p->rows[k - 1];
		if (r->dir == dir && r->key_len == len && st_key_equal(r->key, key, len))
			return k;
	}
	if (p->nrows >= ST_PEERS_MAX)
		return 0;
	if (p->nrows == p->rows_cap) {
		p->rows_cap = p->rows_cap ? p->rows_cap * 2 : 64;
		p->rows = st_xrealloc(p->rows, p->rows_cap, sizeof *p->rows);
	}
	struct st_peer_row *r = &p->rows[p->nrows];
	memset(r, 0, sizeof *r);
	r->dir = dir;
	r->key_len = len;
	memcpy(r->key, key, len);
	p->row_slot[i] = (uint32_t)++p->nrows;
	return (uint32_t)p->nrows;
}

/* The row of (dir, endpoint), made when new: index + 1, or 0 for "other". */
static uint32_t st_row_of(struct st_peers *p, uint8_t dir, const struct st_endpoint *ep)
{
	uint8_t key[ST_KEY_MAX];
	uint8_t len = st_key_of(ep, key);
	if (p->last_row) {
		const struct st_peer_row *r = &p->rows[p->last_row - 1];
		if (r->dir == dir && r->key_len == len && st_key_equal(r->key, key, len))
			return p->last_row;
	}
	uint32_t row = st_row_hashed(p, dir, key, len);
	if (row)
		p->last_row = row;
	return row;
}

static struct st_peer_row *st_row_at(struct st_peers *p, uint32_t row)
{
	return row ? &p->rows[row - 1] : &p->other;
}

static size_t st_open_hash(uint32_t file, uint32_t pid, int32_t fd)
{
	return ((size_t)pid * 0x9e3779b97f4a7c15u) ^ ((size_t)file << 40) ^ (uint32_t)fd;
}

static void st_open_rehash(struct st_peers *p)
{
	struct st_open *old = p->open;
	size_t n = p->nopen_slots;
	p->nopen_slots = n ? n * 2 : 256;
	p->open = st_xcalloc(p->nopen_slots, sizeof *p->open);
	for (size_t k = 0; k < n; k++)
		if (old[k].row) {
			size_t i = st_open_hash(old[k].file, old[k].pid, old[k].fd) & (p->nopen_slots - 1);
			while (p->open[i].row)
				i = (i + 1) & (p->nopen_slots - 1);
			p->open[i] = old[k];
		}
	free(old);
}

static struct st_open *st_open_find(struct st_peers *p, uint32_t file, uint32_t pid, int32_t fd)
{
	if (p->nopen_slots == 0)
		return NULL;
	size_t i = st_open_hash(file, pid, fd) & (p->nopen_slots - 1);
	for (; p->open[i].row; i = (i + 1) & (p->nopen_slots - 1))
		if (p->open[i].file == file && p->open[i].pid == pid && p->open[i].fd == fd)
			return &p->open[i];
	return NULL;
}

/* Backward-shift deletion keeps every probe chain whole without tombstones. */
static void st_open_remove(struct st_peers *p, struct st_open *o)
{
	size_t mask = p->nopen_slots - 1, i = (size_t)(o - p->open), j = i;
	for (;;) {
		p->open[i].row = 0;
		for (;;) {
			j = (j + 1) & mask;
			if (p->open[j].row == 0) {
				p->nopen--;
				return;
			}
			size_t home = st_open_hash(p->open[j].file, p->open[j].pid, p->open[j].fd) & mask;
			/* j's entry may move to i when its home is not in (i, j] */
			if (i <= j ? (home <= i || home > j) : (home <= i && home > j))
				break;
		}
		p->open[i] = p->open[j];
		i = j;
	}
}

/* A connect in progress with neither its outcome nor its close in the trace:
 * still open when the trace ended, or its process was killed (a signal's
 * death runs none of the shim's code; the tracer records it open at exit). */
static bool st_open_unended(const struct st_open *o)
{
	return o->row != 0 && o->in_progress && !o->has_result;
}

/* A connection the fd now carries: a new connect or accept on a reused
 * number replaces what was there (its close was not traced). */
static struct st_open *st_open_put(struct st_peers *p, uint32_t file, uint32_t pid, int32_t fd)
{
	struct st_open *o = st_open_find(p, file, pid, fd);
	if (o)
		return o;
	if ((p->nopen + 1) * 2 > p->nopen_slots)
		st_open_rehash(p);
	size_t i = st_open_hash(file, pid, fd) & (p->nopen_slots - 1);
	while (p->open[i].row)
		i = (i + 1) & (p->nopen_slots - 1);
	p->nopen++;
	p->open[i] = (struct st_open){.file = file, .pid = pid, .fd = fd};
	return &p->open[i];
}

/* Keeps the ST_SLOWEST longest connects, longest first. */
static void st_slow_offer(struct st_peers *p, const struct st_slow *s)
{
	size_t n = p->nslow;
	if (n == ST_SLOWEST && s->latency_ns <= p->slow[n - 1].latency_ns)
		return;
	size_t at = n < ST_SLOWEST ? n : n - 1;
	while (at > 0 && p->slow[at - 1].latency_ns < s->latency_ns) {
		p->slow[at] = p->slow[at - 1];
		at--;
	}
	p->slow[at] = *s;
	if (n < ST_SLOWEST)
		p->nslow++;
}

/* A name that is the address itself ("127.0.0.1" given to getaddrinfo)
 * says nothing the address does not. */
static bool st_is_numeric(const char *name)
{
	struct in6_addr a;
	return inet_pton(AF_INET, name, &a) == 1 || inet_pton(AF_INET6, name, &a) == 1;
}

static uint32_t st_open_row(const struct st_open *o);
static void st_ended(struct st_peers *p, uint32_t file, uint32_t pid, uint32_t row_index,
		     bool blocking_ok, uint64_t done_ts, const struct st_close *c);

/* An end's 4-tuple, short: both ports and the last four bytes of both
 * addresses (IPv4's whole), 0 when it has no inet ends.  Copies of one
 * socket have the same; two live connections with the same ports and the
 * same low address bytes would be taken for one. */
static uint64_t st_tuple_of(const struct st_ev *ev)
{
	const uint8_t *l = st_ep_sa(&ev->local), *r = st_ep_sa(&ev->peer);
	if (l == NULL || r == NULL || ev->local.len < 8 || ev->peer.len < 8)
		return 0;
	uint16_t family;
	memcpy(&family, l, 2);
	size_t at = family == AF_INET ? 4 : family == AF_INET6 && ev->local.len >= 24 &&
						    ev->peer.len >= 24 ? 20 : 0;
	if (at == 0)
		return 0;
	uint32_t la, ra;
	uint16_t lp, rp;
	memcpy(&la, l + at, 4);
	memcpy(&ra, r + at, 4);
	memcpy(&lp, l + 2, 2);
	memcpy(&rp, r + 2, 2);
	return ((uint64_t)lp << 48 | (uint64_t)rp << 32 | (la * 0x9e3779b1u ^ ra)) | 1;
}

static size_t st_peer_carry_slot(uint32_t file, uint32_t pid, int32_t fd)
{
	return (size_t)(((uint64_t)file * 31 + pid) * 0x9e3779b97f4a7c15ull ^ (uint32_t)fd) %
	       ST_PEER_CARRY_BUCKETS;
}

static struct st_await *st_await_take_tuple(struct st_peers *p, uint32_t file, uint32_t pid,
					     uint64_t tuple, uint64_t ts);

/* A new connection on (file, pid, fd): a mark that the number held a socket
 * with no opener found is stale (a copy being carried is left alone). */
static void st_carry_forget(struct st_peers *p, uint32_t file, uint32_t pid, int32_t fd)
{
	for (struct st_peer_carry **at = &p->carry[st_peer_carry_slot(file, pid, fd)]; *at;
	     at = &(*at)->next) {
		struct st_peer_carry *c = *at;
		if (c->file == file && c->pid == pid && c->fd == fd && c->held == NULL &&
		    c->to_pid == 0) {
			*at = c->next;
			free(c);
			return;
		}
	}
}

/* The opener closed its copy already (shared with a child it forked): the
 * connection moves from the awaited ones to the receiver's carry, and ends
 * at the receiver's closes.  An unknown socket is remembered as such, so
 * that its next names cost no second walk. */
static bool st_peers_carry_awaited(struct st_peers *p, const struct st_ev *ev, uint64_t tuple,
				   size_t b)
{
	struct st_peer_carry *c = st_xcalloc(1, sizeof *c);
	*c = (struct st_peer_carry){.next = p->carry[b], .file = ev->file, .pid = ev->pid,
				    .fd = ev->fd};
	c->held = st_await_take_tuple(p, ev->file, ev->pid, tuple, ev->ts);
	p->carry[b] = c;
	return c->held != NULL;
}

/* A getsockname or getpeername on a TCP socket this process never opened, or
 * one it started with (held): a copy passed to it.  Its opener is the open
 * connection with its 4-tuple in another process (a walk of the table: only
 * programs handed sockets make it), or for a held one, one that its opener
 * closed while a child held it. */
static bool st_peers_carry_note(struct st_peers *p, const struct st_ev *ev)
{
	/* most names are of a socket the process opened: that look-up first */
	if (ev->ret != 0 || st_open_find(p, ev->file, ev->pid, ev->fd) != NULL)
		return false;
	uint64_t tuple = st_tuple_of(ev);
	if (tuple == 0)
		return false;
	size_t b = st_peer_carry_slot(ev->file, ev->pid, ev->fd);
	for (struct st_peer_carry *c = p->carry[b]; c; c = c->next)
		if (c->file == ev->file && c->pid == ev->pid && c->fd == ev->fd)
			return c->held != NULL || c->to_pid != 0;
	for (size_t i = 0; i < p->nopen_slots; i++) {
		struct st_open *o = &p->open[i];
		/* in its own process too, for a socket held after an exec on
		 * another fd than it was opened on (nc -l -e) */
		bool other = o->pid != ev->pid || (ev->op == ST_OP_HELD && o->fd != ev->fd);
		if (o->row && o->tuple == tuple && other && !o->own_closed &&
		    o->done_ts <= ev->ts) {
			struct st_peer_carry *c = st_xcalloc(1, sizeof *c);
			*c = (struct st_peer_carry){.next = p->carry[b], .file = ev->file,
						    .pid = ev->pid, .fd = ev->fd, .to_file = o->file,
						    .to_pid = o->pid, .to_fd = o->fd};
			p->carry[b] = c;
			o->carries++;
			return true;
		}
	}
	/* Only a socket its process started with (held, after an exec) takes
	 * an awaited connection: a forked child naming the socket its parent
	 * let go of (postgres' backends) is that connection's own child, which
	 * its close (flagged forked) finds. */
	return ev->op == ST_OP_HELD && st_peers_carry_awaited(p, ev, tuple, b);
}

/* Whether a held socket is one its process follows already with the same
 * ends: a program that exec'd another in its place (sh's exec) keeps it. */
static bool st_held_continues(struct st_peers *p, const struct st_ev *ev)
{
	const struct st_open *o = st_open_find(p, ev->file, ev->pid, ev->fd);
	return o != NULL && o->tuple != 0 && o->tuple == st_tuple_of(ev);
}

void st_peers_event(struct st_peers *p, const struct st_dump *d, const struct st_ev *ev)
{
	/* UDP sockets do not connect anyone (and -c leaves them out) */
	if (ST_EV_SOCK(ev->flags) == ST_SOCK_DGRAM)
		return;
	bool connect = st_ev_opens_client(ev);
	bool accepted = st_ev_opens_server(ev);
	if (ev->op == ST_OP_GETSOCKNAME || ev->op == ST_OP_GETPEERNAME)
		st_peers_carry_note(p, ev);
	if (!connect && !accepted)
		return;
	/* a socket its process was started with, that an ancestor opened: a
	 * copy of that connection, not one of its own */
	if (ev->op == ST_OP_HELD && !(ev->flags & ST_EV_BEFORE_WINDOW) &&
	    (st_held_continues(p, ev) || st_peers_carry_note(p, ev)))
		return;
	st_carry_forget(p, ev->file, ev->pid, ev->fd);
	uint32_t row = st_row_of(p, connect ? ST_DIR_TO : ST_DIR_AT, connect ? &ev->peer : &ev->local);
	struct st_peer_row *r = st_row_at(p, row);
	r->conns++;
	bool pending = ev->err == EINPROGRESS || ev->err == EALREADY || ev->err == EAGAIN;
	if (connect && ev->ret < 0 && !pending) {
		r->failed++;
		return;
	}
	if (connect && row && r->name[0] == '\0') {
		const char *name = st_names_find(d, ev->pid, &ev->peer);
		if (name && !st_is_numeric(name))
			snprintf(r->name, sizeof r->name, "%s", name);
	}
	struct st_open *o = st_open_put(p, ev->file, ev->pid, ev->fd);
	p->unended_lost += st_open_unended(o);
	if (o->row && o->own_closed) /* its passed copy's close never came */
		st_ended(p, o->file, o->pid, st_open_row(o), o->blocking_ok, o->done_ts,
			 &o->child_close);
	o->row = row ? row : UINT32_MAX; /* "other": still a live slot */
	o->done_ts = ev->ts;
	o->blocking_ok = connect && ev->ret == 0;
	o->in_progress = connect && ev->err == EINPROGRESS;
	o->has_result = false;
	o->client = connect;
	o->tuple = st_tuple_of(ev);
	o->carries = 0;
	o->own_closed = false;
	o->have_child_close = false;
}

static uint32_t st_open_row(const struct st_open *o)
{
	return o->row == UINT32_MAX ? 0 : o->row;
}

/* The connection's end: its bytes to its row, and a blocking connect's
 * latency (its start is the close's date minus its age) to the slowest. */
/* A close that is all the trace says of its connection (its open is not in
 * the trace: opened before a ring's window, or a UDP socket): its bytes. */
static void st_ended_unopened(struct st_peers *p, const struct st_close *c)
{
	if (c->flags & ST_CLOSE_TCPINFO) {
		uint64_t sent, received;
		st_close_bytes(c, &sent, &received);
		p->ended_tx += sent;
		p->ended_rx += received;
	}
}

static void st_ended(struct st_peers *p, uint32_t file, uint32_t pid, uint32_t row_index,
		     bool blocking_ok, uint64_t done_ts, const struct st_close *c)
{
	struct st_peer_row *row = st_row_at(p, row_index);
	if (c->flags & ST_CLOSE_TCPINFO) {
		uint64_t sent, received;
		st_close_bytes(c, &sent, &received);
		row->tx += sent;
		row->rx += received;
		row->with_bytes++;
		p->ended_tx += sent;
		p->ended_rx += received;
	}
	uint64_t start = st_close_start(c);
	if (blocking_ok && c->age_ns <= c->ts_ns && done_ts >= start)
		st_slow_offer(p, &(struct st_slow){.latency_ns = done_ts - start, .row = row_index,
						   .pid = pid, .file = file, .ts = done_ts});
}

static size_t st_await_slot(uint32_t pid, int32_t fd, uint64_t start)
{
	uint64_t h = ((uint64_t)pid << 32 ^ (uint32_t)fd ^ start) * 0x9e3779b97f4a7c15ull;
	return (size_t)(h >> 40) % ST_AWAIT_BUCKETS;
}

static void st_await_put(struct st_peers *p, const struct st_open *o, const struct st_close *c)
{
	struct st_await *a = st_xcalloc(1, sizeof *a);
	*a = (struct st_await){.file = o->file, .pid = o->pid, .fd = o->fd,
			       .start = st_close_start(c), .row = st_open_row(o),
			       .blocking_ok = o->blocking_ok, .done_ts = o->done_ts, .close = *c,
			       .tuple = o->tuple};
	size_t b = st_await_slot(a->pid, a->fd, a->start);
	a->next = p->await[b];
	p->await[b] = a;
}

/* The awaited connection of another process with this 4-tuple, opened
 * before ts, out of the table (a walk: once per socket a process names
 * without having opened it). */
static struct st_await *st_await_take_tuple(struct st_peers *p, uint32_t file, uint32_t pid,
					     uint64_t tuple, uint64_t ts)
{
	for (size_t b = 0; b < ST_AWAIT_BUCKETS; b++)
		for (struct st_await **a = &p->await[b]; *a; a = &(*a)->next) {
			struct st_await *w = *a;
			if (w->tuple == tuple && w->file == file && w->pid != pid &&
			    w->start <= ts) {
				*a = w->next;
				w->next = NULL;
				return w;
			}
		}
	return NULL;
}

/* A close of a copy of a held connection, as its opener's end: its age from
 * the opening, its role the opener's (a receiver's shim calls it inherited,
 * with no SYN in its counts). */
static void st_held_keep(struct st_await *w, const struct st_close *copy)
{
	struct st_close c = *copy;
	c.age_ns = c.ts_ns > w->start ? c.ts_ns - w->start : 0;
	c.role = w->close.role;
	st_close_keep_later(&w->close, &c);
}

static void st_held_end(struct st_peers *p, struct st_peer_carry *carry)
{
	struct st_await *w = carry->held;
	st_ended(p, w->file, w->pid, w->row, w->blocking_ok, w->done_ts, &w->close);
	free(w);
	carry->held = NULL;
}

/* The receiver's own close of a held connection: its end, unless the
 * receiver forked with it (a child's close is still to come); a socket with
 * no opener found closes as one whose opening is not in the trace. */
static bool st_held_closed(struct st_peers *p, struct st_peer_carry **at, const struct st_rec *r)
{
	struct st_peer_carry *carry = *at;
	if (carry->held == NULL) {
		*at = carry->next;
		free(carry);
		return false;
	}
	st_held_keep(carry->held, &r->close);
	if ((r->close.flags & ST_CLOSE_SHARED) && !carry->receiver_closed) {
		carry->receiver_closed = true;
		return true;
	}
	st_held_end(p, carry);
	*at = carry->next;
	free(carry);
	return true;
}

/* A forked child's close of its parent's held connection: kept; the end
 * when the parent closed its own copy before. */
static bool st_held_child_closed(struct st_peers *p, uint32_t file, uint32_t ppid,
				 const struct st_rec *r)
{
	int32_t fd = st_close_fd(&r->close);
	struct st_peer_carry **at = &p->carry[st_peer_carry_slot(file, ppid, fd)];
	while (*at && !((*at)->file == file && (*at)->pid == ppid && (*at)->fd == fd))
		at = &(*at)->next;
	struct st_peer_carry *carry = *at;
	if (carry == NULL || carry->held == NULL)
		return false;
	st_held_keep(carry->held, &r->close);
	if (carry->receiver_closed) {
		st_held_end(p, carry);
		*at = carry->next;
		free(carry);
	}
	return true;
}

/* The close of a passed copy (st_peers_carry_note): kept, its age counted
 * from its connection's opening and its role its opener's (the receiver's
 * shim calls it inherited, with no SYN in its counts); the connection ends
 * once its opener and every copy have closed. */
static bool st_peers_carry_closed(struct st_peers *p, const struct st_rec *r)
{
	int32_t fd = st_close_fd(&r->close);
	struct st_peer_carry **at = &p->carry[st_peer_carry_slot(r->file, r->close.pid, fd)];
	while (*at && !((*at)->file == r->file && (*at)->pid == r->close.pid && (*at)->fd == fd))
		at = &(*at)->next;
	struct st_peer_carry *carry = *at;
	if (carry == NULL)
		return false;
	if (carry->held || carry->to_pid == 0)
		return st_held_closed(p, at, r);
	*at = carry->next;
	struct st_open *o = st_open_find(p, carry->to_file, carry->to_pid, carry->to_fd);
	free(carry);
	if (o == NULL || o->carries == 0)
		return true; /* its opener's fd was reused: ended with what it had */
	o->carries--;
	struct st_close c = r->close;
	uint64_t start = o->own_closed ? st_close_start(&o->child_close) : o->done_ts;
	c.age_ns = c.ts_ns > start ? c.ts_ns - start : 0;
	c.role = o->client ? ST_ROLE_CLIENT : ST_ROLE_SERVER;
	if (o->have_child_close)
		st_close_keep_later(&o->child_close, &c);
	else
		o->child_close = c;
	o->have_child_close = true;
	if (o->own_closed && o->carries == 0) {
		st_ended(p, o->file, o->pid, st_open_row(o), o->blocking_ok, o->done_ts,
			 &o->child_close);
		st_open_remove(p, o);
	}
	return true;
}

/* A forked child closed a connection it inherited: the end of its parent's
 * when the parent closed first, else kept for the parent's close. */
static void st_child_closed(struct st_peers *p, const struct st_dump *d, const struct st_rec *r)
{
	struct st_ev probe = {.pid = r->close.pid, .file = r->file, .ts = r->ts};
	const struct st_proc *child = st_proc_of(d, &probe);
	if (child == NULL)
		return;
	uint64_t start = st_close_start(&r->close);
	int32_t fd = st_close_fd(&r->close);
	for (struct st_await **a = &p->await[st_await_slot(child->ppid, fd, start)]; *a;
	     a = &(*a)->next) {
		struct st_await *w = *a;
		if (w->file == r->file && w->pid == child->ppid && w->fd == fd && w->start == start) {
			st_close_keep_later(&w->close, &r->close);
			st_ended(p, w->file, w->pid, w->row, w->blocking_ok, w->done_ts, &w->close);
			*a = w->next;
			free(w);
			return;
		}
	}
	struct st_open *o = st_open_find(p, r->file, child->ppid, fd);
	if ((o == NULL || o->done_ts < start) && st_held_child_closed(p, r->file, child->ppid, r))
		return;
	if (o == NULL || o->done_ts < start) {
		st_ended_unopened(p, &r->close);
		return;
	}
	if (!o->have_child_close)
		o->child_close = r->close;
	else
		st_close_keep_later(&o->child_close, &r->close);
	o->have_child_close = true;
}

static void st_await_flush(struct st_peers *p)
{
	for (size_t b = 0; b < ST_AWAIT_BUCKETS; b++)
		for (struct st_await *w = p->await[b], *next; w; w = next) {
			next = w->next;
			st_ended(p, w->file, w->pid, w->row, w->blocking_ok, w->done_ts, &w->close);
			free(w);
		}
	memset(p->await, 0, sizeof p->await);
}

/* At the end: connections whose children's closes never came end at their
 * own process's close; those whose process's own close never came (killed,
 * or still open when the trace ended) at their children's. */
void st_peers_end(struct st_peers *p)
{
	if (p == NULL || p->ends_done)
		return;
	p->ends_done = true;
	st_await_flush(p);
	for (size_t b = 0; b < ST_PEER_CARRY_BUCKETS; b++)
		for (struct st_peer_carry *c = p->carry[b]; c; c = c->next)
			if (c->held)
				st_held_end(p, c);
	for (size_t i = 0; i < p->nopen_slots; i++) {
		struct st_open *o = &p->open[i];
		if (o->row && o->have_child_close) {
			if (!o->blocking_ok && !o->has_result &&
			    o->child_close.role == ST_ROLE_CLIENT)
				p->ok_unasked++;
			o->in_progress = false; /* its end is in the trace */
			st_ended(p, o->file, o->pid, st_open_row(o), o->blocking_ok, o->done_ts,
				 &o->child_close);
			o->have_child_close = false;
		}
	}
}

void st_peers_bytes(const struct st_peers *p, uint64_t *tx, uint64_t *rx)
{
	*tx = p ? p->ended_tx : 0;
	*rx = p ? p->ended_rx : 0;
}


void st_peers_life(struct st_peers *p, const struct st_dump *d, const struct st_rec *r)
{
	if (r->type == ST_REC_RESULT) {
		struct st_open *o = st_open_find(p, r->file, r->result.pid, r->result.fd);
		if (o == NULL || o->has_result)
			return;
		o->has_result = true;
		if (r->result.err)
			st_row_at(p, st_open_row(o))->failed++;
		st_slow_offer(p, &(struct st_slow){.latency_ns = r->result.latency_ns,
						   .row = st_open_row(o), .pid = r->result.pid,
						   .file = r->file, .ts = r->ts, .err = r->result.err});
		return;
	}
	if (r->type != ST_REC_CLOSE || r->close.how == ST_END_SHUTDOWN)
		return;
	if (r->close.flags & ST_CLOSE_FORKED) {
		st_child_closed(p, d, r);
		return;
	}
	struct st_open *o = st_open_find(p, r->file, r->close.pid, st_close_fd(&r->close));
	if (o == NULL) {
		if (!st_peers_carry_closed(p, r))
			st_ended_unopened(p, &r->close);
		return;
	}
	/* a pending connect with no result whose close found its SYN answered */
	if (!o->blocking_ok && !o->has_result && r->close.role == ST_ROLE_CLIENT)
		p->ok_unasked++;
	struct st_close c = r->close;
	if (o->have_child_close)
		st_close_keep_later(&c, &o->child_close);
	/* a passed copy lives on (named before this close, whatever its
	 * flags): it ends at the later close */
	if (o->carries) {
		o->child_close = c;
		o->have_child_close = o->own_closed = true;
		o->in_progress = false;
		return;
	}
	if (!o->have_child_close && (c.flags & ST_CLOSE_SHARED)) {
		st_await_put(p, o, &c);
		st_open_remove(p, o);
		return;
	}
	st_ended(p, o->file, o->pid, st_open_row(o), o->blocking_ok, o->done_ts, &c);
	st_open_remove(p, o);
}

static int st_row_order(const void *a, const void *b)
{
	const struct st_peer_row *x = a, *y = b;
	if (x->conns != y->conns)
		return x->conns > y->conns ? -1 : 1;
	if (x->dir != y->dir)
		return x->dir < y->dir ? -1 : 1;
	if (x->key_len != y->key_len)
		return x->key_len < y->key_len ? -1 : 1;
	return memcmp(x->key, y->key, x->key_len);
}

/* "127.0.0.1:80", "[::1]:80", "unix:/path"; "other peers" for the rest. */
static void st_row_endpoint(const struct st_peer_row *r, char *buf, size_t size)
{
	if (r->key_len == 0) {
		snprintf(buf, size, "other peers");
		return;
	}
	struct st_endpoint ep = {.at = r->key, .len = r->key_len};
	st_endpoint_ss_str(&ep, buf, size);
}

static const char *st_dir_name(uint8_t dir)
{
	return dir == ST_DIR_TO ? "to" : "at";
}

/* Ready to print: each slow connect takes its peer's text (row indexes end
 * with the sort), then the rows go most connections first. */
static void st_peers_finish(struct st_peers *p, const struct st_dump *d)
{
	st_peers_end(p);
	for (size_t i = 0; i < p->nslow; i++) {
		const struct st_peer_row *r = st_row_at(p, p->slow[i].row);
		st_row_endpoint(r, p->slow[i].peer, sizeof p->slow[i].peer);
		/* named by its own process's resolution, as -c names it: never by
		 * another program's lookup of the same address */
		struct st_endpoint ep = {.at = r->key, .len = r->key_len};
		const char *name = r->key_len ? st_names_find(d, p->slow[i].pid, &ep) : NULL;
		snprintf(p->slow[i].name, sizeof p->slow[i].name, "%s",
			 name && !st_is_numeric(name) ? name : "");
	}
	free(p->row_slot);
	p->row_slot = NULL;
	p->nrow_slots = 0;
	p->last_row = 0;
	if (p->nrows)
		qsort(p->rows, p->nrows, sizeof *p->rows, st_row_order);
}

static size_t st_rows_printed(const struct st_peers *p)
{
	return p->nrows + (p->other.conns != 0);
}

static const struct st_peer_row *st_printed_row(const struct st_peers *p, size_t i)
{
	return i < p->nrows ? &p->rows[i] : &p->other;
}

static const char *st_slow_program(const struct st_dump *d, const struct st_slow *s, char *buf,
				   size_t size, bool escaped)
{
	struct st_ev probe = {.pid = s->pid, .file = s->file, .ts = s->ts};
	const struct st_proc *proc = st_proc_of(d, &probe);
	if (escaped)
		st_proc_label_fit(proc, buf, size, 18); /* a text table's column */
	else
		st_proc_name(proc, buf, size);
	return buf;
}

/* "name (endpoint)" when the trace knows the name, else the endpoint. */
static void st_who(char *buf, size_t size, const char *name, const char *ep)
{
	if (name[0] == '\0') {
		snprintf(buf, size, "%s", ep);
		return;
	}
	char escaped[128];
	st_escape(escaped, sizeof escaped, name, strlen(name));
	snprintf(buf, size, "%s (%s)", escaped, ep);
}

void st_peers_text(struct st_peers *p, const struct st_dump *d, FILE *out)
{
	st_peers_finish(p, d);
	if (st_rows_printed(p) == 0)
		return;
	fputs("\nPEER                                         DIR  CONNS FAILED         TX B"
	      "         RX B\n", out);
	for (size_t i = 0; i < st_rows_printed(p); i++) {
		const struct st_peer_row *r = st_printed_row(p, i);
		char ep[160], who[300];
		st_row_endpoint(r, ep, sizeof ep);
		st_who(who, sizeof who, r->name, ep);
		fprintf(out, "%-44s %-4s %6zu %6zu", who, r->key_len ? st_dir_name(r->dir) : "",
			r->conns, r->failed);
		/* no close with tcp_info (version 1, SOCKTRACE_TCPINFO=0): unknown */
		if (r->with_bytes)
			fprintf(out, " %12llu %12llu\n", (unsigned long long)r->tx,
				(unsigned long long)r->rx);
		else
			fprintf(out, " %12s %12s\n", "-", "-");
	}
	if (p->nslow == 0)
		return;
	fputs("\nSLOWEST CONNECTS  PID      PROGRAM            RESULT      PEER\n", out);
	for (size_t i = 0; i < p->nslow; i++) {
		const struct st_slow *s = &p->slow[i];
		char prog[64], who[300];
		st_who(who, sizeof who, s->name, s->peer);
		fprintf(out, "%13.3f ms  %-8u %-18s %-11s %s\n", (double)s->latency_ns / 1e6, s->pid,
			st_slow_program(d, s, prog, sizeof prog, true), st_result_name(s->err), who);
	}
}

static void st_json_name_or_null(FILE *out, const char *name)
{
	st_json_cstr(out, name[0] ? name : NULL);
}

void st_peers_json(struct st_peers *p, const struct st_dump *d, FILE *out)
{
	st_peers_finish(p, d);
	fputs(",\"peers\":[", out);
	for (size_t i = 0; i < st_rows_printed(p); i++) {
		const struct st_peer_row *r = st_printed_row(p, i);
		char ep[160];
		st_row_endpoint(r, ep, sizeof ep);
		fprintf(out, "%s{\"direction\":", i ? "," : "");
		st_json_cstr(out, r->key_len ? st_dir_name(r->dir) : NULL);
		fputs(",\"endpoint\":", out);
		st_json_cstr(out, r->key_len ? ep : NULL);
		fputs(",\"name\":", out);
		st_json_name_or_null(out, r->name);
		fprintf(out, ",\"connections\":%zu,\"failed\":%zu,", r->conns, r->failed);
		if (r->with_bytes)
			fprintf(out, "\"tx_bytes\":%llu,\"rx_bytes\":%llu}", (unsigned long long)r->tx,
				(unsigned long long)r->rx);
		else
			fputs("\"tx_bytes\":null,\"rx_bytes\":null}", out);
	}
	fputs("],\"slowest_connects\":[", out);
	for (size_t i = 0; i < p->nslow; i++) {
		const struct st_slow *s = &p->slow[i];
		char prog[64];
		fprintf(out, "%s{\"connect_ns\":%llu,\"ts\":%llu,\"pid\":%u,\"program\":", i ? "," : "",
			(unsigned long long)s->latency_ns, (unsigned long long)s->ts, s->pid);
		st_slow_program(d, s, prog, sizeof prog, false);
		st_json_string(out, prog, strlen(prog));
		fprintf(out, ",\"result\":\"%s\",\"endpoint\":", st_result_name(s->err));
		st_json_cstr(out, s->peer);
		fputs(",\"name\":", out);
		st_json_name_or_null(out, s->name);
		fputs("}", out);
	}
	fputs("]", out);
}

size_t st_peers_ok_unasked(const struct st_peers *p)
{
	return p ? p->ok_unasked : 0;
}

size_t st_peers_unended(const struct st_peers *p)
{
	if (p == NULL)
		return 0;
	size_t n = p->unended_lost;
	for (size_t i = 0; i < p->nopen_slots; i++)
		n += st_open_unended(&p->open[i]);
	return n;
}

void st_peers_free(struct st_peers *p)
{
	if (p == NULL)
		return;
	for (size_t b = 0; b < ST_PEER_CARRY_BUCKETS; b++)
		for (struct st_peer_carry *c = p->carry[b], *next; c; c = next) {
			next = c->next;
			free(c->held);
			free(c);
		}
	st_await_flush(p);
	free(p->rows);
	free(p->row_slot);
	free(p->open);
	free(p);
}
