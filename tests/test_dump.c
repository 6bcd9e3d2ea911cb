/* The demo and socktrace-dump, as a user runs them. */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"

static char dir[64], trace[128], demo[256], dump[256];

static void setup(void)
{
	h_tmpdir(dir, sizeof dir);
	snprintf(trace, sizeof trace, "%s/demo.trace", dir);
	h_path(demo, sizeof demo, "socknames");
	h_path(dump, sizeof dump, "socktrace-dump");
}

static void teardown(void)
{
	h_rmdir(dir);
}

TestSuite(dump, .init = setup, .fini = teardown, .timeout = 60);

static struct h_run demo_run;

static void run_demo(void)
{
	const char *argv[] = {demo, "0", "0", NULL};
	cr_assert_eq(h_run(&demo_run, trace, argv, NULL, 30), 0, "%s", demo_run.err);
}

/* "(localhost, 32835)" -> port */
static unsigned port_of(const char *out, const char *label)
{
	const char *p = strstr(out, label);
	cr_assert_not_null(p, "no '%s' in:\n%s", label, out);
	unsigned port;
	cr_assert(sscanf(p + strlen(label), ": (localhost, %u)", &port) == 1, "%s", p);
	return port;
}

Test(dump, demo_prints_the_book_lines_and_trace_agrees)
{
	run_demo();
	unsigned e = port_of(demo_run.out, "getsockname(connFd)");
	unsigned p = port_of(demo_run.out, "getsockname(acceptFd)");
	cr_assert_eq(port_of(demo_run.out, "getpeername(connFd)"), p);
	cr_assert_eq(port_of(demo_run.out, "getpeername(acceptFd)"), e);
	struct st_trace t;
	h_load(&t, trace);
	char want_e[32], want_p[32], b1[64], b2[64];
	snprintf(want_e, sizeof want_e, "127.0.0.1:%u", e);
	snprintf(want_p, sizeof want_p, "127.0.0.1:%u", p);
	int seen = 0;
	for (size_t i = 0; i < t.nevs; i++) {
		const struct st_ev *ev = &t.evs[i];
		if (ev->op != ST_OP_GETSOCKNAME && ev->op != ST_OP_GETPEERNAME)
			continue;
		if (st_ep_sa(&ev->peer) == NULL)
			continue; /* the listener's own getsockname */
		const char *l = h_ep(&ev->local, b1, sizeof b1), *r = h_ep(&ev->peer, b2, sizeof b2);
		bool conn_side = strcmp(l, want_e) == 0 && strcmp(r, want_p) == 0;
		bool accept_side = strcmp(l, want_p) == 0 && strcmp(r, want_e) == 0;
		cr_expect(conn_side || accept_side, "unexpected pair %s %s", l, r);
		seen++;
	}
	cr_assert_eq(seen, 4);
	st_trace_free(&t);
}

Test(dump, text_output_names_hosts_like_the_book)
{
	run_demo();
	unsigned e = port_of(demo_run.out, "getsockname(connFd)");
	static struct h_run r;
	const char *argv[] = {dump, trace, NULL};
	cr_assert_eq(h_run(&r, NULL, argv, NULL, 30), 0, "%s", r.err);
	char want[64];
	snprintf(want, sizeof want, "local=(localhost, %u)", e);
	cr_assert_not_null(strstr(r.out, want), "%s", r.out);
	cr_assert_not_null(strstr(r.out, " accept(3) = 5 "), "%s", r.out);
	/* the summary counts what was shown, by kind: the closes too */
	cr_assert_not_null(strstr(r.err, "7 events, 2 closes shown; 0 events dropped"), "%s", r.err);
	const char *argn[] = {dump, "-n", trace, NULL};
	cr_assert_eq(h_run(&r, NULL, argn, NULL, 30), 0);
	snprintf(want, sizeof want, "local=(127.0.0.1, %u)", e);
	cr_assert_not_null(strstr(r.out, want), "%s", r.out);
}

