/*
 * Connections through their lives (format version 2): the result of a
 * non-blocking connect learned by SO_ERROR or by connect() again, the close
 * with exact bytes, fd reuse, a forked child's close, SOCKTRACE_TCPINFO=0,
 * getsockopt misuse answered as bare, and -c's rows and keys.
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <sched.h>
#include <string.h>
#include <netinet/in.h>
#include <sys/mount.h>
#include <time.h>
#include <unistd.h>

#include "../shim/core/st_core.h"
#include "harness.h"

static char dir[64], trace[128], dump[256], life[256];

static void setup(void)
{
	h_tmpdir(dir, sizeof dir);
	snprintf(trace, sizeof trace, "%s/l.trace", dir);
	h_path(dump, sizeof dump, "socktrace-dump");
	h_path(life, sizeof life, "progs/life");
}

static void teardown(void)
{
	h_rmdir(dir);
}

TestSuite(life, .init = setup, .fini = teardown, .timeout = 60);

static void run_life(const char *mode, const char *arg, const char *const *env)
{
	static struct h_run r;
	const char *argv[] = {life, mode, arg, NULL};
	cr_assert_eq(h_run(&r, trace, argv, env, 30), 0, "%s: %s", mode, r.err);
}

static const char *dump_c_json(void)
{
	static struct h_run r;
	const char *argv[] = {dump, "-c", "--json", trace, NULL};
	cr_assert_eq(h_run(&r, NULL, argv, NULL, 30), 0, "%s", r.err);
	return r.out;
}

/* The untraced client's exchange (progs/life.c: 1000 bytes out, 2000 in, 1
 * out) as the views must show it, once: in -c the client's view, in --stats
 * the server's row and the totals, whatever number of closes it took. */
static void expect_exchange_once(size_t closes)
{
	const char *out = dump_c_json();
	cr_assert_not_null(strstr(out, "\"tx_bytes\":1001,\"rx_bytes\":2000"), "%s", out);
	static struct h_run r;
	const char *argv[] = {dump, "--stats", "--json", trace, NULL};
	cr_assert_eq(h_run(&r, NULL, argv, NULL, 30), 0, "%s", r.err);
	char totals[80];
	snprintf(totals, sizeof totals, "\"closes\":%zu,\"tx_bytes\":2000,\"rx_bytes\":1001,", closes);
	cr_assert_not_null(strstr(r.out, totals), "%s", r.out);
	cr_assert_not_null(strstr(r.out, "\"direction\":\"at\""), "%s", r.out);
	cr_assert_eq(h_occurrences(r.out, "\"tx_bytes\":2000,\"rx_bytes\":1001"), 2, "%s", r.out);
}

Test(life, refused_nonblocking_connect_is_a_refused_row)
{
	run_life("refused", NULL, NULL);
	struct st_trace t;
	h_load(&t, trace);
	cr_assert_eq(t.nresults, 1);
	cr_assert_eq(t.results[0].err, ECONNREFUSED);
	cr_assert_eq(t.results[0].learned, ST_LEARNED_SO_ERROR);
	st_trace_free(&t);
	const char *out = dump_c_json();
	cr_assert_not_null(strstr(out, "\"result\":\"refused\""), "%s", out);
	cr_assert_not_null(strstr(out, "\"paired\":false"), "%s", out);
	cr_assert_not_null(strstr(out, "\"transport\":\"tcp\""), "%s", out);
}

Test(life, bytes_are_counted_exactly_on_both_ends)
{
	run_life("bytes", NULL, NULL);
	struct st_trace t;
	h_load(&t, trace);
	/* each socket closed in both processes (the parent forked with both
	 * open), and the child's shutdown: the later close of each is its end */
	cr_assert_eq(t.ncloses, 5, "%zu closes", t.ncloses);
	st_trace_free(&t);
	static struct h_run r;
	/* a shutdown is not counted as a close: the connection goes on */
	const char *text[] = {dump, "-n", trace, NULL};
	cr_assert_eq(h_run(&r, NULL, text, NULL, 30), 0, "%s", r.err);
	cr_assert_not_null(strstr(r.err, ", 4 closes, 1 shutdown shown;"), "%s", r.err);
	char launcher[256], again[200];
	h_path(launcher, sizeof launcher, "socktrace");
	snprintf(again, sizeof again, "%s/again.trace", dir);
	const char *launched[] = {launcher, "-o", again, life, "bytes", NULL};
	cr_assert_eq(h_run(&r, NULL, launched, NULL, 30), 0, "%s", r.err);
	cr_assert_not_null(strstr(r.err, ", 4 closes, 1 shutdown from 2 processes"), "%s", r.err);
	const char *argv[] = {dump, "--stats", "--json", trace, NULL};
	cr_assert_eq(h_run(&r, NULL, argv, NULL, 30), 0, "%s", r.err);
	/* the server's own count, exact too: no SYN in an accepted socket's */
	cr_assert_not_null(strstr(r.out, "\"tx_bytes\":65536,\"rx_bytes\":1048576}"), "%s", r.out);
	const char *out = dump_c_json();
	cr_assert_not_null(strstr(out, "\"paired\":true"), "%s", out);
	cr_assert_not_null(strstr(out, "\"result\":\"ok\""), "%s", out);
	cr_assert_not_null(strstr(out, "\"tx_bytes\":1048576,\"rx_bytes\":65536"), "%s", out);
	cr_assert_null(strstr(out, "\"connect_ns\":null"), "the result's latency: %s", out);
	cr_assert_null(strstr(out, "\"duration_ns\":null"), "%s", out);
}

Test(life, connect_asked_again_is_one_connection)
{
	run_life("again", NULL, NULL);
	struct st_trace t;
	h_load(&t, trace);
	cr_assert_eq(t.nresults, 1);
	cr_assert_eq(t.results[0].err, 0);
	cr_assert_eq(t.results[0].learned, ST_LEARNED_CONNECT);
	st_trace_free(&t);
	const char *out = dump_c_json();
	size_t rows = 0;
	for (const char *p = out; (p = strstr(p, "\"client\":")) != NULL; p++)
		rows++;
	cr_assert_eq(rows, 1, "%s", out);
	cr_assert_not_null(strstr(out, "\"paired\":true"), "%s", out);
}

Test(life, reused_fd_numbers_never_mix_connections)
{
	run_life("reuse", "40", NULL); /* 40 rows fit the 64 KiB the harness keeps */
	const char *out = dump_c_json();
	size_t rows = 0;
	for (const char *p = out; (p = strstr(p, "\"paired\":true")) != NULL; p++)
		rows++;
	cr_assert_eq(rows, 40, "%s", out);
	/* connection i carried i + 1 bytes: each row has its own */
	for (int i = 1; i <= 40; i++) {
		char want[64];
		snprintf(want, sizeof want, "\"tx_bytes\":%d,\"rx_bytes\":0", i);
		cr_assert_not_null(strstr(out, want), "no row with %s", want);
	}
}

Test(life, tcpinfo_off_records_closes_without_it)
{
	const char *env[] = {"SOCKTRACE_TCPINFO=0", NULL};
	run_life("reuse", "3", env);
	struct st_trace t;
	h_load(&t, trace);
	cr_assert_eq(t.ncloses, 6);
	for (size_t i = 0; i < t.ncloses; i++)
		cr_assert_eq(t.closes[i].flags & ST_CLOSE_TCPINFO, 0);
	st_trace_free(&t);
}

Test(life, getsockopt_misuse_gets_libcs_answer)
{
	static struct h_run bare, traced;
	const char *argv[] = {life, "badopt", NULL};
	cr_assert_eq(h_run(&bare, NULL, argv, NULL, 30), 0, "%s", bare.err);
	cr_assert_eq(h_run(&traced, trace, argv, NULL, 30), 0, "%s", traced.err);
	cr_assert_str_eq(traced.out, bare.out);
	struct st_trace t;
	h_load(&t, trace);
	cr_assert_eq(t.nresults, 0);
	st_trace_free(&t);
}

Test(life, stats_count_outcomes_not_einprogress_as_failures)
{
	run_life("refused", NULL, NULL);
	run_life("again", NULL, NULL);
	static struct h_run r;
	const char *argv[] = {dump, "--stats", trace, NULL};
	cr_assert_eq(h_run(&r, NULL, argv, NULL, 30), 0, "%s", r.err);
	cr_assert_not_null(strstr(r.out, "connects in progress 2: ok 1, refused 1"), "%s", r.out);
	cr_assert_null(strstr(r.out, "EINPROGRESS"), "%s", r.out);
}

/* --stats per peer: connections, failures and exact bytes by address dialled
 * and served; the slowest connects, blocking ones too (their start is their
 * close's date minus their age), which -c rows show as well. */
