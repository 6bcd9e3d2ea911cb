/*
 * socktrace [-o FILE] [-k DEPTH] [-q] [--ptrace|--preload] [--] COMMAND [ARG...]
 * socktrace [-o FILE] [-k DEPTH] [-q] -p PID[,PID...]
 * Runs COMMAND with libsocktrace.so preloaded (or under the ptrace tracer,
 * tools/tracer/, when the loader cannot reach it), passes its exit status
 * through (128+N for a signal, like a shell) and sums the trace up on stderr.
 */
#define _GNU_SOURCE
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <glob.h>
#include <limits.h>
#include <time.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "../../shim/st_elf.h"
#include "../tracer/st_tracer.h"
#include "st_stream.h"
#include "st_trace.h"

enum st_way { ST_WAY_AUTO, ST_WAY_PRELOAD, ST_WAY_PTRACE };

struct st_launch {
	const char *output;
	const char *depth;
	const char *pids; /* -p */
	enum st_way way;
	bool quiet;
	char trace[PATH_MAX];
	char lib[PATH_MAX];
	char command[PATH_MAX];
};

static void st_usage(FILE *out)
{
	fputs("usage: socktrace [-o FILE] [-k DEPTH] [-q] [--ring] [--ptrace|--preload] [--] COMMAND [ARG...]\n"
	      "       socktrace [-o FILE] [-k DEPTH] [-q] -p PID[,PID...]\n"
	      "  -o, --output FILE   trace file (default socktrace.trace); an existing trace\n"
	      "                      or empty file is replaced, any other file is refused;\n"
	      "                      %p in FILE makes one file per process\n"
	      "  -k, --stack DEPTH   record call stacks of up to DEPTH frames (0-64)\n"
	      "  -q, --quiet         no summary at the end\n"
	      "      --ring          flight recorder: keep the newest events within\n"
	      "                      SOCKTRACE_SIZE, overwriting the oldest\n"
	      "      --ptrace        trace with ptrace, not LD_PRELOAD (chosen by itself\n"
	      "                      for static and Go programs)\n"
	      "      --preload       trace with LD_PRELOAD only\n"
	      "  -p, --pid PIDS      attach to running processes (comma-separated) until\n"
	      "                      they exit or Ctrl-C, then let them go on\n"
	      "  -h, --help          this text\n",
	      out);
}

static void st_die(int status, const char *what, const char *why)
{
	fprintf(stderr, "socktrace: %s: %s\n", what, why);
	exit(status);
}

/* COMMAND as execvp would find it: 0, or the shell's status for it (127
 * not found, 126 found but not executable) with *why set. */
static int st_find_command(const char *name, char *out, size_t size, const char **why)
{
	struct stat st;
	if (strchr(name, '/')) {
		snprintf(out, size, "%s", name);
		if (stat(out, &st) < 0) {
			*why = strerror(errno);
			return errno == ENOENT || errno == ENOTDIR ? 127 : 126;
		}
		if (S_ISDIR(st.st_mode) || access(out, X_OK) != 0) {
			*why = S_ISDIR(st.st_mode) ? "Is a directory" : strerror(EACCES);
			return 126;
		}
		return 0;
	}
	const char *path = getenv("PATH");
	char *copy = strdup(path && *path ? path : "/usr/local/bin:/usr/bin:/bin"), *save = NULL;
	int status = 127;
	char denied[PATH_MAX] = "";
	for (char *dir = strtok_r(copy, ":", &save); dir && status; dir = strtok_r(NULL, ":", &save)) {
		snprintf(out, size, "%s/%s", *dir ? dir : ".", name);
		if (stat(out, &st) != 0 || !S_ISREG(st.st_mode))
			continue;
		if (access(out, X_OK) == 0)
			status = 0;
		else if (!denied[0])
			snprintf(denied, sizeof denied, "%s", out);
	}
	free(copy);
	if (status && denied[0]) { /* as bash: found, but not executable */
		snprintf(out, size, "%s", denied);
		*why = strerror(EACCES);
		return 126;
	}
	*why = "command not found";
	return status;
}

