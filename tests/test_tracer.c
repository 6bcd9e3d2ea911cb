/*
 * The ptrace front-end (tools/tracer/): launched programs the loader cannot
 * reach (static, Go, raw system calls) and running programs attached with
 * -p, written into the same trace through the same core as the shim's.
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <dirent.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

static char dir[64], trace[160], launcher[256], dump[256], tracee[256];

static void setup(void)
{
	h_tmpdir(dir, sizeof dir);
	snprintf(trace, sizeof trace, "%s/t.trace", dir);
	h_path(launcher, sizeof launcher, "socktrace");
	h_path(dump, sizeof dump, "socktrace-dump");
	h_path(tracee, sizeof tracee, "progs/tracee");
}

static void teardown(void)
{
	h_rmdir(dir);
}

TestSuite(tracer, .init = setup, .fini = teardown, .timeout = 120);

/* socktrace ARGS... with no preload of its own (the harness's sanitizer
 * runtime is not wanted in a tracer). */
static int tr_launch_env(struct h_run *r, const char *const *args, const char *const *env)
{
	const char *argv[24] = {launcher};
	for (int i = 0; args[i] && i < 22; i++)
		argv[i + 1] = args[i];
	return h_run(r, NULL, argv, env, 60);
}

static int tr_launch(struct h_run *r, const char *const *args)
{
	return tr_launch_env(r, args, NULL);
}

static int tr_wait(pid_t pid)
{
	int status;
	for (int i = 0; i < 300; i++) { /* 30 s at most */
		pid_t got = waitpid(pid, &status, WNOHANG);
		if (got == pid)
			return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
		usleep(100000);
	}
	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
	return -1;
}

/* The state letter of /proc/PID/stat (R, S, T stopped, t traced...). */
static char tr_state(pid_t pid)
{
	char path[64], buf[512];
	snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
	FILE *f = fopen(path, "r");
	if (f == NULL)
		return '?';
	size_t n = fread(buf, 1, sizeof buf - 1, f);
	fclose(f);
	buf[n] = '\0';
	const char *paren = strrchr(buf, ')');
	return paren && paren[1] == ' ' ? paren[2] : '?';
}

/* Waits (bounded) until pid's state is one of want. */
static bool tr_state_becomes(pid_t pid, const char *want)
{
	for (int i = 0; i < 100; i++) {
		if (strchr(want, tr_state(pid)))
			return true;
		usleep(20000);
	}
	return false;
}

/* tracee MODE, bare, once it said "ready". */
static pid_t tr_start_tracee(const char *mode, int *out, char *buf, size_t size)
{
	const char *argv[] = {tracee, mode, NULL};
	pid_t pid = h_spawn(argv, out);
	cr_assert(h_read_until(*out, "ready ", buf, size), "%s", buf);
	return pid;
}

/* Sends sig to pid and waits (bounded) for the program to say "WORD N". */
static void tr_poke(pid_t pid, int sig, int out, char *buf, size_t size, const char *word, int n)
{
	char seen[32];
	snprintf(seen, sizeof seen, "%s%d\n", word, n);
	kill(pid, sig);
	cr_assert(h_read_until(out, seen, buf, size), "no '%s': %s", word, buf);
}

/* socktrace -p pid -o path, started and seen attached; its pid. */
static pid_t tr_attach(pid_t pid, const char *path, int *tout, char *tbuf, size_t size)
{
	char pidarg[16];
	snprintf(pidarg, sizeof pidarg, "%d", (int)pid);
	const char *attach[] = {launcher, "-p", pidarg, "-o", path, NULL};
	pid_t tracer = h_spawn(attach, tout);
	cr_assert(h_read_until(*tout, "attached to 1 process", tbuf, size), "%s", tbuf);
	return tracer;
}

/* How many sockets pid holds (its /proc/PID/fd links to socket:[...]). */
static int tr_sockets(pid_t pid)
{
	char path[64], link[64];
	snprintf(path, sizeof path, "/proc/%d/fd", (int)pid);
	DIR *d = opendir(path);
	int n = 0;
	struct dirent *de;
	while (d && (de = readdir(d)) != NULL) {
		char full[64 + sizeof de->d_name];
		snprintf(full, sizeof full, "%s/%s", path, de->d_name);
		ssize_t len = readlink(full, link, sizeof link - 1);
		n += len > 7 && strncmp(link, "socket:", 7) == 0;
	}
	if (d)
		closedir(d);
	return n;
}

/* Waits (bounded) until pid holds want sockets. */
static bool tr_sockets_become(pid_t pid, int want)
{
	for (int i = 0; i < 500; i++) {
		if (tr_sockets(pid) == want)
			return true;
		usleep(20000);
	}
	return false;
}

static int tr_op_count(const struct st_trace *t, int op, int family)
{
	int n = 0;
	for (size_t i = 0; i < t->nevs; i++)
		if (t->evs[i].op == op && t->evs[i].ret >= 0 &&
		    (family == 0 || (st_ep_sa(&t->evs[i].peer) &&
				     ((const struct sockaddr *)st_ep_sa(&t->evs[i].peer))->sa_family == family)))
			n++;
	return n;
}

/* The TCP events of a trace as "op local peer" lines, each port replaced by
 * its order of appearance (runs differ in ephemeral ports, not in shape). */
static void tr_inet_shape(const struct st_trace *t, char *out, size_t size)
{
	unsigned ports[16] = {0}, nports = 0;
	size_t n = 0;
	out[0] = '\0';
	for (size_t i = 0; i < t->nevs && n + 1 < size; i++) {
		const struct st_ev *ev = &t->evs[i];
		const struct st_endpoint *ends[2] = {&ev->local, &ev->peer};
		if (st_ep_sa(&ev->local) == NULL || ((const struct sockaddr *)st_ep_sa(&ev->local))->sa_family != AF_INET)
			continue;
		n += (size_t)snprintf(out + n, size - n, "%s", st_op_name(ev->op));
		for (int k = 0; k < 2 && n + 1 < size; k++) {
			char ep[160];
			h_ep(ends[k], ep, sizeof ep);
			char *colon = strrchr(ep, ':');
			unsigned port = colon ? (unsigned)atoi(colon + 1) : 0, index = 0;
			while (index < nports && ports[index] != port)
				index++;
			if (index == nports && nports < 16)
				ports[nports++] = port;
			if (colon)
				*colon = '\0';
			n += (size_t)snprintf(out + n, size - n, " %s:P%u", ep, index);
		}
		n += (size_t)snprintf(out + n, size - n, "\n");
	}
}

/* The book's listing linked statically: the launcher chooses ptrace by
 * itself, says so once, and the trace holds the same endpoints the program
 * printed, the connect paired with the accept, and the same TCP events, both
 * ends each, as the dynamic build under the shim (today: refused, exit 126). */
