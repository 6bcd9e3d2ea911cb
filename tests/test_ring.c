/*
 * The flight recorder (SOCKTRACE_RING=1): a trace that wraps keeps exactly
 * the newest events of every thread, says how many it overwrote, keeps what
 * they need (process records, a connection's ends), and is followed while
 * it wraps with no event shown twice.  tests/progs/ring numbers its calls in
 * the descriptor it passes, so the test knows which events are the newest.
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

#define RING_FD0 (1 << 20)

static char dir[64], trace[128], dump[256], ring[256];

static void setup(void)
{
	h_tmpdir(dir, sizeof dir);
	snprintf(trace, sizeof trace, "%s/r.trace", dir);
	h_path(dump, sizeof dump, "socktrace-dump");
	h_path(ring, sizeof ring, "progs/ring");
}

static void teardown(void)
{
	h_rmdir(dir);
}

TestSuite(ring, .init = setup, .fini = teardown, .timeout = 120);

static const char *const ring_env[] = {"SOCKTRACE_RING=1", "SOCKTRACE_SIZE=512K", NULL};

/* The kept events of one thread: their call numbers. */
struct ring_thread {
	uint32_t pid, tid;
	long lo, hi; /* smallest and largest call number kept */
	long n;      /* events kept */
};

static size_t ring_threads(const struct st_trace *t, struct ring_thread *th, size_t max)
{
	size_t n = 0;
	for (size_t i = 0; i < t->nevs; i++) {
		const struct st_ev *ev = &t->evs[i];
		cr_assert_eq(ev->op, ST_OP_GETSOCKNAME);
		long call = (long)ev->fd - RING_FD0;
		size_t k = 0;
		while (k < n && (th[k].pid != ev->pid || th[k].tid != ev->tid))
			k++;
		if (k == n) {
			cr_assert(n < max);
			th[n++] = (struct ring_thread){ev->pid, ev->tid, call, call, 0};
		}
		th[k].lo = call < th[k].lo ? call : th[k].lo;
		th[k].hi = call > th[k].hi ? call : th[k].hi;
		th[k].n++;
	}
	return n;
}

/* Every thread that kept events kept its newest ones, without a gap; what
 * was kept and what was overwritten add up to every call made. */
static void check_kept(int procs, int threads, long calls)
{
	struct st_trace t;
	h_load(&t, trace);
	cr_assert(t.ring);
	long total = (long)procs * threads * calls;
	cr_assert_eq((long)(t.nevs + t.overwritten), total, "%zu kept + %llu overwritten != %ld",
		     t.nevs, (unsigned long long)t.overwritten, total);
	cr_assert_eq(t.dropped, 0);
	cr_assert(t.overwritten > 3 * t.nevs, "the ring wrapped several times: %llu overwritten, "
		  "%zu kept", (unsigned long long)t.overwritten, t.nevs);
	struct ring_thread kept[64];
	size_t nth = ring_threads(&t, kept, 64);
	for (size_t i = 0; i < nth; i++) {
		cr_assert_eq(kept[i].hi, calls - 1, "thread %u kept up to call %ld of %ld",
			     kept[i].tid, kept[i].hi, calls);
		cr_assert_eq(kept[i].n, kept[i].hi - kept[i].lo + 1,
			     "thread %u kept %ld events between calls %ld and %ld: a gap",
			     kept[i].tid, kept[i].n, kept[i].lo, kept[i].hi);
	}
	/* every process that still has events has its process record */
	for (size_t i = 0; i < nth; i++) {
		bool named = false;
		for (size_t k = 0; k < t.nprocs && !named; k++)
			named = t.procs[k].pid == kept[i].pid;
		cr_assert(named, "pid %u kept events but not its process record", kept[i].pid);
	}
	st_trace_free(&t);
}

static void check_newest_kept(int procs, int threads, long calls)
{
	static struct h_run r;
	char p[16], th[16], n[32];
	snprintf(p, sizeof p, "%d", procs);
	snprintf(th, sizeof th, "%d", threads);
	snprintf(n, sizeof n, "%ld", calls);
	const char *argv[] = {ring, "calls", p, th, n, NULL};
	cr_assert_eq(h_run(&r, trace, argv, ring_env, 60), 0, "%s", r.err);
	check_kept(procs, threads, calls);
}

