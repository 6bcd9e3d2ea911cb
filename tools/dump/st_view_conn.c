/*
 * --connections: the two ends of each TCP connection, client side (connect)
 * with server side (accept), across processes, trace files and hosts.  Ends
 * are matched by their 4-tuple with IPv4-mapped IPv6 addresses folded to IPv4
 * and an unspecified connect address (0.0.0.0, ::) accepted as any; a 4-tuple
 * can be reused over time, so each accept takes the unpaired connect closest
 * to it in time, and no connect is paired twice.
 *
 * Streamed: events arrive in time order, and an end can pair only with one
 * within the window (10 s) of it.  An accept is paired once the stream is a
 * window past it (every connect that could be its partner has arrived); a
 * row is printed once every end before it is settled (a connect two windows
 * old can no longer be taken).  Memory is the ends of the last 20 s of the
 * trace, not the trace.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "st_xalloc.h"
#include "st_dump.h"
#include "st_endpoint.h"

/* How far apart a connect and its accept may be: traces from several hosts
 * carry their clocks' differences.  A followed file is written on one host,
 * whose one clock dates both ends: there a second is plenty, and rows come
 * out a second after their connection ended, not twenty. */
#define ST_PAIR_WINDOW_NS (10ull * 1000000000u)
#define ST_PAIR_WINDOW_ONE_HOST_NS (1ull * 1000000000u)
#define ST_PAIR_WINDOW (st_pair_window_ns)
static uint64_t st_pair_window_ns = ST_PAIR_WINDOW_NS;
/* Rows waiting for their closes, at most: a trace whose closes were never
 * recorded (a killed program, sockets it dup'ed) must not hold the whole file.
 * Past this, the oldest row is printed as it stands (open). */
#define ST_WAITING_MAX 65536u

#define ST_FORKED_BUCKETS 4096u
#define ST_CARRY_BUCKETS 4096u

struct st_key {
	uint8_t addr[16]; /* IPv6, or IPv4-mapped */
	uint16_t port;
};

/* An end as the view keeps it: a copy of its event with the (inet) endpoints
 * and the innermost frame, since the stream's records do not outlive a step. */
struct st_end {
	const struct st_ev *ev; /* &copy */
	struct st_ev copy;
	uint8_t local_sa[32], peer_sa[32];
	uint64_t frames[2]; /* the frame that names its code (st_stack_code) */
	char *stack_text;   /* --html: the whole stack, as text (NULL: none) */
	const struct st_proc *proc;
	struct st_key local, peer;
	bool client;
	bool settled;           /* a server: paired or not, for good */
	bool dequeued, printed; /* a paired server: freed by whichever comes last */
	struct st_end *partner; /* NULL = none */
	struct st_end *next;    /* in time order */
	struct st_end *next_waiting; /* servers not paired yet, in time order */
	struct st_end *next_in_bucket; /* clients that may still be taken */
	/* the connection's life (format version 2) */
	bool wants_close;       /* its file records closes: wait for this one */
	bool failed;            /* a connect that failed at once */
	bool have_result;       /* a pending connect's result */
	bool wants_result;      /* a blocking connect that failed: its duration comes next */
	int32_t result_err;
	uint64_t connect_ns;
	uint32_t handshake_us;  /* SYN to SYN-ACK, from the result; 0 = unknown */
	bool closed;
	struct st_close close;
	struct st_end *next_open; /* by (file, pid, fd), until its close */
	/* A socket its process had when it forked ends at the last close of all:
	 * closed here first, it awaits its children's closes; closed in a child
	 * first, the child's close is kept until this one comes. */
	bool awaiting_fork;
	struct st_close *child_close; /* rare: allocated when one comes */
	struct st_end *next_forked; /* by (pid, fd, start), while awaiting */
	char name[128]; /* the name the client dialled, from its process's resolutions */
	bool unix_stream;  /* a Unix stream connection: keyed by path, paired by peer pid */
	uint32_t peer_pid; /* SO_PEERCRED, 0 when not recorded */
	uint8_t path_sa[112]; /* the path's endpoint (a client dials it, a server owns it) */
	uint32_t carries; /* copies passed to other processes, not closed yet */
};

/* A socket passed to another process over a Unix socket (SCM_RIGHTS: node's
 * cluster master hands every accepted connection to a worker) is one
 * connection with two holders, and ends at the later of their closes.  The
 * receiver knows it only from its first getsockname or getpeername, which
 * gives both ends: the sender's end is found by that 4-tuple. */
struct st_carry {
	struct st_carry *next;
	uint32_t file, pid;
	int32_t fd;
	struct st_end *end; /* the connection as its first holder opened it */
};

struct st_view_state {
	struct st_end *head, *tail;        /* every end not printed yet */
	struct st_end *waiting, *waiting_tail;
	struct st_end **bucket;            /* by client key */
	size_t nbuckets, nclients;
	size_t paired, clients, servers, udp;
	bool titled;
	size_t queued; /* ends not printed yet */
	struct st_end **open; /* by (file, pid, fd): ends whose close may come */
	size_t nopen_buckets, nopen;
	struct st_end *forked[ST_FORKED_BUCKETS]; /* closed, awaiting their children's */
	struct st_carry *carry[ST_CARRY_BUCKETS]; /* by the receiver's (file, pid, fd) */
};

static bool st_key_of(const struct st_endpoint *ep, struct st_key *k)
{
	memset(k, 0, sizeof *k);
	if (st_ep_sa(ep) == NULL || ep->len < 8)
		return false;
	uint16_t family, port;
	memcpy(&family, st_ep_sa(ep), 2);
	memcpy(&port, st_ep_sa(ep) + 2, 2);
	k->port = ntohs(port);
	if (family == AF_INET) {
		k->addr[10] = k->addr[11] = 0xff;
		memcpy(k->addr + 12, st_ep_sa(ep) + 4, 4);
		return true;
	}
	if (family == AF_INET6 && ep->len >= 24) {
		memcpy(k->addr, st_ep_sa(ep) + 8, 16);
		return true;
	}
	return false;
}

/* A Unix path as a key: its hash, port 0 (never an inet address: the
 * address bytes stay below the IPv4-mapped prefix only by chance, so unix
 * ends are told apart by their flag as well). */
