/* The real-world matrix: programs we did not write, run under the socktrace
 * launcher; tracing changes nothing and misses nothing. */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <arpa/inet.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

static char dir[64], trace[128], launcher[256], sockops[256];

static void setup(void)
{
	h_tmpdir(dir, sizeof dir);
	snprintf(trace, sizeof trace, "%s/m.trace", dir);
	h_path(launcher, sizeof launcher, "socktrace");
	h_path(sockops, sizeof sockops, "progs/sockops");
}

static void teardown(void)
{
	h_rmdir(dir);
}

TestSuite(matrix, .init = setup, .fini = teardown, .timeout = 90);

/* socktrace -q -o trace ARGV... */
static int launch(struct h_run *r, const char *const *args)
{
	const char *argv[24] = {launcher, "-q", "-o", trace};
	size_t i = 4;
	for (size_t k = 0; args[k] && i < 23; k++)
		argv[i++] = args[k];
	argv[i] = NULL;
	return h_run(r, NULL, argv, NULL, 60);
}

static void scenario(const char *binary, const char *name, int want_lines)
{
	static struct h_run r, bare;
	const char *args[] = {binary, name, NULL};
	cr_assert_eq(launch(&r, args), 0, "%s", r.err);
	cr_assert_str_empty(r.err, "%s", r.err);
	const char *argv[] = {binary, name, NULL};
	cr_assert_eq(h_run(&bare, NULL, argv, NULL, 30), 0);
	struct st_trace t;
	h_load(&t, trace);
	cr_assert_eq(h_check_ends(&t, r.out, 0), want_lines, "%s", r.out);
	st_trace_free(&t);
}

Test(matrix, launcher_passes_status_and_sums_up)
{
	static struct h_run r;
	const char *argv[] = {launcher, "-o", trace, sockops, "names4", NULL};
	cr_assert_eq(h_run(&r, NULL, argv, NULL, 30), 0);
	char want[256];
	snprintf(want, sizeof want, "socktrace: 7 events, 2 closes from 1 process, 0 dropped; trace in %s\n", trace);
	cr_assert_str_eq(r.err, want);
	const char *code[] = {launcher, "-q", "-o", trace, "/bin/sh", "-c", "exit 3", NULL};
	cr_assert_eq(h_run(&r, NULL, code, NULL, 30), 3);
	cr_assert_str_empty(r.err);
	const char *sig[] = {launcher, "-q", "-o", trace, "/bin/sh", "-c", "kill -TERM $$", NULL};
	cr_assert_eq(h_run(&r, NULL, sig, NULL, 30), 128 + SIGTERM);
}

Test(matrix, launcher_refuses_what_it_cannot_trace)
{
	static struct h_run r;
	const char *missing[] = {launcher, "-o", trace, "no-such-command-here", NULL};
	cr_assert_eq(h_run(&r, NULL, missing, NULL, 30), 127);
	cr_assert_not_null(strstr(r.err, "no-such-command-here: command not found"), "%s", r.err);
	char suid[160];
	snprintf(suid, sizeof suid, "%s/suid", dir);
	const char *mk[] = {"/bin/sh", "-c", "cp \"$0\" \"$1\" && chown 65534 \"$1\" && chmod 4755 \"$1\"",
			    sockops, suid, NULL};
	cr_assert_eq(h_run(&r, NULL, mk, NULL, 30), 0, "%s", r.err);
	const char *run_suid[] = {launcher, "-o", trace, suid, NULL};
	if (geteuid() != 65534) {
		cr_assert_eq(h_run(&r, NULL, run_suid, NULL, 30), 126);
		cr_assert_not_null(strstr(r.err, "set-user-ID program"), "%s", r.err);
	}
	char stat_src[160], stat_bin[160];
	snprintf(stat_src, sizeof stat_src, "%s/s.c", dir);
	snprintf(stat_bin, sizeof stat_bin, "%s/static", dir);
	const char *mks[] = {"/bin/sh", "-c", "echo 'int main(void){return 0;}' > \"$0\" && cc -static -o \"$1\" \"$0\"",
			     stat_src, stat_bin, NULL};
	if (h_run(&r, NULL, mks, NULL, 60) != 0)
		cr_skip_test("no static libc to build a static program: %s", r.err);
	/* with --preload: refused, and told what can trace it */
	const char *run_static[] = {launcher, "--preload", "-o", trace, stat_bin, NULL};
	cr_assert_eq(h_run(&r, NULL, run_static, NULL, 30), 126);
	cr_assert_not_null(strstr(r.err, "statically linked: LD_PRELOAD cannot trace it "
					 "(--ptrace can)"), "%s", r.err);
	/* by itself the launcher traces it with ptrace, and says so once */
	const char *auto_static[] = {launcher, "-o", trace, stat_bin, NULL};
	cr_assert_eq(h_run(&r, NULL, auto_static, NULL, 30), 0, "%s", r.err);
	cr_assert_eq(h_occurrences(r.err, "statically linked: tracing it with ptrace"), 1, "%s",
		     r.err);
}

