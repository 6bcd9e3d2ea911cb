/*
 * The trace file: created or joined at attach, mapped MAP_SHARED and its
 * descriptor closed at once, so that a program closing or dup2()ing over all
 * its fds cannot break tracing.  The file is sparse at its full capacity while
 * processes write to it; the last process to leave shrinks it to the chunks
 * handed out.  flock() on a short-lived descriptor orders attach, leave and
 * regrow across processes; none of this is on the per-event path.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "st_internal.h"

struct st_file st_trace;
static bool st_leaving;

static int st_open_locked(const char *path, struct stat *st)
{
	int fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return -1;
	if (fstat(fd, st) < 0 || !S_ISREG(st->st_mode) || flock(fd, LOCK_EX) < 0) {
		int err = S_ISREG(st->st_mode) ? errno : EINVAL;
		st_real_close(fd);
		errno = err;
		return -1;
	}
	return fd;
}

static void st_unlock_close(int fd)
{
	flock(fd, LOCK_UN);
	st_real_close(fd);
}

static void st_header_init(struct st_header *h, uint64_t capacity)
{
	h->version = ST_VERSION;
	h->header_size = ST_HEADER_SIZE;
	h->chunk_size = ST_CHUNK_SIZE;
	h->capacity = capacity;
	h->created_ns = st_now_ns();
	memcpy(h->magic, ST_MAGIC, ST_MAGIC_LEN);
}

/* Checks an existing file's header; returns a reason when it cannot be joined. */
static const char *st_header_check(int fd, uint64_t *capacity)
{
	struct st_header h;
	if (pread(fd, &h, sizeof h, 0) != (ssize_t)sizeof h)
		return "exists and is not a socktrace trace (too short)";
	if (memcmp(h.magic, ST_MAGIC, ST_MAGIC_LEN) != 0)
		return "exists and is not a socktrace trace (bad magic)";
	if (h.version != ST_VERSION || h.header_size != ST_HEADER_SIZE ||
	    h.chunk_size != ST_CHUNK_SIZE)
		return "exists with another trace format version";
	if (h.capacity < ST_HEADER_SIZE + ST_CHUNK_SIZE)
		return "has a corrupt header";
	*capacity = h.capacity;
	return NULL;
}

void st_file_register_pid(uint32_t pid)
{
	struct st_header *h = st_trace.hdr;
	for (unsigned i = 0; i < ST_LIVE_SLOTS; i++)
		if (__atomic_load_n(&h->live_pid[i], __ATOMIC_ACQUIRE) == pid)
			return;
	for (unsigned i = 0; i < ST_LIVE_SLOTS; i++) {
		uint32_t free_slot = 0;
		if (__atomic_compare_exchange_n(&h->live_pid[i], &free_slot, pid, false,
						__ATOMIC_ACQ_REL, __ATOMIC_RELAXED))
			return;
	}
	__atomic_fetch_add(&h->live_overflow, 1, __ATOMIC_RELAXED);
}

static void st_absolute_path(const char *path, char *out, size_t size)
{
	out[0] = '\0';
	if (path[0] != '/' && getcwd(out, size - 1) != NULL) {
		size_t n = strlen(out);
		if (n + 1 < size)
			strcpy(out + n, "/");
	}
	size_t n = strlen(out);
	if (n + strlen(path) < size)
		strcpy(out + n, path);
	else
		out[0] = '\0';
}