struct st_elf_facts {
	bool elf, is_static, go;
};

/* An ELF without PT_INTERP is static: the loader never sees LD_PRELOAD. */
static struct st_elf_facts st_elf_facts(const char *path)
{
	struct st_elf_facts f = {false, false, false};
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0)
		return f;
	Elf64_Ehdr eh;
	if (pread(fd, &eh, sizeof eh, 0) == (ssize_t)sizeof eh && memcmp(eh.e_ident, ELFMAG, SELFMAG) == 0 &&
	    eh.e_ident[EI_CLASS] == ELFCLASS64 && eh.e_phentsize == sizeof(Elf64_Phdr)) {
		f.elf = true;
		f.is_static = true;
		for (unsigned i = 0; i < eh.e_phnum && f.is_static; i++) {
			Elf64_Phdr ph;
			if (pread(fd, &ph, sizeof ph, (off_t)(eh.e_phoff + i * sizeof ph)) != (ssize_t)sizeof ph)
				break;
			if (ph.p_type == PT_INTERP)
				f.is_static = false;
		}
		f.go = st_elf_has_section(fd, ".go.buildinfo");
	}
	close(fd);
	return f;
}

/* The interpreter a "#!" script names ("#!/usr/bin/env prog" finds prog). */
static bool st_script_interpreter(const char *path, char *out, size_t size)
{
	char line[PATH_MAX];
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0)
		return false;
	ssize_t n = read(fd, line, sizeof line - 1);
	close(fd);
	if (n < 3 || line[0] != '#' || line[1] != '!')
		return false;
	line[n] = '\0';
	line[strcspn(line, "\n")] = '\0';
	char *save = NULL, *interp = strtok_r(line + 2, " \t", &save);
	if (interp == NULL)
		return false;
	if (strcmp(interp, "/usr/bin/env") == 0 || strcmp(interp, "/bin/env") == 0) {
		char *prog = strtok_r(NULL, " \t", &save);
		while (prog && prog[0] == '-')
			prog = strtok_r(NULL, " \t", &save);
		const char *why;
		return prog && st_find_command(prog, out, size, &why) == 0;
	}
	snprintf(out, size, "%s", interp);
	return true;
}

/* How COMMAND can be traced: the shim, unless the loader cannot reach it
 * (static, Go's own system calls) and ptrace may be used; the reason for
 * ptrace said once.  Exits with the shell's 126 where neither can. */
static enum st_way st_choose_way(const char *path, enum st_way asked)
{
	struct stat st;
	if (stat(path, &st) < 0)
		st_die(127, path, strerror(errno));
	char interp[PATH_MAX];
	const char *binary = path;
	if (st_script_interpreter(path, interp, sizeof interp))
		binary = interp;
	struct st_elf_facts f = st_elf_facts(binary);
	const char *unreachable = f.go ? (f.is_static ? "a statically linked Go program"
						      : "a Go program (its runtime makes its own "
							"system calls)")
			       : f.is_static ? (binary == path ? "statically linked"
							       : "the script's interpreter is "
								 "statically linked")
					     : NULL;
	bool privileged = ((st.st_mode & S_ISUID) && st.st_uid != geteuid()) ||
			  ((st.st_mode & S_ISGID) && st.st_gid != getegid());
	if (unreachable && asked == ST_WAY_AUTO)
		fprintf(stderr, "socktrace: %s: %s: tracing it with ptrace (--preload to refuse)\n",
			binary, unreachable);
	if (asked == ST_WAY_PTRACE || (unreachable && asked == ST_WAY_AUTO)) {
		/* the seccomp filter needs no_new_privs, which exec honours */
		if (privileged)
			fprintf(stderr, "socktrace: %s: set-user-ID or set-group-ID program: under "
					"ptrace it runs without its privileges, as under strace\n",
				path);
		return ST_WAY_PTRACE;
	}
	if (f.is_static)
		st_die(126, binary, "statically linked: LD_PRELOAD cannot trace it (--ptrace can)");
	if ((st.st_mode & S_ISUID) && st.st_uid != geteuid())
		st_die(126, path, "set-user-ID program: the loader ignores LD_PRELOAD for it");
	if ((st.st_mode & S_ISGID) && st.st_gid != getegid())
		st_die(126, path, "set-group-ID program: the loader ignores LD_PRELOAD for it");
	if (geteuid() != 0 && getxattr(path, "security.capability", NULL, 0) > 0)
		st_die(126, path, "program with file capabilities: the loader ignores LD_PRELOAD for it");
	/* a dynamically linked Go program with --preload: the shim says so, once */
	return ST_WAY_PRELOAD;
}