Test(tracer, a_static_program_is_traced_with_its_endpoints)
{
	char prog[256];
	h_path(prog, sizeof prog, "progs/socknames-static");
	static struct h_run r;
	cr_assert_eq(tr_launch(&r, (const char *[]){"-q", "-o", trace, prog, "0", NULL}), 0, "%s",
		     r.err);
	cr_assert_eq(h_occurrences(r.err, "statically linked: tracing it with ptrace"), 1, "%s",
		     r.err);
	cr_assert_not_null(strstr(r.out, "getpeername(acceptFd)"), "%s", r.out);
	struct st_trace t;
	h_load(&t, trace);
	cr_assert_eq(tr_op_count(&t, ST_OP_CONNECT, AF_INET), 1);
	cr_assert_eq(tr_op_count(&t, ST_OP_ACCEPT, 0), 1);
	cr_assert_eq(tr_op_count(&t, ST_OP_GETPEERNAME, 0), 2);
	cr_assert_geq(tr_op_count(&t, ST_OP_GETSOCKNAME, 0), 3);
	cr_assert_eq(t.nprocs, 1);
	cr_assert(t.procs[0].flags & ST_PROC_PTRACE, "the process record says ptrace");
	static struct h_run d;
	const char *argv[] = {dump, "-n", "-c", trace, NULL};
	cr_assert_eq(h_run(&d, NULL, argv, NULL, 30), 0, "%s", d.err);
	cr_assert_not_null(strstr(d.err, "1 connection paired"), "%s%s", d.out, d.err);
	char dynamic[256], shim_trace[200];
	h_path(dynamic, sizeof dynamic, "socknames");
	snprintf(shim_trace, sizeof shim_trace, "%s/shim.trace", dir);
	static struct h_run s;
	const char *argv_shim[] = {dynamic, "0", NULL};
	cr_assert_eq(h_run(&s, shim_trace, argv_shim, NULL, 30), 0, "%s", s.err);
	struct st_trace shim;
	h_load(&shim, shim_trace);
	static char traced_shape[4096], shim_shape[4096];
	tr_inet_shape(&t, traced_shape, sizeof traced_shape);
	tr_inet_shape(&shim, shim_shape, sizeof shim_shape);
	cr_assert_eq(h_occurrences(shim_shape, "\n"), 7, "%s", shim_shape);
	cr_assert_str_eq(traced_shape, shim_shape);
	st_trace_free(&shim);
	st_trace_free(&t);
}

/* A program whose socket calls are inline syscall instructions, and one
 * using libc's syscall(): every call and both ends of each socket, as the
 * program saw them; the shim sees none of the inline ones. */
static void raw_calls(const char *mode)
{
	static struct h_run r;
	cr_assert_eq(tr_launch(&r, (const char *[]){"-q", "--ptrace", "-o", trace, tracee, mode,
						    NULL}), 0, "%s", r.err);
	struct st_trace t;
	h_load(&t, trace);
	cr_assert_eq(h_check_ends(&t, r.out, 0), 2, "%s", r.out);
	cr_assert_eq(tr_op_count(&t, ST_OP_CONNECT, AF_INET), 1);
	cr_assert_eq(tr_op_count(&t, ST_OP_ACCEPT, 0), 1);
	/* as the reader counts them (a FIN is not a byte) */
	static struct h_run d;
	const char *argv[] = {dump, "--json", trace, NULL};
	cr_assert_eq(h_run(&d, NULL, argv, NULL, 30), 0, "%s", d.err);
	cr_assert_eq(h_occurrences(d.out, "\"role\":\"client\",\"duration_ns\""), 1, "%s", d.out);
	cr_assert_eq(h_occurrences(d.out, "\"tx_bytes\":3000,\"rx_bytes\":0"), 1, "%s", d.out);
	cr_assert_eq(h_occurrences(d.out, "\"tx_bytes\":0,\"rx_bytes\":3000"), 1, "%s", d.out);
	st_trace_free(&t);
}

Test(tracer, inline_system_calls_are_seen)
{
	raw_calls("inline");
	/* the shim cannot: what this front-end is for */
	static struct h_run r;
	char shim_trace[200];
	snprintf(shim_trace, sizeof shim_trace, "%s/shim.trace", dir);
	const char *argv[] = {tracee, "inline", NULL};
	cr_assert_eq(h_run(&r, shim_trace, argv, NULL, 30), 0, "%s", r.err);
	struct st_trace t;
	h_load(&t, shim_trace);
	cr_assert_eq(t.nevs, 0);
	st_trace_free(&t);
}

Test(tracer, libc_syscall_function_is_seen_under_ptrace)
{
	raw_calls("libc");
}

/* Go's runtime makes its own system calls: the launcher uses ptrace for a
 * Go program, dynamic or built without cgo, and the connection is paired
 * with its result and its five bytes each way. */
static void go_dial(const char *name)
{
	if (h_sanitized())
		cr_skip_test("the launcher is not sanitized");
	char prog[256];
	h_path(prog, sizeof prog, name);
	static struct h_run r;
	cr_assert_eq(tr_launch(&r, (const char *[]){"-q", "-o", trace, prog, NULL}), 0, "%s",
		     r.err);
	cr_assert_not_null(strstr(r.err, "tracing it with ptrace"), "%s", r.err);
	static struct h_run d;
	const char *argv[] = {dump, "-n", "-c", "--json", trace, NULL};
	cr_assert_eq(h_run(&d, NULL, argv, NULL, 30), 0, "%s", d.err);
	cr_assert_eq(h_occurrences(d.out, "\"paired\":true"), 1, "%s", d.out);
	cr_assert_eq(h_occurrences(d.out, "\"result\":\"ok\""), 1, "%s", d.out);
	cr_assert_eq(h_occurrences(d.out, "\"tx_bytes\":5,\"rx_bytes\":5"), 1, "%s", d.out);
}

Test(tracer, a_go_program_is_traced)
{
	go_dial("progs/godial");
}

Test(tracer, a_go_program_without_cgo_is_traced)
{
	go_dial("progs/godial-static");
}

/* The same connections from the shim and the tracer: for programs whose
 * socket calls all go through libc, the rows of -c --json agree in all but
 * times, pids and ports (transport, result, bytes, who is paired). */
static void rows_of(const char *path, char *out, size_t size)
{
	static struct h_run d;
	const char *argv[] = {dump, "-n", "-c", "--json", path, NULL};
	cr_assert_eq(h_run(&d, NULL, argv, NULL, 30), 0, "%s", d.err);
	out[0] = '\0';
	size_t n = 0;
	for (const char *p = strstr(d.out, "\"paired\""); p; p = strstr(p + 1, "\"paired\"")) {
		/* "paired", then past client_pid (a pid): transport, result */
		const char *pid = strstr(p, ",\"client_pid\"");
		const char *transport = strstr(p, ",\"transport\"");
		const char *name = strstr(p, ",\"name\"");
		const char *tx = strstr(p, "\"tx_bytes\"");
		const char *rtt = tx ? strstr(tx, ",\"rtt_us\"") : NULL;
		if (pid == NULL || transport == NULL || name == NULL || rtt == NULL)
			break;
		n += (size_t)snprintf(out + n, size - n, "%.*s%.*s %.*s\n", (int)(pid - p), p,
				      (int)(name - transport), transport, (int)(rtt - tx), tx);
		if (n >= size)
			break;
	}
}

Test(tracer, the_shim_and_the_tracer_give_the_same_rows)
{
	if (h_sanitized())
		cr_skip_test("the launcher is not sanitized");
	char life[256], shim_trace[200];
	h_path(life, sizeof life, "progs/life");
	snprintf(shim_trace, sizeof shim_trace, "%s/shim.trace", dir);
	/* vfork, fork, descriptors passed over a Unix socket, timeouts, unsent
	 * bytes: the fork and vfork children get their own socket tables */
	const char *modes[] = {"bytes", "refused", "dup", "fdupfd", "again", "reuse",
			       "vforkclose", "vforkexit", "scmrights", "peerbuf",
			       "timeout", "unacked", "reset"};
	for (size_t i = 0; i < sizeof modes / sizeof modes[0]; i++) {
		static struct h_run r;
		unlink(trace);
		unlink(shim_trace);
		cr_assert_eq(tr_launch(&r, (const char *[]){"-q", "--preload", "-o", shim_trace, life,
							    modes[i], NULL}), 0, "%s", r.err);
		cr_assert_eq(tr_launch(&r, (const char *[]){"-q", "--ptrace", "-o", trace, life,
							    modes[i], NULL}), 0, "%s", r.err);
		static char shim_rows[1 << 15], tracer_rows[1 << 15];
		rows_of(shim_trace, shim_rows, sizeof shim_rows);
		rows_of(trace, tracer_rows, sizeof tracer_rows);
		cr_assert_neq(shim_rows[0], '\0', "life %s has rows", modes[i]);
		cr_assert_str_eq(tracer_rows, shim_rows, "life %s", modes[i]);
	}
}

