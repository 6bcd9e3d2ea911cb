/*
 * See it and ship it: the service map rendered by Graphviz, the OTLP export
 * validated against the official protobuf definitions, and the HTML report
 * in a real browser (Debian's Chromium), with a crafted trace that tries to
 * inject markup.  Each skips where its tool is not installed (make deps
 * installs them).
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>
#include <unistd.h>

#include "../shim/core/st_core.h"
#include "harness.h"

static char dir[64], trace[128], dump[256];

static void setup(void)
{
	h_tmpdir(dir, sizeof dir);
	snprintf(trace, sizeof trace, "%s/s.trace", dir);
	h_path(dump, sizeof dump, "socktrace-dump");
}

static void teardown(void)
{
	h_rmdir(dir);
}

TestSuite(ship, .init = setup, .fini = teardown, .timeout = 240);

static void need(const char *path, const char *what)
{
	if (access(path, F_OK) != 0)
		cr_skip_test("%s is not installed (make deps installs it)", what);
}

/* Five curl fetches from a traced python3 http.server, and a curl refused. */
static void real_run(void)
{
	h_http_fetch(trace, trace, false);
	int l = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in in = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof in;
	cr_assert(bind(l, (struct sockaddr *)&in, sizeof in) == 0 &&
		  getsockname(l, (struct sockaddr *)&in, &len) == 0);
	close(l);
	char url[64];
	snprintf(url, sizeof url, "http://127.0.0.1:%u/", ntohs(in.sin_port));
	static struct h_run r;
	const char *argv[] = {"/usr/bin/curl", "-s", "-o", "/dev/null", url, NULL};
	cr_assert_eq(h_run(&r, trace, argv, NULL, 30), 7, "%s", r.err);
}

static const char *sh(const char *cmd, int want)
{
	static struct h_run r;
	const char *argv[] = {"/bin/sh", "-c", cmd, NULL};
	int rc = h_run(&r, NULL, argv, NULL, 120);
	cr_assert_eq(rc, want, "%s: exit %d: %s", cmd, rc, r.err);
	return r.out;
}

Test(ship, the_map_of_a_real_run_renders_with_dot)
{
	need("/usr/bin/dot", "Graphviz");
	real_run();
	char cmd[1024];
	snprintf(cmd, sizeof cmd, "%s --graph %s | dot -Tsvg", dump, trace);
	const char *svg = sh(cmd, 0);
	cr_assert_not_null(strstr(svg, "<svg"), "%s", svg);
	cr_assert_not_null(strstr(svg, ">python3</text>"), "%s", svg);
	cr_assert_not_null(strstr(svg, ">curl</text>"), "%s", svg);
	cr_assert_not_null(strstr(svg, ">5 connections</text>"), "%s", svg);
	cr_assert_not_null(strstr(svg, ">1 failed (refused)</text>"), "%s", svg);
	cr_assert_not_null(strstr(svg, "stroke=\"red\""), "failures are drawn red: %s", svg);
}

Test(ship, twenty_thousand_connections_are_one_edge)
{
	need("/usr/bin/dot", "Graphviz");
	char gen[256], cmd[1024];
	h_path(gen, sizeof gen, "progs/gentrace");
	/* 4 events a connection: accept, getsockname, getpeername, connect */
	const char *argv[] = {gen, trace, "80000", "1", "1000000", NULL};
	static struct h_run r;
	cr_assert_eq(h_run(&r, NULL, argv, NULL, 60), 0, "%s", r.err);
	snprintf(cmd, sizeof cmd, "%s --graph %s", dump, trace);
	const char *dot = sh(cmd, 0);
	cr_assert_eq(h_occurrences(dot, " -> "), 1, "%s", dot);
	cr_assert_not_null(strstr(dot, "20000 connections"), "%s", dot);
	snprintf(cmd, sizeof cmd, "%s --graph %s | dot -Tsvg | grep -c '<g id=\"node'", dump, trace);
	cr_assert_str_eq(sh(cmd, 0), "1\n");
}

Test(ship, otlp_export_is_valid_otlp_and_the_same_twice)
{
	char check[400], prefix[256], cmd[2048];
	h_path(prefix, sizeof prefix, "otlp");
	snprintf(check, sizeof check, "%s/node_modules/@opentelemetry/otlp-transformer", prefix);
	need(check, "@opentelemetry/otlp-transformer");
	real_run();
	snprintf(cmd, sizeof cmd, "%s --otlp %s | node tools/scripts/otlp-check.js %s", dump, trace,
		 prefix);
	const char *out = sh(cmd, 0);
	cr_assert_not_null(strstr(out, "otlp-check: 6 lines, 11 spans valid"), "%s", out);
	snprintf(cmd, sizeof cmd, "%s --otlp %s > %s/a.json && %s --otlp %s > %s/b.json && "
				  "cmp %s/a.json %s/b.json && cat %s/a.json",
		 dump, trace, dir, dump, trace, dir, dir, dir, dir);
	const char *lines = sh(cmd, 0);
	/* a paired line: the server span's parent is the client span */
	for (const char *l = lines; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
		const char *client = strstr(l, "\"kind\":3");
		const char *parent = strstr(l, "\"parentSpanId\":\"");
		const char *end = strchr(l, '\n');
		if (!client || !parent || parent > end)
			continue;
		char want[40];
		snprintf(want, sizeof want, "\"spanId\":\"%.16s\"", parent + 16);
		const char *id = strstr(l, want);
		cr_assert(id && id < parent, "parent %.16s is not the client span", parent + 16);
	}
	cr_assert_eq(h_occurrences(lines, "\"status\":{\"code\":2,\"message\":\"ECONNREFUSED\"}"), 1, "%s",
		     lines);
}

