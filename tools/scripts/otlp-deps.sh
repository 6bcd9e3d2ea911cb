#!/bin/sh
# The OTLP validator's one dependency: the official OTLP protobuf definitions
# as @opentelemetry/otlp-transformer 0.52 ships them generated (newer versions
# dropped them), installed under BUILD/otlp from the npm registry, pinned.
set -eu
build=${1:-build}
dir="$build/otlp"
pkg="@opentelemetry/otlp-transformer@0.52.1"
[ -f "$dir/node_modules/@opentelemetry/otlp-transformer/build/src/generated/root.js" ] && exit 0
if ! command -v npm >/dev/null 2>&1; then
	echo "socktrace: npm is missing: the OTLP export is not validated (apt-get install npm)" >&2
	exit 0
fi
mkdir -p "$dir"
echo "socktrace: installing $pkg under $dir"
npm install --no-audit --no-fund --silent --prefix "$dir" "$pkg"
