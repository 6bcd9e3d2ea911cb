/* socktrace-dump's views share this: options, the loaded traces, the merged
 * and filtered events, and helpers to name processes and stack tops. */
#ifndef ST_DUMP_H
#define ST_DUMP_H

#include <stdbool.h>
#include <stdio.h>
#include <sys/socket.h>

#include "st_escape.h"
#include "st_symbols.h"
#include "st_stream.h"
#include "st_trace.h"

struct st_filter {
	long pid;          /* -1 = any */
	unsigned ops;      /* bit per op, 0 = any */
	long port;         /* -1 = any; either end */
	bool have_addr;
	struct sockaddr_storage addr; /* either end; port ignored */
	long fd;           /* -1 = any */
	bool errors;       /* failed calls only */
	uint64_t since, until; /* ns; 0 = open */
	const char *since_text, *until_text; /* resolved once the traces are loaded */
	struct st_keep *kept; /* connections --port, --addr, --op selected */
};

enum st_view {
	ST_VIEW_EVENTS,
	ST_VIEW_CONNECTIONS,
	ST_VIEW_STATS,
	ST_VIEW_GRAPH, /* these three are sinks of the connections view's rows */
	ST_VIEW_OTLP,
	ST_VIEW_HTML,
};

/* A connection as the connections view settled it, for the sinks. */
struct st_conn_row {
	const struct st_ev *client, *server; /* NULL: that end was not traced */
	const struct st_proc *client_proc, *server_proc;
	const char *name;      /* the name the client dialled, or NULL */
	const char *result;    /* "ok", "refused", ... */
	int err;               /* the failed connect's errno, 0 otherwise */
	const char *transport; /* "tcp", "unix", or NULL */
	bool have_connect, have_duration, have_bytes;
	uint64_t connect_ns, duration_ns, tx, rx;
	uint32_t rtt_us, retrans;
	uint64_t client_end_ns, server_end_ns; /* their closes; 0 = not seen */
	const char *client_top, *server_top;   /* the code's frame (st_stack_code), or NULL */
	const char *client_file, *server_file; /* its source file, NULL when unknown */
	int client_line, server_line;          /* 0 when unknown */
	const char *client_stack, *server_stack; /* --html: the whole stack as text, or NULL */
	uint32_t untraced_client_pid; /* a Unix client not traced: its pid (SO_PEERCRED), or 0 */
};

struct st_dump;
/* the sinks (st_view_graph.c, st_view_otlp.c, st_view_html.c) */
void st_graph_row(struct st_dump *d, const struct st_conn_row *r);
void st_graph_print(struct st_dump *d, FILE *out);
void st_otlp_row(struct st_dump *d, const struct st_conn_row *r, FILE *out);
void st_html_row(struct st_dump *d, const struct st_conn_row *r);
void st_html_print(struct st_dump *d, FILE *out);

/* The process records seen so far: the newest of each pid, by pid.  Records
 * are few (one per process and exec) and never freed before the end, so a
 * pointer to one stays valid. */
/* A process the shim stopped recording (a note record), in its file. */
struct st_noted {
	uint64_t ts;
	uint32_t pid, tid, kind, file;
};

struct st_catalog {
	struct st_proc **slot; /* open addressing on pid */
	size_t nslots, n;
	struct st_proc **all;  /* every record kept, for freeing */
	size_t nall, all_cap;
	const struct st_proc *first_host; /* a record with a host name */
	bool many_hosts;                  /* another host name was seen */
	struct st_noted *notes;           /* in the order read */
	size_t nnotes, notes_cap;
};

struct st_view_state; /* what a view keeps between events (st_view_*.c) */

struct st_dump {
	bool numeric, json, follow;
	enum st_view view;
	struct st_filter filter;
	struct st_catalog procs;
	struct st_symbolizer *symbols;
	size_t nevs; /* events that passed the filters */
	size_t shown[8]; /* records the events view printed, by type */
	size_t shown_shutdowns; /* close records of a shutdown(): not in shown[ST_REC_CLOSE] */
	size_t shown_notes;
	uint32_t follow_version; /* -f: the format version of the followed file */
	uint64_t dropped;
	uint64_t dropped_records; /* results, closes, resolutions (version 3) */
	uint64_t unfollowed; /* connections whose ends the shim could not follow */
	uint64_t exit_dropped; /* not recorded: their process had left the trace */
	/* flight-recorder traces: what reuse overwrote, where the kept window
	 * begins (its earliest ring record; 0 = none) */
	bool ring;
	uint64_t overwritten, overwritten_records, window_ts;
	bool many_hosts; /* the traces come from more than one host name */
	struct st_view_state *state;
	struct st_stream *stream; /* while st_run streams: file versions */
	struct st_names *names;   /* resolutions recorded in the traces */
	struct st_graph *graph;   /* --graph and --html: programs, peers and edges */
	struct st_html *html;     /* --html: rows kept for the page */
	const char *html_path;    /* --html FILE */
};

/* st_names.c: names the traced processes resolved, by process and address */
void st_names_add(struct st_dump *d, const struct st_res *r);
const char *st_names_find(const struct st_dump *d, uint32_t pid, const struct st_endpoint *ep);
void st_names_free(struct st_dump *d);

/* st_filter.c */
void st_filter_init(struct st_filter *f);
int st_filter_option(struct st_filter *f, int opt, const char *arg); /* 0, or -1 with a message */
int st_filter_resolve_times(struct st_filter *f, uint64_t first_ts); /* 0: now */
/* Events; a connect or accept that --port, --addr or --op selects is kept,
 * so that its result and close are shown too. */
bool st_filter_match(struct st_filter *f, const struct st_ev *ev);
/* Result and close records (ends: a close that ends the fd): they have no
 * endpoints or call, so --port, --addr and --op keep those of the
 * connections they selected; pid, fd and time apply. */