Test(matrix, launcher_keeps_ld_preload_and_an_absolute_trace)
{
	if (h_sanitized())
		cr_skip_test("a sanitized libearly.so needs the sanitizer runtime preloaded first");
	static struct h_run r;
	char lib[256];
	h_path(lib, sizeof lib, "progs/libearly.so");
	char script[512];
	/* the command changes directory before the traced program starts */
	snprintf(script, sizeof script, "cd / && echo \"$LD_PRELOAD\" && exec \"$0\" names4");
	const char *argv[] = {"/usr/bin/env", "-C", dir, launcher, "-q", "-o", "rel.trace", "/bin/sh",
			      "-c", script, sockops, NULL};
	const char *env[] = {NULL, NULL};
	char pre[300];
	snprintf(pre, sizeof pre, "LD_PRELOAD=%s", lib);
	env[0] = pre;
	cr_assert_eq(h_run(&r, NULL, argv, env, 30), 0, "%s", r.err);
	cr_assert_not_null(strstr(r.out, ":" ), "%s", r.out);
	cr_assert_not_null(strstr(r.out, "libsocktrace.so"), "%s", r.out);
	cr_assert_not_null(strstr(r.out, lib), "the user's LD_PRELOAD was lost: %s", r.out);
	char rel[160];
	snprintf(rel, sizeof rel, "%s/rel.trace", dir);
	struct st_trace t;
	h_load(&t, rel);
	cr_assert_eq(h_check_ends(&t, r.out, 0), 2);
	st_trace_free(&t);
}

Test(matrix, http_server_and_curl)
{
	char client[160];
	snprintf(client, sizeof client, "%s/curl.trace", dir);
	h_http_fetch(trace, client, true);
	struct st_trace s, c;
	h_load(&s, trace);
	h_load(&c, client);
	size_t accepts = h_count(&s, ST_OP_ACCEPT, 0) + h_count(&s, ST_OP_ACCEPT4, 0);
	cr_assert_eq(accepts, 5);
	cr_assert_eq(h_count(&c, ST_OP_CONNECT, 0), 5);
	/* every 4-tuple curl connected from was accepted by the server */
	for (size_t i = 0; i < c.nevs; i++) {
		if (c.evs[i].op != ST_OP_CONNECT)
			continue;
		char cl[80], cp[80], sl[80], sp[80];
		h_ep(&c.evs[i].local, cl, sizeof cl);
		h_ep(&c.evs[i].peer, cp, sizeof cp);
		bool found = false;
		for (size_t k = 0; k < s.nevs && !found; k++)
			found = (s.evs[k].op == ST_OP_ACCEPT || s.evs[k].op == ST_OP_ACCEPT4) &&
				!strcmp(h_ep(&s.evs[k].peer, sp, sizeof sp), cl) &&
				!strcmp(h_ep(&s.evs[k].local, sl, sizeof sl), cp);
		cr_expect(found, "connection %s -> %s has no accept", cl, cp);
	}
	st_trace_free(&s);
	st_trace_free(&c);
}

static unsigned free_port(void)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in in = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof in;
	cr_assert(bind(fd, (struct sockaddr *)&in, sizeof in) == 0);
	cr_assert(getsockname(fd, (struct sockaddr *)&in, &len) == 0);
	close(fd);
	return ntohs(in.sin_port);
}

/* Waits (at most 30 s) for socat -d -d to say it listens: an event, where
 * polling the port would race a slow start under a sanitizer. */
static bool socat_listening(int fd)
{
	char buf[4096];
	size_t n = 0;
	time_t deadline = time(NULL) + 30;
	while (n < sizeof buf - 1 && time(NULL) < deadline) {
		struct pollfd p = {fd, POLLIN, 0};
		if (poll(&p, 1, 1000) <= 0)
			continue;
		ssize_t k = read(fd, buf + n, sizeof buf - 1 - n);
		if (k <= 0)
			return false;
		n += (size_t)k;
		buf[n] = '\0';
		if (strstr(buf, " listening on "))
			return true;
	}
	return false;
}

/* Connects (untraced) and reads what the exec'd server wrote to its socket. */
static bool inetd_client(unsigned port, char *out, size_t size)
{
	struct sockaddr_in in = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	if (connect(fd, (struct sockaddr *)&in, sizeof in) < 0) {
		close(fd);
		return false;
	}
	size_t n = 0;
	ssize_t k;
	struct pollfd p = {fd, POLLIN, 0};
	while (n < size - 1 && poll(&p, 1, 30000) > 0 && (k = read(fd, out + n, size - 1 - n)) > 0)
		n += (size_t)k;
	out[n] = '\0';
	close(fd);
	return n > 0;
}

