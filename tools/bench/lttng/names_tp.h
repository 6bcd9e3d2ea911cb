/* The LTTng-UST tracepoint of the names loop: the fields a socktrace event
 * holds for a TCP/IPv4 getsockname or getpeername (call, fd, result, errno,
 * both endpoints), for the reference row of make bench. */
#undef TRACEPOINT_PROVIDER
#define TRACEPOINT_PROVIDER socktrace_bench

#undef TRACEPOINT_INCLUDE
#define TRACEPOINT_INCLUDE "./names_tp.h"

#if !defined(NAMES_TP_H) || defined(TRACEPOINT_HEADER_MULTI_READ)
#define NAMES_TP_H

#include <lttng/tracepoint.h>
#include <stdint.h>

TRACEPOINT_EVENT(socktrace_bench, call,
	TP_ARGS(uint8_t, op, int, fd, int, ret, int, err, const uint8_t *, local,
		const uint8_t *, peer),
	TP_FIELDS(
		ctf_integer(uint8_t, op, op)
		ctf_integer(int, fd, fd)
		ctf_integer(int, ret, ret)
		ctf_integer(int, err, err)
		ctf_array(uint8_t, local, local, 16)
		ctf_array(uint8_t, peer, peer, 16)
	)
)

#endif

#include <lttng/tracepoint-event.h>
