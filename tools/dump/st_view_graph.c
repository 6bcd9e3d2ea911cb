/*
 * --graph: the service map as a Graphviz DOT graph, built from the rows of
 * the connections view.  One node per program (with its pids, its host when
 * the traces span hosts, and the ports it listened on), one per peer that was
 * not traced (named by the name it was dialled by, else its address), one edge
 * per client -> server pair: 2,000 connections are one edge labelled 2000.
 * Failures are drawn red, dashed when none succeeded.  Memory is the nodes
 * and edges, and up to 1,024 connect latencies per edge for the median.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

#include "st_xalloc.h"
#include "st_dump.h"
#include "st_endpoint.h"
#include "st_graph.h"

#define ST_LATENCIES_MAX 1024
#define ST_MEDIAN_MIN 5

static size_t st_node_named(struct st_graph *g, const char *key, const char *name, bool traced)
{
	for (size_t i = 0; i < g->nnodes; i++)
		if (strcmp(g->nodes[i].key, key) == 0)
			return i;
	g->nodes = st_grow(g->nodes, &g->nodes_cap, g->nnodes + 1, sizeof *g->nodes);
	struct st_gnode *n = &g->nodes[g->nnodes];
	memset(n, 0, sizeof *n);
	n->key = st_xstrdup(key);
	n->name = st_xstrdup(name);
	n->traced = traced;
	return g->nnodes++;
}

static size_t st_node(struct st_graph *g, const char *key, bool traced)
{
	return st_node_named(g, key, key, traced);
}

static void st_node_pid(struct st_gnode *n, uint32_t pid)
{
	for (size_t i = 0; i < n->npids; i++)
		if (n->pids[i] == pid)
			return;
	if (n->npids < ST_GRAPH_PIDS)
		n->pids[n->npids++] = pid;
	else
		n->more_pids++;
}

static void st_node_port(struct st_gnode *n, unsigned port)
{
	for (size_t i = 0; i < n->nports; i++)
		if (n->ports[i] == port)
			return;
	if (n->nports < ST_GRAPH_PORTS)
		n->ports[n->nports++] = port;
}

static unsigned st_port_of(const struct st_endpoint *ep)
{
	uint16_t family, port;
	if (st_ep_sa(ep) == NULL || ep->len < 4)
		return 0;
	memcpy(&family, st_ep_sa(ep), 2);
	memcpy(&port, st_ep_sa(ep) + 2, 2);
	return family == AF_INET || family == AF_INET6 ? ntohs(port) : 0;
}

/* "address" or "address:port" of an inet end, "unix:path" of a Unix one */
static void st_ep_label(const struct st_endpoint *ep, bool with_port, char *out, size_t size)
{
	st_endpoint_ss_str(ep, out, size);
	char *colon = strrchr(out, ':');
	if (!with_port && colon && strncmp(out, "unix:", 5) != 0)
		*colon = '\0';
}

/* A command line as shown: its NUL-separated arguments joined by spaces. */
static void st_cmdline(const struct st_proc *p, char *out, size_t size)
{
	size_t len = p && p->cmd_len < size - 1 ? p->cmd_len : p ? size - 1 : 0;
	if (len)
		memcpy(out, p->cmd, len);
	for (size_t k = 0; k < len; k++)
		if (out[k] == '\0')
			out[k] = ' ';
	while (len && out[len - 1] == ' ')
		len--;
	out[len] = '\0';
}

/*
 * One node per service: a program as started (an exec) with the children it
 * forked without exec (nginx's master and workers, a prefork server), keyed
 * by that start's command line, so that two python3 programs are two nodes
 * and the same command run again is one service with more pids.
 */
static size_t st_program_node(struct st_dump *d, struct st_graph *g, const struct st_proc *p,
			      uint32_t pid)
{
	char name[128], shown[256], cmd[1024], key[1400];
	const struct st_proc *service = p ? st_service_of(d, p) : NULL;
	st_proc_name(p, name, sizeof name);
	if (d->many_hosts && p && p->host_len)
		snprintf(shown, sizeof shown, "%s@%.*s", name, (int)p->host_len, p->host);
	else
		snprintf(shown, sizeof shown, "%s", name);
	st_cmdline(service, cmd, sizeof cmd);
	snprintf(key, sizeof key, "%s\n%s", shown, cmd);
	size_t i = st_node_named(g, key, shown, true);
	struct st_gnode *n = &g->nodes[i];
	if (n->cmd == NULL && cmd[0]) {
		if (strlen(cmd) > 100)
			strcpy(cmd + 97, "...");
		n->cmd = st_xstrdup(cmd);
	}
	st_node_pid(n, pid);
	return i;
}

