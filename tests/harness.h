/* Test helpers: run programs under the shim as children, load their traces. */
#ifndef HARNESS_H
#define HARNESS_H

#include <stdbool.h>
#include <errno.h>
#include <stddef.h>
#include <stdio.h>

#include "../tools/reader/st_trace.h"

struct h_run {
	int status;  /* waitpid status */
	char out[1 << 16];
	char err[1 << 14];
};

/* True in `make asan`, where libasan is preloaded with the shim. */
bool h_sanitized(void);
/* Directory of build outputs (ST_BUILD from make, else "build"). */
const char *h_build(void);
/* Path of build output NAME, in a static buffer per call site's copy. */
void h_path(char *buf, size_t size, const char *name);
/* A new private directory under /tmp; removed with h_rmdir. */
void h_tmpdir(char *buf, size_t size);
void h_rmdir(const char *dir);
/* Runs argv (argv[0] a path) with the shim preloaded when trace != NULL,
 * SOCKTRACE_FILE=trace and the extra "NAME=value" strings in env (may be
 * NULL).  Kills it after timeout_s seconds.  Returns exit code or 128+signal. */
int h_run(struct h_run *r, const char *trace, const char *const *argv, const char *const *env,
	  int timeout_s);
/* A resource limit the next h_run's child sets before exec (RLIM_INFINITY
 * for the hard limit unless lower); up to 4 per run, cleared by h_run. */
void h_limit_next(int resource, unsigned long long soft);
/* Working directory of the next h_run's child (NULL: the runner's). */
void h_chdir_next(const char *dir);
/* What LD_PRELOAD holds for a traced run (the sanitizer runtime first in
 * `make asan`). */
const char *h_preload(char *buf, size_t size);
/* Loads a trace that must be whole. */
void h_load(struct st_trace *t, const char *path);
/* "addr:port", "[addr6]:port", "unix:path", "unix:@name", "unix:" or "none". */
const char *h_ep(const struct st_endpoint *ep, char *buf, size_t size);
/* How many times needle occurs in s (overlapping ones too). */
size_t h_occurrences(const char *s, const char *needle);
/* Counts events of op (0 = any) from pid (0 = any). */
size_t h_count(const struct st_trace *t, int op, unsigned pid);
/* Checks every "LABEL fd=N local=X peer=Y" line the program printed against
 * the getsockname and getpeername events that follow in the trace for that fd
 * and pid (0 = any); returns how many lines it checked. */
int h_check_ends(const struct st_trace *t, const char *out, unsigned pid);
/* Value of "key=" on the first line starting with label, or -1. */
long h_field(const char *out, const char *label, const char *key);
/* dir/name made with text in it (a script a test runs). */
void h_write_in(const char *dir, const char *name, const char *text);
/* argv[0] started with stdout and stderr on a pipe (*out: its read end),
 * untraced (no LD_PRELOAD). */
pid_t h_spawn(const char *const *argv, int *out);
/* Reads fd into buf (kept terminated) until needle shows (true) or 20 s pass. */
bool h_read_until(int fd, const char *needle, char *buf, size_t size);
/* the number after prefix on a whole line of fd, or -1 */
long h_read_number(int fd, const char *prefix, char *buf, size_t size);
/* From socktrace-dump -n's text: the first event line containing call, with
 * its stack lines ("    at ..."), into buf. */
void h_event_text(const char *out, const char *call, char *buf, size_t size);

/* python3 -m http.server on a kernel-chosen loopback port, traced into trace:
 * under the shim, or under the socktrace launcher when launcher is true. */
struct h_server {
	int pid; /* also its process group */
	int out;
	unsigned port;
};
void h_http_start(struct h_server *s, const char *trace, bool launcher);
/* Ctrl-C to its process group: Python exits cleanly. */
void h_http_stop(struct h_server *s);
/* curl fetching http://127.0.0.1:port/ 5 times, one connection each
 * (http.server speaks HTTP/1.0), traced into trace. */
void h_curl(const char *trace, unsigned port, bool launcher);
/* The three above in a row: server traced into server_trace, curl into
 * client_trace (may be the same file); returns the server's port. */
unsigned h_http_fetch(const char *server_trace, const char *client_trace, bool launcher);

#endif
