/*
 * Python frames in the stacks (issue 19): Debian's CPython 3.11 under the
 * shim with SOCKTRACE_BACKTRACE, each script a file of its own in the test's
 * directory, so that the frames can only be named from the interpreter's
 * memory.  Skipped where /usr/bin/python3 is not 3.11.
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>
#include <signal.h>
#include <sys/wait.h>
#include <glob.h>
#include <stdlib.h>
#include <unistd.h>

#include "harness.h"

static char dir[64], trace[128], dump[256];

static void setup(void)
{
	h_tmpdir(dir, sizeof dir);
	snprintf(trace, sizeof trace, "%s/py.trace", dir);
	h_path(dump, sizeof dump, "socktrace-dump");
}

static void teardown(void)
{
	h_rmdir(dir);
}

TestSuite(python, .init = setup, .fini = teardown, .timeout = 90);

static void py_need_311(void)
{
	static struct h_run r;
	const char *argv[] = {"/usr/bin/python3", "-c",
			      "import sys; print(sys.version_info[:2] == (3, 11))", NULL};
	if (h_run(&r, NULL, argv, NULL, 30) != 0 || strncmp(r.out, "True", 4) != 0)
		cr_skip_test("/usr/bin/python3 is not CPython 3.11");
}

/* Runs dir/main.py with interp under the shim, stacks of depth (NULL: none). */
static void py_run_with(const char *interp, const char *depth)
{
	char main_py[256], env_bt[64];
	snprintf(main_py, sizeof main_py, "%s/main.py", dir);
	snprintf(env_bt, sizeof env_bt, "SOCKTRACE_BACKTRACE=%s", depth ? depth : "0");
	const char *argv[] = {interp, main_py, dir, NULL};
	const char *env[] = {env_bt, NULL};
	static struct h_run r;
	unlink(trace);
	cr_assert_eq(h_run(&r, trace, argv, env, 60), 0, "%s: %s%s", interp, r.out, r.err);
}

static void py_run(const char *depth)
{
	py_run_with("/usr/bin/python3", depth);
}

/* Runs dir/main.py with interp under socktrace --ptrace, stacks of depth. */
static void py_run_traced_with(const char *interp, const char *depth)
{
	char main_py[256], launcher[256];
	snprintf(main_py, sizeof main_py, "%s/main.py", dir);
	h_path(launcher, sizeof launcher, "socktrace");
	const char *argv[] = {launcher, "-q", "--ptrace", "-k", depth, "-o", trace,
			      interp, main_py, dir, NULL};
	static struct h_run r;
	unlink(trace);
	cr_assert_eq(h_run(&r, NULL, argv, NULL, 60), 0, "%s: %s%s", interp, r.out, r.err);
}

static void py_run_traced(const char *depth)
{
	py_run_traced_with("/usr/bin/python3", depth);
}

static const char *py_dump(const char *view, const char *more)
{
	static struct h_run r;
	const char *argv[] = {dump, "-n", view, more ? more : trace, more ? trace : NULL, NULL};
	cr_assert_eq(h_run(&r, NULL, argv, NULL, 60), 0, "%s", r.err);
	return r.out;
}

/* The first event with call and its stack, into buf. */
static const char *py_stack_of(const char *out, const char *call, char *buf, size_t size)
{
	h_event_text(out, call, buf, size);
	return buf;
}

/* needles in this order, each after the one before */
static void py_in_order(const char *text, const char *const *needles)
{
	const char *at = text;
	for (size_t i = 0; needles[i]; i++) {
		const char *p = strstr(at, needles[i]);
		cr_assert_not_null(p, "\"%s\" missing (or out of order) in\n%s", needles[i], text);
		at = p + strlen(needles[i]);
	}
}

static const char *const py_read_minors[] = {"3.11", "3.11-dbg", "3.12", "3.13", "3.14", "3.15", NULL};
static const char *const py_older_minors[] = {"3.8", "3.9", "3.10", NULL};

/* More interpreters to test, named in $SOCKTRACE_TEST_PYTHONS (a list
 * separated by ':', as PATH: one not installed in the usual places, e.g.
 * another distribution's CPython run with its own loader), appended to out
 * when with_extra; how many in out. */
static size_t py_extra(char out[][256], size_t n, size_t max)
{
	const char *env = getenv("SOCKTRACE_TEST_PYTHONS");
	for (const char *p = env; p && *p && n < max;) {
		size_t len = strcspn(p, ":");
		if (len > 0 && len < 256) {
			memcpy(out[n], p, len);
			out[n][len] = '\0';
			if (access(out[n], X_OK) == 0)
				n++;
		}
		p += len + (p[len] == ':');
	}
	return n;
}

/* The CPython interpreters installed here whose minor version is one of
 * minors (Debian's in /usr/bin, /usr/local's, pyenv's), one per file, into
 * out, then those of $SOCKTRACE_TEST_PYTHONS when with_extra; how many. */
static size_t py_installed_with(const char *const *minors, bool with_extra, char out[][256],
				size_t max)
{
	const char *home = getenv("HOME");
	char pyenv[200];
	snprintf(pyenv, sizeof pyenv, "%s/.pyenv/versions/*/bin", home ? home : "/root");
	const char *const dirs[] = {"/usr/bin", "/usr/local/bin", pyenv};
	size_t n = 0;
	for (size_t d = 0; d < 3; d++)
		for (size_t m = 0; minors[m]; m++) {
			char pattern[320];
			glob_t g;
			snprintf(pattern, sizeof pattern, "%s/python%s", dirs[d], minors[m]);
			if (glob(pattern, 0, NULL, &g) != 0)
				continue;
			for (size_t i = 0; i < g.gl_pathc && n < max; i++)
				if (access(g.gl_pathv[i], X_OK) == 0)
					snprintf(out[n++], 256, "%s", g.gl_pathv[i]);
			globfree(&g);
		}
	return with_extra ? py_extra(out, n, max) : n;
}

/* $SOCKTRACE_TEST_PYTHONS are versions socktrace reads: added to those,
 * never to the older ones. */
static size_t py_installed(const char *const *minors, char out[][256], size_t max)
{
	return py_installed_with(minors, minors == py_read_minors, out, max);
}


