/*
 * JIT frames (issue 19): Node.js and Java code named from the perf map the
 * JIT writes (socktrace -k adds the options that make it), copied into the
 * trace at exit.  Skipped where node (java) is not installed.
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <glob.h>
#include <limits.h>
#include <stdbool.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <poll.h>
#include <signal.h>
#include <time.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "../tools/reader/st_jitsyms.h"

static char dir[64], trace[128], dump[256], launcher[256];

static void setup(void)
{
	h_tmpdir(dir, sizeof dir);
	snprintf(trace, sizeof trace, "%s/jit.trace", dir);
	h_path(dump, sizeof dump, "socktrace-dump");
	h_path(launcher, sizeof launcher, "socktrace");
}

static void teardown(void)
{
	h_rmdir(dir);
}

TestSuite(jit, .init = setup, .fini = teardown, .timeout = 120);

static const char jit_app[] =
	"const net = require('net');\n"
	"function localPortOf(sock) {\n"
	"  return sock.localPort;\n"
	"}\n"
	"function fetchConfig(port, done) {\n"
	"  const c = net.connect(port, '127.0.0.1', () => { localPortOf(c); c.end(); done(); });\n"
	"}\n"
	"console.log(process.env.NODE_OPTIONS);\n"
	"const srv = net.createServer(s => s.end()).listen(0, '127.0.0.1', () => {\n"
	"  fetchConfig(srv.address().port, () => srv.close());\n"
	"});\n";

/* The perf maps the traced JITs left in /tmp: gone with the test. */
static void jit_forget_maps(void)
{
	struct st_trace t;
	if (st_trace_load(&t, trace, 0) < 0 && t.nprocs == 0) {
		st_trace_free(&t);
		return;
	}
	for (size_t i = 0; i < t.nprocs; i++) {
		char map[64];
		snprintf(map, sizeof map, "/tmp/perf-%u.map", t.procs[i].pid);
		unlink(map);
	}
	st_trace_free(&t);
}

static const char *jit_dump(void)
{
	static struct h_run r;
	const char *argv[] = {dump, "-n", trace, NULL};
	cr_assert_eq(h_run(&r, NULL, argv, NULL, 60), 0, "%s", r.err);
	return r.out;
}

/* Whether a getsockname's stack in out names app's localPortOf (the
 * connected socket's; the listener's comes first). */
static void jit_assert_named(const char *out, const char *app)
{
	char stack[16384], want[300];
	snprintf(want, sizeof want, "at localPortOf (%s:2:21) [js]", app);
	const char *named = NULL;
	for (const char *ev = out; !named && (ev = strstr(ev, " getsockname(")) != NULL; ev++) {
		h_event_text(ev, " getsockname(", stack, sizeof stack);
		named = strstr(stack, want);
	}
	cr_assert_not_null(named, "no getsockname names %s in\n%s", want, out);
}

/* node running a script that dials, calls localPortOf, runs after (more
 * JavaScript), says "dialled" and waits for SIGTERM (30 s at most), under
 * socktrace -k; its launcher's pid once it said so. */
static pid_t jit_start_live(const char *after, char *app, size_t app_size)
{
	char js[2048];
	snprintf(js, sizeof js,
		 "const net = require('net'), fs = require('fs');\n"
		 "function localPortOf(sock) {\n"
		 "  return sock.localPort;\n"
		 "}\n"
		 "const map = '/tmp/perf-' + process.pid + '.map';\n"
		 "const srv = net.createServer(s => s.end()).listen(0, '127.0.0.1', () => {\n"
		 "  const c = net.connect(srv.address().port, '127.0.0.1', () => {\n"
		 "    localPortOf(c); c.end(); srv.close();\n"
		 "    %s\n"
		 "    console.log('dialled');\n"
		 "  });\n"
		 "});\n"
		 "process.on('SIGTERM', () => process.exit(0));\n"
		 "setTimeout(() => {}, 30000);\n",
		 after);
	h_write_in(dir, "app.js", js);
	snprintf(app, app_size, "%s/app.js", dir);
	static char out[8192];
	out[0] = '\0';
	int fd;
	const char *argv[] = {launcher, "-q", "-k", "32", "-o", trace, "/usr/bin/node", app, NULL};
	pid_t run = h_spawn(argv, &fd);
	cr_assert(h_read_until(fd, "dialled", out, sizeof out), "%s", out);
	return run;
}