/* The ptrace tracer writes the same ring through the same core. */
Test(ring, the_tracer_keeps_the_newest_calls_too)
{
	static struct h_run r;
	char launcher[256];
	h_path(launcher, sizeof launcher, "socktrace");
	const char *argv[] = {launcher, "-q", "--ring", "--ptrace", "-o", trace,
			      ring, "calls", "1", "2", "20000", NULL};
	const char *env[] = {"SOCKTRACE_SIZE=256K", "ASAN_OPTIONS=detect_leaks=0", NULL};
	cr_assert_eq(h_run(&r, NULL, argv, env, 120), 0, "%s", r.err);
	check_kept(1, 2, 20000);
}

Test(ring, one_thread_keeps_exactly_its_newest_calls)
{
	check_newest_kept(1, 1, 200000);
}

Test(ring, threads_and_forked_processes_keep_their_newest_calls)
{
	check_newest_kept(3, 4, 30000);
}

Test(ring, the_default_mode_still_keeps_the_oldest)
{
	static struct h_run r;
	const char *argv[] = {ring, "calls", "1", "1", "100000", NULL};
	const char *env[] = {"SOCKTRACE_SIZE=512K", NULL};
	cr_assert_eq(h_run(&r, trace, argv, env, 60), 0, "%s", r.err);
	struct st_trace t;
	h_load(&t, trace);
	cr_assert(!t.ring);
	cr_assert_eq(t.overwritten, 0);
	cr_assert_eq((long)(t.nevs + t.dropped), 100000);
	struct ring_thread kept[4];
	cr_assert_eq(ring_threads(&t, kept, 4), 1);
	cr_assert_eq(kept[0].lo, 0, "append mode keeps the first call");
	st_trace_free(&t);
}

static void run_dump(struct h_run *r, const char *const *args)
{
	const char *argv[16] = {dump};
	size_t i = 1;
	for (; args[i - 1] && i < 15; i++)
		argv[i] = args[i - 1];
	argv[i] = NULL;
	cr_assert_eq(h_run(r, NULL, argv, NULL, 30), 0, "%s", r->err);
}

/* A connection whose connect and accept were overwritten is still a row,
 * marked, with its ends, its duration and its bytes from the closes, and
 * the name it was dialled by (a resolution made before all the overwritten
 * events, kept in the metadata area); the kept events' stacks are named
 * (their modules are kept there too). */
Test(ring, a_connection_whose_start_was_overwritten_is_shown_with_its_end)
{
	static struct h_run r;
	const char *argv[] = {ring, "early", "100000", NULL};
	const char *env[] = {"SOCKTRACE_RING=1", "SOCKTRACE_SIZE=512K", "SOCKTRACE_BACKTRACE=4",
			     NULL};
	cr_assert_eq(h_run(&r, trace, argv, env, 60), 0, "%s", r.err);
	long port = h_field(r.out, "early", "port");
	struct st_trace t;
	h_load(&t, trace);
	cr_assert_eq(h_count(&t, ST_OP_CONNECT, 0), 0, "the connect was overwritten");
	cr_assert_eq(h_count(&t, ST_OP_ACCEPT, 0), 0, "the accept was overwritten");
	st_trace_free(&t);
	const char *args[] = {"-c", "-n", "--json", trace, NULL};
	run_dump(&r, args);
	cr_assert(strstr(r.out, "\"paired\":true") != NULL, "%s", r.out);
	cr_assert(strstr(r.out, "\"result\":\"pre-window\"") != NULL, "%s", r.out);
	cr_assert(strstr(r.out, "\"tx_bytes\":1000,\"rx_bytes\":1000") != NULL, "%s", r.out);
	char want[64];
	snprintf(want, sizeof want, "\"port\":%ld}", port);
	cr_assert_eq(h_occurrences(r.out, want), 2, "both ends name the server port: %s", r.out);
	cr_assert(strstr(r.out, "\"name\":\"localhost\"") != NULL, "%s", r.out);
	const char *stacks[] = {"--json", trace, NULL};
	run_dump(&r, stacks);
	cr_assert(h_occurrences(r.out, "\"sym\":\"numbered_calls\"") > 20,
		  "the kept events' stacks are named: %.2000s", r.out);
	const char *stats[] = {"--stats", "--json", trace, NULL};
	run_dump(&r, stats);
	cr_assert(strstr(r.out, "\"ring\":{\"overwritten\":") != NULL, "%s", r.out);
}

/* A chunk a writer is clearing (its sequence number busy) or reused while
 * read is not read: none of its records, and no error. */
