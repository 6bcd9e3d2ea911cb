/*
 * The trace file: created or joined at attach, its header page mapped
 * MAP_SHARED and its descriptor closed at once, so that a program closing or
 * dup2()ing over all its fds cannot break tracing and the shim never holds an
 * fd the program could have had.  Chunks are mapped a window at a time by the
 * recorder (st_record.c), never the whole file: a program under a tight
 * RLIMIT_AS keeps its address space.
 *
 * The header is written with pwrite before the file is grown, so no one ever
 * sees a file of full size without one.  The file is sparse at its capacity
 * while processes write; the last process to leave shrinks it to the chunks
 * handed out.  flock() on a short-lived descriptor orders attach, leave and
 * regrow across processes, always with a bounded wait: a foreign process
 * holding the lock must not stall the program.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "st_core.h"

struct st_file st_trace;
bool st_note_capped;
bool st_file_ring_wanted;
static bool st_leaving;
static bool st_overflowed; /* this process found no live slot */

/* About 0.5 s at attach, 50 ms at leave; a live writer holds it microseconds. */
#define ST_LOCK_TRIES_ATTACH 500
#define ST_LOCK_TRIES_SHORT 50

/* Async-signal-safe: flock without blocking, polled each millisecond. */
static bool st_lock_bounded(int fd, int tries)
{
	struct timespec ms = {0, 1000000};
	for (int i = 0; i < tries; i++) {
		if (flock(fd, LOCK_EX | LOCK_NB) == 0)
			return true;
		if (errno != EWOULDBLOCK && errno != EINTR)
			return false;
		nanosleep(&ms, NULL);
	}
	errno = EWOULDBLOCK;
	return false;
}

void st_file_close(int fd)
{
	(void)ST_SYS(SYS_close, fd);
}

static void st_unlock_close(int fd)
{
	flock(fd, LOCK_UN);
	st_file_close(fd);
}

/* Largest file this process may grow to: RLIMIT_FSIZE, so growing never
 * raises SIGXFSZ.  Rounded down to a whole chunk. */
uint64_t st_file_size_limit(void)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_FSIZE, &rl) < 0 || rl.rlim_cur == RLIM_INFINITY)
		return UINT64_MAX;
	uint64_t lim = rl.rlim_cur;
	if (lim < ST_HEADER_SIZE + ST_CHUNK_SIZE)
		return 0;
	return ST_HEADER_SIZE + (lim - ST_HEADER_SIZE) / ST_CHUNK_SIZE * ST_CHUNK_SIZE;
}

static const char *st_kind_of(mode_t mode)
{
	if (S_ISDIR(mode))
		return "is a directory, not a trace file";
	if (S_ISFIFO(mode))
		return "is a FIFO, not a regular file";
	if (S_ISCHR(mode))
		return "is a character device, not a regular file";
	if (S_ISBLK(mode))
		return "is a block device, not a regular file";
	if (S_ISSOCK(mode))
		return "is a socket, not a regular file";
	return "is not a regular file";
}

/* Opens (creating when absent) without following a symlink or blocking on a
 * FIFO; *created tells whether this call made the file. */
static int st_open_trace(const char *path, bool *created, const char **why)
{
	int flags = O_RDWR | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK | O_NOCTTY;
	int fd = open(path, flags | O_CREAT | O_EXCL, 0600);
	*created = fd >= 0;
	if (fd < 0 && errno == EEXIST)
		fd = open(path, flags);
	if (fd < 0 && errno == ELOOP)
		*why = "is a symbolic link (not followed, for safety)";
	if (fd < 0 && errno == EISDIR)
		*why = "is a directory, not a trace file";
	return fd;
}

static bool st_all_zero(const void *p, size_t n)
{
	const unsigned char *b = p;
	for (size_t i = 0; i < n; i++)
		if (b[i])
			return false;
	return true;
}

/* Checks an existing file's header; returns a reason when it cannot be joined. */
static const char *st_header_check(const struct st_header *h)
{
	if (memcmp(h->magic, ST_MAGIC, ST_MAGIC_LEN) != 0)
		return "exists and is not a socktrace trace (refusing to overwrite it)";
	if (h->version != ST_VERSION || h->header_size != ST_HEADER_SIZE ||
	    h->chunk_size != ST_CHUNK_SIZE)
		return "exists with another trace format version";
	if (h->capacity < ST_HEADER_SIZE + ST_CHUNK_SIZE)
		return "has a corrupt header";
	if ((h->flags & ST_HDR_RING) &&
	    (h->ring_chunks < 2 || h->meta_chunks < 1 ||
	     h->ring_base != ST_HEADER_SIZE + (uint64_t)h->meta_chunks * ST_CHUNK_SIZE ||
	     h->ring_base + (uint64_t)h->ring_chunks * ST_CHUNK_SIZE > h->capacity))
		return "has a corrupt header";
	return NULL;
}

