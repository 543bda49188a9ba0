#!/usr/bin/env bash
# Boots a Linux guest under QEMU (TCG) with an epochfsd-backed virtio-fs share and
# runs one guest scenario against it.
#
# Usage: guest-tests/run.sh SCENARIO [--queues N] [--smp N] [--mem MiB]
#            [--daemon-args "..."] [--timeout SECS] [--shared-dir DIR] [--no-daemon]
#
#   SCENARIO       guest-tests/scenarios/SCENARIO.sh, run in the guest as
#                  `/scenarios/SCENARIO.sh /mnt`; optional host-side hooks:
#                  SCENARIO.host-setup.sh SHAREDIR (before boot),
#                  SCENARIO.host-monitor.sh DAEMON_PID RUNDIR (in the background
#                  while the guest runs, stopped when QEMU exits) and
#                  RUNDIR=... SCENARIO.host.sh SHAREDIR (after the guest powered off).
#   --queues N     epochfsd --num-request-queues and QEMU num-request-queues (1)
#   --smp N        guest vCPUs (1)
#   --mem MiB      guest memory, a shared memfd backend (1024)
#   --daemon-args  extra epochfsd arguments, e.g. "--cache never --log-level debug"
#   --timeout S    whole guest run, from QEMU start (600)
#   --shared-dir D share D (created if missing, not emptied) instead of a fresh
#                  guest-tests/work/runs/SCENARIO-qN-smpM-DATE-XXXX/share
#   --no-daemon    rig self-test: boot without a virtio-fs device or daemon
#   --daemon KIND  epochfsd (default) or virtiofsd: upstream virtiofsd 1.14 from
#                  scripts/install-virtiofsd.sh (or VIRTIOFSD_BIN), for side-by-side
#                  runs; it has one request queue only, so --queues must be 1
#
# Environment: EPOCHFSD_BIN (use this binary, skip cargo build), VIRTIOFSD_BIN, KERNEL (default the
# newest /boot/vmlinuz-6.12*), EXTRA_BINS (see build-initramfs.sh), QEMU_EXTRA
# (extra QEMU arguments), SKIP_DEPS=1 (do not run install-deps.sh).
#
# Output: the guest console goes to RUNDIR/console.log, the daemon's output to
# RUNDIR/daemon.log; PASS/FAIL lines are echoed as they come; the last line is
#   guest SCENARIO (DAEMON, queues=N): P passed, F failed
# Exit status: 0 only if no FAIL, at least one PASS, the scenario printed
# SCENARIO-DONE, no timeout, and the daemon exited 0 by itself after QEMU quit.
set -uo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/.." && pwd)

usage() { sed -n '2,/^set -uo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 2; }

[ $# -ge 1 ] || usage
SCENARIO=$1; shift
case "$SCENARIO" in -h|--help) usage ;; esac
QUEUES=1 SMP=1 MEM=1024 DAEMON_ARGS="" TIMEOUT=600 SHARED_DIR="" NO_DAEMON=0 DAEMON_KIND=epochfsd
while [ $# -gt 0 ]; do
    case "$1" in
        --queues) QUEUES=$2; shift 2 ;;
        --smp) SMP=$2; shift 2 ;;
        --mem) MEM=$2; shift 2 ;;
        --daemon-args) DAEMON_ARGS=$2; shift 2 ;;
        --timeout) TIMEOUT=$2; shift 2 ;;
        --shared-dir) SHARED_DIR=$2; shift 2 ;;
        --no-daemon) NO_DAEMON=1; shift ;;
        --daemon) DAEMON_KIND=$2; shift 2 ;;
        -h|--help) usage ;;
        *) echo "run.sh: unknown argument: $1" >&2; usage ;;
    esac
done
for v in QUEUES SMP MEM TIMEOUT; do
    [[ ${!v} =~ ^[1-9][0-9]*$ ]] || { echo "run.sh: --${v,,} needs a positive integer" >&2; exit 2; }
done
case "$DAEMON_KIND" in
    epochfsd) ;;
    virtiofsd) [ "$QUEUES" = 1 ] || { echo "run.sh: virtiofsd serves one request queue; use --queues 1" >&2; exit 2; } ;;
    *) echo "run.sh: --daemon must be epochfsd or virtiofsd" >&2; exit 2 ;;
esac
GUEST_SCRIPT=$HERE/scenarios/$SCENARIO.sh
[ -f "$GUEST_SCRIPT" ] || { echo "run.sh: no scenario $GUEST_SCRIPT" >&2; exit 2; }

