#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <fcntl.h>
#include <ftw.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../tools/reader/st_stream.h"
#include "harness.h"
#include "progs/progs.h"

bool h_sanitized(void)
{
	const char *pre = getenv("ST_PRELOAD");
	return pre && strstr(pre, "libasan");
}

const char *h_build(void)
{
	const char *b = getenv("ST_BUILD");
	return b && *b ? b : "build";
}

void h_path(char *buf, size_t size, const char *name)
{
	snprintf(buf, size, "%s/%s", h_build(), name);
}

static int h_rm(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st, (void)flag, (void)ftw;
	return remove(path);
}

/* A test that mounted a tmpfs over its directory (in its private mount
 * namespace) would otherwise leave the directory behind: rmdir of a mount
 * point is EBUSY.  EINVAL when it is no mount point: nothing to undo. */
void h_rmdir(const char *dir)
{
	umount2(dir, MNT_DETACH);
	nftw(dir, h_rm, 16, FTW_DEPTH | FTW_PHYS);
}

/* The test's directory, removed when the test's process exits: Criterion
 * runs no .fini for a test that skips (cr_skip_test exits its process), so
 * every skipped test left an empty directory in /tmp.  Only the process that
 * made it removes it: a forked child of the test that calls exit() must not
 * take the directory from under the test. */
static char h_tmpdir_made[4096];
static pid_t h_tmpdir_owner;

static void h_tmpdir_at_exit(void)
{
	if (h_tmpdir_made[0] != '\0' && getpid() == h_tmpdir_owner)
		h_rmdir(h_tmpdir_made);
}

void h_tmpdir(char *buf, size_t size)
{
	snprintf(buf, size, "/tmp/socktrace-test.XXXXXX");
	cr_assert_not_null(mkdtemp(buf), "mkdtemp: %s", strerror(errno));
	if (h_tmpdir_owner == 0)
		atexit(h_tmpdir_at_exit);
	h_tmpdir_owner = getpid();
	snprintf(h_tmpdir_made, sizeof h_tmpdir_made, "%s", buf);
}

/* What LD_PRELOAD holds for a traced run: the shim, after the sanitizer
 * runtime in `make asan`. */
const char *h_preload(char *buf, size_t size)
{
	const char *pre = getenv("ST_PRELOAD");
	if (pre && *pre)
		return pre;
	h_path(buf, size, "libsocktrace.so");
	return buf;
}

/* In `make asan` the shim is sanitized: the sanitizer runtime must load before
 * it, so the launcher (which preloads the shim) is given the runtime as the
 * user's LD_PRELOAD.  Other untraced runs need nothing preloaded.  Leak checks
 * are the test runner's business, not that of python or bash run here. */
static void h_untraced_preload(bool launcher)
{
	const char *pre = getenv("ST_PRELOAD");
	const char *colon = pre ? strchr(pre, ':') : NULL;
	if (h_sanitized())
		setenv("ASAN_OPTIONS", "detect_leaks=0", 1);
	if (h_sanitized() && colon && launcher) {
		char rt[4096];
		snprintf(rt, sizeof rt, "%.*s", (int)(colon - pre), pre);
		setenv("LD_PRELOAD", rt, 1);
	} else {
		unsetenv("LD_PRELOAD");
	}
}

static struct {
	int resource;
	unsigned long long soft;
} h_limits[4];
static int h_nlimits;
static const char *h_next_dir;

void h_limit_next(int resource, unsigned long long soft)
{
	cr_assert_lt(h_nlimits, 4);
	h_limits[h_nlimits].resource = resource;
	h_limits[h_nlimits++].soft = soft;
}

void h_chdir_next(const char *dir)
{
	h_next_dir = dir;
}

static void h_apply_limits(void)
{
	for (int i = 0; i < h_nlimits; i++) {
		struct rlimit rl;
		getrlimit(h_limits[i].resource, &rl);
		rl.rlim_cur = h_limits[i].soft;
		if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < rl.rlim_cur)
			rl.rlim_cur = rl.rlim_max;
		if (setrlimit(h_limits[i].resource, &rl) < 0)
			_exit(126);
	}
	if (h_next_dir && chdir(h_next_dir) < 0)
		_exit(126);
}