static size_t st_edge(struct st_graph *g, size_t from, size_t to)
{
	for (size_t i = 0; i < g->nedges; i++)
		if (g->edges[i].from == from && g->edges[i].to == to)
			return i;
	g->edges = st_grow(g->edges, &g->edges_cap, g->nedges + 1, sizeof *g->edges);
	struct st_gedge *e = &g->edges[g->nedges];
	memset(e, 0, sizeof *e);
	e->from = from;
	e->to = to;
	return g->nedges++;
}

struct st_graph *st_graph_of(struct st_dump *d)
{
	if (d->graph == NULL)
		d->graph = st_xcalloc(1, sizeof *d->graph);
	return d->graph;
}

void st_graph_row(struct st_dump *d, const struct st_conn_row *r)
{
	struct st_graph *g = st_graph_of(d);
	char label[320];
	size_t from, to;
	if (r->client) {
		from = st_program_node(d, g, r->client_proc, r->client->pid);
	} else if (r->untraced_client_pid) {
		snprintf(label, sizeof label, "pid %u", r->untraced_client_pid);
		from = st_node(g, label, false);
	} else {
		st_ep_label(&r->server->peer, false, label, sizeof label);
		from = st_node(g, label, false);
	}
	if (r->server) {
		to = st_program_node(d, g, r->server_proc, r->server->pid);
		unsigned port = st_port_of(&r->server->local);
		if (port)
			st_node_port(&g->nodes[to], port);
	} else {
		char addr[256];
		st_ep_label(&r->client->peer, true, addr, sizeof addr);
		if (r->name)
			snprintf(label, sizeof label, "%s (%s)", r->name, addr);
		else
			snprintf(label, sizeof label, "%s", addr);
		to = st_node(g, label, false);
	}
	size_t ei = st_edge(g, from, to); /* may move the array: index first */
	struct st_gedge *e = &g->edges[ei];
	e->count++;
	bool ok = strcmp(r->result, "ok") == 0 || strcmp(r->result, "open") == 0;
	if (!ok) {
		e->failed++;
		snprintf(e->last_failure, sizeof e->last_failure, "%s", r->result);
	}
	if (r->have_connect) {
		e->nlat_seen++;
		/* every k-th latency once the sample is full: a spread, not the first */
		if (e->nlat < ST_LATENCIES_MAX) {
			e->lat = st_grow(e->lat, &e->lat_cap, e->nlat + 1, sizeof *e->lat);
			e->lat[e->nlat++] = r->connect_ns;
		} else if (e->count % 16 == 0) {
			e->lat[e->count / 16 % ST_LATENCIES_MAX] = r->connect_ns;
		}
	}
	if (r->have_bytes) {
		e->have_bytes = true;
		e->tx += r->tx;
		e->rx += r->rx;
	}
}

