/*
 * socktrace trace format, version 5: the one definition shared by the shim
 * (writer) and socktrace-dump (reader).  docs/FORMAT.md explains it in prose.
 *
 * A file is a header of ST_HEADER_SIZE bytes followed by chunks of
 * hdr.chunk_size bytes.  A writer thread owns one chunk at a time, reserved
 * one at a time by a compare-and-swap on hdr.next_chunk, and appends
 * records to it.  A record
 * starts with an 8-byte commit word stored last, with release semantics: a
 * word of 0 means "nothing more in this chunk (yet)".  All fields are
 * little-endian host order; records are 8-byte aligned.
 */
#ifndef ST_FORMAT_H
#define ST_FORMAT_H

#include <stdint.h>

#define ST_MAGIC "SOCKTRC\x1a"
#define ST_MAGIC_LEN 8
#define ST_VERSION 6
#define ST_VERSION_OLDEST 1 /* readers read every version from this one */
#define ST_HEADER_SIZE 4096u
#define ST_CHUNK_SIZE 16384u
#define ST_LIVE_SLOTS 256u

/* Set in next_chunk by the last process to leave: the file was shrunk to the
 * reserved content and must be grown again before another chunk is used. */
#define ST_SEALED (1ull << 62)

struct st_header {
	char magic[ST_MAGIC_LEN];
	uint32_t version;
	uint32_t header_size;
	uint32_t chunk_size;
	uint32_t flags;
	uint64_t capacity;     /* largest file size, header included */
	uint64_t created_ns;   /* wall time, on the trace's clock (below) */
	uint64_t next_chunk;   /* bytes of chunks handed out after the header (| ST_SEALED) */
	uint64_t dropped;      /* call events lost because the file was full */
	uint64_t sealed_end;   /* next_chunk value at sealing */
	uint32_t live_overflow;/* processes that found no live slot: never shrink */
	uint32_t exit_dropped; /* events of threads still running after their process
				  sealed the trace at exit (not counted in dropped);
				  0 in files written before this field existed */
	uint32_t live_pid[ST_LIVE_SLOTS]; /* attached processes, 0 = free slot */
	/* version 3: results, closes, resolutions and peers lost because the
	 * file was full (dropped counts call events only); 0 before */
	uint64_t dropped_records;
	/* flags & ST_HDR_MONOTONIC (version 3, since its clock change): every
	 * ts_ns is CLOCK_MONOTONIC + clock_offset_ns of the boot named by
	 * boot_id (/proc/sys/kernel/random/boot_id), so differences are
	 * intervals that a step of the wall clock does not change.  Without the
	 * flag ts_ns is CLOCK_REALTIME. */
	uint64_t clock_offset_ns;
	char boot_id[40];
	/* version 3, since its clock change: connections the shim could not
	 * follow to their end (an fd at or above 65,536, or more than 1,024
	 * sockets named by several fds at once): their events are recorded,
	 * their closes are not.  0 before. */
	uint32_t unfollowed;
	uint32_t pad;
	/* Version 4: flight-recorder mode (flags & ST_HDR_RING), 0 otherwise.
	 * The file is meta_chunks chunks of metadata right after the header
	 * (process, module, resolve and peer records, never overwritten),
	 * then ring_chunks chunks of ring from ring_base, reused oldest
	 * first.  next_chunk counts ring chunks ever handed out (x chunk_size):
	 * the Nth (from 1) is sequence number N in slot (N - 1) % ring_chunks.
	 * meta_next counts metadata bytes handed out, as next_chunk does in
	 * the append mode. */
	uint64_t ring_base;
	uint32_t ring_chunks;
	uint32_t meta_chunks;
	uint64_t meta_next;
	uint64_t overwritten;         /* call events lost to reuse */
	uint64_t overwritten_records; /* other records lost to reuse */
	/* ring chunks passed over because the thread that wrote them still
	 * held them (a slow thread, or one that is idle): kept, not reused */
	uint64_t ring_skipped;
};
#define ST_HDR_MONOTONIC 0x1u
#define ST_HDR_RING 0x2u
/* version 5: the file holds JIT symbol records, written at exit after the
 * events they name (a reader that names stacks reads them first) */
#define ST_HDR_JIT 0x4u
#define ST_BOOT_ID_LEN 40

/* Commit word: len (bytes, header included) | type << 32 | ST_REC_MARK << 48 */
#define ST_REC_MARK 0x5354u
#define ST_REC_WORD(len, type) \
	((uint64_t)(len) | (uint64_t)(type) << 32 | (uint64_t)ST_REC_MARK << 48)
