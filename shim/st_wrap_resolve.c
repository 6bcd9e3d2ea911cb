/*
 * The names a program resolves: getaddrinfo and gethostbyname* are called
 * first, exactly as the program called them; then one record holds the name
 * asked, the service, the result and up to 32 addresses returned, read from
 * the answer the resolver just built (libc's memory, valid until the program
 * frees it, which it cannot have done yet).  Nothing is allocated.  The
 * reader names each connection by the newest resolution of its process that
 * returned the address it dialled (tcpconnect -d, without root).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <string.h>

#include "st_internal.h"

#define ST_EXPORT __attribute__((visibility("default")))

static size_t st_len(const char *s)
{
	return s ? strnlen(s, 1024) : 0;
}

static bool st_resolved_from(struct st_resolved *out, const struct sockaddr *sa)
{
	memset(out, 0, sizeof *out);
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
		out->family = AF_INET;
		out->port = in->sin_port;
		memcpy(out->addr, &in->sin_addr, 4);
		return true;
	}
	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
		out->family = AF_INET6;
		out->port = in6->sin6_port;
		memcpy(out->addr, &in6->sin6_addr, 16);
		return true;
	}
	return false;
}

ST_EXPORT int getaddrinfo(const char *node, const char *service, const struct addrinfo *hints,
			  struct addrinfo **res)
{
	int ret = st_real_getaddrinfo(node, service, hints, res);
	int saved = errno;
	if (node != NULL && st_ready()) {
		struct st_resolved addrs[ST_RESOLVE_ADDRS_MAX];
		unsigned n = 0;
		for (const struct addrinfo *ai = ret == 0 ? *res : NULL;
		     ai && n < ST_RESOLVE_ADDRS_MAX; ai = ai->ai_next)
			if (ai->ai_addr && st_resolved_from(&addrs[n], ai->ai_addr)) {
				/* one entry per address, not per socket type */
				bool seen = false;
				for (unsigned k = 0; k < n && !seen; k++)
					seen = memcmp(&addrs[k], &addrs[n], sizeof addrs[n]) == 0;
				n += !seen;
			}
		st_record_resolve(ST_RESOLVE_GETADDRINFO, ret, node, st_len(node), service,
				  st_len(service), addrs, n);
	}
	errno = saved;
	return ret;
}

static void st_record_hostent(const char *name, const struct hostent *h, int herr)
{
	struct st_resolved addrs[ST_RESOLVE_ADDRS_MAX];
	unsigned n = 0;
	for (char *const *a = h ? h->h_addr_list : NULL; a && *a && n < ST_RESOLVE_ADDRS_MAX; a++) {
		if (h->h_addrtype != AF_INET && h->h_addrtype != AF_INET6)
			break;
		memset(&addrs[n], 0, sizeof addrs[n]);
		addrs[n].family = (uint16_t)h->h_addrtype;
		memcpy(addrs[n].addr, *a, h->h_addrtype == AF_INET ? 4 : 16);
		n++;
	}
	st_record_resolve(ST_RESOLVE_GETHOSTBYNAME, h ? 0 : herr, name, st_len(name), NULL, 0,
			  addrs, n);
}

/* After a gethostbyname{,2}: records, leaving errno and h_errno as the
 * resolver left them. */
static struct hostent *st_after_hostent(const char *name, struct hostent *h)
{
	int saved = errno, herr = h_errno;
	if (name && st_ready())
		st_record_hostent(name, h, herr);
	errno = saved;
	h_errno = herr;
	return h;
}

/* After a gethostbyname{,2}_r; ERANGE: the program retries with a bigger
 * buffer, and that call is the one recorded. */
static int st_after_hostent_r(const char *name, int rc, struct hostent **result, int *h_errnop)
{
	int saved = errno;
	if (name && rc != ERANGE && st_ready())
		st_record_hostent(name, result ? *result : NULL, h_errnop ? *h_errnop : 0);
	errno = saved;
	return rc;
}

ST_EXPORT struct hostent *gethostbyname(const char *name)
{
	return st_after_hostent(name, st_real_gethostbyname(name));
}

ST_EXPORT struct hostent *gethostbyname2(const char *name, int af)
{
	return st_after_hostent(name, st_real_gethostbyname2(name, af));
}

ST_EXPORT int gethostbyname_r(const char *name, struct hostent *ret, char *buf, size_t buflen,
			      struct hostent **result, int *h_errnop)
{
	return st_after_hostent_r(
		name, st_real_gethostbyname_r(name, ret, buf, buflen, result, h_errnop), result,
		h_errnop);
}

ST_EXPORT int gethostbyname2_r(const char *name, int af, struct hostent *ret, char *buf,
			       size_t buflen, struct hostent **result, int *h_errnop)
{
	return st_after_hostent_r(
		name, st_real_gethostbyname2_r(name, af, ret, buf, buflen, result, h_errnop),
		result, h_errnop);
}