Test(life, stats_count_connections_and_bytes_per_peer_and_the_slowest_connects)
{
	run_life("bytes", NULL, NULL);   /* 1 MiB one way, 64 KiB back, non-blocking */
	run_life("refused", NULL, NULL); /* a closed port */
	run_life("reuse", "3", NULL);    /* three blocking connects, 1 to 3 bytes */
	static struct h_run r;
	const char *argv[] = {dump, "--stats", "--json", trace, NULL};
	cr_assert_eq(h_run(&r, NULL, argv, NULL, 30), 0, "%s", r.err);
	const char *peers = strstr(r.out, "\"peers\":[");
	cr_assert_not_null(peers, "%s", r.out);
	cr_assert_not_null(strstr(peers, "\"direction\":\"to\""), "%s", peers);
	cr_assert_not_null(strstr(peers, "\"connections\":1,\"failed\":0,\"tx_bytes\":1048576,"
					 "\"rx_bytes\":65536}"), "%s", peers);
	cr_assert_not_null(strstr(peers, "\"direction\":\"at\""), "%s", peers);
	cr_assert_not_null(strstr(peers, "\"connections\":1,\"failed\":1,\"tx_bytes\":null"), "%s", peers);
	cr_assert_not_null(strstr(peers, "\"connections\":3,\"failed\":0,\"tx_bytes\":6,"
					 "\"rx_bytes\":0}"), "1+2+3 bytes to one peer: %s", peers);
	cr_assert_not_null(strstr(peers, "\"connections\":3,\"failed\":0,\"tx_bytes\":0,"
					 "\"rx_bytes\":6}"), "and served at one: %s", peers);
	const char *slow = strstr(r.out, "\"slowest_connects\":[");
	cr_assert_not_null(slow, "%s", r.out);
	cr_assert_eq(h_occurrences(slow, "\"connect_ns\":"), 5, "%s", slow);
	cr_assert_eq(h_occurrences(slow, "\"result\":\"refused\""), 1, "%s", slow);
	cr_assert_eq(h_occurrences(slow, "\"program\":\"life\""), 5, "%s", slow);
	const char *text_argv[] = {dump, "--stats", "-n", trace, NULL};
	cr_assert_eq(h_run(&r, NULL, text_argv, NULL, 30), 0, "%s", r.err);
	cr_assert_not_null(strstr(r.out, "\nPEER "), "%s", r.out);
	cr_assert_not_null(strstr(r.out, "\nSLOWEST CONNECTS "), "%s", r.out);
	/* -c: every connect has its latency, the blocking ones' from their close */
	const char *out = dump_c_json();
	cr_assert_eq(h_occurrences(out, "\"connect_ns\":null"), 0, "%s", out);
}

/* A name only a private /etc/hosts knows, resolved by the program with
 * getaddrinfo, names its connection in -c. */
Test(life, connections_are_named_by_the_resolution_that_gave_the_address)
{
	if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		cr_skip_test("no private mount namespace here");
	char hosts[160];
	snprintf(hosts, sizeof hosts, "%s/hosts", dir);
	FILE *f = fopen(hosts, "w");
	fputs("127.0.0.1 localhost\n127.0.0.9 db.socktrace.test\n", f);
	fclose(f);
	if (mount(hosts, "/etc/hosts", NULL, MS_BIND, NULL) < 0)
		cr_skip_test("cannot bind-mount /etc/hosts here");
	static struct h_run r;
	const char *argv[] = {"/usr/bin/python3", "-c",
			      "import socket\n"
			      "s=socket.socket(); s.bind(('127.0.0.9',0)); s.listen()\n"
			      "p=s.getsockname()[1]\n"
			      "c=socket.create_connection(('db.socktrace.test', p))\n"
			      "a,_=s.accept(); c.close(); a.close()\n",
			      NULL};
	cr_assert_eq(h_run(&r, trace, argv, NULL, 30), 0, "%s", r.err);
	const char *out = dump_c_json();
	cr_assert_not_null(strstr(out, "\"name\":\"db.socktrace.test\""), "%s", out);
	static struct h_run e;
	const char *ev[] = {dump, "-n", trace, NULL};
	cr_assert_eq(h_run(&e, NULL, ev, NULL, 30), 0, "%s", e.err);
	cr_assert_not_null(strstr(e.out, "getaddrinfo(\"db.socktrace.test\""), "%s", e.out);
}

/* What st_init.c provides in the real shim: test_format.c defines it for
 * this runner. */
extern uint32_t st_pid;

/* Sockets of the AF_INET family the reader opened, under strace, in a
 * network namespace of its own (a query could not leave it anyway). */
static long reader_sockets(const char *flag)
{
	static struct h_run r;
	char cmd[1024];
	snprintf(cmd, sizeof cmd,
		 "unshare -n strace -f -e trace=socket -o %s/st.log %s %s %s >/dev/null 2>&1; "
		 "grep -c 'socket(AF_INET' %s/st.log || true",
		 dir, dump, flag, trace, dir);
	const char *argv[] = {"/bin/sh", "-c", cmd, NULL};
	cr_assert_eq(h_run(&r, NULL, argv, NULL, 60), 0, "%s", r.err);
	return atol(r.out);
}

/* Without -r the reader opens no socket: no DNS query for any address. */
Test(life, the_reader_sends_no_packet_unless_asked)
{
	if (system("unshare -n true 2>/dev/null") != 0)
		cr_skip_test("no network namespace here");
	/* a trace naming a documentation address (192.0.2.1): not in /etc/hosts */
	const char *why = NULL;
	cr_assert_eq(st_file_attach(trace, 1 << 20, &why), 0);
	struct st_addr peer = {.len = sizeof(struct sockaddr_in)};
	struct sockaddr_in *in = (struct sockaddr_in *)&peer.ss;
	in->sin_family = AF_INET;
	in->sin_port = htons(80);
	in->sin_addr.s_addr = htonl(0xc0000201);
	struct st_outcome done = {1000, 0, 0};
	st_record_event(ST_OP_CONNECT, 3, -1, &done, &peer, &peer, 0, NULL);
	st_record_reset_thread();
	st_file_forget();
	cr_assert_eq(reader_sockets(""), 0, "the reader opened a socket without -r");
	cr_assert_gt(reader_sockets("-r"), 0, "-r should ask reverse DNS");
}

/* Real programs: curl and ab against a traced python3 http.server. */
Test(life, curl_and_http_server_rows_have_results_durations_and_bytes)
{
	h_http_fetch(trace, trace, false);
	const char *out = dump_c_json();
	cr_assert_eq(h_occurrences(out, "\"paired\":true"), 5, "%s", out);
	cr_assert_eq(h_occurrences(out, "\"result\":\"ok\""), 5, "%s", out);
	cr_assert_eq(h_occurrences(out, "\"duration_ns\":null"), 0, "%s", out);
	cr_assert_eq(h_occurrences(out, "\"rx_bytes\":null"), 0, "%s", out);
	/* each response is a directory listing: hundreds of bytes received; the
	 * listing itself may change as other tests write files beside it */
	size_t rows = 0;
	for (const char *p = out; (p = strstr(p, "\"rx_bytes\":")) != NULL; p++, rows++)
		cr_assert_gt(atol(p + 11), 200, "%s", out);
	cr_assert_eq(rows, 5);
}

Test(life, curl_to_a_closed_port_is_refused)
{
	if (h_sanitized())
		cr_skip_test("curl hangs in setlocale under a preloaded libasan, shim or not");
	int l = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in in = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof in;
	cr_assert(bind(l, (struct sockaddr *)&in, sizeof in) == 0 &&
		  getsockname(l, (struct sockaddr *)&in, &len) == 0);
	close(l); /* a port nobody listens on */
	char url[64];
	snprintf(url, sizeof url, "http://127.0.0.1:%u/", ntohs(in.sin_port));
	static struct h_run r;
	const char *argv[] = {"/usr/bin/curl", "-s", "-o", "/dev/null", url, NULL};
	cr_assert_eq(h_run(&r, trace, argv, NULL, 30), 7, "curl: %s", r.err);
	const char *out = dump_c_json();
	cr_assert_eq(h_occurrences(out, "\"result\":\"refused\""), 1, "%s", out);
}

Test(life, ab_connections_are_one_row_each_none_unpaired)
{
	if (access("/usr/bin/ab", X_OK) != 0)
		cr_skip_test("ab (apache2-utils) is not installed");
	struct h_server s;
	h_http_start(&s, trace, false);
	char url[64];
	snprintf(url, sizeof url, "http://127.0.0.1:%u/", s.port);
	static struct h_run r;
	const char *argv[] = {"/usr/bin/ab", "-q", "-n", "20", "-c", "2", url, NULL};
	int rc = h_run(&r, trace, argv, NULL, 60);
	h_http_stop(&s);
	cr_assert_eq(rc, 0, "ab: %s %s", r.out, r.err);
	static struct h_run d;
	const char *dc[] = {dump, "-c", "-n", trace, NULL};
	cr_assert_eq(h_run(&d, NULL, dc, NULL, 30), 0, "%s", d.err);
	/* ab may open one connection more than it needs as it finishes */
	const char *p = strstr(d.err, "socktrace-dump: ");
	long paired = p ? atol(p + 16) : -1;
	cr_assert(paired >= 20 && paired <= 22, "%s", d.err);
	cr_assert_not_null(strstr(d.err, "connections paired, 0 client ends and 0 server ends"),
			   "%s", d.err);
	const char *ds[] = {dump, "--stats", trace, NULL};
	cr_assert_eq(h_run(&d, NULL, ds, NULL, 30), 0, "%s", d.err);
	cr_assert_null(strstr(d.out, "EINPROGRESS"), "%s", d.out);
}

