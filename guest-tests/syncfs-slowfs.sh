#!/usr/bin/env bash
# The syncfs-epochs guest timeline (scenarios/syncfs-epochs.sh) on slow storage
# instead of the test hook (issue 10): a RELEASE build without test hooks, with
# the default daemon flags, shares a slowfs mount (tests/slowfs/) that holds
# every WRITE to the files a and c for 3 s in the host filesystem itself.
#   t=0.0  A writes a (held 3 s)   t=0.5  B runs sync -f   t=1.0  C writes c (held 3 s)
# Expected: B about 2.5 s (it waits for A only), C about 3.0 s (its own hold;
# 5.0 s when C's WRITE waits behind A's stuck in the host).
# Runs with 1 and with 4 request queues (4 vCPUs each; the scenario pins A, B
# and C to CPUs 0, 1, 2). Prints B's and C's times per run; exit status 0 only
# if every guest and host check of every run passed.
#
# Usage: guest-tests/syncfs-slowfs.sh [--queues "1 4"] [extra run.sh arguments]
# The daemon's only non-default flag is --trace-epochs (the host-side check of
# scenarios/syncfs-epochs.host.sh reads it).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/.." && pwd)
QUEUE_COUNTS="1 4"
if [ "${1:-}" = "--queues" ]; then
    QUEUE_COUNTS=$2
    shift 2
fi
HOLD_MS=3000

echo "syncfs-slowfs: cargo build --release (no test hooks)" >&2
(cd "$REPO" && cargo build --release --quiet)
"$REPO/tests/slowfs/install-deps.sh"

summary=()
status=0
for q in $QUEUE_COUNTS; do
    WORK=$HERE/work/syncfs-slowfs-q$q
    if mountpoint -q "$WORK/share" 2>/dev/null; then
        "$REPO/tests/slowfs/umount.sh" "$WORK/share"
    fi
    rm -rf "$WORK"
    mkdir -p "$WORK/backing" "$WORK/share"
    # The files the timeline writes, made here so that no guest WRITE to them
    # is held before the timeline starts (SYNCFS_PREPARED=1).
    head -c 4096 /dev/zero >"$WORK/backing/a"
    head -c 4096 /dev/zero >"$WORK/backing/c"
    SLOWFS_LOG=$WORK/slowfs.log "$REPO/tests/slowfs/mount.sh" "$WORK/backing" "$WORK/share" \
        --hold-write "a:$HOLD_MS" --hold-write "c:$HOLD_MS"
    set +e
    EPOCHFSD_BIN=$REPO/target/release/epochfsd "$HERE/run.sh" syncfs-epochs \
        --queues "$q" --smp 4 --shared-dir "$WORK/share" \
        --daemon-args "--trace-epochs $WORK/epochs.jsonl" \
        --kernel-args "SYNCFS_PREPARED=1" \
        "$@" 2>&1 | tee "$WORK/run.log"
    rc=${PIPESTATUS[0]}
    set -e
    "$REPO/tests/slowfs/umount.sh" "$WORK/share"
    echo "---- slowfs log (queues=$q) ----"
    cat "$WORK/slowfs.log"
    # "INFO: A ended at .. s, B (syncfs) ran .. .. .. s = B s, C ran .. .. .. s = C s"
    line=$(grep -a 'INFO: A ended at' "$WORK/run.log" | tail -n 1 | tr -d '\r' || true)
    b=$(sed -n 's/.*B (syncfs) ran .* = \([0-9.]*\) s, C ran.*/\1/p' <<<"$line")
    c=$(sed -n 's/.*, C ran .* = \([0-9.]*\) s$/\1/p' <<<"$line")
    summary+=("queues=$q: B ${b:-?} s, C ${c:-?} s (expected about 2.5 and 3.0), run.sh exit $rc")
    [ "$rc" = 0 ] || status=1
done
echo
echo "syncfs-slowfs (release, no hooks, default flags, slowfs holds WRITEs to a and c for ${HOLD_MS} ms):"
printf '  %s\n' "${summary[@]}"
exit $status