static void jit_stop_live(pid_t follower, pid_t run)
{
	int status;
	kill(follower, SIGTERM);
	kill(run, SIGTERM);
	waitpid(follower, &status, 0);
	waitpid(run, &status, 0);
}

/* socktrace -k runs node with its perf map on (appended to the user's
 * NODE_OPTIONS, never replacing them): the getsockname a named function of
 * the script makes names that function with V8's place for it, and
 * connect's stack names Node's own JavaScript (node:net). */
Test(jit, node_frames_are_named_from_its_perf_map)
{
	if (access("/usr/bin/node", X_OK) != 0)
		cr_skip_test("no node");
	h_write_in(dir, "app.js", jit_app);
	char app[256];
	snprintf(app, sizeof app, "%s/app.js", dir);
	const char *argv[] = {launcher, "-q", "-k", "32", "-o", trace, "/usr/bin/node", app, NULL};
	const char *env[] = {"NODE_OPTIONS=--max-old-space-size=200", NULL};
	static struct h_run r;
	cr_assert_eq(h_run(&r, NULL, argv, env, 60), 0, "%s", r.err);
	jit_forget_maps();
	cr_assert_not_null(strstr(r.out, "--max-old-space-size=200 --perf-basic-prof-only-functions "
					 "--interpreted-frames-native-stack"),
			   "NODE_OPTIONS: %s", r.out);
	const char *out = jit_dump();
	char stack[16384];
	jit_assert_named(out, app);
	h_event_text(out, " connect(", stack, sizeof stack);
	cr_assert_not_null(strstr(stack, "at internalConnect (node:net:"), "%s", stack);
	cr_assert_null(strstr(stack, "?? ["), "an unnamed frame:\n%s", stack);
}

/* The same under the ptrace tracer (socktrace --ptrace -k): the launcher
 * turns node's perf map on, and the tracer copies the entries its stacks
 * use into the trace when node exits, as the shim does. */
Test(jit, under_the_tracer_node_frames_are_named)
{
	if (access("/usr/bin/node", X_OK) != 0)
		cr_skip_test("no node");
	h_write_in(dir, "app.js", jit_app);
	char app[256];
	snprintf(app, sizeof app, "%s/app.js", dir);
	const char *argv[] = {launcher, "-q", "--ptrace", "-k", "32", "-o", trace, "/usr/bin/node",
			      app, NULL};
	static struct h_run r;
	cr_assert_eq(h_run(&r, NULL, argv, NULL, 60), 0, "%s", r.err);
	jit_forget_maps();
	jit_assert_named(jit_dump(), app);
}

/* socktrace-dump -f on a node program still running: its JIT frames are
 * named from its own perf map (the trace's copy comes only at its exit),
 * and the program is told to end only once the follower showed them. */
Test(jit, a_followed_node_program_is_named_while_it_runs)
{
	if (access("/usr/bin/node", X_OK) != 0)
		cr_skip_test("no node");
	char app[256], want[300];
	pid_t run = jit_start_live("", app, sizeof app);
	snprintf(want, sizeof want, "at localPortOf (%s:2:21) [js]", app);
	static char fout[65536];
	int ffd;
	const char *follow[] = {dump, "-f", "-n", trace, NULL};
	pid_t follower = h_spawn(follow, &ffd);
	bool named = h_read_until(ffd, want, fout, sizeof fout);
	jit_stop_live(follower, run);
	jit_forget_maps();
	cr_assert(named, "no '%s' while node ran:\n%s", want, fout);
}

/* The follower never follows a link at the map's path: a map replaced by a
 * symbolic link to a copy of itself (a regular file, the right entries) is
 * not read, and the frames stay unnamed while the program runs. */
