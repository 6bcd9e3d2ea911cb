#!/bin/sh
# make bench: each loop bare, under the shim and under strace (its fastest
# set-up), alternated round by round in one run; medians in ns per iteration.
# Everything is pinned to CPU 0 so the three see the same machine.
set -eu
build=$(cd "${1:-build}" && pwd)
rounds=${BENCH_ROUNDS:-7}
dir=$(mktemp -d /tmp/socktrace-bench.XXXXXX)
trap 'rm -rf "$dir"' EXIT
lib="$build/libsocktrace.so"

# name  program  iterations (strace gets fewer: it is ~50x slower per call)
loops="names:names_loop:200000:20000 connect:connect_loop:4000:2000"
modes="bare shim ptrace strace"
extra_modes=${BENCH_EXTRA_MODES-shim-bt16 shim-notcpinfo}
# BENCH_EXTRA_MODES=shim-ref BENCH_REF_LIB=/path/libsocktrace.so: another
# build of the shim in the same alternated run (before and after a change)

run() { # mode program iterations
	rm -f "$dir/b.trace"
	case $1 in
	bare) taskset -c 0 "$build/bench/$2" "$3" ;;
	shim) SOCKTRACE_FILE="$dir/b.trace" LD_PRELOAD="$lib" taskset -c 0 "$build/bench/$2" "$3" ;;
	shim-bt*) SOCKTRACE_FILE="$dir/b.trace" SOCKTRACE_BACKTRACE=${1#shim-bt} LD_PRELOAD="$lib" \
		taskset -c 0 "$build/bench/$2" "$3" ;;
	shim-ref) SOCKTRACE_FILE="$dir/b.trace" LD_PRELOAD="$BENCH_REF_LIB" \
		taskset -c 0 "$build/bench/$2" "$3" ;;
	shim-notcpinfo) SOCKTRACE_FILE="$dir/b.trace" SOCKTRACE_TCPINFO=0 LD_PRELOAD="$lib" \
		taskset -c 0 "$build/bench/$2" "$3" ;;
	strace) taskset -c 0 strace -f --seccomp-bpf -e trace=network -o /dev/null \
		"$build/bench/$2" "$3" ;;
	# the tracer (socktrace --ptrace), on the same CPU as its tracee: the
	# stops are the cost, as they are strace's
	ptrace) taskset -c 0 "$build/socktrace" -q --ptrace -o "$dir/b.trace" \
		"$build/bench/$2" "$3" ;;
	esac
}

median() { sort -n | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}'; }

for r in $(seq "$rounds"); do
	for l in $loops; do
		name=${l%%:*}; rest=${l#*:}; prog=${rest%%:*}; rest=${rest#*:}
		n=${rest%%:*}; ns=${rest#*:}
		for m in $modes $extra_modes; do
			it=$n
			[ "$m" = strace ] || [ "$m" = ptrace ] && it=$ns
			run "$m" "$prog" "$it" >>"$dir/$name.$m"
		done
	done
done

printf '%-9s %10s %10s %7s' loop "bare ns" "shim ns" ratio
for m in $extra_modes; do printf ' %10s %7s' "$m" ratio; done
printf ' %10s %7s %10s %7s %8s\n' "ptrace ns" ratio "strace ns" ratio "added"
for l in $loops; do
	name=${l%%:*}
	bare=$(median <"$dir/$name.bare")
	printf '%-9s %10.0f' "$name" "$bare"
	for m in shim $extra_modes ptrace strace; do
		v=$(median <"$dir/$name.$m")
		printf ' %10.0f %6.2fx' "$v" "$(echo "$v $bare" | awk '{print $1/$2}')"
	done
	# the tracer's added cost as a share of strace's (target <= 0.50)
	printf ' %7.2f\n' "$(echo "$(median <"$dir/$name.ptrace") $(median <"$dir/$name.strace") $bare" |
		awk '{print ($2 > $3 ? ($1 - $3) / ($2 - $3) : 0)}')"
done
echo "($rounds alternated rounds, medians; names = getsockname+getpeername pair," \
	"connect = socket+connect+accept(addr buffer)+close x2, with close records;" \
	"shim-notcpinfo = SOCKTRACE_TCPINFO=0; ptrace = socktrace --ptrace; added = the" \
	"tracer's added ns over strace --seccomp-bpf's)"

# A real program: the small HTTP server under ab (fixed request count),
# bare, under the shim and under strace -f; requests per second, median.
if command -v ab >/dev/null 2>&1; then
	requests=${BENCH_REQUESTS:-3000}
	serve() { # mode -> prints requests per second
		rm -f "$dir/h.trace" "$dir/port"
		case $1 in
		bare) taskset -c 0 "$build/bench/http_server" >"$dir/port" & ;;
		shim) SOCKTRACE_FILE="$dir/h.trace" LD_PRELOAD="$lib" taskset -c 0 "$build/bench/http_server" >"$dir/port" & ;;
		strace) taskset -c 0 strace -f --seccomp-bpf -e trace=network -o /dev/null "$build/bench/http_server" >"$dir/port" & ;;
		ptrace) taskset -c 0 "$build/socktrace" -q --ptrace -o "$dir/h.trace" "$build/bench/http_server" >"$dir/port" & ;;
		esac
		spid=$!
		tries=0
		while [ ! -s "$dir/port" ] && [ $tries -lt 100 ]; do sleep 0.05; tries=$((tries + 1)); done
		read -r port server_pid <"$dir/port"
		taskset -c 1 ab -q -n "$requests" -c 4 "http://127.0.0.1:$port/" 2>/dev/null |
			awk '/^Requests per second/ {print $4}'
		# SIGKILL to both: strace outlives SIGTERM while its tracee blocks in
		# accept, and a tracer killed with SIGKILL leaves its tracee running
		kill -KILL "$server_pid" $spid 2>/dev/null
		wait $spid 2>/dev/null || true
	}
	for r in $(seq "$rounds"); do
		for m in bare shim ptrace strace; do
			serve $m >>"$dir/http.$m"
		done
	done
	bare=$(median <"$dir/http.bare")
	shim=$(median <"$dir/http.shim")
	st=$(median <"$dir/http.strace")
	pt=$(median <"$dir/http.ptrace")
	echo
	printf '%-9s %10s %10s %7s %10s %7s %10s %7s\n' "http" "bare r/s" "shim r/s" ratio \
		"ptrace r/s" ratio "strace r/s" ratio
	printf '%-9s %10.0f %10.0f %6.2fx %10.0f %6.2fx %10.0f %6.2fx\n' "ab -c 4" "$bare" "$shim" \
		"$(echo "$shim $bare" | awk '{print $1/$2}')" "$pt" "$(echo "$pt $bare" | awk '{print $1/$2}')" \
		"$st" "$(echo "$st $bare" | awk '{print $1/$2}')"
	echo "($requests requests x $rounds rounds; server on CPU 0, ab on CPU 1; ratio > 0.95 = within 5%)"
