/*
 * JIT frames (Node.js, Java): code a JIT made lies in no object, so its
 * return addresses cannot be named from module records.  Both JITs can
 * write the map every profiler reads, /tmp/perf-PID.map ("START SIZE name"
 * per line; node --perf-basic-prof-only-functions, java
 * -XX:+DumpPerfMapAtExit, both added by `socktrace -k`).  The addresses a
 * process's stacks hold outside every object are kept in a set (bounded,
 * filled without a lock: the shim's threads share one), and at its exit the
 * map's entries that hold one of them are copied into the trace (record
 * type 13): the map may be gone, or on another host, when the trace is
 * read.  Both front-ends keep their sets here: the shim one for its process,
 * the tracer one per traced process.
 *
 * Hazards: the map is the program's, in a world-writable directory: it is
 * opened without following a symlink, never blocking (a FIFO would hang the
 * exit), read only when it is a regular file owned by the process's user,
 * and parsed line by line with every field checked; a line too long is
 * skipped.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "st_core.h"

#define ST_JIT_LINE_MAX 1024

static size_t st_jit_slot(uint64_t ip)
{
	return (size_t)((ip * 0x9e3779b97f4a7c15ull) >> 51) % ST_JIT_SET;
}

bool st_jitset_known(const struct st_jitset *set, uint64_t ip)
{
	for (size_t i = st_jit_slot(ip), k = 0; k < 64; i = (i + 1) % ST_JIT_SET, k++) {
		uint64_t v = __atomic_load_n(&set->ips[i], __ATOMIC_RELAXED);
		if (v == ip)
			return true;
		if (v == 0)
			return false;
	}
	return false;
}

void st_jitset_note(struct st_jitset *set, uint64_t ip)
{
	for (size_t i = st_jit_slot(ip), k = 0; k < 64; i = (i + 1) % ST_JIT_SET, k++) {
		uint64_t v = 0;
		if (__atomic_compare_exchange_n(&set->ips[i], &v, ip, false, __ATOMIC_RELAXED,
						__ATOMIC_RELAXED)) {
			__atomic_fetch_add(&set->count, 1, __ATOMIC_RELAXED);
			return;
		}
		if (v == ip)
			return;
	}
}

/* The addresses kept, sorted at exit: a map has up to hundreds of
 * thousands of lines, each looked up here.  One flush at a time (the shim
 * flushes once, at exit; the tracer is one thread). */
static uint64_t st_jit_sorted[ST_JIT_SET];
static size_t st_jit_nsorted;

static int st_jit_cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static void st_jit_sort(const struct st_jitset *set)
{
	st_jit_nsorted = 0;
	for (size_t i = 0; i < ST_JIT_SET; i++)
		if (set->ips[i] != 0)
			st_jit_sorted[st_jit_nsorted++] = set->ips[i];
	qsort(st_jit_sorted, st_jit_nsorted, sizeof st_jit_sorted[0], st_jit_cmp);
}

/* Whether [start, start + size) holds one of the addresses kept. */
static bool st_jit_used(uint64_t start, uint64_t size)
{
	size_t lo = 0, hi = st_jit_nsorted;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (st_jit_sorted[mid] < start)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < st_jit_nsorted && st_jit_sorted[lo] - start < size;
}

/* "START SIZE name": false for anything else. */
static bool st_jit_parse(char *line, uint64_t *start, uint64_t *size, const char **name)
{
	char *end;
	*start = strtoull(line, &end, 16);
	if (end == line || *end != ' ')
		return false;
	char *s = end + 1;
	*size = strtoull(s, &end, 16);
	if (end == s || *end != ' ' || *size == 0 || *start == 0)
		return false;
	*name = end + 1;
	return true;
}

static void st_jit_line(char *line, size_t len)
{
	uint64_t start, size;
	const char *name;
	line[len] = '\0';
	if (!st_jit_parse(line, &start, &size, &name) || !st_jit_used(start, size))
		return;
	st_record_jitsym(start, size, name, strlen(name));
}

void st_jitset_flush(const struct st_jitset *set, uint32_t pid, uid_t owner)
{
	if (set == NULL || __atomic_load_n(&set->count, __ATOMIC_RELAXED) == 0)
		return;
	char path[64];
	snprintf(path, sizeof path, "/tmp/perf-%u.map", pid);
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
	struct stat st;
	if (fd < 0)
		return;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_uid != owner) {
		close(fd);
		return;
	}
	st_jit_sort(set);
	static char buf[ST_JIT_LINE_MAX * 16];
	size_t have = 0;
	bool skipping = false; /* in a line too long to be an entry */
	for (;;) {
		ssize_t got = read(fd, buf + have, sizeof buf - have);
		if (got <= 0)
			break;
		have += (size_t)got;
		size_t from = 0;
		for (char *nl; (nl = memchr(buf + from, '\n', have - from)) != NULL;) {
			size_t len = (size_t)(nl - (buf + from));
			if (!skipping && len < ST_JIT_LINE_MAX)
				st_jit_line(buf + from, len);
			skipping = false;
			from += len + 1;
		}
		memmove(buf, buf + from, have - from);
		have -= from;
		if (have == sizeof buf) { /* no end of line in a whole buffer */
			have = 0;
			skipping = true;
		}
	}
	close(fd);
}