/* Builds dir/NAME.c into the extension module NAME. */
static void py_build_extension(const char *name)
{
	if (access("/usr/include/python3.11/Python.h", R_OK) != 0)
		cr_skip_test("no python3.11-dev headers to build the extension");
	char cmd[1024];
	snprintf(cmd, sizeof cmd,
		 "cc -shared -fPIC -O1 -g -I/usr/include/python3.11 -o %s/%s%s %s/%s.c", dir, name,
		 ".cpython-311-x86_64-linux-gnu.so", dir, name);
	const char *argv[] = {"/bin/sh", "-c", cmd, NULL};
	static struct h_run r;
	cr_assert_eq(h_run(&r, NULL, argv, NULL, 60), 0, "%s", r.err);
}

static const char py_lib[] =
	"import socket\n"
	"def dial(port):\n"
	"    return socket.create_connection(('127.0.0.1', port))\n"
	"def middle(port):\n"
	"    return dial(port)\n"
	"def outer(port):\n"
	"    return middle(port)\n";

static const char py_main_deep[] =
	"import socket, sys\n"
	"sys.path.insert(0, sys.argv[1])\n"
	"import mylib\n"
	"s = socket.create_server(('127.0.0.1', 0))\n"
	"c = mylib.outer(s.getsockname()[1])\n"
	"c.close(); s.close()\n";

/* The lines of py_lib's three functions, as the text view shows them. */
static void py_deep_lines(char want[3][300])
{
	snprintf(want[0], 300, "at dial (%s/mylib.py:3) [py]", dir);
	snprintf(want[1], 300, "at middle (%s/mylib.py:5) [py]", dir);
	snprintf(want[2], 300, "at outer (%s/mylib.py:7) [py]", dir);
}

/* The first connect's stack holds them in order, after socket.py's frame
 * and before the module's. */
static void py_deep_stack(char want[3][300], char *stack, size_t size)
{
	const char *const order[] = {"at create_connection (", "/socket.py:", want[0],
				     want[1], want[2], "at <module> (", NULL};
	py_in_order(py_stack_of(py_dump("-n", NULL), " connect(", stack, size), order);
}

/* A connect three functions deep in a file of its own: each function with
 * its file and line, innermost first, after the standard library's frame
 * that called connect(); -c and --otlp name the program's own innermost
 * frame, not socket.py's. */
Test(python, a_connect_three_functions_deep_names_each_line)
{
	py_need_311();
	h_write_in(dir, "mylib.py", py_lib);
	h_write_in(dir, "main.py", py_main_deep);
	py_run("16");
	char want[3][300], stack[8192];
	py_deep_lines(want);
	py_deep_stack(want, stack, sizeof stack);
	const char *rows = py_dump("-c", NULL);
	cr_assert_not_null(strstr(rows, "  dial / -"), "%s", rows);
	const char *otlp = py_dump("--otlp", NULL);
	cr_assert_not_null(strstr(otlp, "\"code.function\",\"value\":{\"stringValue\":\"dial\"}"),
			   "%s", otlp);
	cr_assert_not_null(strstr(otlp, "\"code.lineno\",\"value\":{\"intValue\":\"3\"}"), "%s",
			   otlp);
	/* the report: the code cell names dial, the whole stack a click away */
	char html[160];
	snprintf(html, sizeof html, "%s/r.html", dir);
	py_dump("--html", html);
	FILE *f = fopen(html, "r");
	cr_assert_not_null(f);
	static char page[1 << 20];
	page[fread(page, 1, sizeof page - 1, f)] = '\0';
	fclose(f);
	const char *cell = strstr(page, "<details><summary>dial</summary><pre>");
	cr_assert_not_null(cell, "no code cell with a stack");
	const char *cell_order[] = {want[0], want[1], want[2], "</pre></details>", NULL};
	py_in_order(cell, cell_order);
}

/* A file name that is not ASCII (a Latin-1 str inside CPython) is written
 * as UTF-8; one beyond Latin-1 (UCS-2) is "?", its frame and line kept. */
Test(python, file_names_beyond_ascii_are_utf8)
{
	py_need_311();
	h_write_in(dir, "caf\xc3\xa9.py", py_lib);
	h_write_in(dir, "\xe6\x97\xa5.py", py_lib);
	h_write_in(dir, "main.py",
		 "import socket, sys, importlib\n"
		 "sys.path.insert(0, sys.argv[1])\n"
		 "latin = importlib.import_module('caf\xc3\xa9')\n"
		 "wide = importlib.import_module('\xe6\x97\xa5')\n"
		 "s = socket.create_server(('127.0.0.1', 0), backlog=4)\n"
		 "latin.dial(s.getsockname()[1]).close()\n"
		 "wide.dial(s.getsockname()[1]).close()\n");
	py_run("16");
	const char *out = py_dump("-n", NULL);
	char want[300];
	snprintf(want, sizeof want, "at dial (%s/caf\xc3\xa9.py:3) [py]", dir);
	cr_assert_not_null(strstr(out, want), "%s", out);
	cr_assert_not_null(strstr(out, "at dial (?:3) [py]"), "%s", out);
}

/* A connect 300 calls deep: the innermost Python frames up to what an
 * event holds, each named (the frame stack read in one piece covers the
 * top of it, the rest frame by frame), with the innermost native frames. */
Test(python, a_deep_recursion_keeps_its_innermost_frames)
{
	py_need_311();
	h_write_in(dir, "main.py",
		 "import socket, sys\n"
		 "sys.setrecursionlimit(2000)\n"
		 "def down(k, port):\n"
		 "    if k == 0:\n"
		 "        return socket.create_connection(('127.0.0.1', port))\n"
		 "    return down(k - 1, port)\n"
		 "s = socket.create_server(('127.0.0.1', 0))\n"
		 "down(300, s.getsockname()[1]).close()\n");
	py_run("16");
	char stack[16384], want[300];
	snprintf(want, sizeof want, "at down (%s/main.py:6) [py]", dir);
	py_stack_of(py_dump("-n", NULL), " connect(", stack, sizeof stack);
	size_t downs = 0;
	for (const char *p = stack; (p = strstr(p, want)) != NULL; p++)
		downs++;
	/* 64 slots: 16 native frames at most, then two slots a Python frame */
	cr_assert_geq(downs, 10, "%zu frames of down:\n%s", downs, stack);
	cr_assert_null(strstr(stack, "?? (?)"), "%s", stack);
	char first[300];
	snprintf(first, sizeof first, "at down (%s/main.py:5) [py]", dir);
	cr_assert_not_null(strstr(stack, first), "%s", stack);
}

/* A stack too short to show the interpreter's frame: the Python frames are
 * read by system call, and come after the native ones, still named. */