/* The launcher under --ptrace stands for the program as with the shim: its
 * exit status and death by a signal passed through, a SIGTERM sent to the
 * launcher passed on to the program (which handles it and exits 0). */
Test(tracer, exit_status_and_signals_pass_through)
{
	static struct h_run r;
	cr_assert_eq(tr_launch(&r, (const char *[]){"-q", "--ptrace", "-o", trace, "/bin/sh", "-c",
						    "exit 7", NULL}), 7, "%s", r.err);
	cr_assert_eq(tr_launch(&r, (const char *[]){"-q", "--ptrace", "-o", trace, "/bin/sh", "-c",
						    "kill -USR1 $$", NULL}), 128 + SIGUSR1, "%s", r.err);
	int out;
	char buf[4096] = "";
	const char *launched[] = {launcher, "-q", "--ptrace", "-o", trace, tracee, "signals", NULL};
	pid_t tracer = h_spawn(launched, &out);
	cr_assert(h_read_until(out, "ready ", buf, sizeof buf), "%s", buf);
	kill(tracer, SIGTERM);
	cr_assert(h_read_until(out, "term=1", buf, sizeof buf), "%s", buf);
	cr_assert_eq(tr_wait(tracer), 0, "%s", buf);
	close(out);
}

/* A program with a seccomp filter of its own: its filter's answer wins over
 * the tracer's (the kernel runs the strictest), as bare. */
Test(tracer, a_programs_own_seccomp_filter_answers_as_bare)
{
	static struct h_run bare, traced;
	const char *argv[] = {tracee, "seccomp", NULL};
	cr_assert_eq(h_run(&bare, NULL, argv, NULL, 30), 0, "%s", bare.err);
	cr_assert_eq(tr_launch(&traced, (const char *[]){"-q", "--ptrace", "-o", trace, tracee,
							 "seccomp", NULL}), 0, "%s", traced.err);
	cr_assert_str_eq(bare.out, "connect=-1 errno=EPERM\n");
	cr_assert_str_eq(traced.out, bare.out);
}

/* Where the client's calls are inline system calls (forkdup, prefork), the
 * shim sees only the server's end; the tracer sees both and pairs them, with
 * the bytes of the server end's last holder: a child that left with _exit,
 * an exec'd child on fds 0 and 1 (inetd), a re-executed child (sshd), the
 * server itself after an exec in its place (nc -l -e), a worker handed the
 * connection over a Unix socket (node's cluster, vsftpd).  Each also in a
 * process that holds a Unix socket (LIFE_UNIX), where closes of fds the
 * tracer never saw opened are looked at: a close of one of a socket's
 * several fds is not one of them (exim's dup then close recorded a second,
 * empty connection there). */
Test(tracer, raw_clients_the_shim_misses_are_paired)
{
	char life[256];
	h_path(life, sizeof life, "progs/life");
	const char *modes[][2] = {{"forkdup", NULL},	{"prefork", "parent-first"},
				  {"prefork", "child-exits"}, {"inetd", NULL},
				  {"inetd", "late"},	{"reexec", NULL},
				  {"selfexec", NULL},	{"handoff", NULL},
				  {"handoff", "silent"}, {"handoff", "silent-early"}};
	const char *with_unix[] = {"LIFE_UNIX=1", NULL};
	for (size_t i = 0; i < 2 * sizeof modes / sizeof modes[0]; i++) {
		static struct h_run r, d;
		size_t m = i % (sizeof modes / sizeof modes[0]);
		unlink(trace);
		cr_assert_eq(tr_launch_env(&r, (const char *[]){"-q", "--ptrace", "-o", trace, life,
								modes[m][0], modes[m][1], NULL},
					   i >= sizeof modes / sizeof modes[0] ? with_unix : NULL),
			     0, "%s", r.err);
		const char *argv[] = {dump, "-n", "-c", "--json", trace, NULL};
		cr_assert_eq(h_run(&d, NULL, argv, NULL, 30), 0, "%s", d.err);
		cr_assert_eq(h_occurrences(d.out, "\"paired\":true"), 1, "%s: %s", modes[m][0], d.out);
		cr_assert_eq(h_occurrences(d.out, "\"tx_bytes\":1001,\"rx_bytes\":2000"), 1, "%s", d.out);
		/* the server end's own bytes: its row in --stats */
		const char *args[] = {dump, "--stats", "--json", trace, NULL};
		cr_assert_eq(h_run(&d, NULL, args, NULL, 30), 0, "%s", d.err);
		cr_assert_eq(h_occurrences(d.out, "\"tx_bytes\":2000,\"rx_bytes\":1001}"), 1,
			     "%s %s: %s", modes[m][0], modes[m][1] ? modes[m][1] : "", d.out);
	}
}

/* An exec from a thread other than the leader: the new program's
 * connections are followed to their end (before, the dead leader's exit
 * left the process counted as gone, and its ends were never recorded). */
Test(tracer, an_exec_from_a_second_thread_is_followed)
{
	char life[256];
	h_path(life, sizeof life, "progs/life");
	static struct h_run r;
	cr_assert_eq(tr_launch(&r, (const char *[]){"-q", "--ptrace", "-o", trace, tracee,
						    "threadexec", life, "abandon", NULL}),
		     0, "%s", r.err);
	struct st_trace t;
	h_load(&t, trace);
	size_t programs = 0;
	for (size_t i = 0; i < t.nprocs; i++)
		programs += t.procs[i].exe_len >= 4 &&
			    memcmp(t.procs[i].exe + t.procs[i].exe_len - 4, "life", 4) == 0;
	cr_assert_eq(programs, 1, "the exec recorded");
	size_t at_exit = 0;
	for (size_t i = 0; i < t.ncloses; i++)
		at_exit += t.closes[i].how == ST_END_EXIT;
	cr_assert_gt(at_exit, 0, "the new program's connections open at its exit, ended");
	st_trace_free(&t);
}

/* Threads, fork and exec under the tracer: a forked child's close of an
 * inherited connection is one of several, the parent's is its end. */
Test(tracer, forks_threads_and_exec_are_followed)
{
	char life[256];
	h_path(life, sizeof life, "progs/life");
	static struct h_run r;
	cr_assert_eq(tr_launch(&r, (const char *[]){"-q", "--ptrace", "-o", trace, "/bin/sh", "-c",
						    "\"$0\" forkdup && \"$0\" fullfork", life, NULL}),
		     0, "%s", r.err);
	struct st_trace t;
	h_load(&t, trace);
	size_t forked = 0, programs = 0;
	for (size_t i = 0; i < t.ncloses; i++)
		forked += (t.closes[i].flags & ST_CLOSE_FORKED) != 0;
	for (size_t i = 0; i < t.nprocs; i++)
		programs += t.procs[i].exe_len >= 4 &&
			    memcmp(t.procs[i].exe + t.procs[i].exe_len - 4, "life", 4) == 0;
	cr_assert_geq(programs, 2, "both execs of life recorded");
	cr_assert_geq(forked, 1, "a child's close of what it inherited");
	cr_assert_geq(t.nprocs, 4, "sh, two lifes and their children");
	st_trace_free(&t);
}

/* A launched program dies with a killed launcher (its filter would fail
 * every socket call with ENOSYS, untraced); an attached one goes on. */
