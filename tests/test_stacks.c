/* Call stacks: captured by the shim with libunwind, named by the reader. */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "../tools/reader/st_symbols.h"
#include "harness.h"

static char dir[64], trace[128], prog[256];

static void setup(void)
{
	h_tmpdir(dir, sizeof dir);
	snprintf(trace, sizeof trace, "%s/s.trace", dir);
	h_path(prog, sizeof prog, "progs/stackprog");
}

static void teardown(void)
{
	h_rmdir(dir);
}

TestSuite(stacks, .init = setup, .fini = teardown, .timeout = 60);

struct named {
	unsigned n;
	unsigned pid;
	char sym[ST_FRAMES_MAX][128];
	char obj[ST_FRAMES_MAX][256];
	bool changed[ST_FRAMES_MAX];
};

/* Names the frames of the trace's connect event (the last one when there are
 * several), as the reader would now. */
static void name_connect(struct named *out)
{
	struct st_trace t;
	h_load(&t, trace);
	const struct st_ev *ev = NULL;
	for (size_t i = 0; i < t.nevs; i++)
		if (t.evs[i].op == ST_OP_CONNECT)
			ev = &t.evs[i];
	cr_assert_not_null(ev, "no connect event");
	struct st_symbolizer *s = st_sym_new(NULL);
	st_sym_add_traces(s, &t, 1);
	memset(out, 0, sizeof *out);
	out->n = ev->nframes;
	out->pid = ev->pid;
	for (unsigned i = 0; i < ev->nframes; i++) {
		struct st_frame f;
		st_sym_frame(s, ev, ev->frames[i], &f);
		snprintf(out->sym[i], sizeof out->sym[i], "%s", f.sym ? f.sym : "??");
		snprintf(out->obj[i], sizeof out->obj[i], "%s", f.obj ? f.obj : "??");
		out->changed[i] = f.changed;
	}
	st_sym_free(s);
	st_trace_free(&t);
}

/* Runs stackprog SCENARIO with SOCKTRACE_BACKTRACE=depth and names the frames
 * of its connect event (the last one when there are several). */
static void run_and_name(const char *binary, const char *scenario, const char *depth,
			 struct named *out, struct h_run *r)
{
	char env[64];
	snprintf(env, sizeof env, "SOCKTRACE_BACKTRACE=%s", depth);
	const char *envv[] = {env, NULL};
	const char *argv[] = {binary, scenario, NULL};
	cr_assert_eq(h_run(r, trace, argv, envv, 50), 0, "%s", r->err);
	name_connect(out);
}

static void expect_chain(const struct named *nm, const char *const *want)
{
	for (unsigned i = 0; want[i]; i++) {
		cr_assert_lt(i, nm->n, "only %u frames", nm->n);
		cr_expect_str_eq(nm->sym[i], want[i], "frame %u", i);
	}
}

Test(stacks, main_thread_names_inner_outer_main)
{
	static struct h_run r;
	struct named nm;
	run_and_name(prog, "main", "16", &nm, &r);
	const char *want[] = {"inner", "outer", "main", NULL};
	expect_chain(&nm, want);
	cr_expect(strstr(nm.obj[0], "stackprog") != NULL, "%s", nm.obj[0]);
}

Test(stacks, other_thread)
{
	static struct h_run r;
	struct named nm;
	run_and_name(prog, "thread", "16", &nm, &r);
	const char *want[] = {"inner", "outer", "thread_main", NULL};
	expect_chain(&nm, want);
}

Test(stacks, forked_child)
{
	static struct h_run r;
	struct named nm;
	run_and_name(prog, "fork", "16", &nm, &r);
	cr_assert_eq((long)nm.pid, h_field(r.out, "child", "pid"));
	const char *want[] = {"inner", "outer", "main", NULL};
	expect_chain(&nm, want);
}

Test(stacks, through_a_signal_frame)
{
	static struct h_run r;
	struct named nm;
	run_and_name(prog, "signal", "32", &nm, &r);
	const char *want[] = {"inner", "outer", "on_signal", NULL};
	expect_chain(&nm, want);
	bool main_found = false;
	for (unsigned i = 3; i < nm.n; i++)
		main_found |= strcmp(nm.sym[i], "main") == 0;
	cr_expect(main_found, "the unwinder stopped at the signal frame");
}

