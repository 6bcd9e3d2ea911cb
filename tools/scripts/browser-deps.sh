#!/bin/sh
# The HTML report's browser test drives Debian's Chromium with playwright-core
# (never a browser of its own), installed under BUILD/browser, pinned.
set -eu
build=${1:-build}
dir="$build/browser"
pkg="playwright-core@1.56.1"
[ -f "$dir/node_modules/playwright-core/package.json" ] && exit 0
if ! command -v npm >/dev/null 2>&1; then
	echo "socktrace: npm is missing: the HTML report is not tested in a browser" >&2
	exit 0
fi
mkdir -p "$dir"
echo "socktrace: installing $pkg under $dir"
npm install --no-audit --no-fund --silent --prefix "$dir" "$pkg"
