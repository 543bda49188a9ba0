#!/usr/bin/env bash
# Host side while the crash-sim workload runs: once the guest printed
# CRASH-MARKER, sends `crash` to the daemon's control socket (the path comes
# from the daemon's command line) and keeps the reply next to the socket, in
# crash-reply.
#   crash-sim.host-monitor.sh DAEMON_PID RUNDIR
set -uo pipefail
PID=${1:?usage: crash-sim.host-monitor.sh DAEMON_PID RUNDIR}
RUNDIR=${2:?}
SOCK=$(tr '\0' '\n' < "/proc/$PID/cmdline" | grep -A1 -x -- --control-socket | tail -1)
while ! grep -q CRASH-MARKER "$RUNDIR/console.log" 2>/dev/null; do
    kill -0 "$PID" 2>/dev/null || exit 0
    sleep 0.2
done
python3 - "$SOCK" > "$(dirname "$SOCK")/crash-reply" 2>&1 <<'PY'
import socket, sys
with socket.socket(socket.AF_UNIX) as s:
    s.connect(sys.argv[1])
    s.sendall(b"crash\n")
    print(s.makefile().readline().strip())
PY