Test(tracer, a_killed_launcher_kills_what_it_launched_and_frees_what_it_attached)
{
	int out;
	char buf[4096] = "";
	const char *launched[] = {launcher, "-q", "--ptrace", "-o", trace, tracee, "sleep", NULL};
	pid_t tracer = h_spawn(launched, &out);
	pid_t prog = (pid_t)h_read_number(out, "ready ", buf, sizeof buf);
	cr_assert_gt(prog, 0, "%s", buf);
	kill(tracer, SIGKILL);
	tr_wait(tracer);
	close(out);
	cr_assert(tr_state_becomes(prog, "?XZ"), "launched program still alive: %c",
		  tr_state(prog));
	struct st_trace t;
	h_load(&t, trace); /* readable, as a killed shim's trace is */
	st_trace_free(&t);

	buf[0] = '\0';
	pid_t alone = tr_start_tracee("sleep", &out, buf, sizeof buf);
	char attached_trace[200];
	snprintf(attached_trace, sizeof attached_trace, "%s/a.trace", dir);
	int tout;
	char tbuf[4096] = "";
	tracer = tr_attach(alone, attached_trace, &tout, tbuf, sizeof tbuf);
	kill(tracer, SIGKILL);
	tr_wait(tracer);
	cr_assert(tr_state_becomes(alone, "SR"), "attached program left in state %c",
		  tr_state(alone));
	h_load(&t, attached_trace);
	st_trace_free(&t);
	kill(alone, SIGTERM);
	cr_assert_eq(tr_wait(alone), 128 + SIGTERM, "it goes on, and dies of its own signal");
	close(out);
	close(tout);
}

/* Signals sent to an attached program arrive as bare: handlers run for
 * SIGUSR1, SIGCHLD and SIGPIPE, a shell's SIGSTOP stops it (state T, not
 * left in a tracing stop) and SIGCONT resumes it; after the detach it is
 * never left stopped. */
Test(tracer, signals_reach_an_attached_program_as_bare)
{
	int out, tout;
	char buf[4096] = "", tbuf[4096] = "";
	pid_t prog = tr_start_tracee("signals", &out, buf, sizeof buf);
	pid_t tracer = tr_attach(prog, trace, &tout, tbuf, sizeof tbuf);
	/* one at a time: a signal sent while the same one is pending is merged,
	 * bare or traced */
	for (int i = 1; i <= 3; i++)
		tr_poke(prog, SIGUSR1, out, buf, sizeof buf, "usr1=", i);
	kill(prog, SIGUSR2); /* a child (SIGCHLD) and a broken pipe (SIGPIPE) */
	cr_assert(h_read_until(out, "chld=1\n", buf, sizeof buf), "%s", buf);
	kill(prog, SIGSTOP);
	/* stopped: T bare, t under a tracer (a group-stop held with
	 * PTRACE_LISTEN is a tracing stop to the kernel, as under strace) */
	cr_assert(tr_state_becomes(prog, "Tt"), "SIGSTOP: state %c", tr_state(prog));
	kill(prog, SIGCONT);
	cr_assert(tr_state_becomes(prog, "SR"), "SIGCONT: state %c", tr_state(prog));
	/* detached while stopped: it stays stopped, as bare, until SIGCONT */
	kill(prog, SIGSTOP);
	cr_assert(tr_state_becomes(prog, "Tt"), "SIGSTOP: state %c", tr_state(prog));
	kill(tracer, SIGINT);
	cr_assert_eq(tr_wait(tracer), 0, "%s", tbuf);
	cr_assert(tr_state_becomes(prog, "T"), "detached while stopped: state %c", tr_state(prog));
	kill(prog, SIGCONT);
	cr_assert(tr_state_becomes(prog, "SR"), "after detach: state %c", tr_state(prog));
	kill(prog, SIGTERM);
	cr_assert_eq(tr_wait(prog), 0);
	cr_assert(h_read_until(out, "term=1", buf, sizeof buf), "%s", buf);
	cr_assert_not_null(strstr(buf, "usr1=3 chld=1 pipe=1 term=1"), "%s", buf);
	close(out);
	close(tout);
}

/* One HTTP/1.0 request on a new connection: the status line, or "". */
static void tr_fetch(unsigned port, char *status, size_t size)
{
	status[0] = '\0';
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in in = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	if (fd < 0 || connect(fd, (struct sockaddr *)&in, sizeof in) != 0) {
		close(fd);
		return;
	}
	const char req[] = "GET / HTTP/1.0\r\n\r\n";
	if (write(fd, req, sizeof req - 1) == (ssize_t)sizeof req - 1) {
		char reply[256] = "";
		ssize_t n = read(fd, reply, sizeof reply - 1);
		if (n > 0)
			snprintf(status, size, "%.*s", (int)strcspn(reply, "\r\n"), reply);
	}
	close(fd);
}

/* -p on a running python3 -m http.server: a connection open before the
 * attach is followed to its end, the three requests made while attached are
 * recorded and no other, and the server serves on after the detach. */
Test(tracer, attach_records_only_what_happens_while_attached)
{
	int out, tout;
	char buf[4096] = "", tbuf[4096] = "", status[256];
	const char *server[] = {"/usr/bin/python3", "-u", "-m", "http.server", "--bind",
				"127.0.0.1", "0", NULL};
	pid_t srv = h_spawn(server, &out);
	cr_assert(h_read_until(out, ") ...", buf, sizeof buf), "%s", buf);
	unsigned port = (unsigned)atoi(strstr(buf, " port ") + 6);
	tr_fetch(port, status, sizeof status);
	cr_assert_str_eq(status, "HTTP/1.0 200 OK");
	/* a connection the server accepted before the attach, still open */
	cr_assert(tr_sockets_become(srv, 1), "the listener alone: %d", tr_sockets(srv));
	int held = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in in = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	cr_assert(connect(held, (struct sockaddr *)&in, sizeof in) == 0);
	cr_assert(tr_sockets_become(srv, 2), "accepted: %d sockets", tr_sockets(srv));
	pid_t tracer = tr_attach(srv, trace, &tout, tbuf, sizeof tbuf);
	for (int i = 0; i < 3; i++) {
		tr_fetch(port, status, sizeof status);
		cr_assert_str_eq(status, "HTTP/1.0 200 OK");
	}
	const char req[] = "GET / HTTP/1.0\r\n\r\n";
	cr_assert(write(held, req, sizeof req - 1) == (ssize_t)sizeof req - 1);
	char reply[4096];
	ssize_t got = 0, n;
	while ((n = read(held, reply, sizeof reply)) > 0) /* to its end: no reset */
		got += n;
	cr_assert_gt(got, 0);
	close(held);
	/* the server closed every connection, while traced */
	cr_assert(tr_sockets_become(srv, 1), "%d sockets", tr_sockets(srv));
	kill(tracer, SIGINT);
	cr_assert_eq(tr_wait(tracer), 0, "%s", tbuf);
	cr_assert(tr_state_becomes(srv, "SR"), "after detach: state %c", tr_state(srv));
	tr_fetch(port, status, sizeof status);
	cr_assert_str_eq(status, "HTTP/1.0 200 OK", "serving after the detach");
	kill(srv, SIGINT);
	tr_wait(srv);
	struct st_trace t;
	h_load(&t, trace);
	cr_assert_eq(tr_op_count(&t, ST_OP_ACCEPT4, 0) + tr_op_count(&t, ST_OP_ACCEPT, 0), 3);
	size_t inherited = 0, served = 0;
	for (size_t i = 0; i < t.ncloses; i++) {
		inherited += t.closes[i].role == ST_ROLE_INHERITED && t.closes[i].how == ST_END_CLOSE;
		served += t.closes[i].role == ST_ROLE_SERVER && t.closes[i].how == ST_END_CLOSE;
	}
	cr_assert_eq(inherited, 1, "the connection open at the attach, ended");
	cr_assert_eq(served, 3);
	cr_assert_eq(h_count(&t, ST_OP_HELD, 0), 1, "the held connection (not the listener)");
	st_trace_free(&t);
	/* -c lists it, as held, with the end it had while traced */
	static struct h_run d;
	const char *rows[] = {dump, "-n", "-c", "--json", trace, NULL};
	cr_assert_eq(h_run(&d, NULL, rows, NULL, 30), 0, "%s", d.err);
	cr_assert_eq(h_occurrences(d.out, "\"result\":\"held\""), 1, "%s", d.out);
	cr_assert_eq(h_occurrences(d.out, "\"op\":\"held\""), 1, "%s", d.out);
	const char *row = strstr(d.out, "\"op\":\"held\"");
	const char *row_end = row ? strchr(row, '\n') : NULL;
	const char *bytes = row ? strstr(row, "\"tx_bytes\":18,") : NULL;
	cr_assert(bytes && bytes < row_end, "the held request's 18 bytes: %s", d.out);
	close(out);
	close(tout);
}