Test(python, a_short_native_stack_still_names_python_frames)
{
	py_need_311();
	h_write_in(dir, "mylib.py", py_lib);
	h_write_in(dir, "main.py", py_main_deep);
	py_run("2");
	char want[3][300], stack[8192];
	snprintf(want[0], sizeof want[0], "at dial (%s/mylib.py:3) [py]", dir);
	snprintf(want[1], sizeof want[1], "at middle (%s/mylib.py:5) [py]", dir);
	snprintf(want[2], sizeof want[2], "at outer (%s/mylib.py:7) [py]", dir);
	const char *const order[] = {want[0], want[1], want[2], NULL};
	py_in_order(py_stack_of(py_dump("-n", NULL), " connect(", stack, sizeof stack), order);
}

/* A C signal handler that calls getsockname every 200 us while the
 * interpreter makes and drops thousands of functions (code objects freed
 * all the time): the handler's stacks go through libc's signal frame, so
 * their Python frames are read by system call, never as memory that may be
 * being freed.  The program runs to its end, its events recorded. */
Test(python, a_signal_handlers_calls_while_code_is_freed_never_fault)
{
	py_need_311();
	h_write_in(dir, "sigdial.c",
		   "#define PY_SSIZE_T_CLEAN\n"
		   "#include <Python.h>\n"
		   "#include <signal.h>\n"
		   "#include <sys/socket.h>\n"
		   "#include <sys/time.h>\n"
		   "static int fd = -1;\n"
		   "static volatile long calls;\n"
		   "static void on_alarm(int sig)\n"
		   "{\n"
		   "\t(void)sig;\n"
		   "\tstruct sockaddr_storage ss;\n"
		   "\tsocklen_t len = sizeof ss;\n"
		   "\tgetsockname(fd, (struct sockaddr *)&ss, &len);\n"
		   "\tcalls++;\n"
		   "}\n"
		   "static PyObject *start(PyObject *self, PyObject *arg)\n"
		   "{\n"
		   "\tfd = (int)PyLong_AsLong(arg);\n"
		   "\tstruct sigaction sa = {.sa_handler = on_alarm, .sa_flags = SA_RESTART};\n"
		   "\tsigaction(SIGALRM, &sa, 0);\n"
		   "\tstruct itimerval it = {{0, 200}, {0, 200}};\n"
		   "\tsetitimer(ITIMER_REAL, &it, 0);\n"
		   "\tPy_RETURN_NONE;\n"
		   "}\n"
		   "static PyObject *stop(PyObject *self, PyObject *arg)\n"
		   "{\n"
		   "\tstruct itimerval it = {{0, 0}, {0, 0}};\n"
		   "\tsetitimer(ITIMER_REAL, &it, 0);\n"
		   "\treturn PyLong_FromLong(calls);\n"
		   "}\n"
		   "static PyMethodDef m[] = {{\"start\", start, METH_O, 0}, {\"stop\", stop, METH_NOARGS, 0}, {0}};\n"
		   "static struct PyModuleDef d = {PyModuleDef_HEAD_INIT, \"sigdial\", 0, -1, m};\n"
		   "PyMODINIT_FUNC PyInit_sigdial(void) { return PyModule_Create(&d); }\n");
	py_build_extension("sigdial");
	h_write_in(dir, "main.py",
		   "import socket, sys, time\n"
		   "sys.path.insert(0, sys.argv[1])\n"
		   "import sigdial\n"
		   "s = socket.create_server(('127.0.0.1', 0))\n"
		   "sigdial.start(s.fileno())\n"
		   "end = time.monotonic() + 1.0\n"
		   "k = 0\n"
		   "while time.monotonic() < end and k < 200000:\n"
		   "    exec(compile('def f%d(x):\\n    return [x + i for i in range(3)]\\nf%d(1)' % (k, k), 'gen', 'exec'), {})\n"
		   "    k += 1\n"
		   "print(sigdial.stop(), k)\n");
	py_run("16");
	struct st_trace t;
	h_load(&t, trace);
	size_t names = h_count(&t, ST_OP_GETSOCKNAME, 0);
	cr_assert_gt(names, 100, "%zu getsockname events from the handler", names);
	st_trace_free(&t);
}

/* A program that loads libpython itself, RTLD_LOCAL, as plugins do: CPython
 * is found in the library's own symbol table when the module scan first
 * sees it, and its frames are named. */
Test(python, an_embedded_interpreter_loaded_later_is_found)
{
	if (access("/usr/lib/x86_64-linux-gnu/libpython3.11.so.1.0", R_OK) != 0)
		cr_skip_test("no libpython3.11");
	h_write_in(dir, "emb.py",
		   "import socket\n"
		   "def embedded_dial(port):\n"
		   "    return socket.create_connection(('127.0.0.1', port))\n"
		   "s = socket.create_server(('127.0.0.1', 0), backlog=4)\n"
		   "for _ in range(3):\n"
		   "    embedded_dial(s.getsockname()[1]).close()\n");
	char prog[256], script[256];
	h_path(prog, sizeof prog, "progs/pyembed");
	snprintf(script, sizeof script, "%s/emb.py", dir);
	const char *argv[] = {prog, script, NULL};
	const char *env[] = {"SOCKTRACE_BACKTRACE=16", NULL};
	static struct h_run r;
	unlink(trace);
	cr_assert_eq(h_run(&r, trace, argv, env, 60), 0, "%s%s", r.out, r.err);
	char want[300];
	snprintf(want, sizeof want, "at embedded_dial (%s:3) [py]", script);
	const char *out = py_dump("-n", NULL);
	size_t named = 0;
	for (const char *p = out; (p = strstr(p, want)) != NULL; p++)
		named++;
	cr_assert_eq(named, 3, "%zu of 3 connects named:\n%s", named, out);
}

/* Connections made while the interpreter shuts down (an atexit function,
 * a finalizer run at exit) are recorded with their frames; nothing faults
 * while the state is torn down. */
Test(python, connects_during_interpreter_shutdown_are_safe)
{
	char interps[16][256];
	size_t n = py_installed(py_read_minors, interps, 16);
	if (n == 0)
		cr_skip_test("no CPython 3.11 to 3.15 installed");
	h_write_in(dir, "main.py",
		   "import atexit, socket\n"
		   "s = socket.create_server(('127.0.0.1', 0), backlog=8)\n"
		   "port = s.getsockname()[1]\n"
		   "def at_exit_dial():\n"
		   "    socket.create_connection(('127.0.0.1', port)).close()\n"
		   "atexit.register(at_exit_dial)\n"
		   "class Late:\n"
		   "    def __del__(self):\n"
		   "        socket.create_connection(('127.0.0.1', port)).close()\n"
		   "keep = Late()\n");
	for (size_t i = 0; i < n; i++) {
		cr_log_info("%s", interps[i]);
		py_run_with(interps[i], "16");
		char want[300];
		snprintf(want, sizeof want, "at at_exit_dial (%s/main.py:5) [py]", dir);
		const char *out = py_dump("-n", NULL);
		cr_assert_not_null(strstr(out, want), "%s: %s", interps[i], out);
		struct st_trace t;
		h_load(&t, trace);
		cr_assert_geq(h_count(&t, ST_OP_CONNECT, 0), 1);
		st_trace_free(&t);
	}
}

