#!/bin/sh
# Two hosts on one machine for the --connections tests: network namespaces
# joined by a veth pair, each with its own host name (UTS namespace).
#  - over the veth: curl on host B fetches 3 times from http.server on host A,
#    both traced, into b.trace and a.trace;
#  - on each host's loopback the same 4-tuple 127.0.0.1:40000 -> 127.0.0.1:8000:
#    on A only the server is traced, on B only the client (b-lo.trace, as the
#    launcher starts its file anew), so a reader that
#    paired loopback ends across hosts would wrongly join them.
# Usage: two_hosts.sh BUILD DIR.  Exit 77 when namespaces cannot be made here.
set -u
build=$1 dir=$2
[ "$(id -u)" = 0 ] && command -v ip >/dev/null && command -v unshare >/dev/null || exit 77
a=st-a-$$ b=st-b-$$
cleanup() {
	for ns in $a $b; do
		pids=$(ip netns pids $ns 2>/dev/null)
		[ -n "$pids" ] && kill -KILL $pids 2>/dev/null
		ip netns del $ns 2>/dev/null
	done
}
trap cleanup EXIT
# a sandbox may refuse any step of this set-up: that is "cannot test here", not a failure
{
	ip netns add $a && ip netns add $b &&
	ip link add veth-$$ netns $a type veth peer name veth-$$ netns $b &&
	ip -n $a addr add 192.0.2.1/24 dev veth-$$ &&
	ip -n $b addr add 192.0.2.2/24 dev veth-$$ &&
	ip -n $a link set lo up && ip -n $a link set veth-$$ up &&
	ip -n $b link set lo up && ip -n $b link set veth-$$ up &&
	ip netns exec $a unshare --uts true
} >/dev/null 2>&1 || exit 77
set -e

# on_host NS NAME COMMAND...: COMMAND on that host, under its own host name
on_host() {
	ns=$1 name=$2
	shift 2
	ip netns exec "$ns" unshare --uts sh -c 'echo "$0" >/proc/sys/kernel/hostname && exec "$@"' \
		"$name" "$@"
}
wait_serving() { # LOG: http.server prints this line once it listens
	tries=0
	until grep -q '^Serving HTTP' "$1" 2>/dev/null; do
		tries=$((tries + 1))
		[ $tries -le 200 ] || { echo "two_hosts: no server: $(cat "$1")" >&2; exit 1; }
		sleep 0.05
	done
}

on_host $a st-host-a "$build/socktrace" -q -o "$dir/a.trace" \
	python3 -u -m http.server --bind 0.0.0.0 8000 >"$dir/a.log" 2>&1 &
on_host $b st-host-b python3 -u -m http.server --bind 127.0.0.1 8000 >"$dir/b.log" 2>&1 &
wait_serving "$dir/a.log"
wait_serving "$dir/b.log"
on_host $b st-host-b "$build/socktrace" -q -o "$dir/b.trace" \
	curl -s --max-time 10 -o /dev/null -o /dev/null -o /dev/null \
	http://192.0.2.1:8000/ http://192.0.2.1:8000/ http://192.0.2.1:8000/
on_host $a st-host-a curl -s --max-time 10 -o /dev/null --local-port 40000 http://127.0.0.1:8000/
on_host $b st-host-b "$build/socktrace" -q -o "$dir/b-lo.trace" \
	curl -s --max-time 10 -o /dev/null --local-port 40000 http://127.0.0.1:8000/