log() { echo "run.sh: $*" >&2; }

npass=0 nfail=0
declare -a fail_lines=()
# Host-side results use the same PASS/FAIL format and count in the summary.
host_pass() { echo "PASS: $1"; npass=$((npass + 1)); }
host_fail() { echo "FAIL: $1: $2"; nfail=$((nfail + 1)); fail_lines+=("FAIL: $1: $2"); }
summary() {
    echo "guest $SCENARIO ($DAEMON_KIND, queues=$QUEUES): $npass passed, $nfail failed"
}
# Setup failures still end with a FAIL line and the summary line.
setup_fail() { host_fail "$1" "$2"; summary; exit 1; }

# ---- prerequisites ------------------------------------------------------------------
t_start=$(date +%s.%N)
if [ "${SKIP_DEPS:-0}" != 1 ]; then
    "$HERE/install-deps.sh" || setup_fail install-deps "guest-tests/install-deps.sh failed"
fi
KERNEL=${KERNEL:-$(ls -v /boot/vmlinuz-6.12* 2>/dev/null | tail -n 1)}
[ -r "$KERNEL" ] || setup_fail kernel "no readable kernel (/boot/vmlinuz-6.12*); set KERNEL="

if [ "$NO_DAEMON" = 0 ]; then
    if [ "$DAEMON_KIND" = virtiofsd ]; then
        DAEMON=${VIRTIOFSD_BIN:-$("$REPO/scripts/install-virtiofsd.sh")} || setup_fail build "scripts/install-virtiofsd.sh failed"
    elif [ -n "${EPOCHFSD_BIN:-}" ]; then
        DAEMON=$EPOCHFSD_BIN
    else
        log "cargo build --release"
        (cd "$REPO" && cargo build --release --quiet) || setup_fail build "cargo build --release failed"
        DAEMON=$REPO/target/release/epochfsd
    fi
    [ -x "$DAEMON" ] || setup_fail build "no daemon binary at $DAEMON"
fi

INITRD=$("$HERE/build-initramfs.sh") || setup_fail initramfs "guest-tests/build-initramfs.sh failed"

