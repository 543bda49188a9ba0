#!/usr/bin/env bash
# Host side, while the manyfiles guest runs (started by run.sh in the
# background, stopped when QEMU exits):
#   manyfiles.host-monitor.sh DAEMON_PID RUNDIR
# Appends "SECONDS FDS" to RUNDIR/fd-samples.txt every half second: the
# number of descriptors the daemon has open.
set -u
P=${1:?usage: manyfiles.host-monitor.sh DAEMON_PID RUNDIR}
OUT=${2:?usage: manyfiles.host-monitor.sh DAEMON_PID RUNDIR}/fd-samples.txt
# With --sandbox namespace the started process waits for the daemon it
# forked into its pid namespace: count that one's descriptors.
serving() { local c; c=$(cut -d' ' -f1 "/proc/$P/task/$P/children" 2>/dev/null); echo "${c:-$P}"; }
t0=$(date +%s.%N)
while [ -d "/proc/$P/fd" ]; do
    n=$(ls "/proc/$(serving)/fd" 2>/dev/null | wc -l)
    echo "$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }') $n" >> "$OUT"
    sleep 0.5
done
