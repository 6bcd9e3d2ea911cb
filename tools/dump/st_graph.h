/* The service map's model (st_view_graph.c), shared with the HTML report. */
#ifndef ST_GRAPH_H
#define ST_GRAPH_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define ST_GRAPH_PIDS 8
#define ST_GRAPH_PORTS 8

struct st_gnode {
	char *key;   /* program name (@host), or the untraced peer's name or address */
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
void st_graph_node_label(const struct st_gnode *n, char *out, size_t size);
void st_graph_edge_label(struct st_gedge *e, char *out, size_t size);
uint64_t st_graph_median(struct st_gedge *e);
void st_graph_bytes(char *out, size_t size, uint64_t n);

#endif