Test(dump, json_lines_have_the_documented_keys)
{
	run_demo();
	static struct h_run r;
	const char *argv[] = {dump, "--json", trace, NULL};
	cr_assert_eq(h_run(&r, NULL, argv, NULL, 30), 0, "%s", r.err);
	cr_assert_not_null(strstr(r.out, "{\"family\":\"inet\",\"addr\":\"127.0.0.1\",\"port\":"));
	int lines = 0, closes = 0;
	for (char *l = strtok(r.out, "\n"); l; l = strtok(NULL, "\n")) {
		cr_expect(l[0] == '{' && l[strlen(l) - 1] == '}', "%s", l);
		/* the demo's two connected sockets are still open when it exits */
		if (strstr(l, "\"op\":\"close\"")) {
			const char *ckeys[] = {"\"how\":\"exit\"", "\"role\":\"", "\"duration_ns\":",
					       "\"tx_bytes\":", "\"rx_bytes\":", "\"rtt_us\":",
					       "\"retrans\":"};
			for (size_t k = 0; k < sizeof ckeys / sizeof ckeys[0]; k++)
				cr_expect_not_null(strstr(l, ckeys[k]), "%s lacks %s", l, ckeys[k]);
			closes++;
			continue;
		}
		lines++;
		const char *keys[] = {"\"ts\":", "\"pid\":", "\"tid\":", "\"op\":\"", "\"fd\":",
				      "\"ret\":", "\"errno\":null", "\"local\":", "\"peer\":"};
		for (size_t k = 0; k < sizeof keys / sizeof keys[0]; k++)
			cr_expect_not_null(strstr(l, keys[k]), "%s lacks %s", l, keys[k]);
		if (strstr(l, "\"op\":\"accept\""))
			cr_expect_not_null(strstr(l, "\"listen_fd\":3"), "%s", l);
	}
	cr_assert_eq(lines, 7);
}

Test(dump, damaged_file_prints_records_before_and_fails)
{
	run_demo();
	int fd = open(trace, O_RDWR);
	cr_assert(fd >= 0);
	struct st_header h;
	cr_assert(pread(fd, &h, sizeof h, 0) == sizeof h);
	/* break the commit word of the fifth record of the chunk (process,
	 * context, getsockname, connect, accept) */
	uint64_t off = ST_HEADER_SIZE, w;
	for (int i = 0; i < 4; i++) {
		cr_assert(pread(fd, &w, 8, (off_t)off) == 8);
		off += ST_REC_LEN(w);
	}
	uint64_t bad = ST_REC_WORD(3, ST_REC_EVENT);
	cr_assert(pwrite(fd, &bad, 8, (off_t)off) == 8);
	close(fd);
	static struct h_run r;
	const char *argv[] = {dump, trace, NULL};
	cr_assert_eq(h_run(&r, NULL, argv, NULL, 30), 1);
	char want[400];
	snprintf(want, sizeof want, "socktrace-dump: %s: offset %llu: corrupt record", trace,
		 (unsigned long long)off);
	cr_assert_not_null(strstr(r.err, want), "%s", r.err);
	/* process record, then the listener's getsockname and connect survive */
	cr_assert_not_null(strstr(r.out, " connect(4) = 0 "), "%s", r.out);
	cr_assert_not_null(strstr(r.err, "2 events"), "%s", r.err);
}

/* A short event whose context record is gone (made padding here) cannot be
 * read: which process, thread and time it had is unknown.  Damage, said with
 * its offset by both readers, never an event of pid 0 or of another
 * thread. */
Test(dump, a_short_event_without_its_context_is_damage)
{
	run_demo();
	int fd = open(trace, O_RDWR);
	cr_assert(fd >= 0);
	uint64_t off = ST_HEADER_SIZE, w = 0;
	for (int i = 0; i < 8 && ST_REC_TYPE(w) != ST_REC_CONTEXT; i++) {
		if (i)
			off += ST_REC_LEN(w);
		cr_assert(pread(fd, &w, 8, (off_t)off) == 8);
	}
	cr_assert_eq(ST_REC_TYPE(w), ST_REC_CONTEXT, "no context record among the first");
	uint64_t pad = ST_REC_WORD(ST_REC_LEN(w), ST_REC_PAD);
	cr_assert(pwrite(fd, &pad, 8, (off_t)off) == 8);
	close(fd);
	uint64_t first = off + ST_REC_LEN(w);
	char want[400];
	snprintf(want, sizeof want, "offset %llu: short event without a context record",
		 (unsigned long long)first);
	static struct h_run r;
	const char *argv[] = {dump, trace, NULL};
	cr_assert_eq(h_run(&r, NULL, argv, NULL, 30), 1);
	cr_assert_not_null(strstr(r.err, want), "%s", r.err);
	cr_assert_null(strstr(r.out, "getsockname"), "%s", r.out);
	struct st_trace t;
	cr_assert_eq(st_trace_load(&t, trace, 0), -1);
	cr_assert_not_null(strstr(t.error, want), "%s", t.error);
	st_trace_free(&t);
}

