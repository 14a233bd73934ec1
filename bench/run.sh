#!/usr/bin/env bash
# `just bench [--quick] [--only pipeline,memory,start,api,s3] [--reps N]`:
# installs the bench tools (idempotent), builds the release host, the plugins
# and the native helper, then runs bench/bench.py, which writes
# bench/results/latest.md and bench/results/throughput.png.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
export TRIBUTARY_TOOLS="${TRIBUTARY_TOOLS:-$HOME/.cache/tributary-tools}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/tributary-target}"
bench_cache="$TRIBUTARY_TOOLS/bench"
started=$(date +%s)

bash bench/install.sh

# The plugins the host starts with, built for wasm32-wasip2 into a bench-owned folder
# (plugins/dist is left to `just setup`).
rustup target list --installed | grep -qx wasm32-wasip2 || rustup target add wasm32-wasip2
plugins=(local synthetic s3 gcs azure-blob)
available=()
for name in "${plugins[@]}"; do
    [ -f "plugins/$name/Cargo.toml" ] && available+=("$name")
done
echo "bench: building the release host and plugins (${available[*]})"
cargo build --release -q -p tributary
packages=()
for name in "${available[@]}"; do packages+=(-p "tributary-plugin-$name"); done
cargo build --release -q --target wasm32-wasip2 "${packages[@]}"
mkdir -p "$bench_cache/plugins"
rm -f "$bench_cache/plugins"/*.wasm
for name in "${available[@]}"; do
    cp "$CARGO_TARGET_DIR/wasm32-wasip2/release/tributary_plugin_${name//-/_}.wasm" "$bench_cache/plugins/$name.wasm"
done

# The native helper (in-process instantiate timing, native vs WASM S3 listing): a
# workspace member outside default-members, built with the host's release profile.
if [ "${BENCH_SKIP_NATIVE:-0}" != 1 ]; then
    echo "bench: building bench/native"
    if ! cargo build --release -q -p tributary-bench-native; then
        echo "bench: bench/native did not build; scenario 2 and the in-process instantiate figure are skipped" >&2
    fi
fi

echo "bench: setup took $(( $(date +%s) - started ))s"
exec "$bench_cache/venv/bin/python" bench/bench.py --plugins-dir "$bench_cache/plugins" "$@"