int st_file_attach(const char *path, uint64_t capacity, const char **why)
{
	struct stat st;
	int fd = st_open_locked(path, &st);
	if (fd < 0) {
		*why = NULL;
		return -errno;
	}
	bool fresh = st.st_size == 0;
	if (!fresh && (*why = st_header_check(fd, &capacity)) != NULL) {
		st_unlock_close(fd);
		return -EINVAL;
	}
	if ((uint64_t)st.st_size < capacity && ftruncate(fd, (off_t)capacity) < 0) {
		int err = errno;
		st_unlock_close(fd);
		*why = NULL;
		return -err;
	}
	void *map = mmap(NULL, capacity, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (map == MAP_FAILED) {
		int err = errno;
		st_unlock_close(fd);
		*why = NULL;
		return -err;
	}
	st_trace.hdr = map;
	st_trace.base = map;
	st_trace.capacity = capacity;
	st_trace.dev = st.st_dev;
	st_trace.ino = st.st_ino;
	st_absolute_path(path, st_trace.path, sizeof st_trace.path);
	if (fresh)
		st_header_init(st_trace.hdr, capacity);
	uint64_t next = __atomic_load_n(&st_trace.hdr->next_chunk, __ATOMIC_ACQUIRE);
	if (next & ST_SEALED)
		__atomic_store_n(&st_trace.hdr->next_chunk, st_trace.hdr->sealed_end,
				 __ATOMIC_RELEASE);
	st_file_register_pid(st_pid);
	st_unlock_close(fd);
	return 0;
}

/* Opens the trace again by path, checking it is still the file we mapped. */
static int st_reopen_locked(void)
{
	if (st_trace.path[0] == '\0')
		return -1;
	int fd = open(st_trace.path, O_RDWR | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -1;
	struct stat st;
	if (fstat(fd, &st) < 0 || st.st_dev != st_trace.dev || st.st_ino != st_trace.ino ||
	    flock(fd, LOCK_EX) < 0) {
		st_real_close(fd);
		return -1;
	}
	return fd;
}

/* Called from the event path when the file was sealed by a process that left:
 * async-signal-safe (open, flock, ftruncate, close only). */
bool st_file_unseal(void)
{
	if (st_leaving)
		return false;
	int saved = errno;
	int fd = st_reopen_locked();
	bool ok = fd >= 0;
	if (ok) {
		struct st_header *h = st_trace.hdr;
		if (__atomic_load_n(&h->next_chunk, __ATOMIC_ACQUIRE) & ST_SEALED) {
			ok = ftruncate(fd, (off_t)st_trace.capacity) == 0;
			if (ok)
				__atomic_store_n(&h->next_chunk, h->sealed_end, __ATOMIC_RELEASE);
		}
		st_unlock_close(fd);
	}
	errno = saved;
	return ok;
}

static bool st_pid_alive(uint32_t pid)
{
	if (kill((pid_t)pid, 0) < 0 && errno == ESRCH)
		return false;
	/* An unreaped child is a zombie: it will never write again. */
	char path[32], buf[256];
	char *p = path + sizeof path;
	*--p = '\0';
	memcpy(p -= 5, "/stat", 5);
	for (uint32_t v = pid; v; v /= 10)
		*--p = (char)('0' + v % 10);
	memcpy(p -= 6, "/proc/", 6);
	int fd = open(p, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return true;
	ssize_t n = read(fd, buf, sizeof buf - 1);
	st_real_close(fd);
	if (n <= 0)
		return true;
	buf[n] = '\0';
	char *paren = strrchr(buf, ')');
	return !(paren && paren[1] == ' ' && (paren[2] == 'Z' || paren[2] == 'X'));
}

/* Forgets this process and dead ones; true when some other process is live. */
static bool st_others_live(struct st_header *h)
{
	bool live = __atomic_load_n(&h->live_overflow, __ATOMIC_ACQUIRE) != 0;
	for (unsigned i = 0; i < ST_LIVE_SLOTS; i++) {
		uint32_t pid = __atomic_load_n(&h->live_pid[i], __ATOMIC_ACQUIRE);
		if (pid == 0)
			continue;
		if (pid != st_pid && st_pid_alive(pid))
			live = true;
		else
			__atomic_compare_exchange_n(&h->live_pid[i], &pid, 0, false,
						    __ATOMIC_ACQ_REL, __ATOMIC_RELAXED);
	}
	return live;
}

void st_file_detach(void)
{
	struct st_header *h = st_trace.hdr;
	if (h == NULL || st_leaving)
		return;
	st_leaving = true;
	int saved = errno;
	int fd = st_reopen_locked();
	if (fd < 0) {
		errno = saved;
		return;
	}
	if (!st_others_live(h)) {
		/* Seal first so no thread of ours takes a chunk past the new end. */
		uint64_t next = __atomic_fetch_or(&h->next_chunk, ST_SEALED, __ATOMIC_ACQ_REL);
		if (!(next & ST_SEALED)) {
			uint64_t end = ST_HEADER_SIZE + next;
			h->sealed_end = next;
			if (end > st_trace.capacity)
				end = st_trace.capacity;
			if (!st_others_live(h))
				(void)!ftruncate(fd, (off_t)end);
		}
	}
	st_unlock_close(fd);
	errno = saved;
}
