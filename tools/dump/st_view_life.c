/*
 * Result and close records (format version 2) in the events view:
 *   12:00:01.000300 42/42 connected(5) = ok after 0.300 ms (SO_ERROR)
 *   12:00:03.000000 42/42 close(5) client after 2.000 s: tx 1048576 B, rx 65536 B, rtt 31 us, 0 retransmits
 * and as JSON objects with "op":"connected" or "close".
 */
#define _GNU_SOURCE
#include <errno.h>
#include <arpa/inet.h>
#include <string.h>

#include "st_dump.h"
#include "st_endpoint.h"
#include "st_fmt.h"

const char *st_result_name(int err)
{
	switch (err) {
	case 0: return "ok";
	case ECONNREFUSED: return "refused";
	case ETIMEDOUT: return "timeout";
	case EHOSTUNREACH:
	case ENETUNREACH: return "unreachable";
	default: {
		const char *n = strerrorname_np(err);
		return n ? n : "error";
	}
	}
}

/*
 * Data bytes from tcp_info's sequence counts.  tcpi_bytes_acked counts our
 * FIN once acknowledged, and our SYN only on the side that connected: the
 * kernel moves a passive socket past its SYN-ACK without counting it (seen
 * on Linux 6.18: an accepted socket that sent 2000 bytes reports 2000, a
 * connected one 2001).  An inherited socket is taken as accepted (inetd's).
 * tcpi_bytes_received counts the peer's FIN once received.  The TCP state at
 * the close says which FINs were there.
 */
void st_close_bytes(const struct st_close *c, uint64_t *tx, uint64_t *rx)
{
	enum { EST = 1, FIN_WAIT2 = 5, TIME_WAIT = 6, CLOSE = 7, CLOSE_WAIT = 8, LAST_ACK = 9,
	       CLOSING = 11 };
	bool connected_here = c->role == ST_ROLE_CLIENT || c->role == ST_ROLE_PENDING;
	uint64_t syn = connected_here && c->bytes_acked > 0;
	/* CLOSE is where a LAST_ACK ends once its FIN is acknowledged (a
	 * shutdown, the peer's FIN, then the close: node's way), both FINs
	 * counted; and where a reset ends (haproxy aborts every connection to
	 * a backend so), neither FIN there.  Version 3 tells them apart: only
	 * our acknowledged FIN makes bytes_acked pass what was handed to TCP.
	 * A FIN that came before a reset still counts as a byte: tcp_info does
	 * not show it. */
	bool closed = c->tcp_state == CLOSE && c->bytes_received > 0 &&
		      (!(c->flags & ST_CLOSE_SENT) || c->bytes_acked > syn + c->bytes_sent);
	uint64_t our_fin_acked = c->tcp_state == FIN_WAIT2 || c->tcp_state == TIME_WAIT || closed;
	uint64_t peer_fin = c->tcp_state == CLOSE_WAIT || c->tcp_state == LAST_ACK ||
			    c->tcp_state == CLOSING || c->tcp_state == TIME_WAIT || closed;
	*tx = c->bytes_acked >= syn + our_fin_acked ? c->bytes_acked - syn - our_fin_acked : 0;
	/* version 3: what the program handed to TCP, acknowledged or not (what
	 * was still in flight or queued at the close counts too) */
	if (c->flags & ST_CLOSE_SENT)
		*tx = c->bytes_sent;
	*rx = c->bytes_received >= peer_fin ? c->bytes_received - peer_fin : 0;
}

/* When a close's connection began: its date minus its age (the same in a
 * parent and its forked children, whose age counts from the parent's start). */
uint64_t st_close_start(const struct st_close *c)
{
	return c->ts_ns >= c->age_ns ? c->ts_ns - c->age_ns : 0;
}

/* Of two closes of one connection (a parent's and a forked child's), the
 * later is its end: kept keeps it. */
void st_close_keep_later(struct st_close *kept, const struct st_close *c)
{
	if (c->ts_ns > kept->ts_ns)
		*kept = *c;
}

static const char *st_learned_name(uint8_t how)
{
	static const char *const names[] = {"?", "SO_ERROR", "connect", "getpeername", "returned"};
	return how < 5 ? names[how] : "?";
}