static void st_key_of_path(const struct st_endpoint *ep, struct st_key *k)
{
	memset(k, 0, sizeof *k);
	uint64_t h = 1469598103934665603ull, g = 7809847782465536322ull;
	/* connect's length may count the whole sun_path, getsockname's only the
	 * name: a path ends at its NUL (an abstract name, first byte 0, does not) */
	uint16_t end = ep->len;
	if (ep->len > sizeof(sa_family_t) && st_ep_sa(ep)[sizeof(sa_family_t)] != 0) {
		const uint8_t *nul = memchr(st_ep_sa(ep) + sizeof(sa_family_t), 0, ep->len - sizeof(sa_family_t));
		if (nul)
			end = (uint16_t)(nul - st_ep_sa(ep));
	}
	for (uint16_t i = sizeof(sa_family_t); i < end; i++) {
		h = (h ^ st_ep_sa(ep)[i]) * 1099511628211ull;
		g = (g ^ st_ep_sa(ep)[i]) * 0x100000001b3ull + 0x9e37;
	}
	memcpy(k->addr, &h, 8);
	memcpy(k->addr + 8, &g, 8);
	k->addr[0] |= 1; /* never all zero: an unspecified address matches anything */
}

static bool st_key_unspecified(const struct st_key *k)
{
	static const uint8_t zero[16], mapped_zero[16] = {[10] = 0xff, [11] = 0xff};
	return memcmp(k->addr, zero, 16) == 0 || memcmp(k->addr, mapped_zero, 16) == 0;
}

static bool st_key_loopback(const struct st_key *k)
{
	static const uint8_t one[16] = {[15] = 1}, mapped[12] = {[10] = 0xff, [11] = 0xff};
	return memcmp(k->addr, one, 16) == 0 ||
	       (memcmp(k->addr, mapped, 12) == 0 && k->addr[12] == 127);
}

/* Order of the client index: the client's local end, then the port it asked
 * for, which is all a server end knows of it. */
static int st_key_cmp(const struct st_key *a, uint16_t a_port, const struct st_key *b,
		      uint16_t b_port)
{
	int c = memcmp(a->addr, b->addr, 16);
	if (c == 0)
		c = (int)a->port - (int)b->port;
	return c ? c : (int)a_port - (int)b_port;
}

/* Loopback 4-tuples repeat on every machine: across hosts they are two
 * different connections.  An end whose host is unknown matches any. */
static bool st_same_host(const struct st_end *c, const struct st_end *s)
{
	if (!c->proc || !s->proc || !c->proc->host_len || !s->proc->host_len)
		return true;
	return c->proc->host_len == s->proc->host_len &&
	       memcmp(c->proc->host, s->proc->host, c->proc->host_len) == 0;
}

/* client.peer is what connect asked for: the server's local end, or a wildcard */
static bool st_ends_match(const struct st_end *c, const struct st_end *s)
{
	if (st_key_cmp(&c->local, c->peer.port, &s->peer, s->local.port) != 0)
		return false;
	if (!st_key_unspecified(&c->peer) && memcmp(c->peer.addr, s->local.addr, 16) != 0)
		return false;
	return !st_key_loopback(&c->local) || st_same_host(c, s);
}

static uint64_t st_gap(uint64_t a, uint64_t b)
{
	return a > b ? a - b : b - a;
}

static size_t st_bucket_of(const struct st_view_state *v, const struct st_key *local,
			   uint16_t asked_port)
{
	uint64_t h = 1469598103934665603ull;
	for (int i = 0; i < 16; i++)
		h = (h ^ local->addr[i]) * 1099511628211ull;
	h = (h ^ local->port) * 1099511628211ull;
	h = (h ^ asked_port) * 1099511628211ull;
	return (size_t)h & (v->nbuckets - 1);
}

static void st_bucket_put(struct st_view_state *v, struct st_end *c)
{
	size_t b = st_bucket_of(v, &c->local, c->peer.port);
	c->next_in_bucket = v->bucket[b];
	v->bucket[b] = c;
	v->nclients++;
}

static void st_buckets_grow(struct st_view_state *v)
{
	struct st_end **old = v->bucket;
	size_t old_n = v->nbuckets;
	v->nbuckets = old_n ? old_n * 2 : 1024;
	v->bucket = st_xcalloc(v->nbuckets, sizeof *v->bucket);
	v->nclients = 0;
	for (size_t i = 0; i < old_n; i++)
		for (struct st_end *c = old[i], *next; c; c = next) {
			next = c->next_in_bucket;
			st_bucket_put(v, c);
		}
	free(old);
}

static void st_bucket_remove(struct st_view_state *v, struct st_end *c)
{
	if (v->nbuckets == 0)
		return;
	struct st_end **p = &v->bucket[st_bucket_of(v, &c->local, c->peer.port)];
	while (*p && *p != c)
		p = &(*p)->next_in_bucket;
	if (*p) {
		*p = c->next_in_bucket;
		v->nclients--;
	}
}

/* The accept s takes the unpaired matching connect closest to it in time. */
static void st_pair_server(struct st_view_state *v, struct st_end *s)
{
	struct st_end *best = NULL;
	/* no client seen yet: no table either */
	struct st_end *first = v->nbuckets ? v->bucket[st_bucket_of(v, &s->peer, s->local.port)] : NULL;
	for (struct st_end *c = first; c; c = c->next_in_bucket) {
		if (st_key_cmp(&c->local, c->peer.port, &s->peer, s->local.port) != 0 ||
		    !st_ends_match(c, s) || c->unix_stream != s->unix_stream)
			continue;
		/* one path, many connections: the peer credentials tell which */
		if (c->unix_stream && (c->peer_pid || s->peer_pid) &&
		    c->peer_pid != s->copy.pid && s->peer_pid != c->copy.pid)
			continue;
		uint64_t gap = st_gap(c->ev->ts, s->ev->ts);
		if (gap <= ST_PAIR_WINDOW &&
		    (best == NULL || gap < st_gap(best->ev->ts, s->ev->ts) ||
		     (gap == st_gap(best->ev->ts, s->ev->ts) && c->ev->ts < best->ev->ts)))
			best = c;
	}
	s->settled = true;
	if (best) {
		best->partner = s;
		s->partner = best;
		st_bucket_remove(v, best);
		v->paired++;
	}
}

static size_t st_open_slot(const struct st_view_state *v, uint32_t file, uint32_t pid, int32_t fd)
{
	uint64_t h = ((uint64_t)file << 40 ^ (uint64_t)pid << 20 ^ (uint32_t)fd) *
		     0x9e3779b97f4a7c15ull;
	return (size_t)(h >> 20) & (v->nopen_buckets - 1);
}