Test(life, asyncio_learns_its_result_by_so_error)
{
	unsigned port;
	int l = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in in = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof in;
	cr_assert(bind(l, (struct sockaddr *)&in, sizeof in) == 0 && listen(l, 4) == 0 &&
		  getsockname(l, (struct sockaddr *)&in, &len) == 0);
	port = ntohs(in.sin_port);
	char script[512];
	snprintf(script, sizeof script,
		 "import asyncio\n"
		 "async def main():\n"
		 "    r, w = await asyncio.open_connection('127.0.0.1', %u)\n"
		 "    w.close()\n"
		 "asyncio.run(main())\n",
		 port);
	static struct h_run r;
	const char *argv[] = {"/usr/bin/python3", "-c", script, NULL};
	cr_assert_eq(h_run(&r, trace, argv, NULL, 30), 0, "%s", r.err);
	close(l);
	struct st_trace t;
	h_load(&t, trace);
	size_t so_error = 0;
	for (size_t i = 0; i < t.nresults; i++)
		so_error += t.results[i].learned == ST_LEARNED_SO_ERROR && t.results[i].err == 0;
	cr_assert_eq(so_error, 1, "%zu results", t.nresults);
	st_trace_free(&t);
}

Test(life, timed_out_connect_is_a_timeout_row)
{
	run_life("timeout", NULL, NULL);
	const char *out = dump_c_json();
	cr_assert_eq(h_occurrences(out, "\"result\":\"timeout\""), 1, "%s", out);
	const char *p = strstr(out, "\"result\":\"timeout\"");
	const char *lat = strstr(p, "\"connect_ns\":");
	cr_assert_not_null(lat);
	cr_assert_gt(atoll(lat + 13), 1000000000ll, "one SYN retry takes over a second: %s", p);
}

/* Two processes dial one Unix path: each connection pairs with the accept
 * whose SO_PEERCRED names its process. */
Test(life, unix_stream_connections_pair_by_path_and_peer_process)
{
	char sock[160], script[1024];
	snprintf(sock, sizeof sock, "%s/u.sock", dir);
	snprintf(script, sizeof script,
		 "import os, socket\n"
		 "s=socket.socket(socket.AF_UNIX); s.bind('%s'); s.listen(4)\n"
		 "kids=[]\n"
		 "for i in range(2):\n"
		 "    pid=os.fork()\n"
		 "    if pid==0:\n"
		 "        c=socket.socket(socket.AF_UNIX); c.connect('%s'); c.sendall(b'x'); c.close(); os._exit(0)\n"
		 "    kids.append(pid)\n"
		 "for i in range(2):\n"
		 "    a,_=s.accept(); a.recv(1); a.close()\n"
		 "for k in kids: os.waitpid(k,0)\n"
		 "print(' '.join(map(str,kids)))\n",
		 sock, sock);
	static struct h_run r;
	const char *argv[] = {"/usr/bin/python3", "-c", script, NULL};
	cr_assert_eq(h_run(&r, trace, argv, NULL, 30), 0, "%s", r.err);
	const char *out = dump_c_json();
	cr_assert_eq(h_occurrences(out, "\"paired\":true"), 2, "%s", out);
	cr_assert_eq(h_occurrences(out, "\"transport\":\"unix\""), 2, "%s", out);
	struct st_trace t;
	h_load(&t, trace);
	cr_assert_eq(t.npeers, 4, "SO_PEERCRED on 2 connects and 2 accepts: %zu", t.npeers);
	st_trace_free(&t);
}

/* A Unix client that is not traced (a bare psql against a traced postgres)
 * is still known by the pid SO_PEERCRED gave its server: -c, its JSON and
 * the service map name it, where they said "(not traced)" and "-". */
Test(life, an_untraced_unix_client_is_named_by_its_pid)
{
	char sock[160], script[1400];
	snprintf(sock, sizeof sock, "%s/u.sock", dir);
	snprintf(script, sizeof script,
		 "import os, socket, sys\n"
		 "s=socket.socket(socket.AF_UNIX); s.bind('%s'); s.listen(4)\n"
		 "pid=os.fork()\n"
		 "if pid==0:\n"
		 "    env={k: v for k, v in os.environ.items() if k != 'LD_PRELOAD'}\n"
		 "    os.execve(sys.executable, [sys.executable, '-c', \"import socket; "
		 "c=socket.socket(socket.AF_UNIX); c.connect('%s'); c.sendall(b'x'); c.close()\"], env)\n"
		 "a,_=s.accept(); a.recv(1); a.close()\n"
		 "os.waitpid(pid,0)\n"
		 "print(pid)\n",
		 sock, sock);
	static struct h_run r;
	const char *argv[] = {"/usr/bin/python3", "-c", script, NULL};
	cr_assert_eq(h_run(&r, trace, argv, NULL, 30), 0, "%s", r.err);
	unsigned kid = (unsigned)atoi(r.out);
	cr_assert_gt(kid, 0, "%s", r.out);
	char want[64];
	snprintf(want, sizeof want, "\"paired\":false,\"client_pid\":%u,", kid);
	const char *out = dump_c_json();
	cr_assert_not_null(strstr(out, want), "%s in %s", want, out);
	static struct h_run t;
	const char *text[] = {dump, "-n", "-c", trace, NULL};
	cr_assert_eq(h_run(&t, NULL, text, NULL, 30), 0, "%s", t.err);
	snprintf(want, sizeof want, " pid %u (untraced) ", kid);
	cr_assert_not_null(strstr(t.out, want), "%s in %s", want, t.out);
	const char *graph[] = {dump, "--graph", trace, NULL};
	cr_assert_eq(h_run(&t, NULL, graph, NULL, 30), 0, "%s", t.err);
	snprintf(want, sizeof want, "[label=\"pid %u\"", kid);
	cr_assert_not_null(strstr(t.out, want), "%s in %s", want, t.out);
}

/* A trace of accepts only (an inetd child, a server whose clients are not
 * traced): -c lists them, with no table of clients to look in. */
Test(life, a_trace_of_accepts_only_lists_them)
{
	const char *why = NULL;
	cr_assert_eq(st_file_attach(trace, 1 << 20, &why), 0);
	struct st_addr local = {.len = sizeof(struct sockaddr_in)}, peer = local;
	struct sockaddr_in *l = (struct sockaddr_in *)&local.ss, *p = (struct sockaddr_in *)&peer.ss;
	l->sin_family = p->sin_family = AF_INET;
	l->sin_addr.s_addr = p->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	l->sin_port = htons(80);
	p->sin_port = htons(40000);
	struct st_outcome done = {1000, 5, 0};
	st_record_event(ST_OP_ACCEPT, 5, 3, &done, &local, &peer, 0, NULL);
	st_record_reset_thread();
	st_file_forget();
	static struct h_run r;
	const char *argv[] = {dump, "-c", "-n", trace, NULL};
	cr_assert_eq(h_run(&r, NULL, argv, NULL, 30), 0, "%s", r.err);
	cr_assert_not_null(strstr(r.err, "0 client ends and 1 server end without"), "%s", r.err);
}

/* An untraced server is shown by the address dialled and the name it was
 * dialled by, in the text table too. */
Test(life, text_rows_show_the_address_and_name_dialled)
{
	if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		cr_skip_test("no private mount namespace here");
	char hosts[160];
	snprintf(hosts, sizeof hosts, "%s/hosts", dir);
	FILE *f = fopen(hosts, "w");
	fputs("127.0.0.1 localhost\n127.0.0.9 cache.socktrace.test\n", f);
	fclose(f);
	if (mount(hosts, "/etc/hosts", NULL, MS_BIND, NULL) < 0)
		cr_skip_test("cannot bind-mount /etc/hosts here");
	/* the server is this test, untraced */
	int l = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in in = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(0x7f000009)};
	socklen_t len = sizeof in;
	cr_assert(bind(l, (struct sockaddr *)&in, sizeof in) == 0 && listen(l, 4) == 0 &&
		  getsockname(l, (struct sockaddr *)&in, &len) == 0);
	char script[256];
	snprintf(script, sizeof script,
		 "import socket\nsocket.create_connection(('cache.socktrace.test', %u)).close()\n",
		 ntohs(in.sin_port));
	static struct h_run r;
	const char *argv[] = {"/usr/bin/python3", "-c", script, NULL};
	cr_assert_eq(h_run(&r, trace, argv, NULL, 30), 0, "%s", r.err);
	close(l);
	const char *dc[] = {dump, "-n", "-c", trace, NULL};
	cr_assert_eq(h_run(&r, NULL, dc, NULL, 30), 0, "%s", r.err);
	char want[64];
	snprintf(want, sizeof want, "127.0.0.9:%u", ntohs(in.sin_port));
	cr_assert_not_null(strstr(r.out, want), "%s", r.out);
	cr_assert_not_null(strstr(r.out, "cache.socktrace.test"), "%s", r.out);
}

