/* Programs run under the shim: results unchanged, and the trace agrees with
 * what the programs themselves saw. */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

static char dir[64], trace[128], sockops[256];

static void setup(void)
{
	h_tmpdir(dir, sizeof dir);
	snprintf(trace, sizeof trace, "%s/t.trace", dir);
	h_path(sockops, sizeof sockops, "progs/sockops");
}

static void teardown(void)
{
	h_rmdir(dir);
}

TestSuite(shim, .init = setup, .fini = teardown, .timeout = 60);

/* Runs a scenario under the shim and bare; outputs must be identical once
 * kernel-chosen numbers are masked; returns the traced run's output. */
static void run_both(struct h_run *traced, const char *const *argv)
{
	static struct h_run bare;
	cr_assert_eq(h_run(traced, trace, argv, NULL, 30), 0, "traced run: %s", traced->err);
	cr_assert_eq(h_run(&bare, NULL, argv, NULL, 30), 0, "bare run: %s", bare.err);
	cr_assert_str_empty(traced->err, "the shim wrote to stderr: %s", traced->err);
}

Test(shim, errno_and_results_unchanged)
{
	if (h_sanitized())
		cr_skip_test("libasan's own getsockname interceptor reads bad pointers");
	static struct h_run traced, bare;
	const char *argv[] = {sockops, "errors", NULL};
	h_run(&traced, trace, argv, NULL, 30);
	h_run(&bare, NULL, argv, NULL, 30);
	cr_assert_eq(traced.status, bare.status, "exit status differs");
	cr_assert_str_eq(traced.out, bare.out);
	cr_assert(strstr(traced.out, "getpeername-unmapped-addr ret=-1 errno=EFAULT"));
	cr_assert(strstr(traced.out, "errno-kept-on-success ret=0 errno=4242"));
	struct st_trace t;
	h_load(&t, trace);
	size_t failed = 0;
	for (size_t i = 0; i < t.nevs; i++)
		failed += t.evs[i].ret < 0;
	/* pipe x2, null addr, bad len, unmapped x2, connect x2, accept, unconnected */
	cr_assert_eq(failed, 10, "failed calls in trace: %zu", failed);
	st_trace_free(&t);
}

Test(shim, refused_connect_records_requested_peer)
{
	static struct h_run r;
	const char *argv[] = {sockops, "refused", NULL};
	run_both(&r, argv);
	cr_assert(strstr(r.out, "connect-refused ret=-1 errno=ECONNREFUSED"));
	long port = h_field(r.out, "refused-port", "refused-port");
	(void)port;
	unsigned p;
	cr_assert(sscanf(strstr(r.out, "refused-port "), "refused-port %u", &p) == 1);
	struct st_trace t;
	h_load(&t, trace);
	const struct st_ev *e = NULL;
	for (size_t i = 0; i < t.nevs; i++)
		if (t.evs[i].op == ST_OP_CONNECT)
			e = &t.evs[i];
	cr_assert_not_null(e);
	cr_expect_eq(e->ret, -1);
	cr_expect_eq(e->err, ECONNREFUSED);
	char want[64], got[64];
	snprintf(want, sizeof want, "127.0.0.1:%u", p);
	cr_expect_str_eq(h_ep(&e->peer, got, sizeof got), want);
	st_trace_free(&t);
}

static void check_scenario(const char *const *argv, int want_lines)
{
	static struct h_run r;
	run_both(&r, argv);
	struct st_trace t;
	h_load(&t, trace);
	cr_assert_eq(h_check_ends(&t, r.out, 0), want_lines, "output:\n%s", r.out);
	st_trace_free(&t);
}

Test(shim, inet4_endpoints_match_program)
{
	const char *argv[] = {sockops, "names4", NULL};
	check_scenario(argv, 2);
}

Test(shim, inet6_endpoints_match_program)
{
	const char *argv[] = {sockops, "names6", NULL};
	check_scenario(argv, 2);
}

Test(shim, unix_path_endpoints)
{
	char path[128];
	snprintf(path, sizeof path, "%s/srv.sock", dir);
	const char *argv[] = {sockops, "unix", path, NULL};
	check_scenario(argv, 2);
}

Test(shim, unix_abstract_endpoints)
{
	char name[64];
	snprintf(name, sizeof name, "socktrace-test-%d", getpid());
	const char *argv[] = {sockops, "abstract", name, NULL};
	check_scenario(argv, 2);
}

Test(shim, socketpair_endpoints_unnamed)
{
	const char *argv[] = {sockops, "socketpair", NULL};
	check_scenario(argv, 2);
}