static void st_open_put(struct st_view_state *v, struct st_end *e)
{
	if (v->nopen * 2 >= v->nopen_buckets) {
		struct st_end **old = v->open;
		size_t old_n = v->nopen_buckets;
		v->nopen_buckets = old_n ? old_n * 2 : 1024;
		v->open = st_xcalloc(v->nopen_buckets, sizeof *v->open);
		v->nopen = 0;
		for (size_t i = 0; i < old_n; i++)
			for (struct st_end *o = old[i], *next; o; o = next) {
				next = o->next_open;
				st_open_put(v, o);
			}
		free(old);
	}
	size_t b = st_open_slot(v, e->copy.file, e->copy.pid, e->copy.fd);
	e->next_open = v->open[b];
	v->open[b] = e;
	v->nopen++;
}

/* Takes the end open at (file, pid, fd) out of the index. */
static struct st_end *st_open_take(struct st_view_state *v, uint32_t file, uint32_t pid, int32_t fd)
{
	if (v->nopen_buckets == 0)
		return NULL;
	struct st_end **p = &v->open[st_open_slot(v, file, pid, fd)];
	while (*p && !((*p)->copy.file == file && (*p)->copy.pid == pid && (*p)->copy.fd == fd))
		p = &(*p)->next_open;
	struct st_end *e = *p;
	if (e) {
		*p = e->next_open;
		v->nopen--;
	}
	return e;
}

static struct st_end *st_open_find(struct st_view_state *v, uint32_t file, uint32_t pid,
				   int32_t fd)
{
	if (v->nopen_buckets == 0)
		return NULL;
	for (struct st_end *e = v->open[st_open_slot(v, file, pid, fd)]; e; e = e->next_open)
		if (e->copy.file == file && e->copy.pid == pid && e->copy.fd == fd)
			return e;
	return NULL;
}

static size_t st_carry_slot(uint32_t file, uint32_t pid, int32_t fd)
{
	uint64_t h = ((uint64_t)file << 40 ^ (uint64_t)pid << 20 ^ (uint32_t)fd) *
		     0x9e3779b97f4a7c15ull;
	return (size_t)(h >> 40) % ST_CARRY_BUCKETS;
}

static struct st_carry **st_carry_at(struct st_view_state *v, uint32_t file, uint32_t pid,
				     int32_t fd)
{
	struct st_carry **p = &v->carry[st_carry_slot(file, pid, fd)];
	while (*p && !((*p)->file == file && (*p)->pid == pid && (*p)->fd == fd))
		p = &(*p)->next;
	return p;
}

/* Keyed by the parent's pid and the connection's start, not the fd: a child
 * may carry it on another number (inetd's dup2(s, 0)). */
static size_t st_forked_slot(uint32_t pid, uint64_t start)
{
	uint64_t h = ((uint64_t)pid << 32 ^ start) * 0x9e3779b97f4a7c15ull;
	return (size_t)(h >> 40) % ST_FORKED_BUCKETS;
}

static void st_forked_remove(struct st_view_state *v, struct st_end *e)
{
	struct st_end **p = &v->forked[st_forked_slot(e->copy.pid, st_close_start(&e->close))];
	while (*p && *p != e)
		p = &(*p)->next_forked;
	if (*p)
		*p = e->next_forked;
	e->awaiting_fork = false;
}

static void st_closed(struct st_view_state *v, struct st_end *e, const struct st_close *c)
{
	e->closed = true;
	e->close = *c;
	if (e->child_close)
		st_close_keep_later(&e->close, e->child_close);
	else if (c->flags & ST_CLOSE_SHARED) {
		e->awaiting_fork = true;
		size_t b = st_forked_slot(e->copy.pid, st_close_start(c));
		e->next_forked = v->forked[b];
		v->forked[b] = e;
	}
}

/* The parent's end still open that began at start (an accept returned then):
 * for a child that carries it on another fd.  A walk of the ends not printed
 * yet, made only when the fd did not find it. */
static struct st_end *st_open_started(struct st_view_state *v, uint32_t file, uint32_t pid,
				      uint64_t start)
{
	for (struct st_end *e = v->head; e; e = e->next)
		if (e->copy.pid == pid && e->copy.file == file && !e->client && e->wants_close &&
		    !e->closed && e->copy.ts == start)
			return e;
	return NULL;
}

/* A forked child closed a connection it inherited: the end of its parent's
 * end when the parent closed first, else kept for when it does. */
static void st_child_closed(const struct st_dump *d, struct st_view_state *v,
			    const struct st_rec *r)
{
	struct st_ev probe = {.pid = r->close.pid, .file = r->file, .ts = r->ts};
	const struct st_proc *child = st_proc_of(d, &probe);
	if (child == NULL)
		return;
	uint64_t start = st_close_start(&r->close);
	for (struct st_end *e = v->forked[st_forked_slot(child->ppid, start)]; e;
	     e = e->next_forked)
		if (e->copy.pid == child->ppid && e->copy.file == r->file &&
		    st_close_start(&e->close) == start) {
			st_close_keep_later(&e->close, &r->close);
			st_forked_remove(v, e);
			return;
		}
	struct st_end *open = st_open_find(v, r->file, child->ppid, st_close_fd(&r->close));
	if (open == NULL || open->copy.ts < start)
		open = st_open_started(v, r->file, child->ppid, start);
	if (open == NULL)
		return;
	if (open->child_close == NULL) {
		open->child_close = st_xmalloc(sizeof *open->child_close);
		*open->child_close = r->close;
	} else {
		st_close_keep_later(open->child_close, &r->close);
	}
}

/* A getsockname or getpeername on a TCP socket this process never opened, in
 * a process other than the one that did: a copy passed to it (SCM_RIGHTS).
 * The newest end not printed yet with its 4-tuple is the connection: a walk
 * of them, made only by programs handed sockets (an index by 4-tuple cost
 * every -c run 20%). */
/* Whether end e, in another process, or in ev's own before an exec on
 * another fd (nc -l -e: accept, dup2 to 0 and 1, exec in place), can be
 * the opener of the copy ev names. */
static bool st_carry_other(const struct st_end *e, const struct st_ev *ev)
{
	return e->copy.pid != ev->pid || (ev->op == ST_OP_HELD && e->copy.fd != ev->fd);
}

