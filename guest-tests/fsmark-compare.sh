#!/usr/bin/env bash
# The guest fs_mark rig: one guest boot (QEMU TCG, 4 vCPUs) with one virtio-fs
# device per daemon, each with its own socket and share on the same host
# filesystem:
#   virtiofsd       upstream virtiofsd 1.14, its defaults + --sandbox none, 1 queue
#   epochfsd        epochfsd, its defaults, 1 request queue
#   epochfsd-host   epochfsd --syncfs host, 1 request queue
# The guest (scenarios/fsmark-compare.sh) runs fs_mark (2 threads, N new 4 KiB
# files per thread and loop, L loops) with -S 0 (no sync), -S 1 (fsync before
# each close) and -S 2 (one sync() per loop: a SYNCFS covering every file of the
# loop) on each mount back to back, the mount that goes first rotating, and
# repeats the round R times. Then prints, per sync mode and daemon, the median
# files/s over the rounds with the range, and the ratio to virtiofsd.
#
# Usage: guest-tests/fsmark-compare.sh [--reps R] [--files N] [--loops L]
#            [--out DIR] [--timeout S] [run.sh arguments...]
#   --reps R     rounds (3)
#   --files N    files per thread and loop (400)
#   --loops L    fs_mark loops per run (2)
#   --out DIR    results: DIR/results.txt (default guest-tests/work/fsmark-compare)
# Environment as for run.sh: EPOCHFSD_BIN, VIRTIOFSD_BIN, SKIP_DEPS=1, KERNEL.
# Needs fs_mark on the host (Debian package fsmark); it is copied into the guest
# initramfs through EXTRA_BINS as fio is.
set -uo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
REPS=3 FILES=400 LOOPS=2 OUT=$HERE/work/fsmark-compare TIMEOUT=""
while [ $# -gt 0 ]; do
    case "$1" in
        --reps) REPS=$2; shift 2 ;;
        --files) FILES=$2; shift 2 ;;
        --loops) LOOPS=$2; shift 2 ;;
        --out) OUT=$2; shift 2 ;;
        --timeout) TIMEOUT=$2; shift 2 ;;
        -h|--help) sed -n '2,/^set -uo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) break ;;
    esac
done
for v in REPS FILES LOOPS; do
    [[ ${!v} =~ ^[1-9][0-9]*$ ]] || { echo "fsmark-compare.sh: --${v,,} needs a positive integer" >&2; exit 2; }
done
if ! FSMARK=$(command -v fs_mark); then
    [ "${SKIP_DEPS:-0}" = 1 ] && { echo "fsmark-compare.sh: fs_mark is not installed (apt-get install fsmark)" >&2; exit 1; }
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q fsmark >&2 || exit 1
    FSMARK=$(command -v fs_mark) || exit 1
fi

TAGS=virtiofsd,epochfsd,epochfsd-host
runs=$((3 * 3 * REPS))
# TCG: a run of 2 x FILES x LOOPS files takes up to a minute with fsyncs.
TIMEOUT=${TIMEOUT:-$((runs * 90 + 600))}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
rm -f "$OUT/results.txt"
echo "fsmark-compare.sh: $runs fs_mark runs (3 sync modes x 3 daemons x $REPS rounds); results in $OUT" >&2

KARGS="FSM_TAGS=$TAGS FSM_REPS=$REPS FSM_FILES=$FILES FSM_LOOPS=$LOOPS"
EXTRA_BINS="$FSMARK${EXTRA_BINS:+ $EXTRA_BINS}" FSM_OUT=$OUT FSM_TAGS=$TAGS \
    "$HERE/run.sh" fsmark-compare --smp 4 --timeout "$TIMEOUT" \
    --daemon virtiofsd --tag virtiofsd --queues 1 \
    --extra-daemon epochfsd:epochfsd:1 --extra-daemon "epochfsd-host:epochfsd:1:--syncfs host" \
    --kernel-args "$KARGS" "$@"
status=$?
if [ -s "$OUT/results.txt" ]; then
    python3 - "$OUT/results.txt" <<'PY'
import statistics, sys
rows = {}
for line in open(sys.argv[1]):
    tag, mode, rep, rate = line.split()
    rows.setdefault((mode, tag), []).append(float(rate))
tags = ["virtiofsd", "epochfsd", "epochfsd-host"]
print("| fs_mark | " + " | ".join(f"{t} files/s" for t in tags) + " | epochfsd vs virtiofsd | epochfsd-host vs virtiofsd |")
print("| --- |" + " ---: |" * (len(tags) + 2))
for mode in sorted({m for m, _ in rows}):
    med = {t: statistics.median(rows[(mode, t)]) for t in tags if (mode, t) in rows}
    cells = []
    for t in tags:
        v = rows.get((mode, t))
        cells.append(f"{med[t]:.0f} ({min(v):.0f}..{max(v):.0f})" if v else "-")
    ratios = [f"{med[t] / med['virtiofsd']:.2f}x" if t in med and 'virtiofsd' in med else "-" for t in tags[1:]]
    print(f"| -S {mode} | " + " | ".join(cells + ratios) + " |")
PY
fi
exit $status