/* Children a process starts while attached are followed (the connects of
 * forked clients paired with the parent's accepts, their bytes counted);
 * those before and after the attach are not in the trace, and the program
 * serves on after the detach. */
Test(tracer, children_started_while_attached_are_followed)
{
	int out, tout;
	char buf[4096] = "", tbuf[4096] = "";
	pid_t prog = tr_start_tracee("forks", &out, buf, sizeof buf);
	tr_poke(prog, SIGUSR1, out, buf, sizeof buf, "served ", 1);
	pid_t tracer = tr_attach(prog, trace, &tout, tbuf, sizeof tbuf);
	for (int i = 2; i <= 4; i++)
		tr_poke(prog, SIGUSR1, out, buf, sizeof buf, "served ", i);
	kill(tracer, SIGTERM);
	cr_assert_eq(tr_wait(tracer), 0, "%s", tbuf);
	tr_poke(prog, SIGUSR1, out, buf, sizeof buf, "served ", 5); /* after the detach */
	kill(prog, SIGTERM);
	cr_assert_eq(tr_wait(prog), 0);
	close(out);
	close(tout);
	static struct h_run d;
	const char *argv[] = {dump, "-n", "-c", "--json", trace, NULL};
	cr_assert_eq(h_run(&d, NULL, argv, NULL, 30), 0, "%s", d.err);
	cr_assert_eq(h_occurrences(d.out, "\"paired\":true"), 3, "%s", d.out);
	cr_assert_eq(h_occurrences(d.out, "\"tx_bytes\":100,\"rx_bytes\":0"), 3, "%s", d.out);
	struct st_trace t;
	h_load(&t, trace);
	cr_assert_eq(t.nprocs, 4, "the parent and its three children while attached: %zu", t.nprocs);
	st_trace_free(&t);
}

/* A set-user-ID program under --ptrace runs without its privileges (the
 * filter needs no_new_privs, which exec honours), as under strace, and the
 * launcher says so. */
Test(tracer, a_set_user_id_program_runs_unprivileged_and_is_told)
{
	if (geteuid() == 65534)
		cr_skip_test("runs as nobody already");
	if (h_sanitized()) /* set-user-ID: the runtime ignores ASAN_OPTIONS, and
			    * LeakSanitizer cannot run under ptrace */
		cr_skip_test("a sanitized set-user-ID program cannot run under ptrace");
	char suid[200];
	snprintf(suid, sizeof suid, "%s/suid", dir);
	static struct h_run r;
	const char *mk[] = {"/bin/sh", "-c", "cp \"$0\" \"$1\" && chown 65534 \"$1\" && chmod 4755 \"$1\"",
			    tracee, suid, NULL};
	cr_assert_eq(h_run(&r, NULL, mk, NULL, 30), 0, "%s", r.err);
	const char *bare[] = {suid, "euid", NULL};
	cr_assert_eq(h_run(&r, NULL, bare, NULL, 30), 0, "%s", r.err);
	cr_assert_str_eq(r.out, "euid=65534\n", "bare, it runs as its owner");
	cr_assert_eq(tr_launch(&r, (const char *[]){"-q", "--ptrace", "-o", trace, suid, "euid",
						    NULL}), 0, "%s", r.err);
	char mine[32];
	snprintf(mine, sizeof mine, "euid=%d\n", (int)geteuid());
	cr_assert_str_eq(r.out, mine);
	cr_assert_not_null(strstr(r.err, "runs without its privileges"), "%s", r.err);
}

/* -p with a thread's id attaches to its whole process, as strace -p does:
 * the process record names the process, not the thread. */
Test(tracer, a_thread_id_names_its_process)
{
	int out, tout;
	char buf[4096] = "", tbuf[4096] = "";
	const char *prog[] = {"/usr/bin/python3", "-c",
			      "import threading, time\n"
			      "t = threading.Thread(target=time.sleep, args=(30,), daemon=True)\n"
			      "t.start(); print('tid', t.native_id, flush=True); time.sleep(30)",
			      NULL};
	pid_t py = h_spawn(prog, &out);
	pid_t tid = (pid_t)h_read_number(out, "tid ", buf, sizeof buf);
	cr_assert_gt(tid, 0, "%s", buf);
	cr_assert_neq(tid, py);
	pid_t tracer = tr_attach(tid, trace, &tout, tbuf, sizeof tbuf);
	kill(tracer, SIGTERM);
	cr_assert_eq(tr_wait(tracer), 0, "%s", tbuf);
	kill(py, SIGKILL);
	tr_wait(py);
	close(out);
	close(tout);
	struct st_trace t;
	h_load(&t, trace);
	cr_assert_eq(t.nprocs, 1);
	cr_assert_eq(t.procs[0].pid, (uint32_t)py, "record of %u, not of the process %d",
		     t.procs[0].pid, (int)py);
	st_trace_free(&t);
}

/* Threads and processes under the tracer lose no call: the kill storm's
 * writer (2 processes x 3 threads calling getpeername as fast as they can,
 * each counting its calls after they return in a shared file) runs under
 * --ptrace until timeout(1) SIGKILLs its process group: the trace holds every
 * call the program counted, plus at most one per thread in flight. */
Test(tracer, threads_and_processes_lose_no_call)
{
	char edges[256], counters[200];
	h_path(edges, sizeof edges, "progs/edges");
	snprintf(counters, sizeof counters, "%s/counters", dir);
	int fd = open(counters, O_RDWR | O_CREAT | O_TRUNC, 0600);
	cr_assert(fd >= 0 && ftruncate(fd, 6 * sizeof(long)) == 0);
	long *slots = mmap(NULL, 6 * sizeof(long), PROT_READ, MAP_SHARED, fd, 0);
	cr_assert(slots != MAP_FAILED);
	close(fd);
	static struct h_run r;
	cr_assert_eq(tr_launch(&r, (const char *[]){"-q", "--ptrace", "-o", trace, "timeout", "-s",
						    "KILL", "0.5", edges, "storm", counters, "2", "3",
						    NULL}),
		     128 + SIGKILL, "%s", r.err);
	long completed = 0;
	for (int i = 0; i < 6; i++)
		completed += __atomic_load_n(&slots[i], __ATOMIC_ACQUIRE);
	munmap(slots, 6 * sizeof(long));
	struct st_trace t;
	h_load(&t, trace);
	long got = (long)h_count(&t, ST_OP_GETPEERNAME, 0);
	cr_assert_gt(completed, 100, "the writer ran");
	cr_assert(got >= completed && got <= completed + 6, "%ld recorded, %ld completed", got,
		  completed);
	st_trace_free(&t);
}

/* Without pidfd_getfd (a kernel before 5.6, a container's policy) the
 * tracer still records every call, says once what it cannot know, and the
 * program runs as bare. */
Test(tracer, without_pidfd_it_says_so_once_and_traces_on)
{
	char socknames_static[256];
	h_path(socknames_static, sizeof socknames_static, "progs/socknames-static");
	static struct h_run r;
	cr_assert_eq(h_run(&r, NULL, (const char *[]){tracee, "nopidfd", launcher, "-q", "--ptrace",
						      "-o", trace, socknames_static, "0", NULL},
			   NULL, 60),
		     0, "%s", r.err);
	cr_assert_eq(h_occurrences(r.err, "pidfd_open: Function not implemented"), 1, "%s", r.err);
	cr_assert_not_null(strstr(r.out, "getpeername(acceptFd)"), "%s", r.out);
	struct st_trace t;
	h_load(&t, trace);
	cr_assert_eq(tr_op_count(&t, ST_OP_ACCEPT, 0), 1);
	cr_assert_eq(tr_op_count(&t, ST_OP_GETPEERNAME, 0), 2);
	st_trace_free(&t);
}