/* A trace whose program name and Unix path try to inject markup. */
static void write_hostile_report_trace(void)
{
	const char *why = NULL;
	cr_assert_eq(st_file_attach(trace, 1 << 20, &why), 0);
	/* argv[0] names the program: no slash, so all of it is the name */
	static const char cmd[] = "<img src=x onerror=alert(\"name\")>\0--x";
	st_record_process(1, "/bin/'evil", 10, cmd, sizeof cmd, "host\"<b>", 8);
	struct st_addr path = {.len = sizeof(struct sockaddr_un)};
	struct sockaddr_un *un = (struct sockaddr_un *)&path.ss;
	un->sun_family = AF_UNIX;
	snprintf(un->sun_path, sizeof un->sun_path, "/tmp/\"><script>alert('path')</script>");
	struct st_outcome done = {st_now_ns(), 0, 0};
	struct st_addr none = {0};
	st_record_event(ST_OP_CONNECT, 3, -1, &done, &none, &path, 0, NULL);
	st_record_reset_thread();
	st_file_forget();
}

static const char *browser_check(const char *report, const char *shot)
{
	char prefix[256], cmd[1024];
	h_path(prefix, sizeof prefix, "browser");
	snprintf(cmd, sizeof cmd, "timeout 120 node tools/scripts/html-check.js %s %s %s", prefix,
		 report, shot);
	return sh(cmd, 0);
}

static void need_browser(void)
{
	char pw[256];
	h_path(pw, sizeof pw, "browser/node_modules/playwright-core");
	need(pw, "playwright-core");
	need("/usr/bin/chromium", "Chromium");
}

Test(ship, the_report_escapes_what_the_trace_holds)
{
	write_hostile_report_trace();
	char report[160], shot[160], cmd[1024];
	snprintf(report, sizeof report, "%s/evil.html", dir);
	snprintf(shot, sizeof shot, "%s/evil.png", dir);
	snprintf(cmd, sizeof cmd, "%s --html %s %s && cat %s", dump, report, trace, report);
	const char *html = sh(cmd, 0);
	cr_assert_eq(h_occurrences(html, "<script>"), 1, "only the report's own script: %s", html);
	cr_assert_not_null(strstr(html, "&lt;img src=x onerror=alert(&quot;name&quot;)&gt;"), "%s",
			   html);
	cr_assert_null(strstr(html, "<img"), "%s", html);
	cr_assert_null(strstr(html, "\"><script>"), "%s", html);
	need_browser();
	const char *seen = browser_check(report, shot);
	cr_assert_not_null(strstr(seen, "\"dialogs\":[]"), "a script ran: %s", seen);
	cr_assert_not_null(strstr(seen, "\"errors\":[]"), "the page's script failed: %s", seen);
	cr_assert_not_null(strstr(seen, "\"scripts\":1"), "%s", seen);
	cr_assert_not_null(strstr(seen, "\"requests\":[]"), "%s", seen);
}

Test(ship, the_report_renders_in_a_browser_without_a_request)
{
	need_browser();
	real_run();
	char report[160], shot[160], cmd[1024];
	snprintf(report, sizeof report, "%s/r.html", dir);
	snprintf(shot, sizeof shot, "%s/r.png", dir);
	snprintf(cmd, sizeof cmd, "%s --html %s %s", dump, report, trace);
	sh(cmd, 0);
	const char *seen = browser_check(report, shot);
	cr_assert_not_null(strstr(seen, "\"title\":\"socktrace report\""), "%s", seen);
	cr_assert_not_null(strstr(seen, "\"rows\":6"), "5 fetches and a refused connect: %s", seen);
	cr_assert_not_null(strstr(seen, "\"bars\":6"), "%s", seen);
	cr_assert_not_null(strstr(seen, "\"requests\":[]"), "%s", seen);
	/* every column sorted once (six rows: the comparator runs) */
	cr_assert_not_null(strstr(seen, "\"errors\":[]"), "the page's script failed: %s", seen);
	if (access("/usr/bin/dot", X_OK) == 0) {
		cr_assert_not_null(strstr(seen, "\"python3\""), "%s", seen);
		cr_assert_not_null(strstr(seen, "\"curl\""), "%s", seen);
	}
	cr_assert_eq(access(shot, F_OK), 0, "no screenshot");
}

