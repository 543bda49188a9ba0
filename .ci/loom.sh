#!/bin/sh
# Model-checks the epoch tracker with loom (src/epoch/loom_tests.rs).
#
# Builds with `--cfg loom` in a target directory of its own, so the normal
# build stays valid, then runs every model in a process of its own: after a
# failed model loom can leave the next one hanging, so one process per model
# (with a time limit) keeps a failure a failure. LOOM_MAX_PREEMPTIONS
# overrides the per-model preemption bounds; LOOM_TIMEOUT (seconds, default
# 300) limits each model.
set -eu

cd "$(dirname "$0")/.."

export RUSTFLAGS="${RUSTFLAGS:-} --cfg loom"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-target/loom}"
timeout_s="${LOOM_TIMEOUT:-300}"

run() {
    cargo test --release --lib "$@"
}

run --no-run
models=$(run epoch::loom -- --list --format=terse 2>/dev/null | sed -n 's/: test$//p')
[ -n "$models" ] || { echo "loom.sh: no loom models found" >&2; exit 1; }

failed=0
for model in $models; do
    if ! timeout "$timeout_s" cargo test -q --release --lib -- --exact "$model"; then
        echo "loom.sh: FAILED $model" >&2
        failed=1
    fi
done
exit "$failed"
