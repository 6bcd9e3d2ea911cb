/*
 * socktrace [-o FILE] [-k DEPTH] [-q] [--] COMMAND [ARG...]
 * Runs COMMAND with libsocktrace.so preloaded, passes its exit status through
 * (128+N for a signal, like a shell) and sums the trace up on stderr.
 */
#define _GNU_SOURCE
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "st_trace.h"

struct st_launch {
	const char *output;
	const char *depth;
	bool quiet;
	char trace[PATH_MAX];
	char lib[PATH_MAX];
	char command[PATH_MAX];
};

static void st_usage(FILE *out)
{
	fputs("usage: socktrace [-o FILE] [-k DEPTH] [-q] [--] COMMAND [ARG...]\n"
	      "  -o FILE   trace file (default socktrace.trace; replaced if it exists)\n"
	      "  -k DEPTH  record call stacks of up to DEPTH frames (0-64)\n"
	      "  -q        no summary at the end\n",
	      out);
}

static void st_die(int status, const char *what, const char *why)
{
	fprintf(stderr, "socktrace: %s: %s\n", what, why);
	exit(status);
}

/* COMMAND as execvp would find it. */
static bool st_find_command(const char *name, char *out, size_t size)
{
	if (strchr(name, '/')) {
		snprintf(out, size, "%s", name);
		return access(out, X_OK) == 0;
	}
	const char *path = getenv("PATH");
	char *copy = strdup(path && *path ? path : "/usr/local/bin:/usr/bin:/bin"), *save = NULL;
	bool found = false;
	for (char *dir = strtok_r(copy, ":", &save); dir && !found; dir = strtok_r(NULL, ":", &save)) {
		snprintf(out, size, "%s/%s", *dir ? dir : ".", name);
		struct stat st;
		found = stat(out, &st) == 0 && S_ISREG(st.st_mode) && access(out, X_OK) == 0;
	}
	free(copy);
	return found;
}

/* An ELF without PT_INTERP is static: the loader never sees LD_PRELOAD. */
static bool st_is_static_elf(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	Elf64_Ehdr eh;
	bool is_static = false;
	if (pread(fd, &eh, sizeof eh, 0) == (ssize_t)sizeof eh && memcmp(eh.e_ident, ELFMAG, SELFMAG) == 0 &&
	    eh.e_ident[EI_CLASS] == ELFCLASS64 && eh.e_phentsize == sizeof(Elf64_Phdr)) {
		is_static = true;
		for (unsigned i = 0; i < eh.e_phnum && is_static; i++) {
			Elf64_Phdr ph;
			if (pread(fd, &ph, sizeof ph, (off_t)(eh.e_phoff + i * sizeof ph)) != (ssize_t)sizeof ph)
				break;
			if (ph.p_type == PT_INTERP)
				is_static = false;
		}
	}
	close(fd);
	return is_static;
}

static void st_check_traceable(const char *path)
{
	struct stat st;
	if (stat(path, &st) < 0)
		st_die(127, path, strerror(errno));
	if ((st.st_mode & S_ISUID) && st.st_uid != geteuid())
		st_die(126, path, "set-user-ID program: the loader ignores LD_PRELOAD for it");
	if ((st.st_mode & S_ISGID) && st.st_gid != getegid())
		st_die(126, path, "set-group-ID program: the loader ignores LD_PRELOAD for it");
	if (geteuid() != 0 && getxattr(path, "security.capability", NULL, 0) > 0)
		st_die(126, path, "program with file capabilities: the loader ignores LD_PRELOAD for it");
	if (st_is_static_elf(path))
		st_die(126, path, "statically linked: LD_PRELOAD cannot trace it");
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
	if (l->depth)
		setenv("SOCKTRACE_BACKTRACE", l->depth, 1);
}

static int st_pid_order(const void *a, const void *b)
{
	const struct st_proc *x = a, *y = b;
	return x->pid < y->pid ? -1 : x->pid > y->pid;
}

static void st_summary(const struct st_launch *l)
{
	struct st_trace t;
	if (st_trace_load(&t, l->trace, 0) < 0 && t.nevs == 0 && t.nprocs == 0) {
		fprintf(stderr, "socktrace: no trace written (%s)\n", t.error);
		st_trace_free(&t);
		return;
	}
	/* a fork-per-connection server writes one process record per client */
	if (t.nprocs)
		qsort(t.procs, t.nprocs, sizeof *t.procs, st_pid_order);
	size_t procs = 0;
	for (size_t i = 0; i < t.nprocs; i++)
		procs += i == 0 || t.procs[i].pid != t.procs[i - 1].pid;
	fprintf(stderr, "socktrace: %zu events from %zu process%s, %llu dropped; trace in %s\n",
		t.nevs, procs, procs == 1 ? "" : "es", (unsigned long long)t.dropped, l->trace);
	st_trace_free(&t);
}

static int st_parse(int argc, char **argv, struct st_launch *l)
{
	int c;
	while ((c = getopt(argc, argv, "+o:k:qh")) != -1) {
		switch (c) {
		case 'o': l->output = optarg; break;
		case 'k': l->depth = optarg; break;
		case 'q': l->quiet = true; break;
		case 'h': st_usage(stdout); exit(0);
		default: st_usage(stderr); exit(2);
		}
	}
	if (optind >= argc) {
		st_usage(stderr);
		exit(2);
	}
	char *end;
	if (l->depth && (strtol(l->depth, &end, 10) < 0 || *end || strtol(l->depth, NULL, 10) > 64))
		st_die(2, l->depth, "-k takes a depth from 0 to 64");
	return optind;
}

int main(int argc, char **argv)
{
	struct st_launch l = {.output = "socktrace.trace"};
	int first = st_parse(argc, argv, &l);
	if (!st_find_command(argv[first], l.command, sizeof l.command))
		st_die(127, argv[first], "command not found");
	st_check_traceable(l.command);
	st_find_lib(l.lib, sizeof l.lib);
	st_absolute(l.output, l.trace, sizeof l.trace);
	if (unlink(l.trace) < 0 && errno != ENOENT)
		st_die(1, l.trace, strerror(errno));
	/* like a shell: Ctrl-C goes to the command, we stay to sum up */
	signal(SIGINT, SIG_IGN);
	signal(SIGQUIT, SIG_IGN);
	pid_t pid = fork();
	if (pid < 0)
		st_die(1, "fork", strerror(errno));
	if (pid == 0) {
		signal(SIGINT, SIG_DFL);
		signal(SIGQUIT, SIG_DFL);
		st_set_env(&l);
		execv(l.command, argv + first);
		st_die(126, l.command, strerror(errno));
	}
	int status;
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (!l.quiet)
		st_summary(&l);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}