static int st_u64_order(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

uint64_t st_graph_median(struct st_gedge *e)
{
	if (e->nlat == 0)
		return 0;
	qsort(e->lat, e->nlat, sizeof *e->lat, st_u64_order);
	return e->lat[e->nlat / 2];
}

void st_graph_bytes(char *out, size_t size, uint64_t n)
{
	static const char *const units[] = {"B", "kB", "MB", "GB", "TB"};
	double v = (double)n;
	int u = 0;
	while (v >= 1000 && u < 4) {
		v /= 1000;
		u++;
	}
	snprintf(out, size, u ? "%.1f %s" : "%.0f %s", v, units[u]);
}

/* A DOT string body: the label's own line breaks become DOT's \n; within
 * a line, trace bytes are escaped, then DOT's quote and backslash. */
static void st_dot_text(FILE *out, const char *s)
{
	for (const char *line = s; line;) {
		const char *nl = strchr(line, '\n');
		size_t n = nl ? (size_t)(nl - line) : strlen(line);
		char safe[1024];
		st_escape(safe, sizeof safe, line, n);
		for (const char *p = safe; *p; p++) {
			if (*p == '"' || *p == '\\')
				fputc('\\', out);
			fputc(*p, out);
		}
		if (nl)
			fputs("\\n", out);
		line = nl ? nl + 1 : NULL;
	}
}

bool st_graph_name_shared(const struct st_graph *g, size_t i)
{
	for (size_t k = 0; k < g->nnodes; k++)
		if (k != i && g->nodes[k].traced && strcmp(g->nodes[k].name, g->nodes[i].name) == 0)
			return true;
	return false;
}

void st_graph_node_label(const struct st_gnode *n, bool ambiguous, char *out, size_t size)
{
	size_t o = (size_t)snprintf(out, size, "%s", n->name);
	if (ambiguous && n->cmd && o < size)
		o += (size_t)snprintf(out + o, size - o, "\n%s", n->cmd);
	size_t pids = n->npids + n->more_pids;
	if (n->traced && pids > 3 && o < size) {
		o += (size_t)snprintf(out + o, size - o, "\n%zu processes", pids);
	} else if (n->traced && n->npids && o < size) {
		o += (size_t)snprintf(out + o, size - o, "\npid%s", n->npids > 1 ? "s" : "");
		for (size_t i = 0; i < n->npids && o < size; i++)
			o += (size_t)snprintf(out + o, size - o, " %u", n->pids[i]);
	}
	if (n->nports && o < size) {
		o += (size_t)snprintf(out + o, size - o, "\nlistens");
		for (size_t i = 0; i < n->nports && o < size; i++)
			o += (size_t)snprintf(out + o, size - o, " :%u", n->ports[i]);
	}
}

void st_graph_edge_label(struct st_gedge *e, char *out, size_t size)
{
	size_t o = (size_t)snprintf(out, size, "%zu connection%s", e->count, e->count == 1 ? "" : "s");
	if (e->failed && o < size)
		o += (size_t)snprintf(out + o, size - o, "\n%zu failed (%s)", e->failed, e->last_failure);
	/* a median of a few samples means nothing (redis-benchmark: 1 of 201
	 * connects had its latency): shown from ST_MEDIAN_MIN, with its count */
	if (e->nlat >= ST_MEDIAN_MIN && o < size)
		o += (size_t)snprintf(out + o, size - o, "\nconnect p50 %.3f ms (%zu of %zu)",
				      (double)st_graph_median(e) / 1e6, e->nlat_seen, e->count);
	if (e->have_bytes && o < size) {
		char tx[32], rx[32];
		st_graph_bytes(tx, sizeof tx, e->tx);
		st_graph_bytes(rx, sizeof rx, e->rx);
		snprintf(out + o, size - o, "\ntx %s, rx %s", tx, rx);
	}
}

/* DOT of the graph; the HTML report renders the same text with dot. */
void st_graph_dot(struct st_dump *d, FILE *out)
{
	struct st_graph *g = st_graph_of(d);
	fputs("digraph socktrace {\n"
	      "\trankdir=LR;\n"
	      "\tnode [shape=box, style=rounded, fontname=\"Helvetica\", fontsize=11];\n"
	      "\tedge [fontname=\"Helvetica\", fontsize=10];\n",
	      out);
	char label[1024];
	for (size_t i = 0; i < g->nnodes; i++) {
		st_graph_node_label(&g->nodes[i], st_graph_name_shared(g, i), label, sizeof label);
		fprintf(out, "\tn%zu [label=\"", i);
		st_dot_text(out, label);
		fputs(g->nodes[i].traced ? "\"];\n" : "\", style=\"rounded,dashed\"];\n", out);
	}
	for (size_t i = 0; i < g->nedges; i++) {
		struct st_gedge *e = &g->edges[i];
		st_graph_edge_label(e, label, sizeof label);
		fprintf(out, "\tn%zu -> n%zu [label=\"", e->from, e->to);
		st_dot_text(out, label);
		fputc('"', out);
		if (e->failed)
			fputs(e->failed == e->count ? ", color=red, fontcolor=red, style=dashed"
						    : ", color=red, fontcolor=red",
			      out);
		fputs("];\n", out);
	}
	fputs("}\n", out);
}

void st_graph_print(struct st_dump *d, FILE *out)
{
	st_graph_dot(d, out);
	st_graph_free(d);
}

void st_graph_free(struct st_dump *d)
{
	struct st_graph *g = d->graph;
	if (g == NULL)
		return;
	for (size_t i = 0; i < g->nnodes; i++) {
		free(g->nodes[i].key);
		free(g->nodes[i].name);
		free(g->nodes[i].cmd);
	}
	for (size_t i = 0; i < g->nedges; i++)
		free(g->edges[i].lat);
	free(g->nodes);
	free(g->edges);
	free(g);
	d->graph = NULL;
}
