#!/bin/sh
# make fuzz: the reader (parser, streaming merge, every view, the symbolizer)
# under libFuzzer for FUZZ_SECONDS (default 600), seeded with real traces made
# here and a crafted one whose module records name hostile paths; any crash
# fails (exit non-zero).
set -eu
build=$(cd "${1:-build}" && pwd)
repo=$(cd "$(dirname "$0")/../.." && pwd)
seconds=${FUZZ_SECONDS:-600}
fuzzer="$build/fuzz/fuzz_reader"
seeds="$build/fuzz/seeds"
corpus="$build/fuzz/corpus"
mkdir -p "$seeds" "$corpus"
make_seed() { # name, env..., program args
	name=$1
	shift
	rm -f "$seeds/$name"
	env SOCKTRACE_FILE="$seeds/$name" LD_PRELOAD="$build/libsocktrace.so" "$@" >/dev/null 2>&1 || true
}
if [ ! -s "$seeds/demo.trace" ]; then
	make_seed demo.trace "$build/socknames" 0 0
	make_seed stacks.trace SOCKTRACE_BACKTRACE=8 "$build/progs/stackprog" dlopen
	make_seed unix.trace "$build/progs/sockops" abstract socktrace-fuzz-seed
	make_seed inet6.trace "$build/progs/sockops" names6
	make_seed errors.trace "$build/progs/sockops" errors
	make_seed fork.trace SOCKTRACE_BACKTRACE=4 "$build/progs/sockops" fork
fi
# version 2's records: results, closes (forked children's too), resolutions
if [ ! -s "$seeds/life.trace" ]; then
	make_seed life.trace "$build/progs/life" bytes
	make_seed prefork.trace "$build/progs/life" prefork parent-first
	make_seed again.trace "$build/progs/life" again
	make_seed refused.trace "$build/progs/life" refused
fi
# version 3's: resolutions, failed blocking connects' results, handshakes,
# bytes handed to TCP, calls made through syscall()
if [ ! -s "$seeds/v3-resolve.trace" ]; then
	make_seed v3-resolve.trace /usr/bin/python3 -c \
		"import socket; socket.getaddrinfo('localhost', 80); socket.gethostbyname('localhost')"
	make_seed v3-refusedblock.trace "$build/progs/life" refusedblock
	make_seed v3-unacked.trace "$build/progs/life" unacked
	make_seed v3-syscall.trace "$build/progs/life" syscall
	make_seed v3-bytes.trace "$build/progs/life" bytes
fi
# padding records (a handler that jumped out of the shim) and the clock's
# header fields
if [ ! -s "$seeds/v3-jumps.trace" ]; then
	make_seed v3-jumps.trace "$build/progs/jumps" 2000
fi
# the ptrace tracer's: process records flagged ptrace, raw calls, stacks of
# another process, and "held" events of a process attached with -p
if [ ! -s "$seeds/v3-ptrace.trace" ]; then
	"$build/socktrace" -q --ptrace -k 4 -o "$seeds/v3-ptrace.trace" \
		"$build/progs/tracee" inline >/dev/null 2>&1 || true
	/usr/bin/python3 -c "import socket, time
s = socket.create_server(('127.0.0.1', 0)); c = socket.create_connection(s.getsockname())
a, _ = s.accept(); time.sleep(2); c.close(); a.close()" &
	held=$!
	sleep 0.5
	"$build/socktrace" -q -p "$held" -o "$seeds/v3-held.trace" >/dev/null 2>&1 &
	tracer=$!
	wait "$held" || true
	wait "$tracer" || true
fi
# flight recorders (format 4) that wrapped: chunk records, a busy-free ring,
# closes carrying their endpoints; 52 KiB, the smallest ring, within -max_len
if [ ! -s "$seeds/v4-ring.trace" ]; then
	make_seed v4-ring.trace SOCKTRACE_RING=1 SOCKTRACE_SIZE=52K "$build/progs/ring" calls 1 2 3000
	make_seed v4-ring-early.trace SOCKTRACE_RING=1 SOCKTRACE_SIZE=52K "$build/progs/ring" early 3000
