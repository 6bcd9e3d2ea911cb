#!/bin/sh
# The reader under valgrind, on a real trace and on damaged copies of it: any
# memory error fails (exit 99); the damaged ones must still exit 1, not crash.
# An empty file is a trace whose writer was stopped before its header: exit 0.
set -eu
build=$(cd "${1:-build}" && pwd)
dir=$(mktemp -d /tmp/socktrace-vg.XXXXXX)
trap 'rm -rf "$dir"' EXIT
SOCKTRACE_FILE="$dir/good.trace" LD_PRELOAD="$build/libsocktrace.so" \
	"$build/progs/sockops" fork >/dev/null
size=$(stat -c %s "$dir/good.trace")
head -c $((size - 100)) "$dir/good.trace" >"$dir/truncated.trace"
head -c 2000 "$dir/good.trace" >"$dir/short-header.trace"
: >"$dir/empty.trace"
head -c 8192 /dev/urandom >"$dir/foreign.trace"
# Damage the length of the second record in the first chunk: its offset depends
# on the first (process) record, whose size follows the paths of this run.
cp "$dir/good.trace" "$dir/corrupt.trace"
first_len=$(od -An -t u4 -j 4096 -N 4 "$dir/good.trace" | tr -d ' ')
printf '\377\377\377\377' | dd of="$dir/corrupt.trace" bs=1 seek=$((4096 + first_len)) \
	conv=notrunc 2>/dev/null

vg() {
	valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite \
		"$build/socktrace-dump" "$@" >/dev/null 2>"$dir/err"
}
status=0
for f in "$dir"/*.trace; do
	want=1
	case $(basename "$f") in good.trace | empty.trace) want=0 ;; esac
	for mode in "" --json -c --graph --otlp; do
		rc=0
		vg $mode "$f" || rc=$?
		if [ $rc -ne $want ]; then
			echo "valgrind-reader: $(basename "$f") $mode: exit $rc, expected $want" >&2
			cat "$dir/err" >&2
			status=1
		fi
	done
done
[ $status -eq 0 ] && echo "valgrind-reader: 6 traces x 5 views clean"
exit $status
