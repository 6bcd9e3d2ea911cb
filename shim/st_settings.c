/*
 * SOCKTRACE_* settings.  A value that cannot be used is named in one message
 * with what is used instead; the program itself always runs.  Sizes take the
 * suffixes people write: K, M, G, T (powers of 1024, also as KiB, MiB...)
 * and KB, MB, GB, TB (powers of 1000), upper or lower case.
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/stat.h>
#include <unistd.h>

#include "st_internal.h"

#define ST_SECURE_CONF "/etc/socktrace.conf"

static void st_size_note(const char *value, const char *problem)
{
	st_say((const char *const[]){"SOCKTRACE_SIZE=", value, problem, NULL});
}

uint64_t st_setting_size(const char *s)
{
	uint64_t size;
	const char *problem = st_size_parse(s, &size);
	if (problem != NULL)
		st_size_note(s, problem);
	return size;
}

unsigned st_setting_depth(const char *s)
{
	if (s == NULL || *s == '\0')
		return 0;
	char *end;
	errno = 0;
	unsigned long v = isdigit((unsigned char)s[0]) ? strtoul(s, &end, 10) : 0;
	if (!isdigit((unsigned char)s[0]) || *end != '\0' || errno == ERANGE) {
		st_say((const char *const[]){"SOCKTRACE_BACKTRACE=", s,
					      " is not a frame count (0 to 64); no call stacks",
					      NULL});
		return 0;
	}
	if (v > ST_FRAMES_MAX) {
		st_say((const char *const[]){"SOCKTRACE_BACKTRACE=", s,
					      " is more than 64 frames; using 64", NULL});
		return ST_FRAMES_MAX;
	}
	return (unsigned)v;
}

/* A 0-or-1 setting (SOCKTRACE_TCPINFO=0 skips the getsockopt(TCP_INFO)
 * before each close; SOCKTRACE_RING=1 makes a new trace a flight recorder);
 * unset or empty: dflt. */
bool st_setting_flag(const char *name, const char *s, bool dflt)
{
	if (s == NULL || *s == '\0')
		return dflt;
	if (strcmp(s, "1") == 0 || strcmp(s, "0") == 0)
		return s[0] == '1';
	st_say((const char *const[]){name, "=", s, dflt ? " is not 0 or 1; using 1"
						       : " is not 0 or 1; using 0", NULL});
	return dflt;
}

/*
 * A set-user-ID or set-group-ID program (AT_SECURE) ignores SOCKTRACE_* and
 * traces only where root said so: a "file=PATH" line in /etc/socktrace.conf,
 * a file owned by root that nobody else can write.  Otherwise it records
 * nothing: never a file of the caller's choosing, never one in the caller's
 * directory.
 */
bool st_setting_secure_file(char *out, size_t size)
{
	int fd = open(ST_SECURE_CONF, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	if (fd < 0)
		return false;
	struct stat st;
	char buf[4096];
	ssize_t n = -1;
	if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_uid == 0 &&
	    !(st.st_mode & (S_IWGRP | S_IWOTH)))
		n = read(fd, buf, sizeof buf - 1);
	st_real_close(fd);
	if (n <= 0)
		return false;
	buf[n] = '\0';
	for (char *line = buf; line != NULL && *line;) {
		char *next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		if (strncmp(line, "file=/", 6) == 0 && strlen(line + 5) < size) {
			strcpy(out, line + 5);
			return true;
		}
		line = next;
	}
	return false;
}

bool st_setting_secure_mode(void)
{
	return getauxval(AT_SECURE) != 0;
}