#define ST_REC_LEN(w) ((uint32_t)(w))
#define ST_REC_TYPE(w) ((uint16_t)((w) >> 32))
#define ST_REC_MARK_OF(w) ((uint16_t)((w) >> 48))

enum st_rec_type {
	ST_REC_EVENT = 1,
	ST_REC_PROCESS = 2,
	ST_REC_MODULE = 3,
	ST_REC_RESULT = 4, /* version 2: what became of a connect that did not finish at once */
	ST_REC_CLOSE = 5,  /* version 2: a connection's end: close, shutdown, exit */
	ST_REC_RESOLVE = 6, /* version 2: a name the program resolved, and to what */
	ST_REC_PEER = 7,    /* version 2: the process at the other end of a Unix socket */
	/* version 3: room a writer reserved and never filled (a signal handler
	 * left it with siglongjmp): word and ts only, to be skipped */
	ST_REC_PAD = 8,
	/* version 4, ring files only: the first record of every ring chunk */
	ST_REC_CHUNK = 9,
	/* version 5: who writes the short events that follow in the chunk */
	ST_REC_CONTEXT = 10,
	/* version 5: a call with IPv4 ends or none, in 32 bytes */
	ST_REC_SHORT_EVENT = 11,
	/* version 5: a Python code object that stacks name (file, function,
	 * line table), once per process */
	ST_REC_PYCODE = 12,
	/* version 5: a JIT's name for a range of its code (perf map entry) */
	ST_REC_JITSYM = 13,
	/* version 6: a connection's end with small numbers, in 48 bytes */
	ST_REC_SHORT_CLOSE = 14,
	/* version 6: a pending connect's outcome with small numbers, in 32 bytes */
	ST_REC_SHORT_RESULT = 15,
	/* version 6, later writers: from here on the shim records nothing of
	 * the process (it sandboxed itself with seccomp) */
	ST_REC_NOTE = 16,
};

/*
 * Chunk record (version 4, ring mode): the first 32 bytes of every ring
 * chunk.  seq is the chunk's sequence number, with ST_SEQ_BUSY set while a
 * writer clears the chunk for reuse; a reader reads seq before and after
 * reading the chunk and keeps what it read only when both are the same and
 * not busy (a seqlock).  owner is the thread (kernel tid) writing the chunk,
 * 0 once it moved on, or a thread claiming it for reuse: a writer never
 * reuses a chunk whose owner is alive.  writer is the thread that took it
 * (it never changes).  ts_ns is when the chunk was taken.
 */
struct st_chunk_rec {
	uint64_t word;
	uint64_t ts_ns;
	uint64_t seq;
	uint32_t owner;
	uint32_t writer;
};
#define ST_SEQ_BUSY (1ull << 63)
/* in owner, with the claimer's tid, from taking a chunk to marking it busy */
#define ST_OWNER_CLAIMING 0x80000000u
#define ST_CHUNK_SEQ_OFF 16u
#define ST_CHUNK_OWNER_OFF 24u

enum st_op {
	ST_OP_CONNECT = 1,
	ST_OP_ACCEPT = 2,
	ST_OP_ACCEPT4 = 3,
	ST_OP_GETSOCKNAME = 4,
	ST_OP_GETPEERNAME = 5,
	/* version 3, written by the tracer attaching to a running process: a
	 * socket found connected when tracing began, with both ends; listen_fd
	 * is the listener of the same process whose port it has (an accepted
	 * one), -1 otherwise (taken as a client).  Not a call of the program's:
	 * its time is the attach's.  Older readers stop at it ("unknown call"). */
	ST_OP_HELD = 6,
};

/* Event flags */
#define ST_EV_PEER_REQUESTED 0x01 /* peer is the address connect() was given */
#define ST_EV_STACK_SKIPPED 0x02  /* stacks were asked for, but taking one was unsafe */
/* Version 2: the socket's type and protocol, 0 when unknown (always 0 in
 * version 1), in events, result and close records alike. */
#define ST_EV_SOCK_SHIFT 2 /* 2 bits: enum st_sock */
#define ST_EV_PROTO_SHIFT 4 /* 2 bits: enum st_proto */
#define ST_EV_REPEAT 0x40 /* connect() again on a socket whose connect was pending:
			     the same connection, not a new one */
