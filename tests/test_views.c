/* socktrace-dump's views and filters on traces made by real runs. */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

static char dir[64], trace[128], dump[256], demo[256], sockops[256];

static void setup(void)
{
	h_tmpdir(dir, sizeof dir);
	snprintf(trace, sizeof trace, "%s/v.trace", dir);
	h_path(dump, sizeof dump, "socktrace-dump");
	h_path(demo, sizeof demo, "socknames");
	h_path(sockops, sizeof sockops, "progs/sockops");
}

static void teardown(void)
{
	h_rmdir(dir);
}

TestSuite(views, .init = setup, .fini = teardown, .timeout = 90);

static size_t count_lines(const char *s, const char *needle)
{
	size_t n = 0;
	for (const char *p = s; (p = strstr(p, needle)) != NULL; p++)
		n++;
	return n;
}

static void run_dump(struct h_run *r, const char *const *args, int want)
{
	const char *argv[16] = {dump};
	size_t i = 1;
	for (; args[i - 1] && i < 15; i++)
		argv[i] = args[i - 1];
	argv[i] = NULL;
	cr_assert_eq(h_run(r, NULL, argv, NULL, 30), want, "%s", r->err);
}

Test(views, curl_and_http_server_pair_into_the_connections_curl_made)
{
	unsigned server_port = h_http_fetch(trace, trace, false);
	static struct h_run r;
	const char *args[] = {"--connections", "--json", trace, NULL};
	run_dump(&r, args, 0);
	cr_assert_eq(count_lines(r.out, "\"paired\":true"), 5, "%s", r.out);
	cr_assert_eq(count_lines(r.out, "\"paired\":false"), 0, "%s", r.out);
	cr_assert_eq(count_lines(r.out, "\"client\":{\"pid\":"), 5);
	cr_assert_eq(count_lines(r.out, "\"program\":\"curl\""), 5, "%s", r.out);
	cr_assert_eq(count_lines(r.out, "\"program\":\"python3"), 5, "%s", r.out);
	char port[32];
	snprintf(port, sizeof port, "\"port\":%u}", server_port);
	cr_assert_geq(count_lines(r.out, port), 10);
	const char *text[] = {"--connections", trace, NULL};
	run_dump(&r, text, 0);
	cr_assert_not_null(strstr(r.err, "5 connections paired, 0 client ends and 0 server ends"),
			   "%s", r.err);
}

Test(views, connections_pair_across_trace_files)
{
	char client_trace[160];
	snprintf(client_trace, sizeof client_trace, "%s/client.trace", dir);
	h_http_fetch(trace, client_trace, false);
	static struct h_run r;
	const char *args[] = {"-c", "--json", client_trace, trace, NULL};
	run_dump(&r, args, 0);
	cr_assert_eq(count_lines(r.out, "\"paired\":true"), 5, "%s", r.out);
	/* one file alone: curl's ends are listed without a partner */
	const char *alone[] = {"-c", "--json", client_trace, NULL};
	run_dump(&r, alone, 0);
	cr_assert_eq(count_lines(r.out, "\"paired\":false"), 5, "%s", r.out);
	cr_assert_eq(count_lines(r.out, "\"server\":null"), 5, "%s", r.out);
}

/* Lines of s holding every one of the needles. */
static size_t count_lines_with(const char *s, const char *const *needles)
{
	size_t n = 0;
	for (const char *line = s; line && *line;) {
		const char *eol = strchrnul(line, '\n');
		bool all = true;
		for (size_t i = 0; needles[i] && all; i++)
			all = memmem(line, (size_t)(eol - line), needles[i], strlen(needles[i])) != NULL;
		n += all;
		line = *eol ? eol + 1 : NULL;
	}
	return n;
}

