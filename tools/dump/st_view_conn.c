/*
 * --connections: the two ends of each TCP connection, client side (connect)
 * with server side (accept), across processes, trace files and hosts.  Ends
 * are matched by their 4-tuple with IPv4-mapped IPv6 addresses folded to IPv4
 * and an unspecified connect address (0.0.0.0, ::) accepted as any; a 4-tuple
 * can be reused over time, so each accept takes the unpaired connect closest
 * to it in time, and no connect is paired twice.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "st_dump.h"
#include "st_endpoint.h"

#define ST_PAIR_WINDOW_NS (10ull * 1000000000u)

struct st_key {
	uint8_t addr[16]; /* IPv6, or IPv4-mapped */
	uint16_t port;
};

/* An end as the view keeps it: a copy of its event with the (inet) endpoints
 * and the innermost frame, since the stream's records do not outlive a step. */
struct st_end {
	const struct st_ev *ev; /* &copy, set once collection is over */
	struct st_ev copy;
	uint8_t local_sa[32], peer_sa[32];
	uint64_t frame0;
	const struct st_proc *proc;
	struct st_key local, peer;
	long partner; /* index into the other side, -1 = none */
};

struct st_view_state {
	struct st_end *ends[2]; /* clients, servers: in time order */
	size_t n[2], cap[2];
};

static bool st_key_of(const struct st_endpoint *ep, struct st_key *k)
{
	memset(k, 0, sizeof *k);
	if (ep->sa == NULL || ep->len < 8)
		return false;
	uint16_t family, port;
	memcpy(&family, ep->sa, 2);
	memcpy(&port, ep->sa + 2, 2);
	k->port = ntohs(port);
	if (family == AF_INET) {
		k->addr[10] = k->addr[11] = 0xff;
		memcpy(k->addr + 12, ep->sa + 4, 4);
		return true;
	}
	if (family == AF_INET6 && ep->len >= 24) {
		memcpy(k->addr, ep->sa + 8, 16);
		return true;
	}
	return false;
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

void st_conn_add(struct st_dump *d, const struct st_ev *ev)
{
	bool is_client = ev->op == ST_OP_CONNECT && (ev->ret == 0 || ev->err == EINPROGRESS);
	bool is_server = (ev->op == ST_OP_ACCEPT || ev->op == ST_OP_ACCEPT4) && ev->ret >= 0;
	if (!is_client && !is_server)
		return;
	struct st_end e = {.copy = *ev, .proc = st_proc_of(d, ev), .partner = -1};
	if (!st_key_of(&ev->local, &e.local) || !st_key_of(&ev->peer, &e.peer) ||
	    ev->local.len > sizeof e.local_sa || ev->peer.len > sizeof e.peer_sa)
		return;
	memcpy(e.local_sa, ev->local.sa, ev->local.len);
	memcpy(e.peer_sa, ev->peer.sa, ev->peer.len);
	if (ev->nframes)
		memcpy(&e.frame0, ev->frames, sizeof e.frame0);
	e.copy.nframes = ev->nframes ? 1 : 0;
	if (d->state == NULL && (d->state = calloc(1, sizeof *d->state)) == NULL)
		exit(2);
	struct st_view_state *v = d->state;
	int side = is_client ? 0 : 1;
	if (v->n[side] == v->cap[side]) {
		v->cap[side] = v->cap[side] ? v->cap[side] * 2 : 256;
		v->ends[side] = realloc(v->ends[side], v->cap[side] * sizeof *v->ends[side]);
		if (v->ends[side] == NULL) {
			perror("socktrace-dump: out of memory");
			exit(2);
		}
	}
	v->ends[side][v->n[side]++] = e;
}

/* The array no longer moves: point each copy at its own buffers. */
static void st_settle(struct st_end *e, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		e[i].copy.local.sa = e[i].local_sa;
		e[i].copy.peer.sa = e[i].peer_sa;
		e[i].copy.frames = &e[i].frame0;
		e[i].ev = &e[i].copy;
	}
}

static uint64_t st_gap(uint64_t a, uint64_t b)
{
	return a > b ? a - b : b - a;
}

static const struct st_end *st_sorted_clients;

static int st_client_order(const void *a, const void *b)
{
	const struct st_end *x = &st_sorted_clients[*(const size_t *)a];
	const struct st_end *y = &st_sorted_clients[*(const size_t *)b];
	return st_key_cmp(&x->local, x->peer.port, &y->local, y->peer.port);
}