static bool st_carry_note(struct st_dump *d, struct st_view_state *v, const struct st_ev *ev)
{
	struct st_key local, peer;
	if (ev->ret != 0 || ST_EV_SOCK(ev->flags) == ST_SOCK_DGRAM ||
	    !st_key_of(&ev->local, &local) || !st_key_of(&ev->peer, &peer) ||
	    st_open_find(v, ev->file, ev->pid, ev->fd) != NULL ||
	    *st_carry_at(v, ev->file, ev->pid, ev->fd) != NULL)
		return false;
	struct st_end probe = {.local = local, .peer = peer, .copy = *ev, .ev = ev,
			       .proc = st_proc_of(d, ev)};
	struct st_end *best = NULL;
	for (struct st_end *e = v->head; e; e = e->next)
		if (e->wants_close && !e->unix_stream && memcmp(&e->local, &local, sizeof local) == 0 &&
		    memcmp(&e->peer, &peer, sizeof peer) == 0 && st_carry_other(e, ev) &&
		    e->ev->ts <= ev->ts && st_same_host(e, &probe) &&
		    (best == NULL || e->ev->ts > best->ev->ts))
			best = e;
	if (best == NULL)
		return false;
	struct st_carry *c = st_xcalloc(1, sizeof *c);
	*c = (struct st_carry){.file = ev->file, .pid = ev->pid, .fd = ev->fd, .end = best};
	struct st_carry **at = &v->carry[st_carry_slot(ev->file, ev->pid, ev->fd)];
	c->next = *at;
	*at = c;
	best->carries++;
	return true;
}

/* Whether ev's fd is already followed in its process with the same ends:
 * a program that exec'd another in its place (sh's exec) keeps them. */
static bool st_held_continues(struct st_view_state *v, const struct st_ev *ev)
{
	if (*st_carry_at(v, ev->file, ev->pid, ev->fd) != NULL)
		return true;
	const struct st_end *e = st_open_find(v, ev->file, ev->pid, ev->fd);
	struct st_key local, peer;
	return e != NULL && st_key_of(&ev->local, &local) && st_key_of(&ev->peer, &peer) &&
	       memcmp(&e->local, &local, sizeof local) == 0 &&
	       memcmp(&e->peer, &peer, sizeof peer) == 0;
}

/* A socket a process was started with (the shim's held event at start-up,
 * the tracer's at an attach) that an ancestor's accept or connect opened,
 * or that it had before an exec: a copy of that connection, not a row of
 * its own. */
static bool st_held_is_copy(struct st_dump *d, struct st_view_state *v, const struct st_ev *ev)
{
	return ev->op == ST_OP_HELD && !(ev->flags & ST_EV_BEFORE_WINDOW) &&
	       (st_held_continues(v, ev) || st_carry_note(d, v, ev));
}

/* The close of a passed copy: the connection ends at the later of its
 * holders' closes, its age counted from its opening, its role its opener's
 * (the receiver's shim calls it inherited: no SYN in its counts, which is
 * wrong for a connect passed on). */
static bool st_carry_closed(struct st_view_state *v, const struct st_rec *r)
{
	struct st_carry **at = st_carry_at(v, r->file, r->close.pid, st_close_fd(&r->close));
	struct st_carry *carry = *at;
	if (carry == NULL)
		return false;
	*at = carry->next;
	struct st_end *e = carry->end;
	free(carry);
	e->carries--;
	struct st_close c = r->close;
	uint64_t start = e->closed ? st_close_start(&e->close) : e->ev->ts;
	c.age_ns = c.ts_ns > start ? c.ts_ns - start : 0;
	c.role = e->client ? ST_ROLE_CLIENT : ST_ROLE_SERVER;
	if (e->closed) {
		c.role = e->close.role;
		st_close_keep_later(&e->close, &c);
	} else if (e->child_close == NULL) {
		e->child_close = st_xmalloc(sizeof *e->child_close);
		*e->child_close = c;
	} else {
		st_close_keep_later(e->child_close, &c);
	}
	return true;
}

void st_conn_life(struct st_dump *d, const struct st_rec *r)
{
	struct st_view_state *v = d->state;
	if (v == NULL)
		return;
	if (r->type == ST_REC_PEER) {
		struct st_end *e = st_open_find(v, r->file, r->peer.pid, r->peer.fd);
		if (e && e->unix_stream)
			e->peer_pid = r->peer.peer_pid;
	} else if (r->type == ST_REC_RESULT && r->result.learned == ST_LEARNED_RETURNED) {
		struct st_end *e = st_open_find(v, r->file, r->result.pid, r->result.fd);
		if (e && e->wants_result) {
			st_open_take(v, r->file, r->result.pid, r->result.fd);
			e->wants_result = false;
			e->have_result = true;
			e->result_err = r->result.err;
			e->connect_ns = r->result.latency_ns;
		}
	} else if (r->type == ST_REC_RESULT) {
		struct st_end *e = st_open_find(v, r->file, r->result.pid, r->result.fd);
		if (e && e->client && !e->have_result) {
			e->have_result = true;
			e->result_err = r->result.err;
			e->connect_ns = r->result.latency_ns;
			e->handshake_us = r->result.handshake_us;
		}
	} else if (r->close.how != ST_END_SHUTDOWN) {
		if (r->close.flags & ST_CLOSE_FORKED)
			st_child_closed(d, v, r);
		struct st_end *e = st_open_take(v, r->file, r->close.pid, st_close_fd(&r->close));
		if (e)
			st_closed(v, e, &r->close);
		else
			st_carry_closed(v, r);
	}
}

static void st_row(struct st_dump *d, FILE *out, const struct st_end *c, const struct st_end *s);

/* Whether the end's pairing is final (its close may still be to come). */
static bool st_paired_for_good(const struct st_end *e, uint64_t now)
{
	if (!e->client)
		return e->settled;
	return e->failed || e->partner || now >= e->ev->ts + 2 * ST_PAIR_WINDOW;
}

/* Whether the end at the head of the queue will never change again. */
static bool st_settled(const struct st_end *e, uint64_t now)
{
	/* a server whose client's row is out: its partner is freed already */
	if (!e->client && e->printed)
		return true;
	if (e->wants_close && (!e->closed || e->awaiting_fork || e->carries))
		return false; /* its duration and bytes are still to come */
	if (e->wants_result)
		return false; /* a failed blocking connect's duration comes next */
	if (e->partner && e->partner->wants_close &&
	    (!e->partner->closed || e->partner->awaiting_fork || e->partner->carries))
		return false;
	return st_paired_for_good(e, now);
}

/* The whole stack of ev as the text view prints it, at most 8 KiB (the
 * report's rows outlive the stream's records). */
static char *st_stack_string(const struct st_dump *d, const struct st_ev *ev)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	if (f == NULL)
		return NULL;
	st_stack_print(f, ev, d);
	fclose(f);
	if (text && len > 8192)
		text[8192] = '\0';
	return text;
}

/* Copies of e still held elsewhere end with it (printed as it stands). */
static void st_carries_drop(struct st_view_state *v, const struct st_end *e)
{
	for (size_t b = 0; b < ST_CARRY_BUCKETS && e->carries; b++)
		for (struct st_carry **p = &v->carry[b]; *p;) {
			struct st_carry *c = *p;
			if (c->end == e) {
				*p = c->next;
				free(c);
			} else {
				p = &c->next;
			}
		}
}

