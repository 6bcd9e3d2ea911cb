/* stackprog SCENARIO: connects through main -> outer -> inner (static) from
 * the main thread, a thread, a forked child, a signal handler or a library
 * loaded with dlopen, so tests can check the stacks the shim records. */
#include "progs.h"

#include <dlfcn.h>
#include <execinfo.h>
#include <pthread.h>
#include <signal.h>
#include <sys/time.h>
#include <sys/wait.h>

static struct sockaddr_in target;
static char libdir[4096];

static int new_socket(void)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	CHECK(fd >= 0);
	return fd;
}

__attribute__((noinline)) static int inner(int fd)
{
	int ret = connect(fd, (struct sockaddr *)&target, sizeof target);
	__asm__ volatile("" ::: "memory"); /* no tail call: keep this frame */
	return ret;
}

__attribute__((noinline)) int outer(int fd)
{
	int ret = inner(fd);
	__asm__ volatile("" ::: "memory");
	return ret;
}

static void *thread_main(void *arg)
{
	(void)arg;
	CHECK(outer(new_socket()) == 0);
	return NULL;
}

static int names_fd = -1;

/* A handler that fires thousands of times asks for names on one connected
 * socket rather than filling the listener's backlog with connects. */
static void on_alarm(int sig)
{
	(void)sig;
	int saved = errno;
	struct sockaddr_storage ss;
	socklen_t len = sizeof ss;
	getsockname(names_fd, (struct sockaddr *)&ss, &len);
	errno = saved;
}

static void on_signal(int sig)
{
	(void)sig;
	int saved = errno;
	outer(new_socket());
	errno = saved;
}

static int by_dlopen(void)
{
	char path[4200];
	snprintf(path, sizeof path, "%s/libstackdl.so", libdir);
	void *lib = dlopen(path, RTLD_NOW);
	CHECK(lib != NULL);
	int (*dl_outer)(int, const struct sockaddr *, socklen_t) =
		(int (*)(int, const struct sockaddr *, socklen_t))dlsym(lib, "dl_outer");
	CHECK(dl_outer != NULL);
	return dl_outer(new_socket(), (struct sockaddr *)&target, sizeof target);
}

/* glibc's backtrace() as the program sees it: names of the frames. */
__attribute__((noinline)) static void glibc_backtrace(void)
{
	void *frames[32];
	int n = backtrace(frames, 32);
	printf("backtrace frames=%d", n);
	for (int i = 0; i < n; i++) {
		Dl_info info;
		printf(" %s", dladdr(frames[i], &info) && info.dli_sname ? info.dli_sname : "?");
	}
	printf("\n");
	__asm__ volatile("" ::: "memory");
}

/* A SIGALRM handler connects while this thread loops dlopen/dlclose. */
static int dlopen_loop(int rounds)
{
	char path[4200];
	snprintf(path, sizeof path, "%s/libstackdl.so", libdir);
	names_fd = new_socket();
	CHECK(outer(names_fd) == 0);
	struct sigaction sa = {.sa_handler = on_alarm, .sa_flags = SA_RESTART};
	CHECK(sigaction(SIGALRM, &sa, NULL) == 0);
	struct itimerval it = {{0, 200}, {0, 200}};
	CHECK(setitimer(ITIMER_REAL, &it, NULL) == 0);
	for (int i = 0; i < rounds; i++) {
		void *lib = dlopen(path, RTLD_NOW);
		CHECK(lib != NULL);
		dlclose(lib);
	}
	struct itimerval off = {{0, 0}, {0, 0}};
	CHECK(setitimer(ITIMER_REAL, &off, NULL) == 0);
	printf("dlopen-loop done %d\n", rounds);
	return 0;
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	const char *s = argc > 1 ? argv[1] : "main";
	snprintf(libdir, sizeof libdir, "%s", argv[0]);
	*strrchr(libdir, '/') = '\0';
	unsigned port;
	int l = tcp_listener(AF_INET, &port);
	target = (struct sockaddr_in){.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
				      .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	if (!strcmp(s, "main"))
		CHECK(outer(new_socket()) == 0);
	else if (!strcmp(s, "thread")) {
		pthread_t t;
		CHECK(pthread_create(&t, NULL, thread_main, NULL) == 0);
		pthread_join(t, NULL);
	} else if (!strcmp(s, "fork")) {
		pid_t pid = fork();
		CHECK(pid >= 0);
		if (pid == 0) {
			printf("child pid=%d\n", getpid());
			_exit(outer(new_socket()) == 0 ? 0 : 1);
		}
		int status;
		CHECK(waitpid(pid, &status, 0) == pid && WIFEXITED(status) && !WEXITSTATUS(status));
	} else if (!strcmp(s, "signal")) {
		signal(SIGUSR1, on_signal);
		raise(SIGUSR1);
	} else if (!strcmp(s, "dlopen"))
		CHECK(by_dlopen() == 0);
	else if (!strcmp(s, "backtrace"))
		glibc_backtrace();
	else if (!strcmp(s, "dlloop") && argc > 2)
		return dlopen_loop(atoi(argv[2]));
	else
		return 2;
	(void)l;
	printf("done %s\n", s);
	return 0;
}
