/* Which program an event came from, and where in it. */
#define _GNU_SOURCE
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "st_xalloc.h"
#include "st_dump.h"
#include "st_fmt.h"

static struct st_proc *st_proc_copy(const struct st_proc *p)
{
	struct st_proc *c = st_xmalloc(sizeof *c + p->exe_len + p->cmd_len + p->host_len + 1);
	*c = *p;
	char *s = (char *)(c + 1);
	memcpy(s, p->exe, p->exe_len);
	memcpy(s + p->exe_len, p->cmd, p->cmd_len);
	memcpy(s + p->exe_len + p->cmd_len, p->host, p->host_len);
	c->exe = s;
	c->cmd = s + p->exe_len;
	c->host = s + p->exe_len + p->cmd_len;
	return c;
}

static void st_catalog_grow(struct st_catalog *c)
{
	struct st_proc **old = c->slot;
	size_t old_n = c->nslots;
	c->nslots = old_n ? old_n * 2 : 256;
	c->slot = st_xcalloc(c->nslots, sizeof *c->slot);
	for (size_t i = 0; i < old_n; i++) {
		if (old[i] == NULL)
			continue;
		size_t k = ((size_t)old[i]->pid * 0x9e3779b97f4a7c15u >> 16) & (c->nslots - 1);
		while (c->slot[k])
			k = (k + 1) & (c->nslots - 1);
		c->slot[k] = old[i];
	}
	free(old);
}

static struct st_proc **st_catalog_slot(const struct st_catalog *c, uint32_t pid)
{
	size_t k = ((size_t)pid * 0x9e3779b97f4a7c15u >> 16) & (c->nslots - 1);
	while (c->slot[k] && c->slot[k]->pid != pid)
		k = (k + 1) & (c->nslots - 1);
	return &c->slot[k];
}

static void st_catalog_hosts(struct st_catalog *c, const struct st_proc *p)
{
	if (p->host_len == 0)
		return;
	if (c->first_host == NULL)
		c->first_host = p;
	else if (p->host_len != c->first_host->host_len ||
		 memcmp(p->host, c->first_host->host, p->host_len) != 0)
		c->many_hosts = true;
}

void st_catalog_add(struct st_catalog *c, const struct st_proc *p)
{
	if (c->n * 2 >= c->nslots)
		st_catalog_grow(c);
	struct st_proc *copy = st_proc_copy(p);
	if (c->nall == c->all_cap) {
		c->all_cap = c->all_cap ? c->all_cap * 2 : 256;
		c->all = st_xrealloc(c->all, c->all_cap, sizeof *c->all);
	}
	c->all[c->nall++] = copy;
	st_catalog_hosts(c, copy);
	struct st_proc **slot = st_catalog_slot(c, p->pid);
	/* the newest record of a pid names it (after an exec, the new program) */
	if (*slot == NULL)
		c->n++;
	if (*slot == NULL || (*slot)->ts <= p->ts)
		*slot = copy;
}

static bool st_same_program(const struct st_proc *a, const struct st_proc *b)
{
	return a->exe_len == b->exe_len && a->cmd_len == b->cmd_len &&
	       memcmp(a->exe, b->exe, a->exe_len) == 0 && memcmp(a->cmd, b->cmd, a->cmd_len) == 0;
}

/* The process that started p's service: up its ancestry while each parent
 * runs the same program (a fork without exec: nginx's master and workers,
 * a prefork server's children).  Bounded, and a loop of pids ends it. */
const struct st_proc *st_service_of(const struct st_dump *d, const struct st_proc *p)
{
	for (int i = 0; p && i < 64; i++) {
		struct st_ev parent_ev = {.pid = p->ppid};
		const struct st_proc *parent = p->ppid ? st_proc_of(d, &parent_ev) : NULL;
		if (parent == NULL || parent == p || parent->file != p->file ||
		    !st_same_program(p, parent))
			return p;
		p = parent;
	}
	return p;
}

void st_catalog_note(struct st_catalog *c, const struct st_note *n, uint32_t file)
{
	if (c->nnotes == c->notes_cap) {
		c->notes_cap = c->notes_cap ? c->notes_cap * 2 : 16;
		c->notes = st_xrealloc(c->notes, c->notes_cap, sizeof *c->notes);
	}
	c->notes[c->nnotes++] = (struct st_noted){n->ts_ns, n->pid, n->tid, n->kind, file};
}