/* inetd-style: the accepted socket is fd 0 of an exec'd program, which the
 * shim sees only through getpeername; its end is still recorded. */
Test(life, an_inherited_socket_is_followed_to_its_end)
{
	char sockops[256];
	h_path(sockops, sizeof sockops, "progs/sockops");
	static struct h_run r;
	const char *argv[] = {sockops, "inherited", NULL};
	cr_assert_eq(h_run(&r, trace, argv, NULL, 30), 0, "%s", r.err);
	struct st_trace t;
	h_load(&t, trace);
	size_t inherited = 0;
	for (size_t i = 0; i < t.ncloses; i++)
		inherited += t.closes[i].role == ST_ROLE_INHERITED && st_close_fd(&t.closes[i]) == 0;
	cr_assert_eq(inherited, 1, "%zu closes", t.ncloses);
	st_trace_free(&t);
}

/* A socket received over a Unix socket (SCM_RIGHTS) is followed like an
 * inherited one, from the receiver's first getpeername to its close. */
Test(life, a_socket_received_over_a_unix_socket_is_followed_to_its_end)
{
	run_life("scmrights", NULL, NULL);
	struct st_trace t;
	h_load(&t, trace);
	size_t received = 0;
	for (size_t i = 0; i < t.ncloses; i++)
		if (t.closes[i].role == ST_ROLE_INHERITED) {
			received++;
			cr_assert_eq(t.closes[i].bytes_acked, 100 + 1, "100 bytes and the SYN");
			cr_assert_eq(t.closes[i].bytes_received, 1);
		}
	cr_assert_eq(received, 1, "%zu closes", t.ncloses);
	st_trace_free(&t);
}

/* Each end's own bytes in -c --json: a server that writes after its client
 * left (a TLS close_notify) handed more than the client got, and the
 * client's FIN that came before the reset is no byte of the server's
 * (tcp_info counts it, and the state after a reset does not show it: the
 * client's own count bounds it). */
Test(life, each_end_of_a_row_has_its_own_bytes)
{
	run_life("unread", NULL, NULL);
	const char *out = dump_c_json();
	cr_assert_eq(h_occurrences(out, "\n"), 1, "one row: %s", out);
	cr_assert_not_null(strstr(out, "\"tx_bytes\":100,\"rx_bytes\":50,"), "%s", out);
	cr_assert_not_null(strstr(out, "\"server_tx_bytes\":80,\"server_rx_bytes\":100}"), "%s",
			   out);
}

/* One run of life's handoff mode (how: NULL, silent, silent-early), its
 * connection's end held to the receiver's close. */
static void handoff_case(const char *how)
{
	unlink(trace);
	run_life("handoff", how, NULL);
	struct st_trace t;
	h_load(&t, trace);
	const struct st_close *opener = NULL, *receiver = NULL;
	for (size_t i = 0; i < t.ncloses; i++)
		*(t.closes[i].role == ST_ROLE_INHERITED ? &receiver : &opener) = &t.closes[i];
	cr_assert(opener && receiver && t.ncloses == 2, "%zu closes", t.ncloses);
	cr_assert_lt(opener->ts_ns, receiver->ts_ns, "the opener closes first");
	char want[64];
	const struct st_ev *accept = NULL;
	for (size_t i = 0; i < t.nevs; i++)
		if (t.evs[i].op == ST_OP_ACCEPT)
			accept = &t.evs[i];
	cr_assert_not_null(accept);
	snprintf(want, sizeof want, "\"duration_ns\":%llu,",
		 (unsigned long long)(receiver->ts_ns - accept->ts));
	st_trace_free(&t);
	const char *out = dump_c_json();
	cr_assert_not_null(strstr(out, want), "%s: %s in %s", how ? how : "names", want, out);
	expect_exchange_once(2);
}

/* A connection handed to another process (node's cluster mode): its opener
 * closes its copy first, the receiver serves it.  It ends at the receiver's
 * close, with the receiver's bytes, counted from the accept (it ended at the
 * opener's close, with no bytes out, and the receiver's bytes went to no
 * row).  Whether or not the receiver names it (vsftpd's active-mode data
 * connection is only written and closed), and whether the opener lets its
 * copy go before the receiver has it or after. */
Test(life, a_connection_handed_to_another_process_ends_at_its_last_close)
{
	handoff_case(NULL);
	handoff_case("silent");
	handoff_case("silent-early");
}

/* The one client close of a run of mode: by an fd of at least min_fd (the
 * last copy of the socket), with its 100 bytes and the SYN. */
static void assert_ended_by_last_copy(const char *mode, int min_fd)
{
	run_life(mode, NULL, NULL);
	struct st_trace t;
	h_load(&t, trace);
	size_t clients = 0;
	for (size_t i = 0; i < t.ncloses; i++)
		if (t.closes[i].role == ST_ROLE_CLIENT) {
			clients++;
			cr_assert_geq(t.closes[i].fd, min_fd, "ended by fd %d", t.closes[i].fd);
			cr_assert_eq(t.closes[i].bytes_acked, 100 + 1, "100 bytes and the SYN");
		}
	cr_assert_eq(clients, 1, "%zu client closes", clients);
	st_trace_free(&t);
	/* -c finds the connection by the fd it was opened on: ended, not open */
	const char *out = dump_c_json();
	cr_assert_not_null(strstr(out, "\"result\":\"ok\""), "%s", out);
}

/* dup2 and dup: the socket's end is the close of its last fd, once. */
Test(life, a_duplicated_socket_ends_at_its_last_close)
{
	assert_ended_by_last_copy("dup", 10);
}

/* fcntl(F_DUPFD...) copies count like dup's: the connection ends at the
 * close of its last copy, with everything it carried. */
Test(life, a_socket_copied_by_fcntl_ends_at_its_last_close)
{
	assert_ended_by_last_copy("fdupfd", 30);
}

/* A connection a forked child serves ends at the last close of all, in the
 * child or in the parent: its duration and bytes are the whole of it. */
static void prefork_case(const char *order, bool child_last)
{
	run_life("prefork", order, NULL);
	struct st_trace t;
	h_load(&t, trace);
	size_t shared = 0, forked = 0;
	for (size_t i = 0; i < t.ncloses; i++) {
		shared += (t.closes[i].flags & ST_CLOSE_SHARED) != 0;
		forked += (t.closes[i].flags & ST_CLOSE_FORKED) != 0;
	}
	cr_assert_eq(t.ncloses, 2, "%zu closes", t.ncloses);
	cr_assert_eq(shared, 1, "the parent's close: a child may hold the socket");
	cr_assert_eq(forked, 1, "the child's close: of an inherited connection");
	st_trace_free(&t);
	/* the client is not traced: the row has the server's view, swapped */
	const char *out = dump_c_json();
	cr_assert_eq(h_occurrences(out, "\"client\":null"), 1, "%s", out);
	/* two closes, one connection: the totals count its bytes once */
	expect_exchange_once(2);
	/* and the duration is the longer life: to the later close */
	struct st_trace t2;
	h_load(&t2, trace);
	const struct st_close *child = NULL, *parent = NULL;
	for (size_t i = 0; i < t2.ncloses; i++)
		*((t2.closes[i].flags & ST_CLOSE_FORKED) ? &child : &parent) = &t2.closes[i];
	const struct st_close *last = child_last ? child : parent;
	cr_assert((child->ts_ns > parent->ts_ns) == child_last);
	char want[64];
	snprintf(want, sizeof want, "\"duration_ns\":%llu,", (unsigned long long)last->age_ns);
	cr_assert_not_null(strstr(out, want), "%s in %s", want, out);
	st_trace_free(&t2);
}

Test(life, a_connection_served_by_a_forked_child_ends_at_the_childs_close)
{
	prefork_case("parent-first", true);
}

Test(life, a_connection_a_child_let_go_first_ends_at_the_parents_close)
{
	prefork_case("child-first", false);
}

/* The child names the socket after its parent let go of it (postgres'
 * backends call getsockname): still the parent's connection, ended by the
 * child's close, not a copy passed to another program. */
Test(life, a_forked_child_naming_its_socket_is_still_its_parents_connection)
{
	prefork_case("child-names", true);
}

