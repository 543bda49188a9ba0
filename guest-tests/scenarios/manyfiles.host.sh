#!/usr/bin/env bash
# Host-side checks after scenarios/manyfiles.sh ran in the guest:
#   RUNDIR=... manyfiles.host.sh SHAREDIR
# Reports the daemon's open descriptor count sampled during the run
# (RUNDIR/fd-samples.txt from manyfiles.host-monitor.sh). In mode ok the
# count must stay below MANYFILES_FD_BOUND (default 256) — true with file
# handles, false with one O_PATH descriptor per inode; the share must be
# left without the test files.
set -uo pipefail
S=${1:?usage: manyfiles.host.sh SHAREDIR}
MODE=$(cat "$S/.manyfiles-expect" 2>/dev/null || echo ok)
BOUND=${MANYFILES_FD_BOUND:-256}
SAMPLES=${RUNDIR:-}/fd-samples.txt

pass() { echo "PASS: host-$1"; }
fail() { echo "FAIL: host-$1: $2"; }

if [ ! -s "$SAMPLES" ]; then
    fail fd-samples "no samples in '$SAMPLES' (run.sh exports RUNDIR and starts manyfiles.host-monitor.sh)"
    exit 0
fi
read -r n max last < <(awk '{ if ($2 > m) m = $2; l = $2 } END { print NR, m, l }' "$SAMPLES")
first=$(head -n 1 "$SAMPLES" | cut -d' ' -f2)
echo "INFO: daemon open fds: first $first, max $max, last $last ($n samples every 0.5 s)"
if [ "$MODE" = ok ]; then
    if [ "$max" -le "$BOUND" ]; then
        pass "fds-bounded (max $max <= $BOUND)"
    else
        fail fds-bounded "max $max > $BOUND"
    fi
    left=$(find "$S/many" -mindepth 1 2>/dev/null | wc -l)
    if [ "$left" = 0 ]; then pass no-files-left; else fail no-files-left "$left entries left under many/"; fi
fi