/* Without stacks nothing of Python is read or written. */
Test(python, without_stacks_no_python_is_read)
{
	py_need_311();
	h_write_in(dir, "mylib.py", py_lib);
	h_write_in(dir, "main.py", py_main_deep);
	py_run(NULL);
	struct st_trace t;
	h_load(&t, trace);
	cr_assert_eq(t.npycodes, 0, "%zu code records", t.npycodes);
	cr_assert_gt(h_count(&t, ST_OP_CONNECT, 0), 0);
	st_trace_free(&t);
}

/* Each thread's connect names its own thread's function: the thread state
 * is found by thread, not taken from whoever holds the GIL. */
static const char py_main_threads[] =
	"import socket, sys, threading\n"
	"sys.path.insert(0, sys.argv[1])\n"
	"import mylib\n"
	"s = socket.create_server(('127.0.0.1', 0), backlog=16)\n"
	"port = s.getsockname()[1]\n"
	"go = threading.Barrier(4)\n"
	"def t0(): go.wait(); mylib.dial(port).close()\n"
	"def t1(): go.wait(); mylib.dial(port).close()\n"
	"def t2(): go.wait(); mylib.dial(port).close()\n"
	"def t3(): go.wait(); mylib.dial(port).close()\n"
	"ts = [threading.Thread(target=f) for f in (t0, t1, t2, t3)]\n"
	"[t.start() for t in ts]; [t.join() for t in ts]\n";

/* Four threads' connects: each stack names its own thread's function, and
 * each function once. */
static void py_threads_check(void)
{
	const char *out = py_dump("-n", NULL);
	bool seen[4] = {false};
	const char *at = out;
	for (int k = 0; k < 4; k++) {
		char stack[8192];
		const char *ev = strstr(at, " connect(");
		cr_assert_not_null(ev, "only %d connects in\n%s", k, out);
		py_stack_of(ev, " connect(", stack, sizeof stack);
		int named = -1;
		for (int i = 0; i < 4; i++) {
			char fn[160];
			snprintf(fn, sizeof fn, "at t%d (%s/main.py:%d) [py]", i, dir, 7 + i);
			if (strstr(stack, fn)) {
				cr_assert_eq(named, -1, "two threads' functions in one stack:\n%s", stack);
				named = i;
			}
		}
		cr_assert_geq(named, 0, "no thread function in\n%s", stack);
		cr_assert(!seen[named], "t%d named twice", named);
		seen[named] = true;
		at = ev + 1;
	}
}

Test(python, threads_each_name_their_own_frames)
{
	py_need_311();
	h_write_in(dir, "mylib.py", py_lib);
	h_write_in(dir, "main.py", py_main_threads);
	py_run("16");
	py_threads_check();
}

/* The ptrace tracer (socktrace --ptrace, -p) reads the same frames from the
 * stopped program's memory: the thread matched by its native thread id,
 * CPython found in the program's objects. */
Test(python, under_the_tracer_a_connect_names_each_line)
{
	py_need_311();
	h_write_in(dir, "mylib.py", py_lib);
	h_write_in(dir, "main.py", py_main_deep);
	py_run_traced("16");
	char want[3][300], stack[8192];
	py_deep_lines(want);
	py_deep_stack(want, stack, sizeof stack);
	const char *rows = py_dump("-c", NULL);
	cr_assert_not_null(strstr(rows, "  dial / -"), "%s", rows);
}

Test(python, under_the_tracer_threads_each_name_their_own_frames)
{
	py_need_311();
	h_write_in(dir, "mylib.py", py_lib);
	h_write_in(dir, "main.py", py_main_threads);
	py_run_traced("16");
	py_threads_check();
}

/* Every CPython build installed that socktrace reads (Debian's 3.11 release
 * and debug builds, 3.12, and 3.13 and 3.14 through their debug offsets tables, from
 * /usr or pyenv): the same lines under the shim and under the tracer. */
Test(python, every_installed_cpython_names_its_lines)
{
	h_write_in(dir, "mylib.py", py_lib);
	h_write_in(dir, "main.py", py_main_deep);
	char interps[16][256], want[3][300], stack[8192];
	size_t n = py_installed(py_read_minors, interps, 16);
	if (n == 0)
		cr_skip_test("no CPython 3.11 to 3.15 installed");
	py_deep_lines(want);
	for (size_t i = 0; i < n; i++) {
		cr_log_info("%s", interps[i]);
		py_run_with(interps[i], "16");
		py_deep_stack(want, stack, sizeof stack);
		py_run_traced_with(interps[i], "16");
		py_deep_stack(want, stack, sizeof stack);
	}
}

/* Threads, each stack naming its own thread's function, in every version:
 * the thread states are found through each version's own layout. */
Test(python, every_installed_cpython_names_each_threads_frames)
{
	h_write_in(dir, "mylib.py", py_lib);
	h_write_in(dir, "main.py", py_main_threads);
	char interps[16][256];
	size_t n = py_installed(py_read_minors, interps, 16);
	if (n == 0)
		cr_skip_test("no CPython 3.11 to 3.15 installed");
	for (size_t i = 0; i < n; i++) {
		cr_log_info("%s", interps[i]);
		py_run_with(interps[i], "16");
		py_threads_check();
		py_run_traced_with(interps[i], "16");
		py_threads_check();
	}
}

static const char py_main_asyncio[] =
	"import asyncio, socket\n"
	"async def fetch(port):\n"
	"    r, w = await asyncio.open_connection('127.0.0.1', port)\n"
	"    w.close()\n"
	"    await w.wait_closed()\n"
	"s = socket.create_server(('127.0.0.1', 0))\n"
	"asyncio.run(fetch(s.getsockname()[1]))\n";

/* A coroutine's frame (owned by its generator, off the thread's frame
 * stack) named in every version, with the frames of the event loop that
 * runs it. */
