#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netdb.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>
#include <time.h>

#include "st_endpoint.h"
#include "st_escape.h"
#include "st_fmt.h"

#define ST_LOOKUP_MS 300

struct st_lookup {
	pthread_mutex_t lock;
	pthread_cond_t done_cond;
	bool done;
	int refs;
	struct sockaddr_storage ss;
	socklen_t len;
	char host[NI_MAXHOST];
	int rc;
};

struct st_name {
	struct sockaddr_storage ss; /* port cleared: names are per address */
	socklen_t len;
	char *host;
	struct st_name *next;
};

static struct st_name *st_names;
/* Reverse DNS sends packets: only when the user asks (-r, like ss -r). */
static bool st_dns_allowed;

void st_endpoint_allow_dns(bool allow)
{
	st_dns_allowed = allow;
}

/* The first name /etc/hosts gives the address, or NULL; read once. */
static const char *st_hosts_name(const struct sockaddr_storage *ss)
{
	static struct st_hosts_entry {
		int family;
		uint8_t addr[16];
		char name[64];
	} *entries;
	static size_t n;
	static bool loaded;
	if (!loaded) {
		loaded = true;
		FILE *f = fopen("/etc/hosts", "re");
		char line[512];
		size_t cap = 0;
		while (f && fgets(line, sizeof line, f)) {
			char addr[64], name[64];
			if (line[0] == '#' || sscanf(line, "%63s %63s", addr, name) != 2)
				continue;
			struct st_hosts_entry e = {0};
			if (inet_pton(AF_INET, addr, e.addr) == 1)
				e.family = AF_INET;
			else if (inet_pton(AF_INET6, addr, e.addr) == 1)
				e.family = AF_INET6;
			else
				continue;
			snprintf(e.name, sizeof e.name, "%s", name);
			if (n == cap) {
				struct st_hosts_entry *m = realloc(entries, (cap = cap ? cap * 2 : 32) *
									      sizeof *m);
				if (m == NULL)
					break;
				entries = m;
			}
			entries[n++] = e;
		}
		if (f)
			fclose(f);
	}
	const uint8_t *a = ss->ss_family == AF_INET
				   ? (const uint8_t *)&((const struct sockaddr_in *)ss)->sin_addr
				   : (const uint8_t *)&((const struct sockaddr_in6 *)ss)->sin6_addr;
	for (size_t i = 0; i < n; i++)
		if (entries[i].family == ss->ss_family &&
		    memcmp(entries[i].addr, a, ss->ss_family == AF_INET ? 4 : 16) == 0)
			return entries[i].name;
	return NULL;
}
/* After one lookup timed out the resolver is not asked again: a reader must
 * never crawl on a machine without DNS. */
static bool st_resolver_slow;

static void st_lookup_release(struct st_lookup *l)
{
	pthread_mutex_lock(&l->lock);
	int refs = --l->refs;
	pthread_mutex_unlock(&l->lock);
	if (refs == 0) {
		pthread_mutex_destroy(&l->lock);
		pthread_cond_destroy(&l->done_cond);
		free(l);
	}
}

static void *st_lookup_run(void *arg)
{
	struct st_lookup *l = arg;
	int rc = getnameinfo((struct sockaddr *)&l->ss, l->len, l->host, sizeof l->host, NULL, 0,
			     NI_NAMEREQD);
	pthread_mutex_lock(&l->lock);
	l->rc = rc;
	l->done = true;
	pthread_cond_signal(&l->done_cond);
	pthread_mutex_unlock(&l->lock);
	st_lookup_release(l);
	return NULL;
}

/* Returns a malloc'd name, or NULL when there is none in time. */
static char *st_lookup_timed(const struct sockaddr_storage *ss, socklen_t len)
{
	struct st_lookup *l = calloc(1, sizeof *l);
	if (l == NULL)
		return NULL;
	pthread_mutex_init(&l->lock, NULL);
	pthread_cond_init(&l->done_cond, NULL);
	l->refs = 2;
	l->ss = *ss;
	l->len = len;
	pthread_t th;
	if (pthread_create(&th, NULL, st_lookup_run, l) != 0) {
		free(l);
		return NULL;
	}
	pthread_detach(th);
	struct timespec deadline;
	clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_nsec += ST_LOOKUP_MS * 1000000L;
	deadline.tv_sec += deadline.tv_nsec / 1000000000L;
	deadline.tv_nsec %= 1000000000L;
	char *name = NULL;
	pthread_mutex_lock(&l->lock);
	while (!l->done && pthread_cond_timedwait(&l->done_cond, &l->lock, &deadline) == 0)
		;
	if (!l->done)
		st_resolver_slow = true;
	else if (l->rc == 0)
		name = strdup(l->host);
	pthread_mutex_unlock(&l->lock);
	st_lookup_release(l);
	return name;
}

static void st_clear_port(struct sockaddr_storage *ss)
{
	if (ss->ss_family == AF_INET)
		((struct sockaddr_in *)ss)->sin_port = 0;
	else if (ss->ss_family == AF_INET6)
		((struct sockaddr_in6 *)ss)->sin6_port = 0;
}

