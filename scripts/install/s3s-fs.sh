#!/usr/bin/env bash
# Installs the s3s-fs S3 emulator (it checks SigV4 signatures) into
# $TRIBUTARY_TOOLS/s3s-fs and links it as $TRIBUTARY_TOOLS/bin/s3s-fs.
# Pinned to 0.14.1: newer releases need a newer rustc. Skipped when present.
set -euo pipefail
tools="${TRIBUTARY_TOOLS:-$HOME/.cache/tributary-tools}"
version="0.14.1"
root="$tools/s3s-fs"
binary="$root/bin/s3s-fs"
link="$tools/bin/s3s-fs"
mkdir -p "$tools/bin"
if [ ! -x "$binary" ]; then
    echo "installing s3s-fs $version (takes a few minutes the first time)" >&2
    cargo install s3s-fs --version "$version" --features binary --locked --root "$root"
fi
ln -sf "$binary" "$link"
