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
modes="bare shim ptrace floor strace"
extra_modes=${BENCH_EXTRA_MODES-shim-bt16 shim-notcpinfo shim-ring}
# BENCH_EXTRA_MODES=shim-ref BENCH_REF_LIB=/path/libsocktrace.so: another
# build of the shim in the same alternated run (before and after a change)

# The connect loop runs each time in a network namespace of its own, with
# only its loopback: a client that closes first leaves its port in
# TIME_WAIT for a minute, and the thousands of connections of the earlier
# runs made each connect search the port range (15 to 55 us a cycle, from
# run to run, whatever the mode).  Where no namespace can be made, as
# before, and said so.
printf '#!/bin/sh\nip link set lo up && exec "$@"\n' >"$dir/lo-up"
chmod +x "$dir/lo-up"
fresh_net=""
if unshare -n "$dir/lo-up" true 2>/dev/null; then
	fresh_net="unshare -n $dir/lo-up"
else
	echo "bench: no network namespace here (unshare -n); the connect loop shares the host's ports" >&2
fi

run() { # mode program iterations
	rm -f "$dir/b.trace"
	net=""
	case $2 in connect_loop) net=$fresh_net ;; esac
	case $1 in
	bare) $net taskset -c 0 "$build/bench/$2" "$3" ;;
	shim) $net env SOCKTRACE_FILE="$dir/b.trace" LD_PRELOAD="$lib" \
		taskset -c 0 "$build/bench/$2" "$3" ;;
	shim-bt*) $net env SOCKTRACE_FILE="$dir/b.trace" SOCKTRACE_BACKTRACE=${1#shim-bt} \
		LD_PRELOAD="$lib" taskset -c 0 "$build/bench/$2" "$3" ;;
	shim-ref) $net env SOCKTRACE_FILE="$dir/b.trace" LD_PRELOAD="$BENCH_REF_LIB" \
		taskset -c 0 "$build/bench/$2" "$3" ;;
	shim-notcpinfo) $net env SOCKTRACE_FILE="$dir/b.trace" SOCKTRACE_TCPINFO=0 \
		LD_PRELOAD="$lib" taskset -c 0 "$build/bench/$2" "$3" ;;
	# the flight recorder, 4 MiB: the names loop wraps it about five times
	shim-ring) $net env SOCKTRACE_FILE="$dir/b.trace" SOCKTRACE_RING=1 SOCKTRACE_SIZE=4M \
		LD_PRELOAD="$lib" taskset -c 0 "$build/bench/$2" "$3" ;;
	strace) $net taskset -c 0 strace -f --seccomp-bpf -e trace=network -o /dev/null \
		"$build/bench/$2" "$3" ;;
	# the tracer (socktrace --ptrace), on the same CPU as its tracee: the
	# stops are the cost, as they are strace's
	ptrace) $net taskset -c 0 "$build/socktrace" -q --ptrace -o "$dir/b.trace" \
		"$build/bench/$2" "$3" ;;
	# the stops socktrace --ptrace makes, with nothing done at them: the
	# floor under any ptrace tracer that records what socktrace records
	floor) $net taskset -c 0 "$build/bench/floor_tracer" socktrace "$build/bench/$2" "$3" ;;
	esac
}

median() { sort -n | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}'; }