static void h_child(int out, int err, const char *trace, const char *const *argv,
		    const char *const *env)
{
	h_apply_limits();
	dup2(out, 1);
	dup2(err, 2);
	closefrom(3); /* Criterion's own descriptors would shift the program's fd numbers */
	if (trace) {
		char lib[4096];
		setenv("LD_PRELOAD", h_preload(lib, sizeof lib), 1);
		setenv("SOCKTRACE_FILE", trace, 1);
	} else {
		const char *base = strrchr(argv[0], '/');
		h_untraced_preload(strcmp(base ? base + 1 : argv[0], "socktrace") == 0);
	}
	if (h_sanitized())
		setenv("ASAN_OPTIONS", "detect_leaks=0", 1);
	for (size_t i = 0; env && env[i]; i++)
		putenv((char *)env[i]);
	execv(argv[0], (char *const *)argv);
	_exit(127);
}

/* Output past the buffer is read and dropped: a child blocked on a full
 * pipe would otherwise run into the timeout. */
static void h_drain(int fd, char *buf, size_t size, size_t *len, bool *open)
{
	static char past[65536];
	bool full = *len == size - 1;
	ssize_t n = full ? read(fd, past, sizeof past) : read(fd, buf + *len, size - 1 - *len);
	if (n <= 0) {
		*open = false;
		return;
	}
	if (full)
		return;
	*len += (size_t)n;
	buf[*len] = '\0';
}

int h_run(struct h_run *r, const char *trace, const char *const *argv, const char *const *env,
	  int timeout_s)
{
	int po[2], pe[2];
	cr_assert(pipe2(po, O_CLOEXEC) == 0 && pipe2(pe, O_CLOEXEC) == 0);
	pid_t pid = fork();
	cr_assert(pid >= 0);
	if (pid == 0)
		h_child(po[1], pe[1], trace, argv, env);
	close(po[1]);
	close(pe[1]);
	size_t on = 0, en = 0;
	bool oo = true, eo = true;
	r->out[0] = r->err[0] = '\0';
	time_t deadline = time(NULL) + timeout_s;
	while ((oo || eo) && time(NULL) < deadline) {
		struct pollfd p[2] = {{oo ? po[0] : -1, POLLIN, 0}, {eo ? pe[0] : -1, POLLIN, 0}};
		if (poll(p, 2, 200) <= 0)
			continue;
		if (p[0].revents)
			h_drain(po[0], r->out, sizeof r->out, &on, &oo);
		if (p[1].revents)
			h_drain(pe[0], r->err, sizeof r->err, &en, &eo);
	}
	if (oo || eo)
		kill(pid, SIGKILL);
	close(po[0]);
	close(pe[0]);
	waitpid(pid, &r->status, 0);
	h_nlimits = 0;
	h_next_dir = NULL;
	return WIFEXITED(r->status) ? WEXITSTATUS(r->status) : 128 + WTERMSIG(r->status);
}

static int h_u64_cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

/*
 * The product reads traces with the streaming reader (st_stream), chunk by
 * chunk; st_trace_load, which the assertions use for its arrays, walks the
 * file on its own.  So every trace a test loads is also streamed, and the two
 * must find the same records at the same offsets, the same counters and no
 * error: a test of a trace is a test of the product's walk too.
 */