Test(views, connections_pair_across_hosts_and_never_across_their_loopbacks)
{
	if (h_sanitized())
		cr_skip_test("curl hangs in setlocale under a preloaded libasan, shim or not");
	static struct h_run r;
	const char *script[] = {"/bin/sh", "tests/two_hosts.sh", h_build(), dir, NULL};
	int rc = h_run(&r, NULL, script, NULL, 60);
	if (rc == 77)
		cr_skip_test("no network namespaces here (needs root, iproute2 and unshare)");
	cr_assert_eq(rc, 0, "two_hosts.sh: %s%s", r.out, r.err);
	char a[160], b[160], b_lo[160];
	snprintf(a, sizeof a, "%s/a.trace", dir);
	snprintf(b, sizeof b, "%s/b.trace", dir);
	snprintf(b_lo, sizeof b_lo, "%s/b-lo.trace", dir);
	const char *args[] = {"-c", "--json", a, b, b_lo, NULL};
	run_dump(&r, args, 0);
	const char *across[] = {"\"paired\":true", "\"host\":\"st-host-a\"",
				"\"host\":\"st-host-b\"", "\"addr\":\"192.0.2.1\",\"port\":8000", NULL};
	cr_assert_eq(count_lines_with(r.out, across), 3, "%s", r.out);
	cr_assert_eq(count_lines(r.out, "\"paired\":true"), 3, "%s", r.out);
	/* the same loopback 4-tuple on both hosts: two ends, each alone */
	const char *alone[] = {"\"paired\":false", "\"addr\":\"127.0.0.1\",\"port\":40000", NULL};
	cr_assert_eq(count_lines_with(r.out, alone), 2, "%s", r.out);
	cr_assert_eq(count_lines(r.out, "\"paired\":false"), 2, "%s", r.out);
	const char *text[] = {"-c", "-n", a, b, b_lo, NULL};
	run_dump(&r, text, 0);
	const char *row[] = {"curl[", "]@st-host-b", "192.0.2.1:8000", "]@st-host-a", NULL};
	cr_assert_eq(count_lines_with(r.out, row), 3, "%s", r.out);
}

Test(views, filters_combine)
{
	static struct h_run r;
	const char *argv[] = {demo, "0", "0", NULL};
	cr_assert_eq(h_run(&r, trace, argv, NULL, 30), 0);
	unsigned e;
	cr_assert(sscanf(strstr(r.out, "getsockname(connFd)"), "getsockname(connFd): (localhost, %u)", &e) == 1);
	char port[16];
	snprintf(port, sizeof port, "%u", e);
	const char *by_port[] = {"--json", "--port", port, trace, NULL};
	run_dump(&r, by_port, 0);
	/* connect, accept, getsockname x2, getpeername x2 involve the client
	 * port; the ends of the two sockets (open at exit) follow them */
	cr_assert_eq(count_lines(r.out, "\n"), 8, "%s", r.out);
	cr_assert_eq(h_occurrences(r.out, "\"op\":\"close\""), 2, "%s", r.out);
	const char *by_op[] = {"--json", "--op", "connect,accept", trace, NULL};
	run_dump(&r, by_op, 0);
	cr_assert_eq(count_lines(r.out, "\n"), 4, "%s", r.out);
	const char *both[] = {"--json", "--op", "getpeername", "--port", port, "--fd", "4", trace, NULL};
	run_dump(&r, both, 0);
	cr_assert_eq(count_lines(r.out, "\n"), 1, "%s", r.out);
	const char *by_addr[] = {"--json", "--addr", "127.0.0.2", trace, NULL};
	run_dump(&r, by_addr, 0);
	cr_assert_str_empty(r.out);
	const char *by_pid[] = {"--json", "--pid", "1", trace, NULL};
	run_dump(&r, by_pid, 0);
	cr_assert_str_empty(r.out);
	const char *errs[] = {"--json", "--errors", trace, NULL};
	run_dump(&r, errs, 0);
	cr_assert_str_empty(r.out);
	const char *late[] = {"--json", "--since", "4102444800", trace, NULL}; /* year 2100 */
	run_dump(&r, late, 0);
	cr_assert_str_empty(r.out);
	const char *early[] = {"--json", "--until", "2000-01-01 00:00:00", trace, NULL};
	run_dump(&r, early, 0);
	cr_assert_str_empty(r.out);
	const char *bad[] = {"--op", "bind", trace, NULL};
	run_dump(&r, bad, 2);
	cr_assert_not_null(strstr(r.err, "--op bind: unknown call"), "%s", r.err);
}