/* A ring's layout: an eighth of the chunks for metadata (process, module,
 * resolve and peer records that kept events need in order to be read), the
 * rest reused in turn.  False when the file is too small for both. */
static bool st_ring_layout(uint64_t capacity, struct st_header *h)
{
	uint64_t chunks = (capacity - ST_HEADER_SIZE) / ST_CHUNK_SIZE;
	uint64_t meta = chunks / 8 ? chunks / 8 : 1;
	if (chunks < meta + 2 || chunks > UINT32_MAX)
		return false;
	h->flags |= ST_HDR_RING;
	h->meta_chunks = (uint32_t)meta;
	h->ring_chunks = (uint32_t)(chunks - meta);
	h->ring_base = ST_HEADER_SIZE + meta * ST_CHUNK_SIZE;
	return true;
}

/* Writes a fresh header with pwrite: on a full disk this fails with ENOSPC
 * instead of a SIGBUS on the first store through a mapping.  One write of
 * the whole page, which a SIGKILL cannot cut in two. */
static int st_header_write(int fd, uint64_t capacity, const char **why)
{
	static union {
		struct st_header h;
		char page[ST_HEADER_SIZE];
	} u; /* 4 KiB: not on a small thread stack */
	memset(&u, 0, sizeof u);
	memcpy(u.h.magic, ST_MAGIC, ST_MAGIC_LEN);
	u.h.version = ST_VERSION;
	u.h.header_size = ST_HEADER_SIZE;
	u.h.chunk_size = ST_CHUNK_SIZE;
	u.h.capacity = capacity;
	if (st_file_ring_wanted && !st_ring_layout(capacity, &u.h)) {
		*why = "is too small for a ring (SOCKTRACE_SIZE below 52 KiB)";
		return -EFBIG;
	}
	st_clock_stamp(&u.h);
	ssize_t n = pwrite(fd, u.page, sizeof u.page, 0);
	if (n == (ssize_t)sizeof u.page)
		return 0;
	return n < 0 ? -errno : -ENOSPC;
}

/* Frees the slots of processes that are gone; true when one was freed. */
static bool st_slots_reclaim(struct st_header *h);

/* The pid this process registered itself under: its own, or the one /proc
 * names it by when it runs in a pid namespace of its own (st_init.c). */
static uint32_t st_file_own_pid;

