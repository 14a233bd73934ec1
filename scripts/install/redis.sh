#!/usr/bin/env bash
# Redis for the distributed-mode tests: Debian's redis-server, installed with
# apt when missing, exposed as $TRIBUTARY_TOOLS/bin/redis-server (and -cli).
set -euo pipefail
bin="${TRIBUTARY_TOOLS:-$HOME/.cache/tributary-tools}/bin"
mkdir -p "$bin"
if ! command -v redis-server >/dev/null; then
    echo "installing redis-server with apt" >&2
    sudo_cmd=""
    [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
    $sudo_cmd apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq redis-server >/dev/null
fi
ln -sf "$(command -v redis-server)" "$bin/redis-server"
ln -sf "$(command -v redis-cli)" "$bin/redis-cli"