Test(ring, a_chunk_being_reused_is_skipped_whole)
{
	static struct h_run r;
	const char *argv[] = {ring, "calls", "1", "1", "100000", NULL};
	cr_assert_eq(h_run(&r, trace, argv, ring_env, 60), 0, "%s", r.err);
	struct st_trace t;
	h_load(&t, trace);
	size_t before = t.nevs;
	/* the chunk of the first kept event */
	uint64_t chunk = t.ring_base + (t.evs[0].offset - t.ring_base) / 16384 * 16384;
	size_t in_chunk = 0;
	for (size_t i = 0; i < t.nevs; i++)
		in_chunk += t.evs[i].offset >= chunk && t.evs[i].offset < chunk + 16384;
	st_trace_free(&t);
	int fd = open(trace, O_RDWR);
	uint64_t seq;
	cr_assert(pread(fd, &seq, 8, (off_t)chunk + 16) == 8);
	seq |= 1ull << 63;
	cr_assert(pwrite(fd, &seq, 8, (off_t)chunk + 16) == 8);
	close(fd);
	h_load(&t, trace);
	cr_assert(in_chunk > 0);
	cr_assert_eq(t.nevs, before - in_chunk, "%zu events, %zu before, %zu in the busy chunk",
		     t.nevs, before, in_chunk);
	st_trace_free(&t);
}

/* -f while the ring wraps: each event printed once, in call order per
 * thread, and the newest all printed. */
Test(ring, follow_across_wraps_shows_each_event_once)
{
	static struct h_run r;
	int po[2];
	cr_assert(pipe(po) == 0);
	pid_t pid = fork();
	if (pid == 0) {
		/* its stderr too: a follower outliving a failed test would hold
		 * the runner's pipe open */
		int null = open("/dev/null", O_WRONLY);
		dup2(po[1], 1);
		dup2(null, 2);
		closefrom(3);
		execl(dump, dump, "--follow", "-n", trace, (char *)NULL);
		_exit(127);
	}
	close(po[1]);
	/* a pause every 500 calls: about a second in all, the ring wrapping
	 * many times between two of the follower's polls */
	const char *argv[] = {ring, "calls", "1", "2", "300000", "1000", NULL};
	int ran = h_run(&r, trace, argv, ring_env, 60);
	struct st_trace t;
	int loaded = st_trace_load(&t, trace, 0);
	static char out[64 << 20];
	size_t n = 0;
	/* both threads' newest events, or one's when the other finished so
	 * long before that the ring holds none of its events */
	char last[2][64] = {"", ""};
	struct ring_thread kept[64];
	size_t nth = loaded == 0 ? ring_threads(&t, kept, 64) : 0;
	for (size_t i = 0; i < nth && i < 2; i++)
		snprintf(last[i], sizeof last[i], "%u/%u getsockname(%ld)", kept[i].pid,
			 kept[i].tid, RING_FD0 + kept[i].hi);
	time_t deadline = time(NULL) + 30;
	while (nth && (!strstr(out, last[0]) || !strstr(out, last[1])) && time(NULL) < deadline &&
	       n < sizeof out - 1) {
		struct pollfd p = {po[0], POLLIN, 0};
		if (poll(&p, 1, 200) > 0) {
			ssize_t k = read(po[0], out + n, sizeof out - 1 - n);
			if (k <= 0)
				break;
			n += (size_t)k;
			out[n] = '\0';
		}
	}
	kill(pid, SIGINT);
	waitpid(pid, NULL, 0);
	close(po[0]);
	cr_assert_eq(ran, 0, "%s", r.err);
	cr_assert_eq(loaded, 0, "%s", t.error);
	cr_assert(nth == 1 || nth == 2, "%zu threads kept events", nth);
	/* per thread, call numbers strictly rising: none twice, none torn; the
	 * kept window of each thread printed whole */
	long seen[2] = {-1, -1}, in_window[2] = {0, 0}, printed = 0;
	unsigned tids[2] = {kept[0].tid, nth > 1 ? kept[1].tid : 0};
	char *rest = out, *line;
	while ((line = strsep(&rest, "\n")) != NULL) {
		char *call = strstr(line, "getsockname(");
		if (call == NULL)
			continue;
		unsigned lpid, ltid;
		cr_assert_eq(sscanf(strchr(line, ' ') + 1, "%u/%u", &lpid, &ltid), 2, "%.80s", line);
		/* the thread whose events were all overwritten is the other one */
		int k = ltid == tids[0] ? 0 : ltid == tids[1] || nth == 1 ? 1 : -1;
		cr_assert(k >= 0, "an event of no thread: %.120s", line);
		if (tids[k] == 0)
			tids[k] = ltid;
		cr_assert_eq(ltid, tids[k], "a third thread: %.120s", line);
		long no = strtol(call + strlen("getsockname("), NULL, 10) - RING_FD0;
		cr_assert(no > seen[k] && no < 300000, "thread %d: call %ld after %ld", k, no, seen[k]);
		seen[k] = no;
		in_window[k] += (size_t)k < nth && no >= kept[k].lo;
		printed++;
	}
	for (size_t k = 0; k < nth; k++)
		cr_assert_eq(in_window[k], kept[k].n, "thread %d: %ld of its %ld kept events followed",
			     k, in_window[k], kept[k].n);
	cr_log_info("followed %ld events of 600000, %zu kept at the end", printed, t.nevs);
	st_trace_free(&t);
}