Test(views, errors_filter_and_stats)
{
	static struct h_run r;
	const char *argv[] = {sockops, "refused", NULL};
	cr_assert_eq(h_run(&r, trace, argv, NULL, 30), 0);
	const char *errs[] = {"--json", "--errors", trace, NULL};
	run_dump(&r, errs, 0);
	/* the refused call, and its outcome with how long it took */
	cr_assert_eq(count_lines(r.out, "\n"), 2, "%s", r.out);
	cr_assert_not_null(strstr(r.out, "\"errno\":\"ECONNREFUSED\""));
	cr_assert_not_null(strstr(r.out, "\"learned\":\"returned\""));
	const char *stats[] = {"--stats", "--json", trace, NULL};
	run_dump(&r, stats, 0);
	cr_assert_not_null(strstr(r.out, "\"events\":2,"), "%s", r.out);
	cr_assert_not_null(strstr(r.out, "\"connect\":{\"events\":1,\"failed\":1}"), "%s", r.out);
	cr_assert_not_null(strstr(r.out, "\"errors\":{\"ECONNREFUSED\":1}"), "%s", r.out);
	cr_assert_not_null(strstr(r.out, "\"program\":\"sockops\""), "%s", r.out);
	const char *text[] = {"--stats", trace, NULL};
	run_dump(&r, text, 0);
	cr_assert_not_null(strstr(r.out, "ECONNREFUSED         1"), "%s", r.out);
}

Test(views, files_merge_in_time_order)
{
	char second[160];
	snprintf(second, sizeof second, "%s/second.trace", dir);
	static struct h_run r;
	const char *argv[] = {demo, "0", "0", NULL};
	cr_assert_eq(h_run(&r, trace, argv, NULL, 30), 0);
	cr_assert_eq(h_run(&r, second, argv, NULL, 30), 0);
	const char *args[] = {"--json", second, trace, NULL};
	run_dump(&r, args, 0);
	/* 7 events and 2 sockets open at exit, per run */
	cr_assert_eq(count_lines(r.out, "\n"), 18);
	cr_assert_eq(count_lines(r.out, "\"op\":\"close\""), 4);
	unsigned long long prev = 0, ts;
	for (const char *p = r.out; (p = strstr(p, "{\"ts\":")) != NULL; p++) {
		cr_assert(sscanf(p, "{\"ts\":%llu", &ts) == 1);
		cr_assert_geq(ts, prev);
		prev = ts;
	}
}

Test(views, follow_prints_live_events_once_and_stops_on_ctrl_c)
{
	int po[2];
	cr_assert(pipe(po) == 0);
	static struct h_run r;
	const char *argv[] = {demo, "0", "0", NULL};
	cr_assert_eq(h_run(&r, trace, argv, NULL, 30), 0); /* the file exists before */
	pid_t pid = fork();
	if (pid == 0) {
		dup2(po[1], 1);
		closefrom(3);
		execl(dump, dump, "--follow", "--json", trace, (char *)NULL);
		_exit(127);
	}
	close(po[1]);
	char out[16384] = "";
	size_t n = 0;
	bool ran_second = false;
	time_t deadline = time(NULL) + 20;
	/* 7 events and the 2 closes of the sockets open at exit, per run */
	while (count_lines(out, "\n") < 18 && time(NULL) < deadline) {
		struct pollfd p = {po[0], POLLIN, 0};
		if (poll(&p, 1, 200) > 0) {
			ssize_t k = read(po[0], out + n, sizeof out - 1 - n);
			if (k <= 0)
				break;
			n += (size_t)k;
			out[n] = '\0';
		}
		if (!ran_second && count_lines(out, "\n") == 9) {
			ran_second = true;
			cr_assert_eq(h_run(&r, trace, argv, NULL, 30), 0);
		}
	}
	kill(pid, SIGINT);
	int status;
	waitpid(pid, &status, 0);
	close(po[0]);
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "status %d", status);
	cr_assert_eq(count_lines(out, "\n"), 18, "%s", out);
	cr_assert_eq(count_lines(out, "\"op\":\"connect\""), 2);
	cr_assert_eq(count_lines(out, "\"op\":\"close\""), 4);
}

