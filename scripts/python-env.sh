#!/usr/bin/env bash
# Creates (or reuses) one of the project's Python virtualenvs with pinned tools. Idempotent:
# reinstalls only when the requirements change. Separate venvs because the tools pin different
# versions of the same libraries.
#
#   scripts/python-env.sh            .venv      scripts/requirements.txt (moto, cfn-lint)
#   scripts/python-env.sh package    .venv-sam  scripts/requirements-package.txt (SAM CLI, cargo-lambda, zig)
#   scripts/python-env.sh scan       .venv-scan scripts/requirements-scan.txt (checkov)
#
# Prints the venv path.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
case "${1:-test}" in
  test) venv=${CLAWKEEPER_VENV:-$root/.venv}; req=$root/scripts/requirements.txt ;;
  package) venv=$root/.venv-sam; req=$root/scripts/requirements-package.txt ;;
  scan) venv=$root/.venv-scan; req=$root/scripts/requirements-scan.txt ;;
  *) echo "usage: $0 [test|package|scan]" >&2; exit 2 ;;
esac
stamp=$venv/.requirements.sha256
want=$(sha256sum "$req" | cut -d' ' -f1)

if [[ -x $venv/bin/python && -f $stamp && $(cat "$stamp") == "$want" ]]; then
  echo "$venv"
  exit 0
fi

python3 -m venv "$venv" >&2
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip >&2
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$req" >&2
echo "$want" > "$stamp"
echo "$venv"