Test(shim, fd_reuse_never_gives_old_endpoints)
{
	const char *argv[] = {sockops, "fdreuse", NULL};
	check_scenario(argv, 6);
}

Test(shim, accept4_flags_kept_and_recorded)
{
	static struct h_run r;
	const char *argv[] = {sockops, "accept4", NULL};
	run_both(&r, argv);
	cr_assert(strstr(r.out, "accept4 cloexec=1 nonblock=1 plen=16"));
	struct st_trace t;
	h_load(&t, trace);
	cr_assert_eq(h_count(&t, ST_OP_ACCEPT4, 0), 1);
	cr_assert_eq(h_check_ends(&t, r.out, 0), 1);
	st_trace_free(&t);
}

Test(shim, nonblocking_connect_records_local_end)
{
	static struct h_run r;
	const char *argv[] = {sockops, "nonblock", NULL};
	run_both(&r, argv);
	cr_assert(strstr(r.out, "connect-nonblock ret=-1 errno=EINPROGRESS"));
	struct st_trace t;
	h_load(&t, trace);
	const struct st_ev *c = NULL;
	for (size_t i = 0; i < t.nevs && !c; i++)
		if (t.evs[i].op == ST_OP_CONNECT)
			c = &t.evs[i];
	cr_assert_not_null(c);
	cr_assert_eq(c->err, EINPROGRESS);
	char got[64], want[64];
	cr_assert(sscanf(strstr(r.out, "nonblock fd="), "nonblock fd=%*d local=%63s", want) == 1);
	cr_expect_str_eq(h_ep(&c->local, got, sizeof got), want);
	cr_expect_eq(h_check_ends(&t, r.out, 0), 1);
	st_trace_free(&t);
}

Test(shim, inherited_socket_gets_both_ends)
{
	static struct h_run r;
	const char *argv[] = {sockops, "inherited", NULL};
	run_both(&r, argv);
	long server = h_field(r.out, "server", "pid");
	cr_assert_gt(server, 0);
	struct st_trace t;
	h_load(&t, trace);
	cr_assert_eq(h_count(&t, ST_OP_GETSOCKNAME, (unsigned)server), 1);
	cr_assert_eq(h_check_ends(&t, r.out, 0), 2);
	st_trace_free(&t);
}

Test(shim, forked_child_records_its_own_pid)
{
	static struct h_run r;
	const char *argv[] = {sockops, "fork", NULL};
	run_both(&r, argv);
	long child = h_field(r.out, "child", "pid");
	cr_assert_gt(child, 0);
	struct st_trace t;
	h_load(&t, trace);
	cr_assert_eq(h_count(&t, ST_OP_GETSOCKNAME, (unsigned)child), 1);
	cr_assert_eq(h_count(&t, ST_OP_GETPEERNAME, (unsigned)child), 1);
	cr_assert_eq(h_check_ends(&t, r.out, 0), 3);
	st_trace_free(&t);
}

Test(shim, threads_lose_no_event)
{
	static struct h_run r;
	const char *argv[] = {sockops, "threads", "8", "20000", NULL};
	cr_assert_eq(h_run(&r, trace, argv, NULL, 50), 0, "%s", r.err);
	struct st_trace t;
	h_load(&t, trace);
	/* set-up: getsockname of the listener, connect, accept; then the loops */
	cr_assert_eq(h_count(&t, ST_OP_GETSOCKNAME, 0), 8 * 20000 + 1);
	cr_assert_eq(h_count(&t, 0, 0), 8 * 20000 + 3, "events: %zu", t.nevs);
	cr_assert_eq(t.dropped, 0);
	st_trace_free(&t);
}

Test(shim, sigkill_keeps_acknowledged_events)
{
	int po[2];
	cr_assert(pipe(po) == 0);
	pid_t pid = fork();
	cr_assert(pid >= 0);
	if (pid == 0) {
		dup2(po[1], 1);
		char lib[4096];
		h_path(lib, sizeof lib, "libsocktrace.so");
		const char *pre = getenv("ST_PRELOAD");
		setenv("LD_PRELOAD", pre && *pre ? pre : lib, 1); /* see h_preload */
		setenv("SOCKTRACE_FILE", trace, 1);
		execl(sockops, sockops, "killme", "1000", (char *)NULL);
		_exit(127);
	}
	close(po[1]);
	int acked = 0;
	char buf[256];
	ssize_t n;
	while (acked < 500 && (n = read(po[0], buf, sizeof buf)) > 0)
		acked += (int)n;
	kill(pid, SIGKILL);
	int status;
	waitpid(pid, &status, 0);
	close(po[0]);
	cr_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
	cr_assert_geq(acked, 500);
	struct st_trace t;
	h_load(&t, trace);
	cr_assert_geq(h_count(&t, ST_OP_GETPEERNAME, (unsigned)pid), (size_t)acked);
	st_trace_free(&t);
}