static void h_stream_agrees(const struct st_trace *t, const char *path)
{
	char *paths[1] = {(char *)path};
	struct st_stream *s = st_stream_open(paths, 1, false);
	cr_assert_not_null(s);
	size_t count[ST_REC_PAD + 1] = {0}, nevs = 0;
	uint64_t *evs = malloc((t->nevs + 1) * sizeof *evs);
	struct st_rec r;
	while (st_stream_next(s, &r)) {
		if (r.type <= ST_REC_PAD)
			count[r.type]++;
		if (r.type == ST_REC_EVENT && nevs < t->nevs)
			evs[nevs++] = r.offset;
	}
	const struct st_source_info *info = st_stream_info(s, 0);
	cr_assert_str_empty(info->error, "trace %s streamed: %s", path, info->error);
	cr_assert_str_empty(info->warning, "trace %s streamed: %s", path, info->warning);
	cr_assert_eq(count[ST_REC_EVENT], t->nevs, "%s: %zu events streamed, %zu loaded", path,
		     count[ST_REC_EVENT], t->nevs);
	cr_assert_eq(count[ST_REC_PROCESS], t->nprocs, "%s: processes", path);
	cr_assert_eq(count[ST_REC_MODULE], t->nmods, "%s: modules", path);
	cr_assert_eq(count[ST_REC_RESULT], t->nresults, "%s: results", path);
	cr_assert_eq(count[ST_REC_CLOSE], t->ncloses, "%s: closes", path);
	cr_assert_eq(count[ST_REC_RESOLVE], t->nresolves, "%s: resolutions", path);
	cr_assert_eq(count[ST_REC_PEER], t->npeers, "%s: peers", path);
	cr_assert_eq(info->dropped, t->dropped, "%s: dropped", path);
	cr_assert_eq(info->unfollowed, t->unfollowed, "%s: unfollowed", path);
	uint64_t *loaded = malloc((t->nevs + 1) * sizeof *loaded);
	for (size_t i = 0; i < t->nevs; i++)
		loaded[i] = t->evs[i].offset;
	qsort(evs, nevs, sizeof *evs, h_u64_cmp);
	qsort(loaded, t->nevs, sizeof *loaded, h_u64_cmp);
	for (size_t i = 0; i < nevs; i++)
		cr_assert_eq(evs[i], loaded[i], "%s: event %zu at offset %llu streamed, %llu loaded",
			     path, i, (unsigned long long)evs[i], (unsigned long long)loaded[i]);
	free(evs);
	free(loaded);
	st_stream_close(s);
}

/* A copy of a trace that may still be written (a server's children exiting
 * after the test stopped it): both readers must see the same bytes. */
static void h_snapshot(const char *path, char *copy, size_t size)
{
	snprintf(copy, size, "/tmp/socktrace-snapshot.XXXXXX");
	int out = mkstemp(copy);
	int in = open(path, O_RDONLY | O_CLOEXEC);
	cr_assert(out >= 0 && in >= 0, "snapshot of %s", path);
	static char buf[1 << 16];
	ssize_t n;
	while ((n = read(in, buf, sizeof buf)) > 0)
		cr_assert_eq(write(out, buf, (size_t)n), n, "snapshot of %s", path);
	close(in);
	close(out);
}

void h_load(struct st_trace *t, const char *path)
{
	char copy[64];
	h_snapshot(path, copy, sizeof copy);
	int rc = st_trace_load(t, copy, 0);
	cr_assert_eq(rc, 0, "trace %s: %s", path, t->error);
	cr_assert_str_empty(t->warning, "trace %s: %s", path, t->warning);
	h_stream_agrees(t, copy);
	unlink(copy);
	if (t->nevs)
		qsort(t->evs, t->nevs, sizeof *t->evs, st_ev_cmp);
}

const char *h_ep(const struct st_endpoint *ep, char *buf, size_t size)
{
	if (st_ep_sa(ep) == NULL) {
		snprintf(buf, size, "none");
		return buf;
	}
	struct sockaddr_storage ss = {0};
	memcpy(&ss, st_ep_sa(ep), ep->len);
	return ep_str(&ss, ep->len, buf, size);
}

size_t h_count(const struct st_trace *t, int op, unsigned pid)
{
	size_t n = 0;
	for (size_t i = 0; i < t->nevs; i++)
		n += (op == 0 || t->evs[i].op == op) && (pid == 0 || t->evs[i].pid == pid);
	return n;
}

static const struct st_ev *h_next(const struct st_trace *t, size_t *from, int op, int fd,
				  unsigned pid)
{
	for (; *from < t->nevs; (*from)++) {
		const struct st_ev *e = &t->evs[*from];
		if (e->op == op && e->fd == fd && (pid == 0 || e->pid == pid)) {
			(*from)++;
			return e;
		}
	}
	return NULL;
}