/* A child that leaves with _exit() still holding its copy (sshd's do):
 * its end is recorded at that exit, with everything the socket carried. */
Test(life, a_connection_a_child_held_to_its_exit_ends_at_that_exit)
{
	prefork_case("child-exits", true);
	struct st_trace t;
	h_load(&t, trace);
	size_t at_exit = 0;
	for (size_t i = 0; i < t.ncloses; i++)
		at_exit += t.closes[i].how == ST_END_EXIT && (t.closes[i].flags & ST_CLOSE_FORKED);
	cr_assert_eq(at_exit, 1, "the child's end is its exit");
	st_trace_free(&t);
}

/* sshd's way: the server forks and closes its copy, the child exec's, names
 * the socket, lets a grandchild serve it and leaves with _exit() holding its
 * copy.  The connection ends at the last of those, with the kernel's bytes,
 * once, in -c and in --stats (where it had the server's 0 bytes in its row
 * and the two later closes' bytes added to the totals). */
Test(life, a_connection_passed_through_an_exec_ends_at_its_last_holder)
{
	run_life("reexec", NULL, NULL);
	struct st_trace t;
	h_load(&t, trace);
	cr_assert_eq(t.ncloses, 3, "the server's, the grandchild's, the exec'd child's exit");
	st_trace_free(&t);
	expect_exchange_once(3);
}

/* inetd's way: the child exec'd with the socket on fds 0 and 1 never names
 * it.  It is found at its start, held once for both fds, and the connection
 * ends at the last copy's close, at its exit: one row with the kernel's
 * bytes in -c and --stats (it ended at the server's close, with nothing). */
static void inetd_case(const char *order, size_t execs)
{
	unlink(trace);
	run_life("inetd", order, NULL);
	struct st_trace t;
	h_load(&t, trace);
	cr_assert_eq(h_count(&t, ST_OP_HELD, 0), execs, "one held event for the two fds, per exec");
	size_t last = 0;
	for (size_t i = 0; i < t.ncloses; i++)
		last += t.closes[i].how == ST_END_EXIT && st_close_fd(&t.closes[i]) == 0 &&
			t.closes[i].fd == 1;
	cr_assert_eq(last, 1, "the last copy (fd 1) ends the connection held on fd 0");
	st_trace_free(&t);
	const char *out = dump_c_json();
	cr_assert_eq(h_occurrences(out, "\n"), 1, "one row: %s", out);
	expect_exchange_once(2);
}

Test(life, a_connection_an_exec_got_on_fds_0_and_1_ends_at_its_exit)
{
	inetd_case(NULL, 1); /* the server's close first, most often */
	inetd_case("late", 1); /* the child's start first */
	inetd_case("exec", 2); /* the child exec's once more in its place */
}

/* nc -l -e's way: the server that accepted exec's another program in its
 * place with the connection on fds 0 and 1: one connection, ended at that
 * program's exit (it was the accept's row, open, and a second, held). */
Test(life, a_connection_kept_across_an_exec_in_place_is_one_row)
{
	run_life("selfexec", NULL, NULL);
	const char *out = dump_c_json();
	cr_assert_eq(h_occurrences(out, "\n"), 1, "one row: %s", out);
	cr_assert_not_null(strstr(out, "\"result\":\"ok\""), "%s", out);
	expect_exchange_once(1);
}

/* The accepting process is killed before it closes its copy: the connection
 * ends at its child's close, with the child's bytes, in the rows and in the
 * totals (it used to stay open for want of the parent's close). */
Test(life, a_connection_whose_parent_was_killed_ends_at_the_childs_close)
{
	run_life("prefork", "parent-killed", NULL);
	expect_exchange_once(1);
	/* -c: the row has the child's duration and bytes (the client's view) */
	const char *out = dump_c_json();
	cr_assert_not_null(strstr(out, "\"result\":\"ok\""), "%s", out);
}

/* A real prefork server: Python's socketserver.ForkingTCPServer accepts,
 * forks, closes its copy at once; the child serves and shuts down.  Each
 * connection ends at the child's close, with the child's bytes. */
Test(life, forking_tcp_server_connections_end_in_the_child)
{
	const char *script =
		"import socket, socketserver, threading\n"
		"class H(socketserver.BaseRequestHandler):\n"
		"    def handle(self):\n"
		"        got = b''\n"
		"        while len(got) < 1000: got += self.request.recv(4096)\n"
		"        self.request.sendall(b'y' * 2000)\n"
		"        self.request.recv(1)\n"
		"srv = socketserver.ForkingTCPServer(('127.0.0.1', 0), H)\n"
		"threading.Thread(target=srv.serve_forever, daemon=True).start()\n"
		"for i in range(3):\n"
		"    c = socket.create_connection(srv.server_address)\n"
		"    c.sendall(b'x' * 1000)\n"
		"    got = b''\n"
		"    while len(got) < 2000: got += c.recv(4096)\n"
		"    c.sendall(b'z'); c.recv(1); c.close()\n"
		"srv.shutdown()\n";
	static struct h_run r;
	const char *argv[] = {"/usr/bin/python3", "-c", script, NULL};
	cr_assert_eq(h_run(&r, trace, argv, NULL, 30), 0, "%s", r.err);
	const char *stats[] = {dump, "--stats", "--json", trace, NULL};
	cr_assert_eq(h_run(&r, NULL, stats, NULL, 30), 0, "%s", r.err);
	cr_assert_not_null(strstr(r.out, "\"direction\":\"at\""), "%s", r.out);
	cr_assert_not_null(strstr(r.out, "\"connections\":3,\"failed\":0,\"tx_bytes\":6000,"
					 "\"rx_bytes\":3003}"), "%s", r.out);
	/* dialled as "127.0.0.1": a name that is only the address is not shown */
	cr_assert_not_null(strstr(r.out, "\"name\":null,\"connections\":3,\"failed\":0,"
					 "\"tx_bytes\":3003"), "%s", r.out);
}

/* A pending connect the program used without asking is connected if its SYN
 * was answered (tcp_info at the close says so); one closed before that is
 * abandoned. */
Test(life, a_pending_connect_ends_connected_or_abandoned)
{
	run_life("silent", NULL, NULL);
	const char *out = dump_c_json();
	cr_assert_not_null(strstr(out, "\"result\":\"ok\""), "%s", out);
	cr_assert_not_null(strstr(out, "\"tx_bytes\":5"), "%s", out);
	/* --stats counts it with the outcomes, as -c shows it */
	static struct h_run r;
	const char *stats[] = {dump, "--stats", "--json", trace, NULL};
	cr_assert_eq(h_run(&r, NULL, stats, NULL, 30), 0, "%s", r.err);
	cr_assert_not_null(strstr(r.out, "\"connects_in_progress\":{\"count\":1,\"ok\":1,"), "%s", r.out);
	unlink(trace);
	run_life("abandon", NULL, NULL);
	out = dump_c_json();
	cr_assert_not_null(strstr(out, "\"result\":\"abandoned\""), "%s", out);
	cr_assert_eq(h_run(&r, NULL, stats, NULL, 30), 0, "%s", r.err);
	cr_assert_not_null(strstr(r.out, "\"ok\":0,\"refused\":0,\"timeout\":0,\"unreachable\":0,"
					 "\"other\":0,\"abandoned\":1,\"no_outcome\":0}"), "%s", r.out);
}

/* A connection its peer reset (SO_LINGER 0, no FIN) ends in TCP_CLOSE, the
 * state a shutdown-then-close reaches with both FINs: the server's count is
 * still the 79 bytes the client sent, where it said 78 (a FIN that never
 * came taken out).  The connection is seen from the server (--stats' row
 * "at") and from the client (-c). */
Test(life, a_reset_connection_loses_no_byte_to_a_fin)
{
	run_life("reset", NULL, NULL);
	static struct h_run r;
	const char *stats[] = {dump, "--stats", "--json", trace, NULL};
	cr_assert_eq(h_run(&r, NULL, stats, NULL, 30), 0, "%s", r.err);
	cr_assert_not_null(strstr(r.out, "\"direction\":\"at\""), "%s", r.out);
	cr_assert_not_null(strstr(r.out, "\"tx_bytes\":153,\"rx_bytes\":79}"), "%s", r.out);
	cr_assert_not_null(strstr(r.out, "\"tx_bytes\":79,\"rx_bytes\":153}"), "%s", r.out);
	struct st_trace t;
	h_load(&t, trace);
	bool reset_seen = false;
	for (size_t i = 0; i < t.ncloses; i++)
		reset_seen |= t.closes[i].role == ST_ROLE_SERVER && t.closes[i].tcp_state == 7;
	st_trace_free(&t);
	cr_assert(reset_seen, "the server's close found its socket in TCP_CLOSE");
}

