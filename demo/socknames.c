/*
 * socknames PORT [SECONDS]: the three sockets of The Linux Programming
 * Interface, Listing 61-3.  A listening socket on PORT (number or service name;
 * 0 lets the kernel choose), a socket connected to it, the socket accept()
 * returns; then what getsockname() and getpeername() say of the two connected
 * ones, and a pause so that `ss -tan` can confirm.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define DEFAULT_SECONDS 5

static void die(const char *what, const char *why)
{
	fprintf(stderr, "socknames: %s: %s\n", what, why);
	exit(EXIT_FAILURE);
}

/* "(host, port)" as the book prints it: host name when it has one. */
static const char *addr_str(const struct sockaddr *sa, socklen_t len, char *buf, size_t size)
{
	char host[NI_MAXHOST], serv[NI_MAXSERV];
	if (getnameinfo(sa, len, host, sizeof host, serv, sizeof serv, NI_NUMERICSERV) == 0)
		snprintf(buf, size, "(%s, %s)", host, serv);
	else
		snprintf(buf, size, "(?UNKNOWN?)");
	return buf;
}

__attribute__((noinline)) static int listen_on(const char *service)
{
	struct addrinfo hints = {.ai_family = AF_INET, .ai_socktype = SOCK_STREAM,
				 .ai_flags = AI_PASSIVE};
	struct addrinfo *res;
	int rc = getaddrinfo(NULL, service, &hints, &res);
	if (rc != 0)
		die(service, gai_strerror(rc));
	int fd = socket(res->ai_family, res->ai_socktype, res->ai_protocol);
	int on = 1;
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on) < 0 ||
	    bind(fd, res->ai_addr, res->ai_addrlen) < 0 || listen(fd, 5) < 0)
		die("listen", strerror(errno));
	freeaddrinfo(res);
	return fd;
}

/* Connects to the loopback address on the port the listener really has.
 * Not inlined, so the demo's call stacks show it. */
__attribute__((noinline)) static int connect_to(int listen_fd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof ss;
	if (getsockname(listen_fd, (struct sockaddr *)&ss, &len) < 0)
		die("getsockname(listenFd)", strerror(errno));
	char port[16];
	snprintf(port, sizeof port, "%u", ntohs(((struct sockaddr_in *)&ss)->sin_port));
	struct addrinfo hints = {.ai_family = AF_INET, .ai_socktype = SOCK_STREAM};
	struct addrinfo *res;
	int rc = getaddrinfo(NULL, port, &hints, &res);
	if (rc != 0)
		die(port, gai_strerror(rc));
	int fd = socket(res->ai_family, res->ai_socktype, res->ai_protocol);
	if (fd < 0 || connect(fd, res->ai_addr, res->ai_addrlen) < 0)
		die("connect", strerror(errno));
	freeaddrinfo(res);
	return fd;
}

static void show(const char *call, int (*fn)(int, struct sockaddr *, socklen_t *), int fd,
		 const char *fd_name)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof ss;
	char buf[NI_MAXHOST + NI_MAXSERV + 8];
	if (fn(fd, (struct sockaddr *)&ss, &len) < 0)
		die(call, strerror(errno));
	printf("%s(%s): %s\n", call, fd_name, addr_str((struct sockaddr *)&ss, len, buf, sizeof buf));
}

int main(int argc, char *argv[])
{
	if (argc < 2 || argc > 3 || strcmp(argv[1], "--help") == 0) {
		fprintf(stderr, "usage: socknames PORT [SECONDS]\n");
		return argc == 2 ? EXIT_SUCCESS : EXIT_FAILURE;
	}
	unsigned seconds = argc == 3 ? (unsigned)strtoul(argv[2], NULL, 10) : DEFAULT_SECONDS;
	setvbuf(stdout, NULL, _IOLBF, 0);
	int listen_fd = listen_on(argv[1]);
	int conn_fd = connect_to(listen_fd);
	int accept_fd = accept(listen_fd, NULL, NULL);
	if (accept_fd < 0)
		die("accept", strerror(errno));
	show("getsockname", getsockname, conn_fd, "connFd");
	show("getsockname", getsockname, accept_fd, "acceptFd");
	show("getpeername", getpeername, conn_fd, "connFd");
	show("getpeername", getpeername, accept_fd, "acceptFd");
	sleep(seconds);
	return EXIT_SUCCESS;
}