/* The same for a short close (version 6): its context record (and the short
 * events after it) turned into padding, the close is reported as damage. */
Test(dump, a_short_close_without_its_context_is_damage)
{
	char gen[256];
	h_path(gen, sizeof gen, "progs/gentrace");
	const char *gargv[] = {gen, trace, "4", "1", "1000", NULL};
	const char *genv[] = {"GENTRACE_VARIED=1", NULL};
	static struct h_run r;
	unlink(trace);
	cr_assert_eq(h_run(&r, NULL, gargv, genv, 30), 0, "%s", r.err);
	int fd = open(trace, O_RDWR);
	cr_assert(fd >= 0);
	/* the chunk of the events (the process record has its own): its
	 * context, then short events and the first short close */
	uint64_t w = 0, ctx_off = 0, close_off = 0;
	for (uint64_t chunk = ST_HEADER_SIZE; chunk < 8 * ST_CHUNK_SIZE && !close_off;
	     chunk += ST_CHUNK_SIZE) {
		ctx_off = 0;
		for (uint64_t off = chunk; off < chunk + ST_CHUNK_SIZE && !close_off;
		     off += ST_REC_LEN(w)) {
			if (pread(fd, &w, 8, (off_t)off) != 8 || w == 0)
				break;
			if (ST_REC_TYPE(w) == ST_REC_CONTEXT)
				ctx_off = off;
			else if (ST_REC_TYPE(w) == ST_REC_SHORT_CLOSE)
				close_off = off;
		}
	}
	cr_assert_neq(close_off, 0, "no short close in the first chunks");
	cr_assert_neq(ctx_off, 0, "no context before the short close");
	/* the context and the short events between it and the close become
	 * padding: the close is then the first short record of its context */
	for (uint64_t off = ctx_off; off < close_off; off += ST_REC_LEN(w)) {
		cr_assert(pread(fd, &w, 8, (off_t)off) == 8);
		uint64_t pad = ST_REC_WORD(ST_REC_LEN(w), ST_REC_PAD);
		cr_assert(pwrite(fd, &pad, 8, (off_t)off) == 8);
	}
	close(fd);
	char want[400];
	snprintf(want, sizeof want, "offset %llu: short close without a context record",
		 (unsigned long long)close_off);
	const char *argv[] = {dump, "-n", trace, NULL};
	cr_assert_eq(h_run(&r, NULL, argv, NULL, 30), 1);
	cr_assert_not_null(strstr(r.err, want), "%s", r.err);
	struct st_trace t;
	cr_assert_eq(st_trace_load(&t, trace, 0), -1);
	cr_assert_not_null(strstr(t.error, want), "%s", t.error);
	st_trace_free(&t);
}

Test(dump, missing_and_empty_files_fail_clearly)
{
	static struct h_run r;
	char empty[160];
	snprintf(empty, sizeof empty, "%s/empty.trace", dir);
	close(open(empty, O_CREAT | O_WRONLY, 0600));
	const char *argv[] = {dump, empty, NULL};
	cr_assert_eq(h_run(&r, NULL, argv, NULL, 30), 0);
	cr_assert_not_null(strstr(r.err, "no trace header yet"), "%s", r.err);
	const char *argm[] = {dump, "/nonexistent/x.trace", NULL};
	cr_assert_eq(h_run(&r, NULL, argm, NULL, 30), 1);
	cr_assert_not_null(strstr(r.err, "/nonexistent/x.trace: No such file"), "%s", r.err);
	const char *argn[] = {dump, NULL};
	cr_assert_eq(h_run(&r, NULL, argn, NULL, 30), 2);
}

Test(dump, only_wrapped_symbols_are_exported)
{
	static struct h_run r;
	char lib[256];
	h_path(lib, sizeof lib, "libsocktrace.so");
	const char *argv[] = {"/bin/sh", "-c", "nm -D --defined-only \"$0\" | awk '{print $3}' | sort | tr '\\n' ' '", lib, NULL};
	cr_assert_eq(h_run(&r, NULL, argv, NULL, 30), 0, "%s", r.err);
	cr_assert_str_eq(r.out, "_Exit __longjmp_chk _exit _longjmp accept accept4 bind clone close close_range "
				"closefrom connect dlclose dup dup2 "
				"dup3 fclose fcntl fcntl64 getaddrinfo gethostbyname gethostbyname2 gethostbyname2_r "
				"gethostbyname_r getpeername getsockname getsockopt listen longjmp pipe pipe2 prctl recvmsg "
				"shutdown siglongjmp socket socketpair syscall wait wait4 waitid waitpid ");
}