Test(jit, a_followed_program_whose_map_is_a_link_stays_unnamed)
{
	if (access("/usr/bin/node", X_OK) != 0)
		cr_skip_test("no node");
	char app[256];
	pid_t run = jit_start_live("fs.copyFileSync(map, map + '.real'); fs.unlinkSync(map); "
				   "fs.symlinkSync(map + '.real', map);",
				   app, sizeof app);
	/* every stack the trace holds so far, as a reader prints them: the
	 * follower has printed the trace when it has printed as many */
	size_t stacks = h_occurrences(jit_dump(), "at _start");
	static char fout[65536];
	int ffd;
	const char *follow[] = {dump, "-f", "-n", trace, NULL};
	pid_t follower = h_spawn(follow, &ffd);
	size_t n = 0;
	for (time_t deadline = time(NULL) + 20;
	     h_occurrences(fout, "at _start") < stacks && time(NULL) < deadline && n + 1 < sizeof fout;) {
		struct pollfd pfd = {ffd, POLLIN, 0};
		if (poll(&pfd, 1, 200) <= 0)
			continue;
		ssize_t got = read(ffd, fout + n, sizeof fout - 1 - n);
		if (got <= 0)
			break;
		n += (size_t)got;
		fout[n] = '\0';
	}
	bool shown = stacks > 0 && h_occurrences(fout, "at _start") >= stacks;
	jit_stop_live(follower, run);
	struct st_trace t;
	if (st_trace_load(&t, trace, 0) == 0 || t.nprocs > 0)
		for (size_t i = 0; i < t.nprocs; i++) {
			char real[80];
			snprintf(real, sizeof real, "/tmp/perf-%u.map.real", t.procs[i].pid);
			unlink(real);
		}
	st_trace_free(&t);
	jit_forget_maps();
	cr_assert(shown, "no stack, or not all of them:\n%s", fout);
	cr_assert_null(strstr(fout, "[js]"), "a name read through the link:\n%s", fout);
}

/* Without the map (node run with the shim alone), JIT frames stay unnamed:
 * never another function's name; and a map that is a FIFO is not waited on
 * at exit, nor read. */
Test(jit, without_a_readable_map_jit_frames_stay_unnamed)
{
	if (access("/usr/bin/node", X_OK) != 0)
		cr_skip_test("no node");
	/* the map V8 opened is unlinked and a FIFO put at its path: what the
	 * shim finds at exit */
	h_write_in(dir, "app.js",
		  "const fs = require('fs'), cp = require('child_process');\n"
		  "const map = '/tmp/perf-' + process.pid + '.map';\n"
		  "fs.unlinkSync(map);\n"
		  "cp.execFileSync('mkfifo', [map]);\n"
		  "const net = require('net');\n"
		  "const srv = net.createServer(s => s.end()).listen(0, '127.0.0.1', () => {\n"
		  "  const c = net.connect(srv.address().port, '127.0.0.1', () => { c.end(); srv.close(); });\n"
		  "});\n");
	char app[256];
	snprintf(app, sizeof app, "%s/app.js", dir);
	const char *argv[] = {"/usr/bin/node", "--perf-basic-prof-only-functions",
			      "--interpreted-frames-native-stack", app, NULL};
	const char *env[] = {"SOCKTRACE_BACKTRACE=32", NULL};
	static struct h_run r;
	cr_assert_eq(h_run(&r, trace, argv, env, 60), 0, "%s", r.err);
	jit_forget_maps(); /* the FIFO */
	const char *out = jit_dump();
	char stack[16384];
	h_event_text(out, " connect(", stack, sizeof stack);
	cr_assert_null(strstr(stack, "[js]"), "named without a map:\n%s", stack);
	cr_assert_not_null(strstr(stack, "?? ["), "%s", stack);
}

/* The reader's names: an address in no entry has none, where entries
 * overlap the later one wins, V8's names split into function and place. */
