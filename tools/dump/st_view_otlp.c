/*
 * --otlp: OpenTelemetry traces in the OTLP JSON file format (the file
 * exporter's: JSON Lines, one TracesData object per line, ids in lowercase
 * hex, 64-bit integers as decimal strings, enums as integers), which the
 * Collector's otlpjsonfile receiver reads.  One line per connection: the
 * client's connect-to-close as a CLIENT span, the server's accept-to-close as
 * a SERVER span whose parent is the client's, in one trace, so backends that
 * draw service graphs from client/server span pairs draw the fleet's map.
 * Ids are hashes of what identifies each end (host, pid, fd, time): the same
 * trace exported twice gives the same ids.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <string.h>
#include <sys/un.h>

#include "st_dump.h"
#include "st_endpoint.h"

enum { ST_SPAN_SERVER = 2, ST_SPAN_CLIENT = 3, ST_STATUS_ERROR = 2 };

static uint64_t st_fnv(uint64_t h, const void *p, size_t n)
{
	const uint8_t *b = p;
	for (size_t i = 0; i < n; i++)
		h = (h ^ b[i]) * 1099511628211ull;
	return h;
}

/* What identifies an end, hashed with a seed. */
static uint64_t st_end_hash(const struct st_ev *ev, const struct st_proc *p, uint64_t seed)
{
	uint64_t h = st_fnv(1469598103934665603ull ^ seed, &ev->pid, sizeof ev->pid);
	h = st_fnv(h, &ev->fd, sizeof ev->fd);
	h = st_fnv(h, &ev->ts, sizeof ev->ts);
	if (p && p->host_len)
		h = st_fnv(h, p->host, p->host_len);
	return h ? h : 1; /* an all-zero id is invalid */
}

static void st_hex(FILE *out, uint64_t v)
{
	fprintf(out, "%016llx", (unsigned long long)v);
}

static void st_attr_str(FILE *out, bool *first, const char *key, const char *s, size_t n)
{
	fprintf(out, "%s{\"key\":\"%s\",\"value\":{\"stringValue\":", *first ? "" : ",", key);
	st_json_string(out, s, n);
	fputs("}}", out);
	*first = false;
}

static void st_attr_int(FILE *out, bool *first, const char *key, uint64_t v)
{
	fprintf(out, "%s{\"key\":\"%s\",\"value\":{\"intValue\":\"%llu\"}}", *first ? "" : ",", key,
		(unsigned long long)v);
	*first = false;
}

/* Address and port of an inet end, or the path of a Unix one. */
static bool st_ep_parts(const struct st_endpoint *ep, char *addr, size_t size, unsigned *port)
{
	uint16_t family;
	if (st_ep_sa(ep) == NULL || ep->len < sizeof family)
		return false;
	memcpy(&family, st_ep_sa(ep), sizeof family);
	uint16_t p = 0;
	if ((family == AF_INET || family == AF_INET6) && ep->len >= 8) {
		memcpy(&p, st_ep_sa(ep) + 2, 2);
		*port = ntohs(p);
		return inet_ntop(family, st_ep_sa(ep) + (family == AF_INET ? 4 : 8), addr,
				 (socklen_t)size) != NULL &&
		       (family == AF_INET || ep->len >= 24);
	}
	if (family == AF_UNIX) {
		size_t off = offsetof(struct sockaddr_un, sun_path);
		size_t n = ep->len > off ? strnlen((const char *)st_ep_sa(ep) + off, ep->len - off) : 0;
		snprintf(addr, size, "%.*s", (int)n, (const char *)st_ep_sa(ep) + off);
		*port = 0;
		return true;
	}
	return false;
}

static void st_attr_end(FILE *out, bool *first, const char *which, const struct st_endpoint *ep)
{
	char addr[128], key[48];
	unsigned port;
	if (!st_ep_parts(ep, addr, sizeof addr, &port))
		return;
	snprintf(key, sizeof key, "network.%s.address", which);
	st_attr_str(out, first, key, addr, strlen(addr));
	if (port) {
		snprintf(key, sizeof key, "network.%s.port", which);
		st_attr_int(out, first, key, port);
	}
}

static void st_resource(FILE *out, const struct st_ev *ev, const struct st_proc *p)
{
	char name[128];
	st_proc_name(p, name, sizeof name);
	bool first = true;
	fputs("{\"resource\":{\"attributes\":[", out);
	st_attr_str(out, &first, "service.name", name, strlen(name));
	st_attr_int(out, &first, "process.pid", ev->pid);
	if (p && p->exe_len)
		st_attr_str(out, &first, "process.executable.path", p->exe, p->exe_len);
	if (p && p->cmd_len) {
		/* arguments are NUL-separated in the trace; spaces here */
		char cmd[2048];
		size_t n = p->cmd_len < sizeof cmd ? p->cmd_len : sizeof cmd;
		memcpy(cmd, p->cmd, n);
		for (size_t i = 0; i < n; i++)
			if (cmd[i] == '\0')
				cmd[i] = ' ';
		while (n && cmd[n - 1] == ' ')
			n--;
		st_attr_str(out, &first, "process.command_line", cmd, n);
	}
	if (p && p->host_len)
		st_attr_str(out, &first, "host.name", p->host, p->host_len);
	fputs("]},\"scopeSpans\":[{\"scope\":{\"name\":\"socktrace\",\"version\":\"2\"},\"spans\":[", out);
}

struct st_span {
	uint64_t trace_hi, trace_lo, id, parent; /* parent 0: none */
	int kind;
	uint64_t start, end;
};

