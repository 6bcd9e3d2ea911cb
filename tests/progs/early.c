/* early: linked with libearly.so (socket calls in a constructor that runs
 * before the shim's) and with its own malloc and calloc, which make a socket
 * call each time they run: when the shim's set-up (dlsym, pthread_atfork, ...)
 * allocates, a wrapper is entered while the shim is binding or initialising,
 * and must neither recurse nor hang. */
#include "progs.h"

extern void *__libc_calloc(size_t n, size_t size);
extern void *__libc_malloc(size_t size);

static int alloc_calls;

static void socket_call_from_allocator(void)
{
	alloc_calls++;
	struct sockaddr_storage ss;
	socklen_t len = sizeof ss;
	(void)getpeername(-1, (struct sockaddr *)&ss, &len);
}

void *calloc(size_t n, size_t size)
{
	socket_call_from_allocator();
	return __libc_calloc(n, size);
}

void *malloc(size_t size)
{
	socket_call_from_allocator();
	return __libc_malloc(size);
}

int main(void)
{
	int c = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_storage ss;
	socklen_t len = sizeof ss;
	int ret = getsockname(c, (struct sockaddr *)&ss, &len);
	printf("main fd=%d getsockname=%d allocator-called=%d\n", c, ret, alloc_calls > 0);
	return 0;
}