Test(jit, names_come_only_from_an_entry_that_holds_the_address)
{
	struct st_jitsyms *j = st_jitsyms_new();
	const char a[] = "JS:~fetchConfig /srv/app.js:12:20", b[] = "JS:*fetchConfig /srv/app.js:12:20";
	const char c[] = "LazyCompile:~ node:net:1326:73", compiled[] = "java.net.Socket::connect";
	st_jitsyms_add(j, 7, 0x1000, 0x100, a, sizeof a - 1);
	st_jitsyms_add(j, 7, 0x2000, 0x100, c, sizeof c - 1);
	st_jitsyms_add(j, 7, 0x1080, 0x40, b, sizeof b - 1); /* made again inside the first */
	st_jitsyms_add(j, 8, 0x3000, 0x10, compiled, sizeof compiled - 1);
	const char *fn, *where;
	bool js, java;
	int line;
	cr_assert(st_jitsyms_name(j, 7, 0x1010, &fn, &where, &line, &js, &java));
	cr_assert_str_eq(fn, "fetchConfig");
	cr_assert_str_eq(where, "/srv/app.js:12:20");
	cr_assert(js);
	cr_assert(st_jitsyms_name(j, 7, 0x2000, &fn, &where, &line, &js, &java));
	cr_assert_str_eq(fn, "(anonymous)");
	cr_assert_str_eq(where, "node:net:1326:73");
	cr_assert(!st_jitsyms_name(j, 7, 0x1100, &fn, &where, &line, &js, &java), "past the entry's end");
	cr_assert(!st_jitsyms_name(j, 7, 0xfff, &fn, &where, &line, &js, &java), "before the first entry");
	cr_assert(!st_jitsyms_name(j, 8, 0x1010, &fn, &where, &line, &js, &java), "another process's entry");
	cr_assert(st_jitsyms_name(j, 8, 0x3008, &fn, &where, &line, &js, &java));
	cr_assert_str_eq(fn, "java.net.Socket::connect");
	cr_assert_null(where);
	cr_assert(!js);
	cr_assert(!java);
	st_jitsyms_free(j);
}

/* The shim's names of interpreted Java methods: class and method, then the
 * source file and line when known. */
Test(jit, interpreted_java_names_are_split_into_method_file_and_line)
{
	struct st_jitsyms *j = st_jitsyms_new();
	const char full[] = "Java:java.net.Socket.connect Socket.java:633",
		   no_line[] = "Java:sun.nio.ch.Net.connect0 Net.java", bare[] = "Java:Foo.bar";
	st_jitsyms_add(j, 7, ST_FRAME_JAVA | 1, 1, full, sizeof full - 1);
	st_jitsyms_add(j, 7, ST_FRAME_JAVA | 2, 1, no_line, sizeof no_line - 1);
	st_jitsyms_add(j, 7, ST_FRAME_JAVA | 3, 1, bare, sizeof bare - 1);
	const char *fn, *where;
	bool js, java;
	int line;
	cr_assert(st_jitsyms_name(j, 7, ST_FRAME_JAVA | 1, &fn, &where, &line, &js, &java));
	cr_assert_str_eq(fn, "java.net.Socket.connect");
	cr_assert_str_eq(where, "Socket.java");
	cr_assert_eq(line, 633);
	cr_assert(java && !js);
	cr_assert(st_jitsyms_name(j, 7, ST_FRAME_JAVA | 2, &fn, &where, &line, &js, &java));
	cr_assert_str_eq(fn, "sun.nio.ch.Net.connect0");
	cr_assert_str_eq(where, "Net.java");
	cr_assert_eq(line, 0);
	cr_assert(st_jitsyms_name(j, 7, ST_FRAME_JAVA | 3, &fn, &where, &line, &js, &java));
	cr_assert_str_eq(fn, "Foo.bar");
	cr_assert_null(where);
	cr_assert(!st_jitsyms_name(j, 7, ST_FRAME_JAVA | 4, &fn, &where, &line, &js, &java));
	st_jitsyms_free(j);
}

/* Java (when installed): with -k the JVM keeps frame pointers and dumps its
 * map at exit, so the stack goes on through the JVM's code past the native
 * connect, every frame named (compiled ones from the JVM's map, interpreted
 * ones by the shim from the JVM's own structures), down to the launcher's
 * thread; the JVM's own notice of the options it picked up is its, on its
 * stderr. */