for r in $(seq "$rounds"); do
	for l in $loops; do
		name=${l%%:*}; rest=${l#*:}; prog=${rest%%:*}; rest=${rest#*:}
		n=${rest%%:*}; ns=${rest#*:}
		for m in $modes $extra_modes; do
			it=$n
			case $m in strace|ptrace|floor) it=$ns ;; esac
			run "$m" "$prog" "$it" >>"$dir/$name.$m"
		done
	done
done

printf '%-9s %10s %10s %7s' loop "bare ns" "shim ns" ratio
for m in $extra_modes; do printf ' %10s %7s' "$m" ratio; done
printf ' %10s %7s %10s %7s %10s %7s %8s %8s %8s\n' "ptrace ns" ratio "floor ns" ratio \
	"strace ns" ratio "added" "floor" "B/event"
# bytes of trace per call event under the shim (results and closes included)
bytes_per_event() { # program iterations
	rm -f "$dir/b.trace"
	SOCKTRACE_FILE="$dir/b.trace" LD_PRELOAD="$lib" "$build/bench/$1" "$2" >/dev/null
	events=$("$build/socktrace-dump" --stats --json "$dir/b.trace" | sed 's/^{"events":\([0-9]*\).*/\1/')
	echo "$(stat -c %s "$dir/b.trace") $events" | awk '{printf "%.1f", ($2 > 0 ? $1 / $2 : 0)}'
}
for l in $loops; do
	name=${l%%:*}
	bare=$(median <"$dir/$name.bare")
	printf '%-9s %10.0f' "$name" "$bare"
	for m in shim $extra_modes ptrace floor strace; do
		v=$(median <"$dir/$name.$m")
		printf ' %10.0f %6.2fx' "$v" "$(echo "$v $bare" | awk '{print $1/$2}')"
	done
	# the tracer's added cost as a share of strace's (target <= 0.50)
	for m in ptrace floor; do
		printf ' %8.2f' "$(echo "$(median <"$dir/$name.$m") $(median <"$dir/$name.strace") $bare" |
			awk '{print ($2 > $3 ? ($1 - $3) / ($2 - $3) : 0)}')"
	done
	rest=${l#*:}
	printf ' %8s\n' "$(bytes_per_event "${rest%%:*}" 20000)"
done
echo "($rounds alternated rounds, medians; names = getsockname+getpeername pair," \
	"connect = socket+connect+accept(addr buffer)+close x2, with close records;" \
	"shim-notcpinfo = SOCKTRACE_TCPINFO=0; shim-ring = SOCKTRACE_RING=1 in 4 MiB, wrapped; ptrace = socktrace --ptrace; added = the" \
	"tracer's added ns over strace --seccomp-bpf's; floor = floor_tracer: socktrace's stops with nothing done" \
	"at them, its added ns over strace's; B/event = trace bytes per call event" \
	"under the shim)"

# Added CPU per event: the names loop's own thread CPU time (what tracing
# adds to the program, whatever else the machine does), with one LTTng-UST
# tracepoint per call recording the same fields with the vpid/vtid contexts,
# in a session writing to disk with blocking channels (no event discarded),
# plus the CPU its consumer daemon spent meanwhile, beside the shim.  Each
# round is one process in which blocks of traced calls alternate with blocks
# of the same calls made bare (bench_ab: the shim bypassed through libc's
# own symbols, the tracepoints skipped), so that the machine's drift from run
# to run, larger than what tracing adds, falls on both alike; the control
# row ("bare against bare") is the method's own noise.  Two events per
# iteration.
cpu_rounds=${BENCH_CPU_ROUNDS:-7}
cpu_blocks=${BENCH_CPU_BLOCKS:-100}
cpu_per_block=${BENCH_CPU_PER_BLOCK:-2000}
lt="$build/bench/names_loop_lttng"
lttng_ok=false started_sessiond=false lttng_why=""
if [ ! -x "$lt" ]; then
	lttng_why="names_loop_lttng not built (no liblttng-ust-dev)"
elif ! command -v lttng-sessiond >/dev/null 2>&1; then
	lttng_why="no lttng-sessiond (lttng-tools)"
else
	if ! pgrep -x lttng-sessiond >/dev/null 2>&1; then
		lttng-sessiond --daemonize >/dev/null 2>&1 && started_sessiond=true
	fi
	if lttng create socktrace-bench --output="$dir/lttng" >/dev/null 2>&1 &&
		lttng enable-channel -u --blocking-timeout=inf ch >/dev/null 2>&1 &&
		lttng enable-event -u -c ch 'socktrace_bench:*' >/dev/null 2>&1 &&
		lttng add-context -u -c ch -t vpid -t vtid >/dev/null 2>&1 &&
		lttng start >/dev/null 2>&1; then
		lttng_ok=true
	else
		lttng_why="the LTTng session could not start"
	fi
fi
consumer_ns() { # CPU ns used so far by the UST consumer daemons' threads
	for p in $(pgrep -f lttng-consumerd); do cat /proc/"$p"/task/*/schedstat 2>/dev/null; done |
		awk '{s += $1} END {printf "%.0f\n", s}'
}
per_event() { awk '{printf "%.1f\n", $1 / 2}'; }
cpu_traced=$(( (cpu_blocks + 1) * cpu_per_block )) # iterations traced, warm-up included
for r in $(seq "$cpu_rounds"); do
	taskset -c 0 "$build/bench/names_loop" ab "$cpu_blocks" "$cpu_per_block" |
		per_event >>"$dir/added.control"
	rm -f "$dir/c.trace"
	SOCKTRACE_FILE="$dir/c.trace" LD_PRELOAD="$lib" taskset -c 0 "$build/bench/names_loop" \
		ab "$cpu_blocks" "$cpu_per_block" >"$dir/ab.shim"
	per_event <"$dir/ab.shim" >>"$dir/added.shim"
	awk '{printf "%.3f\n", ($2 + $1) / $2}' "$dir/ab.shim" >>"$dir/ratio.shim"
	# the same in a 4 MiB ring wrapped before the timing (130,000 untimed
	# iterations, 8 MiB of events): no page of the trace is new, so what
	# the file system costs to grow a file is out of the number
	rm -f "$dir/r4.trace"
	SOCKTRACE_RING=1 SOCKTRACE_SIZE=4M SOCKTRACE_FILE="$dir/r4.trace" LD_PRELOAD="$lib" \
		taskset -c 0 "$build/bench/names_loop" ab "$cpu_blocks" "$cpu_per_block" 130000 \
		>"$dir/ab.ring"
	per_event <"$dir/ab.ring" >>"$dir/added.ring"
	awk '{printf "%.3f\n", ($2 + $1) / $2}' "$dir/ab.ring" >>"$dir/ratio.ring"
	if $lttng_ok; then
		c0=$(consumer_ns)
		LTTNG_UST_ALLOW_BLOCKING=1 taskset -c 0 "$lt" ab "$cpu_blocks" "$cpu_per_block" |
			per_event >>"$dir/added.tp"
		sleep 1 # the consumer drains the buffers after the program is done
		c1=$(consumer_ns)
		echo "$c0 $c1 $cpu_traced" | awk '{printf "%.1f\n", ($2 - $1) / ($3 * 2)}' >>"$dir/cpu.consumer"
	fi
done
shim_bytes=$(stat -c %s "$dir/c.trace")
echo
printf '%-24s %8s %8s %8s %9s %12s\n' "added CPU per event" median fastest slowest "slow/fast" "bytes/event"
# slow/fast is "noise" when the fastest round added nothing measurable
row() { # label file bytes-per-event
	sort -n "$2" | awk -v l="$1" -v b="$3" '{v[NR] = $1} END {
		r = v[1] > 0 ? sprintf("%8.2fx", v[NR] / v[1]) : "    noise"
		printf "%-24s %5.0f ns %5.0f ns %5.0f ns %s %12s\n", l, v[int((NR + 1) / 2)],
			v[1], v[NR], r, b }'
}
row "socktrace (shim)" "$dir/added.shim" \
	"$(echo "$shim_bytes $cpu_traced" | awk '{printf "%.1f", $1 / ($2 * 2)}')"
if $lttng_ok; then
	discarded=$(lttng stop 2>&1 | grep -o '[0-9]* events were discarded' | awk '{print $1}')
	lttng_bytes=$(du -sb "$dir/lttng" | awk '{print $1}')
	lttng destroy socktrace-bench >/dev/null 2>&1
	paste "$dir/added.tp" "$dir/cpu.consumer" | awk '{printf "%.1f\n", $1 + $2}' >"$dir/added.lttng"
	row "LTTng-UST + consumer" "$dir/added.lttng" \
		"$(echo "$lttng_bytes $cpu_traced $cpu_rounds" | awk '{printf "%.1f", $1 / ($2 * 2 * $3)}')"
fi
row "socktrace (shim, ring)" "$dir/added.ring" \
	"$(echo "$shim_bytes $cpu_traced" | awk '{printf "%.1f", $1 / ($2 * 2)}')"
row "control: bare vs bare" "$dir/added.control" "-"
sort -n "$dir/ratio.shim" | awk '{v[NR] = $1} END {
	printf "names loop in one process, shim CPU over bare: %.2fx median (%.2f-%.2f; target <= 1.15)\n",
		v[int((NR + 1) / 2)], v[1], v[NR] }'
sort -n "$dir/ratio.ring" | awk '{v[NR] = $1} END {
	printf "the same in a wrapped ring: %.2fx median (%.2f-%.2f; target <= 1.10)\n",
		v[int((NR + 1) / 2)], v[1], v[NR] }'
if $lttng_ok; then
	echo "$(sort -n "$dir/added.shim" | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}') \
$(sort -n "$dir/added.lttng" | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}')" |
		awk '{printf "socktrace / LTTng-UST: %.2f (goal <= 0.50)\n", $1 / $2}'
	echo "($cpu_rounds rounds, each one process alternating $cpu_blocks blocks of $cpu_per_block" \
		"traced and bare iterations, thread CPU time; LTTng: vpid/vtid contexts, blocking" \
		"channel, ${discarded:-0} events discarded; its consumer's CPU per event added in)"
else
	echo "(LTTng-UST row left out: $lttng_why)"
fi
$started_sessiond && pkill -x lttng-sessiond

# The trace's clock: one CLOCK_MONOTONIC read through the vDSO (what the shim
# uses) beside one rdtsc, and whether the TSC is invariant and the kernel's
# clocksource (the condition for stamping with it, as LTTng and perf do).
if [ -x "$build/bench/clock_cost" ]; then
	echo
	taskset -c 0 "$build/bench/clock_cost" |
		awk '{printf "clock: vDSO CLOCK_MONOTONIC %s ns, rdtsc %s ns per read; invariant TSC %s; clocksource %s\n", $2, $4, $6, $8}'
fi

# Python frames (issue 19): what -k 16 costs a Python program, the
# interpreter's frames read with the native ones against native frames alone
# (SOCKTRACE_PYTHON=0); target: Python frames cost at most the native stack
# again ("py/native" <= 1).  The connect loop and an HTTP client loop, each
# dial three functions deep; alternated round by round.
pyloop="$(cd "$(dirname "$0")" && pwd)/py_connect_loop.py"
# every CPython read (3.11 to 3.15): Debian's, then pyenv's when installed
py_interps=""
for i in /usr/bin/python3.11 /usr/bin/python3.12 /usr/bin/python3.13 \
	"$HOME"/.pyenv/versions/3.12*/bin/python3.12 "$HOME"/.pyenv/versions/3.13*/bin/python3.13; do
	[ -x "$i" ] && py_interps="$py_interps $i"
done
py_rounds=${BENCH_PY_ROUNDS:-7}
for r in $(seq "$py_rounds"); do
	for py in $py_interps; do
		v=$("$py" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
		for l in connect:2000 http:400; do
			name=${l%%:*} n=${l#*:}
			taskset -c 0 "$py" "$pyloop" "$name" "$n" >>"$dir/py.$v.$name.bare"
			for m in shim native16 py16; do
				rm -f "$dir/p.trace"
				case $m in
				shim) bt=0 pyf=1 ;;
				native16) bt=16 pyf=0 ;;
				py16) bt=16 pyf=1 ;;
				esac
				SOCKTRACE_FILE="$dir/p.trace" SOCKTRACE_BACKTRACE=$bt SOCKTRACE_PYTHON=$pyf \
					LD_PRELOAD="$lib" taskset -c 0 "$py" "$pyloop" "$name" "$n" \
					>>"$dir/py.$v.$name.$m"
			done
		done
	done
done
echo
if [ -n "$py_interps" ]; then
	printf '%-14s %10s %10s %7s %14s %7s %14s %7s %10s\n' "python loop" "bare CPU" "shim CPU" ratio \
		"-k 16 native" ratio "-k 16 + py" ratio "py/native"
	for f in "$dir"/py.*.connect.bare "$dir"/py.*.http.bare; do
		key=${f#"$dir"/py.} key=${key%.bare}
		b=$(median <"$dir/py.$key.bare") s=$(median <"$dir/py.$key.shim")
		k=$(median <"$dir/py.$key.native16") p=$(median <"$dir/py.$key.py16")
		# py/native only when the native stack's cost stands out of the
		# runs' noise (2% of bare): a difference of a few ns divided by
		# printed ratios in the thousands
		echo "$key $b $s $k $p" | awk '{q = ($4 - $3 > $2 * 0.02) ? sprintf("%.2f", ($5 - $4) / ($4 - $3)) : "noise";
			printf "%-14s %10.0f %10.0f %6.2fx %14.0f %6.2fx %14.0f %6.2fx %10s\n",
			$1, $2, $3, $3 / $2, $4, $4 / $2, $5, $5 / $2, q}'
	done
	echo "($py_rounds alternated rounds, medians of the process's CPU ns per iteration; py/native = what the Python frames add" \
		"over what the native 16-frame stack adds; target <= 1)"
	# The same question asked inside one run, where the machine's drift
	# cannot weigh on one side: the CPU samples in the Python walk against
	# those in libunwind, on the connect loop with -k 16 (perf's software
	# clock; this VM has no hardware counters).
	if command -v perf >/dev/null 2>&1; then
		for py in $py_interps; do
			v=$("$py" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
			rm -f "$dir/p.trace"
			SOCKTRACE_FILE="$dir/p.trace" SOCKTRACE_BACKTRACE=16 LD_PRELOAD="$lib" \
				perf record -q -F 8000 -e cpu-clock -o "$dir/py.perf" -- taskset -c 0 "$py" \
				"$pyloop" connect 20000 >/dev/null 2>&1 || continue
			perf report -i "$dir/py.perf" --no-children --sort dso,sym 2>/dev/null | grep '%' |
				grep -v '^#' | awk -v v="$v" '{p = $1; sub("%", "", p)}
				/libunwind|_ULx86_64|_Ux86_64/ {u += p} /st_py|PyGILState_GetThisThreadState/ {y += p}
				END {printf "%s connect loop, one run: Python walk %.1f%% of CPU samples, libunwind %.1f%%: py/native %.2f\n",
					v, y, u, (u > 0 ? y / u : 0)}'
		done
	fi
else
	echo "python loops: skipped (no CPython 3.11 to 3.15 installed)"
fi

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
	# written back before the views are timed: the kernel's writeback of
	# 91 MB of dirty pages otherwise runs beside the first rounds
	sync "$dir/r.trace"
	size=$(stat -c %s "$dir/r.trace")
	echo
	printf '%-22s %12s %10s %9s\n' "reader view" "events/s" "seconds" "peak RSS"
	for view in "--stats" "-n" "--json" "-n --pid 1" "-n -c"; do
		for r in $(seq "$rounds"); do
			# wall time in ns around the run (time's %e counts in
			# 10 ms steps: 7% of a 0.15 s view); its %M for the RSS
			t0=$(date +%s%N)
			/usr/bin/time -f '%M' "$build/socktrace-dump" $view "$dir/r.trace" \
				>/dev/null 2>"$dir/time" || true
			t1=$(date +%s%N)
			echo "$(( (t1 - t0) / 1000 )) $(tail -1 "$dir/time")" |
				awk '{printf "%.6f %s\n", $1 / 1e6, $2}' >>"$dir/reader.$r"
		done
		secs=$(for r in $(seq "$rounds"); do awk '{print $1}' "$dir/reader.$r"; done | median)
		rss=$(for r in $(seq "$rounds"); do awk '{print $2}' "$dir/reader.$r"; done | median)
		rm -f "$dir"/reader.*
		printf '%-22s %12.0f %10.3f %6.0f MB\n' "$view" \
			"$(echo "$events $secs" | awk '{print ($2 > 0 ? $1/$2 : 0)}')" "$secs" \
			"$(echo "$rss" | awk '{print $1/1024}')"
	done
	echo "($events events, $((size / 1048576)) MB; medians of $rounds; output to /dev/null)"
fi