/* An end printed before its close leaves the index its close would find it by. */
static void st_end_free(struct st_view_state *v, struct st_end *e)
{
	st_carries_drop(v, e);
	if (e->awaiting_fork)
		st_forked_remove(v, e);
	free(e->child_close);
	free(e->stack_text);
	if ((e->wants_close && !e->closed) || e->wants_result) {
		struct st_end *open = st_open_find(v, e->copy.file, e->copy.pid, e->copy.fd);
		if (open == e)
			st_open_take(v, e->copy.file, e->copy.pid, e->copy.fd);
	}
	free(e);
}

static void st_title(struct st_dump *d, struct st_view_state *v, FILE *out)
{
	if (v->titled || d->json || d->view != ST_VIEW_CONNECTIONS)
		return;
	v->titled = true;
	fprintf(out, "%-15s %-22s %-21s    %-21s %-22s %10s  %-11s %10s %10s %10s %9s %9s  %s\n",
		"CONNECT", "CLIENT", "CLIENT END", "SERVER END", "SERVER", "ACCEPTED", "RESULT",
		"LEARNED", "HANDSHAKE", "DURATION", "TX", "RX", "CLIENT / SERVER CODE");
}

/* Pairs the accepts a window old, then prints the rows that are settled:
 * clients (paired or not) and servers whose client was not traced. */
static void st_advance(struct st_dump *d, struct st_view_state *v, uint64_t now, FILE *out)
{
	while (v->waiting && (now == UINT64_MAX || now >= v->waiting->ev->ts + ST_PAIR_WINDOW)) {
		struct st_end *s = v->waiting;
		v->waiting = s->next_waiting;
		if (v->waiting == NULL)
			v->waiting_tail = NULL;
		st_pair_server(v, s);
	}
	while (v->head && (now == UINT64_MAX || st_settled(v->head, now) ||
			   (v->queued > ST_WAITING_MAX && st_paired_for_good(v->head, now)))) {
		struct st_end *e = v->head;
		v->queued--;
		v->head = e->next;
		if (v->head == NULL)
			v->tail = NULL;
		if (e->client) {
			st_bucket_remove(v, e);
			st_title(d, v, out);
			st_row(d, out, e, e->partner);
			if (e->partner && e->partner->dequeued)
				st_end_free(v, e->partner);
			else if (e->partner)
				e->partner->printed = true;
			st_end_free(v, e);
		} else if (e->partner == NULL) {
			st_title(d, v, out);
			st_row(d, out, NULL, e);
			st_end_free(v, e);
		} else if (e->printed) {
			st_end_free(v, e); /* its client's row came first */
		} else {
			e->dequeued = true; /* freed with its client's row */
		}
	}
}

static void st_queue(struct st_view_state *v, struct st_end *e)
{
	v->queued++;
	if (v->tail)
		v->tail->next = e;
	else
		v->head = e;
	v->tail = e;
}

void st_conn_tick(struct st_dump *d, uint64_t now, FILE *out)
{
	if (d->state)
		st_advance(d, d->state, now, out);
}

void st_conn_add(struct st_dump *d, const struct st_ev *ev, FILE *out)
{
	if (d->follow)
		st_pair_window_ns = ST_PAIR_WINDOW_ONE_HOST_NS;
	if (d->state == NULL)
		d->state = st_xcalloc(1, sizeof *d->state);
	struct st_view_state *v = d->state;
	st_advance(d, v, ev->ts, out);
	/* every connect is a row, failed or not; asking again is the same one */
	bool is_client = st_ev_opens_client(ev);
	bool is_server = st_ev_opens_server(ev);
	if (ev->op == ST_OP_GETSOCKNAME || ev->op == ST_OP_GETPEERNAME)
		st_carry_note(d, v, ev);
	if ((!is_client && !is_server) || st_held_is_copy(d, v, ev))
		return;
	if (ST_EV_SOCK(ev->flags) == ST_SOCK_DGRAM) {
		v->udp++; /* not a TCP connection: counted, not listed */
		return;
	}
	struct st_key local, peer;
	const struct st_endpoint *path = is_client ? &ev->peer : &ev->local;
	bool unix_stream = st_ep_sa(path) && path->len > sizeof(sa_family_t) &&
			   ((const struct sockaddr *)st_ep_sa(path))->sa_family == AF_UNIX &&
			   ST_EV_SOCK(ev->flags) != ST_SOCK_DGRAM && path->len <= 112;
	bool failed_at_once = is_client && ev->ret < 0 && ev->err != EINPROGRESS && ev->err != EAGAIN;
	if (unix_stream) {
		/* both keys are the path's: a client dials it, a server listens on it */
		st_key_of_path(path, &local);
		peer = local;
	} else if ((!st_key_of(&ev->local, &local) && !failed_at_once) ||
		   !st_key_of(&ev->peer, &peer) || ev->local.len > 32 || ev->peer.len > 32) {
		/* a connect that failed at once has no local end: still a row */
		return;
	}
	struct st_end *e = st_xcalloc(1, sizeof *e);
	*e = (struct st_end){.copy = *ev, .proc = st_proc_of(d, ev), .local = local, .peer = peer,
			     .client = is_client};
	e->unix_stream = unix_stream;
	if (unix_stream) {
		memcpy(e->path_sa, st_ep_sa(path), path->len);
		e->copy.local.len = e->copy.peer.len = 0; /* the row shows the path */
	} else {
		/* a connect that failed at once has no local end: NULL, length 0,
		 * which memcpy may not be given */
		if (ev->local.len)
			memcpy(e->local_sa, st_ep_sa(&ev->local), ev->local.len);
		if (ev->peer.len)
			memcpy(e->peer_sa, st_ep_sa(&ev->peer), ev->peer.len);
	}
	if (d->view == ST_VIEW_HTML && ev->nframes)
		e->stack_text = st_stack_string(d, ev);
	/* the frame that names its code: a Python frame takes two slots */
	struct st_frame code;
	unsigned at = st_stack_code(d, ev, &code);
	unsigned slots = ev->nframes == 0 ? 0 : code.py ? 2 : 1;
	if (slots)
		memcpy(e->frames, ev->frames + at, slots * sizeof e->frames[0]);
	e->copy.nframes = (uint16_t)slots;
	e->copy.local.at = e->copy.local.len ? e->local_sa : NULL;
	e->copy.peer.at = e->copy.peer.len ? e->peer_sa : NULL;
	if (unix_stream) {
		/* the path stands for the end in text and JSON */
		struct st_endpoint *where = is_client ? &e->copy.peer : &e->copy.local;
		*where = (struct st_endpoint){.at = e->path_sa, .len = path->len};
	}
	e->copy.frames = e->frames;
	e->ev = &e->copy;
	e->failed = is_client && ev->ret < 0 && ev->err != EINPROGRESS && ev->err != EAGAIN;
	const char *dialled = is_client ? st_names_find(d, ev->pid, &ev->peer) : NULL;
	if (dialled)
		snprintf(e->name, sizeof e->name, "%s", dialled);
	e->wants_close = !e->failed && st_dump_version(d, ev->file) >= 2;
	struct st_end *old = st_open_take(v, ev->file, ev->pid, ev->fd);
	if (old) /* its fd was reused without a close we saw: its end is unknown */
		old->wants_close = false;
	/* version 3: a blocking connect that failed on the wire (refused, timed
	 * out) has a result record right after it, with its duration */
	e->wants_result = e->failed && st_dump_version(d, ev->file) >= 3 &&
			  (ev->err == ECONNREFUSED || ev->err == ETIMEDOUT ||
			   ev->err == EHOSTUNREACH || ev->err == ENETUNREACH ||
			   ev->err == ECONNRESET || ev->err == ECONNABORTED);
	if (e->wants_close || e->wants_result)
		st_open_put(v, e);

	if (e->failed) {
		v->clients++;
	} else if (is_client) {
		if (v->nclients * 2 >= v->nbuckets)
			st_buckets_grow(v);
		st_bucket_put(v, e);
		v->clients++;
	} else {
		if (v->waiting_tail)
			v->waiting_tail->next_waiting = e;
		else
			v->waiting = e;
		v->waiting_tail = e;
		v->servers++;
	}
	st_queue(v, e);
}