#define ST_EV_SOCK(flags) (((flags) >> ST_EV_SOCK_SHIFT) & 3)
#define ST_EV_PROTO(flags) (((flags) >> ST_EV_PROTO_SHIFT) & 3)

enum st_sock { ST_SOCK_UNKNOWN, ST_SOCK_STREAM, ST_SOCK_DGRAM, ST_SOCK_SEQPACKET };
enum st_proto { ST_PROTO_UNKNOWN, ST_PROTO_TCP, ST_PROTO_UDP, ST_PROTO_OTHER };

#define ST_ADDR_MAX 112 /* sizeof(struct sockaddr_un) rounded up to 8 */
/* An AF_INET endpoint of this length is a sockaddr_in without its sin_zero
 * (family, port, address): readers pad it back to 16 zero-filled bytes. */
#define ST_INET_SHORT_LEN 8
#define ST_FRAMES_MAX 64
/*
 * Version 5: a Python frame in an event's frames takes two slots: the code
 * object's address with ST_FRAME_PY set (a user-space address never has bit
 * 63), then the index of its last instruction run (code units from the
 * start of the bytecode; -1 before the first), which the code's line table
 * turns into a line.  Python frames follow the native frame of the
 * interpreter activation that runs them (_PyEval_EvalFrameDefault); those
 * beyond the native frames recorded come last.
 */
#define ST_FRAME_PY (1ull << 63)
/*
 * Version 6 (from socktrace 2026-11-30, late): a frame of a Java method run
 * by HotSpot's interpreter is a synthetic address with ST_FRAME_JAVA set
 * (bit 62 without bit 63: no real address, user or kernel, has that form),
 * named by a JIT symbol record of the same process whose start is that
 * address and whose name is "Java:CLASS.METHOD FILE:LINE" (FILE and LINE
 * when known).  Readers that do not know it show the frame unnamed.
 */
#define ST_FRAME_JAVA (1ull << 62)

/*
 * Event record: this fixed part, then local_len bytes of a raw sockaddr
 * padded to 8, then peer_len bytes padded to 8, then nframes uint64_t return
 * addresses, innermost first.  A length of 0 means "no endpoint".
 */
struct st_event {
	uint64_t word;
	uint64_t ts_ns;
	uint32_t pid;
	uint32_t tid;
	int32_t fd;        /* socket described; for accept the new fd (-1 on failure) */
	int32_t ret;
	int32_t err;       /* errno, 0 on success */
	int32_t listen_fd; /* accept: the listening fd; otherwise -1 */
	uint8_t op;
	uint8_t flags;
	uint16_t nframes;
	uint16_t local_len;
	uint16_t peer_len;
};

/*
 * Version 5: what is the same for many events is said once per chunk.  A
 * context record names the process, thread and base time of the short
 * events after it in its chunk, up to the next context record; a chunk's
 * short events always follow a context record of the same chunk (a writer
 * starts every chunk without one).  A writer writes a new one when the
 * thread it writes for changes (the tracer writes for many) or when an
 * event's time is more than ST_SHORT_DT_MAX after the base, or before it.
 */
struct st_context {
	uint64_t word;
	uint64_t ts_ns; /* base time of the short events that follow */
	uint32_t pid;
	uint32_t tid;
};

/*
 * Short event (version 5): a call whose ends are IPv4 with a zero sin_zero
 * or absent, without a stack, with small numbers; any other call is an
 * event record.  Read as the event record {ts = base + dt_ns, pid and tid of
 * the context, fd, ret, err, listen_fd, op, flags, nframes 0, the ends as
 * 8-byte sockaddr_in without sin_zero}.  fd and listen_fd are stored plus
 * one (0 is -1).  ret is not stored: it is -1 when err is not 0, else the
 * fd for an accept and 0 for any other call (a writer writes an event
 * record when that is not so).
 */
struct st_short_event {
	uint64_t word;
	uint32_t dt_ns;
	uint16_t fd1;
	uint16_t listen_fd1;
	uint8_t op;
	uint8_t flags;
	uint8_t err;
	uint8_t ends; /* ST_SHORT_LOCAL | ST_SHORT_PEER: which ends are there */
	uint16_t local_port, peer_port; /* network order, as in sockaddr_in */
	uint32_t local_addr, peer_addr; /* network order */
};
#define ST_SHORT_LOCAL 0x1
#define ST_SHORT_PEER 0x2
#define ST_SHORT_DT_MAX 0xffffffffu
#define ST_SHORT_FD_MAX 0xfffe