/* Every --option of a program's --help is in its man page, and the reverse:
 * the two cannot drift apart. */
static void options_of(const char *text, bool roff, char found[][32], size_t *n)
{
	*n = 0;
	const char *dash = roff ? "\\-\\-" : "--";
	for (const char *p = strstr(text, dash); p && *n < 64; p = strstr(p + 1, dash)) {
		const char *q = p + strlen(dash);
		size_t len = strspn(q, "abcdefghijklmnopqrstuvwxyz-");
		if (len == 0 || len >= 30)
			continue;
		bool seen = false;
		for (size_t i = 0; i < *n; i++)
			seen |= strlen(found[i]) == len && strncmp(found[i], q, len) == 0;
		if (!seen)
			snprintf(found[(*n)++], 32, "%.*s", (int)len, q);
	}
}

static void help_matches_man(const char *program, const char *man)
{
	char path[256];
	h_path(path, sizeof path, program);
	static struct h_run r;
	const char *argv[] = {path, "--help", NULL};
	cr_assert_eq(h_run(&r, NULL, argv, NULL, 30), 0, "%s", r.err);
	static char page[1 << 16];
	FILE *f = fopen(man, "r");
	cr_assert_not_null(f, "%s", man);
	page[fread(page, 1, sizeof page - 1, f)] = '\0';
	fclose(f);
	static char in_help[64][32], in_man[64][32];
	size_t nh, nm;
	options_of(r.out, false, in_help, &nh);
	options_of(page, true, in_man, &nm);
	for (size_t i = 0; i < nh; i++) {
		char want[40];
		snprintf(want, sizeof want, "\\-\\-%s", in_help[i]);
		cr_expect_not_null(strstr(page, want), "%s --%s is not in %s", program, in_help[i], man);
	}
	for (size_t i = 0; i < nm; i++) {
		char want[40];
		snprintf(want, sizeof want, "--%s", in_man[i]);
		cr_expect_not_null(strstr(r.out, want), "%s names --%s, which %s --help does not", man,
				   in_man[i], program);
	}
	cr_assert_gt(nh, 2);
}

Test(dump, every_option_in_help_is_in_the_man_page_and_back)
{
	help_matches_man("socktrace-dump", "man/socktrace-dump.1");
	help_matches_man("socktrace", "man/socktrace.1");
}

/* The README's demo lines are what `make demo` prints, numbers aside
 * (times, pids, ports, RTTs differ from run to run). */
static void digits_masked(char *s)
{
	char *o = s;
	for (const char *p = s; *p; p++) {
		bool digit = *p >= '0' && *p <= '9';
		if (!digit)
			*o++ = *p;
		else if (o == s || o[-1] != '#') /* a run of digits is one '#' */
			*o++ = '#';
	}
	*o = '\0';
}

Test(dump, the_readmes_demo_lines_are_what_make_demo_prints)
{
	if (h_sanitized())
		cr_skip_test("make demo runs the plain build");
	static struct h_run r;
	const char *argv[] = {"/bin/sh", "tools/scripts/demo.sh", h_build(), NULL};
	cr_assert_eq(h_run(&r, NULL, argv, NULL, 60), 0, "%s", r.err);
	static char out[sizeof r.out + sizeof r.err + 1];
	snprintf(out, sizeof out, "%s%s", r.out, r.err);
	digits_masked(out);
	FILE *f = fopen("README.md", "r");
	cr_assert_not_null(f);
	static char line[1024];
	bool in_demo = false;
	int checked = 0;
	while (fgets(line, sizeof line, f)) {
		if (strncmp(line, "## ", 3) == 0)
			in_demo = strstr(line, "What `make demo` shows") != NULL;
		if (!in_demo || strncmp(line, "    ", 4) != 0 || strcmp(line, "    ...\n") == 0)
			continue;
		char want[1024];
		snprintf(want, sizeof want, "%s", line + 4);
		digits_masked(want);
		cr_expect_not_null(strstr(out, want), "README: %s is not in make demo's output", line);
		checked++;
	}
	fclose(f);
	cr_assert_geq(checked, 8, "the README's demo lines were not found");
}