Test(stacks, library_loaded_with_dlopen)
{
	static struct h_run r;
	struct named nm;
	run_and_name(prog, "dlopen", "16", &nm, &r);
	const char *want[] = {"dl_inner", "dl_outer", "by_dlopen", "main", NULL};
	expect_chain(&nm, want);
	cr_expect(strstr(nm.obj[0], "libstackdl.so") != NULL, "%s", nm.obj[0]);
}

Test(stacks, depth_is_respected)
{
	static struct h_run r;
	struct named nm;
	run_and_name(prog, "main", "2", &nm, &r);
	cr_assert_eq(nm.n, 2);
	const char *want[] = {"inner", "outer", NULL};
	expect_chain(&nm, want);
	run_and_name(prog, "main", "1000", &nm, &r);
	cr_assert_leq(nm.n, ST_FRAMES_MAX);
	cr_assert_geq(nm.n, 3);
}

Test(stacks, off_by_default)
{
	static struct h_run r;
	struct named nm;
	run_and_name(prog, "main", "", &nm, &r);
	cr_assert_eq(nm.n, 0);
}

Test(stacks, stripped_binary_never_gets_a_wrong_name)
{
	static struct h_run r;
	struct named nm;
	char stripped[256];
	h_path(stripped, sizeof stripped, "progs/stackprog-stripped");
	run_and_name(stripped, "main", "16", &nm, &r);
	cr_assert_geq(nm.n, 3);
	cr_expect_str_eq(nm.sym[0], "??", "static inner has no symbol left");
	cr_expect(!strcmp(nm.sym[1], "outer") || !strcmp(nm.sym[1], "??"), "%s", nm.sym[1]);
	cr_expect(!strcmp(nm.sym[2], "main") || !strcmp(nm.sym[2], "??"), "%s", nm.sym[2]);
}

static void copy_file(const char *from, const char *to)
{
	static struct h_run r;
	const char *argv[] = {"/bin/cp", from, to, NULL};
	cr_assert_eq(h_run(&r, NULL, argv, NULL, 10), 0, "%s", r.err);
}

Test(stacks, rebuilt_object_is_reported_not_misnamed)
{
	static struct h_run r;
	struct named nm;
	char copy[160], other[256];
	snprintf(copy, sizeof copy, "%s/stackprog", dir);
	copy_file(prog, copy);
	run_and_name(copy, "main", "16", &nm, &r);
	cr_assert_str_eq(nm.sym[0], "inner");
	cr_assert(!nm.changed[0]);
	/* another program, another build-id, at the same path */
	h_path(other, sizeof other, "progs/sockops");
	copy_file(other, copy);
	name_connect(&nm);
	for (unsigned i = 0; i < 3; i++) {
		cr_expect_str_eq(nm.sym[i], "??", "frame %u", i);
		cr_expect(nm.changed[i], "frame %u not reported as changed", i);
	}
	static struct h_run d;
	char dump[256];
	h_path(dump, sizeof dump, "socktrace-dump");
	const char *argv[] = {dump, trace, NULL};
	cr_assert_eq(h_run(&d, NULL, argv, NULL, 30), 0, "%s", d.err);
	cr_expect(strstr(d.out, "(object changed since the trace was taken)"), "%s", d.out);
	const char *json[] = {dump, "--json", trace, NULL};
	cr_assert_eq(h_run(&d, NULL, json, NULL, 30), 0, "%s", d.err);
	cr_expect(strstr(d.out, "\"changed\":true"), "%s", d.out);
}

Test(stacks, glibc_backtrace_unchanged)
{
	static struct h_run traced, bare;
	const char *envv[] = {"SOCKTRACE_BACKTRACE=16", NULL};
	const char *argv[] = {prog, "backtrace", NULL};
	cr_assert_eq(h_run(&traced, trace, argv, envv, 30), 0);
	cr_assert_eq(h_run(&bare, NULL, argv, NULL, 30), 0);
	cr_assert_str_eq(traced.out, bare.out);
	cr_assert(strstr(bare.out, "backtrace frames="));
}