/* A node is a service: two python3 programs are two nodes, each labelled
 * with its command line since they share a name, the same command run twice
 * is one node with two pids; no self-loop. */
Test(ship, the_map_has_a_node_per_service_not_per_name)
{
	struct h_server s;
	h_http_start(&s, trace, false);
	char url[128];
	snprintf(url, sizeof url, "import urllib.request; urllib.request.urlopen("
				  "'http://127.0.0.1:%u/').read()", s.port);
	static struct h_run r;
	for (int i = 0; i < 2; i++) {
		const char *argv[] = {"/usr/bin/python3", "-c", url, NULL};
		cr_assert_eq(h_run(&r, trace, argv, NULL, 30), 0, "%s", r.err);
	}
	h_http_stop(&s);
	char cmd[512];
	snprintf(cmd, sizeof cmd, "%s --graph %s", dump, trace);
	const char *argv[] = {"/bin/sh", "-c", cmd, NULL};
	cr_assert_eq(h_run(&r, NULL, argv, NULL, 30), 0, "%s", r.err);
	cr_assert_eq(h_occurrences(r.out, "[label=\"python3\\n"), 2, "%s", r.out);
	cr_assert_not_null(strstr(r.out, "-m http.server"), "%s", r.out);
	cr_assert_not_null(strstr(r.out, "urllib.request"), "%s", r.out);
	cr_assert_not_null(strstr(r.out, "\\npids "), "two runs, one service: %s", r.out);
	cr_assert_null(strstr(r.out, "n0 -> n0"), "%s", r.out);
	cr_assert_null(strstr(r.out, "n1 -> n1"), "%s", r.out);
}

/* A median is shown from five samples on, with its count. */
Test(ship, the_map_shows_a_median_only_with_enough_samples)
{
	char life[256];
	h_path(life, sizeof life, "progs/life");
	static struct h_run r;
	const char *three[] = {life, "reuse", "3", NULL};
	cr_assert_eq(h_run(&r, trace, three, NULL, 30), 0, "%s", r.err);
	const char *graph[] = {dump, "--graph", trace, NULL};
	cr_assert_eq(h_run(&r, NULL, graph, NULL, 30), 0, "%s", r.err);
	cr_assert_null(strstr(r.out, "p50"), "3 samples: %s", r.out);
	unlink(trace);
	const char *six[] = {life, "reuse", "6", NULL};
	cr_assert_eq(h_run(&r, trace, six, NULL, 30), 0, "%s", r.err);
	cr_assert_eq(h_run(&r, NULL, graph, NULL, 30), 0, "%s", r.err);
	cr_assert_not_null(strstr(r.out, " ms (6 of 6)"), "%s", r.out);
}

/* The timeline at the size of a real run: a time axis, a strip of
 * connections started, one lane per client -> server pair (not per
 * connection), tooltips that say when, how long, how it ended and what it
 * carried; client and server code apart; an empty trace says so. */
Test(ship, the_timeline_has_an_axis_lanes_per_pair_and_telling_tooltips)
{
	char life[256], report[160], cmd[1024];
	h_path(life, sizeof life, "progs/life");
	static struct h_run r;
	const char *argv[] = {life, "reuse", "40", NULL};
	cr_assert_eq(h_run(&r, trace, argv, NULL, 30), 0, "%s", r.err);
	snprintf(report, sizeof report, "%s/t.html", dir);
	snprintf(cmd, sizeof cmd, "%s --html %s %s && cat %s", dump, report, trace, report);
	const char *html = sh(cmd, 0);
	cr_assert_eq(h_occurrences(html, "class=\"tick\""), 6, "an axis of six times: %s", html);
	cr_assert_eq(h_occurrences(html, "class=\"lane\""), 1, "40 connections, one pair: %s", html);
	cr_assert_not_null(strstr(html, "life \u2192 life (40)"), "%s", html);
	cr_assert_eq(h_occurrences(html, "class=\"bar\""), 40, "%s", html);
	cr_assert_not_null(strstr(html, "connections started (40)"), "%s", html);
	cr_assert_eq(h_occurrences(html, "\nstart "), 40, "a start in every tooltip");
	cr_assert_not_null(strstr(html, " ms, ok\ntx 1 B, rx 0 B</title>"), "%s", html);
	cr_assert_not_null(strstr(html, "<th>client code</th><th>server code</th>"), "%s", html);
	/* an empty trace */
	char empty[160];
	snprintf(empty, sizeof empty, "%s/empty.trace", dir);
	const char *bare[] = {"/bin/true", NULL};
	cr_assert_eq(h_run(&r, empty, bare, NULL, 30), 0, "%s", r.err);
	snprintf(cmd, sizeof cmd, "%s --html %s %s && cat %s", dump, report, empty, report);
	html = sh(cmd, 0);
	cr_assert_not_null(strstr(html, "Nothing recorded"), "%s", html);
	cr_assert_null(strstr(html, "<h2>Timeline</h2>"), "no empty sections: %s", html);
}