/* Every view reads a fixture with no error and prints something. */
static void every_view_reads(const char *path)
{
	static struct h_run r;
	static const char *const views[][3] = {
		{"-n", NULL}, {"--json", NULL}, {"--stats", NULL}, {"--stats", "--json"},
		{"--graph", NULL}, {"--otlp", NULL}, {"-c", "-n"}, {"-c", "--json"},
	};
	const char *name = strrchr(path, '/') + 1;
	for (size_t i = 0; i < sizeof views / sizeof views[0]; i++) {
		const char *args[] = {views[i][0], views[i][1] ? views[i][1] : path,
				      views[i][1] ? path : NULL, NULL};
		run_dump(&r, args, 0);
		cr_assert_null(strstr(r.err, name), "%s %s: %s", views[i][0], path, r.err);
		cr_assert_neq(r.out[0], '\0', "%s printed nothing", views[i][0]);
	}
}

/* A version-2 trace (72-byte closes, no handshakes, written by the shim of
 * the previous format) stays readable by every view, with its exact bytes. */
Test(views, version_2_traces_stay_readable)
{
	static struct h_run r;
	const char *conn[] = {"-c", "--json", "tests/data/v2.trace", NULL};
	run_dump(&r, conn, 0);
	cr_assert_not_null(strstr(r.out, "\"handshake_ns\":null,\"duration_ns\":"), "%s", r.out);
	cr_assert_not_null(strstr(r.out, "\"tx_bytes\":1048576,\"rx_bytes\":65536"), "%s", r.out);
	cr_assert_not_null(strstr(r.out, "\"result\":\"refused\""), "%s", r.out);
	every_view_reads("tests/data/v2.trace");
}

/* Version 1 (tests/data/golden.trace: events only) and version 3 (written
 * by the shim before the flight recorder: `life bytes` then `life refused`)
 * stay readable by every view; version 3 with its handshake and bytes. */
Test(views, version_1_and_3_traces_stay_readable)
{
	every_view_reads("tests/data/golden.trace");
	static struct h_run r;
	const char *conn[] = {"-c", "--json", "tests/data/v3.trace", NULL};
	run_dump(&r, conn, 0);
	cr_assert_not_null(strstr(r.out, "\"handshake_ns\":40000,"), "%s", r.out);
	cr_assert_not_null(strstr(r.out, "\"tx_bytes\":1048576,\"rx_bytes\":65536"), "%s", r.out);
	cr_assert_not_null(strstr(r.out, "\"result\":\"refused\""), "%s", r.out);
	every_view_reads("tests/data/v3.trace");
}

/* A version-4 trace (tests/data/v4.trace: a flight recorder written by the
 * shim before short events, `life bytes` then `life refused`) stays
 * readable by every view, with its handshake, bytes and refusal. */
Test(views, version_4_traces_stay_readable)
{
	static struct h_run r;
	const char *conn[] = {"-c", "--json", "tests/data/v4.trace", NULL};
	run_dump(&r, conn, 0);
	cr_assert_not_null(strstr(r.out, "\"handshake_ns\":32000,"), "%s", r.out);
	cr_assert_not_null(strstr(r.out, "\"tx_bytes\":1048576,\"rx_bytes\":65536"), "%s", r.out);
	cr_assert_not_null(strstr(r.out, "\"result\":\"refused\""), "%s", r.out);
	every_view_reads("tests/data/v4.trace");
}

