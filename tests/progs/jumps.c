/*
 * jumps N [altstack|longjmp]: N getsockname calls on a connected socket
 * while a 10 us interval timer's handler leaves whatever it interrupted with
 * siglongjmp (or longjmp), as programs that time calls out with alarm() and
 * a jump do; then 100 getpeername calls with no timer.  Prints how many
 * getsockname calls returned and how many were jumped out of.
 */
#include "progs.h"

#include <setjmp.h>
#include <stdbool.h>
#include <signal.h>
#include <sys/time.h>
#include <time.h>

static sigjmp_buf jumps_env;
static jmp_buf jumps_plain_env;
static volatile sig_atomic_t jumps_armed;
static int jumps_plain;

static void jumps_on_alarm(int sig)
{
	(void)sig;
	if (!jumps_armed)
		return;
	jumps_armed = 0;
	if (jumps_plain)
		longjmp(jumps_plain_env, 1);
	siglongjmp(jumps_env, 1);
}

static void jumps_timer(long usec)
{
	struct itimerval it = {{0, usec}, {0, usec}};
	CHECK(setitimer(ITIMER_REAL, &it, NULL) == 0);
}

static void jumps_handler(bool altstack)
{
	static char stack[1 << 16];
	if (altstack) {
		stack_t ss = {.ss_sp = stack, .ss_size = sizeof stack};
		CHECK(sigaltstack(&ss, NULL) == 0);
	}
	struct sigaction sa = {.sa_handler = jumps_on_alarm,
			       .sa_flags = altstack ? SA_ONSTACK : 0};
	CHECK(sigaction(SIGALRM, &sa, NULL) == 0);
}

int main(int argc, char **argv)
{
	long n = argc > 1 ? atol(argv[1]) : 100000;
	const char *mode = argc > 2 ? argv[2] : "";
	jumps_plain = strcmp(mode, "longjmp") == 0;
	unsigned port;
	int l = tcp_listener(AF_INET, &port);
	int fd = tcp_connect(AF_INET, port);
	CHECK(accept(l, NULL, NULL) >= 0);
	jumps_handler(strcmp(mode, "altstack") == 0);
	jumps_timer(10);
	volatile long completed = 0, jumped = 0;
	time_t deadline = time(NULL) + 20;
	for (volatile long i = 0; i < n && time(NULL) < deadline; i++) {
		int again = jumps_plain ? setjmp(jumps_plain_env) : sigsetjmp(jumps_env, 1);
		if (again) {
			/* longjmp, unlike siglongjmp, leaves the handler's mask */
			if (jumps_plain) {
				sigset_t alrm;
				sigemptyset(&alrm);
				sigaddset(&alrm, SIGALRM);
				sigprocmask(SIG_UNBLOCK, &alrm, NULL);
			}
			jumped++;
			continue;
		}
		struct sockaddr_storage ss;
		socklen_t len = sizeof ss;
		jumps_armed = 1;
		int rc = getsockname(fd, (struct sockaddr *)&ss, &len);
		jumps_armed = 0;
		CHECK(rc == 0);
		completed++;
	}
	jumps_timer(0);
	for (int i = 0; i < 100; i++) {
		struct sockaddr_storage ss;
		socklen_t len = sizeof ss;
		CHECK(getpeername(fd, (struct sockaddr *)&ss, &len) == 0);
	}
	printf("completed=%ld jumped=%ld\n", (long)completed, (long)jumped);
	return 0;
}