Test(python, every_installed_cpython_names_a_coroutine)
{
	h_write_in(dir, "main.py", py_main_asyncio);
	char interps[16][256], stack[8192], want[300];
	size_t n = py_installed(py_read_minors, interps, 16);
	if (n == 0)
		cr_skip_test("no CPython 3.11 to 3.15 installed");
	snprintf(want, sizeof want, "at fetch (%s/main.py:3) [py]", dir);
	const char *const order[] = {"[py]", want, NULL};
	for (size_t i = 0; i < n; i++) {
		cr_log_info("%s", interps[i]);
		py_run_with(interps[i], "48");
		py_in_order(py_stack_of(py_dump("-n", NULL), " connect(", stack, sizeof stack), order);
		py_run_traced_with(interps[i], "48");
		py_in_order(py_stack_of(py_dump("-n", NULL), " connect(", stack, sizeof stack), order);
	}
}

/* A CPython socktrace does not read (3.10 and older: no Py_Version) runs
 * as before with native frames only, and says so once, under the shim and
 * under the tracer. */
Test(python, an_older_cpython_says_once_that_it_shows_native_frames)
{
	h_write_in(dir, "mylib.py", py_lib);
	h_write_in(dir, "main.py", py_main_deep);
	char interps[16][256], main_py[256], launcher[256];
	size_t n = py_installed(py_older_minors, interps, 16);
	if (n == 0)
		cr_skip_test("no CPython 3.8 to 3.10 installed");
	snprintf(main_py, sizeof main_py, "%s/main.py", dir);
	h_path(launcher, sizeof launcher, "socktrace");
	for (size_t i = 0; i < n; i++) {
		static struct h_run r;
		const char *shim_argv[] = {interps[i], main_py, dir, NULL};
		const char *env[] = {"SOCKTRACE_BACKTRACE=16", NULL};
		const char *traced_argv[] = {launcher, "-q", "--ptrace", "-k", "16", "-o", trace,
					     interps[i], main_py, dir, NULL};
		for (int traced = 0; traced < 2; traced++) {
			unlink(trace);
			int rc = traced ? h_run(&r, NULL, traced_argv, NULL, 60)
					: h_run(&r, trace, shim_argv, env, 60);
			cr_assert_eq(rc, 0, "%s: %s", interps[i], r.err);
			const char *said = strstr(r.err, "older than 3.11");
			cr_assert_not_null(said, "%s said nothing: %s", interps[i], r.err);
			cr_assert_null(strstr(said + 1, "older than 3.11"), "said twice: %s", r.err);
			const char *out = py_dump("-n", NULL);
			cr_assert_not_null(strstr(out, " connect("), "%s", out);
			cr_assert_not_null(strstr(out, "at sock_connect"), "%s", out);
			cr_assert_null(strstr(out, "[py]"), "%s", out);
		}
	}
}

/* socktrace -p on a Python program already running: it is told to start
 * dialling (SIGUSR1, passed on by the tracer) only once attached, and exits
 * by itself; every connect it made names its three functions. */
Test(python, an_attached_program_names_its_lines)
{
	py_need_311();
	h_write_in(dir, "mylib.py", py_lib);
	h_write_in(dir, "main.py",
		 "import signal, socket, sys\n"
		 "sys.path.insert(0, sys.argv[1])\n"
		 "import mylib\n"
		 "s = socket.create_server(('127.0.0.1', 0), backlog=64)\n"
		 "signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGUSR1])\n"
		 "print('ready', flush=True)\n"
		 "signal.sigtimedwait([signal.SIGUSR1], 30)\n"
		 "for i in range(5):\n"
		 "    c = mylib.outer(s.getsockname()[1]); a, _ = s.accept(); c.close(); a.close()\n"
		 "print('done', flush=True)\n");
	char main_py[256], launcher[256], pidarg[16];
	static char out[4096], tout[4096];
	snprintf(main_py, sizeof main_py, "%s/main.py", dir);
	h_path(launcher, sizeof launcher, "socktrace");
	int fd, tfd, status;
	const char *argv[] = {"/usr/bin/python3", main_py, dir, NULL};
	pid_t py = h_spawn(argv, &fd);
	cr_assert(h_read_until(fd, "ready\n", out, sizeof out), "%s", out);
	snprintf(pidarg, sizeof pidarg, "%d", (int)py);
	const char *attach[] = {launcher, "-p", pidarg, "-k", "16", "-o", trace, NULL};
	pid_t tracer = h_spawn(attach, &tfd);
	cr_assert(h_read_until(tfd, "attached to 1 process", tout, sizeof tout), "%s", tout);
	kill(py, SIGUSR1);
	cr_assert(h_read_until(fd, "done\n", out, sizeof out), "%s", out);
	cr_assert(h_read_until(tfd, "\n", tout, sizeof tout));
	for (int i = 0; i < 300 && waitpid(tracer, &status, WNOHANG) == 0; i++)
		usleep(100000); /* the program exits: the tracer ends (30 s at most) */
	waitpid(py, &status, 0);
	char want[3][300], stack[8192];
	py_deep_lines(want);
	py_deep_stack(want, stack, sizeof stack);
	const char *all = py_dump("-n", NULL);
	cr_assert_eq(h_occurrences(all, want[2]), 5, "%s", all);
}

/* A forked child records its own code objects, even those its parent
 * recorded before the fork (records name a code object of one process):
 * the child's connect, made by the function the parent called too, is
 * named. */
Test(python, a_forked_child_names_its_frames)
{
	char interps[16][256];
	size_t n = py_installed(py_read_minors, interps, 16);
	if (n == 0)
		cr_skip_test("no CPython 3.11 to 3.15 installed");
	h_write_in(dir, "main.py",
		 "import os, socket\n"
		 "def dial_once(port):\n"
		 "    socket.create_connection(('127.0.0.1', port)).close()\n"
		 "s = socket.create_server(('127.0.0.1', 0), backlog=4)\n"
		 "dial_once(s.getsockname()[1])\n"
		 "pid = os.fork()\n"
		 "if pid == 0:\n"
		 "    dial_once(s.getsockname()[1])\n"
		 "    os._exit(0)\n"
		 "os.waitpid(pid, 0)\n");
	for (size_t i = 0; i < n; i++) {
		cr_log_info("%s", interps[i]);
		py_run_with(interps[i], "16");
		const char *out = py_dump("-n", NULL);
		const char *first = strstr(out, " connect(");
		cr_assert_not_null(first, "%s: %s", interps[i], out);
		char stack[8192], want[300];
		snprintf(want, sizeof want, "at dial_once (%s/main.py:3) [py]", dir);
		const char *const order[] = {want, NULL};
		py_in_order(py_stack_of(first + 1, " connect(", stack, sizeof stack), order);
		cr_assert(strncmp(stack, " connect(", 9) == 0);
	}
}