/* A version-5 trace (tests/data/v5.trace: written by the shim before short
 * closes, `life bytes` then `life refused`) stays readable by every view,
 * with its handshake, bytes and refusal. */
Test(views, version_5_traces_stay_readable)
{
	static struct h_run r;
	const char *conn[] = {"-c", "--json", "tests/data/v5.trace", NULL};
	run_dump(&r, conn, 0);
	cr_assert_not_null(strstr(r.out, "\"handshake_ns\":25000,"), "%s", r.out);
	cr_assert_not_null(strstr(r.out, "\"tx_bytes\":1048576,\"rx_bytes\":65536"), "%s", r.out);
	cr_assert_not_null(strstr(r.out, "\"result\":\"refused\""), "%s", r.out);
	every_view_reads("tests/data/v5.trace");
}

/* gentrace's calls into path, as short events or (long) as event records
 * only; the same calls at the same times either way. */
static void gen_calls(const char *path, bool long_events, const char *events, const char *step)
{
	char gen[256];
	h_path(gen, sizeof gen, "progs/gentrace");
	const char *argv[] = {gen, path, events, "2", step, NULL};
	const char *env[] = {long_events ? "GENTRACE_LONG=1" : "GENTRACE_LONG=0",
			     "GENTRACE_VARIED=1", "GENTRACE_START_NS=1700000000000000000", NULL};
	static struct h_run r;
	cr_assert_eq(h_run(&r, NULL, argv, env, 60), 0, "%s", r.err);
}

/* Version 5's short events (32 bytes, their process, thread and base time
 * in a context record per chunk), and version 6's short closes and results,
 * read exactly as the records they stand for, in every view: failures,
 * missing ends, flags, fds and counts a short record cannot hold (written
 * long), shutdowns, pending connects and their outcomes, and events 3 s
 * apart, so that a new context is due every other event.  And they are
 * what is written: the short trace is under three quarters of the long
 * one. */
Test(views, short_and_long_events_read_the_same)
{
	char shortp[160], longp[160];
	snprintf(shortp, sizeof shortp, "%s/short.trace", dir);
	snprintf(longp, sizeof longp, "%s/long.trace", dir);
	gen_calls(shortp, false, "200", "3000000000");
	gen_calls(longp, true, "200", "3000000000");
	static const char *const views[][3] = {
		{"-n", NULL}, {"--json", NULL}, {"--stats", NULL}, {"--stats", "--json"},
		{"--graph", NULL}, {"--otlp", NULL}, {"-c", "-n"}, {"-c", "--json"},
	};
	static struct h_run a, b;
	for (size_t i = 0; i < sizeof views / sizeof views[0]; i++) {
		const char *sa[] = {views[i][0], views[i][1] ? views[i][1] : shortp,
				    views[i][1] ? shortp : NULL, NULL};
		const char *la[] = {views[i][0], views[i][1] ? views[i][1] : longp,
				    views[i][1] ? longp : NULL, NULL};
		run_dump(&a, sa, 0);
		run_dump(&b, la, 0);
		cr_assert_str_eq(a.out, b.out, "%s %s differs", views[i][0],
				 views[i][1] ? views[i][1] : "");
		cr_assert_neq(a.out[0], '\0');
	}
	cr_assert_not_null(strstr(a.out, "\"result\":\"refused\""), "%s", a.out);
	gen_calls(shortp, false, "20000", "1000");
	gen_calls(longp, true, "20000", "1000");
	struct stat ss, ls;
	cr_assert(stat(shortp, &ss) == 0 && stat(longp, &ls) == 0);
	/* events 32 bytes for 56, closes 48 for 80, results 32 for 48, with the
	 * contexts they need and the tenth of calls that stay long: under
	 * three quarters as a whole (0.70 measured) */
	cr_assert_lt(ss.st_size * 4, ls.st_size * 3, "short %lld bytes, long %lld",
		     (long long)ss.st_size, (long long)ls.st_size);
}

