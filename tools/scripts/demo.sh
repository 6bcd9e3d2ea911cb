#!/bin/sh
# make demo: Listing 61-3 under the shim, seen three ways: the program's own
# output, ss while it sleeps, and socktrace-dump reading the trace.
set -eu
build=$(cd "${1:-build}" && pwd)
trace="$build/demo.trace"
out="$build/demo.out"
rm -f "$trace" "$out"

port=0
for p in $(seq 50000 50200); do
	if [ -z "$(ss -Htan "( sport = :$p or dport = :$p )" 2>/dev/null)" ]; then
		port=$p
		break
	fi
done

echo "\$ SOCKTRACE_FILE=$trace LD_PRELOAD=$build/libsocktrace.so $build/socknames $port 2"
# The output file exists before the program starts: a backgrounded redirect
# may not have created it yet when the loop below first reads it.
: >"$out"
SOCKTRACE_FILE="$trace" LD_PRELOAD="$build/libsocktrace.so" "$build/socknames" "$port" 2 >>"$out" &
pid=$!
tries=0
lines() { n=$(wc -l <"$out" 2>/dev/null); echo "${n:-0}"; }
while [ "$(lines)" -lt 4 ] && [ $tries -lt 100 ] && kill -0 $pid 2>/dev/null; do
	sleep 0.05
	tries=$((tries + 1))
done
cat "$out"
port=$(sed -n 's/^getsockname(acceptFd): (.*, \([0-9]*\))$/\1/p' "$out")
echo
echo "\$ ss -tan '( sport = :$port or dport = :$port )'"
ss -tan "( sport = :$port or dport = :$port )"
wait $pid
echo
echo "\$ socktrace-dump $trace"
"$build/socktrace-dump" "$trace"

echo
echo "\$ SOCKTRACE_BACKTRACE=8 ... socknames $port 0   # the same, with call stacks"
rm -f "$trace"
SOCKTRACE_FILE="$trace" SOCKTRACE_BACKTRACE=8 LD_PRELOAD="$build/libsocktrace.so" \
	"$build/socknames" "$port" 0 >/dev/null
"$build/socktrace-dump" "$trace" 2>&1 | sed -n '1,12p'

echo
echo "\$ socktrace-dump -n -c $trace        # the connection, with its life"
"$build/socktrace-dump" -n -c "$trace"
echo
echo "\$ socktrace-dump --html $build/demo.html $trace"
"$build/socktrace-dump" --html "$build/demo.html" "$trace" && echo "report: $build/demo.html"