/* urllib's connect: the program's own function is the code -c names. */
Test(python, urllib_names_the_programs_own_function)
{
	py_need_311();
	h_write_in(dir, "main.py",
		 "import http.server, threading, urllib.request\n"
		 "class H(http.server.BaseHTTPRequestHandler):\n"
		 "    def do_GET(self):\n"
		 "        self.send_response(200); self.end_headers(); self.wfile.write(b'ok')\n"
		 "    def log_message(self, *a): pass\n"
		 "srv = http.server.HTTPServer(('127.0.0.1', 0), H)\n"
		 "threading.Thread(target=srv.handle_request).start()\n"
		 "def get_config(url):\n"
		 "    return urllib.request.urlopen(url).read()\n"
		 "get_config('http://127.0.0.1:%d/' % srv.server_address[1])\n");
	py_run("32");
	char stack[16384], want[300];
	snprintf(want, sizeof want, "at get_config (%s/main.py:9) [py]", dir);
	const char *const order[] = {"(/usr/lib/python3.11/http/client.py:", want, NULL};
	py_in_order(py_stack_of(py_dump("-n", NULL), " connect(", stack, sizeof stack), order);
	const char *rows = py_dump("-c", NULL);
	/* the server is all library code: its innermost Python frame */
	cr_assert_not_null(strstr(rows, "  get_config / socket.accept"), "%s", rows);
}

/* A C extension's own connect (the GIL released around it, as every
 * extension does): the Python function that called into it is named, after
 * the extension's native frame. */
Test(python, a_c_extensions_connect_names_the_python_caller)
{
	py_need_311();
	h_write_in(dir, "dialext.c",
		 "#define PY_SSIZE_T_CLEAN\n"
		 "#include <Python.h>\n"
		 "#include <arpa/inet.h>\n"
		 "#include <unistd.h>\n"
		 "static PyObject *dial(PyObject *self, PyObject *arg)\n"
		 "{\n"
		 "\tlong port = PyLong_AsLong(arg);\n"
		 "\tint fd = socket(AF_INET, SOCK_STREAM, 0), r;\n"
		 "\tstruct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((unsigned short)port),\n"
		 "\t\t.sin_addr.s_addr = htonl(0x7f000001)};\n"
		 "\tPy_BEGIN_ALLOW_THREADS\n"
		 "\tr = connect(fd, (struct sockaddr *)&a, sizeof a);\n"
		 "\tPy_END_ALLOW_THREADS\n"
		 "\tclose(fd);\n"
		 "\treturn PyLong_FromLong(r);\n"
		 "}\n"
		 "static PyMethodDef m[] = {{\"dial\", dial, METH_O, 0}, {0}};\n"
		 "static struct PyModuleDef d = {PyModuleDef_HEAD_INIT, \"dialext\", 0, -1, m};\n"
		 "PyMODINIT_FUNC PyInit_dialext(void) { return PyModule_Create(&d); }\n");
	py_build_extension("dialext");
	h_write_in(dir, "main.py",
		 "import socket, sys\n"
		 "sys.path.insert(0, sys.argv[1])\n"
		 "import dialext\n"
		 "def via_extension(port):\n"
		 "    return dialext.dial(port)\n"
		 "s = socket.create_server(('127.0.0.1', 0))\n"
		 "assert via_extension(s.getsockname()[1]) == 0\n");
	py_run("16");
	char stack[8192], want[300];
	snprintf(want, sizeof want, "at via_extension (%s/main.py:5) [py]", dir);
	const char *const order[] = {"at dial+", "dialext", want, NULL};
	py_in_order(py_stack_of(py_dump("-n", NULL), " connect(", stack, sizeof stack), order);
}

/* The headers of CPython minor (Debian's python3.X-dev, else pyenv's) into
 * inc; false when none is installed. */
static bool py_headers(const char *minor, char *inc, size_t size)
{
	const char *home = getenv("HOME");
	char pattern[300];
	glob_t g;
	snprintf(inc, size, "/usr/include/python%s", minor);
	snprintf(pattern, sizeof pattern, "%s/internal/pycore_frame.h", inc);
	if (access(pattern, R_OK) == 0)
		return true;
	snprintf(pattern, sizeof pattern, "%s/.pyenv/versions/%s.*/include/python%s/internal/pycore_frame.h",
		 home ? home : "/root", minor, minor);
	if (glob(pattern, 0, NULL, &g) != 0) {
		/* $SOCKTRACE_TEST_PYINCLUDE: more include directories, ':' between */
		const char *env = getenv("SOCKTRACE_TEST_PYINCLUDE");
		for (const char *p = env; p && *p;) {
			int len = (int)strcspn(p, ":");
			snprintf(inc, size, "%.*s/python%s", len, p, minor);
			snprintf(pattern, sizeof pattern, "%s/internal/pycore_frame.h", inc);
			if (access(pattern, R_OK) == 0)
				return true;
			p += len + (p[len] == ':');
		}
		return false;
	}
	snprintf(inc, size, "%s", g.gl_pathv[0]);
	globfree(&g);
	*strstr(inc, "/internal/pycore_frame.h") = '\0';
	return true;
}

/* body compiled beside CPython minor's internal headers and
 * st_python_layout.h, with EQ(a, b) a static assertion. */
static void py_layout_check(const char *minor, const char *body)
{
	char inc[256], cmd[2048], cwd[512];
	if (!py_headers(minor, inc, sizeof inc))
		cr_skip_test("no CPython %s internal headers", minor);
	static char source[16384];
	int len = snprintf(source, sizeof source, "#define Py_BUILD_CORE 1\n"
				   "#include <Python.h>\n"
				   "#include <internal/pycore_frame.h>\n"
				   "#include <internal/pycore_runtime.h>\n"
				   "#include <internal/pycore_interp.h>\n"
				   "#include <stddef.h>\n"
				   "#include \"st_python_layout.h\"\n"
				   "#define EQ(a, b) _Static_assert((a) == (b), #a)\n"
				   "%s"
				   "int main(void) { return 0; }\n",
				   body);
	cr_assert(len > 0 && (size_t)len < sizeof source);
	h_write_in(dir, "layout.c", source);
	cr_assert_not_null(getcwd(cwd, sizeof cwd));
	/* the directory above too: Debian's pyconfig.h includes <x86_64-linux-gnu/pythonX.Y/...> */
	snprintf(cmd, sizeof cmd, "cc -fsyntax-only -I%s -I%s/.. -I%s/shim/core %s/layout.c", inc, inc,
		 cwd, dir);
	const char *argv[] = {"/bin/sh", "-c", cmd, NULL};
	static struct h_run r;
	cr_assert_eq(h_run(&r, NULL, argv, NULL, 60), 0, "%s", r.err);
}