const char *st_note_text(uint32_t kind)
{
	return kind == ST_NOTE_SECCOMP ? "seccomp filter installed" : NULL;
}

void st_catalog_free(struct st_catalog *c)
{
	free(c->notes);
	for (size_t i = 0; i < c->nall; i++)
		free(c->all[i]);
	free(c->all);
	free(c->slot);
	memset(c, 0, sizeof *c);
}

/* In time order, the newest record seen is the one in force; a process
 * that wrote events before its record (none do today) gets its first. */
const struct st_proc *st_proc_of(const struct st_dump *d, const struct st_ev *ev)
{
	if (d->procs.nslots == 0)
		return NULL;
	return *st_catalog_slot(&d->procs, ev->pid);
}

/* The last component of s[0..*n), its length in *n. */
static const char *st_proc_base(const char *s, size_t *n)
{
	const char *slash = memrchr(s, '/', *n);
	if (slash == NULL)
		return s;
	*n -= (size_t)(slash + 1 - s);
	return slash + 1;
}

/* Whether argv[0] is a process title rather than a path: words, and not
 * begun as a path is ('/', '.'). */
static bool st_proc_is_title(const char *arg0, size_t n)
{
	return n > 0 && arg0[0] != '/' && arg0[0] != '.' && memchr(arg0, ' ', n) != NULL;
}

/* Whether argv[0] names the dynamic loader (ld-linux-x86-64.so.2, ld.so)
 * while the record's program is another file: a program run as "ld.so
 * PROGRAM", whose record names PROGRAM (both front-ends find it). */
static bool st_proc_run_by_loader(const char *arg0, size_t arg0_len, const char *exe,
				  size_t exe_len)
{
	bool loader = (arg0_len > 3 && memcmp(arg0, "ld-", 3) == 0 &&
		       memmem(arg0, arg0_len, ".so", 3) != NULL) ||
		      (arg0_len == 5 && memcmp(arg0, "ld.so", 5) == 0);
	return loader && exe_len > 0 && (exe_len != arg0_len || memcmp(exe, arg0, exe_len) != 0);
}

void st_proc_name(const struct st_proc *p, char *buf, size_t size)
{
	if (p == NULL || (p->exe_len == 0 && p->cmd_len == 0)) {
		snprintf(buf, size, "?");
		return;
	}
	/* argv[0], as ps names it: a program run through a symlink
	 * (redis-server -> redis-check-rdb) keeps the name it was run by.  A
	 * title a program wrote over its arguments ("nginx: master process
	 * nginx -c /etc/nginx.conf", "sshd: root@pts/0") is shown whole: its
	 * last '/' does not start a file name. */
	size_t n = strnlen(p->cmd, p->cmd_len), exe_n = p->exe_len;
	const char *s = st_proc_is_title(p->cmd, n) ? p->cmd : st_proc_base(p->cmd, &n);
	const char *exe = st_proc_base(p->exe, &exe_n);
	if (n == 0 || st_proc_run_by_loader(s, n, exe, exe_n)) {
		s = exe;
		n = exe_n;
	}
	snprintf(buf, size, "%.*s", (int)n, s);
}

void st_proc_label(const struct st_proc *p, char *buf, size_t size)
{
	char raw[256];
	st_proc_name(p, raw, sizeof raw);
	st_escape(buf, size, raw, strlen(raw));
}

void st_proc_label_fit(const struct st_proc *p, char *buf, size_t size, size_t width)
{
	st_proc_label(p, buf, size);
	if (width < 4 || width >= size || strlen(buf) <= width)
		return;
	/* cut between characters: never inside a UTF-8 sequence the label
	 * passed through whole */
	size_t cut = width - 3;
	while (cut > 0 && ((unsigned char)buf[cut] & 0xC0) == 0x80)
		cut--;
	memcpy(buf + cut, "...", 4);
}

unsigned st_frame_at(const struct st_dump *d, const struct st_ev *ev, unsigned i,
		     struct st_frame *f)
{
	return st_sym_frame_at(d->symbols, ev, i, f);
}

/* Whether a Python file is the program's own: not the standard library nor
 * an installed package (site-packages, dist-packages), nor frozen. */
