/* http_server: a small single-threaded HTTP/1.0 server on a kernel-chosen
 * loopback port (printed on stdout with its pid), for the benchmark row. Each
 * request: accept, getpeername (as servers log their client), read the
 * request, write a fixed response, close.  Runs until killed. */
#define _GNU_SOURCE
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "bench.h"

static const char response[] = "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n"
			       "Content-Length: 6\r\nConnection: close\r\n\r\nhello\n";

static void serve(int fd)
{
	char buf[4096];
	size_t n = 0;
	ssize_t r;
	while (n < sizeof buf - 1 && (r = read(fd, buf + n, sizeof buf - 1 - n)) > 0) {
		n += (size_t)r;
		buf[n] = '\0';
		if (strstr(buf, "\r\n\r\n"))
			break;
	}
	if (write(fd, response, sizeof response - 1) < 0)
		return;
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	int listener = bench_listener();
	struct sockaddr_in in;
	socklen_t len = sizeof in;
	if (getsockname(listener, (struct sockaddr *)&in, &len) < 0)
		bench_die("getsockname");
	/* the pid too: under strace the shell only knows strace's pid, and a
	 * tracer killed with SIGKILL leaves its tracee running */
	printf("%u %d\n", ntohs(in.sin_port), (int)getpid());
	fflush(stdout);
	for (;;) {
		int fd = accept(listener, NULL, NULL);
		if (fd < 0)
			continue;
		struct sockaddr_storage peer;
		socklen_t plen = sizeof peer;
		getpeername(fd, (struct sockaddr *)&peer, &plen);
		serve(fd);
		close(fd);
	}
}
