/* Event filters of socktrace-dump; all given filters must match. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "st_dump.h"

void st_filter_init(struct st_filter *f)
{
	memset(f, 0, sizeof *f);
	f->pid = f->port = f->fd = -1;
}

static int st_number(const char *what, const char *arg, long max, long *out)
{
	char *end;
	long v = strtol(arg, &end, 10);
	if (*arg == '\0' || *end != '\0' || v < 0 || v > max) {
		fprintf(stderr, "socktrace-dump: %s: not a valid %s\n", arg, what);
		return -1;
	}
	*out = v;
	return 0;
}

static int st_ops(const char *arg, unsigned *ops)
{
	char *copy = strdup(arg), *save = NULL;
	int rc = 0;
	for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		unsigned op = 0;
		for (unsigned k = 1; k < 32 && st_op_name((uint8_t)k); k++)
			if (strcmp(st_op_name((uint8_t)k), tok) == 0)
				op = k;
		if (op == 0) {
			fprintf(stderr, "socktrace-dump: --op %s: unknown call (connect, accept, "
					"accept4, getsockname, getpeername)\n", tok);
			rc = -1;
		}
		*ops |= 1u << op;
	}
	free(copy);
	return rc;
}

static int st_addr_option(struct st_filter *f, const char *arg)
{
	memset(&f->addr, 0, sizeof f->addr);
	struct sockaddr_in *in = (struct sockaddr_in *)&f->addr;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&f->addr;
	if (inet_pton(AF_INET, arg, &in->sin_addr) == 1)
		in->sin_family = AF_INET;
	else if (inet_pton(AF_INET6, arg, &in6->sin6_addr) == 1)
		in6->sin6_family = AF_INET6;
	else {
		fprintf(stderr, "socktrace-dump: --addr %s: not a numeric IPv4 or IPv6 address\n", arg);
		return -1;
	}
	f->have_addr = true;
	return 0;
}

int st_filter_option(struct st_filter *f, int opt, const char *arg)
{
	switch (opt) {
	case 'p': return st_number("pid", arg, 0x7fffffff, &f->pid);
	case 'o': return st_ops(arg, &f->ops);
	case 'P': return st_number("port", arg, 65535, &f->port);
	case 'a': return st_addr_option(f, arg);
	case 'F': return st_number("fd", arg, 0x7fffffff, &f->fd);
	case 'e': f->errors = true; return 0;
	case 'S': f->since_text = arg; return 0;
	case 'U': f->until_text = arg; return 0;
	}
	return -1;
}

/* Seconds since the epoch ("1795560587.5"), a date and time
 * ("2026-11-24 22:10:03[.5]", local), or a time of day ("22:10:03[.5]") on the
 * local date of the first event. */
static int st_parse_time(const char *text, uint64_t first_ts, uint64_t *out)
{
	char *end;
	double secs = strtod(text, &end);
	if (*text && *end == '\0' && strchr(text, ':') == NULL) {
		*out = (uint64_t)(secs * 1e9);
		return 0;
	}
	struct tm tm = {0};
	const char *rest = strptime(text, "%Y-%m-%d %H:%M:%S", &tm);
	if (rest == NULL)
		rest = strptime(text, "%Y-%m-%dT%H:%M:%S", &tm);
	if (rest == NULL) {
		time_t base = (time_t)(first_ts / 1000000000u);
		localtime_r(&base, &tm);
		rest = strptime(text, "%H:%M:%S", &tm);
	}
	double frac = 0;
	if (rest && *rest == '.') {
		frac = strtod(rest, &end);
		rest = *end == '\0' ? end : NULL;
	}
	if (rest == NULL || *rest != '\0')
		return -1;
	tm.tm_isdst = -1;
	*out = (uint64_t)mktime(&tm) * 1000000000u + (uint64_t)(frac * 1e9);
	return 0;
}

int st_filter_resolve_times(struct st_filter *f, uint64_t first)
{
	if (first == 0)
		first = (uint64_t)time(NULL) * 1000000000u;
	const char *texts[2] = {f->since_text, f->until_text};
	uint64_t *outs[2] = {&f->since, &f->until};
	for (int i = 0; i < 2; i++) {
		if (texts[i] && st_parse_time(texts[i], first, outs[i]) < 0) {
			fprintf(stderr, "socktrace-dump: %s: not a time (seconds since the epoch, "
					"YYYY-MM-DD HH:MM:SS or HH:MM:SS[.frac])\n", texts[i]);
			return -1;
		}
	}
	return 0;
}

