/*
 * A thread with a descriptor table of its own (unshare(CLONE_FILES)), whose
 * fd N is another socket than its leader's fd N: each must get the name of
 * its own socket.  Prints one line per question, "own" or "other".  A tracer
 * that answers getsockname itself, from the leader's table, would answer the
 * thread with the leader's socket.
 */
#define _GNU_SOURCE
#include "progs.h"

#include <pthread.h>
#include <sched.h>

static int unshared_fd;
static unsigned unshared_leader_port;

static unsigned unshared_port_of(int fd)
{
	struct sockaddr_in in;
	socklen_t len = sizeof in;
	CHECK(getsockname(fd, (struct sockaddr *)&in, &len) == 0);
	return ntohs(in.sin_port);
}

static void *unshared_thread(void *arg)
{
	(void)arg;
	CHECK(unshare(CLONE_FILES) == 0);
	unsigned port;
	int mine = tcp_listener(AF_INET, &port);
	CHECK(dup2(mine, unshared_fd) == unshared_fd); /* its N is now its own socket */
	for (int i = 0; i < 3; i++)
		printf("thread %s\n", unshared_port_of(unshared_fd) == port ? "own" : "other");
	return NULL;
}

int main(void)
{
	unshared_fd = tcp_listener(AF_INET, &unshared_leader_port);
	printf("leader %s\n", unshared_port_of(unshared_fd) == unshared_leader_port ? "own" : "other");
	pthread_t th;
	CHECK(pthread_create(&th, NULL, unshared_thread, NULL) == 0);
	CHECK(pthread_join(th, NULL) == 0);
	printf("leader %s\n", unshared_port_of(unshared_fd) == unshared_leader_port ? "own" : "other");
	return 0;
}
