#!/bin/sh
# The TX/RX matrix beside the kernel (root, bpftrace): python http.server and
# urllib/curl clients traced on one side, the other or both, small and large
# bodies; node (libuv closes) both sides; the C lifecycle program (a reset
# connection, forked and exec'd servers, a connection handed over a Unix
# socket and never named, a server writing after its client left, among its
# modes). Each run is checked by tcp-bytes.py --compare: prints its
# differences, exits 1.
#   tools/scripts/byte-matrix.sh build
set -u
B=$(cd "$1" && pwd); S=$(cd "$(dirname "$0")" && pwd)
W=$(mktemp -d); cd "$W" || exit 1
head -c 3145728 /dev/urandom > big.bin; head -c 120 /dev/urandom > small.bin
PORT=18781; fail=0
shim() { LD_PRELOAD="$B/libsocktrace.so" SOCKTRACE_FILE="$W/t.trace" "$@"; }
fetch() { # how file
	/usr/bin/python3 -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:$PORT/$2').read()"
}
run_case() { # name server-traced client-traced file
	rm -f t.trace
	cat > case.sh <<EOC
cd $W
if [ $2 = 1 ]; then LD_PRELOAD=$B/libsocktrace.so SOCKTRACE_FILE=$W/t.trace /usr/bin/python3 -m http.server $PORT --bind 127.0.0.1 >/dev/null 2>&1 &
else /usr/bin/python3 -m http.server $PORT --bind 127.0.0.1 >/dev/null 2>&1 & fi
echo \$! > srv.pid
for i in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23 24 25 26 27 28 29 30 31 32 33 34 35 36 37 38 39 40 41 42 43 44 45 46 47 48 49 50; do
	curl -s -o /dev/null http://127.0.0.1:$PORT/ && break; sleep 0.1; done
for i in 1 2 3; do
	if [ $3 = 1 ]; then LD_PRELOAD=$B/libsocktrace.so SOCKTRACE_FILE=$W/t.trace /usr/bin/python3 -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:$PORT/$4').read()"
	LD_PRELOAD=$B/libsocktrace.so SOCKTRACE_FILE=$W/t.trace curl -s -o /dev/null http://127.0.0.1:$PORT/$4
	else /usr/bin/python3 -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:$PORT/$4').read()"
	curl -s -o /dev/null http://127.0.0.1:$PORT/$4; fi
done
kill -TERM \$(cat srv.pid); wait
EOC
	printf '%s: ' "$1"
	"$S/tcp-bytes.py" --compare "$B/socktrace-dump" "$W/t.trace" -- sh case.sh > out.txt 2>&1 || fail=1
	grep -E '^(DIFF|compared)' out.txt | tr '\n' ' '; echo
	PORT=$((PORT + 1))
}
run_case "server only, 3 MB" 1 0 big.bin
run_case "server only, 120 B" 1 0 small.bin
run_case "client only, 3 MB" 0 1 big.bin
run_case "client only, 120 B" 0 1 small.bin
run_case "both, 3 MB" 1 1 big.bin
run_case "both, 120 B" 1 1 small.bin
for size in 100 3000000; do
	rm -f t.trace
	printf 'node both sides, %s B: ' $size
	"$S/tcp-bytes.py" --compare "$B/socktrace-dump" "$W/t.trace" -- env LD_PRELOAD="$B/libsocktrace.so" \
		SOCKTRACE_FILE="$W/t.trace" node "$S/../../tests/scripts/node_http.js" 5 $size > out.txt 2>&1 || fail=1
	grep -E '^(DIFF|compared)' out.txt | tr '\n' ' '; echo
done
# after the first four: a server end held to a child's _exit, passed through
# an exec (sshd), kept across an exec in place (nc -l -e), on fds 0 and 1 of
# an exec'd child (inetd) in both orders and through a wrapper's exec
for mode in bytes syscall unacked reset "prefork child-exits" "prefork parent-first" reexec selfexec \
	inetd "inetd late" "inetd exec" "handoff silent" "handoff silent-early" unread; do
	rm -f t.trace
	printf 'C program (%s): ' "$mode"
	"$S/tcp-bytes.py" --compare "$B/socktrace-dump" "$W/t.trace" -- env LD_PRELOAD="$B/libsocktrace.so" \
		SOCKTRACE_FILE="$W/t.trace" "$B/progs/life" $mode > out.txt 2>&1 || fail=1
	grep -E '^(DIFF|compared)' out.txt | tr '\n' ' '; echo
done
rm -rf "$W"
exit $fail