/* Two views at once are refused, never silently the last one. */
Test(views, two_views_at_once_are_refused)
{
	static struct h_run r;
	const char *cs[] = {"-c", "-s", trace, NULL};
	run_dump(&r, cs, 2);
	cr_assert_not_null(strstr(r.err, "-c and --stats are two views: choose one"), "%s", r.err);
	const char *go[] = {"--graph", "--otlp", trace, NULL};
	run_dump(&r, go, 2);
	cr_assert_not_null(strstr(r.err, "--graph and --otlp are two views"), "%s", r.err);
}

/* A process title a program wrote over its arguments (nginx's "nginx:
 * worker process", sshd's "sshd: root@pts/0") is its name whole: the part
 * after its last '/' is not a file name.  In a text table it is cut to the
 * column; a path keeps only its last part. */
Test(views, a_process_title_is_named_whole)
{
	if (access("/bin/bash", X_OK) != 0)
		cr_skip_test("no bash for exec -a");
	static struct h_run r;
	char script[600];
	snprintf(script, sizeof script, "exec -a 'svc: pool/7 idle' %s refused", sockops);
	const char *argv[] = {"/bin/bash", "-c", script, NULL};
	cr_assert_eq(h_run(&r, trace, argv, NULL, 30), 0, "%s", r.err);
	const char *json[] = {"--stats", "--json", trace, NULL};
	run_dump(&r, json, 0);
	cr_expect_not_null(strstr(r.out, "\"program\":\"svc: pool/7 idle\""), "%s", r.out);
	const char *text[] = {"-n", "--stats", trace, NULL};
	run_dump(&r, text, 0);
	cr_expect_not_null(strstr(r.out, " svc: pool/7 idle "), "%s", r.out);
	snprintf(script, sizeof script,
		 "exec -a 'svc: a long title naming /etc/svc.conf' %s refused", sockops);
	unlink(trace);
	cr_assert_eq(h_run(&r, trace, argv, NULL, 30), 0, "%s", r.err);
	run_dump(&r, text, 0);
	cr_expect_not_null(strstr(r.out, " svc: a long tit... "), "%s", r.out);
	/* cut between characters, never inside one (\xc3\xb6 is o umlaut,
	 * at bytes 14 and 15 of the title) */
	snprintf(script, sizeof script, "exec -a 'aaaaaaa bbbbbb\xc3\xb6 long title' %s refused",
		 sockops);
	unlink(trace);
	cr_assert_eq(h_run(&r, trace, argv, NULL, 30), 0, "%s", r.err);
	run_dump(&r, text, 0);
	cr_expect_not_null(strstr(r.out, " aaaaaaa bbbbbb... "), "%s", r.out);
	snprintf(script, sizeof script, "exec -a ./bin/a-path %s refused", sockops);
	unlink(trace);
	cr_assert_eq(h_run(&r, trace, argv, NULL, 30), 0, "%s", r.err);
	run_dump(&r, json, 0);
	cr_expect_not_null(strstr(r.out, "\"program\":\"a-path\""), "%s", r.out);
}

/* --stats counts each process's events under its own pid, with processes of
 * one trace one after the other and side by side (the lookup remembers the
 * process it found last). */
Test(views, stats_count_each_process_of_a_trace_apart)
{
	static struct h_run r;
	char script[1024];
	snprintf(script, sizeof script, "%s refused; %s refused & %s refused; wait", sockops, sockops,
		 sockops);
	const char *argv[] = {"/bin/sh", "-c", script, NULL};
	cr_assert_eq(h_run(&r, trace, argv, NULL, 30), 0, "%s", r.err);
	const char *json[] = {"--stats", "--json", trace, NULL};
	run_dump(&r, json, 0);
	const char *procs = strstr(r.out, "\"processes\":[");
	cr_assert_not_null(procs, "%s", r.out);
	cr_expect_eq(h_occurrences(procs, "\"program\":\"sockops\",\"events\":2,\"failed\":1,"), 3,
		     "%s", procs);
}