Test(matrix, inetd_style_server_learns_its_peer_from_fd0)
{
	unsigned port = free_port();
	char listen_spec[64], exec_spec[300];
	snprintf(listen_spec, sizeof listen_spec, "TCP-LISTEN:%u,bind=127.0.0.1,reuseaddr,fork", port);
	snprintf(exec_spec, sizeof exec_spec, "EXEC:%s fd0", sockops);
	int said[2];
	cr_assert(pipe(said) == 0);
	pid_t pid = fork();
	if (pid == 0) {
		setpgid(0, 0);
		if (dup2(said[1], 2) != 2)
			_exit(126);
		closefrom(3);
		const char *pre = getenv("ST_PRELOAD");
		const char *colon = pre ? strchr(pre, ':') : NULL;
		if (h_sanitized() && colon) { /* see h_untraced_preload */
			setenv("LD_PRELOAD", strndup(pre, (size_t)(colon - pre)), 1);
			setenv("ASAN_OPTIONS", "detect_leaks=0", 1);
		}
		execl(launcher, launcher, "-q", "-o", trace, "socat", "-d", "-d", listen_spec,
		      exec_spec, (char *)NULL);
		_exit(127);
	}
	setpgid(pid, pid);
	close(said[1]);
	char out[2048];
	bool ok = socat_listening(said[0]) && inetd_client(port, out, sizeof out);
	close(said[0]);
	kill(-pid, SIGTERM);
	waitpid(pid, NULL, 0);
	cr_assert(ok, "socat never answered on port %u", port);
	long server = h_field(out, "server", "pid");
	cr_assert_gt(server, 0, "%s", out);
	struct st_trace t;
	h_load(&t, trace);
	cr_assert_eq(h_check_ends(&t, out, (unsigned)server), 1, "%s", out);
	bool named = false;
	for (size_t i = 0; i < t.nprocs; i++)
		named |= t.procs[i].pid == server && memmem(t.procs[i].exe, t.procs[i].exe_len, "sockops", 7);
	cr_assert(named, "no process record names the exec'd program");
	cr_assert_gt(h_count(&t, ST_OP_ACCEPT, 0) + h_count(&t, ST_OP_ACCEPT4, 0), 0, "socat's accept");
	st_trace_free(&t);
}

Test(matrix, python_asyncio_nonblocking_connect)
{
	static struct h_run r;
	const char *script =
		"import asyncio\n"
		"async def main():\n"
		"    srv = await asyncio.start_server(lambda r, w: w.close(), '127.0.0.1', 0)\n"
		"    port = srv.sockets[0].getsockname()[1]\n"
		"    r, w = await asyncio.open_connection('127.0.0.1', port)\n"
		"    print('asyncio local', w.get_extra_info('sockname')[1], 'port', port)\n"
		"    w.close()\n"
		"    srv.close()\n"
		"asyncio.run(main())\n";
	const char *args[] = {"python3", "-c", script, NULL};
	cr_assert_eq(launch(&r, args), 0, "%s", r.err);
	unsigned local, port;
	cr_assert(sscanf(r.out, "asyncio local %u port %u", &local, &port) == 2, "%s", r.out);
	struct st_trace t;
	h_load(&t, trace);
	bool found = false;
	char want_l[40], want_p[40], b1[80], b2[80];
	snprintf(want_l, sizeof want_l, "127.0.0.1:%u", local);
	snprintf(want_p, sizeof want_p, "127.0.0.1:%u", port);
	for (size_t i = 0; i < t.nevs; i++)
		found |= t.evs[i].op == ST_OP_CONNECT && t.evs[i].err == EINPROGRESS &&
			 !strcmp(h_ep(&t.evs[i].local, b1, sizeof b1), want_l) &&
			 !strcmp(h_ep(&t.evs[i].peer, b2, sizeof b2), want_p);
	cr_assert(found, "no EINPROGRESS connect %s -> %s", want_l, want_p);
	st_trace_free(&t);
}

Test(matrix, c_nonblocking_refused_and_timed_out_connects)
{
	scenario(sockops, "nonblock", 1);
	static struct h_run r;
	const char *refused[] = {sockops, "refused", NULL};
	cr_assert_eq(launch(&r, refused), 0);
	struct st_trace t;
	h_load(&t, trace);
	cr_assert_eq(h_count(&t, ST_OP_CONNECT, 0), 1);
	cr_assert_eq(t.evs[1].err, ECONNREFUSED);
	st_trace_free(&t);
	const char *backlog[] = {sockops, "backlog", NULL};
	cr_assert_eq(launch(&r, backlog), 0, "%s", r.out);
	cr_assert_not_null(strstr(r.out, "connect-backlog-full ret=-1 errno=EINPROGRESS"), "%s", r.out);
	h_load(&t, trace);
	qsort(t.evs, t.nevs, sizeof *t.evs, st_ev_cmp);
	const struct st_ev *last = &t.evs[t.nevs - 1];
	cr_assert_eq(last->op, ST_OP_CONNECT);
	cr_assert_eq(last->err, EINPROGRESS);
	cr_assert_not_null(st_ep_sa(&last->local), "the timed-out connect has no local end");
	st_trace_free(&t);
}