int h_check_ends(const struct st_trace *t, const char *out, unsigned pid)
{
	size_t from = 0;
	int checked = 0;
	for (const char *line = out; line && *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL) {
		char label[64], local[160], peer[160];
		int fd;
		if (sscanf(line, "%63s fd=%d local=%159s peer=%159s", label, &fd, local, peer) != 4)
			continue;
		int ops[2] = {ST_OP_GETSOCKNAME, ST_OP_GETPEERNAME};
		for (int k = 0; k < 2; k++) {
			const struct st_ev *e = h_next(t, &from, ops[k], fd, pid);
			cr_assert_not_null(e, "%s: no %s event for fd %d", label, st_op_name(ops[k]), fd);
			char lb[160], pb[160];
			cr_expect_str_eq(h_ep(&e->local, lb, sizeof lb), local, "%s %s local",
					 label, st_op_name(ops[k]));
			cr_expect_str_eq(h_ep(&e->peer, pb, sizeof pb), peer, "%s %s peer", label,
					 st_op_name(ops[k]));
		}
		checked++;
	}
	return checked;
}

long h_field(const char *out, const char *label, const char *key)
{
	size_t ll = strlen(label);
	for (const char *line = out; line && *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL) {
		if (strncmp(line, label, ll) != 0 || line[ll] != ' ')
			continue;
		const char *eol = strchrnul(line, '\n');
		char k[64];
		snprintf(k, sizeof k, "%s=", key);
		const char *p = memmem(line, (size_t)(eol - line), k, strlen(k));
		return p ? strtol(p + strlen(k), NULL, 10) : -1;
	}
	return -1;
}

void h_http_start(struct h_server *s, const char *trace, bool launcher)
{
	if (h_sanitized())
		cr_skip_test("curl hangs in setlocale under a preloaded libasan, shim or not");
	int po[2];
	cr_assert(pipe(po) == 0);
	s->pid = fork();
	cr_assert(s->pid >= 0);
	if (s->pid == 0) {
		setpgid(0, 0);
		dup2(po[1], 1);
		dup2(po[1], 2);
		closefrom(3);
		char tool[4096];
		if (launcher) {
			h_untraced_preload(true);
			h_path(tool, sizeof tool, "socktrace");
			execl(tool, tool, "-q", "-o", trace, "python3", "-u", "-m", "http.server",
			      "--bind", "127.0.0.1", "0", (char *)NULL);
		} else {
			setenv("LD_PRELOAD", h_preload(tool, sizeof tool), 1);
			setenv("SOCKTRACE_FILE", trace, 1);
			if (h_sanitized())
				setenv("ASAN_OPTIONS", "detect_leaks=0", 1);
			execlp("python3", "python3", "-u", "-m", "http.server", "--bind", "127.0.0.1",
			       "0", (char *)NULL);
		}
		_exit(127);
	}
	setpgid(s->pid, s->pid);
	close(po[1]);
	s->out = po[0];
	char buf[512] = "";
	size_t n = 0;
	time_t deadline = time(NULL) + 20;
	while (time(NULL) < deadline && !strstr(buf, ") ...")) {
		struct pollfd p = {s->out, POLLIN, 0};
		if (poll(&p, 1, 500) <= 0)
			continue;
		ssize_t r = read(s->out, buf + n, sizeof buf - 1 - n);
		if (r <= 0)
			break;
		n += (size_t)r;
		buf[n] = '\0';
	}
	const char *p = strstr(buf, " port ");
	cr_assert_not_null(p, "http.server did not start: %s", buf);
	s->port = (unsigned)atoi(p + 6);
}

void h_http_stop(struct h_server *s)
{
	kill(-s->pid, SIGINT);
	int status;
	waitpid(s->pid, &status, 0);
	close(s->out);
}

void h_curl(const char *trace, unsigned port, bool launcher)
{
	static struct h_run r;
	char url[64], tool[4096];
	snprintf(url, sizeof url, "http://127.0.0.1:%u/", port);
	h_path(tool, sizeof tool, "socktrace");
	const char *plain[] = {"/usr/bin/curl", "-s", "-o", "/dev/null", "-o", "/dev/null", "-o",
			       "/dev/null", "-o", "/dev/null", "-o", "/dev/null",
			       url, url, url, url, url, NULL};
	const char *launched[] = {tool, "-q", "-o", trace, "/usr/bin/curl", "-s", "-o", "/dev/null",
				  "-o", "/dev/null", "-o", "/dev/null", "-o", "/dev/null", "-o",
				  "/dev/null", url, url, url, url, url, NULL};
	int rc = launcher ? h_run(&r, NULL, launched, NULL, 30) : h_run(&r, trace, plain, NULL, 30);
	cr_assert_eq(rc, 0, "curl: %s", r.err);
}

