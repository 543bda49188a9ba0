#!/usr/bin/env bash
# The power-cut simulation on a real 6.12 guest (issue 14). For each mode:
#   1. boots the crash-sim workload (scenarios/crash-sim.sh) on a fresh share
#      with `--crash-sim MODE --control-socket DIR/control.sock --writeback`; when the guest prints CRASH-MARKER the host sends `crash`
#      (scenarios/crash-sim.host-monitor.sh), the daemon restores the share and
#      exits 0, QEMU is stopped;
#   2. boots scenarios/crash-sim-check.sh on the same share with a daemon
#      without the mode, which checks the tree against the model of MODE.
# The workload also commits 20 SQLite transactions with synchronous=FULL and
# 20 with synchronous=OFF (WAL mode, Debian's sqlite3 copied into the guest):
# FULL must keep every one in every mode; what OFF keeps is shown.
# Modes: drop-all, keep-metadata and random:1..SEEDS (SEEDS=20 by default;
# each mode costs two TCG boots, about 35 s on one core).
#
# Usage: guest-tests/crash-sim.sh [MODE...]
# Exit status 0 only if every boot of every mode passed.
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/.." && pwd)
SEEDS=${SEEDS:-20}
if [ $# -gt 0 ]; then
    MODES=("$@")
else
    MODES=(drop-all keep-metadata)
    for s in $(seq 1 "$SEEDS"); do MODES+=("random:$s"); done
fi
echo "crash-sim: cargo build --release" >&2
(cd "$REPO" && cargo build --release --quiet) || exit 1
WORK=$HERE/work/crash-sim
mkdir -p "$WORK"
gcc -static -O2 -Wall -o "$WORK/fsync" "$HERE/helpers/fsync.c" || exit 1
EXTRA_BINS="$WORK/fsync"
# Debian's sqlite3 for the SQLite part, copied into the guest with its
# libraries; installed here if missing, so the part is never skipped.
if ! command -v sqlite3 >/dev/null; then
    SUDO=
    [ "$(id -u)" -eq 0 ] || SUDO=sudo
    $SUDO apt-get install -y -qq --no-install-recommends sqlite3 >/dev/null ||
        { echo "crash-sim: cannot install sqlite3 (apt-get install sqlite3)" >&2; exit 1; }
fi
EXTRA_BINS+=" $(command -v sqlite3)"
export EPOCHFSD_BIN=$REPO/target/release/epochfsd EXTRA_BINS

failed=0
for mode in "${MODES[@]}"; do
    dir=$WORK/${mode//:/-}
    rm -rf "$dir"
    mkdir -p "$dir/share"
    echo "crash-sim: $mode: workload boot" >&2
    if ! "$HERE/run.sh" crash-sim --shared-dir "$dir/share" --timeout 900 \
        --daemon-args "--crash-sim $mode --control-socket $dir/control.sock --writeback"; then
        echo "FAIL: crash-sim-$mode-workload: the workload boot failed"
        failed=1
        continue
    fi
    reply=$(cat "$dir/crash-reply" 2>/dev/null)
    echo "INFO: $mode: crash reply $reply"
    case "$reply" in
        *'"crashed":true'*) echo "PASS: crash-sim-$mode-crash-replied" ;;
        *) echo "FAIL: crash-sim-$mode-crash-replied: reply '$reply'"; failed=1; continue ;;
    esac
    echo "crash-sim: $mode: check boot" >&2
    if ! "$HERE/run.sh" crash-sim-check --shared-dir "$dir/share" --timeout 900 \
        --kernel-args "crashmode=$mode"; then
        failed=1
    fi
done
[ "$failed" = 0 ] && echo "crash-sim: all modes passed" || echo "crash-sim: FAILED"
exit "$failed"