static const char *st_how_name(uint8_t how)
{
	static const char *const names[] = {"?", "close", "replaced", "close_range", "shutdown",
					    "exit"};
	return how < 6 ? names[how] : "?";
}

static const char *st_role_name(uint8_t role)
{
	static const char *const names[] = {"?", "client", "server", "abandoned", "inherited"};
	return role < 5 ? names[role] : "?";
}

static void st_put_ms(FILE *out, uint64_t ns)
{
	if (ns >= 1000000000u)
		fprintf(out, "%.3f s", (double)ns / 1e9);
	else
		fprintf(out, "%.3f ms", (double)ns / 1e6);
}

static void st_result_text(FILE *out, const struct st_rec *r)
{
	const struct st_result *x = &r->result;
	st_print_time(out, r->ts);
	fprintf(out, " %u/%u connected(%d) = %s", x->pid, x->tid, x->fd, st_result_name(x->err));
	fputs(" after ", out);
	st_put_ms(out, x->latency_ns);
	fprintf(out, " (%s)", st_learned_name(x->learned));
	if (x->handshake_us)
		fprintf(out, ", handshake %u us", x->handshake_us);
	fputc('\n', out);
}

static void st_close_text(FILE *out, const struct st_rec *r)
{
	const struct st_close *c = &r->close;
	st_print_time(out, r->ts);
	fprintf(out, " %u/%u %s(%d) %s after ", c->pid, c->tid,
		c->how == ST_END_SHUTDOWN ? "shutdown" : c->how == ST_END_EXIT ? "open-at-exit" : "close",
		c->fd, st_role_name(c->role));
	st_put_ms(out, c->age_ns);
	uint64_t tx, rx;
	st_close_bytes(c, &tx, &rx);
	if (c->flags & ST_CLOSE_TCPINFO)
		fprintf(out, ": tx %llu B, rx %llu B, rtt %u us, %u retransmits",
			(unsigned long long)tx, (unsigned long long)rx, c->rtt_us, c->retrans);
	fputc('\n', out);
}

static void st_result_json(FILE *out, const struct st_rec *r)
{
	const struct st_result *x = &r->result;
	fprintf(out, "{\"ts\":%llu,\"pid\":%u,\"tid\":%u,\"op\":\"connected\",\"fd\":%d,"
		     "\"result\":\"%s\",\"connect_ns\":%llu,\"learned\":\"%s\"",
		(unsigned long long)r->ts, x->pid, x->tid, x->fd, st_result_name(x->err),
		(unsigned long long)x->latency_ns, st_learned_name(x->learned));
	if (x->handshake_us)
		fprintf(out, ",\"handshake_ns\":%llu}\n", (unsigned long long)x->handshake_us * 1000);
	else
		fputs(",\"handshake_ns\":null}\n", out);
}

static void st_close_json(FILE *out, const struct st_rec *r)
{
	const struct st_close *c = &r->close;
	fprintf(out, "{\"ts\":%llu,\"pid\":%u,\"tid\":%u,\"op\":\"close\",\"fd\":%d,\"how\":\"%s\","
		     "\"role\":\"%s\",\"duration_ns\":%llu",
		(unsigned long long)r->ts, c->pid, c->tid, c->fd, st_how_name(c->how),
		st_role_name(c->role), (unsigned long long)c->age_ns);
	uint64_t tx, rx;
	st_close_bytes(c, &tx, &rx);
	if (c->flags & ST_CLOSE_TCPINFO)
		fprintf(out, ",\"tx_bytes\":%llu,\"rx_bytes\":%llu,\"rtt_us\":%u,\"retrans\":%u,"
			     "\"tcp_state\":%u}\n",
			(unsigned long long)tx, (unsigned long long)rx, c->rtt_us, c->retrans,
			c->tcp_state);
	else
		fputs(",\"tx_bytes\":null,\"rx_bytes\":null,\"rtt_us\":null,\"retrans\":null}\n", out);
}