static bool st_py_own_file(const char *file)
{
	return file != NULL && file[0] != '<' && strstr(file, "/lib/python") == NULL &&
	       strstr(file, "-packages/") == NULL;
}

/* Whether a Java method is the program's own: not of the JDK's packages. */
static bool st_java_own_method(const char *name)
{
	static const char *const jdk[] = {"java.", "javax.", "jdk.", "sun.", "com.sun.", NULL};
	if (name == NULL)
		return false;
	for (size_t i = 0; jdk[i]; i++)
		if (strncmp(name, jdk[i], strlen(jdk[i])) == 0)
			return false;
	return true;
}

/* Whether a Java method is of the layers every socket call goes through
 * (java.net's sockets, NIO's channels and their implementation): never the
 * answer to "which code opened it" while a caller is in the stack. */
static bool st_java_socket_layer(const char *name)
{
	static const char *const layers[] = {"java.net.", "java.nio.", "sun.nio.ch.",
					     "jdk.internal.misc.", "java.lang.Thread.", NULL};
	for (size_t i = 0; name && layers[i]; i++)
		if (strncmp(name, layers[i], strlen(layers[i])) == 0)
			return true;
	return name == NULL;
}

/* Whether a JavaScript place is the program's own: not Node's (node:net)
 * nor an installed package's. */
static bool st_js_own_place(const char *where)
{
	return where != NULL && strncmp(where, "node:", 5) != 0 &&
	       strstr(where, "/node_modules/") == NULL;
}

/* Whether a native frame is Go code (its source a .go or Go assembly file). */
static bool st_go_frame(const struct st_frame *f)
{
	size_t n = f->file ? strlen(f->file) : 0;
	return f->sym != NULL && n > 3 &&
	       (strcmp(f->file + n - 3, ".go") == 0 || strcmp(f->file + n - 2, ".s") == 0);
}

/* Whether a Go function is the program's: package main, or a package whose
 * path begins with a domain (github.com/..., the program's modules), not of
 * the standard library (runtime, syscall, net, internal/poll: no dot in
 * their path's first element). */
static bool st_go_own_func(const char *sym)
{
	const char *slash = strchr(sym, '/');
	if (slash == NULL) /* a one-element package: main, or net, os, runtime... */
		return strncmp(sym, "main.", 5) == 0;
	return memchr(sym, '.', (size_t)(slash - sym)) != NULL; /* a domain: github.com/... */
}

/* Whether a Go function is of the layers every socket call goes through
 * (the runtime, syscall, internal/poll, net's sockets, os): never the
 * answer to "which code opened it" while a caller is in the stack. */
static bool st_go_socket_layer(const char *sym)
{
	static const char *const layers[] = {"runtime.", "runtime/", "internal/", "syscall.",
					     "net.", "os.", "vendor/", NULL};
	for (size_t i = 0; layers[i]; i++)
		if (strncmp(sym, layers[i], strlen(layers[i])) == 0)
			return true;
	return false;
}

/* A Go stack's own code: the innermost frame of the program's packages;
 * else the innermost above the socket layers (net/http's dialConn for a
 * connection an HTTP client's transport makes in its own goroutine); else
 * i. */
static unsigned st_go_code(const struct st_dump *d, const struct st_ev *ev, unsigned i,
			   struct st_frame *f)
{
	unsigned above_layers = ev->nframes;
	for (unsigned k = i; k < ev->nframes; k++) {
		struct st_frame g;
		st_frame_at(d, ev, k, &g);
		if (g.sym == NULL || !st_go_frame(&g))
			continue;
		if (st_go_own_func(g.sym)) {
			*f = g;
			return k;
		}
		if (above_layers == ev->nframes && !st_go_socket_layer(g.sym))
			above_layers = k;
	}
	unsigned at = above_layers < ev->nframes ? above_layers : i;
	st_frame_at(d, ev, at, f);
	return at;
}

/* Whether a native frame is in the C library or the dynamic loader: the
 * system call's wrapper, which the tracer's stacks begin with (the shim's
 * begin at its caller). */