# ---- run directory ------------------------------------------------------------------
# One directory per run (runs may go on in parallel); runs/latest points at the
# newest. Older finished runs are pruned, keeping the newest $KEEP_RUNS (default 6),
# since each smoke run leaves a 256 MiB file behind.
RUNS=$HERE/work/runs
mkdir -p "$RUNS"
# shellcheck disable=SC2010  # run directory names have no spaces or newlines
for old in $(ls -1dt "$RUNS"/*/ 2>/dev/null | grep -v '/latest/$' | tail -n +"$(( ${KEEP_RUNS:-6} + 1 ))"); do
    old=${old%/}
    opid=$(cat "$old/run.pid" 2>/dev/null)
    if [ -n "$opid" ] && kill -0 "$opid" 2>/dev/null; then continue; fi   # still running
    # Recently active (also covers runs without run.pid): leave alone.
    [ -n "$(find "$old" -maxdepth 1 -newermt '-15 minutes' -print -quit 2>/dev/null)" ] && continue
    rm -rf "$old"
done
RUNDIR=$(mktemp -d "$RUNS/$SCENARIO-q$QUEUES-smp$SMP-$(date +%Y%m%d-%H%M%S)-XXXX")
echo $$ > "$RUNDIR/run.pid"
if [ -n "$SHARED_DIR" ]; then
    mkdir -p "$SHARED_DIR"
    SHARE=$(cd "$SHARED_DIR" && pwd)
else
    SHARE=$RUNDIR/share
    mkdir -p "$SHARE"
fi
SOCK=$RUNDIR/vhost-fs.sock
if [ ${#SOCK} -ge 100 ]; then   # sun_path is 108 bytes
    SOCKDIR=$(mktemp -d /tmp/epochfsd-guest.XXXXXX)
    SOCK=$SOCKDIR/vhost-fs.sock
fi
CONSOLE=$RUNDIR/console.log
DAEMON_LOG=$RUNDIR/daemon.log
ln -sfn "$(basename "$RUNDIR")" "$RUNS/latest"

QEMU_PID="" DAEMON_PID="" TAIL_PID="" MONITOR_PID=""

# On a timeout, before anything is killed: what the daemon and QEMU are doing, so a
# hang can be told apart from a slow guest. Threads with their state and wait
# channel, kernel stacks (root only), user stacks (when gdb is installed), the
# daemon's descriptor count and the free space where the run writes.
dump_hang_state() {
    local pid name t
    echo "  hang| console.log: $(wc -c <"$CONSOLE") bytes; free space: $(df -h --output=avail "$RUNDIR" | tail -1 | tr -d ' ')"
    for pid in $DAEMON_PID $QEMU_PID; do
        [ -d "/proc/$pid" ] || continue
        name=$(cat "/proc/$pid/comm" 2>/dev/null)
        echo "  hang| $name (pid $pid): $(find "/proc/$pid/fd" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l) open fds"
        for t in /proc/"$pid"/task/*; do
            echo "  hang|   thread $(basename "$t") $(cat "$t/comm" 2>/dev/null): state $(awk '{print $3}' "$t/stat" 2>/dev/null), wchan $(cat "$t/wchan" 2>/dev/null)"
            [ -r "$t/stack" ] && sed 's/^/  hang|     /' "$t/stack" 2>/dev/null | head -8
        done
        if command -v gdb >/dev/null; then
            timeout 60 gdb -batch -nx "/proc/$pid/exe" -p "$pid" -ex "thread apply all bt 12" 2>/dev/null |
                grep -E '^(Thread|#)' | sed 's/^/  hang|   /' | head -150
        fi
    done
}
cleanup() {
    local p
    for p in $TAIL_PID $QEMU_PID $MONITOR_PID; do
        kill "$p" 2>/dev/null
    done
    if [ -n "$DAEMON_PID" ] && kill -0 "$DAEMON_PID" 2>/dev/null; then
        kill -TERM "$DAEMON_PID" 2>/dev/null
        for _ in 1 2 3 4 5 6 7 8 9 10; do kill -0 "$DAEMON_PID" 2>/dev/null || break; sleep 0.5; done
        kill -KILL "$DAEMON_PID" 2>/dev/null
    fi
    [ -n "${SOCKDIR:-}" ] && rm -rf "$SOCKDIR"
    rm -f "$SOCK"
}
trap cleanup EXIT
trap 'log "interrupted"; exit 130' INT TERM HUP

if [ -x "$HERE/scenarios/$SCENARIO.host-setup.sh" ]; then
    "$HERE/scenarios/$SCENARIO.host-setup.sh" "$SHARE" || setup_fail host-setup "$SCENARIO.host-setup.sh failed"
fi

# ---- daemon -------------------------------------------------------------------------
if [ "$NO_DAEMON" = 0 ]; then
    # shellcheck disable=SC2086  # DAEMON_ARGS is split on purpose
    if [ "$DAEMON_KIND" = virtiofsd ]; then
        # shellcheck disable=SC2086
        set -- "$DAEMON" --socket-path "$SOCK" --shared-dir "$SHARE" --sandbox none $DAEMON_ARGS
    else
        # shellcheck disable=SC2086
        set -- "$DAEMON" --socket-path "$SOCK" --shared-dir "$SHARE" --num-request-queues "$QUEUES" $DAEMON_ARGS
    fi
    log "daemon: $*"
    echo "+ $*" > "$DAEMON_LOG"
    "$@" >>"$DAEMON_LOG" 2>&1 &
    DAEMON_PID=$!
    for _ in $(seq 1 300); do    # up to 30 s for the listening socket
        [ -S "$SOCK" ] && break
        kill -0 "$DAEMON_PID" 2>/dev/null || break
        sleep 0.1
    done
    if [ ! -S "$SOCK" ]; then
        if kill -0 "$DAEMON_PID" 2>/dev/null; then
            rc="still running, killed"
            kill -TERM "$DAEMON_PID" 2>/dev/null; sleep 1; kill -KILL "$DAEMON_PID" 2>/dev/null
        else
            wait "$DAEMON_PID" 2>/dev/null; rc="exit status $?"
        fi
        DAEMON_PID=""
        host_fail daemon-start "no socket at $SOCK after 30 s (daemon status: $rc); daemon log:"
        sed 's/^/  daemon| /' "$DAEMON_LOG" | tail -n 30
        summary
        exit 1
    fi
    sleep 0.2   # bind() happened; give listen() a moment
    if [ -x "$HERE/scenarios/$SCENARIO.host-monitor.sh" ]; then
        "$HERE/scenarios/$SCENARIO.host-monitor.sh" "$DAEMON_PID" "$RUNDIR" &
        MONITOR_PID=$!
    fi
fi

# ---- guest --------------------------------------------------------------------------
# shellcheck disable=SC2054  # the commas belong to QEMU option values
QEMU_CMD=(qemu-system-x86_64 -accel tcg -cpu max -m "$MEM" -smp "$SMP"
    -object "memory-backend-memfd,id=mem,size=${MEM}M,share=on" -numa node,memdev=mem)
if [ "$NO_DAEMON" = 0 ]; then
    QEMU_CMD+=(-chardev "socket,id=char0,path=$SOCK"
        -device "vhost-user-fs-pci,chardev=char0,tag=share,queue-size=1024,num-request-queues=$QUEUES")
fi
QEMU_CMD+=(-kernel "$KERNEL" -initrd "$INITRD"
    -append "console=ttyS0 quiet panic=-1 rdinit=/init scenario=$SCENARIO queues=$QUEUES"
    -nographic -no-reboot -nic none)
# shellcheck disable=SC2206
[ -n "${QEMU_EXTRA:-}" ] && QEMU_CMD+=($QEMU_EXTRA)
log "guest: ${QEMU_CMD[*]}"
log "console: $CONSOLE   daemon log: $DAEMON_LOG   share: $SHARE"

: > "$CONSOLE"
STRIP=$'s/\r//g; s/\x1bc//g; s/\x1b\\[[0-9;?]*[A-Za-z]//g'
t_boot=$(date +%s)
"${QEMU_CMD[@]}" </dev/null >"$CONSOLE" 2>&1 &
QEMU_PID=$!
# Echo scenario lines live (the serial console ends lines with \r\n).
# tail --pid ends the pipeline once QEMU is gone.
# SeaBIOS' terminal resets (ESC c, ESC [...) are stripped so the first guest line matches.
tail --pid="$QEMU_PID" -n +1 -F "$CONSOLE" 2>/dev/null | sed -u "$STRIP" |
    grep --line-buffered -E '^(PASS|FAIL|INFO|GUEST|SCENARIO-DONE)' &
TAIL_PID=$!

timed_out=0 daemon_died_at=""
while kill -0 "$QEMU_PID" 2>/dev/null; do
    now=$(date +%s)
    if [ $((now - t_boot)) -ge "$TIMEOUT" ]; then
        timed_out=1
        dump_hang_state
        break
    fi
    # A daemon that dies while QEMU runs leaves the guest hanging on its requests:
    # give QEMU 15 s to notice, then stop it.
    if [ -n "$DAEMON_PID" ] && ! kill -0 "$DAEMON_PID" 2>/dev/null; then
        daemon_died_at=${daemon_died_at:-$now}
        [ $((now - daemon_died_at)) -ge 15 ] && break
    fi
    sleep 1
done
t_guest=$(( $(date +%s) - t_boot ))
if kill -0 "$QEMU_PID" 2>/dev/null; then
    kill "$QEMU_PID" 2>/dev/null
    sleep 1
    kill -KILL "$QEMU_PID" 2>/dev/null
fi
wait "$QEMU_PID" 2>/dev/null; qemu_rc=$?
QEMU_PID=""
if [ -n "$MONITOR_PID" ]; then kill "$MONITOR_PID" 2>/dev/null; wait "$MONITOR_PID" 2>/dev/null; MONITOR_PID=""; fi
for _ in $(seq 1 30); do kill -0 "$TAIL_PID" 2>/dev/null || break; sleep 0.1; done
kill "$TAIL_PID" 2>/dev/null; wait "$TAIL_PID" 2>/dev/null; TAIL_PID=""

# ---- results from the console -------------------------------------------------------
CLEAN=$RUNDIR/console.txt
sed "$STRIP" "$CONSOLE" > "$CLEAN"
gp=$(grep -c '^PASS: ' "$CLEAN")
gf=$(grep -c '^FAIL: ' "$CLEAN")
npass=$((npass + gp)); nfail=$((nfail + gf))
while IFS= read -r l; do fail_lines+=("$l"); done < <(grep '^FAIL: ' "$CLEAN")
done_seen=0
grep -q '^SCENARIO-DONE' "$CLEAN" && done_seen=1

if [ "$timed_out" = 1 ]; then
    host_fail timeout "guest still running after $TIMEOUT s (last console lines below)"
    grep -q '^GUEST: ' "$CLEAN" ||
        echo "  (no GUEST line: the guest's init never reached the console)"
    tail -n 25 "$CLEAN" | sed 's/^/  console| /'
elif [ -n "$daemon_died_at" ] && [ "$done_seen" = 0 ]; then
    host_fail daemon-died "epochfsd exited while the guest was running; QEMU stopped"
fi
[ "$done_seen" = 1 ] || host_fail scenario-done "the scenario did not print SCENARIO-DONE"
if [ "$timed_out" = 0 ] && [ -z "$daemon_died_at" ] && [ "$qemu_rc" != 0 ]; then
    host_fail qemu-exit "qemu-system-x86_64 exit status $qemu_rc: $(grep -m1 -i 'qemu-system' "$CLEAN")"
fi
if grep -qE 'Kernel panic|BUG:|Oops|WARNING: CPU' "$CLEAN"; then
    host_fail guest-kernel "kernel trouble on the console: $(grep -m1 -E 'Kernel panic|BUG:|Oops|WARNING: CPU' "$CLEAN")"
fi

# ---- host-side checks ---------------------------------------------------------------
if [ -x "$HERE/scenarios/$SCENARIO.host.sh" ] && [ "$done_seen" = 0 ]; then
    echo "INFO: $SCENARIO.host.sh skipped: the guest scenario did not complete"
elif [ -x "$HERE/scenarios/$SCENARIO.host.sh" ]; then
    hout=$(RUNDIR=$RUNDIR "$HERE/scenarios/$SCENARIO.host.sh" "$SHARE" 2>&1)
    printf '%s\n' "$hout" | grep -E '^(PASS|FAIL|INFO)'
    hp=$(printf '%s\n' "$hout" | grep -c '^PASS: ')
    hf=$(printf '%s\n' "$hout" | grep -c '^FAIL: ')
    npass=$((npass + hp)); nfail=$((nfail + hf))
    while IFS= read -r l; do fail_lines+=("$l"); done < <(printf '%s\n' "$hout" | grep '^FAIL: ')
fi

# ---- daemon exit --------------------------------------------------------------------
if [ -n "$DAEMON_PID" ]; then
    # The daemon serves one frontend connection and exits 0 when it goes away.
    for _ in $(seq 1 100); do kill -0 "$DAEMON_PID" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$DAEMON_PID" 2>/dev/null; then
        host_fail daemon-exit "epochfsd still running 10 s after QEMU quit; sent SIGTERM"
        # Where it is stuck: every thread's name, state and kernel wait channel.
        for t in /proc/"$DAEMON_PID"/task/*; do
            printf '  thread %s %-16s %s wchan=%s\n' "${t##*/}" "$(cat "$t/comm" 2>/dev/null)" \
                "$(awk '/^State:/ { print $2 $3 }' "$t/status" 2>/dev/null)" "$(cat "$t/wchan" 2>/dev/null)"
        done | tee -a "$RUNDIR/daemon-threads.txt" >&2
        kill -TERM "$DAEMON_PID" 2>/dev/null
        for _ in $(seq 1 50); do kill -0 "$DAEMON_PID" 2>/dev/null || break; sleep 0.1; done
        if kill -0 "$DAEMON_PID" 2>/dev/null; then
            host_fail daemon-sigterm "epochfsd did not exit within 5 s of SIGTERM; sent SIGKILL"
            kill -KILL "$DAEMON_PID"
        fi
        wait "$DAEMON_PID" 2>/dev/null
    else
        wait "$DAEMON_PID" 2>/dev/null; drc=$?
        if [ "$drc" = 0 ]; then
            host_pass daemon-exit-status-0
        else
            host_fail daemon-exit "epochfsd exit status $drc"
        fi
    fi
    DAEMON_PID=""
    if grep -qiE 'panic|error' "$DAEMON_LOG"; then
        log "daemon log has errors/panics (first lines):"
        grep -iE 'panic|error' "$DAEMON_LOG" | head -n 10 | sed 's/^/  daemon| /' >&2
    fi
fi

[ "$gp" -gt 0 ] || host_fail no-pass "the guest printed no PASS line at all"

t_total=$(awk -v a="$t_start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.0f", b - a }')
log "guest ran ${t_guest} s (QEMU start to exit), whole run ${t_total} s; logs in $RUNDIR"
if [ "$nfail" -gt 0 ]; then
    log "failures:"
    printf '  %s\n' "${fail_lines[@]}" >&2
    if [ -s "$DAEMON_LOG" ]; then
        log "last daemon log lines ($DAEMON_LOG):"
        tail -n 20 "$DAEMON_LOG" | sed 's/^/  daemon| /' >&2
    fi
fi
summary
[ "$nfail" = 0 ]