/* A trace the file size limit cuts short: the tracer is not killed by
 * SIGXFSZ (the write fails, counted as dropped) and the program finishes;
 * with no room for a trace at all the program runs untraced and the reason
 * is said, as under the shim. */
Test(tracer, a_file_size_limit_never_kills_and_never_stops_the_program)
{
	char life[256];
	h_path(life, sizeof life, "progs/life");
	static struct h_run r;
	h_limit_next(RLIMIT_FSIZE, 40 << 10);
	cr_assert_eq(tr_launch(&r, (const char *[]){"-q", "--ptrace", "-o", trace, life, "reuse",
						    "2000", NULL}),
		     0, "%s", r.err);
	struct st_trace t;
	h_load(&t, trace);
	cr_assert_gt(t.nevs, 10);
	cr_assert_gt(t.dropped, 0, "what did not fit is counted");
	st_trace_free(&t);
	unlink(trace);
	h_limit_next(RLIMIT_FSIZE, 0);
	cr_assert_eq(tr_launch(&r, (const char *[]){"-q", "--ptrace", "-o", trace, "/bin/echo", "hi",
						    NULL}),
		     0, "%s", r.err);
	cr_assert_str_eq(r.out, "hi\n");
	cr_assert_not_null(strstr(r.err, "RLIMIT_FSIZE (ulimit -f) is below the smallest trace"),
			   "%s", r.err);
	cr_assert_not_null(strstr(r.err, "running /bin/echo untraced"), "%s", r.err);
}

/* A process per connection under a low descriptor limit: the tracer keeps a
 * pidfd per traced process, and its own limit (not the program's) is raised
 * to the hard one, so every connection's end has its bytes. */
Test(tracer, many_live_processes_do_not_run_the_tracer_out_of_descriptors)
{
	static struct h_run r;
	h_limit_next(RLIMIT_NOFILE, 64);
	cr_assert_eq(tr_launch(&r, (const char *[]){"-q", "--ptrace", "-o", trace, tracee, "fan",
						    "100", NULL}),
		     0, "%s", r.err);
	cr_assert_str_eq(r.out, "fan 100\n");
	cr_assert_null(strstr(r.err, "pidfd_open"), "%s", r.err);
	struct st_trace t;
	h_load(&t, trace);
	size_t counted = 0;
	for (size_t i = 0; i < t.ncloses; i++)
		counted += (t.closes[i].flags & ST_CLOSE_TCPINFO) != 0;
	cr_assert_eq(counted, 200, "both ends of 100 connections with their bytes");
	st_trace_free(&t);
}

/* A full filesystem under the tracer (a private tmpfs of 256 KiB): no SIGBUS
 * in the tracer, the program finishes with its every call made, the trace
 * loads with what did not fit counted; already full: the program runs
 * untraced, the reason said, no file left behind. */