unsigned h_http_fetch(const char *server_trace, const char *client_trace, bool launcher)
{
	struct h_server srv;
	h_http_start(&srv, server_trace, launcher);
	h_curl(client_trace, srv.port, launcher);
	h_http_stop(&srv);
	return srv.port;
}

size_t h_occurrences(const char *s, const char *needle)
{
	size_t n = 0;
	for (const char *p = s; (p = strstr(p, needle)) != NULL; p++)
		n++;
	return n;
}

void h_write_in(const char *dir, const char *name, const char *text)
{
	char path[512];
	snprintf(path, sizeof path, "%s/%s", dir, name);
	FILE *f = fopen(path, "w");
	cr_assert_not_null(f, "%s", path);
	fputs(text, f);
	fclose(f);
}

void h_event_text(const char *out, const char *call, char *buf, size_t size)
{
	const char *ev = strstr(out, call);
	cr_assert_not_null(ev, "no %s in\n%s", call, out);
	const char *end = ev;
	while ((end = strchr(end + 1, '\n')) != NULL && strncmp(end + 1, "    ", 4) == 0)
		;
	size_t n = end ? (size_t)(end - ev) : strlen(ev);
	snprintf(buf, size, "%.*s", (int)(n < size ? n : size - 1), ev);
}

/* A child with its stdout and stderr on a pipe; *out its read end. */
pid_t h_spawn(const char *const *argv, int *out)
{
	int p[2];
	cr_assert(pipe(p) == 0);
	pid_t pid = fork();
	cr_assert(pid >= 0);
	if (pid == 0) {
		dup2(p[1], 1);
		dup2(p[1], 2);
		closefrom(3);
		/* untraced, as h_run's untraced runs: the launcher is given the
		 * sanitizer runtime to put before the shim it preloads (make
		 * asan); LeakSanitizer cannot run in a traced process */
		const char *base = strrchr(argv[0], '/');
		h_untraced_preload(strcmp(base ? base + 1 : argv[0], "socktrace") == 0);
		execv(argv[0], (char *const *)argv);
		_exit(127);
	}
	close(p[1]);
	*out = p[0];
	return pid;
}

/* Reads fd into buf until needle shows (true) or 20 s pass. */
bool h_read_until(int fd, const char *needle, char *buf, size_t size)
{
	size_t n = strlen(buf);
	time_t deadline = time(NULL) + 20;
	while (time(NULL) < deadline && strstr(buf, needle) == NULL && n + 1 < size) {
		struct pollfd p = {fd, POLLIN, 0};
		if (poll(&p, 1, 200) <= 0)
			continue;
		ssize_t r = read(fd, buf + n, size - 1 - n);
		if (r <= 0)
			break;
		n += (size_t)r;
		buf[n] = '\0';
	}
	return strstr(buf, needle) != NULL;
}

/* The number after prefix, once its line is whole: a writer may send the
 * line in pieces (python3 under PYTHONUNBUFFERED=1 writes print()'s "tid",
 * " " and the number apart), and a number read before its last digits came
 * is a wrong one.  -1 when no such line came in time. */
long h_read_number(int fd, const char *prefix, char *buf, size_t size)
{
	if (!h_read_until(fd, prefix, buf, size))
		return -1;
	size_t at = (size_t)(strstr(buf, prefix) - buf) + strlen(prefix);
	time_t deadline = time(NULL) + 20;
	while (strchr(buf + at, '\n') == NULL && time(NULL) < deadline) {
		size_t n = strlen(buf);
		struct pollfd p = {fd, POLLIN, 0};
		if (n + 1 >= size)
			break;
		if (poll(&p, 1, 200) <= 0)
			continue;
		ssize_t r = read(fd, buf + n, size - 1 - n);
		if (r <= 0)
			break;
		buf[n + (size_t)r] = '\0';
	}
	return strchr(buf + at, '\n') ? atol(buf + at) : -1;
}
