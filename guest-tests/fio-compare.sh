#!/usr/bin/env bash
# The guest fio rig: one guest boot (QEMU TCG, 4 vCPUs) with three virtio-fs
# devices, one per daemon configuration, each daemon with its own socket and share:
#   virtiofsd    upstream virtiofsd 1.14, its defaults + --sandbox none, 1 request queue
#   epochfsd-q1  epochfsd, its defaults + --num-request-queues 1
#   epochfsd-q4  epochfsd, its defaults + --num-request-queues 4
# The guest (scenarios/fio-compare.sh) runs each fio job on the three mounts back
# to back, rotating which goes first, and repeats the round R times, so boot-to-boot
# and host-load swings under TCG hit all three alike.
#
# Usage: guest-tests/fio-compare.sh [--reps R] [--runtime S] [--size SIZE]
#            [--jobs a,b,...] [--out DIR] [--timeout S] [run.sh arguments...]
#   --reps R      rounds over all jobs (3)
#   --runtime S   timed seconds per fio run, after a 1 s ramp (5)
#   --size SIZE   file size per fio job (32M)
#   --jobs LIST   jobs to run (default all eight: {write,read,randread,randwrite}-j{1,4})
#   --out DIR     results: DIR/TAG/JOB.repN.json (default guest-tests/work/fio-compare)
#   --timeout S   whole guest run (default from the number of runs)
# Environment as for run.sh: EPOCHFSD_BIN, VIRTIOFSD_BIN, SKIP_DEPS=1, KERNEL.
# Output: run.sh's PASS/FAIL lines and summary (daemon logs in its run directory);
# exit status 0 only if every run produced its result and every daemon exited 0.
set -uo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
REPS=3 RUNTIME=5 SIZE=32M JOBS="" OUT=$HERE/work/fio-compare TIMEOUT=""
while [ $# -gt 0 ]; do
    case "$1" in
        --reps) REPS=$2; shift 2 ;;
        --runtime) RUNTIME=$2; shift 2 ;;
        --size) SIZE=$2; shift 2 ;;
        --jobs) JOBS=$2; shift 2 ;;
        --out) OUT=$2; shift 2 ;;
        --timeout) TIMEOUT=$2; shift 2 ;;
        -h|--help) sed -n '2,/^set -uo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) break ;;
    esac
done
for v in REPS RUNTIME; do
    [[ ${!v} =~ ^[1-9][0-9]*$ ]] || { echo "fio-compare.sh: --${v,,} needs a positive integer" >&2; exit 2; }
done
[[ $SIZE =~ ^[0-9]+[kKmMgG]?$ ]] || { echo "fio-compare.sh: --size like 32M" >&2; exit 2; }
[[ $JOBS =~ ^([a-z]+-j[14],?)*$ ]] || { echo "fio-compare.sh: --jobs like write-j1,randread-j4" >&2; exit 2; }
FIO=$(command -v fio) || { echo "fio-compare.sh: fio is not installed on the host (apt-get install fio)" >&2; exit 1; }

TAGS=virtiofsd,epochfsd-q1,epochfsd-q4
njobs=8
[ -z "$JOBS" ] || njobs=$(tr ',' '\n' <<<"$JOBS" | grep -c .)
runs=$((njobs * 3 * REPS))
# Each run: ramp + runtime + fio start-up under TCG; plus boot and layout.
TIMEOUT=${TIMEOUT:-$((runs * (RUNTIME + 6) + 600))}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
echo "fio-compare.sh: $runs fio runs ($njobs jobs x 3 daemons x $REPS reps, ${RUNTIME}s each); results in $OUT" >&2

KARGS="FIO_TAGS=$TAGS FIO_REPS=$REPS FIO_RUNTIME=$RUNTIME FIO_SIZE=$SIZE${JOBS:+ FIO_JOBS=$JOBS}"
EXTRA_BINS="$FIO${EXTRA_BINS:+ $EXTRA_BINS}" FIO_COMPARE_OUT=$OUT FIO_COMPARE_TAGS=$TAGS \
    FIO_COMPARE_EXPECT=$((njobs * REPS)) \
    exec "$HERE/run.sh" fio-compare --smp 4 --timeout "$TIMEOUT" \
    --daemon virtiofsd --tag virtiofsd --queues 1 \
    --extra-daemon epochfsd-q1:epochfsd:1 --extra-daemon epochfsd-q4:epochfsd:4 \
    --kernel-args "$KARGS" "$@"