/* A process killed by a signal runs none of the shim's code: its pending
 * connect has no outcome and no close in the trace.  --stats says so (its
 * counts add up to the connects in progress, none hidden) and -c, which has
 * the server's accept of it, shows it open (the accept proves the handshake
 * done), not pending. */
Test(life, a_connect_of_a_killed_process_is_counted_and_shown_open)
{
	run_life("killed", NULL, NULL);
	const char *out = dump_c_json();
	cr_assert_not_null(strstr(out, "\"paired\":true"), "%s", out);
	cr_assert_not_null(strstr(out, "\"result\":\"open\""), "%s", out);
	cr_assert_null(strstr(out, "\"result\":\"pending\""), "%s", out);
	static struct h_run r;
	const char *stats[] = {dump, "--stats", trace, NULL};
	cr_assert_eq(h_run(&r, NULL, stats, NULL, 30), 0, "%s", r.err);
	cr_assert_not_null(strstr(r.out, "connects in progress 1: ok 0, refused 0, timed out 0, "
					 "unreachable 0, other 0, abandoned 0, no outcome 1;"),
			   "%s", r.out);
}

/* Found by the fuzzer: a server end whose client's row was printed first was
 * read after its partner was freed.  Under valgrind, any invalid read fails. */
Test(life, a_server_printed_after_its_client_reads_no_freed_memory)
{
	if (access("/usr/bin/valgrind", X_OK) != 0 || h_sanitized())
		cr_skip_test("needs valgrind, without a sanitizer");
	static struct h_run r;
	const char *argv[] = {"/usr/bin/valgrind", "-q", "--error-exitcode=99", dump, "-c", "-n",
			      "tests/data/fuzz-freed-partner.trace", NULL};
	int rc = h_run(&r, NULL, argv, NULL, 60);
	cr_assert_neq(rc, 99, "%s", r.err);
	cr_assert(rc == 0 || rc == 1, "exit %d: %s", rc, r.err);
}

/* The peer read back from the program's accept buffer where that is safe, and
 * asked of the kernel where it is not: every accept names its client, and a
 * bad pointer is the kernel's EFAULT, never a fault of the shim's. */
Test(life, accept_peers_come_whole_from_any_buffer_shape)
{
	static struct h_run bare;
	const char *argv[] = {life, "peerbuf", h_sanitized() ? "asan" : NULL, NULL};
	cr_assert_eq(h_run(&bare, NULL, argv, NULL, 30), 0, "%s", bare.err);
	static struct h_run traced;
	cr_assert_eq(h_run(&traced, trace, argv, NULL, 30), 0, "%s", traced.err);
	struct st_trace t;
	h_load(&t, trace);
	/* one accept event per case, in program order */
	size_t k = 0, cases = 0;
	char *save = NULL, *line = strtok_r(traced.out, "\n", &save);
	const char *bare_line = bare.out;
	for (; line != NULL; line = strtok_r(NULL, "\n", &save)) {
		char name[16], ret[4];
		int err;
		unsigned got, client;
		cr_assert_eq(sscanf(line, "%15s ret=%3s errno=%d got_port=%u client_port=%u", name, ret,
				    &err, &got, &client), 5, "%s", line);
		/* the program saw what it sees bare: same result and errno */
		char expect[64];
		snprintf(expect, sizeof expect, "%s ret=%s errno=%d ", name, ret, err);
		cr_assert_not_null(strstr(bare_line, expect), "bare run differs for %s:\n%s", line,
				   bare.out);
		while (k < t.nevs && t.evs[k].op != ST_OP_ACCEPT && t.evs[k].op != ST_OP_ACCEPT4)
			k++;
		cr_assert_lt(k, t.nevs, "no accept event for %s", line);
		const struct st_ev *e = &t.evs[k++];
		cases++;
		if (strcmp(ret, "-1") == 0) {
			cr_expect_eq(e->err, err, "%s", line);
			continue;
		}
		char ep[96], want[32];
		h_ep(&e->peer, ep, sizeof ep);
		snprintf(want, sizeof want, ":%u", client);
		size_t n = strlen(ep), w = strlen(want);
		cr_expect(n > w && strcmp(ep + n - w, want) == 0, "%s: traced peer %s", line, ep);
	}
	cr_assert_eq(cases, h_sanitized() ? 8u : 9u, "cases seen: %zu", cases);
	st_trace_free(&t);
}

/* Calls made through libc's syscall() (libuv closes every socket so) are
 * followed like the named ones, with the raw call's results and errnos. */
Test(life, calls_through_syscall_are_followed_with_the_raw_results)
{
	static struct h_run bare, traced;
	const char *argv[] = {life, "syscall", NULL};
	cr_assert_eq(h_run(&bare, NULL, argv, NULL, 30), 0, "%s", bare.err);
	cr_assert_eq(h_run(&traced, trace, argv, NULL, 30), 0, "%s", traced.err);
	cr_assert_str_eq(traced.out, bare.out);
	struct st_trace t;
	h_load(&t, trace);
	size_t replaced = 0, closed = 0, shut = 0;
	for (size_t i = 0; i < t.ncloses; i++) {
		const struct st_close *c = &t.closes[i];
		cr_assert_neq(c->how, ST_END_EXIT, "fd %d left open at exit", c->fd);
		replaced += c->how == ST_END_REPLACED && c->fd == 100 && c->role == ST_ROLE_SERVER;
		closed += c->how == ST_END_CLOSE && c->fd == 4 && c->role == ST_ROLE_CLIENT;
		shut += c->how == ST_END_SHUTDOWN && c->fd == 4;
	}
	cr_assert_eq(replaced, 1, "the fcntl copy's end, by dup2");
	cr_assert_eq(closed, 1);
	cr_assert_eq(shut, 1);
	st_trace_free(&t);
	const char *out = dump_c_json();
	cr_assert_eq(h_occurrences(out, "\"paired\":true"), 1, "%s", out);
	cr_assert_not_null(strstr(out, "\"tx_bytes\":1000,\"rx_bytes\":500"), "%s", out);
}

/* node (libuv) closes its sockets with syscall(SYS_close): each connection
 * ends at its close, with its bytes, never "open at exit". */
Test(life, node_connections_end_at_their_close)
{
	static struct h_run r;
	const char *argv[] = {"/usr/bin/node", "tests/scripts/node_http.js", "5", "1000", NULL};
	cr_assert_eq(h_run(&r, trace, argv, NULL, 60), 0, "%s", r.err);
	cr_assert_not_null(strstr(r.out, "requests=5 bytes=5000"), "%s", r.out);
	struct st_trace t;
	h_load(&t, trace);
	size_t tcp_closes = 0;
	for (size_t i = 0; i < t.ncloses; i++) {
		if (ST_EV_PROTO(t.closes[i].flags) != ST_PROTO_TCP ||
		    t.closes[i].how == ST_END_SHUTDOWN)
			continue;
		tcp_closes++;
		cr_assert_neq(t.closes[i].how, ST_END_EXIT, "fd %d open at exit", t.closes[i].fd);
	}
	cr_assert_eq(tcp_closes, 10, "5 client and 5 server ends: %zu", tcp_closes);
	st_trace_free(&t);
	const char *out = dump_c_json();
	cr_assert_eq(h_occurrences(out, "\"paired\":true"), 5, "%s", out);
	/* the client's RX is the 1000-byte body and the response's headers */
	for (const char *p = out; (p = strstr(p, "\"rx_bytes\":")) != NULL; p++)
		cr_assert_gt(atol(p + strlen("\"rx_bytes\":")), 1000, "%s", out);
}

/* TX is what the program handed to TCP: a sender that closes right after a
 * large write to a reader that has not read yet still shows all of it
 * (tcpi_bytes_acked showed only what was acknowledged by the close). */
Test(life, tx_counts_bytes_still_in_flight_at_the_close)
{
	static struct h_run r;
	const char *argv[] = {life, "unacked", NULL};
	cr_assert_eq(h_run(&r, trace, argv, NULL, 30), 0, "%s", r.err);
	const char *w = strstr(r.out, "wrote="), *got = strstr(r.out, "received=");
	cr_assert(w && got, "%s", r.out);
	long wrote = atol(w + strlen("wrote=")), received = atol(got + strlen("received="));
	cr_assert_gt(wrote, 0, "%s", r.out);
	cr_assert_eq(wrote, received, "%s", r.out);
	struct st_trace t;
	h_load(&t, trace);
	bool client_seen = false;
	for (size_t i = 0; i < t.ncloses; i++) {
		const struct st_close *c = &t.closes[i];
		if (c->role != ST_ROLE_CLIENT)
			continue;
		client_seen = true;
		cr_assert(c->flags & ST_CLOSE_SENT);
		cr_assert_eq(c->bytes_sent, (uint64_t)wrote, "client handed %llu, wrote %ld",
			     (unsigned long long)c->bytes_sent, wrote);
		cr_assert_lt(c->bytes_acked, (uint64_t)wrote,
			     "the case must leave bytes unacknowledged at the close");
	}
	cr_assert(client_seen);
	st_trace_free(&t);
	char want[64];
	snprintf(want, sizeof want, "\"tx_bytes\":%ld,\"rx_bytes\":0,", wrote);
	const char *out = dump_c_json();
	cr_assert_not_null(strstr(out, want), "%s in %s", want, out);
}