static bool st_libc_frame(const struct st_frame *f)
{
	const char *base = f->obj ? strrchr(f->obj, '/') : NULL;
	base = base ? base + 1 : f->obj;
	return base != NULL && !f->py && !f->jit &&
	       (strncmp(base, "libc.so", 7) == 0 || strncmp(base, "libc-", 5) == 0 ||
		strncmp(base, "ld-linux", 8) == 0 || strncmp(base, "libpthread", 10) == 0);
}

/* The innermost frame past the C library's, 0 when all are its: the
 * same frame under both front-ends. */
static unsigned st_past_libc(const struct st_dump *d, const struct st_ev *ev)
{
	for (unsigned i = 0; i < ev->nframes; i++) {
		uint64_t ip;
		memcpy(&ip, &ev->frames[i], sizeof ip);
		struct st_frame f;
		if (ip & ST_FRAME_PY)
			return i;
		st_frame_at(d, ev, i, &f);
		if (!st_libc_frame(&f))
			return i;
	}
	return 0;
}

unsigned st_stack_code(const struct st_dump *d, const struct st_ev *ev, struct st_frame *f)
{
	unsigned first = st_past_libc(d, ev);
	/* a Go program's stack (its innermost frame in Go's sources): the
	 * standard library's frames are not the program's code */
	uint64_t innermost = 0;
	if (ev->nframes > 0)
		memcpy(&innermost, &ev->frames[first], sizeof innermost);
	if (ev->nframes > 0 && !(innermost & ST_FRAME_PY)) {
		st_frame_at(d, ev, first, f);
		if (st_go_frame(f))
			return st_go_code(d, ev, first, f);
	}
	/* native frames are named only where a JIT's may be among them */
	bool jit = st_sym_has_jit(d->symbols);
	unsigned innermost_py = ev->nframes, java_above_layers = ev->nframes;
	for (unsigned i = 0; i < ev->nframes;) {
		uint64_t ip;
		memcpy(&ip, &ev->frames[i], sizeof ip);
		if (!(ip & ST_FRAME_PY) && !jit) {
			i++;
			continue;
		}
		unsigned at = i;
		i += st_frame_at(d, ev, i, f);
		if ((f->py && st_py_own_file(f->file)) || (f->jit && f->js && st_js_own_place(f->file)) ||
		    (f->jit && f->java && st_java_own_method(f->sym)))
			return at;
		if ((f->py || f->jit) && innermost_py == ev->nframes)
			innermost_py = at;
		if (f->jit && f->java && java_above_layers == ev->nframes &&
		    !st_java_socket_layer(f->sym))
			java_above_layers = at;
	}
	/* all in the library: a Java method above the socket layers (the
	 * JDK's HTTP server's dispatcher, for one) says more than the
	 * innermost one; the innermost Python frame more than the
	 * interpreter's native one */
	unsigned at = java_above_layers < ev->nframes ? java_above_layers
		      : innermost_py < ev->nframes     ? innermost_py
						       : first;
	if (ev->nframes)
		st_frame_at(d, ev, at, f);
	return at;
}

const char *st_stack_top(const struct st_dump *d, const struct st_ev *ev)
{
	if (ev->nframes == 0)
		return NULL;
	struct st_frame f;
	st_stack_code(d, ev, &f);
	return f.sym ? f.sym : "??";
}

/* HH:MM:SS.uuuuuu in local time; the seconds are converted once per second
 * of the trace, not once per event. */
/* "HH:MM:SS." of ts in local time, formatted once per second seen. */
static const char *st_time_hms(uint64_t ts)
{
	static time_t last = (time_t)-1;
	static char hms[16];
	time_t sec = (time_t)(ts / 1000000000u);
	if (sec != last) {
		struct tm tm;
		localtime_r(&sec, &tm);
		snprintf(hms, sizeof hms, "%02d:%02d:%02d.", tm.tm_hour, tm.tm_min, tm.tm_sec);
		last = sec;
	}
	return hms;
}

void st_print_time(FILE *out, uint64_t ts)
{
	st_put_s(out, st_time_hms(ts));
	st_put_u_width(out, ts % 1000000000u / 1000u, 6);
}

void st_line_time(struct st_line *l, uint64_t ts)
{
	st_line_mem(l, st_time_hms(ts), 9); /* "HH:MM:SS." */
	st_line_u_width(l, ts % 1000000000u / 1000u, 6);
}
