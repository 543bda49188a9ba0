#!/usr/bin/env bash
# Runs the syncfs-epochs guest scenario (issue 4): a daemon built with the
# `test-hooks` feature holds chosen WRITEs for 3 s; 4 request queues, 4 vCPUs.
# Prints the durations; exit status 0 only if every guest and host check passed.
#
# Usage: guest-tests/syncfs-epochs.sh [extra run.sh arguments]
# SYNCFS_MODE=drain (or host) runs the same timeline with `--syncfs MODE`, to
# compare: with the full-drain baseline B also waits for C and the checks fail.
# SYNCFS_DAEMON_ARGS adds daemon arguments (e.g. "--seccomp log").
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/.." && pwd)
TARGET=$REPO/target/hooks
echo "syncfs-epochs: cargo build --release --features test-hooks" >&2
(cd "$REPO" && CARGO_TARGET_DIR=$TARGET cargo build --release --quiet --features test-hooks)
WORK=$HERE/work/syncfs-epochs
rm -rf "$WORK"
mkdir -p "$WORK/share"
EPOCHFSD_BIN=$TARGET/release/epochfsd exec "$HERE/run.sh" syncfs-epochs \
    --queues 4 --smp 4 --shared-dir "$WORK/share" \
    --daemon-args "--test-slow-write-offset 1048576 --test-slow-write-ms 3000 --trace-epochs $WORK/epochs.jsonl --syncfs ${SYNCFS_MODE:-targeted}${SYNCFS_DAEMON_ARGS:+ $SYNCFS_DAEMON_ARGS}" \
    "$@"