Test(tracer, a_full_filesystem_drops_events_and_never_stops_the_program)
{
	if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		cr_skip_test("no private mount namespace here: %s", strerror(errno));
	if (mount("tmpfs", dir, "tmpfs", 0, "size=256k,mode=0700") < 0)
		cr_skip_test("cannot mount a tmpfs: %s", strerror(errno));
	char edges[256];
	h_path(edges, sizeof edges, "progs/edges");
	static struct h_run r;
	cr_assert_eq(tr_launch(&r, (const char *[]){"-q", "--ptrace", "-o", trace, edges, "loop",
						    "20000", NULL}),
		     0, "%s", r.err);
	cr_assert_not_null(strstr(r.out, "calls=20000"), "%s", r.out);
	struct st_trace t;
	h_load(&t, trace);
	cr_assert_gt(t.dropped, 0, "the tmpfs should have filled");
	cr_assert_gt(t.nevs, 100);
	st_trace_free(&t);
	unlink(trace); /* its room is then taken by fill */
	char fill[200];
	snprintf(fill, sizeof fill, "%s/fill", dir);
	int fd = open(fill, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	static char block[4096];
	while (fd >= 0 && write(fd, block, sizeof block) > 0)
		;
	close(fd);
	cr_assert_eq(tr_launch(&r, (const char *[]){"-q", "--ptrace", "-o", trace, "/bin/echo", "hello",
						    NULL}),
		     0, "%s", r.err);
	cr_assert_str_eq(r.out, "hello\n");
	cr_assert_not_null(strstr(r.err, "running /bin/echo untraced"), "[%s]", r.err);
	struct stat st;
	cr_assert(stat(trace, &st) < 0, "a failed attach left its file behind");
}

/* Attaching to and detaching from threads blocked in accept and poll does
 * not wake them with EINTR: the kernel restarts the calls, as under strace
 * -p; accept returns the connection made after the detach, poll times out. */
Test(tracer, blocked_calls_see_no_attach_and_no_detach)
{
	int out, tout;
	char buf[4096] = "", tbuf[4096] = "";
	pid_t prog = tr_start_tracee("blocked", &out, buf, sizeof buf);
	unsigned port = (unsigned)atoi(strstr(buf, " port ") + 6);
	pid_t tracer = tr_attach(prog, trace, &tout, tbuf, sizeof tbuf);
	kill(tracer, SIGINT);
	cr_assert_eq(tr_wait(tracer), 0, "%s", tbuf);
	int c = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in in = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	cr_assert(connect(c, (struct sockaddr *)&in, sizeof in) == 0);
	cr_assert(h_read_until(out, "poll=", buf, sizeof buf), "%s", buf);
	cr_assert_eq(tr_wait(prog), 0);
	h_read_until(out, "\npoll=0\n", buf, sizeof buf);
	close(c);
	cr_assert_not_null(strstr(buf, "accept=ok\n"), "%s", buf);
	cr_assert_not_null(strstr(buf, "poll=0\n"), "%s", buf);
	close(out);
	close(tout);
}

/* Bad input to -p: said in words, exit 2, and the target untouched. */
Test(tracer, attach_failures_are_said)
{
	static struct h_run r;
	cr_assert_eq(tr_launch(&r, (const char *[]){"-p", "12x", "-o", trace, NULL}), 2);
	cr_assert_not_null(strstr(r.err, "-p takes process ids"), "%s", r.err);
	cr_assert_eq(tr_launch(&r, (const char *[]){"-p", "999999999", "-o", trace, NULL}), 2);
	cr_assert_not_null(strstr(r.err, "no such process"), "%s", r.err);
	/* a process already traced: by another socktrace */
	int out, tout;
	char buf[4096] = "", tbuf[4096] = "";
	pid_t prog = tr_start_tracee("sleep", &out, buf, sizeof buf);
	char pidarg[16], other[200];
	snprintf(pidarg, sizeof pidarg, "%d", (int)prog);
	snprintf(other, sizeof other, "%s/other.trace", dir);
	pid_t tracer = tr_attach(prog, other, &tout, tbuf, sizeof tbuf);
	cr_assert_eq(tr_launch(&r, (const char *[]){"-p", pidarg, "-o", trace, NULL}), 2);
	cr_assert_not_null(strstr(r.err, "already traced by process"), "%s", r.err);
	/* a zombie: exited, nothing to trace */
	const char *zombie_maker[] = {tracee, "zombie", NULL};
	int zout;
	char zbuf[4096] = "";
	pid_t parent = h_spawn(zombie_maker, &zout);
	cr_assert(h_read_until(zout, "zombie ", zbuf, sizeof zbuf), "%s", zbuf);
	char zpid[16];
	snprintf(zpid, sizeof zpid, "%d", atoi(strstr(zbuf, "zombie ") + 7));
	cr_assert(tr_state_becomes((pid_t)atoi(zpid), "Z"));
	cr_assert_eq(tr_launch(&r, (const char *[]){"-p", zpid, "-o", trace, NULL}), 2);
	cr_assert_not_null(strstr(r.err, "a zombie"), "%s", r.err);
	kill(parent, SIGKILL);
	tr_wait(parent);
	close(zout);
	kill(tracer, SIGTERM);
	cr_assert_eq(tr_wait(tracer), 0);
	kill(prog, SIGKILL);
	tr_wait(prog);
	close(out);
	close(tout);
}

/* -k under the tracer: the stopped thread unwound with libunwind's ptrace
 * support (C, through libc's syscall()) or along frame pointers (Go), its
 * objects recorded from /proc/PID/maps, so the reader names the functions. */
Test(tracer, stacks_name_c_and_go_functions)
{
	if (h_sanitized())
		cr_skip_test("the launcher is not sanitized");
	char godial[256], stripped[256];
	h_path(godial, sizeof godial, "progs/godial");
	h_path(stripped, sizeof stripped, "progs/godial-stripped");
	/* Go's linker writes no .debug_aranges: its lines are found unit by
	 * unit; a stripped Go program (as distributions ship them) is named
	 * from its .gopclntab, down to the program's own main */
	const struct {
		const char *prog, *mode, *frame, *line;
	} runs[] = {{tracee, "libc", "at tracee_raw+", "tracee.c:"},
		    {godial, NULL, "at syscall.Getsockname+", "/syscall/syscall_linux.go:"},
		    {stripped, NULL, "at syscall.Getsockname+", "/syscall/syscall_linux.go:"},
		    {stripped, NULL, "at main.main+", "dial.go:"}};
	for (size_t i = 0; i < sizeof runs / sizeof runs[0]; i++) {
		static struct h_run r, d;
		unlink(trace);
		cr_assert_eq(tr_launch(&r, (const char *[]){"-q", "--ptrace", "-k", "32", "-o", trace,
							    runs[i].prog, runs[i].mode, NULL}),
			     0, "%s", r.err);
		const char *argv[] = {dump, "-n", trace, NULL};
		cr_assert_eq(h_run(&d, NULL, argv, NULL, 30), 0, "%s", d.err);
		const char *frame = strstr(d.out, runs[i].frame);
		cr_assert_not_null(frame, "%s", d.out);
		const char *line = strstr(frame, runs[i].line);
		cr_assert(line != NULL && line < strchr(frame, '\n'), "file:line of %s: %s",
			  runs[i].frame, d.out);
	}
	/* -c names a Go end by the program's own function, past the standard
	 * library's (syscall, internal/poll, net): the dialling main and the
	 * accepting goroutine */
	static struct h_run c;
	const char *argc_[] = {dump, "-n", "-c", "--json", trace, NULL};
	cr_assert_eq(h_run(&c, NULL, argc_, NULL, 30), 0, "%s", c.err);
	cr_expect_not_null(strstr(c.out, "\"top\":\"main.main\"}"), "%s", c.out);
	cr_expect_not_null(strstr(c.out, "\"top\":\"main.main.func"), "%s", c.out); /* the goroutine */
	/* net/http's client dials in a goroutine of its transport, where no
	 * frame is the program's: the code is the first above the socket
	 * layers (runtime, syscall, internal/poll, net), not Syscall6 */
	static struct h_run h;
	unlink(trace);
	cr_assert_eq(tr_launch(&h, (const char *[]){"-q", "--ptrace", "-k", "48", "-o", trace,
						    stripped, "http", NULL}),
		     0, "%s", h.err);
	cr_assert_eq(h_run(&c, NULL, argc_, NULL, 30), 0, "%s", c.err);
	cr_expect_not_null(strstr(c.out, "\"top\":\"net/http.(*Transport).dial\"}"), "%s", c.out);
	cr_expect_not_null(strstr(c.out, "\"top\":\"main.main.func"), "%s", c.out);
}

/* Whether the line at p is a getsockname/getpeername line of the fault
 * matrix; its op, result and errno then. */
static bool tr_name_line(const char *p, uint8_t *op, long *ret, int *err)
{
	char call[16];
	int a, b, c;
	if (sscanf(p, "%15s %d %d %d = %ld errno %d", call, &a, &b, &c, ret, err) != 6)
		return false;
	*op = strcmp(call, "getsockname") == 0	 ? ST_OP_GETSOCKNAME
	      : strcmp(call, "getpeername") == 0 ? ST_OP_GETPEERNAME
						 : 0;
	return *op != 0;
}

/* Each getsockname/getpeername line the fault matrix printed (its result,
 * made twice: tests/progs/faults.c) has two events with that result and
 * errno, the last name events of the trace (the program's set-up names
 * its listener before): names are learned at their seccomp stop while the
 * program's own call runs after it, and the record must say what the
 * program got. */
static void tr_names_match(const struct st_trace *t, const char *out)
{
	size_t lines = 0, names = 0, ev = 0;
	uint8_t op;
	long ret;
	int err;
	for (const char *p = out; p != NULL && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
		lines += tr_name_line(p, &op, &ret, &err);
	for (size_t i = 0; i < t->nevs; i++)
		names += t->evs[i].op == ST_OP_GETSOCKNAME || t->evs[i].op == ST_OP_GETPEERNAME;
	cr_assert_gt(lines, 300, "the name lines were read");
	cr_assert_geq(names, 2 * lines, "%zu name events for %zu lines", names, lines);
	for (size_t skip = names - 2 * lines; skip > 0; ev++)
		skip -= t->evs[ev].op == ST_OP_GETSOCKNAME || t->evs[ev].op == ST_OP_GETPEERNAME;
	for (const char *p = out; p != NULL && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
		if (!tr_name_line(p, &op, &ret, &err))
			continue;
		for (int twice = 0; twice < 2; twice++) {
			while (t->evs[ev].op != ST_OP_GETSOCKNAME && t->evs[ev].op != ST_OP_GETPEERNAME)
				ev++;
			const struct st_ev *e = &t->evs[ev++];
			cr_assert(e->op == op && e->ret == ret && e->err == (ret < 0 ? err : 0),
				  "%.*s: recorded as %s ret %d errno %d", (int)strcspn(p, "\n"), p,
				  st_op_name(e->op), e->ret, e->err);
		}
	}
}

/* The fault matrix of the shim's tests (tests/progs/faults.c: every traced
 * call with bad fds, NULL, unmapped and read-only pointers, zero, short,
 * huge and unmapped lengths, through libc and syscall()) under the tracer:
 * the same results and errnos as bare, line for line.  The tracer reads the
 * program's memory with process_vm_readv, which fails where the program's
 * own access would fault. */
Test(tracer, garbage_arguments_get_the_bare_answers)
{
	if (h_sanitized())
		cr_skip_test("the sanitizer runtime's own interceptors fault on some of these");
	char faults[256];
	h_path(faults, sizeof faults, "progs/faults");
	static struct h_run bare, traced;
	const char *argv[] = {faults, NULL};
	cr_assert_eq(h_run(&bare, NULL, argv, NULL, 30), 0, "%s", bare.err);
	cr_assert_eq(tr_launch(&traced, (const char *[]){"-q", "--ptrace", "-o", trace, faults, NULL}),
		     0, "%s", traced.err);
	cr_assert_gt(h_occurrences(bare.out, "\n"), 1000, "%s", bare.out);
	cr_assert_str_eq(traced.out, bare.out);
	struct st_trace t;
	h_load(&t, trace);
	cr_assert_gt(t.nevs, 100, "the calls were seen");
	tr_names_match(&t, traced.out);
	st_trace_free(&t);
}

/* Names are learned at one stop each: the program's voluntary context
 * switches during its loop (one per ptrace stop) count them.  Two stops a
 * call (an entry and an exit stop, as strace makes) would give twice as
 * many; bare gives none. */
Test(tracer, names_cost_one_stop_each)
{
	char prog[256];
	h_path(prog, sizeof prog, "progs/namestops");
	static struct h_run r;
	cr_assert_eq(tr_launch(&r, (const char *[]){"-q", "--ptrace", "-o", trace, prog, "1000",
						  NULL}),
		     0, "%s", r.err);
	long calls = 0, switches = -1;
	cr_assert_eq(sscanf(r.out, "calls %ld switches %ld", &calls, &switches), 2, "%s", r.out);
	cr_assert_eq(calls, 2000);
	cr_assert_geq(switches, calls / 2, "the calls did not stop: %s", r.out);
	cr_assert_lt(switches, calls * 3 / 2, "more than one stop a call: %s", r.out);
	struct st_trace t;
	h_load(&t, trace);
	/* and one more: the listener's port, asked before the loop */
	cr_assert_eq(h_count(&t, ST_OP_GETSOCKNAME, 0) + h_count(&t, ST_OP_GETPEERNAME, 0), 2001);
	st_trace_free(&t);
}

/* What an event loop calls on its sockets besides, in the forms the tracer
 * needs nothing from (fcntl F_GETFL/F_SETFL, a getsockopt of its own,
 * unshare without CLONE_FILES), runs without a stop: the filter checks
 * their arguments. */
Test(tracer, an_event_loops_other_calls_do_not_stop)
{
	char prog[256];
	h_path(prog, sizeof prog, "progs/namestops");
	static struct h_run r;
	cr_assert_eq(tr_launch(&r, (const char *[]){"-q", "--ptrace", "-o", trace, prog, "1000",
						  "loop", NULL}),
		     0, "%s", r.err);
	long calls = 0, switches = -1;
	cr_assert_eq(sscanf(r.out, "calls %ld switches %ld", &calls, &switches), 2, "%s", r.out);
	cr_assert_eq(calls, 4000);
	cr_assert_lt(switches, 40, "they stopped: %s", r.out);
}

/* The tracer learns getsockname's and getpeername's answer at the seccomp
 * stop (one stop instead of two), from a copy of the process's descriptor: a
 * thread that unshared its descriptor table must still be answered about
 * its own socket, not its leader's one under the same number. */
Test(tracer, a_thread_with_its_own_descriptors_gets_its_own_names)
{
	char prog[256];
	h_path(prog, sizeof prog, "progs/unshared");
	static struct h_run bare, traced;
	const char *argv[] = {prog, NULL};
	cr_assert_eq(h_run(&bare, NULL, argv, NULL, 30), 0, "%s", bare.err);
	cr_assert_eq(tr_launch(&traced, (const char *[]){"-q", "--ptrace", "-o", trace, prog, NULL}),
		     0, "%s", traced.err);
	cr_assert_eq(h_occurrences(bare.out, "thread own"), 3, "%s", bare.out);
	cr_assert_str_eq(traced.out, bare.out);
}

/* Reaps every exited child; how many children are left (-1: none ever). */
static int tr_reap_all(void)
{
	int status;
	pid_t pid;
	while ((pid = waitpid(-1, &status, WNOHANG)) > 0)
		;
	return pid == 0 ? 1 : 0; /* 0: some are still running or stopped */
}

/* The tracer SIGKILLed at any moment, a third of the times in its first
 * 3 ms (creating the file, seizing, the program's exec): the trace it leaves
 * loads whole, and its program dies with it (no stray process). */
Test(tracer, a_tracer_killed_at_any_moment_leaves_a_readable_trace)
{
	char life[256];
	h_path(life, sizeof life, "progs/life");
	/* orphans come back to this process, to be waited for */
	cr_assert(prctl(PR_SET_CHILD_SUBREAPER, 1) == 0);
	unsigned seed = (unsigned)time(NULL);
	for (int k = 0; k < 30; k++) {
		unlink(trace);
		long delay_us = (long)(rand_r(&seed) % (k % 3 == 0 ? 3000 : 30000));
		int out;
		const char *argv[] = {launcher, "-q", "--ptrace", "-o", trace, life, "reuse", "300",
				      NULL};
		pid_t tracer = h_spawn(argv, &out);
		usleep((useconds_t)delay_us);
		kill(tracer, SIGKILL);
		tr_wait(tracer);
		close(out);
		/* its program, or its child not yet a program, is gone too */
		int left = 0;
		for (int i = 0; i < 250 && (left = tr_reap_all()) > 0; i++)
			usleep(20000);
		cr_assert_eq(left, 0, "kill %d after %ld us: a process outlived its tracer", k,
			     delay_us);
		if (access(trace, F_OK) != 0)
			continue; /* killed before it made the file */
		struct st_trace t;
		int rc = st_trace_load(&t, trace, 0);
		cr_assert_eq(rc, 0, "kill %d after %ld us: %s", k, delay_us, t.error);
		st_trace_free(&t);
	}
}

/* A program run by naming its loader ("ld.so [OPTIONS] PROGRAM"): the
 * process record names the program, not the loader (/proc/PID/exe then),
 * and the views call it by its name, with loader options before it. */
static void tr_expect_run_by_loader(const char *const *args)
{
	static struct h_run r;
	unlink(trace);
	cr_assert_eq(tr_launch(&r, args), 0, "%s", r.err);
	struct st_trace t;
	h_load(&t, trace);
	cr_assert_geq(t.nprocs, 1);
	const struct st_proc *last = &t.procs[t.nprocs - 1];
	cr_expect(memmem(last->exe, last->exe_len, "/progs/stackprog", 16) != NULL,
		  "process record: %.*s", (int)last->exe_len, last->exe);
	st_trace_free(&t);
	static struct h_run d;
	const char *argv[] = {dump, "-n", "--stats", trace, NULL};
	cr_assert_eq(h_run(&d, NULL, argv, NULL, 30), 0, "%s", d.err);
	cr_expect(strstr(d.out, " stackprog ") != NULL, "%s", d.out);
	cr_expect(strstr(d.out, "ld-linux") == NULL, "%s", d.out);
}

Test(tracer, a_program_run_by_its_loader_is_named)
{
	const char *loader = "/lib64/ld-linux-x86-64.so.2";
	if (access(loader, X_OK) != 0)
		cr_skip_test("no %s", loader);
	char prog[256];
	h_path(prog, sizeof prog, "progs/stackprog");
	tr_expect_run_by_loader((const char *[]){"-q", "--ptrace", "-o", trace, loader, prog,
						 "main", NULL});
	tr_expect_run_by_loader((const char *[]){"-q", "--ptrace", "-o", trace, loader,
						 "--library-path", "/nonexistent", "--inhibit-cache",
						 prog, "main", NULL});
}

/* -c names a connection's code the same under both front-ends: the
 * tracer's stacks begin in libc's wrapper of the call, the shim's at its
 * caller, and the code is the frame past the C library's (the book's
 * connect_to for the client, main for the server). */
Test(tracer, the_code_of_a_connection_is_the_same_under_both_front_ends)
{
	if (h_sanitized())
		cr_skip_test("the launcher is not sanitized");
	char socknames[256];
	h_path(socknames, sizeof socknames, "socknames");
	for (int traced = 0; traced < 2; traced++) {
		static struct h_run r, d;
		unlink(trace);
		cr_assert_eq(tr_launch(&r, (const char *[]){"-q", traced ? "--ptrace" : "--preload", "-k",
							    "16", "-o", trace, socknames, "0", NULL}),
			     0, "%s", r.err);
		const char *argv[] = {dump, "-n", "-c", "--json", trace, NULL};
		cr_assert_eq(h_run(&d, NULL, argv, NULL, 30), 0, "%s", d.err);
		/* the paired row: {"client":{... "top"},"server":{... "top"},"paired":true */
		const char *paired = strstr(d.out, "\"paired\":true");
		cr_assert_not_null(paired, "%s", d.out);
		const char *row = memrchr(d.out, '\n', (size_t)(paired - d.out));
		row = row ? row + 1 : d.out;
		const char *client = strstr(row, "\"top\":\"connect_to\"},\"server\":{");
		const char *server = client ? strstr(client, "\"top\":\"main\"},\"paired\":true") : NULL;
		cr_expect(server != NULL, "%s: %s", traced ? "tracer" : "shim", row);
	}
}
