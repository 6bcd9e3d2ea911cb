#!/bin/sh
# Installs the Debian packages given as arguments when some are missing:
# itself when run as root, otherwise it prints the exact command and fails.
missing=""
for pkg in "$@"; do
	status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null)
	case "$status" in
	*" installed") ;;
	*) missing="$missing $pkg" ;;
	esac
done
[ -z "$missing" ] && exit 0
cmd="apt-get install -y --no-install-recommends$missing"
if [ "$(id -u)" = 0 ]; then
	echo "socktrace: installing missing packages:$missing"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq && $cmd
	exit $?
fi
echo "socktrace: missing Debian packages:$missing" >&2
echo "socktrace: run as root:  apt-get update && $cmd" >&2
exit 1
