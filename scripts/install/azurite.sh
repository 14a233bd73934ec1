#!/usr/bin/env bash
# Installs Azurite (the Azure Storage emulator) from npm into
# $TRIBUTARY_TOOLS/azurite and exposes its Blob service as
# $TRIBUTARY_TOOLS/bin/azurite-blob. 3.35.x is the newest release that runs on
# node 20 (3.37 needs node 22). Idempotent: an installed 3.35.x is kept.
set -euo pipefail

tools="${TRIBUTARY_TOOLS:-$HOME/.cache/tributary-tools}"
prefix="$tools/azurite"
wrapper="$tools/bin/azurite-blob"
version_range="3.35"
entry="$prefix/node_modules/azurite/dist/src/blob/main.js"

installed_version() {
    node -p "require('$prefix/node_modules/azurite/package.json').version" 2>/dev/null || true
}

command -v node >/dev/null || { echo "azurite: node is required (apt-get install nodejs npm)" >&2; exit 1; }
command -v npm >/dev/null || { echo "azurite: npm is required (apt-get install npm)" >&2; exit 1; }

case "$(installed_version)" in
    "$version_range".*) ;;
    *)
        echo "azurite: installing azurite@$version_range into $prefix"
        mkdir -p "$prefix"
        npm install --prefix "$prefix" --no-audit --no-fund --loglevel=error "azurite@$version_range"
        ;;
esac
[ -f "$entry" ] || { echo "azurite: $entry is missing after the install" >&2; exit 1; }

mkdir -p "$tools/bin"
cat >"$wrapper.tmp" <<EOF
#!/usr/bin/env bash
# Azurite's Blob service (installed by scripts/install/azurite.sh).
exec node "$entry" "\$@"
EOF
chmod +x "$wrapper.tmp"
mv "$wrapper.tmp" "$wrapper"
echo "azurite: $(installed_version) ready as $wrapper"