Test(jit, java_frames_are_walked_and_named)
{
	if (access("/usr/bin/java", X_OK) != 0)
		cr_skip_test("no java");
	h_write_in(dir, "Dial.java",
		  "import java.net.*;\n"
		  "public class Dial {\n"
		  "    public static void main(String[] a) throws Exception {\n"
		  "        ServerSocket s = new ServerSocket(0, 5, InetAddress.getByName(\"127.0.0.1\"));\n"
		  "        new Socket(\"127.0.0.1\", s.getLocalPort()).close();\n"
		  "        s.close();\n"
		  "    }\n"
		  "}\n");
	char src[256];
	snprintf(src, sizeof src, "%s/Dial.java", dir);
	const char *argv[] = {launcher, "-q", "-k", "48", "-o", trace, "/usr/bin/java", src, NULL};
	static struct h_run r;
	cr_assert_eq(h_run(&r, NULL, argv, NULL, 90), 0, "%s", r.err);
	jit_forget_maps();
	const char *out = jit_dump();
	char stack[16384];
	h_event_text(out, " connect(", stack, sizeof stack);
	const char *const order[] = {"Java_sun_nio_ch_Net_connect0", "[jit]", "JavaMain", NULL};
	const char *at = stack;
	for (size_t i = 0; order[i]; i++) {
		const char *p = strstr(at, order[i]);
		cr_assert_not_null(p, "\"%s\" missing in\n%s", order[i], stack);
		at = p;
	}
	cr_assert_null(strstr(stack, "?? ["), "an unnamed frame:\n%s", stack);
}

/* The Java runtimes installed: /usr/bin/java and every JDK under
 * /usr/lib/jvm, each once (by its real path); how many in *n. */
static void jit_javas(char javas[][PATH_MAX], size_t max, size_t *n)
{
	*n = 0;
	glob_t g = {0};
	const char *first = "/usr/bin/java";
	char real[PATH_MAX];
	if (realpath(first, real) != NULL)
		snprintf(javas[(*n)++], PATH_MAX, "%s", real);
	if (glob("/usr/lib/jvm/*/bin/java", 0, NULL, &g) == 0) {
		for (size_t i = 0; i < g.gl_pathc && *n < max; i++) {
			bool seen = false;
			if (realpath(g.gl_pathv[i], real) == NULL || access(real, X_OK) != 0)
				continue;
			for (size_t k = 0; k < *n; k++)
				seen |= strcmp(javas[k], real) == 0;
			if (!seen)
				snprintf(javas[(*n)++], PATH_MAX, "%s", real);
		}
	}
	globfree(&g);
}

/* The line of Java code that opened the connection: each interpreted
 * method of the connect's stack named with its file and line, from the
 * JDK's Socket.connect down to the program's own dial() and main(), which
 * -c names as the connection's code. */
Test(jit, interpreted_java_methods_are_named_with_their_lines)
{
	static char javas[8][PATH_MAX];
	size_t njavas;
	jit_javas(javas, 8, &njavas);
	if (njavas == 0)
		cr_skip_test("no java");
	h_write_in(dir, "Dial.java",
		  "import java.net.*;\n"
		  "public class Dial {\n"
		  "    static void dial(int port) throws Exception {\n"
		  "        try (Socket s = new Socket()) {\n"
		  "            s.connect(new InetSocketAddress(\"127.0.0.1\", port));\n"
		  "        }\n"
		  "    }\n"
		  "    public static void main(String[] a) throws Exception {\n"
		  "        try (ServerSocket s = new ServerSocket(0, 5, InetAddress.getByName(\"127.0.0.1\"))) {\n"
		  "            dial(s.getLocalPort());\n"
		  "        }\n"
		  "    }\n"
		  "}\n");
	char src[256];
	snprintf(src, sizeof src, "%s/Dial.java", dir);
	/* each JDK (17's tables and streams, 21's: ConstMethodFlags, UNSIGNED5
	 * without '\0'), under the shim, then under the tracer */
	for (size_t run = 0; run < njavas * 2; run++) {
		const char *java = javas[run / 2];
		int traced = (int)(run % 2);
		const char *argv[] = {launcher, "-q", traced ? "--ptrace" : "--preload", "-k", "48",
				      "-o", trace, java, src, NULL};
		char label[PATH_MAX + 16];
		snprintf(label, sizeof label, "%s %s", java, argv[2]);
		static struct h_run r;
		unlink(trace);
		cr_assert_eq(h_run(&r, NULL, argv, NULL, 90), 0, "%s", r.err);
		jit_forget_maps();
		const char *out = jit_dump();
		/* the program's connect: under the tracer, libc's own calls (nscd) come first */
		char stack[16384] = "";
		for (const char *ev = strstr(out, " connect("); ev; ev = strstr(ev + 1, " connect(")) {
			h_event_text(ev, " connect(", stack, sizeof stack);
			if (strstr(stack, "Java_sun_nio_ch_Net_connect0"))
				break;
		}
		const char *const order[] = {"Java_sun_nio_ch_Net_connect0",
					     "at java.net.Socket.connect (Socket.java:",
					     "at Dial.dial (Dial.java:5) [java]",
					     "at Dial.main (Dial.java:10) [java]", "JavaMain", NULL};
		const char *at = stack;
		for (size_t i = 0; order[i]; i++) {
			const char *p = strstr(at, order[i]);
			cr_assert_not_null(p, "%s: \"%s\" missing in\n%s", label, order[i], stack);
			at = p;
		}
		cr_assert_null(strstr(stack, "at Interpreter"), "%s: an interpreted frame unnamed:\n%s",
			       label, stack);
		const char *argv_c[] = {dump, "-c", "-n", trace, NULL};
		cr_assert_eq(h_run(&r, NULL, argv_c, NULL, 60), 0, "%s", r.err);
		cr_assert_not_null(strstr(r.out, "Dial.dial"), "%s: -c names the program's own method:\n%s",
				   label, r.out);
		const char *argv_json[] = {dump, "--json", trace, NULL};
		cr_assert_eq(h_run(&r, NULL, argv_json, NULL, 60), 0, "%s", r.err);
		cr_assert_not_null(strstr(r.out, "\"java\":true,"), "%s: --json marks Java frames", label);
		cr_assert_not_null(strstr(r.out, "\"sym\":\"Dial.dial\",\"off\":0,\"obj\":null,"
						 "\"file\":\"Dial.java\",\"line\":5}"),
				   "%s: --json gives the method's file and line", label);
	}
}