/*
 * Short close (version 6): the close record (struct st_close) of a
 * connection whose numbers are small, after a context record as short
 * events are: {ts = base + dt_ns, pid and tid of the context, fd = fd1 - 1,
 * how, role, flags, tcp_state, shut_how, age_ns, rtt_us, retrans, and the
 * three byte counts, each under 4 GiB}; pad is 0.  In a ring it may carry
 * its connection's IPv4 ends (st_short_close_ends).  Any other end (a byte
 * count of 4 GiB or more, an fd over ST_SHORT_FD_MAX, a ring's close with
 * other ends) is a close record.
 */
/* Version 6, ring mode: a short close may be followed by its connection's
 * IPv4 ends, as a close record by st_close_ends (its length then 64). */
struct st_short_close_ends {
	uint16_t local_port, peer_port; /* network order */
	uint32_t local_addr, peer_addr; /* network order */
	uint32_t pad;
};

struct st_short_close {
	uint64_t word;
	uint32_t dt_ns;
	uint16_t fd1;
	uint8_t how;
	uint8_t role;
	uint8_t flags;
	uint8_t tcp_state;
	int8_t shut_how;
	uint8_t pad;
	uint32_t rtt_us;
	uint64_t age_ns;
	uint32_t retrans;
	uint32_t bytes_acked;
	uint32_t bytes_received;
	uint32_t bytes_sent;
};

/*
 * Short result (version 6): the result record (struct st_result) of a
 * pending connect whose numbers are small, after a context record as short
 * events are: {ts = base + dt_ns, pid and tid of the context, fd = fd1 - 1,
 * err, learned, flags, handshake_us, latency_ns}; pad is 0.  Any other (an
 * fd over ST_SHORT_FD_MAX, an errno over 255) is a result record.
 */
struct st_short_result {
	uint64_t word;
	uint32_t dt_ns;
	uint16_t fd1;
	uint8_t err;
	uint8_t learned;
	uint8_t flags;
	uint8_t pad[3];
	uint32_t handshake_us;
	uint64_t latency_ns;
};

/*
 * Python code record (version 5): a code object of process pid, written
 * before the first event whose stack holds it (again when another object
 * took its address): then file_len bytes of its file name, name_len bytes
 * of its qualified name (UTF-8), table_len bytes of its line table
 * (co_linetable, CPython 3.11's location table), padded to 8 as a whole.
 * An address of pid at time T names the newest such record before T.
 */
#define ST_PYCODE_TABLE_CUT 0x1 /* the line table was longer: lines past it are unknown */
struct st_pycode {
	uint64_t word;
	uint64_t ts_ns;
	uint32_t pid;
	int32_t firstlineno;
	uint64_t code;
	uint16_t file_len;
	uint16_t name_len;
	uint16_t table_len;
	uint16_t flags;
	uint32_t version; /* the interpreter's PY_VERSION_HEX */
	uint32_t pad;
};

/*
 * JIT symbol record (version 5): an entry of the program's perf map
 * (/tmp/perf-PID.map, written by node --perf-basic-prof-only-functions or
 * java -XX:+DumpPerfMapAtExit) that holds a return address of the
 * process's stacks, copied at its exit: then name_len bytes of the JIT's
 * name for the code (V8: "JS:~fetchConfig /srv/app.js:12:20"), padded to
 * 8.  A later record of the same pid for an address wins (the map is
 * written in order, and code may be made again where other code was).
 */
struct st_jitsym {
	uint64_t word;
	uint64_t ts_ns;
	uint32_t pid;
	uint16_t name_len;
	uint16_t pad;
	uint64_t start;
	uint64_t size;
};

/*
 * Process record, written when a process attaches (start, fork, exec): then
 * exe_len bytes of executable path, cmd_len bytes of command line (arguments
 * separated by NUL), host_len bytes of host name, padded to 8 as a whole.
 * flags (once padding, so older traces hold 0): which front-end wrote it.
 */
struct st_process {
	uint64_t word;
	uint64_t ts_ns;
	uint32_t pid;
	uint32_t ppid;
	uint16_t exe_len;
	uint16_t cmd_len;
	uint16_t host_len;
	uint16_t flags; /* ST_PROC_*; 0 in traces before socktrace could use ptrace */
};
/* Which front-end recorded the process: the LD_PRELOAD shim (0), or the
 * ptrace tracer (socktrace --ptrace, -p), which also sees raw system calls
 * and libc's own (nscd, the resolver's sockets). */