/* A connect's latency is until the program learned its result; the
 * handshake (SYN to SYN-ACK) is the kernel's first RTT sample, read when the
 * result is learned before any data: both in -c. */
Test(life, connects_have_their_handshake_time_beside_their_latency)
{
	run_life("bytes", NULL, NULL); /* non-blocking, learned by SO_ERROR */
	struct st_trace t;
	h_load(&t, trace);
	cr_assert_eq(t.nresults, 1);
	cr_assert_gt(t.results[0].handshake_us, 0, "no handshake sample");
	cr_assert_leq((uint64_t)t.results[0].handshake_us * 1000, t.results[0].latency_ns);
	char want[64];
	snprintf(want, sizeof want, "\"handshake_ns\":%llu,",
		 (unsigned long long)t.results[0].handshake_us * 1000);
	st_trace_free(&t);
	const char *out = dump_c_json();
	cr_assert_not_null(strstr(out, want), "%s in %s", want, out);
}

/* A blocking connect refused (or timed out) shows when it began and how
 * long it took, like one that connected. */
Test(life, a_failed_blocking_connect_has_its_start_and_latency)
{
	run_life("refusedblock", NULL, NULL);
	struct st_trace t;
	h_load(&t, trace);
	cr_assert_eq(t.nresults, 1);
	cr_assert_eq(t.results[0].learned, ST_LEARNED_RETURNED);
	cr_assert_eq(t.results[0].err, ECONNREFUSED);
	const struct st_ev *connect_ev = NULL;
	for (size_t i = 0; i < t.nevs; i++)
		if (t.evs[i].op == ST_OP_CONNECT)
			connect_ev = &t.evs[i];
	cr_assert_not_null(connect_ev);
	uint64_t start = connect_ev->ts - t.results[0].latency_ns;
	char want[96];
	snprintf(want, sizeof want, "\"connect_ns\":%llu,",
		 (unsigned long long)t.results[0].latency_ns);
	st_trace_free(&t);
	const char *out = dump_c_json();
	cr_assert_not_null(strstr(out, "\"result\":\"refused\""), "%s", out);
	cr_assert_not_null(strstr(out, want), "%s in %s", want, out);
	static struct h_run r;
	const char *argv[] = {dump, "-c", "-n", trace, NULL};
	cr_assert_eq(h_run(&r, NULL, argv, NULL, 30), 0, "%s", r.err);
	char when[32];
	time_t secs = (time_t)(start / 1000000000u);
	struct tm tm;
	localtime_r(&secs, &tm);
	snprintf(when, sizeof when, "\n%02d:%02d:%02d.%06llu ", tm.tm_hour, tm.tm_min, tm.tm_sec,
		 (unsigned long long)(start % 1000000000u / 1000));
	cr_assert_not_null(strstr(r.out, when), "the row begins at the connect's start %s: %s",
			   when, r.out);
}

/* --errors shows failed outcomes, not connects under way; --port and --addr
 * keep the outcome and close lines of the connections they select. */
Test(life, filters_keep_outcomes_and_errors_are_failed_outcomes)
{
	run_life("bytes", NULL, NULL); /* EINPROGRESS, then ok */
	static struct h_run r;
	const char *errs[] = {dump, "-n", "--errors", trace, NULL};
	cr_assert_eq(h_run(&r, NULL, errs, NULL, 30), 0, "%s", r.err);
	cr_assert_str_empty(r.out, "a connect that succeeded is no error: %s", r.out);
	struct st_trace t;
	h_load(&t, trace);
	unsigned port = 0;
	for (size_t i = 0; i < t.nevs; i++)
		if (t.evs[i].op == ST_OP_CONNECT && t.evs[i].peer.len >= 4)
			port = ntohs(*(const uint16_t *)(st_ep_sa(&t.evs[i].peer) + 2));
	st_trace_free(&t);
	cr_assert_neq(port, 0);
	char port_s[16];
	snprintf(port_s, sizeof port_s, "%u", port);
	const char *by_port[] = {dump, "-n", "--port", port_s, trace, NULL};
	cr_assert_eq(h_run(&r, NULL, by_port, NULL, 30), 0, "%s", r.err);
	cr_assert_eq(h_occurrences(r.out, " connected("), 1, "%s", r.out);
	cr_assert_eq(h_occurrences(r.out, " close("), 4, "two ends, each closed in two processes: %s",
		     r.out);
	const char *by_addr[] = {dump, "-n", "--addr", "127.0.0.1", trace, NULL};
	cr_assert_eq(h_run(&r, NULL, by_addr, NULL, 30), 0, "%s", r.err);
	cr_assert_eq(h_occurrences(r.out, " connected("), 1, "%s", r.out);
	run_life("refused", NULL, NULL);
	cr_assert_eq(h_run(&r, NULL, errs, NULL, 30), 0, "%s", r.err);
	cr_assert_eq(h_occurrences(r.out, "\n"), 1, "only the refused outcome: %s", r.out);
	cr_assert_not_null(strstr(r.out, "= refused"), "%s", r.out);
}

/* --stats names a slow connect by its own process's resolution, as -c does:
 * a child's lookup of localhost never names its parent's numeric connect. */
Test(life, stats_name_a_connect_by_its_own_processs_resolution)
{
	const char *script =
		"import socket, os\n"
		"l = socket.socket(); l.bind(('127.0.0.1', 0)); l.listen(8)\n"
		"port = l.getsockname()[1]\n"
		"pid = os.fork()\n"
		"if pid == 0:\n"
		"    a = socket.getaddrinfo('localhost', port, socket.AF_INET, socket.SOCK_STREAM)\n"
		"    c = socket.socket(); c.connect(a[0][4]); c.close(); os._exit(0)\n"
		"os.waitpid(pid, 0)\n"
		"c = socket.socket(); c.connect(('127.0.0.1', port)); c.close()\n";
	static struct h_run r;
	const char *argv[] = {"/usr/bin/python3", "-c", script, NULL};
	cr_assert_eq(h_run(&r, trace, argv, NULL, 30), 0, "%s", r.err);
	const char *stats[] = {dump, "--stats", "--json", trace, NULL};
	cr_assert_eq(h_run(&r, NULL, stats, NULL, 30), 0, "%s", r.err);
	const char *slow = strstr(r.out, "\"slowest_connects\":[");
	cr_assert_not_null(slow, "%s", r.out);
	cr_assert_eq(h_occurrences(slow, "\"connect_ns\":"), 2, "%s", slow);
	cr_assert_eq(h_occurrences(slow, "\"name\":\"localhost\""), 1, "%s", slow);
	cr_assert_eq(h_occurrences(slow, "\"name\":null"), 1, "%s", slow);
}

/* A vfork child that leaves with exit() after a failed exec runs its
 * parent's exit machinery in the parent's memory: the parent still records
 * its open-at-exit ends and seals (shrinks) its file. */
Test(life, a_vfork_child_that_calls_exit_leaves_its_parents_end_intact)
{
	run_life("vforkexit", NULL, NULL);
	struct st_trace t;
	h_load(&t, trace);
	size_t at_exit = 0;
	for (size_t i = 0; i < t.ncloses; i++)
		at_exit += t.closes[i].how == ST_END_EXIT;
	cr_assert_eq(at_exit, 2, "the parent's two ends open at its exit: %zu", at_exit);
	cr_assert_lt(t.size, 1u << 20, "the file was left at full size (%zu bytes): never sealed",
		     t.size);
	st_trace_free(&t);
}

/* A close_range the kernel refuses closes nothing: no end is recorded for
 * it, and the connection ends at its real close. */
Test(life, a_refused_close_range_records_no_end)
{
	run_life("badrange", NULL, NULL);
	struct st_trace t;
	h_load(&t, trace);
	cr_assert_eq(t.ncloses, 2, "%zu closes", t.ncloses);
	for (size_t i = 0; i < t.ncloses; i++)
		cr_assert_eq(t.closes[i].how, ST_END_CLOSE, "fd %d ended by a refused close_range",
			     t.closes[i].fd);
	st_trace_free(&t);
}

/* A child with a file of its own (%p) does not inherit its parent's "trace
 * full": its fresh file records its calls, none dropped. */