else
	echo "(ab not installed: no http row; make deps installs apache2-utils)"
fi

# Following an idle trace: CPU time of socktrace-dump -f over 5 s in which
# nothing is written (it polls once a second when idle).  Timed here, not in
# the tests, where a loaded machine would make it flaky.
rm -f "$dir/f.trace"
SOCKTRACE_FILE="$dir/f.trace" LD_PRELOAD="$lib" "$build/bench/names_loop" 100 >/dev/null
"$build/socktrace-dump" -f "$dir/f.trace" >/dev/null 2>&1 &
fpid=$!
sleep 1
t0=$(awk '{print $14 + $15}' "/proc/$fpid/stat")
sleep 5
t1=$(awk '{print $14 + $15}' "/proc/$fpid/stat")
kill -INT $fpid; wait $fpid 2>/dev/null || true
echo
echo "follow, idle: $(( (t1 - t0) * 1000 / $(getconf CLK_TCK) )) ms of CPU in 5 s"

# The reader at scale: a trace of BENCH_READER_EVENTS events (4 threads of a
# server at 4,000 connections a second, written by gentrace with the shim's
# own recorder), each view to /dev/null; events per second and peak RSS.
events=${BENCH_READER_EVENTS:-3000000}
if [ -x "$build/progs/gentrace" ] && [ -x /usr/bin/time ]; then
	"$build/progs/gentrace" "$dir/r.trace" "$events" 4 250000 >/dev/null
	size=$(stat -c %s "$dir/r.trace")
	echo
	printf '%-22s %12s %10s %9s\n' "reader view" "events/s" "seconds" "peak RSS"
	for view in "--stats" "-n" "--json" "-n --pid 1" "-n -c"; do
		best=""
		for r in $(seq "$rounds"); do
			/usr/bin/time -f '%e %M' "$build/socktrace-dump" $view "$dir/r.trace" \
				>/dev/null 2>"$dir/time" || true
			tail -1 "$dir/time" >>"$dir/reader.$r"
		done
		secs=$(for r in $(seq "$rounds"); do awk '{print $1}' "$dir/reader.$r"; done | median)
		rss=$(for r in $(seq "$rounds"); do awk '{print $2}' "$dir/reader.$r"; done | median)
		rm -f "$dir"/reader.*
		printf '%-22s %12.0f %10.2f %6.0f MB\n' "$view" \
			"$(echo "$events $secs" | awk '{print ($2 > 0 ? $1/$2 : 0)}')" "$secs" \
			"$(echo "$rss" | awk '{print $1/1024}')"
	done
	echo "($events events, $((size / 1048576)) MB; medians of $rounds; output to /dev/null)"
fi
