#!/usr/bin/env bash
# Runs a command with REDIS_URL pointing at a private redis-server on a free
# loopback port, stopped when the command ends. With REDIS_URL already set,
# runs the command against that Redis instead.
set -euo pipefail
if [ -n "${REDIS_URL:-}" ]; then
    exec "$@"
fi
tools="${TRIBUTARY_TOOLS:-$HOME/.cache/tributary-tools}"
server="$tools/bin/redis-server"
[ -x "$server" ] || server="$(command -v redis-server)" || {
    echo "redis-server is missing: run scripts/install-test-services.sh" >&2
    exit 1
}
dir="$(mktemp -d)"
port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
"$server" --port "$port" --bind 127.0.0.1 --save '' --appendonly no \
    --daemonize yes --pidfile "$dir/redis.pid" --dir "$dir" --logfile "$dir/redis.log"
stop() {
    [ -f "$dir/redis.pid" ] && kill "$(cat "$dir/redis.pid")" 2>/dev/null || true
    rm -rf "$dir"
}
trap stop EXIT
for _ in $(seq 1 50); do
    [ -f "$dir/redis.pid" ] && break
    sleep 0.1
done
export REDIS_URL="redis://127.0.0.1:$port"
echo "test Redis at $REDIS_URL" >&2
"$@"