/* A Unix client that was not traced is still known by its pid: the one
 * SO_PEERCRED named to its server (postgres' psql or pgbench clients). */
static uint32_t st_untraced_client_pid(const struct st_end *server)
{
	return server && server->unix_stream ? server->peer_pid : 0;
}

/* An end that was not traced is shown by what its partner saw of it: the
 * address dialled (and the name it was dialled by), or the client's address. */
static void st_untraced_text(FILE *out, const struct st_end *partner, bool client)
{
	char ep[256], who[160];
	st_endpoint_ss_str(&partner->ev->peer, ep, sizeof ep);
	if (!client && partner->name[0])
		st_escape(who, sizeof who, partner->name, strlen(partner->name));
	else if (client && st_untraced_client_pid(partner))
		snprintf(who, sizeof who, "pid %u (untraced)", st_untraced_client_pid(partner));
	else
		snprintf(who, sizeof who, "(not traced)");
	if (client)
		fprintf(out, "%-22s %-21s", who, ep);
	else
		fprintf(out, "%-21s %-22s", ep, who);
}

static void st_side_text(struct st_dump *d, FILE *out, const struct st_end *e, bool client,
			 const struct st_end *partner)
{
	if (e == NULL) {
		st_untraced_text(out, partner, client);
		return;
	}
	char name[64], who[192], ep[256], host[96];
	st_proc_label_fit(e->proc, name, sizeof name, 21);
	if (d->many_hosts && e->proc && e->proc->host_len) {
		st_escape(host, sizeof host, e->proc->host, e->proc->host_len);
		snprintf(who, sizeof who, "%s[%u]@%s", name, e->ev->pid, host);
	} else
		snprintf(who, sizeof who, "%s[%u]", name, e->ev->pid);
	st_endpoint_ss_str(e->unix_stream && client ? &e->ev->peer : &e->ev->local, ep, sizeof ep);
	if (client)
		fprintf(out, "%-22s %-21s", who, ep);
	else
		fprintf(out, "%-21s %-22s", ep, who);
}

/* What the row says of the connection's life, from whichever end knows. */
struct st_life_row {
	const char *result;
	bool have_connect, have_handshake, have_duration, have_bytes;
	uint64_t connect_ns, handshake_ns, duration_ns, tx, rx;
	uint32_t rtt_us, retrans;
	/* the server end's own counts, which may differ from the client's:
	 * what one side sent after the other closed, or never read */
	bool have_server_bytes;
	uint64_t server_tx, server_rx;
};

static const char *st_end_result(const struct st_end *c)
{
	if (c->failed)
		return st_result_name(c->copy.err);
	if (c->have_result)
		return st_result_name(c->result_err);
	if (c->closed && c->close.role == ST_ROLE_PENDING)
		return "abandoned";
	if (c->copy.ret < 0 && !c->closed)
		return "pending";
	if (c->copy.flags & ST_EV_BEFORE_WINDOW) /* its start was overwritten */
		return "pre-window";
	if (c->copy.op == ST_OP_HELD) /* connected before tracing began */
		return "held";
	return c->wants_close && !c->closed ? "open" : "ok";
}

/* A connect that connected before it returned has no result record: it
 * began at its close's date minus its age, and ended when it returned. */
static bool st_blocking_latency(const struct st_end *c, uint64_t *latency_ns)
{
	if (!c->closed || c->copy.op != ST_OP_CONNECT || c->copy.ret != 0 ||
	    c->close.age_ns > c->close.ts_ns)
		return false;
	uint64_t start = st_close_start(&c->close);
	if (c->copy.ts < start)
		return false;
	*latency_ns = c->copy.ts - start;
	return true;
}

/* An end's own count of what it handed to TCP (version 3 closes). */
static bool st_end_handed(const struct st_end *e, uint64_t *handed)
{
	uint64_t received;
	if (!e || !e->closed || (e->close.flags & (ST_CLOSE_TCPINFO | ST_CLOSE_SENT)) !=
					(ST_CLOSE_TCPINFO | ST_CLOSE_SENT))
		return false;
	st_close_bytes(&e->close, handed, &received);
	return true;
}

/*
 * Neither end received more data than the other handed to TCP.  tcp_info
 * counts a FIN in tcpi_bytes_received, and a reset that came after it (the
 * client left, the server's late write was answered with a reset: a TLS
 * close_notify) leaves a state that does not show it: one byte too many,
 * which the other end's own count removes when both ends were traced.
 */
static void st_life_bound(const struct st_end *c, const struct st_end *s, struct st_life_row *l)
{
	uint64_t client_handed, server_handed;
	if (l->have_server_bytes && st_end_handed(c, &client_handed) &&
	    l->server_rx > client_handed)
		l->server_rx = client_handed;
	if (l->have_bytes && c && c->closed && st_end_handed(s, &server_handed) &&
	    l->rx > server_handed)
		l->rx = server_handed;
}

