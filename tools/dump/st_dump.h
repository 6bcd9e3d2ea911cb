/* socktrace-dump's views share this: options, the loaded traces, the merged
 * and filtered events, and helpers to name processes and stack tops. */
#ifndef ST_DUMP_H
#define ST_DUMP_H

#include <stdbool.h>
#include <stdio.h>
#include <sys/socket.h>

#include "st_escape.h"
#include "st_symbols.h"
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
};

enum st_view { ST_VIEW_EVENTS, ST_VIEW_CONNECTIONS, ST_VIEW_STATS };

struct st_dump {
	bool numeric, json, follow;
	enum st_view view;
	struct st_filter filter;
	struct st_trace *traces;
	size_t ntraces;
	struct st_ev *evs; /* merged, filtered, in time order */
	size_t nevs;
	uint64_t dropped;
	uint64_t exit_dropped; /* not recorded: their process had left the trace */
	struct st_symbolizer *symbols;
	bool many_hosts; /* the traces come from more than one host name */
};

/* st_filter.c */
void st_filter_init(struct st_filter *f);
int st_filter_option(struct st_filter *f, int opt, const char *arg); /* 0, or -1 with a message */
int st_filter_resolve_times(struct st_filter *f, const struct st_trace *t, size_t n);
bool st_filter_match(const struct st_filter *f, const struct st_ev *ev);

/* st_procs.c: process records sorted by pid and time, once per loaded trace,
 * before st_proc_of is used. */
void st_procs_index(struct st_trace *t);
/* The process record in force for an event (NULL when none). */
const struct st_proc *st_proc_of(const struct st_dump *d, const struct st_ev *ev);
/* "curl" from the executable path or argv[0]; "?" when unknown. */
/* The program's name as ps shows it (argv[0]'s last part), raw bytes. */
void st_proc_name(const struct st_proc *p, char *buf, size_t size);
/* The same, control bytes escaped: for text output. */
void st_proc_label(const struct st_proc *p, char *buf, size_t size);

/* Whether the process records name more than one host. */
bool st_procs_many_hosts(const struct st_trace *t, size_t n);
/* Frame i of ev, named. */
void st_frame_at(const struct st_dump *d, const struct st_ev *ev, unsigned i, struct st_frame *f);
/* Name of the innermost frame of ev, or NULL. */
const char *st_stack_top(const struct st_dump *d, const struct st_ev *ev);
void st_print_time(FILE *out, uint64_t ts);

/* the views */
void st_view_events(struct st_dump *d, const struct st_ev *evs, size_t n, FILE *out);
void st_view_connections(struct st_dump *d, FILE *out);
void st_view_stats(struct st_dump *d, FILE *out);
int st_follow(struct st_dump *d, const char *path, FILE *out);

#endif
