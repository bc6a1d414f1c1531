#!/usr/bin/env bash
# make bench: builds the functions and the Rust peer as deployed (release profile), then runs the
# bench harness, which measures them beside the Python/boto3 peer in the same run and rewrites
# docs/BENCHMARKS.md. BENCH_RUNS sets the repetitions (default 20).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
scripts/python-env.sh >/dev/null
cargo build --release --workspace --bins --exclude clawkeeper-tests
target=${CARGO_TARGET_DIR:-$root/target}
CLAWKEEPER_BIN_DIR=$target/release cargo run --quiet -p clawkeeper-tests --bin bench