static unsigned st_ep_port(const struct st_endpoint *ep, uint16_t family)
{
	uint16_t port;
	memcpy(&port, st_ep_sa(ep) + 2, sizeof port);
	return family == AF_INET || family == AF_INET6 ? ntohs(port) : 0x10000;
}

static uint16_t st_ep_family(const struct st_endpoint *ep)
{
	uint16_t f;
	memcpy(&f, st_ep_sa(ep), sizeof f);
	return f;
}

static bool st_ep_port_is(const struct st_endpoint *ep, long port)
{
	return st_ep_sa(ep) && ep->len >= 4 && st_ep_port(ep, st_ep_family(ep)) == (unsigned)port;
}

static bool st_ep_addr_is(const struct st_endpoint *ep, const struct sockaddr_storage *want)
{
	if (st_ep_sa(ep) == NULL || ep->len < 8 || st_ep_family(ep) != want->ss_family)
		return false;
	if (want->ss_family == AF_INET)
		return memcmp(st_ep_sa(ep) + 4, &((const struct sockaddr_in *)want)->sin_addr, 4) == 0;
	return ep->len >= 24 &&
	       memcmp(st_ep_sa(ep) + 8, &((const struct sockaddr_in6 *)want)->sin6_addr, 16) == 0;
}

bool st_filter_is_error(const struct st_ev *ev)
{
	if (ev->ret >= 0)
		return false;
	if (ev->op == ST_OP_CONNECT)
		return ev->err != EINPROGRESS && ev->err != EALREADY && ev->err != EINTR &&
		       ev->err != EAGAIN && !(ev->err == EISCONN && (ev->flags & ST_EV_REPEAT));
	if (ev->op == ST_OP_ACCEPT || ev->op == ST_OP_ACCEPT4)
		return ev->err != EAGAIN;
	return true;
}

static bool st_filter_by_event_only(const struct st_filter *f)
{
	return f->ops || f->port >= 0 || f->have_addr;
}

bool st_filter_match(struct st_filter *f, const struct st_ev *ev)
{
	if (f->pid >= 0 && ev->pid != (uint32_t)f->pid)
		return false;
	if (f->ops && !(f->ops & (1u << ev->op)))
		return false;
	if (f->fd >= 0 && ev->fd != f->fd && ev->listen_fd != f->fd)
		return false;
	if (f->errors && !st_filter_is_error(ev))
		return false;
	if (f->since && ev->ts < f->since)
		return false;
	if (f->until && ev->ts > f->until)
		return false;
	if (f->port >= 0 && !st_ep_port_is(&ev->local, f->port) && !st_ep_port_is(&ev->peer, f->port))
		return false;
	if (f->have_addr && !st_ep_addr_is(&ev->local, &f->addr) && !st_ep_addr_is(&ev->peer, &f->addr))
		return false;
	/* the flags first: with no such filter (every view's common case) an
	 * event's kind is not worked out at all */
	if (st_filter_by_event_only(f) && (st_ev_opens_client(ev) || st_ev_opens_server(ev))) {
		if (f->kept == NULL)
			f->kept = st_keep_new();
		st_keep_add(f->kept, ev->file, ev->pid, ev->fd);
	}
	return true;
}

bool st_filter_match_life(struct st_filter *f, uint32_t file, uint32_t pid, int32_t fd,
			  uint64_t ts, bool failed, bool ends)
{
	if (st_filter_by_event_only(f) &&
	    (fd < 0 || f->kept == NULL || !st_keep_has(f->kept, file, pid, fd, ends)))
		return false;
	if (f->pid >= 0 && pid != (uint32_t)f->pid)
		return false;
	if (f->fd >= 0 && fd != f->fd)
		return false;
	if (f->errors && !failed)
		return false;
	if (f->since && ts < f->since)
		return false;
	if (f->until && ts > f->until)
		return false;
	return true;
}

void st_filter_free(struct st_filter *f)
{
	st_keep_free(f->kept);
	f->kept = NULL;
}