#define ST_PROC_PTRACE 0x1

/*
 * Note record (type 16, later writers of version 6; older readers skip it
 * with a warning and lose nothing else): what the trace will not hold of
 * process pid from ts_ns on, and why.  Written by the LD_PRELOAD shim only.
 */
struct st_note {
	uint64_t word;
	uint64_t ts_ns;
	uint32_t pid;
	uint32_t tid; /* the thread whose call made it so */
	uint32_t kind; /* ST_NOTE_* */
	uint32_t pad;
};
/* Thread tid installed a seccomp filter (prctl(PR_SET_SECCOMP) or seccomp()):
 * a filter may kill the process for any system call the program itself does
 * not make (OpenSSH's pre-authentication sandbox kills on getsockopt), so the
 * shim makes none in the process, nor in the children it forks, which inherit
 * the filter: their later calls are not in the trace. */
#define ST_NOTE_SECCOMP 1u

/*
 * Module record, written only when stacks are recorded: an object mapped into
 * process pid (the executable, a shared library, one loaded by dlopen), when
 * the process attaches and whenever a stack shows an object not yet recorded;
 * flags ST_MOD_UNLOADED when it is gone (after dlclose).  Then build_id_len
 * bytes of GNU build-id and path_len bytes of path, padded to 8 as a whole.
 * An address A of pid at time T belongs to the newest module record before T
 * with lo <= A < hi that was not unloaded since; a process record of the same
 * pid (exec) ends all earlier modules.
 */
#define ST_MOD_UNLOADED 0x1
#define ST_BUILD_ID_MAX 64

struct st_module {
	uint64_t word;
	uint64_t ts_ns;
	uint32_t pid;
	uint16_t flags;
	uint16_t path_len;
	uint64_t bias; /* load bias: file virtual address + bias = runtime address */
	uint64_t lo;   /* runtime address range of its loaded segments */
	uint64_t hi;
	uint8_t build_id_len;
	uint8_t pad[7];
};

/*
 * Result record (version 2): a connect that returned EINPROGRESS (EAGAIN on
 * a Unix socket) finished, as the program itself learned it: err 0 when
 * connected, else the error; latency_ns since the connect began.
 */
/* ST_LEARNED_RETURNED (version 3): a blocking connect that failed; its
 * latency is the call's duration, so a timed-out connect shows its start. */
enum st_learned { ST_LEARNED_SO_ERROR = 1, ST_LEARNED_CONNECT = 2, ST_LEARNED_GETPEERNAME = 3,
		  ST_LEARNED_RETURNED = 4 };

struct st_result {
	uint64_t word;
	uint64_t ts_ns;
	uint32_t pid;
	uint32_t tid;
	int32_t fd;
	int32_t err;
	uint64_t latency_ns;
	uint8_t learned; /* enum st_learned */
	uint8_t flags;   /* socket type and protocol, as in events */
	uint8_t pad[2];
	/* version 3: SYN to SYN-ACK in us, the kernel's first RTT sample, read
	 * when the result was learned before any data was sent; 0 = unknown */
	uint32_t handshake_us;
};

/*
 * Close record (version 2): a socket the shim saw connected, accepted or
 * pending ended (or was shut down, or was still open at exit): how long it
 * lived and, for TCP, what tcp_info said just before.
 */
enum st_end_how {
	ST_END_CLOSE = 1,      /* close, or fclose of its stream */
	ST_END_REPLACED = 2,   /* dup2/dup3 over it */
	ST_END_RANGE = 3,      /* close_range, closefrom */
	ST_END_SHUTDOWN = 4,   /* shutdown(): the fd stays open */
	ST_END_EXIT = 5,       /* still open when the process exited normally */
};
/* inherited: a connected socket the shim learned of (getsockname or
 * getpeername) without seeing it connected or accepted, as inetd's fd 0; its
 * age counts from then */
enum st_role { ST_ROLE_CLIENT = 1, ST_ROLE_SERVER = 2, ST_ROLE_PENDING = 3, ST_ROLE_INHERITED = 4 };
#define ST_CLOSE_TCPINFO 0x80 /* in flags: the tcp_info fields are valid */
/* The socket existed when this process last forked: a child may still hold
 * it, and the connection ends at the last close of all (the reader waits for
 * its children's ST_CLOSE_FORKED closes). */
#define ST_CLOSE_SHARED 0x01
/* This process inherited the connection from its parent across fork; age_ns
 * counts from the parent's start, so the close's date minus its age names
 * the connection in both. */
