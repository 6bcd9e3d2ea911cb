/*
 * The shim's few messages to the user.  Each trace gets at most one: the
 * first process that speaks marks the environment (SOCKTRACE_WARNED=<file
 * setting>), so a shell script running a hundred commands under the same
 * setting says it once.  A message goes to fd 2 only while fd 2 is still the
 * file it was when the process started: a daemon that closed its stderr and
 * opened a data file as fd 2 must not find our words in its data.  Bytes from
 * the environment are escaped, so a crafted setting cannot forge a line.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "st_internal.h"

#define ST_WARNED_VAR "SOCKTRACE_WARNED"

static bool st_stderr_known;
static dev_t st_stderr_dev;
static ino_t st_stderr_ino;
static bool st_silenced; /* an earlier process of this trace spoke, or start-up ended */
static bool st_spoke;    /* this process spoke */

void st_warn_init(const char *file_setting)
{
	struct stat st;
	st_stderr_known = fstat(STDERR_FILENO, &st) == 0;
	st_stderr_dev = st.st_dev;
	st_stderr_ino = st.st_ino;
	const char *mark = getenv(ST_WARNED_VAR);
	st_silenced = mark != NULL && strcmp(mark, file_setting ? file_setting : "") == 0;
}

/* Start-up is over: what it had to say was said.  setenv only from the
 * constructor (from_constructor): it is not async-signal-safe. */
void st_warn_mark(const char *file_setting, bool from_constructor)
{
	if (st_spoke && from_constructor)
		setenv(ST_WARNED_VAR, file_setting ? file_setting : "", 1);
	if (st_spoke)
		st_silenced = true;
}

static bool st_stderr_unchanged(void)
{
	struct stat st;
	return st_stderr_known && fstat(STDERR_FILENO, &st) == 0 && st.st_dev == st_stderr_dev &&
	       st.st_ino == st_stderr_ino;
}

static void st_put(const char *s, size_t n)
{
	while (n > 0) {
		ssize_t w = write(STDERR_FILENO, s, n);
		if (w <= 0)
			return;
		s += w;
		n -= (size_t)w;
	}
}

/* Copies s with control bytes and backslashes as \n, \t, \xHH. */
static void st_put_escaped(const char *s, size_t limit)
{
	static const char hex[] = "0123456789abcdef";
	char buf[256];
	size_t o = 0;
	for (size_t i = 0; s[i] && i < limit; i++) {
		unsigned char c = (unsigned char)s[i];
		if (o + 4 > sizeof buf) {
			st_put(buf, o);
			o = 0;
		}
		if (c == '\n') {
			buf[o++] = '\\';
			buf[o++] = 'n';
		} else if (c == '\t') {
			buf[o++] = '\\';
			buf[o++] = 't';
		} else if (c == '\\') {
			buf[o++] = '\\';
			buf[o++] = '\\';
		} else if (c < 0x20 || c == 0x7f) {
			buf[o++] = '\\';
			buf[o++] = 'x';
			buf[o++] = hex[c >> 4];
			buf[o++] = hex[c & 15];
		} else {
			buf[o++] = (char)c;
		}
	}
	st_put(buf, o);
}

/* parts: literal text and escaped values alternate, literal first; NULL ends. */
void st_say(const char *const *parts)
{
	if (st_silenced || !st_stderr_unchanged())
		return;
	st_spoke = true;
	int saved = errno;
	st_put("socktrace: ", 11);
	for (size_t i = 0; parts[i] != NULL; i++) {
		if (i % 2 == 0)
			st_put(parts[i], strlen(parts[i]));
		else
			st_put_escaped(parts[i], 512);
	}
	st_put("\n", 1);
	errno = saved;
}

void st_warn(const char *path, const char *reason)
{
	st_say((const char *const[]){"cannot trace to ", path, ": ", reason,
				      "; the program runs untraced", NULL});
}
