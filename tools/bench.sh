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
modes="bare shim strace"
extra_modes=${BENCH_EXTRA_MODES-shim-bt16}

run() { # mode program iterations
	rm -f "$dir/b.trace"
	case $1 in
	bare) taskset -c 0 "$build/bench/$2" "$3" ;;
	shim) SOCKTRACE_FILE="$dir/b.trace" LD_PRELOAD="$lib" taskset -c 0 "$build/bench/$2" "$3" ;;
	shim-bt*) SOCKTRACE_FILE="$dir/b.trace" SOCKTRACE_BACKTRACE=${1#shim-bt} LD_PRELOAD="$lib" \
		taskset -c 0 "$build/bench/$2" "$3" ;;
	strace) taskset -c 0 strace -f --seccomp-bpf -e trace=network -o /dev/null \
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
			[ "$m" = strace ] && it=$ns
			run "$m" "$prog" "$it" >>"$dir/$name.$m"
		done
	done
done

printf '%-9s %10s %10s %7s' loop "bare ns" "shim ns" ratio
for m in $extra_modes; do printf ' %10s %7s' "$m" ratio; done
printf ' %10s %7s\n' "strace ns" ratio
for l in $loops; do
	name=${l%%:*}
	bare=$(median <"$dir/$name.bare")
	printf '%-9s %10.0f' "$name" "$bare"
	for m in shim $extra_modes strace; do
		v=$(median <"$dir/$name.$m")
		printf ' %10.0f %6.2fx' "$v" "$(echo "$v $bare" | awk '{print $1/$2}')"
	done
	printf '\n'
done
echo "($rounds alternated rounds, medians; names = getsockname+getpeername pair," \
	"connect = socket+connect+accept+close x2)"