const char *st_host_name(const struct sockaddr *sa, socklen_t len, char *num, size_t numlen)
{
	struct sockaddr_storage key = {0};
	memcpy(&key, sa, len);
	st_clear_port(&key);
	for (struct st_name *n = st_names; n; n = n->next)
		if (n->len == len && memcmp(&n->ss, &key, len) == 0)
			return n->host ? n->host : num;
	struct st_name *n = calloc(1, sizeof *n);
	if (n == NULL)
		return num;
	n->ss = key;
	n->len = len;
	const char *from_file = st_hosts_name(&key);
	if (from_file)
		n->host = strdup(from_file);
	else if (st_dns_allowed && !st_resolver_slow)
		n->host = st_lookup_timed(&key, len);
	n->next = st_names;
	st_names = n;
	(void)numlen;
	return n->host ? n->host : num;
}

static uint16_t st_family(const struct st_endpoint *ep)
{
	sa_family_t f;
	memcpy(&f, st_ep_sa(ep), sizeof f);
	return f;
}

/* Dotted quad without inet_ntop, which formats with sprintf; its length. */
static size_t st_ipv4_text(const uint8_t *a, char *out)
{
	const char *start = out;
	for (int i = 0; i < 4; i++) {
		unsigned v = a[i];
		if (v >= 100) {
			*out++ = (char)('0' + v / 100);
			v %= 100;
			*out++ = st_fmt_pairs[2 * v];
			*out++ = st_fmt_pairs[2 * v + 1];
		} else if (v >= 10) {
			*out++ = st_fmt_pairs[2 * v];
			*out++ = st_fmt_pairs[2 * v + 1];
		} else {
			*out++ = (char)('0' + v);
		}
		*out++ = i < 3 ? '.' : '\0';
	}
	return (size_t)(out - 1 - start);
}

/* The address as text in addr (its length in *addr_n) and the port of an
 * inet or inet6 end; false for any other. */
static bool st_inet_parts(const struct st_endpoint *ep, char *addr, size_t addrlen,
			  size_t *addr_n, unsigned *port)
{
	if (ep->len >= ST_INET_SHORT_LEN && addrlen >= 16 && st_family(ep) == AF_INET) {
		uint16_t p;
		memcpy(&p, st_ep_sa(ep) + 2, sizeof p);
		*port = ntohs(p);
		*addr_n = st_ipv4_text(st_ep_sa(ep) + 4, addr);
		return true;
	}
	struct sockaddr_storage ss = {0};
	memcpy(&ss, st_ep_sa(ep), ep->len);
	if (ss.ss_family == AF_INET && ep->len >= ST_INET_SHORT_LEN) {
		struct sockaddr_in *in = (struct sockaddr_in *)&ss;
		inet_ntop(AF_INET, &in->sin_addr, addr, (socklen_t)addrlen);
		*port = ntohs(in->sin_port);
		*addr_n = strlen(addr);
		return true;
	}
	if (ss.ss_family == AF_INET6 && ep->len >= sizeof(struct sockaddr_in6)) {
		struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
		inet_ntop(AF_INET6, &in6->sin6_addr, addr, (socklen_t)addrlen);
		*port = ntohs(in6->sin6_port);
		*addr_n = strlen(addr);
		return true;
	}
	return false;
}

/* Unix name: kind 'p' path, 'a' abstract, 'u' unnamed; sets *name and *n. */
static char st_unix_parts(const struct st_endpoint *ep, const char **name, size_t *n)
{
	size_t off = offsetof(struct sockaddr_un, sun_path);
	*name = (const char *)st_ep_sa(ep) + off;
	*n = ep->len > off ? ep->len - off : 0;
	if (*n == 0)
		return 'u';
	if ((*name)[0] == '\0') {
		(*name)++;
		(*n)--;
		return 'a';
	}
	*n = strnlen(*name, *n);
	return 'p';
}


/* "(host, port)" of an inet end into l; false (nothing written) for any
 * other end. */
static bool st_endpoint_inet_text(struct st_line *l, const struct st_endpoint *ep, bool numeric)
{
	char addr[INET6_ADDRSTRLEN];
	size_t addr_n;
	unsigned port;
	if (st_ep_sa(ep) == NULL || ep->len < sizeof(sa_family_t) ||
	    !st_inet_parts(ep, addr, sizeof addr, &addr_n, &port))
		return false;
	st_line_c(l, '(');
	if (numeric) {
		st_line_mem(l, addr, addr_n);
	} else {
		struct sockaddr_storage ss = {0};
		memcpy(&ss, st_ep_sa(ep), ep->len);
		socklen_t len = st_family(ep) == AF_INET ? sizeof(struct sockaddr_in) : ep->len;
		st_line_s(l, st_host_name((struct sockaddr *)&ss, len, addr, sizeof addr));
	}
	st_line_lit(l, ", ");
	st_line_u(l, port);
	st_line_c(l, ')');
	return true;
}

