#!/usr/bin/env bash
# Installs every service and emulator the test suite starts, into
# $TRIBUTARY_TOOLS (default ~/.cache/tributary-tools), each exposed as
# $TRIBUTARY_TOOLS/bin/<name>. Idempotent: what is installed is kept.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
export TRIBUTARY_TOOLS="${TRIBUTARY_TOOLS:-$HOME/.cache/tributary-tools}"
mkdir -p "$TRIBUTARY_TOOLS/bin"
for script in "$here"/install/*.sh; do
    bash "$script"
done
