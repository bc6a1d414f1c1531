#!/usr/bin/env bash
# Creates (or reuses) the project's Python virtualenv in .venv with the pinned tools of
# scripts/requirements.txt. Idempotent: reinstalls only when the requirements change.
#
#   scripts/python-env.sh        prints the venv path
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
venv=${CLAWKEEPER_VENV:-$root/.venv}
req=$root/scripts/requirements.txt
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