void st_endpoint_text(FILE *out, const struct st_endpoint *ep, bool numeric)
{
	struct st_line l;
	st_line_init(&l, out);
	if (st_endpoint_inet_text(&l, ep, numeric)) {
		st_line_flush(&l);
		return;
	}
	if (st_ep_sa(ep) == NULL || ep->len < sizeof(sa_family_t)) {
		fputs("(none)", out);
		return;
	}
	if (st_family(ep) == AF_UNIX) {
		const char *name;
		size_t n;
		char kind = st_unix_parts(ep, &name, &n);
		if (kind == 'u') {
			fputs("(unix, unnamed)", out);
		} else {
			fputs(kind == 'a' ? "(unix, @" : "(unix, ", out);
			st_fput_escaped(out, name, n);
			fputs(")", out);
		}
		return;
	}
	fprintf(out, "(family %u)", st_family(ep));
}

void st_endpoint_text_line(struct st_line *l, const struct st_endpoint *ep, bool numeric)
{
	if (st_endpoint_inet_text(l, ep, numeric))
		return;
	st_line_flush(l);
	st_endpoint_text(l->out, ep, numeric);
}

/* The JSON object of an inet end into l; false (nothing written) for any
 * other end. */
static bool st_endpoint_inet_json(struct st_line *l, const struct st_endpoint *ep)
{
	char addr[INET6_ADDRSTRLEN];
	size_t addr_n;
	unsigned port;
	if (st_ep_sa(ep) == NULL || ep->len < sizeof(sa_family_t) ||
	    !st_inet_parts(ep, addr, sizeof addr, &addr_n, &port))
		return false;
	if (st_family(ep) == AF_INET)
		st_line_lit(l, "{\"family\":\"inet\",\"addr\":\"");
	else
		st_line_lit(l, "{\"family\":\"inet6\",\"addr\":\"");
	st_line_mem(l, addr, addr_n);
	st_line_lit(l, "\",\"port\":");
	st_line_u(l, port);
	st_line_c(l, '}');
	return true;
}

void st_endpoint_json_line(struct st_line *l, const struct st_endpoint *ep)
{
	if (st_endpoint_inet_json(l, ep))
		return;
	st_line_flush(l);
	st_endpoint_json(l->out, ep);
}

void st_json_string(FILE *out, const char *s, size_t n)
{
	fputc('"', out);
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '"' || c == '\\')
			fprintf(out, "\\%c", c);
		else if (c < 0x20 || c >= 0x7f)
			fprintf(out, "\\u%04x", c);
		else
			fputc(c, out);
	}
	fputc('"', out);
}

void st_json_cstr(FILE *out, const char *s)
{
	if (s)
		st_json_string(out, s, strlen(s));
	else
		fputs("null", out);
}

void st_endpoint_json(FILE *out, const struct st_endpoint *ep)
{
	struct st_line l;
	st_line_init(&l, out);
	if (st_endpoint_inet_json(&l, ep)) {
		st_line_flush(&l);
		return;
	}
	if (st_ep_sa(ep) == NULL || ep->len < sizeof(sa_family_t)) {
		fputs("null", out);
		return;
	}
	if (st_family(ep) == AF_UNIX) {
		const char *name;
		size_t n;
		char kind = st_unix_parts(ep, &name, &n);
		fputs("{\"family\":\"unix\",\"path\":", out);
		if (kind == 'a') {
			char buf[ST_ADDR_MAX + 1] = "@";
			memcpy(buf + 1, name, n);
			st_json_string(out, buf, n + 1);
		} else {
			st_json_string(out, name, kind == 'u' ? 0 : n);
		}
		fputc('}', out);
		return;
	}
	fprintf(out, "{\"family\":%u}", st_family(ep));
}

void st_endpoint_ss(FILE *out, const struct st_endpoint *ep)
{
	char addr[INET6_ADDRSTRLEN];
	size_t addr_n;
	unsigned port;
	if (st_ep_sa(ep) == NULL || ep->len < sizeof(sa_family_t))
		fputs("-", out);
	else if (st_inet_parts(ep, addr, sizeof addr, &addr_n, &port))
		fprintf(out, st_family(ep) == AF_INET6 ? "[%s]:%u" : "%s:%u", addr, port);
	else if (st_family(ep) == AF_UNIX) {
		const char *name;
		size_t n;
		char kind = st_unix_parts(ep, &name, &n);
		fputs(kind == 'a' ? "unix:@" : "unix:", out);
		st_fput_escaped(out, name, n);
	} else
		fprintf(out, "family%u", st_family(ep));
}

void st_endpoint_ss_str(const struct st_endpoint *ep, char *buf, size_t size)
{
	FILE *mem = fmemopen(buf, size, "w");
	if (mem == NULL) {
		snprintf(buf, size, "?");
		return;
	}
	st_endpoint_ss(mem, ep);
	fclose(mem);
}