Test(shim, program_closing_all_fds_is_still_traced)
{
	const char *argv[] = {sockops, "closeall", NULL};
	check_scenario(argv, 2);
}

Test(shim, unwritable_trace_warns_once_and_changes_nothing)
{
	static struct h_run traced, bare;
	char ro[128], path[160];
	snprintf(ro, sizeof ro, "%s/ro", dir);
	cr_assert(mkdir(ro, 0500) == 0);
	snprintf(path, sizeof path, "%s/t.trace", ro);
	const char *argv[] = {sockops, "fork", NULL};
	/* root ignores directory permissions: make the name a directory instead */
	if (geteuid() == 0)
		cr_assert(mkdir(path, 0700) == 0);
	int rc = h_run(&traced, path, argv, NULL, 30);
	cr_assert_eq(rc, h_run(&bare, NULL, argv, NULL, 30));
	cr_assert_eq(rc, 0);
	const char *w = strstr(traced.err, "socktrace: cannot trace to ");
	cr_assert_not_null(w, "stderr: %s", traced.err);
	cr_assert_null(strstr(w + 1, "socktrace:"), "warned more than once: %s", traced.err);
	cr_assert_str_eq(bare.err, "");
}

Test(shim, trace_is_private_and_never_follows_symlinks)
{
	static struct h_run r;
	char target[160], link[160];
	snprintf(target, sizeof target, "%s/target", dir);
	snprintf(link, sizeof link, "%s/link.trace", dir);
	cr_assert(symlink(target, link) == 0);
	const char *argv[] = {sockops, "names4", NULL};
	cr_assert_eq(h_run(&r, link, argv, NULL, 30), 0);
	cr_assert(strstr(r.err, "socktrace: cannot trace to"), "stderr: %s", r.err);
	struct stat st;
	cr_assert(stat(target, &st) < 0, "the shim wrote through a symlink");
	cr_assert_eq(h_run(&r, trace, argv, NULL, 30), 0);
	cr_assert(stat(trace, &st) == 0);
	cr_assert_eq(st.st_mode & 0777, 0600);
}

Test(shim, file_shrinks_to_content_after_exit)
{
	static struct h_run r;
	const char *argv[] = {sockops, "threads", "4", "100", NULL};
	cr_assert_eq(h_run(&r, trace, argv, NULL, 30), 0);
	struct stat st;
	cr_assert(stat(trace, &st) == 0);
	/* header plus at most one chunk per thread (main and 4 workers) */
	cr_assert_leq(st.st_size, ST_HEADER_SIZE + 5 * ST_CHUNK_SIZE, "size %lld",
		      (long long)st.st_size);
	cr_assert_eq((st.st_size - ST_HEADER_SIZE) % ST_CHUNK_SIZE, 0);
	/* a second run appends to the same file */
	cr_assert_eq(h_run(&r, trace, argv, NULL, 30), 0);
	struct st_trace t;
	h_load(&t, trace);
	cr_assert_eq(h_count(&t, ST_OP_GETSOCKNAME, 0), 2 * 401);
	st_trace_free(&t);
}

Test(shim, full_trace_counts_dropped_and_program_goes_on)
{
	static struct h_run r;
	const char *argv[] = {sockops, "threads", "1", "2000", NULL};
	const char *env[] = {"SOCKTRACE_SIZE=20480", NULL};
	cr_assert_eq(h_run(&r, trace, argv, env, 30), 0, "%s", r.err);
	struct st_trace t;
	h_load(&t, trace);
	cr_assert_gt(t.dropped, 0);
	cr_assert_eq(t.nevs + t.dropped, 2000 + 3, "kept %zu dropped %llu", t.nevs,
		     (unsigned long long)t.dropped);
	st_trace_free(&t);
}