/* what every version read shares */
#define PY_LAYOUT_COMMON                                                              \
	"EQ(offsetof(Py_tss_t, _is_initialized), ST_PY_TSS_INITIALIZED);\n"           \
	"EQ(offsetof(Py_tss_t, _key), ST_PY_TSS_KEY);\n"                              \
	"EQ(offsetof(_PyStackChunk, data), ST_PY_STACK_CHUNK_DATA);\n"                \
	"EQ(offsetof(PyVarObject, ob_size), ST_PY_BYTES_SIZE);\n"                     \
	"EQ(offsetof(PyBytesObject, ob_sval), ST_PY_BYTES_DATA);\n"                   \
	"EQ(offsetof(PyASCIIObject, length), ST_PY_STR_LENGTH);\n"                    \
	"EQ(offsetof(PyASCIIObject, state), ST_PY_STR_STATE);\n"                      \
	"EQ(FRAME_OWNED_BY_GENERATOR, ST_PY_OWNED_BY_GENERATOR);\n"

/* The offsets the shim reads CPython 3.11 with are the headers'. */
Test(python, the_layout_is_cpython_311s)
{
	py_layout_check("3.11",
		PY_LAYOUT_COMMON
		"EQ(offsetof(_PyRuntimeState, interpreters.head), ST_PY311_RUNTIME_INTERP_HEAD);\n"
		"EQ(offsetof(_PyRuntimeState, gilstate.autoTSSkey), ST_PY311_RUNTIME_AUTO_TSS);\n"
		"EQ(offsetof(PyInterpreterState, threads.head), ST_PY311_INTERP_THREADS_HEAD);\n"
		"EQ(offsetof(PyThreadState, next), ST_PY311_TSTATE_NEXT);\n"
		"EQ(offsetof(PyThreadState, cframe), ST_PY311_TSTATE_CFRAME);\n"
		"EQ(offsetof(PyThreadState, thread_id), ST_PY311_TSTATE_THREAD_ID);\n"
		"EQ(offsetof(PyThreadState, native_thread_id), ST_PY311_TSTATE_NATIVE_THREAD_ID);\n"
		"EQ(offsetof(PyThreadState, datastack_chunk), ST_PY311_TSTATE_DATASTACK_CHUNK);\n"
		"EQ(offsetof(PyThreadState, datastack_top), ST_PY311_TSTATE_DATASTACK_TOP);\n"
		"EQ(offsetof(_PyCFrame, current_frame), ST_PY311_CFRAME_CURRENT);\n"
		"EQ(offsetof(_PyInterpreterFrame, f_code), ST_PY311_FRAME_CODE);\n"
		"EQ(offsetof(_PyInterpreterFrame, previous), ST_PY311_FRAME_PREVIOUS);\n"
		"EQ(offsetof(_PyInterpreterFrame, prev_instr), ST_PY311_FRAME_PREV_INSTR);\n"
		"EQ(offsetof(_PyInterpreterFrame, is_entry), ST_PY311_FRAME_IS_ENTRY);\n"
		"EQ(offsetof(_PyInterpreterFrame, owner), ST_PY311_FRAME_OWNER);\n"
		"EQ(offsetof(PyCodeObject, co_firstlineno), ST_PY311_CODE_FIRSTLINENO);\n"
		"EQ(offsetof(PyCodeObject, co_filename), ST_PY311_CODE_FILENAME);\n"
		"EQ(offsetof(PyCodeObject, co_qualname), ST_PY311_CODE_QUALNAME);\n"
		"EQ(offsetof(PyCodeObject, co_linetable), ST_PY311_CODE_LINETABLE);\n"
		"EQ(offsetof(PyCodeObject, co_code_adaptive), ST_PY311_CODE_CODE);\n"
		"EQ(offsetof(PyCodeObject, _co_firsttraceable), ST_PY311_CODE_FIRSTTRACEABLE);\n"
		"EQ(sizeof(PyASCIIObject), ST_PY311_STR_ASCII_DATA);\n"
		"EQ(sizeof(PyCompactUnicodeObject), ST_PY311_STR_LATIN1_DATA);\n");
}

/* 3.12's, from its headers (pyenv's here: Debian bookworm has no 3.12). */
Test(python, the_layout_is_cpython_312s)
{
	py_layout_check("3.12",
		PY_LAYOUT_COMMON
		"EQ(offsetof(_PyRuntimeState, interpreters.head), ST_PY312_RUNTIME_INTERP_HEAD);\n"
		"EQ(offsetof(_PyRuntimeState, autoTSSkey), ST_PY312_RUNTIME_AUTO_TSS);\n"
		"EQ(offsetof(PyInterpreterState, threads.head), ST_PY312_INTERP_THREADS_HEAD);\n"
		"EQ(offsetof(PyThreadState, next), ST_PY312_TSTATE_NEXT);\n"
		"EQ(offsetof(PyThreadState, cframe), ST_PY312_TSTATE_CFRAME);\n"
		"EQ(offsetof(PyThreadState, thread_id), ST_PY312_TSTATE_THREAD_ID);\n"
		"EQ(offsetof(PyThreadState, native_thread_id), ST_PY312_TSTATE_NATIVE_THREAD_ID);\n"
		"EQ(offsetof(PyThreadState, datastack_chunk), ST_PY312_TSTATE_DATASTACK_CHUNK);\n"
		"EQ(offsetof(PyThreadState, datastack_top), ST_PY312_TSTATE_DATASTACK_TOP);\n"
		"EQ(offsetof(_PyCFrame, current_frame), ST_PY312_CFRAME_CURRENT);\n"
		"EQ(offsetof(_PyInterpreterFrame, f_code), ST_PY312_FRAME_CODE);\n"
		"EQ(offsetof(_PyInterpreterFrame, previous), ST_PY312_FRAME_PREVIOUS);\n"
		"EQ(offsetof(_PyInterpreterFrame, prev_instr), ST_PY312_FRAME_PREV_INSTR);\n"
		"EQ(offsetof(_PyInterpreterFrame, owner), ST_PY312_FRAME_OWNER);\n"
		"EQ(offsetof(PyCodeObject, co_firstlineno), ST_PY312_CODE_FIRSTLINENO);\n"
		"EQ(offsetof(PyCodeObject, co_filename), ST_PY312_CODE_FILENAME);\n"
		"EQ(offsetof(PyCodeObject, co_qualname), ST_PY312_CODE_QUALNAME);\n"
		"EQ(offsetof(PyCodeObject, co_linetable), ST_PY312_CODE_LINETABLE);\n"
		"EQ(offsetof(PyCodeObject, co_code_adaptive), ST_PY312_CODE_CODE);\n"
		"EQ(offsetof(PyCodeObject, _co_firsttraceable), ST_PY312_CODE_FIRSTTRACEABLE);\n"
		"EQ(sizeof(PyASCIIObject), ST_PY312_STR_ASCII_DATA);\n"
		"EQ(sizeof(PyCompactUnicodeObject), ST_PY312_STR_LATIN1_DATA);\n"
		"EQ(FRAME_OWNED_BY_CSTACK, ST_PY_OWNED_BY_CSTACK);\n");
}

