#!/bin/sh
# Model-checks the epoch tracker with loom (src/epoch/loom_tests.rs).
#
# Builds with `--cfg loom` in a target directory of its own, so that the
# normal build's artifacts stay valid. LOOM_MAX_PREEMPTIONS overrides the
# per-model preemption bounds.
set -eu

cd "$(dirname "$0")/.."

export RUSTFLAGS="${RUSTFLAGS:-} --cfg loom"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-target/loom}"

exec cargo test --release --lib epoch::loom -- --test-threads=1 "$@"
