#!/bin/sh
# npm-deps.sh DIR PACKAGE@VERSION: a tool the tests need from the npm
# registry (pinned), installed under the build directory, never in the repo:
#   BUILD/otlp     @opentelemetry/otlp-transformer 0.52 (the last to ship the
#                  generated OTLP protobuf definitions), for otlp-check.js
#   BUILD/browser  playwright-core, to drive Debian's Chromium (never a browser
#                  of its own), for html-check.js
set -eu
dir=$1
pkg=$2
name=${pkg%@*}
[ -f "$dir/node_modules/$name/package.json" ] && exit 0
if ! command -v npm >/dev/null 2>&1; then
	echo "socktrace: npm is missing: tests needing $name are skipped (apt-get install npm)" >&2
	exit 0
fi
mkdir -p "$dir"
echo "socktrace: installing $pkg under $dir"
npm install --no-audit --no-fund --silent --prefix "$dir" "$pkg"