/* A debug offsets table (3.13 and later): where each field read is in it
 * (P(FIELD): that version's ST_PYDBG*_FIELD), and the values derived from
 * it hold in the version's own structures. */
#define PY_LAYOUT_DEBUG_TABLE                                                         \
	"#define D(f) offsetof(_Py_DebugOffsets, f)\n"                               \
	"EQ(offsetof(_PyRuntimeState, debug_offsets), 0);\n"                         \
	"EQ(D(cookie), ST_PYDBG_COOKIE);\n"                                          \
	"EQ(D(version), ST_PYDBG_VERSION);\n"                                        \
	"EQ(D(free_threaded), ST_PYDBG_FREE_THREADED);\n"                            \
	"EQ(D(runtime_state.interpreters_head), P(RUNTIME_INTERP_HEAD));\n"          \
	"EQ(D(interpreter_state.threads_head), P(INTERP_THREADS_HEAD));\n"           \
	"EQ(D(thread_state.next), P(TSTATE_NEXT));\n"                                \
	"EQ(D(thread_state.current_frame), P(TSTATE_CURRENT_FRAME));\n"              \
	"EQ(D(thread_state.thread_id), P(TSTATE_THREAD_ID));\n"                      \
	"EQ(D(thread_state.native_thread_id), P(TSTATE_NATIVE_THREAD_ID));\n"        \
	"EQ(D(thread_state.datastack_chunk), P(TSTATE_DATASTACK_CHUNK));\n"          \
	"EQ(D(interpreter_frame.previous), P(FRAME_PREVIOUS));\n"                    \
	"EQ(D(interpreter_frame.executable), P(FRAME_EXECUTABLE));\n"                \
	"EQ(D(interpreter_frame.instr_ptr), P(FRAME_INSTR_PTR));\n"                  \
	"EQ(D(interpreter_frame.owner), P(FRAME_OWNER));\n"                          \
	"EQ(D(code_object.filename), P(CODE_FILENAME));\n"                           \
	"EQ(D(code_object.qualname), P(CODE_QUALNAME));\n"                           \
	"EQ(D(code_object.linetable), P(CODE_LINETABLE));\n"                         \
	"EQ(D(code_object.firstlineno), P(CODE_FIRSTLINENO));\n"                     \
	"EQ(D(code_object.co_code_adaptive), P(CODE_CODE));\n"                       \
	"EQ(D(bytes_object.ob_size), P(BYTES_SIZE));\n"                              \
	"EQ(D(bytes_object.ob_sval), P(BYTES_DATA));\n"                              \
	"EQ(D(unicode_object.state), P(STR_STATE));\n"                               \
	"EQ(D(unicode_object.length), P(STR_LENGTH));\n"                             \
	"EQ(D(unicode_object.asciiobject_size), P(STR_ASCII_SIZE));\n"               \
	"EQ(sizeof(_Py_DebugOffsets), P(SIZE));\n"                                   \
	"EQ(ST_PYDBG_READ >= sizeof(_Py_DebugOffsets), 1);\n"                        \
	"EQ(offsetof(PyThreadState, datastack_top) - offsetof(PyThreadState, datastack_chunk),"\
	" ST_PY313_DATASTACK_TOP_AFTER_CHUNK);\n"                                    \
	"EQ(offsetof(PyCodeObject, co_code_adaptive) - offsetof(PyCodeObject, _co_firsttraceable),"\
	" ST_PY313_FIRSTTRACEABLE_BEFORE_CODE);\n"                                   \
	"EQ(sizeof(PyCompactUnicodeObject) - sizeof(PyASCIIObject), ST_PY313_LATIN1_AFTER_ASCII);\n"

/* From 3.14: the table in a header of its own, and the frame's code a
 * tagged stack reference. */
#define PY_LAYOUT_STACKREF                                                            \
	"#include <internal/pycore_debug_offsets.h>\n"                               \
	"#include <internal/pycore_interpframe_structs.h>\n"                         \
	"#include <internal/pycore_stackref.h>\n"                                    \
	"EQ(Py_TAG_BITS, ST_PY314_STACKREF_TAG);\n"                                  \
	"EQ(FRAME_OWNED_BY_INTERPRETER, ST_PY_OWNED_BY_CSTACK);\n"

Test(python, the_debug_table_is_cpython_313s)
{
	py_layout_check("3.13", PY_LAYOUT_COMMON "#define P(x) ST_PYDBG_##x\n" PY_LAYOUT_DEBUG_TABLE
				"EQ(FRAME_OWNED_BY_CSTACK, ST_PY_OWNED_BY_CSTACK);\n");
}

/* Debian bookworm has neither 3.14 nor 3.15: $SOCKTRACE_TEST_PYINCLUDE names
 * their headers (forky's libpython3.1x-dev, unpacked: docs/TESTING.md). */
Test(python, the_debug_table_is_cpython_314s)
{
	py_layout_check("3.14", PY_LAYOUT_COMMON PY_LAYOUT_STACKREF "#define P(x) ST_PYDBG314_##x\n"
				PY_LAYOUT_DEBUG_TABLE
				"EQ(FRAME_OWNED_BY_CSTACK > ST_PY_OWNED_BY_CSTACK, 1);\n");
}

Test(python, the_debug_table_is_cpython_315s)
{
	py_layout_check("3.15", PY_LAYOUT_COMMON PY_LAYOUT_STACKREF "#define P(x) ST_PYDBG315_##x\n"
				PY_LAYOUT_DEBUG_TABLE);
}