/* -o nodir/x.trace: refused before the run, as the shim would run the
 * program untraced. */
static void st_check_output_dir(const char *path)
{
	char dir[PATH_MAX];
	snprintf(dir, sizeof dir, "%s", path);
	char *slash = strrchr(dir, '/');
	if (slash == dir)
		slash[1] = '\0';
	else if (slash)
		*slash = '\0';
	struct stat st;
	if (stat(dir, &st) < 0)
		st_die(2, path, errno == ENOENT ? "its directory does not exist" : strerror(errno));
	if (!S_ISDIR(st.st_mode))
		st_die(2, path, "its directory is not a directory");
	if (access(dir, W_OK | X_OK) != 0)
		st_die(2, path, "its directory is not writable");
}

/*
 * -o replaces only what socktrace itself could have written: a trace or an
 * empty file.  `-o main.c` or `-o /etc/passwd-copy` is refused, as the shim
 * refuses to write into a foreign file.
 */
static void st_prepare_output(const char *path)
{
	struct stat st;
	if (lstat(path, &st) < 0) {
		if (errno != ENOENT)
			st_die(2, path, strerror(errno));
		st_check_output_dir(path);
		return;
	}
	if (S_ISLNK(st.st_mode))
		st_die(2, path, "is a symbolic link; not replacing it (choose another -o)");
	if (!S_ISREG(st.st_mode))
		st_die(2, path, "is not a regular file; not replacing it (choose another -o)");
	char magic[ST_MAGIC_LEN];
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	if (fd < 0 && st.st_size != 0) /* another user's trace: say so, not "not a trace" */
		st_die(2, path, strerror(errno));
	bool trace = fd >= 0 && pread(fd, magic, sizeof magic, 0) == (ssize_t)sizeof magic &&
		     memcmp(magic, ST_MAGIC, ST_MAGIC_LEN) == 0;
	if (fd >= 0)
		close(fd);
	if (!trace && st.st_size != 0)
		st_die(2, path, "exists and is not a socktrace trace; not replacing it "
				"(choose another -o)");
	if (unlink(path) < 0)
		st_die(2, path, strerror(errno));
}