static void st_peer_line(struct st_dump *d, const struct st_rec *r, FILE *out)
{
	const struct st_peer *p = &r->peer;
	if (d->json) {
		fprintf(out, "{\"ts\":%llu,\"pid\":%u,\"tid\":%u,\"op\":\"peer\",\"fd\":%d,"
			     "\"peer_pid\":%u,\"peer_uid\":%u,\"peer_gid\":%u}\n",
			(unsigned long long)r->ts, p->pid, p->tid, p->fd, p->peer_pid, p->peer_uid,
			p->peer_gid);
		return;
	}
	st_print_time(out, r->ts);
	fprintf(out, " %u/%u peer(%d) pid %u uid %u gid %u\n", p->pid, p->tid, p->fd,
		p->peer_pid, p->peer_uid, p->peer_gid);
}

void st_view_life(struct st_dump *d, const struct st_rec *r, FILE *out)
{
	if (r->type == ST_REC_PEER)
		st_peer_line(d, r, out);
	else if (r->type == ST_REC_RESULT)
		(d->json ? st_result_json : st_result_text)(out, r);
	else
		(d->json ? st_close_json : st_close_text)(out, r);
}

/* 12:00:00.000100 42/42 seccomp filter installed: nothing of this process
 * (or of the children it forks) is traced after this */
void st_view_note(struct st_dump *d, const struct st_note *n, FILE *out)
{
	const char *text = st_note_text(n->kind);
	if (d->json) {
		fprintf(out, "{\"ts\":%llu,\"pid\":%u,\"tid\":%u,\"op\":\"note\",\"note\":",
			(unsigned long long)n->ts_ns, n->pid, n->tid);
		if (n->kind == ST_NOTE_SECCOMP)
			fputs("\"seccomp\"}\n", out);
		else
			fprintf(out, "%u}\n", n->kind);
		return;
	}
	st_print_time(out, n->ts_ns);
	if (text)
		fprintf(out, " %u/%u %s: nothing of this process (or of the children it forks) is "
			     "traced after this\n", n->pid, n->tid, text);
	else
		fprintf(out, " %u/%u note of unknown kind %u\n", n->pid, n->tid, n->kind);
}

/* 12:00:00.000100 42/42 resolve("db.example", "5432") = 2 addresses: 10.0.0.5, 10.0.0.6 */
void st_view_resolve(struct st_dump *d, const struct st_res *r, FILE *out)
{
	static const char *const calls[] = {"resolve", "getaddrinfo", "gethostbyname"};
	const char *call = r->call < 3 ? calls[r->call] : "resolve";
	if (d->json) {
		fprintf(out, "{\"ts\":%llu,\"pid\":%u,\"tid\":%u,\"op\":\"%s\",\"name\":",
			(unsigned long long)r->ts, r->pid, r->tid, call);
		st_json_string(out, r->name, r->name_len);
		fputs(",\"service\":", out);
		if (r->serv_len)
			st_json_string(out, r->serv, r->serv_len);
		else
			fputs("null", out);
		fprintf(out, ",\"result\":%d,\"addrs\":[", r->result);
	} else {
		st_print_time(out, r->ts);
		fprintf(out, " %u/%u %s(\"", r->pid, r->tid, call);
		st_fput_escaped(out, r->name, r->name_len);
		fputs("\"", out);
		if (r->serv_len) {
			fputs(", \"", out);
			st_fput_escaped(out, r->serv, r->serv_len);
			fputs("\"", out);
		}
		if (r->result)
			fprintf(out, ") = error %d", r->result);
		else
			fprintf(out, ") = %u address%s:", r->naddrs, r->naddrs == 1 ? "" : "es");
	}
	for (uint16_t i = 0; i < r->naddrs; i++) {
		struct st_resolved a;
		memcpy(&a, &r->addrs[i], sizeof a);
		char text[INET6_ADDRSTRLEN] = "?";
		inet_ntop(a.family, a.addr, text, sizeof text);
		if (d->json)
			fprintf(out, "%s\"%s\"", i ? "," : "", text);
		else
			fprintf(out, "%s %s", i ? "," : "", text);
	}
	fputs(d->json ? "]}\n" : "\n", out);
}