/* A connection the JDK's own code makes (its HTTP server's dispatcher
 * thread accepting): -c names it by the first Java method above the socket
 * layers (java.net, java.nio, sun.nio.ch), not by sun.nio.ch.Net.accept;
 * the client, called from the program's main, by main. */
Test(jit, a_connection_the_jdk_makes_is_named_above_its_socket_layers)
{
	static char javas[8][PATH_MAX];
	size_t njavas;
	jit_javas(javas, 8, &njavas);
	if (njavas == 0)
		cr_skip_test("no java");
	h_write_in(dir, "Serve.java",
		  "import com.sun.net.httpserver.HttpServer;\n"
		  "import java.net.*;\n"
		  "import java.net.http.*;\n"
		  "public class Serve {\n"
		  "    public static void main(String[] a) throws Exception {\n"
		  "        HttpServer s = HttpServer.create(new InetSocketAddress(InetAddress.getByName(\"127.0.0.1\"), 0), 0);\n"
		  "        s.createContext(\"/\", x -> {\n"
		  "            byte[] b = \"hi\".getBytes();\n"
		  "            x.sendResponseHeaders(200, b.length);\n"
		  "            x.getResponseBody().write(b);\n"
		  "            x.close();\n"
		  "        });\n"
		  "        s.start();\n"
		  "        HttpClient c = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();\n"
		  "        URI u = URI.create(\"http://127.0.0.1:\" + s.getAddress().getPort() + \"/\");\n"
		  "        System.out.println(c.send(HttpRequest.newBuilder(u).build(), HttpResponse.BodyHandlers.ofString()).body());\n"
		  "        s.stop(0);\n"
		  "    }\n"
		  "}\n");
	char src[256];
	snprintf(src, sizeof src, "%s/Serve.java", dir);
	const char *argv[] = {launcher, "-q", "-k", "48", "-o", trace, javas[0], src, NULL};
	static struct h_run r;
	cr_assert_eq(h_run(&r, NULL, argv, NULL, 90), 0, "%s", r.err);
	jit_forget_maps();
	const char *argv_c[] = {dump, "-c", "-n", "--json", trace, NULL};
	cr_assert_eq(h_run(&r, NULL, argv_c, NULL, 60), 0, "%s", r.err);
	cr_expect_not_null(strstr(r.out, "\"top\":\"Serve.main\"}"), "%s", r.out);
	cr_expect_not_null(strstr(r.out, "\"top\":\"sun.net.httpserver.ServerImpl$Dispatcher.run\"}"),
			   "%s", r.out);
}