fi
# version 5's context records and short events, with failures, missing ends,
# long events among them and a context renewed every other event (3 s apart);
# and the fixtures of every older version, as they were written
if [ ! -s "$seeds/v5-short.trace" ]; then
	GENTRACE_VARIED=1 "$build/progs/gentrace" "$seeds/v5-short.trace" 300 2 3000000000 >/dev/null
	GENTRACE_VARIED=1 "$build/progs/gentrace" "$seeds/v5-dense.trace" 1000 1 1000 >/dev/null
fi
# version 6's short closes beside close records (shutdown, an fd past 65,534,
# byte counts of 4 GiB or more), sharing the short events' contexts
if [ ! -s "$seeds/v6-closes.trace" ]; then
	GENTRACE_VARIED=1 "$build/progs/gentrace" "$seeds/v6-closes.trace" 400 3 2000000000 >/dev/null
fi
# note records (a process that sandboxed itself with seccomp), and the
# padding left by an install that failed; held events of exec'd programs and
# closes of copies naming the fd their connection was opened on (open_fd1)
if [ ! -s "$seeds/v6-notes.trace" ]; then
	make_seed v6-notes.trace "$build/progs/sandbox" fork
	make_seed v6-notes-bad.trace "$build/progs/sandbox" bad
	make_seed v6-inetd.trace "$build/progs/life" inetd exec
	make_seed v6-selfexec.trace "$build/progs/life" selfexec
	make_seed v6-reexec.trace "$build/progs/life" reexec
fi
# Python code records and frames (the shim reading CPython 3.11), JIT symbol
# records (node's perf map)
if [ ! -s "$seeds/v5-python.trace" ]; then
	make_seed v5-python.trace SOCKTRACE_BACKTRACE=24 /usr/bin/python3 -c \
		"import socket
def dial(p):
    return socket.create_connection(('127.0.0.1', p))
s = socket.create_server(('127.0.0.1', 0)); dial(s.getsockname()[1]).close()"
	if [ -x /usr/bin/node ]; then
		# sh's pid is node's once it execs: its perf map is removed after
		rm -f "$seeds/v5-node.trace"
		pid=$(env SOCKTRACE_FILE="$seeds/v5-node.trace" LD_PRELOAD="$build/libsocktrace.so" \
			SOCKTRACE_BACKTRACE=24 sh -c 'echo $$; exec /usr/bin/node \
			--perf-basic-prof-only-functions --interpreted-frames-native-stack -e "
			const n = require(\"net\"); const s = n.createServer(c => c.end()).listen(0,
			\"127.0.0.1\", () => { const c = n.connect(s.address().port, \"127.0.0.1\",
			() => { c.localPort; c.end(); s.close(); }); });"' 2>/dev/null | head -n 1)
		rm -f "/tmp/perf-$pid.map"
	fi
fi
# Java methods the interpreter runs: synthetic frames named by JIT symbol
# records ("Java:Class.method File.java:LINE")
if [ ! -s "$seeds/v6-java.trace" ] && [ -x /usr/bin/java ]; then
	jdir=$(mktemp -d)
	cat >"$jdir/Dial.java" <<'JAVA'
import java.net.*;
public class Dial {
    public static void main(String[] a) throws Exception {
        try (ServerSocket s = new ServerSocket(0, 5, InetAddress.getByName("127.0.0.1"))) {
            new Socket("127.0.0.1", s.getLocalPort()).close();
        }
    }
}
JAVA
	make_seed v6-java.trace SOCKTRACE_BACKTRACE=48 /usr/bin/java "$jdir/Dial.java"
	rm -rf "$jdir"
fi
for old in golden v2 v3 v4 v5; do
	cp "$repo/tests/data/$old.trace" "$seeds/fixture-$old.trace"
done
if [ ! -s "$seeds/modules.trace" ]; then
	"$build/progs/gentrace" "$seeds/modules.trace" --modules
fi
cd "$build/fuzz"
log="$build/fuzz/run-$seconds.log"
"$fuzzer" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=65536 \
	-print_final_stats=1 "$corpus" "$seeds" 2>"$log" || {
	tail -n 40 "$log" >&2
	exit 1
}
grep -aE "stat::number_of_executed_units|stat::peak_rss_mb" "$log" || true
echo "fuzz: no crash in $seconds s"