static void st_span_open(FILE *out, const struct st_span *s, const char *name)
{
	fputs("{\"traceId\":\"", out);
	st_hex(out, s->trace_hi);
	st_hex(out, s->trace_lo);
	fputs("\",\"spanId\":\"", out);
	st_hex(out, s->id);
	fputc('"', out);
	if (s->parent) {
		fputs(",\"parentSpanId\":\"", out);
		st_hex(out, s->parent);
		fputc('"', out);
	}
	fputs(",\"name\":", out);
	st_json_string(out, name, strlen(name));
	fprintf(out, ",\"kind\":%d,\"startTimeUnixNano\":\"%llu\",\"endTimeUnixNano\":\"%llu\","
		     "\"attributes\":[",
		s->kind, (unsigned long long)s->start, (unsigned long long)s->end);
}

/* ERROR with the errno's name (ECONNREFUSED), or the result (abandoned). */
static void st_span_close(FILE *out, const struct st_conn_row *r)
{
	bool failed = strcmp(r->result, "ok") != 0 && strcmp(r->result, "open") != 0;
	if (failed) {
		const char *why = r->err ? strerrorname_np(r->err) : NULL;
		if (why == NULL)
			why = r->result;
		fprintf(out, "],\"status\":{\"code\":%d,\"message\":", ST_STATUS_ERROR);
		st_json_string(out, why, strlen(why));
		fputs("}}", out);
	} else {
		fputs("],\"status\":{}}", out);
	}
}

static void st_span_life(FILE *out, bool *first, const struct st_conn_row *r, const char *top)
{
	if (r->transport)
		st_attr_str(out, first, "network.transport", r->transport, strlen(r->transport));
	st_attr_str(out, first, "socktrace.result", r->result, strlen(r->result));
	if (r->have_bytes) {
		st_attr_int(out, first, "socktrace.tx_bytes", r->tx);
		st_attr_int(out, first, "socktrace.rx_bytes", r->rx);
		st_attr_int(out, first, "socktrace.rtt_us", r->rtt_us);
		st_attr_int(out, first, "socktrace.retransmits", r->retrans);
	}
	if (top)
		st_attr_str(out, first, "code.function", top, strlen(top));
}

/* code.filepath and code.lineno of the frame code.function names. */
static void st_span_code_place(FILE *out, bool *first, const char *file, int line)
{
	if (file)
		st_attr_str(out, first, "code.filepath", file, strlen(file));
	if (file && line > 0)
		st_attr_int(out, first, "code.lineno", (uint64_t)line);
}

/* Start and end of an end's span: from its event (less the connect's
 * latency, when known) to its close, when seen. */
static void st_times(const struct st_ev *ev, uint64_t end_ns, uint64_t duration, bool have_dur,
		     struct st_span *s)
{
	s->start = ev->ts;
	if (have_dur && end_ns && end_ns >= duration)
		s->start = end_ns - duration;
	s->end = end_ns > s->start ? end_ns : s->start;
}

void st_otlp_row(struct st_dump *d, const struct st_conn_row *r, FILE *out)
{
	(void)d;
	const struct st_ev *first_end = r->client ? r->client : r->server;
	const struct st_proc *first_proc = r->client ? r->client_proc : r->server_proc;
	struct st_span c = {0}, s = {0};
	c.trace_hi = s.trace_hi = st_end_hash(first_end, first_proc, 0x7472616365ull);
	c.trace_lo = s.trace_lo = st_end_hash(first_end, first_proc, 0x6c6f77ull);
	fputs("{\"resourceSpans\":[", out);
	if (r->client) {
		c.id = st_end_hash(r->client, r->client_proc, 0x636c69656e74ull);
		c.kind = ST_SPAN_CLIENT;
		st_times(r->client, r->client_end_ns, r->duration_ns, r->have_duration, &c);
		char addr[128], name[300];
		unsigned port = 0;
		if (!st_ep_parts(&r->client->peer, addr, sizeof addr, &port))
			snprintf(addr, sizeof addr, "?");
		snprintf(name, sizeof name, "connect %s", r->name ? r->name : addr);
		st_resource(out, r->client, r->client_proc);
		st_span_open(out, &c, name);
		bool first = true;
		st_attr_end(out, &first, "peer", &r->client->peer);
		st_attr_end(out, &first, "local", &r->client->local);
		const char *server = r->name ? r->name : addr;
		st_attr_str(out, &first, "server.address", server, strlen(server));
		if (port)
			st_attr_int(out, &first, "server.port", port);
		if (r->have_connect)
			st_attr_int(out, &first, "socktrace.connect_ns", r->connect_ns);
		st_span_life(out, &first, r, r->client_top);
		st_span_code_place(out, &first, r->client_file, r->client_line);
		st_span_close(out, r);
		fputs("]}]}", out);
	}
	if (r->server) {
		s.id = st_end_hash(r->server, r->server_proc, 0x736572766572ull);
		s.parent = r->client ? c.id : 0;
		s.kind = ST_SPAN_SERVER;
		st_times(r->server, r->server_end_ns, 0, false, &s);
		char addr[128], name[160];
		unsigned port = 0;
		if (!st_ep_parts(&r->server->local, addr, sizeof addr, &port))
			snprintf(addr, sizeof addr, "?");
		snprintf(name, sizeof name, "accept %s", addr);
		fputs(r->client ? "," : "", out);
		st_resource(out, r->server, r->server_proc);
		st_span_open(out, &s, name);
		bool first = true;
		st_attr_end(out, &first, "peer", &r->server->peer);
		st_attr_end(out, &first, "local", &r->server->local);
		st_span_life(out, &first, r, r->server_top);
		st_span_code_place(out, &first, r->server_file, r->server_line);
		st_span_close(out, r);
		fputs("]}]}", out);
	}
	fputs("]}\n", out);
}
