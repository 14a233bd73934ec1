# Tributary tasks. `just --list` shows them all.

set shell := ["bash", "-euo", "pipefail", "-c"]

# One target folder outside the clone, reused across runs and clones.
export CARGO_TARGET_DIR := env_var_or_default("CARGO_TARGET_DIR", env_var("HOME") / ".cache/tributary-target")

wasm_target := "wasm32-wasip2"
default_plugins := "local synthetic s3 gcs azure-blob"
test_plugins := "misbehaving wrong-world"

# Show the recipes.
default:
    @just --list

# Add the wasm target and build the default plugins into plugins/dist/.
setup:
    rustup target list --installed | grep -qx {{wasm_target}} || rustup target add {{wasm_target}}
    just _plugins plugins/dist {{default_plugins}}

# Build the test-only plugins (misbehaving, wrong-world) into plugins/dist-test/.
test-plugins:
    rustup target list --installed | grep -qx {{wasm_target}} || rustup target add {{wasm_target}}
    just _plugins plugins/dist-test {{test_plugins}}

_plugins dest +names:
    mkdir -p {{dest}}
    cargo build --release --target {{wasm_target}} {{ prepend("-p tributary-plugin-", names) }}
    for name in {{names}}; do \
        cp "$CARGO_TARGET_DIR/{{wasm_target}}/release/tributary_plugin_${name//-/_}.wasm" "{{dest}}/$name.wasm"; \
    done

# Build the plugins and start the server on the embedded store (local connections may read data/sync-root).
run *args: setup
    mkdir -p data/sync-root
    cargo run -p tributary -- serve --allow-local-root "{{justfile_directory()}}/data/sync-root" {{args}}

# Run the tributary command line (e.g. `just tributary plugin list`), built in the shared target folder.
[positional-arguments]
tributary *args:
    @cargo run -q -p tributary -- "$@"


# Build the plugins and the host binary.
build: setup
    cargo build -p tributary

# Where the test services and emulators are installed (outside the clone, reused).
export TRIBUTARY_TOOLS := env_var_or_default("TRIBUTARY_TOOLS", env_var("HOME") / ".cache/tributary-tools")

# Run every test: unit tests (the plugins' too, natively), the plugin runtime against real components, end-to-end tests of the
# binary on both stores. Installs Redis and the storage emulators; starts a private redis-server
# (unless REDIS_URL is set) and stops it at the end. `cargo test` builds the
# `tributary` binary the end-to-end tests run (host/tests needs it), with the
# features of this one build: a separate `cargo build` would resolve other
# features and compile wasmtime a second time.
test: setup test-plugins
    scripts/install-test-services.sh
    scripts/with-redis.sh cargo test -p tributary-sdk -p tributary -p tributary-e2e {{ prepend("-p tributary-plugin-", default_plugins) }}

# Formatting and lints, as CI would want them.
lint:
    cargo fmt --all -- --check
    cargo clippy -p tributary -p tributary-sdk -p tributary-e2e -p tributary-bench-native --all-targets -- -D warnings
    cargo clippy --target {{wasm_target}} {{ prepend("-p tributary-plugin-", default_plugins + " " + test_plugins) }} -- -D warnings

# Benchmarks against the tools users would pick instead (`just bench --quick`: under 5 minutes).
# Writes bench/results/latest.md and bench/results/throughput.png; see bench/README.md.
bench *args:
    bench/run.sh {{args}}