void st_file_register_pid(uint32_t pid)
{
	struct st_header *h = st_trace.hdr;
	st_file_own_pid = pid;
	for (unsigned i = 0; i < ST_LIVE_SLOTS; i++)
		if (__atomic_load_n(&h->live_pid[i], __ATOMIC_ACQUIRE) == pid)
			return;
	for (int pass = 0; pass < 2; pass++) {
		for (unsigned i = 0; i < ST_LIVE_SLOTS; i++) {
			uint32_t free_slot = 0;
			if (__atomic_compare_exchange_n(&h->live_pid[i], &free_slot, pid, false,
							__ATOMIC_ACQ_REL, __ATOMIC_RELAXED))
				return;
		}
		/* Full: children that _exit()ed never freed theirs. */
		if (pass == 0 && !st_slots_reclaim(h))
			break;
	}
	st_overflowed = true;
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

/* The capacity this process writes up to: the smaller of its own setting and
 * the header's (a file made by someone else never decides how far we grow
 * it), then RLIMIT_FSIZE.  0 when not even one chunk fits. */
static uint64_t st_own_capacity(uint64_t wanted, uint64_t in_header, bool *capped)
{
	uint64_t cap = wanted < in_header ? wanted : in_header;
	uint64_t lim = st_file_size_limit();
	*capped = lim < cap;
	if (*capped)
		cap = lim;
	return cap >= ST_HEADER_SIZE + ST_CHUNK_SIZE ? cap : 0;
}

/* Under the lock: makes the file a valid header, fresh or joined. */
static int st_attach_locked(int fd, const struct stat *st, uint64_t *capacity, bool *fresh,
			    const char **why)
{
	struct st_header h;
	ssize_t got = pread(fd, &h, sizeof h, 0);
	/* Empty or all zero: its creator was killed before writing the header. */
	*fresh = got <= 0 || (got < (ssize_t)sizeof h ? st_all_zero(&h, (size_t)got)
						       : st_all_zero(&h, sizeof h));
	if (!*fresh && got != (ssize_t)sizeof h) {
		*why = "exists and is not a socktrace trace (refusing to overwrite it)";
		return -EINVAL;
	}
	if (!*fresh && (*why = st_header_check(&h)) != NULL)
		return -EINVAL;
	bool capped;
	/* a ring's chunks lie over its whole size: whoever joins it writes up
	 * to that size, whatever its own SOCKTRACE_SIZE (RLIMIT_FSIZE still
	 * applies, below) */
	bool ring = !*fresh && (h.flags & ST_HDR_RING);
	uint64_t cap = st_own_capacity(ring ? h.capacity : *capacity,
				       *fresh ? *capacity : h.capacity, &capped);
	if (cap == 0) {
		*why = "RLIMIT_FSIZE (ulimit -f) is below the smallest trace";
		return -EFBIG;
	}
	if (!*fresh && (h.flags & ST_HDR_RING) && cap < h.capacity) {
		/* a ring's chunks are placed over its whole size, from the start */
		*why = "is a ring larger than RLIMIT_FSIZE (ulimit -f) lets this process write";
		return -EFBIG;
	}
	if (capped)
		st_note_capped = true;
	if (*fresh) {
		int rc = st_header_write(fd, cap, why);
		if (rc < 0)
			return rc;
	}
	if ((uint64_t)st->st_size < cap && ftruncate(fd, (off_t)cap) < 0)
		return -errno;
	*capacity = cap;
	return 0;
}

int st_file_attach(const char *path, uint64_t capacity, const char **why)
{
	*why = NULL;
	bool created;
	int fd = st_open_trace(path, &created, why);
	if (fd < 0)
		return -errno;
	struct stat st;
	int rc = 0;
	if (fstat(fd, &st) < 0)
		rc = -errno;
	else if (!S_ISREG(st.st_mode))
		*why = st_kind_of(st.st_mode), rc = -EINVAL;
	else if (st.st_uid != geteuid())
		*why = "belongs to another user (refusing to write into it)", rc = -EPERM;
	else if (!st_lock_bounded(fd, ST_LOCK_TRIES_ATTACH))
		*why = errno == EWOULDBLOCK ? "is locked by another process" : NULL, rc = -errno;
	if (rc < 0) {
		st_file_close(fd);
		if (created)
			unlink(path);
		return rc;
	}
	bool fresh = false;
	rc = st_attach_locked(fd, &st, &capacity, &fresh, why);
	void *map = MAP_FAILED;
	if (rc == 0) {
		map = mmap(NULL, ST_HEADER_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
		if (map == MAP_FAILED)
			rc = -errno;
	}
	if (rc < 0) {
		/* Nobody can have joined what we made: they wait for the lock. */
		if (fresh)
			unlink(path);
		st_unlock_close(fd);
		return rc;
	}
	st_trace.hdr = map;
	struct st_header *h = map;
	st_trace.ring = (h->flags & ST_HDR_RING) != 0;
	st_trace.ring_base = h->ring_base;
	st_trace.ring_chunks = h->ring_chunks;
	st_trace.meta_chunks = h->meta_chunks;
	st_clock_adopt(map);
	st_trace.capacity = capacity;
	st_trace.dev = st.st_dev;
	st_trace.ino = st.st_ino;
	st_absolute_path(path, st_trace.path, sizeof st_trace.path);
	uint64_t next = __atomic_load_n(&st_trace.hdr->next_chunk, __ATOMIC_ACQUIRE);
	if (next & ST_SEALED)
		__atomic_store_n(&st_trace.hdr->next_chunk, st_trace.hdr->sealed_end,
				 __ATOMIC_RELEASE);
	st_file_register_pid(st_record_pid());
	st_unlock_close(fd);
	return 0;
}

/* Opens the trace again by path, checking it is still the file we mapped. */
static int st_reopen_locked(int tries)
{
	if (st_trace.path[0] == '\0')
		return -1;
	int fd = open(st_trace.path, O_RDWR | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0)
		return -1;
	struct stat st;
	if (fstat(fd, &st) < 0 || st.st_dev != st_trace.dev || st.st_ino != st_trace.ino ||
	    !st_lock_bounded(fd, tries)) {
		st_file_close(fd);
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
	int fd = st_reopen_locked(ST_LOCK_TRIES_SHORT);
	bool ok = fd >= 0;
	if (ok) {
		struct st_header *h = st_trace.hdr;
		if (__atomic_load_n(&h->next_chunk, __ATOMIC_ACQUIRE) & ST_SEALED) {
			/* The program may have lowered RLIMIT_FSIZE since attach. */
			uint64_t cap = st_trace.capacity, lim = st_file_size_limit();
			ok = cap <= lim && ftruncate(fd, (off_t)cap) == 0;
			if (ok)
				__atomic_store_n(&h->next_chunk, h->sealed_end, __ATOMIC_RELEASE);
		}
		st_unlock_close(fd);
	}
	errno = saved;
	return ok;
}

bool st_file_pid_alive(uint32_t pid)
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
	st_file_close(fd);
	if (n <= 0)
		return true;
	buf[n] = '\0';
	char *paren = strrchr(buf, ')');
	return !(paren && paren[1] == ' ' && (paren[2] == 'Z' || paren[2] == 'X'));
}

static bool st_slots_reclaim(struct st_header *h)
{
	bool freed = false;
	for (unsigned i = 0; i < ST_LIVE_SLOTS; i++) {
		uint32_t pid = __atomic_load_n(&h->live_pid[i], __ATOMIC_ACQUIRE);
		if (pid != 0 && pid != st_file_own_pid && !st_file_pid_alive(pid))
			freed |= __atomic_compare_exchange_n(&h->live_pid[i], &pid, 0, false,
							     __ATOMIC_ACQ_REL, __ATOMIC_RELAXED);
	}
	return freed;
}

/* Forgets this process and dead ones; true when some other process is live. */
static bool st_others_live(struct st_header *h)
{
	bool live = __atomic_load_n(&h->live_overflow, __ATOMIC_ACQUIRE) != 0;
	for (unsigned i = 0; i < ST_LIVE_SLOTS; i++) {
		uint32_t pid = __atomic_load_n(&h->live_pid[i], __ATOMIC_ACQUIRE);
		if (pid == 0)
			continue;
		if (pid != st_file_own_pid && st_file_pid_alive(pid))
			live = true;
		else
			__atomic_compare_exchange_n(&h->live_pid[i], &pid, 0, false,
						    __ATOMIC_ACQ_REL, __ATOMIC_RELAXED);
	}
	return live;
}

/* At exit a program may have used every fd it may open: the soft limit is
 * raised for the one open the shrink needs, then put back. */
static int st_reopen_at_exit(void)
{
	int fd = st_reopen_locked(ST_LOCK_TRIES_SHORT);
	if (fd >= 0 || (errno != EMFILE && errno != ENFILE))
		return fd;
	struct rlimit rl, raised;
	if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur >= rl.rlim_max)
		return -1;
	raised = (struct rlimit){rl.rlim_cur + 1, rl.rlim_max};
	if (setrlimit(RLIMIT_NOFILE, &raised) < 0)
		return -1;
	/* The kernel leaves an fd above a lowered limit open: ours is closed
	 * by the caller a few calls later. */
	fd = st_reopen_locked(ST_LOCK_TRIES_SHORT);
	setrlimit(RLIMIT_NOFILE, &rl);
	return fd;
}

void st_file_detach(void)
{
	struct st_header *h = st_trace.hdr;
	if (h == NULL || st_leaving)
		return;
	st_leaving = true;
	int saved = errno;
	int fd = st_reopen_at_exit();
	if (fd < 0) {
		errno = saved;
		return;
	}
	if (st_overflowed) {
		st_overflowed = false;
		__atomic_fetch_sub(&h->live_overflow, 1, __ATOMIC_RELAXED);
	}
	/* A ring is never shrunk: its chunks are placed over its whole size. */
	if (!st_others_live(h) && !st_trace.ring) {
		/* Seal first so no thread of ours takes a chunk past the new end. */
		uint64_t next = __atomic_fetch_or(&h->next_chunk, ST_SEALED, __ATOMIC_ACQ_REL);
		if (!(next & ST_SEALED)) {
			uint64_t end = ST_HEADER_SIZE + next;
			h->sealed_end = next;
			struct stat st;
			/* Shrinking never raises SIGXFSZ; growing here is never needed. */
			if (fstat(fd, &st) == 0 && end < (uint64_t)st.st_size && !st_others_live(h))
				(void)!ftruncate(fd, (off_t)end);
		}
	}
	st_unlock_close(fd);
	errno = saved;
}

/* A child that must not write to its parent's file (%p) lets go of it. */
/* In a forked child: the parent's slot and its overflow are the parent's to
 * give back; a child that kept the flag would decrement live_overflow a
 * second time (it could wrap, and the file would never shrink again). */
void st_file_new_process(void)
{
	st_overflowed = false;
	st_leaving = false;
}

void st_file_forget(void)
{
	if (st_trace.hdr != NULL)
		munmap(st_trace.hdr, ST_HEADER_SIZE);
	memset(&st_trace, 0, sizeof st_trace);
}

/* A small file of /proc, read whole. */
size_t st_read_file(const char *path, char *buf, size_t size)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	size_t total = 0;
	ssize_t n;
	while (total < size && (n = read(fd, buf + total, size - total)) > 0)
		total += (size_t)n;
	st_file_close(fd);
	return total;
}
