#!/usr/bin/env bash
# make bench: builds the functions and the Rust peer as deployed (release profile), then
#  1. the bench harness (tests/src/bin/bench.rs): cold start, footprint, per-event and per-run cost of
#     every function beside a minimal Rust Lambda and a Python/boto3 peer, in one run, and the sizes of
#     the arm64 functions `make sam-build` packages; it rewrites docs/BENCHMARKS.md;
#  2. the snapshot benchmark (tests/src/bin/bench_snapshot.rs): the snapshot function (one core) beside
#     `openclaw backup create`, an `aws s3 sync` peer and a one-core `tar | gzip -1` floor on a realistic
#     state, the restore of that snapshot beside `tar -xzf`, the function's time profile, and a large
#     state (BENCH_LARGE_GB, default 5; 0 skips it) snapshotted under a live SQLite writer against
#     Lambda's 900 s limit, appended; the states are generated once and cached under target/;
#  3. criterion benchmarks of the pure functions (crates/openclaw/benches/pure.rs), appended;
#  4. the fleet benchmark (tests/src/bin/bench_fleet.rs): the reconciler over 10, 100 and 1,000
#     registered gateways and a burst of 1,000 task-stopped events through task-events, appended;
#     it also writes docs/fleet-bench.json, which docs/COST.md's fleet table is priced from.
# BENCH_RUNS sets the repetitions of (1) (default 20); BENCH_LARGE_GB and BENCH_LARGE_RESTORE=0 trim (2).
# Never a timed assertion: numbers only.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
scripts/python-env.sh >/dev/null
scripts/install-openclaw.sh >/dev/null
cargo build --release --workspace --bins --exclude clawkeeper-tests
# The functions as deployed (arm64, `sam build`): their sizes go beside the local ones.
make --no-print-directory sam-build >/dev/null
target=${CARGO_TARGET_DIR:-$root/target}
doc=docs/BENCHMARKS.md
CLAWKEEPER_BIN_DIR=$target/release CLAWKEEPER_DEPLOYED_DIR=$root/.aws-sam/build \
  cargo run --quiet -p clawkeeper-tests --bin bench

# The snapshot benchmark starts from a state dir a real gateway wrote (cached by the interop test).
if [[ ! -d $target/clawkeeper-openclaw-state ]]; then
  cargo test -p clawkeeper-tests --test snapshot_openclaw archives_of_a_real_gateway_state >/dev/null
fi
# It pins the functions and floors with taskset (util-linux) and measures with /usr/bin/time.
for tool in taskset /usr/bin/time; do
  command -v "$tool" >/dev/null || { echo "bench: $tool is needed by bench_snapshot" >&2; exit 1; }
done
CLAWKEEPER_BIN_DIR=$target/release BENCH_LARGE_GB=${BENCH_LARGE_GB:-5} \
  cargo run --quiet -p clawkeeper-tests --bin bench_snapshot >> "$doc"

{
  printf '\n## Pure functions (criterion)\n\n'
  printf 'The policy and parsers every event goes through (`crates/openclaw/benches/pure.rs`); estimates are\n'
  printf 'criterion'"'"'s [low mean high] of the mean time per call.\n\n```\n'
  cargo bench --quiet -p clawkeeper-openclaw --bench pure 2>/dev/null | grep -E '^[a-z]|time:'
  printf '```\n'
} >> "$doc"
CLAWKEEPER_BIN_DIR=$target/release cargo run --quiet -p clawkeeper-tests --bin bench_fleet >> "$doc"
echo "bench: wrote $doc" >&2

# docs/COST.md reads the run times above: regenerate it from this run.
"$root/.venv/bin/python" scripts/cost.py --write
echo "bench: wrote docs/COST.md" >&2
