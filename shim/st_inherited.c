/*
 * The sockets this program was started with (inetd's, socat's and sshd's
 * children get their connection on fds 0 and 1 across exec): listed once at
 * start-up from /proc/self/fd and handed to the core (st_call_started_with),
 * which records the TCP ones held and follows them to their end.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/syscall.h>

#include "st_internal.h"

/* Sockets listed at most: past them the program's sockets go unseen until
 * it names them, as before. */
#define ST_INHERITED_MAX 256

struct st_inherited {
	int fds[ST_INHERITED_MAX];
	uint64_t inodes[ST_INHERITED_MAX];
	size_t n;
};

/* "123" as an fd; -1 for anything else ("." and ".."). */
static int st_inherited_fd_of(const char *name)
{
	int fd = 0;
	if (*name == '\0')
		return -1;
	for (; *name; name++) {
		if (*name < '0' || *name > '9' || fd > (1 << 26))
			return -1;
		fd = fd * 10 + (*name - '0');
	}
	return fd;
}

static void st_inherited_add(struct st_inherited *list, int fd)
{
	struct stat st;
	if (list->n < ST_INHERITED_MAX && fstat(fd, &st) == 0 && S_ISSOCK(st.st_mode)) {
		list->fds[list->n] = fd;
		list->inodes[list->n++] = st.st_ino;
	}
}

struct st_dirent64 {
	uint64_t ino;
	int64_t off;
	unsigned short reclen;
	unsigned char type;
	char name[];
};

/* Raw system calls, no allocation; the directory's fd is closed before any
 * of the program's code runs. */
void st_inherited_scan(void)
{
	int dir = (int)st_raw_syscall(SYS_openat, AT_FDCWD, (long)"/proc/self/fd",
				      O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0, 0, 0);
	if (dir < 0)
		return;
	static struct st_inherited list; /* once per process, before its threads */
	list.n = 0;
	char buf[2048] __attribute__((aligned(8)));
	long got;
	while ((got = st_raw_syscall(SYS_getdents64, dir, (long)buf, sizeof buf, 0, 0, 0)) > 0)
		for (long off = 0; off < got;) {
			const struct st_dirent64 *e = (const struct st_dirent64 *)(buf + off);
			int fd = st_inherited_fd_of(e->name);
			if (fd >= 0 && fd != dir)
				st_inherited_add(&list, fd);
			off += e->reclen;
		}
	st_raw_syscall(SYS_close, dir, 0, 0, 0, 0, 0);
	st_call_started_with(list.fds, list.inodes, list.n);
}