bool st_filter_match_life(struct st_filter *f, uint32_t file, uint32_t pid, int32_t fd,
			  uint64_t ts, bool failed, bool ends);
/* Whether an event is a failed outcome (--errors): not a connect under way
 * (EINPROGRESS, EALREADY, EINTR), not a non-blocking accept with none. */
bool st_filter_is_error(const struct st_ev *ev);
void st_filter_free(struct st_filter *f);

/* st_filter_keep.c: (file, pid, fd) of the connections a filter selected. */
struct st_keep;
struct st_keep *st_keep_new(void);
void st_keep_add(struct st_keep *k, uint32_t file, uint32_t pid, int32_t fd);
bool st_keep_has(struct st_keep *k, uint32_t file, uint32_t pid, int32_t fd, bool ends);
void st_keep_free(struct st_keep *k);

/* st_procs.c: the catalog of process records. */
void st_catalog_add(struct st_catalog *c, const struct st_proc *p);
void st_catalog_free(struct st_catalog *c);
void st_catalog_note(struct st_catalog *c, const struct st_note *n, uint32_t file);
/* "seccomp filter installed" for a known kind */
const char *st_note_text(uint32_t kind);
/* The process record in force for an event (NULL when none). */
const struct st_proc *st_proc_of(const struct st_dump *d, const struct st_ev *ev);
/* The first process of p's service: p's ancestors that forked it without an
 * exec are the same service (p itself when none). */
const struct st_proc *st_service_of(const struct st_dump *d, const struct st_proc *p);
/* The program's name as ps shows it (argv[0]'s last part), raw bytes. */
void st_proc_name(const struct st_proc *p, char *buf, size_t size);
/* The same, control bytes escaped: for text output. */
void st_proc_label(const struct st_proc *p, char *buf, size_t size);
/* The label cut to width columns ("..." at the end) for a text table. */
void st_proc_label_fit(const struct st_proc *p, char *buf, size_t size, size_t width);

/* Frame i of ev, named. */
/* frame i of ev, native or Python: the slots it takes (1, or 2 for Python) */
unsigned st_frame_at(const struct st_dump *d, const struct st_ev *ev, unsigned i,
		     struct st_frame *f);
/* Name of the innermost frame of ev, or NULL. */
/* The frame that names the code of a call: the innermost Python frame of
 * the program's own files (not the standard library's nor an installed
 * package's) when the stack holds one, else its innermost Python frame,
 * else its innermost frame; its slot index and *f (untouched when the
 * event has no stack). */
unsigned st_stack_code(const struct st_dump *d, const struct st_ev *ev, struct st_frame *f);
/* an event's stack as the text view prints it, a line a frame */
void st_stack_print(FILE *out, const struct st_ev *ev, const struct st_dump *d);
const char *st_stack_top(const struct st_dump *d, const struct st_ev *ev);
void st_print_time(FILE *out, uint64_t ts);
struct st_line;
void st_line_time(struct st_line *l, uint64_t ts); /* the same, into a line */

/* the views: each takes the events that passed the filters, in time order
 * (stats too), then prints what it gathered at the end */
void st_view_event(struct st_dump *d, const struct st_ev *ev, FILE *out);
void st_conn_add(struct st_dump *d, const struct st_ev *ev, FILE *out);
void st_conn_print(struct st_dump *d, FILE *out);
void st_stats_add(struct st_dump *d, const struct st_ev *ev);
/* st_view_life.c and the views: result and close records (version 2) */
void st_view_life(struct st_dump *d, const struct st_rec *r, FILE *out);
void st_view_resolve(struct st_dump *d, const struct st_res *r, FILE *out);
void st_view_note(struct st_dump *d, const struct st_note *n, FILE *out);
void st_conn_life(struct st_dump *d, const struct st_rec *r);
void st_stats_life(struct st_dump *d, const struct st_rec *r);
const char *st_result_name(int err); /* "ok", "refused", "timeout", ... */
/* data bytes sent and received, from a close record's tcp_info counts */
void st_close_bytes(const struct st_close *c, uint64_t *tx, uint64_t *rx);
/* across fork: a close's connection's start, and the later of two closes */
uint64_t st_close_start(const struct st_close *c);
void st_close_keep_later(struct st_close *kept, const struct st_close *c);
void st_stats_print(struct st_dump *d, FILE *out);
int st_follow(struct st_dump *d, const char *path, FILE *out);
/* st_run.c: a process or module record, for names and stacks */
void st_dump_record(struct st_dump *d, const struct st_rec *r);
/* Streams the files through d's view; 1 when one was not read whole. */
int st_run(struct st_dump *d, char **paths, size_t n, FILE *out, FILE *err);
/* The format version of a file being read (st_run's stream, or the file
 * -f follows); 0 when unknown. */
uint32_t st_dump_version(const struct st_dump *d, uint32_t file);
/* "14 events, 5 closes shown; 0 events dropped" on err */
void st_dump_summary(const struct st_dump *d, FILE *err);
/* "N connections not followed to their end (...)", in a static buffer */
const char *st_unfollowed_text(uint64_t n);
const char *st_sandboxed_text(uint64_t n); /* processes that installed a seccomp filter */
/* a flight recorder's losses and kept window, for summaries */
void st_ring_text(const struct st_dump *d, FILE *out);
/* One record of any kind through the filters and the view (st_run, -f). */
void st_run_record(struct st_dump *d, const struct st_rec *r, FILE *out);
/* -f -c / --otlp: rows settled by now (wall clock, ns) are printed. */
void st_conn_tick(struct st_dump *d, uint64_t now, FILE *out);

#endif