Test(shim, signal_handler_calls_interleave_without_loss)
{
	static struct h_run r;
	const char *argv[] = {sockops, "signals", "100000", NULL};
	cr_assert_eq(h_run(&r, trace, argv, NULL, 50), 0, "%s", r.err);
	long handler = h_field(r.out, "signals", "handler");
	cr_assert_gt(handler, 0, "no SIGALRM arrived: %s", r.out);
	struct st_trace t;
	h_load(&t, trace);
	cr_assert_eq(h_count(&t, ST_OP_GETPEERNAME, 0), 100000);
	/* plus the listener's getsockname made by the set-up */
	cr_assert_eq(h_count(&t, ST_OP_GETSOCKNAME, 0), (size_t)handler + 1);
	cr_assert_eq(t.dropped, 0);
	st_trace_free(&t);
}

Test(shim, no_descriptor_is_held_or_stolen)
{
	static struct h_run r, bare;
	const char *argv[] = {sockops, "fds", NULL};
	cr_assert_eq(h_run(&r, trace, argv, NULL, 30), 0);
	cr_assert_eq(h_run(&bare, NULL, argv, NULL, 30), 0);
	cr_assert_str_eq(r.out, bare.out);
	/* 3 was the listener, closed after accept */
	cr_assert_str_eq(r.out, "open-fds 0 1 2 4 5\n");
}

Test(shim, constructor_of_another_library_and_allocator_hooks)
{
	if (h_sanitized())
		cr_skip_test("the program replaces malloc, which libasan owns");
	static struct h_run r, bare;
	char early[256];
	h_path(early, sizeof early, "progs/early");
	const char *argv[] = {early, NULL};
	cr_assert_eq(h_run(&r, trace, argv, NULL, 30), 0, "%s", r.err);
	cr_assert_eq(h_run(&bare, NULL, argv, NULL, 30), 0);
	cr_assert_str_eq(r.out, bare.out);
	cr_assert(strstr(r.out, "allocator-called=1"), "%s", r.out);
	long early_fd = h_field(r.out, "early-constructor", "fd");
	struct st_trace t;
	h_load(&t, trace);
	bool found = false;
	for (size_t i = 0; i < t.nevs; i++)
		found |= t.evs[i].op == ST_OP_GETSOCKNAME && t.evs[i].fd == early_fd;
	cr_assert(found, "the constructor's getsockname was not recorded");
	st_trace_free(&t);
}

Test(shim, percent_p_gives_one_file_per_process)
{
	static struct h_run r;
	char tmpl[160], path[160];
	snprintf(tmpl, sizeof tmpl, "%s/t.%%p.trace", dir);
	const char *argv[] = {sockops, "fork", NULL};
	cr_assert_eq(h_run(&r, tmpl, argv, NULL, 30), 0, "%s", r.err);
	long child = h_field(r.out, "child", "pid");
	snprintf(path, sizeof path, "%s/t.%ld.trace", dir, child);
	struct st_trace t;
	h_load(&t, path);
	cr_assert_eq(h_count(&t, 0, 0), 2);
	cr_assert_eq(h_count(&t, 0, (unsigned)child), 2);
	cr_assert_eq(t.nprocs, 1);
	st_trace_free(&t);
}

Test(shim, thread_local_state_uses_initial_exec_tls)
{
	static struct h_run r;
	char lib[256];
	h_path(lib, sizeof lib, "libsocktrace.so");
	const char *argv[] = {"/bin/sh", "-c", "readelf -dW \"$0\" | grep -c STATIC_TLS; "
			      "nm -D --undefined-only \"$0\" | grep -c __tls_get_addr", lib, NULL};
	h_run(&r, NULL, argv, NULL, 30);
	cr_assert_str_eq(r.out, "1\n0\n");
}

Test(shim, unrelated_processes_share_one_trace)
{
	static struct h_run r[3];
	const char *argv[] = {sockops, "threads", "4", "5000", NULL};
	pid_t pids[3];
	for (int i = 0; i < 3; i++) {
		pids[i] = fork();
		cr_assert(pids[i] >= 0);
		if (pids[i] == 0)
			_exit(h_run(&r[i], trace, argv, NULL, 50));
	}
	for (int i = 0; i < 3; i++) {
		int status;
		cr_assert_eq(waitpid(pids[i], &status, 0), pids[i]);
		cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	}
	struct st_trace t;
	h_load(&t, trace);
	cr_assert_eq(h_count(&t, ST_OP_GETSOCKNAME, 0), 3 * (4 * 5000 + 1));
	cr_assert_eq(t.nprocs, 3);
	cr_assert_eq(t.dropped, 0);
	struct stat st;
	cr_assert(stat(trace, &st) == 0);
	cr_assert_lt(st.st_size, 64 << 20, "the last process to leave did not shrink the file");
	st_trace_free(&t);
}