#define ST_CLOSE_FORKED 0x02
/* Version 3: bytes_sent is valid. */
#define ST_CLOSE_SENT 0x40

struct st_close {
	uint64_t word;
	uint64_t ts_ns;
	uint32_t pid;
	uint32_t tid;
	int32_t fd;
	uint8_t how;       /* enum st_end_how */
	uint8_t role;      /* enum st_role; pending = abandoned before its result */
	uint8_t flags;     /* socket type and protocol as in events | ST_CLOSE_TCPINFO */
	uint8_t tcp_state; /* tcpi_state */
	uint64_t age_ns;   /* since connect began, or accept returned */
	uint64_t bytes_acked;    /* sent and acknowledged (tcpi_bytes_acked) */
	uint64_t bytes_received; /* tcpi_bytes_received */
	uint32_t rtt_us;         /* smoothed round trip (tcpi_rtt) */
	uint32_t retrans;        /* total retransmissions (tcpi_total_retrans) */
	int32_t shut_how;        /* shutdown(): SHUT_RD, SHUT_WR or SHUT_RDWR; else -1 */
	/* (was padding: later writers of version 6) 1 + the fd the connection
	 * was opened or found on in this process (or its parent, for a forked
	 * child's copy), when its last copy closed on another fd (dup2, fcntl,
	 * fds 0 and 1 of an inetd child); 0: fd is that one */
	uint32_t open_fd1;
	/* Version 3: data bytes the program handed to TCP, sent or not:
	 * tcpi_bytes_sent - tcpi_bytes_retrans + tcpi_notsent_bytes (without a
	 * FIN still queued).  Unlike bytes_acked it counts what was still in
	 * flight or queued at the close.  Version-2 close records end before it
	 * (72 bytes). */
	uint64_t bytes_sent;
};
#define ST_CLOSE_V2_SIZE 72u
/* Version 4, ring mode: a close record may be followed by the connection's
 * endpoints, so that a connection whose opening event was overwritten is
 * still shown with its ends: this, then local_len bytes of sockaddr padded
 * to 8, then peer_len bytes padded to 8. */
struct st_close_ends {
	uint16_t local_len;
	uint16_t peer_len;
	uint32_t pad;
};

/*
 * Resolve record (version 2): getaddrinfo or gethostbyname*, one record per
 * call however many addresses it returned: then name_len bytes of the name
 * asked, serv_len bytes of the service, padded to 8 as a whole, then naddrs
 * st_resolved entries.
 */
enum st_resolver { ST_RESOLVE_GETADDRINFO = 1, ST_RESOLVE_GETHOSTBYNAME = 2 };
#define ST_RESOLVE_ADDRS_MAX 32

struct st_resolve {
	uint64_t word;
	uint64_t ts_ns;
	uint32_t pid;
	uint32_t tid;
	int32_t result;    /* getaddrinfo's return, or gethostbyname's h_errno (0 = found) */
	uint16_t name_len;
	uint16_t serv_len;
	uint16_t naddrs;
	uint8_t call;      /* enum st_resolver */
	uint8_t pad[5];
};

struct st_resolved {
	uint16_t family; /* AF_INET or AF_INET6 */
	uint16_t port;   /* network order, 0 when no service was asked */
	uint8_t addr[16];
	uint32_t pad;
};

/*
 * Peer record (version 2): SO_PEERCRED of a Unix stream socket just
 * connected or accepted, written after its event: the process at the other
 * end, traced or not.
 */
struct st_peer {
	uint64_t word;
	uint64_t ts_ns;
	uint32_t pid;
	uint32_t tid;
	int32_t fd;
	uint32_t peer_pid;
	uint32_t peer_uid;
	uint32_t peer_gid;
};

#define ST_ALIGN8(n) (((n) + 7u) & ~7u)

_Static_assert(sizeof(struct st_context) == 24, "context record: 24 bytes");
_Static_assert(sizeof(struct st_short_event) == 32, "short event: 32 bytes");
_Static_assert(sizeof(struct st_short_close) == 48, "short close: 48 bytes");
_Static_assert(sizeof(struct st_short_close_ends) == 16, "short close ends: 16 bytes");
_Static_assert(sizeof(struct st_short_result) == 32, "short result: 32 bytes");
_Static_assert(sizeof(struct st_pycode) == 48, "Python code record: 48 bytes");
_Static_assert(sizeof(struct st_jitsym) == 40, "JIT symbol record: 40 bytes");

#endif
