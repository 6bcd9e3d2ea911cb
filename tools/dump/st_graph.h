/* The service map's model (st_view_graph.c), shared with the HTML report. */
#ifndef ST_GRAPH_H
#define ST_GRAPH_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define ST_GRAPH_PIDS 8
#define ST_GRAPH_PORTS 8

struct st_gnode {
	char *key;   /* the service's first process (file, pid), or the untraced peer */
	char *name;  /* what the map shows: program (@host), or the peer's name or address */
	char *cmd;   /* the service's command line, shown when two share a name */
	bool traced;
	uint32_t pids[ST_GRAPH_PIDS];
	size_t npids, more_pids;
	unsigned ports[ST_GRAPH_PORTS]; /* listened on */
	size_t nports;
};

struct st_gedge {
	size_t from, to;
	size_t count, failed;
	char last_failure[32];
	uint64_t *lat; /* connect latencies, a sample */
	size_t nlat, lat_cap;
	size_t nlat_seen; /* connections that had one */
	bool have_bytes;
	uint64_t tx, rx;
};

struct st_graph {
	struct st_gnode *nodes;
	size_t nnodes, nodes_cap;
	struct st_gedge *edges;
	size_t nedges, edges_cap;
};

struct st_dump;
struct st_graph *st_graph_of(struct st_dump *d);
void st_graph_dot(struct st_dump *d, FILE *out);
void st_graph_free(struct st_dump *d);
/* ambiguous: another node has the same name, so the command line is shown */
void st_graph_node_label(const struct st_gnode *n, bool ambiguous, char *out, size_t size);
bool st_graph_name_shared(const struct st_graph *g, size_t i);
void st_graph_edge_label(struct st_gedge *e, char *out, size_t size);
uint64_t st_graph_median(struct st_gedge *e);
void st_graph_bytes(char *out, size_t size, uint64_t n);

#endif