/* First position in the sorted index whose client could be s's partner. */
static size_t st_first_candidate(const struct st_end *c, const size_t *order, size_t nc,
				 const struct st_end *s)
{
	size_t lo = 0, hi = nc;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const struct st_end *m = &c[order[mid]];
		if (st_key_cmp(&m->local, m->peer.port, &s->peer, s->local.port) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* Each accept, in time order, takes the unpaired matching connect closest to
 * it in time within the window; the index keeps this O((c + s) log c) for
 * traces of many connections. */
static void st_pair(struct st_end *c, size_t nc, struct st_end *s, size_t ns)
{
	size_t *order = malloc((nc + 1) * sizeof *order);
	if (order == NULL)
		return;
	for (size_t k = 0; k < nc; k++)
		order[k] = k;
	st_sorted_clients = c;
	qsort(order, nc, sizeof *order, st_client_order);
	for (size_t i = 0; i < ns; i++) {
		long best = -1;
		for (size_t j = st_first_candidate(c, order, nc, &s[i]); j < nc; j++) {
			const struct st_end *cand = &c[order[j]];
			if (st_key_cmp(&cand->local, cand->peer.port, &s[i].peer, s[i].local.port) != 0)
				break;
			if (cand->partner >= 0 || !st_ends_match(cand, &s[i]))
				continue;
			uint64_t gap = st_gap(cand->ev->ts, s[i].ev->ts);
			if (gap <= ST_PAIR_WINDOW_NS &&
			    (best < 0 || gap < st_gap(c[best].ev->ts, s[i].ev->ts)))
				best = (long)order[j];
		}
		if (best >= 0) {
			c[best].partner = (long)i;
			s[i].partner = best;
		}
	}
	free(order);
}

static void st_side_text(struct st_dump *d, FILE *out, const struct st_end *e, bool client)
{
	if (e == NULL) {
		fprintf(out, client ? "%-22s %-21s" : "%-21s %-22s", "(not traced)", "");
		return;
	}
	char name[64], who[192], ep[256], host[96];
	st_proc_label(e->proc, name, sizeof name);
	if (d->many_hosts && e->proc && e->proc->host_len) {
		st_escape(host, sizeof host, e->proc->host, e->proc->host_len);
		snprintf(who, sizeof who, "%s[%u]@%s", name, e->ev->pid, host);
	} else
		snprintf(who, sizeof who, "%s[%u]", name, e->ev->pid);
	FILE *mem = fmemopen(ep, sizeof ep, "w");
	st_endpoint_ss(mem, &e->ev->local);
	fclose(mem);
	if (client)
		fprintf(out, "%-22s %-21s", who, ep);
	else
		fprintf(out, "%-21s %-22s", ep, who);
}

static void st_row_text(struct st_dump *d, FILE *out, const struct st_end *c, const struct st_end *s)
{
	const struct st_ev *first = c ? c->ev : s->ev;
	st_print_time(out, first->ts);
	fputc(' ', out);
	st_side_text(d, out, c, true);
	fputs(" -> ", out);
	st_side_text(d, out, s, false);
	if (c && s)
		fprintf(out, " %+9.6fs", ((double)s->ev->ts - (double)c->ev->ts) / 1e9);
	else
		fprintf(out, " %10s", "-");
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
	fprintf(out, ",\"paired\":%s}\n", c && s ? "true" : "false");
}

static void st_row(struct st_dump *d, FILE *out, const struct st_end *c, const struct st_end *s)
{
	if (d->json)
		st_row_json(d, out, c, s);
	else
		st_row_text(d, out, c, s);
}

void st_conn_print(struct st_dump *d, FILE *out)
{
	static struct st_view_state none;
	struct st_view_state *v = d->state ? d->state : &none;
	struct st_end *c = v->ends[0], *s = v->ends[1];
	size_t nc = v->n[0], ns = v->n[1];
	st_settle(c, nc);
	st_settle(s, ns);
	st_pair(c, nc, s, ns);
	if (!d->json)
		fprintf(out, "%-15s %-22s %-21s    %-21s %-22s %10s  %s\n", "CONNECT", "CLIENT",
			"CLIENT END", "SERVER END", "SERVER", "ACCEPTED", "CLIENT / SERVER CODE");
	/* rows in time order of their first end: clients (paired or not), then
	 * servers whose client was not traced, merged by time */
	size_t i = 0, k = 0;
	while (i < nc || k < ns) {
		while (k < ns && s[k].partner >= 0)
			k++;
		bool take_server = k < ns && (i >= nc || s[k].ev->ts < c[i].ev->ts);
		if (take_server) {
			st_row(d, out, NULL, &s[k++]);
		} else if (i < nc) {
			st_row(d, out, &c[i], c[i].partner >= 0 ? &s[c[i].partner] : NULL);
			i++;
		}
	}
	size_t paired = 0;
	for (size_t j = 0; j < nc; j++)
		paired += c[j].partner >= 0;
	if (!d->json)
		fprintf(stderr, "socktrace-dump: %zu connections paired, %zu client ends and %zu "
				"server ends without a traced partner\n",
			paired, nc - paired, ns - paired);
	free(c);
	free(s);
	free(d->state);
	d->state = NULL;
}
