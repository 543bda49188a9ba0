#!/usr/bin/env bash
# The host rig's 4 KiB READ and WRITE rows on slow storage (issue 10): the
# share is a slowfs mount (tests/slowfs/) passing through to a directory,
# once with no delay (a FUSE filesystem's own cost) and once with 1 ms on
# every operation (slow storage). epochfsd with its defaults against
# upstream virtiofsd with its default (no thread pool) and with
# --thread-pool-size 8, depths 1 and 4 on one queue, plus epochfsd on 4
# queues. Also an A/B of this checkout against an older epochfsd binary on
# the share of target/bench (plain disk) when BASE_EPOCHFSD is set.
#
# Usage: scripts/bench-slow-storage.sh [--secs S] [--reps N]
# Output: target/bench/slow/*.jsonl (one JSON line per row, as the host rig
# prints them) and a summary on stdout.
set -euo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
SECS=2 REPS=3
while [ $# -gt 0 ]; do
    case "$1" in
        --secs) SECS=$2; shift 2 ;;
        --reps) REPS=$2; shift 2 ;;
        *) echo "bench-slow-storage.sh: unknown argument $1" >&2; exit 2 ;;
    esac
done
cd "$REPO"
OUT=$REPO/target/bench/slow
mkdir -p "$OUT"
VIRTIOFSD_BIN=${VIRTIOFSD_BIN:-$("$REPO/scripts/install-virtiofsd.sh")}
"$REPO/tests/slowfs/install-deps.sh" >&2
cargo build --release --quiet
cargo bench --quiet --no-run --bench host_rig 2>/dev/null

rig() { # OUTFILE DIR ARGS...
    local out=$1 dir=$2
    shift 2
    cargo bench --quiet --bench host_rig -- --dir "$dir" --secs "$SECS" --reps "$REPS" \
        --only 4k "$@" >> "$out"
}

for delay in 0 1000; do
    backing=$OUT/backing-$delay mnt=$OUT/mnt-$delay
    mountpoint -q "$mnt" 2>/dev/null && tests/slowfs/umount.sh "$mnt"
    rm -rf "$backing"
    mkdir -p "$backing" "$mnt"
    tests/slowfs/mount.sh "$backing" "$mnt" --delay-us "$delay" -q
    trap 'tests/slowfs/umount.sh "$mnt" || true' EXIT
    out=$OUT/delay-$delay.jsonl
    : > "$out"
    echo "slowfs delay ${delay} us: epochfsd vs virtiofsd (default, no pool)" >&2
    rig "$out" "$mnt" --virtiofsd "$VIRTIOFSD_BIN" --configs 1x1,1x4,4x1
    echo "slowfs delay ${delay} us: epochfsd vs virtiofsd --thread-pool-size 8" >&2
    rig "$out.pool8" "$mnt" --virtiofsd "$VIRTIOFSD_BIN" --daemons virtiofsd \
        --virtiofsd-args "--sandbox none --thread-pool-size 8" --configs 1x1,1x4
    tests/slowfs/umount.sh "$mnt"
    trap - EXIT
done

if [ -n "${BASE_EPOCHFSD:-}" ]; then
    # The older binary runs as the rig's "virtiofsd" (one queue, its own
    # defaults): the ratio column is then this checkout over the base.
    echo "A/B on plain disk: this checkout vs $BASE_EPOCHFSD" >&2
    : > "$OUT/ab.jsonl"
    cargo bench --quiet --bench host_rig -- --dir "$REPO/target/bench/share-root" \
        --secs "$SECS" --reps "$REPS" --virtiofsd "$BASE_EPOCHFSD" --virtiofsd-args "" \
        --configs 1x1,1x4 >> "$OUT/ab.jsonl"
fi
echo "results in $OUT" >&2