Test(matrix, udp_connect_then_getsockname)
{
	scenario(sockops, "udp", 1);
}

Test(matrix, unix_sockets)
{
	char path[160];
	snprintf(path, sizeof path, "%s/u.sock", dir);
	static struct h_run r;
	const char *args[] = {sockops, "unix", path, NULL};
	cr_assert_eq(launch(&r, args), 0, "%s", r.err);
	struct st_trace t;
	h_load(&t, trace);
	cr_assert_eq(h_check_ends(&t, r.out, 0), 2);
	cr_assert_eq(h_count(&t, ST_OP_ACCEPT, 0), 1);
	st_trace_free(&t);
	scenario(sockops, "socketpair", 2);
	char name[64];
	snprintf(name, sizeof name, "socktrace-matrix-%d", getpid());
	const char *abs[] = {sockops, "abstract", name, NULL};
	cr_assert_eq(launch(&r, abs), 0);
	h_load(&t, trace);
	cr_assert_eq(h_check_ends(&t, r.out, 0), 2);
	st_trace_free(&t);
}

Test(matrix, ipv6_and_ipv4_mapped)
{
	scenario(sockops, "names6", 2);
	scenario(sockops, "mapped", 2);
}

Test(matrix, daemon_closing_every_fd)
{
	scenario(sockops, "closeall", 2);
}

Test(matrix, posix_spawn_and_vfork_children)
{
	static struct h_run r;
	const char *args[] = {sockops, "spawn", NULL};
	cr_assert_eq(launch(&r, args), 0, "%s", r.err);
	long spawned = h_field(r.out, "spawned", "pid"), vforked = h_field(r.out, "vforked", "pid");
	struct st_trace t;
	h_load(&t, trace);
	cr_assert_eq(h_count(&t, ST_OP_CONNECT, (unsigned)spawned), 1);
	cr_assert_eq(h_count(&t, ST_OP_CONNECT, (unsigned)vforked), 1);
	cr_assert_eq(h_check_ends(&t, r.out, 0), 4);
	st_trace_free(&t);
}

Test(matrix, connect_from_a_signal_handler)
{
	static struct h_run r;
	char prog[256];
	h_path(prog, sizeof prog, "progs/stackprog");
	const char *args[] = {prog, "signal", NULL};
	cr_assert_eq(launch(&r, args), 0, "%s", r.err);
	struct st_trace t;
	h_load(&t, trace);
	cr_assert_eq(h_count(&t, ST_OP_CONNECT, 0), 1);
	st_trace_free(&t);
}

Test(matrix, sixteen_threads_of_connect_accept_pairs)
{
	static struct h_run r;
	const char *args[] = {sockops, "cthreads", "16", "1000", NULL};
	cr_assert_eq(launch(&r, args), 0, "%s", r.err);
	struct st_trace t;
	h_load(&t, trace);
	cr_assert_eq(h_count(&t, ST_OP_CONNECT, 0), 16000);
	cr_assert_eq(h_count(&t, ST_OP_ACCEPT, 0), 16000);
	cr_assert_eq(h_count(&t, ST_OP_GETSOCKNAME, 0), 16);
	cr_assert_eq(t.dropped, 0);
	for (size_t i = 0; i < t.nevs; i++)
		if (t.evs[i].op == ST_OP_ACCEPT)
			cr_assert(st_ep_sa(&t.evs[i].local) && st_ep_sa(&t.evs[i].peer), "accept without both ends");
	st_trace_free(&t);
}

Test(matrix, no_plt_and_hardened_builds)
{
	char noplt[256], hardened[256];
	h_path(noplt, sizeof noplt, "progs/sockops-noplt");
	h_path(hardened, sizeof hardened, "progs/sockops-hardened");
	scenario(noplt, "names4", 2);
	scenario(hardened, "names4", 2);
}

Test(matrix, behaviour_is_identical_byte_for_byte)
{
	if (h_sanitized())
		cr_skip_test("libasan's own getsockname interceptor reads bad pointers");
	static struct h_run r, bare;
	const char *args[] = {sockops, "errors", NULL};
	int rc = launch(&r, args);
	const char *argv[] = {sockops, "errors", NULL};
	cr_assert_eq(rc, h_run(&bare, NULL, argv, NULL, 30));
	cr_assert_str_eq(r.out, bare.out);
	cr_assert_str_eq(r.err, bare.err);
}
