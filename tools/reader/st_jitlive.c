/*
 * JIT names while the program runs (socktrace-dump -f): the shim copies the
 * perf-map entries its stacks use into the trace at the program's exit, so
 * a follower would show a live Node.js or Java program's JIT frames as ??.
 * For a trace written on this machine since its last boot, the follower
 * reads the process's own map, /tmp/perf-PID.map, as it grows (V8 and the
 * JVM append a line when they make code, before it can run).
 *
 * Never a wrong name, never a wait, never a device:
 * - the pid must still be the process that made the event: it started no
 *   later than the event (a pid reused since would have started after);
 * - the map is opened with O_NOFOLLOW | O_NONBLOCK and read only when it is
 *   a regular file owned by that process's user (another user cannot plant
 *   one for it in /tmp);
 * - it is read from where the last look stopped, whole lines only, at most
 *   ST_JITLIVE_MAX bytes per process, and only when it grew.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "st_jitlive.h"
#include "st_trace.h"
#include "st_xalloc.h"

#define ST_JITLIVE_MAX (64u << 20)
#define ST_JITLIVE_LINE 4096

struct st_jitlive_proc {
	uint32_t pid;
	uint64_t read_to; /* bytes of whole lines read */
	uint64_t looked;  /* CLOCK_MONOTONIC of the last look, 0 never */
	bool gone;	  /* not the process of the trace (gone, or another) */
};

struct st_jitlive {
	struct st_jitlive_proc *p;
	size_t n, cap;
	long ticks_per_s;
	uint64_t clock_offset_ns;
};

#define ST_JITLIVE_EVERY_NS 50000000ull

struct st_jitlive *st_jitlive_new(const char *boot_id, uint64_t clock_offset_ns)
{
	char ours[40] = {0};
	int fd = open("/proc/sys/kernel/random/boot_id", O_RDONLY | O_CLOEXEC);
	ssize_t got = fd >= 0 ? read(fd, ours, sizeof ours - 1) : -1;
	if (fd >= 0)
		close(fd);
	if (got < 36 || boot_id == NULL || strncmp(ours, boot_id, 36) != 0)
		return NULL;
	struct st_jitlive *l = st_xcalloc(1, sizeof *l);
	l->ticks_per_s = sysconf(_SC_CLK_TCK);
	l->clock_offset_ns = clock_offset_ns;
	return l;
}

static struct st_jitlive_proc *st_jitlive_proc(struct st_jitlive *l, uint32_t pid)
{
	for (size_t i = 0; i < l->n; i++)
		if (l->p[i].pid == pid)
			return &l->p[i];
	l->p = st_grow(l->p, &l->cap, l->n + 1, sizeof *l->p);
	l->p[l->n] = (struct st_jitlive_proc){.pid = pid};
	return &l->p[l->n++];
}

/* Whether pid is still the process that made an event at ts: it started no
 * later (its start in boot-time ticks is at least its start in monotonic
 * time, so a process that started after ts is never taken for it); its
 * user into *uid. */
static bool st_jitlive_same(const struct st_jitlive *l, uint32_t pid, uint64_t ts, uid_t *uid)
{
	char path[64], buf[1024];
	snprintf(path, sizeof path, "/proc/%" PRIu32 "/stat", pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	struct stat st;
	ssize_t got = fstat(fd, &st) == 0 ? read(fd, buf, sizeof buf - 1) : -1;
	close(fd);
	if (got <= 0 || l->ticks_per_s <= 0)
		return false;
	buf[got] = '\0';
	const char *p = strrchr(buf, ')'); /* the name before it may hold anything */
	unsigned long long start = 0;
	/* state is field 3; starttime field 22: 19 fields after the state */
	if (p == NULL || sscanf(p + 2, "%*c %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s "
				       "%*s %*s %*s %*s %*s %*s %llu",
				&start) != 1)
		return false;
	*uid = st.st_uid;
	return start / (unsigned long long)l->ticks_per_s * 1000000000ull +
		       start % (unsigned long long)l->ticks_per_s * 1000000000ull /
			       (unsigned long long)l->ticks_per_s <=
	       ts;
}

/* "START SIZE NAME" (hex, hex, the rest): one entry into j. */
static bool st_jitlive_line(struct st_jitsyms *j, uint32_t pid, const char *line, size_t len)
{
	char *end;
	uint64_t start = strtoull(line, &end, 16);
	if (end == line || *end != ' ')
		return false;
	const char *sz = end + 1;
	uint64_t size = strtoull(sz, &end, 16);
	if (end == sz || *end != ' ' || size == 0)
		return false;
	const char *name = end + 1;
	size_t name_len = len - (size_t)(name - line);
	if (name_len == 0)
		return false;
	st_jitsyms_add(j, pid, start, size, name, name_len);
	return true;
}

/* The whole lines of fd from p->read_to, up to size: entries into j. */
static bool st_jitlive_read(struct st_jitlive_proc *p, int fd, uint64_t size,
			    struct st_jitsyms *j)
{
	static char buf[64 * 1024];
	bool added = false;
	while (p->read_to < size && p->read_to < ST_JITLIVE_MAX) {
		ssize_t got = pread(fd, buf, sizeof buf, (off_t)p->read_to);
		if (got <= 0)
			break;
		size_t at = 0, n = (size_t)got;
		for (char *nl; (nl = memchr(buf + at, '\n', n - at)) != NULL;) {
			size_t len = (size_t)(nl - (buf + at));
			if (len < ST_JITLIVE_LINE)
				added |= st_jitlive_line(j, p->pid, buf + at, len);
			at += len + 1;
		}
		if (at == 0) /* a line longer than the buffer: not a map's */
			return added;
		p->read_to += at;
	}
	return added;
}

bool st_jitlive_refresh(struct st_jitlive *l, struct st_jitsyms *j, uint32_t pid, uint64_t ts)
{
	if (l == NULL || j == NULL)
		return false;
	struct st_jitlive_proc *p = st_jitlive_proc(l, pid);
	struct timespec now_ts;
	clock_gettime(CLOCK_MONOTONIC, &now_ts);
	uint64_t now = (uint64_t)now_ts.tv_sec * 1000000000ull + (uint64_t)now_ts.tv_nsec;
	if (p->gone || (p->looked && now - p->looked < ST_JITLIVE_EVERY_NS))
		return false;
	p->looked = now;
	uid_t uid;
	if (ts < l->clock_offset_ns || !st_jitlive_same(l, pid, ts - l->clock_offset_ns, &uid)) {
		p->gone = true; /* its exit will bring the trace's own copy */
		return false;
	}
	char path[64];
	snprintf(path, sizeof path, "/tmp/perf-%" PRIu32 ".map", pid);
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return false;
	struct stat st;
	bool added = false;
	if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_uid == uid &&
	    (uint64_t)st.st_size > p->read_to)
		added = st_jitlive_read(p, fd, (uint64_t)st.st_size, j);
	close(fd);
	return added;
}

void st_jitlive_free(struct st_jitlive *l)
{
	if (l == NULL)
		return;
	free(l->p);
	free(l);
}