Test(life, a_child_with_its_own_file_does_not_inherit_a_full_trace)
{
	char pattern[160];
	snprintf(pattern, sizeof pattern, "%s/x.%%p.trace", dir);
	static struct h_run r;
	const char *argv[] = {life, "fullfork", NULL};
	const char *env[] = {"SOCKTRACE_SIZE=20K", NULL};
	cr_assert_eq(h_run(&r, pattern, argv, env, 30), 0, "%s", r.err);
	long child = atol(strstr(r.out, "child=") + strlen("child="));
	char path[200];
	snprintf(path, sizeof path, "%s/x.%ld.trace", dir, child);
	struct st_trace t;
	h_load(&t, path);
	cr_assert_eq(h_count(&t, ST_OP_GETSOCKNAME, 0), 10, "%zu events, %llu dropped", t.nevs,
		     (unsigned long long)t.dropped);
	cr_assert_eq(t.dropped, 0);
	st_trace_free(&t);
}

/* fork, then dup2(s, 0) and close(s) in the child (inetd, forking servers):
 * the connection is followed on fd 0 to the child's close, with its bytes. */
Test(life, a_socket_moved_to_fd_0_in_a_forked_child_ends_at_its_close)
{
	run_life("forkdup", NULL, NULL);
	struct st_trace t;
	h_load(&t, trace);
	const struct st_close *child = NULL, *parent = NULL;
	for (size_t i = 0; i < t.ncloses; i++) {
		if (t.closes[i].flags & ST_CLOSE_FORKED)
			child = &t.closes[i];
		else
			parent = &t.closes[i];
	}
	cr_assert_not_null(child, "the child's close of fd 0 was not recorded (%zu closes)",
			   t.ncloses);
	cr_assert_not_null(parent);
	cr_assert_eq(child->fd, 0, "ended by fd %d", child->fd);
	cr_assert_gt(child->ts_ns, parent->ts_ns);
	char want[64];
	snprintf(want, sizeof want, "\"duration_ns\":%llu,", (unsigned long long)child->age_ns);
	st_trace_free(&t);
	const char *out = dump_c_json();
	cr_assert_not_null(strstr(out, "\"tx_bytes\":1001,\"rx_bytes\":2000"), "%s", out);
	cr_assert_not_null(strstr(out, want), "%s in %s", want, out);
}

/* A vfork child's close and dup2 before exec run in its parent's memory:
 * they must not end the parent's connections, whose real closes come later
 * with their bytes. */
Test(life, a_vfork_childs_close_leaves_its_parents_connections_alone)
{
	run_life("vforkclose", NULL, NULL);
	struct st_trace t;
	h_load(&t, trace);
	cr_assert_eq(t.ncloses, 2, "%zu closes", t.ncloses);
	for (size_t i = 0; i < t.ncloses; i++)
		cr_assert_eq(t.closes[i].how, ST_END_CLOSE, "fd %d ended by the vfork child",
			     t.closes[i].fd);
	st_trace_free(&t);
	const char *out = dump_c_json();
	cr_assert_not_null(strstr(out, "\"tx_bytes\":100,\"rx_bytes\":100"), "%s", out);
}

/* LD_PRELOAD=... for a traced run whose wall clock libfaketime fakes */
static void life_faketime_preload(char *buf, size_t size)
{
	const char *faketime = "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1";
	cr_assert_eq(access(faketime, R_OK), 0, "libfaketime is missing: make deps");
	char lib[4096];
	snprintf(buf, size, "LD_PRELOAD=%s:%s", h_preload(lib, sizeof lib), faketime);
}

/* The wall clock steps back an hour and forward two while connections are
 * open (libfaketime in the program, never the machine's clock): ages and the
 * reader's durations stay what they were, and each thread's records stay in
 * time order. */
Test(life, a_wall_clock_step_changes_no_duration)
{
	char preload[4200], stamp[160], stamp_env[200];
	life_faketime_preload(preload, sizeof preload);
	snprintf(stamp, sizeof stamp, "%s/faketime", dir);
	snprintf(stamp_env, sizeof stamp_env, "FAKETIME_TIMESTAMP_FILE=%s", stamp);
	FILE *f = fopen(stamp, "w");
	cr_assert_not_null(f);
	fputs("+0\n", f);
	fclose(f);
	const char *env[] = {preload, stamp_env, "FAKETIME_NO_CACHE=1",
			     "FAKETIME_DONT_FAKE_MONOTONIC=1", NULL};
	run_life("clockstep", NULL, env);
	struct st_trace t;
	h_load(&t, trace);
	cr_assert_eq(t.ncloses, 2, "%zu closes", t.ncloses);
	for (size_t i = 0; i < t.ncloses; i++)
		cr_assert_lt(t.closes[i].age_ns, 10000000000ull, "fd %d lived %llu ns",
			     t.closes[i].fd, (unsigned long long)t.closes[i].age_ns);
	cr_assert_geq(t.closes[0].ts_ns, t.evs[t.nevs - 1].ts, "a close before its connect");
	cr_assert_geq(t.closes[1].ts_ns, t.closes[0].ts_ns, "the closes out of order");
	st_trace_free(&t);
	const char *out = dump_c_json();
	const char *d = strstr(out, "\"duration_ns\":");
	cr_assert_not_null(d, "%s", out);
	cr_assert_lt(atoll(d + strlen("\"duration_ns\":")), 10000000000ll, "%s", out);
}

/* A process that joins a trace takes the trace's timeline, whatever its own
 * wall clock says: two runs a moment apart, the second two hours ahead. */
Test(life, a_process_joining_a_trace_stamps_on_its_timeline)
{
	char preload[4200];
	life_faketime_preload(preload, sizeof preload);
	run_life("refused", NULL, NULL);
	const char *env[] = {preload, "FAKETIME=+7200", "FAKETIME_DONT_FAKE_MONOTONIC=1", NULL};
	run_life("refused", NULL, env);
	struct st_trace t;
	h_load(&t, trace);
	cr_assert_eq(t.nprocs, 2, "%zu processes", t.nprocs);
	uint64_t first = t.procs[0].ts, second = t.procs[1].ts;
	st_trace_free(&t);
	cr_assert_geq(second, first);
	cr_assert_lt(second - first, 10000000000ull, "the second process is %llu ns later",
		     (unsigned long long)(second - first));
}

/* One more socket named by two fds than the shim's table of shared sockets
 * holds (1,024): that connection is recorded but not followed to its end,
 * and the header counts it so that every summary says so, instead of a
 * connection silently without its close.  (An fd at or above 65,536 is
 * counted the same way; raising RLIMIT_NOFILE that far needs
 * CAP_SYS_RESOURCE, which the test machines do not give.) */
Test(life, a_connection_past_the_shims_tables_is_counted_as_not_followed)
{
	static struct h_run r;
	const char *argv[] = {life, "manydup", NULL};
	cr_assert_eq(h_run(&r, trace, argv, NULL, 60), 0, "%s", r.err);
	struct st_trace t;
	h_load(&t, trace);
	cr_assert_eq(t.unfollowed, 1, "%u not followed", t.unfollowed);
	cr_assert_eq(t.ncloses, 2 * 1025 - 1, "%zu closes", t.ncloses);
	st_trace_free(&t);
	/* the summary only: 4,100 lines of output would fill the pipe */
	const char *argd[] = {dump, "-n", "--op", "getsockname", trace, NULL};
	cr_assert_eq(h_run(&r, NULL, argd, NULL, 30), 0, "%s", r.err);
	cr_assert_not_null(strstr(r.err, "1 connection not followed to its end"), "%s", r.err);
	const char *args[] = {dump, "--stats", "--json", trace, NULL};
	cr_assert_eq(h_run(&r, NULL, args, NULL, 30), 0, "%s", r.err);
	cr_assert_not_null(strstr(r.out, "\"unfollowed\":1,"), "%.300s", r.out);
}

/* alarm and siglongjmp around a blocking connect (the classic timeout): the
 * call never returns, but its attempt is recorded as interrupted (EINTR: the
 * kernel goes on with it) and the socket's close ends it as abandoned.
 * Before, that connect was not in the trace at all. */
Test(life, a_connect_left_by_a_jump_is_recorded_as_interrupted)
{
	static struct h_run r;
	const char *argv[] = {life, "connectjump", NULL};
	cr_assert_eq(h_run(&r, trace, argv, NULL, 30), 0, "%s %s", r.out, r.err);
	long fd = atol(strstr(r.out, "fd=") + 3);
	struct st_trace t;
	h_load(&t, trace);
	const struct st_ev *c = NULL;
	for (size_t i = 0; i < t.nevs; i++)
		if (t.evs[i].op == ST_OP_CONNECT && t.evs[i].fd == fd)
			c = &t.evs[i];
	cr_assert_not_null(c, "no connect event for fd %ld", fd);
	cr_expect_eq(c->ret, -1);
	cr_expect_eq(c->err, EINTR);
	size_t ends = 0;
	for (size_t i = 0; i < t.ncloses; i++)
		ends += t.closes[i].fd == fd && t.closes[i].role == ST_ROLE_PENDING;
	cr_expect_eq(ends, 1, "%zu pending ends of fd %ld", ends, fd);
	st_trace_free(&t);
}