static void st_life_of(const struct st_end *c, const struct st_end *s, struct st_life_row *l)
{
	memset(l, 0, sizeof *l);
	l->result = c ? st_end_result(c)
		  : s->copy.op == ST_OP_HELD ? "held" /* connected before tracing began */
		  : s->wants_close && !s->closed ? "open" : "ok";
	/* the server's accept proves the handshake done, though the client
	 * never asked and its close is not traced (haproxy's idle connection
	 * to a backend, when haproxy dies of SIGINT under the shim) */
	if (c && s && strcmp(l->result, "pending") == 0)
		l->result = c->wants_close ? "open" : "ok";
	if (c && c->have_result) {
		l->have_connect = true;
		l->connect_ns = c->connect_ns;
		/* SYN to SYN-ACK as the kernel sampled it, when it still could */
		l->have_handshake = c->handshake_us != 0;
		l->handshake_ns = (uint64_t)c->handshake_us * 1000;
	} else if (c) {
		/* a blocking connect returns when the SYN-ACK comes: its duration is
		 * its handshake */
		l->have_connect = st_blocking_latency(c, &l->connect_ns);
		l->have_handshake = l->have_connect;
		l->handshake_ns = l->connect_ns;
	}
	/* the client's side where traced, else the server's, swapped */
	const struct st_end *by = c && c->closed ? c : s && s->closed ? s : NULL;
	if (by) {
		l->have_duration = true;
		l->duration_ns = by->close.age_ns;
	}
	if (by && (by->close.flags & ST_CLOSE_TCPINFO)) {
		l->have_bytes = true;
		bool client = by == c;
		uint64_t sent, received;
		st_close_bytes(&by->close, &sent, &received);
		l->tx = client ? sent : received;
		l->rx = client ? received : sent;
		l->rtt_us = by->close.rtt_us;
		l->retrans = by->close.retrans;
	}
	if (s && s->closed && (s->close.flags & ST_CLOSE_TCPINFO)) {
		l->have_server_bytes = true;
		st_close_bytes(&s->close, &l->server_tx, &l->server_rx);
	}
	st_life_bound(c, s, l);
}

static void st_life_text(FILE *out, const struct st_life_row *l)
{
	fprintf(out, "  %-11s", l->result);
	if (l->have_connect)
		fprintf(out, " %8.3fms", (double)l->connect_ns / 1e6);
	else
		fprintf(out, " %10s", "-");
	if (l->have_handshake)
		fprintf(out, " %8.3fms", (double)l->handshake_ns / 1e6);
	else
		fprintf(out, " %10s", "-");
	if (l->have_duration)
		fprintf(out, " %9.3fs", (double)l->duration_ns / 1e9);
	else
		fprintf(out, " %10s", "-");
	if (l->have_bytes)
		fprintf(out, " %9llu %9llu", (unsigned long long)l->tx, (unsigned long long)l->rx);
	else
		fprintf(out, " %9s %9s", "-", "-");
}

static void st_json_u64_or_null(FILE *out, const char *key, bool have, uint64_t v)
{
	if (have)
		fprintf(out, ",\"%s\":%llu", key, (unsigned long long)v);
	else
		fprintf(out, ",\"%s\":null", key);
}

static void st_life_json(FILE *out, const struct st_end *c, const struct st_end *s,
			 const struct st_life_row *l)
{
	const struct st_end *e = c ? c : s;
	int proto = ST_EV_PROTO(e->copy.flags);
	fprintf(out, ",\"transport\":%s,\"result\":\"%s\",\"name\":",
		e->unix_stream ? "\"unix\""
		: proto == ST_PROTO_TCP ? "\"tcp\"" : proto == ST_PROTO_UDP ? "\"udp\"" : "null",
		l->result);
	st_json_cstr(out, c && c->name[0] ? c->name : NULL);
	st_json_u64_or_null(out, "connect_ns", l->have_connect, l->connect_ns);
	st_json_u64_or_null(out, "handshake_ns", l->have_handshake, l->handshake_ns);
	st_json_u64_or_null(out, "duration_ns", l->have_duration, l->duration_ns);
	st_json_u64_or_null(out, "tx_bytes", l->have_bytes, l->tx);
	st_json_u64_or_null(out, "rx_bytes", l->have_bytes, l->rx);
	st_json_u64_or_null(out, "rtt_us", l->have_bytes, l->rtt_us);
	st_json_u64_or_null(out, "retrans", l->have_bytes, l->retrans);
	st_json_u64_or_null(out, "server_tx_bytes", l->have_server_bytes, l->server_tx);
	st_json_u64_or_null(out, "server_rx_bytes", l->have_server_bytes, l->server_rx);
}

/*
 * When the client's connect began: the accept is shown relative to it, never
 * "before" a connect that returned after the server had accepted.  A blocking
 * connect returns after the handshake, and on loopback a non-blocking one can
 * too; the close says how long ago either began.
 */
static uint64_t st_connect_start(const struct st_end *c)
{
	bool client = c->close.role == ST_ROLE_CLIENT || c->close.role == ST_ROLE_PENDING;
	if (c->closed && client && c->close.ts_ns >= c->close.age_ns &&
	    st_close_start(&c->close) <= c->ev->ts)
		return st_close_start(&c->close);
	if (c->failed && c->have_result && c->connect_ns <= c->ev->ts)
		return c->ev->ts - c->connect_ns; /* a failed blocking connect began then */
	return c->ev->ts; /* not closed in the trace: when the connect returned */
}

static void st_row_text(struct st_dump *d, FILE *out, const struct st_end *c, const struct st_end *s)
{
	st_print_time(out, c ? st_connect_start(c) : s->ev->ts);
	fputc(' ', out);
	st_side_text(d, out, c, true, s);
	fputs(" -> ", out);
	st_side_text(d, out, s, false, c);
	if (c && s)
		fprintf(out, " %+9.6fs", ((double)s->ev->ts - (double)st_connect_start(c)) / 1e9);
	else
		fprintf(out, " %10s", "-");
	struct st_life_row l;
	st_life_of(c, s, &l);
	st_life_text(out, &l);
	const char *ct = c ? st_stack_top(d, c->ev) : NULL, *stop = s ? st_stack_top(d, s->ev) : NULL;
	if (ct || stop) {
		fputs("  ", out);
		st_fput_escaped_cstr(out, ct ? ct : "-");
		fputs(" / ", out);
		st_fput_escaped_cstr(out, stop ? stop : "-");
	}
	fputc('\n', out);
}

