// A C++ program whose connect is made from a member function in a
// namespace: socktrace-dump must show its frames demangled.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>

namespace demo {
struct Client {
	int dial(unsigned short port) __attribute__((noinline));
};

int Client::dial(unsigned short port)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	sockaddr_in sa{};
	sa.sin_family = AF_INET;
	sa.sin_port = htons(port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	return connect(fd, reinterpret_cast<sockaddr *>(&sa), sizeof sa);
}
} // namespace demo

int main()
{
	int l = socket(AF_INET, SOCK_STREAM, 0);
	sockaddr_in sa{};
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	socklen_t len = sizeof sa;
	if (bind(l, reinterpret_cast<sockaddr *>(&sa), sizeof sa) != 0 || listen(l, 4) != 0 ||
	    getsockname(l, reinterpret_cast<sockaddr *>(&sa), &len) != 0)
		return 99;
	demo::Client c;
	std::printf("dial=%d\n", c.dial(ntohs(sa.sin_port)));
	return 0;
}
