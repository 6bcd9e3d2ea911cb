/* --stats per peer: connections, failures and bytes by address dialled or
 * served, and the slowest connects (st_stats_peers.c). */
#ifndef ST_STATS_PEERS_H
#define ST_STATS_PEERS_H

#include <stdio.h>

#include "st_dump.h"

#define ST_SLOWEST 10

struct st_peers;
struct st_peers *st_peers_new(void);
/* Records in time order: a connect or accept, then its result and close. */
void st_peers_event(struct st_peers *p, const struct st_dump *d, const struct st_ev *ev);
void st_peers_life(struct st_peers *p, const struct st_dump *d, const struct st_rec *r);
/* Sections after the summary (text), or keys of the summary object (JSON,
 * each written with its leading comma). */
void st_peers_text(struct st_peers *p, const struct st_dump *d, FILE *out);
void st_peers_json(struct st_peers *p, const struct st_dump *d, FILE *out);
/* Connects that ended connected without the program asking how they went
 * (it used the socket once writable): counted as ok with the results. */
size_t st_peers_ok_unasked(const struct st_peers *p);
/* The trace's end: connections still waiting for a forked child's close, or
 * for their own process's, end at the close they have. */
void st_peers_end(struct st_peers *p);
/* every connection's bytes, counted once, at its end (after st_peers_end) */
void st_peers_bytes(const struct st_peers *p, uint64_t *tx, uint64_t *rx);
/* connects in progress with no outcome and no close in the trace */
size_t st_peers_unended(const struct st_peers *p);
void st_peers_free(struct st_peers *p);

#endif