static void st_side_json(struct st_dump *d, FILE *out, const struct st_end *e)
{
	if (e == NULL) {
		fputs("null", out);
		return;
	}
	const struct st_proc *p = e->proc;
	char name[64];
	st_proc_name(p, name, sizeof name);
	fprintf(out, "{\"pid\":%u,\"program\":", e->ev->pid);
	st_json_string(out, name, strlen(name));
	fputs(",\"host\":", out);
	if (p && p->host_len)
		st_json_string(out, p->host, p->host_len);
	else
		fputs("null", out);
	fprintf(out, ",\"ts\":%llu,\"op\":\"%s\",\"fd\":%d,\"local\":", (unsigned long long)e->ev->ts,
		st_op_name(e->ev->op), e->ev->fd);
	st_endpoint_json(out, &e->ev->local);
	fputs(",\"peer\":", out);
	st_endpoint_json(out, &e->ev->peer);
	fputs(",\"top\":", out);
	st_json_cstr(out, st_stack_top(d, e->ev));
	fputc('}', out);
}

static void st_row_json(struct st_dump *d, FILE *out, const struct st_end *c, const struct st_end *s)
{
	fputs("{\"client\":", out);
	st_side_json(d, out, c);
	fputs(",\"server\":", out);
	st_side_json(d, out, s);
	fprintf(out, ",\"paired\":%s", c && s ? "true" : "false");
	uint32_t client_pid = c ? c->ev->pid : st_untraced_client_pid(s);
	if (client_pid)
		fprintf(out, ",\"client_pid\":%u", client_pid);
	else
		fputs(",\"client_pid\":null", out);
	struct st_life_row l;
	st_life_of(c, s, &l);
	st_life_json(out, c, s, &l);
	fputs("}\n", out);
}

/* An end seen before its process record (a writer's first events can be
 * older than the record it wrote first) is named at printing. */
static void st_name_late(const struct st_dump *d, const struct st_end *e)
{
	if (e && e->proc == NULL)
		((struct st_end *)e)->proc = st_proc_of(d, e->ev);
}

/* The row for the sinks (graph, OTLP, HTML). */
static void st_row_of(struct st_dump *d, const struct st_end *c, const struct st_end *s,
		      const struct st_life_row *l, struct st_conn_row *r)
{
	const struct st_end *e = c ? c : s;
	int proto = ST_EV_PROTO(e->copy.flags);
	*r = (struct st_conn_row){
		.client = c ? c->ev : NULL, .server = s ? s->ev : NULL,
		.client_proc = c ? c->proc : NULL, .server_proc = s ? s->proc : NULL,
		.name = c && c->name[0] ? c->name : NULL, .result = l->result,
		.err = !c ? 0 : c->failed ? c->copy.err : c->have_result ? c->result_err : 0,
		.transport = e->unix_stream ? "unix" : proto == ST_PROTO_TCP ? "tcp" : NULL,
		.have_connect = l->have_connect, .have_duration = l->have_duration,
		.have_bytes = l->have_bytes, .connect_ns = l->connect_ns,
		.duration_ns = l->duration_ns, .tx = l->tx, .rx = l->rx, .rtt_us = l->rtt_us,
		.retrans = l->retrans,
		.client_end_ns = c && c->closed ? c->close.ts_ns : 0,
		.server_end_ns = s && s->closed ? s->close.ts_ns : 0,
		.client_top = c ? st_stack_top(d, c->ev) : NULL,
		.server_top = s ? st_stack_top(d, s->ev) : NULL,
		.untraced_client_pid = c ? 0 : st_untraced_client_pid(s),
	};
	r->client_stack = c ? c->stack_text : NULL;
	r->server_stack = s ? s->stack_text : NULL;
	struct st_frame f;
	if (c && c->ev->nframes && (st_stack_code(d, c->ev, &f), f.file)) {
		r->client_file = f.file;
		r->client_line = f.line;
	}
	if (s && s->ev->nframes && (st_stack_code(d, s->ev, &f), f.file)) {
		r->server_file = f.file;
		r->server_line = f.line;
	}
}

static void st_row(struct st_dump *d, FILE *out, const struct st_end *c, const struct st_end *s)
{
	st_name_late(d, c);
	st_name_late(d, s);
	if (d->view == ST_VIEW_CONNECTIONS) {
		if (d->json)
			st_row_json(d, out, c, s);
		else
			st_row_text(d, out, c, s);
		return;
	}
	struct st_life_row l;
	struct st_conn_row r;
	st_life_of(c, s, &l);
	st_row_of(d, c, s, &l, &r);
	if (d->view == ST_VIEW_OTLP)
		st_otlp_row(d, &r, out);
	if (d->view == ST_VIEW_GRAPH || d->view == ST_VIEW_HTML)
		st_graph_row(d, &r);
	if (d->view == ST_VIEW_HTML)
		st_html_row(d, &r);
}

/* The trace's end: an end whose own process never closed it (killed by a
 * signal under the shim, or still running) but whose forked child did, ends
 * at the child's close, with its duration and bytes (postgres' postmaster
 * killed after its backend served the connection). */
static void st_end_at_childs_close(struct st_view_state *v)
{
	for (struct st_end *e = v->head; e; e = e->next)
		if (e->wants_close && !e->closed && e->child_close) {
			if (st_open_find(v, e->copy.file, e->copy.pid, e->copy.fd) == e)
				st_open_take(v, e->copy.file, e->copy.pid, e->copy.fd);
			st_closed(v, e, e->child_close);
		}
}

void st_conn_print(struct st_dump *d, FILE *out)
{
	static struct st_view_state none;
	struct st_view_state *v = d->state ? d->state : &none;
	st_end_at_childs_close(v);
	st_advance(d, v, UINT64_MAX, out);
	st_title(d, v, out);
	if (!d->json && d->view == ST_VIEW_CONNECTIONS)
		fprintf(stderr, "socktrace-dump: %zu connection%s paired, %zu client end%s and %zu "
				"server end%s without a traced partner%s\n",
			v->paired, v->paired == 1 ? "" : "s", v->clients - v->paired,
			v->clients - v->paired == 1 ? "" : "s", v->servers - v->paired,
			v->servers - v->paired == 1 ? "" : "s", v->udp ? "; UDP sockets are not listed" : "");
	free(v->bucket);
	free(v->open);
	for (size_t b = 0; b < ST_CARRY_BUCKETS; b++)
		for (struct st_carry *c = v->carry[b], *next; c; c = next) {
			next = c->next;
			free(c);
		}
	if (d->state) {
		free(d->state);
		d->state = NULL;
	}
}