/* A metadata area that fills up hands its records to the ring: nothing is
 * dropped, and the resolutions kept and overwritten add up. */
Test(ring, a_full_metadata_area_goes_on_in_the_ring)
{
	static struct h_run r;
	const char *argv[] = {ring, "resolves", "3000", NULL};
	const char *env[] = {"SOCKTRACE_RING=1", "SOCKTRACE_SIZE=52K", NULL};
	cr_assert_eq(h_run(&r, trace, argv, env, 60), 0, "%s", r.err);
	struct st_trace t;
	h_load(&t, trace);
	cr_assert_eq(t.dropped_records, 0);
	cr_assert(t.overwritten_records > 0, "the ring took resolutions and wrapped");
	cr_assert_eq(t.nresolves + t.overwritten_records, 3000, "%zu kept, %llu overwritten",
		     t.nresolves, (unsigned long long)t.overwritten_records);
	cr_assert_eq(t.nprocs, 1, "the process record, in the metadata area, is kept");
	st_trace_free(&t);
}

/* A ring keeps the mode and size it was made with: a later run that asks
 * for a smaller append-mode trace joins it as a ring, over its whole size. */
Test(ring, a_later_run_joins_the_ring_as_it_was_made)
{
	static struct h_run r;
	const char *argv[] = {ring, "calls", "1", "1", "50000", NULL};
	cr_assert_eq(h_run(&r, trace, argv, ring_env, 60), 0, "%s", r.err);
	const char *env[] = {"SOCKTRACE_SIZE=100K", NULL};
	cr_assert_eq(h_run(&r, trace, argv, env, 60), 0, "%s", r.err);
	cr_assert_str_empty(r.err, "joining said: %s", r.err);
	struct st_trace t;
	h_load(&t, trace);
	cr_assert(t.ring);
	cr_assert_eq(t.dropped, 0);
	cr_assert_eq(t.nevs + t.overwritten, 100000, "%zu kept, %llu overwritten", t.nevs,
		     (unsigned long long)t.overwritten);
	cr_assert_eq(t.nprocs, 2);
	st_trace_free(&t);
}

/* Loading a ring again and again while its writer wraps it: every load is
 * whole (no record mixed from two generations reads as damage) and every
 * event is one the program made. */
Test(ring, a_reader_racing_the_writer_sees_only_whole_records)
{
	pid_t pid = fork();
	cr_assert(pid >= 0);
	if (pid == 0) {
		static struct h_run r;
		const char *argv[] = {ring, "calls", "1", "2", "300000", "1000", NULL};
		_exit(h_run(&r, trace, argv, ring_env, 60) == 0 ? 0 : 1);
	}
	int loads = 0, status = 0;
	size_t seen = 0;
	for (int i = 0; i < 2000 && waitpid(pid, &status, WNOHANG) == 0; i++) {
		struct st_trace t;
		if (access(trace, F_OK) != 0) {
			usleep(1000);
			continue;
		}
		int rc = st_trace_load(&t, trace, 0);
		cr_assert_eq(rc, 0, "load %d: %s", loads, t.error);
		for (size_t k = 0; k < t.nevs; k++) {
			const struct st_ev *ev = &t.evs[k];
			cr_assert(ev->op == ST_OP_GETSOCKNAME && ev->err == EBADF &&
					  ev->fd >= RING_FD0 && ev->fd < RING_FD0 + 300000,
				  "load %d: event %zu: op %u fd %d err %d", loads, k, ev->op, ev->fd,
				  ev->err);
		}
		seen += t.nevs;
		loads++;
		st_trace_free(&t);
	}
	if (waitpid(pid, &status, 0) != pid)
		status = 0;
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "the writer: %d", status);
	cr_assert_gt(loads, 5, "the reader loaded the ring while it wrapped");
	cr_log_info("%d loads while the ring wrapped, %zu events seen", loads, seen);
}