/* libsocktrace.so beside this program (build/) or in ../lib (installed). */
static void st_find_lib(char *out, size_t size)
{
	char self[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
	if (n <= 0)
		st_die(1, "/proc/self/exe", strerror(errno));
	self[n] = '\0';
	*strrchr(self, '/') = '\0';
	const char *tries[] = {"%s/libsocktrace.so", "%s/../lib/libsocktrace.so"};
	for (size_t i = 0; i < 2; i++) {
		char candidate[PATH_MAX + 32];
		snprintf(candidate, sizeof candidate, tries[i], self);
		if (realpath(candidate, out) != NULL && access(out, R_OK) == 0)
			return;
	}
	(void)size;
	st_die(1, "libsocktrace.so", "not found beside socktrace or in ../lib");
}

static void st_absolute(const char *path, char *out, size_t size)
{
	char cwd[PATH_MAX];
	if (path[0] != '/' && getcwd(cwd, sizeof cwd) == NULL)
		st_die(1, "getcwd", strerror(errno));
	int n = path[0] == '/' ? snprintf(out, size, "%s", path)
			       : snprintf(out, size, "%.*s/%s", PATH_MAX / 2, cwd, path);
	if (n < 0 || (size_t)n >= size)
		st_die(2, path, "path too long");
}

/* name=value with words appended to what the user set, never replacing it;
 * a word already there is not added again. */
static void st_env_append(const char *name, const char *const *words)
{
	const char *old = getenv(name);
	size_t len = (old ? strlen(old) : 0) + 1;
	for (size_t i = 0; words[i]; i++)
		len += strlen(words[i]) + 1;
	char *v = malloc(len);
	if (v == NULL)
		st_die(1, name, strerror(errno));
	snprintf(v, len, "%s", old ? old : "");
	for (size_t i = 0; words[i]; i++) {
		if (strstr(v, words[i]))
			continue;
		if (v[0])
			strcat(v, " ");
		strcat(v, words[i]);
	}
	setenv(name, v, 1);
	free(v);
}

/* With stacks: JITs that keep frame pointers through their code and write
 * the perf map that names it (/tmp/perf-PID.map), which the shim (or the
 * tracer) copies into the trace at exit.  Node: interpreted functions get frames of their
 * own instead of all being the interpreter's trampoline. */
static void st_jit_env(void)
{
	static const char *const node[] = {"--perf-basic-prof-only-functions",
					   "--interpreted-frames-native-stack", NULL};
	static const char *const java[] = {"-XX:+PreserveFramePointer",
					   "-XX:+UnlockDiagnosticVMOptions",
					   "-XX:+DumpPerfMapAtExit", NULL};
	st_env_append("NODE_OPTIONS", node);
	st_env_append("JAVA_TOOL_OPTIONS", java);
}

static void st_set_env(const struct st_launch *l)
{
	const char *old = getenv("LD_PRELOAD");
	char *preload;
	if (old && *old) {
		/* theirs first: a sanitizer runtime or an allocator must load first */
		if (asprintf(&preload, "%s:%s", old, l->lib) < 0)
			st_die(1, "LD_PRELOAD", strerror(errno));
	} else {
		preload = strdup(l->lib);
	}
	setenv("LD_PRELOAD", preload, 1);
	free(preload);
	setenv("SOCKTRACE_FILE", l->trace, 1);
	if (l->depth) {
		setenv("SOCKTRACE_BACKTRACE", l->depth, 1);
		st_jit_env();
	}
}

static int st_pid_order(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return x < y ? -1 : x > y;
}

/* What a run's traces hold, for the summary line. */
struct st_totals {
	size_t events, outcomes, closes, shutdowns, resolutions;
	size_t procs, procs_with_sockets;
	size_t sandboxed; /* processes that installed a seccomp filter */
	uint64_t dropped, dropped_records;
	bool ring;
	uint64_t overwritten; /* events and records a flight recorder reused */
};

/* Distinct pids of a sorted array. */
static size_t st_distinct(uint32_t *pids, size_t n)
{
	size_t count = 0;
	if (n)
		qsort(pids, n, sizeof *pids, st_pid_order);
	for (size_t i = 0; i < n; i++)
		count += i == 0 || pids[i] != pids[i - 1];
	return count;
}

static uint32_t st_rec_pid(const struct st_rec *r)
{
	switch (r->type) {
	case ST_REC_EVENT: return r->ev.pid;
	case ST_REC_RESULT: return r->result.pid;
	case ST_REC_CLOSE: return r->close.pid;
	case ST_REC_RESOLVE: return r->resolve.pid;
	case ST_REC_PEER: return r->peer.pid;
	default: return 0;
	}
}

/* One trace file's records, added to the totals; streamed, so a trace of any
 * size costs what its pids take. */
static bool st_sum_file(const char *path, struct st_totals *t, char *error, size_t size)
{
	char *paths[1] = {(char *)path};
	struct st_stream *s = st_stream_open(paths, 1, false);
	if (s == NULL) {
		snprintf(error, size, "out of memory");
		return false;
	}
	uint32_t *pids = NULL, *socket_pids = NULL;
	size_t npids = 0, cap = 0, nsocket = 0, socket_cap = 0, records = 0;
	struct st_rec r;
	while (st_stream_next(s, &r)) {
		t->events += r.type == ST_REC_EVENT;
		t->outcomes += r.type == ST_REC_RESULT;
		/* a shutdown's record is not a connection's end: counted apart */
		t->closes += r.type == ST_REC_CLOSE && r.close.how != ST_END_SHUTDOWN;
		t->shutdowns += r.type == ST_REC_CLOSE && r.close.how == ST_END_SHUTDOWN;
		t->resolutions += r.type == ST_REC_RESOLVE;
		t->sandboxed += r.type == ST_REC_NOTE && r.note.kind == ST_NOTE_SECCOMP;
		records++;
		/* a fork-per-connection server writes one process record per client */
		if (r.type == ST_REC_PROCESS) {
			pids = st_grow(pids, &cap, npids + 1, sizeof *pids);
			pids[npids++] = r.proc.pid;
		} else if (st_rec_pid(&r) && (nsocket == 0 || socket_pids[nsocket - 1] != st_rec_pid(&r))) {
			socket_pids = st_grow(socket_pids, &socket_cap, nsocket + 1, sizeof *socket_pids);
			socket_pids[nsocket++] = st_rec_pid(&r);
		}
	}
	const struct st_source_info *info = st_stream_info(s, 0);
	bool read = records || !info->error[0];
	if (!read)
		snprintf(error, size, "%s", info->error);
	t->procs += st_distinct(pids, npids);
	t->procs_with_sockets += st_distinct(socket_pids, nsocket);
	t->dropped += info->dropped;
	t->dropped_records += info->dropped_records;
	t->ring |= info->ring;
	t->overwritten += info->overwritten + info->overwritten_records;
	free(pids);
	free(socket_pids);
	st_stream_close(s);
	return read;
}

/* "8 events, 2 closes, 1 shutdown, 5 resolutions from 3 processes (2 with sockets),
 * 0 dropped" */
static void st_totals_print(const struct st_totals *t)
{
	fprintf(stderr, "socktrace: %zu event%s", t->events, t->events == 1 ? "" : "s");
	if (t->outcomes)
		fprintf(stderr, ", %zu outcome%s", t->outcomes, t->outcomes == 1 ? "" : "s");
	if (t->closes)
		fprintf(stderr, ", %zu close%s", t->closes, t->closes == 1 ? "" : "s");
	if (t->shutdowns)
		fprintf(stderr, ", %zu shutdown%s", t->shutdowns, t->shutdowns == 1 ? "" : "s");
	if (t->resolutions)
		fprintf(stderr, ", %zu resolution%s", t->resolutions, t->resolutions == 1 ? "" : "s");
	fprintf(stderr, " from %zu process%s", t->procs, t->procs == 1 ? "" : "es");
	if (t->procs_with_sockets != t->procs)
		fprintf(stderr, " (%zu with sockets)", t->procs_with_sockets);
	if (t->sandboxed)
		fprintf(stderr, " (%zu not traced after installing a seccomp filter)", t->sandboxed);
	fprintf(stderr, ", %llu dropped", (unsigned long long)(t->dropped + t->dropped_records));
	if (t->ring)
		fprintf(stderr, ", %llu overwritten (ring: the newest kept)",
			(unsigned long long)t->overwritten);
}

/* -o 'x.%p.trace': the files of this run are those the pattern matches that
 * were written since it started. */
static void st_summary_per_process(const struct st_launch *l, time_t started)
{
	char pattern[PATH_MAX + 16], error[512] = "";
	struct st_totals t = {0};
	size_t files = 0;
	size_t o = 0;
	for (const char *p = l->trace; *p && o + 2 < sizeof pattern; p++) {
		if (p[0] == '%' && p[1] == 'p') {
			pattern[o++] = '*';
			p++;
		} else if (p[0] == '%' && p[1] == '%') {
			pattern[o++] = '%';
			p++;
		} else if (strchr("*?[\\", *p)) {
			pattern[o++] = '\\';
			pattern[o++] = *p;
		} else {
			pattern[o++] = *p;
		}
	}
	pattern[o] = '\0';
	glob_t g;
	if (glob(pattern, 0, NULL, &g) == 0) {
		for (size_t i = 0; i < g.gl_pathc; i++) {
			struct stat st;
			if (stat(g.gl_pathv[i], &st) == 0 && st.st_mtime >= started &&
			    st_sum_file(g.gl_pathv[i], &t, error, sizeof error))
				files++;
		}
		globfree(&g);
	}
	if (files == 0) {
		fprintf(stderr, "socktrace: no trace written (%s)\n",
			error[0] ? error : "no file matches the -o pattern");
		return;
	}
	st_totals_print(&t);
	fprintf(stderr, "; traces in %s (%zu file%s)\n", pattern, files, files == 1 ? "" : "s");
}

static void st_summary(const struct st_launch *l, time_t started)
{
	if (strstr(l->trace, "%p") != NULL) {
		st_summary_per_process(l, started);
		return;
	}
	char error[512];
	struct st_totals t = {0};
	if (!st_sum_file(l->trace, &t, error, sizeof error)) {
		fprintf(stderr, "socktrace: no trace written (%s)\n", error);
		return;
	}
	st_totals_print(&t);
	fprintf(stderr, "; trace in %s\n", l->trace);
}

static int st_parse(int argc, char **argv, struct st_launch *l)
{
	static const struct option longs[] = {
		{"output", required_argument, NULL, 'o'}, {"stack", required_argument, NULL, 'k'},
		{"quiet", no_argument, NULL, 'q'},        {"help", no_argument, NULL, 'h'},
		{"ptrace", no_argument, NULL, 'P'},       {"preload", no_argument, NULL, 'L'},
		{"pid", required_argument, NULL, 'p'},    {"ring", no_argument, NULL, 'R'},
		{NULL, 0, NULL, 0},
	};
	int c;
	while ((c = getopt_long(argc, argv, "+o:k:qhp:", longs, NULL)) != -1) {
		switch (c) {
		case 'o': l->output = optarg; break;
		case 'k': l->depth = optarg; break;
		case 'q': l->quiet = true; break;
		case 'P': l->way = ST_WAY_PTRACE; break;
		case 'L': l->way = ST_WAY_PRELOAD; break;
		case 'p': l->pids = optarg; break;
		/* the environment carries it to the shim in every process */
		case 'R': setenv("SOCKTRACE_RING", "1", 1); break;
		case 'h': st_usage(stdout); exit(0);
		default: st_usage(stderr); exit(2);
		}
	}
	if ((optind >= argc) != (l->pids != NULL)) {
		st_usage(stderr);
		exit(2);
	}
	if (l->pids && l->way == ST_WAY_PRELOAD)
		st_die(2, "-p", "attaching is done with ptrace: --preload cannot attach");
	char *end;
	if (l->depth && (strtol(l->depth, &end, 10) < 0 || *end || strtol(l->depth, NULL, 10) > 64))
		st_die(2, l->depth, "-k takes a depth from 0 to 64");
	return optind;
}

/*
 * The launcher stands for the program: a supervisor's SIGTERM, `kill %1`, a
 * hangup reach the program, which is waited for, summed up and its status
 * passed on (as `timeout --foreground` and `env` users expect), never left
 * running, orphaned.  A Ctrl-C or Ctrl-\\ from the terminal already reached
 * the program through its process group: only one sent by a process
 * (SI_USER) is passed on, so the program gets each signal once.
 */
static pid_t st_child;
static const int st_forwarded[] = {SIGTERM, SIGINT, SIGHUP, SIGQUIT};

static void st_forward(int sig, siginfo_t *info, void *ctx)
{
	(void)ctx;
	pid_t child = __atomic_load_n(&st_child, __ATOMIC_ACQUIRE);
	bool from_tty = (sig == SIGINT || sig == SIGQUIT) && info->si_code == SI_KERNEL;
	if (child > 0 && !from_tty)
		kill(child, sig);
}

static void st_forward_signals(void)
{
	struct sigaction sa = {.sa_sigaction = st_forward, .sa_flags = SA_SIGINFO | SA_RESTART};
	sigemptyset(&sa.sa_mask);
	for (size_t i = 0; i < sizeof st_forwarded / sizeof st_forwarded[0]; i++)
		sigaction(st_forwarded[i], &sa, NULL);
}

static void st_default_signals(void)
{
	for (size_t i = 0; i < sizeof st_forwarded / sizeof st_forwarded[0]; i++)
		signal(st_forwarded[i], SIG_DFL);
}

/* SOCKTRACE_SIZE as the shim reads it, its problem said the same way. */
static uint64_t st_trace_size(void)
{
	const char *v = getenv("SOCKTRACE_SIZE");
	uint64_t size;
	const char *problem = st_size_parse(v, &size);
	if (problem != NULL)
		fprintf(stderr, "socktrace: SOCKTRACE_SIZE=%s%s\n", v, problem);
	return size;
}

/* -p 12,34: the pids, or exit 2 with a word. */
static size_t st_parse_pids(const char *list, pid_t *pids, size_t max)
{
	size_t n = 0;
	const char *p = list;
	while (*p) {
		char *end;
		long v = strtol(p, &end, 10);
		if (end == p || v <= 0 || v > INT32_MAX || (*end && *end != ','))
			st_die(2, list, "-p takes process ids separated by commas");
		if (n == max)
			st_die(2, list, "too many process ids");
		pids[n++] = (pid_t)v;
		p = *end ? end + 1 : end;
	}
	if (n == 0)
		st_die(2, "-p", "no process id given");
	return n;
}

static struct st_tr_options st_tracer_options(const struct st_launch *l)
{
	if (strstr(l->trace, "%p") != NULL)
		st_die(2, l->trace, "%p (a file per process) is the preload shim's: the ptrace "
				    "tracer writes one trace for all");
	const char *ring = getenv("SOCKTRACE_RING");
	st_file_ring_wanted = ring != NULL && strcmp(ring, "1") == 0;
	return (struct st_tr_options){.trace = l->trace, .size = st_trace_size(),
				      .depth = l->depth ? (unsigned)atoi(l->depth) : 0,
				      .quiet = l->quiet, .launched = &st_child};
}

static void st_open_output(struct st_launch *l)
{
	st_absolute(l->output, l->trace, sizeof l->trace);
	if (strstr(l->trace, "%p") == NULL)
		st_prepare_output(l->trace);
	else
		st_check_output_dir(l->trace);
}

/* socktrace -p */
static int st_attach(struct st_launch *l)
{
	pid_t pids[256];
	size_t n = st_parse_pids(l->pids, pids, 256);
	st_open_output(l);
	time_t started = time(NULL);
	struct st_tr_options o = st_tracer_options(l);
	int rc = st_tracer_attach(&o, pids, n);
	if (rc == 0 && !l->quiet)
		st_summary(l, started);
	return rc;
}

int main(int argc, char **argv)
{
	struct st_launch l = {.output = "socktrace.trace"};
	int first = st_parse(argc, argv, &l);
	if (l.pids)
		return st_attach(&l);
	const char *why = NULL;
	int not_found = st_find_command(argv[first], l.command, sizeof l.command, &why);
	if (not_found)
		st_die(not_found, not_found == 126 ? l.command : argv[first], why);
	enum st_way way = st_choose_way(l.command, l.way);
	if (way == ST_WAY_PRELOAD)
		st_find_lib(l.lib, sizeof l.lib);
	st_open_output(&l);
	time_t started = time(NULL);
	st_forward_signals();
	int status;
	if (way == ST_WAY_PTRACE) {
		struct st_tr_options o = st_tracer_options(&l);
		if (o.depth)
			st_jit_env(); /* the program inherits it: JIT frames named as under the shim */
		int rc = st_tracer_launch(&o, l.command, argv + first);
		if (rc >= 0 && !l.quiet)
			st_summary(&l, started);
		return rc < 0 ? 2 : rc;
	}
	pid_t pid = fork();
	if (pid < 0)
		st_die(1, "fork", strerror(errno));
	if (pid == 0) {
		st_default_signals();
		st_set_env(&l);
		execv(l.command, argv + first);
		st_die(126, l.command, strerror(errno));
	}
	__atomic_store_n(&st_child, pid, __ATOMIC_RELEASE);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (!l.quiet)
		st_summary(&l, started);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}