Test(stacks, signal_handler_during_dlopen_does_not_deadlock)
{
	static struct h_run r;
	const char *envv[] = {"SOCKTRACE_BACKTRACE=16", NULL};
	const char *argv[] = {prog, "dlloop", "3000", NULL};
	cr_assert_eq(h_run(&r, trace, argv, envv, 40), 0, "status %d: %s", r.status, r.err);
	cr_assert(strstr(r.out, "dlopen-loop done 3000"), "%s", r.out);
	struct st_trace t;
	h_load(&t, trace);
	cr_assert_gt(h_count(&t, ST_OP_GETSOCKNAME, 0), 10, "too few SIGALRMs to mean anything");
	st_trace_free(&t);
}

Test(stacks, libunwind_takes_no_low_fd)
{
	static struct h_run traced, bare;
	char sockops[256];
	h_path(sockops, sizeof sockops, "progs/sockops");
	const char *envv[] = {"SOCKTRACE_BACKTRACE=16", NULL};
	const char *argv[] = {sockops, "fds", NULL};
	cr_assert_eq(h_run(&traced, trace, argv, envv, 30), 0);
	cr_assert_eq(h_run(&bare, NULL, argv, NULL, 30), 0);
	/* what the program opened is numbered as without the shim */
	cr_assert(strncmp(traced.out, bare.out, strlen(bare.out) - 1) == 0, "%s vs %s",
		  traced.out, bare.out);
	struct rlimit rl;
	getrlimit(RLIMIT_NOFILE, &rl);
	const char *rest = traced.out + strlen(bare.out) - 1;
	int fd;
	while (sscanf(rest, " %d", &fd) == 1) {
		cr_expect_geq(fd, (int)rl.rlim_cur - 32, "libunwind's fd %d is low", fd);
		rest = strchr(rest + 1, ' ') ? strchr(rest + 1, ' ') : "";
	}
}

/* A program run by naming the dynamic loader ("ld.so [OPTIONS] PROGRAM"):
 * its frames are named from the program, not from the loader that
 * /proc/self/exe names, and not said to be of a changed object; its process
 * record names the program, and so do the views, whatever --argv0 made the
 * program's argv[0]. */
static void expect_run_by_loader(const char *const *argv)
{
	static struct h_run r;
	const char *envv[] = {"SOCKTRACE_BACKTRACE=16", NULL};
	unlink(trace);
	cr_assert_eq(h_run(&r, trace, argv, envv, 50), 0, "%s", r.err);
	struct named nm;
	name_connect(&nm);
	const char *want[] = {"inner", "outer", "main", NULL};
	expect_chain(&nm, want);
	cr_expect(strstr(nm.obj[0], "stackprog") != NULL, "%s", nm.obj[0]);
	cr_expect(!nm.changed[0], "the program's frame said to be of a changed object");
	struct st_trace t;
	h_load(&t, trace);
	cr_assert_geq(t.nprocs, 1);
	cr_expect(memmem(t.procs[0].exe, t.procs[0].exe_len, "stackprog", 9) != NULL,
		  "process record: %.*s", (int)t.procs[0].exe_len, t.procs[0].exe);
	st_trace_free(&t);
	char dump[256];
	h_path(dump, sizeof dump, "socktrace-dump");
	static struct h_run d;
	const char *dargv[] = {dump, "-n", "--stats", trace, NULL};
	cr_assert_eq(h_run(&d, NULL, dargv, NULL, 30), 0, "%s", d.err);
	cr_expect(strstr(d.out, " stackprog ") != NULL && strstr(d.out, "ld-linux") == NULL, "%s",
		  d.out);
}

Test(stacks, a_program_run_by_its_loader_is_named)
{
	const char *loader = "/lib64/ld-linux-x86-64.so.2";
	if (access(loader, X_OK) != 0)
		cr_skip_test("no %s", loader);
	expect_run_by_loader((const char *[]){loader, prog, "main", NULL});
	/* argv[0] a file that does not exist, in the program's directory
	 * (stackprog finds its library beside argv[0]) */
	char renamed[300];
	snprintf(renamed, sizeof renamed, "%s-renamed", prog);
	expect_run_by_loader((const char *[]){loader, "--argv0", renamed, "--inhibit-cache", prog,
					      "main", NULL});
}
