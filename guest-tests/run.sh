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
#   --tag TAG      virtio-fs tag of that first device (share); the guest mounts it
#   --extra-daemon TAG:KIND:QUEUES[:ARGS]
#                  (repeatable) one more daemon with its own socket, its own share
#                  RUNDIR/share-TAG and log RUNDIR/daemon-TAG.log, exposed as one
#                  more vhost-user-fs-pci device with tag TAG and QUEUES request
#                  queues; ARGS are extra daemon arguments. The guest does not mount
#                  these: a scenario marked `# NEEDS-MOUNT: no` mounts what it needs
#   --kernel-args "K=V ..."  appended to the guest kernel command line; unknown
#                  K=V parameters reach /init, hence the scenario, as environment
#   --daemon-cmd "ARGV"  the first daemon's whole argument list instead of the
#                  default one (a launcher's exact argv), with @SOCK@ and @SHARE@
#                  standing for its socket and share; split at spaces
#   --listen-fd N  bind and listen on the first daemon's socket here and hand it
#                  to the daemon as descriptor N (for --fd=N argv, as libvirt and
#                  Kata do)
#   --daemon-user U  run the first daemon as user U (setpriv; the share is made
#                  writable for it)
#
# Environment: EPOCHFSD_BIN (use this binary, skip cargo build), VIRTIOFSD_BIN, KERNEL (default
# guest-tests/work/kernel/vmlinuz, the 6.12 cloud kernel install-deps.sh unpacked), EXTRA_BINS (see build-initramfs.sh), QEMU_EXTRA
# (extra QEMU arguments), SKIP_DEPS=1 (do not run install-deps.sh).
#
# Output: the guest console goes to RUNDIR/console.log, the daemon's output to
# RUNDIR/daemon.log; PASS/FAIL lines are echoed as they come; the last line is
#   guest SCENARIO (DAEMON, queues=N[, + TAG ...]): P passed, F failed
# Exit status: 0 only if no FAIL, at least one PASS, the scenario printed
# SCENARIO-DONE, no timeout, and every daemon exited 0 by itself after QEMU quit.
set -uo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/.." && pwd)

usage() { sed -n '2,/^set -uo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 2; }

[ $# -ge 1 ] || usage
SCENARIO=$1; shift
case "$SCENARIO" in -h|--help) usage ;; esac
QUEUES=1 SMP=1 MEM=1024 DAEMON_ARGS="" TIMEOUT=600 SHARED_DIR="" NO_DAEMON=0 DAEMON_KIND=epochfsd
TAG=share KERNEL_ARGS="" DAEMON_CMD="" LISTEN_FD="" DAEMON_USER=""
declare -a EXTRA_SPECS=()
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
        --tag) TAG=$2; shift 2 ;;
        --extra-daemon) EXTRA_SPECS+=("$2"); shift 2 ;;
        --kernel-args) KERNEL_ARGS=$2; shift 2 ;;
        --daemon-cmd) DAEMON_CMD=$2; shift 2 ;;
        --listen-fd) LISTEN_FD=$2; shift 2 ;;
        --daemon-user) DAEMON_USER=$2; shift 2 ;;
        -h|--help) usage ;;
        *) echo "run.sh: unknown argument: $1" >&2; usage ;;
    esac
done
for v in QUEUES SMP MEM TIMEOUT; do
    [[ ${!v} =~ ^[1-9][0-9]*$ ]] || { echo "run.sh: --${v,,} needs a positive integer" >&2; exit 2; }
done
# check_daemon KIND QUEUES TAG: the combination is one this script can run.
check_daemon() {
    case "$1" in
        epochfsd) ;;
        virtiofsd) [ "$2" = 1 ] || { echo "run.sh: virtiofsd serves one request queue; use 1 queue for $3" >&2; exit 2; } ;;
        *) echo "run.sh: daemon kind must be epochfsd or virtiofsd (got '$1' for $3)" >&2; exit 2 ;;
    esac
    [[ $3 =~ ^[A-Za-z0-9._-]{1,36}$ ]] || { echo "run.sh: tag '$3': 1-36 of [A-Za-z0-9._-]" >&2; exit 2; }
}
check_daemon "$DAEMON_KIND" "$QUEUES" "$TAG"
# The daemons as parallel arrays, index 0 the one --daemon/--queues describe.
declare -a D_TAG=("$TAG") D_KIND=("$DAEMON_KIND") D_QUEUES=("$QUEUES") D_ARGS=("$DAEMON_ARGS")
for spec in "${EXTRA_SPECS[@]}"; do
    IFS=: read -r t k q a <<<"$spec"
    [[ ${q:-} =~ ^[1-9][0-9]*$ ]] || { echo "run.sh: --extra-daemon $spec: want TAG:KIND:QUEUES[:ARGS]" >&2; exit 2; }
    check_daemon "$k" "$q" "$t"
    for seen in "${D_TAG[@]}"; do
        [ "$seen" != "$t" ] || { echo "run.sh: tag $t used twice" >&2; exit 2; }
    done
    D_TAG+=("$t") D_KIND+=("$k") D_QUEUES+=("$q") D_ARGS+=("${a:-}")
done
[ "$NO_DAEMON" = 0 ] || [ ${#EXTRA_SPECS[@]} = 0 ] || { echo "run.sh: --no-daemon excludes --extra-daemon" >&2; exit 2; }
GUEST_SCRIPT=$HERE/scenarios/$SCENARIO.sh
[ -f "$GUEST_SCRIPT" ] || { echo "run.sh: no scenario $GUEST_SCRIPT" >&2; exit 2; }

log() { echo "run.sh: $*" >&2; }

npass=0 nfail=0
declare -a fail_lines=()
# Host-side results use the same PASS/FAIL format and count in the summary.
host_pass() { echo "PASS: $1"; npass=$((npass + 1)); }
host_fail() { echo "FAIL: $1: $2"; nfail=$((nfail + 1)); fail_lines+=("FAIL: $1: $2"); }
summary() {
    local extra="" i
    for ((i = 1; i < ${#D_TAG[@]}; i++)); do
        extra+=", + ${D_TAG[i]} (${D_KIND[i]}, queues=${D_QUEUES[i]})"
    done
    echo "guest $SCENARIO ($DAEMON_KIND, queues=$QUEUES$extra): $npass passed, $nfail failed"
}
# Setup failures still end with a FAIL line and the summary line.
setup_fail() { host_fail "$1" "$2"; summary; exit 1; }

# ---- prerequisites ------------------------------------------------------------------
t_start=$(date +%s.%N)
if [ "${SKIP_DEPS:-0}" != 1 ]; then
    "$HERE/install-deps.sh" || setup_fail install-deps "guest-tests/install-deps.sh failed"
fi
# The guest kernel install-deps.sh unpacked into work/kernel/ (never /boot).
KERNEL=${KERNEL:-$(readlink -f "$HERE/work/kernel/vmlinuz" 2>/dev/null)}
[ -r "$KERNEL" ] || setup_fail kernel "no readable guest kernel (guest-tests/work/kernel/vmlinuz, from install-deps.sh); set KERNEL="

# The binary of each daemon kind in use (built or installed once).
declare -A BIN=()
if [ "$NO_DAEMON" = 0 ]; then
    for kind in "${D_KIND[@]}"; do
        [ -z "${BIN[$kind]:-}" ] || continue
        if [ "$kind" = virtiofsd ]; then
            BIN[$kind]=${VIRTIOFSD_BIN:-$("$REPO/scripts/install-virtiofsd.sh")} || setup_fail build "scripts/install-virtiofsd.sh failed"
        elif [ -n "${EPOCHFSD_BIN:-}" ]; then
            BIN[$kind]=$EPOCHFSD_BIN
        else
            log "cargo build --release"
            (cd "$REPO" && cargo build --release --quiet) || setup_fail build "cargo build --release failed"
            BIN[$kind]=$REPO/target/release/epochfsd
        fi
        [ -x "${BIN[$kind]}" ] || setup_fail build "no $kind binary at ${BIN[$kind]}"
    done
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
SOCKDIR=$RUNDIR TMP_SOCKDIR=""
if [ $(( ${#RUNDIR} + 60 )) -ge 108 ]; then   # sun_path is 108 bytes
    TMP_SOCKDIR=$(mktemp -d /tmp/epochfsd-guest.XXXXXX)
    SOCKDIR=$TMP_SOCKDIR
fi
# Per daemon: socket, share and log; the first keeps the names of a one-daemon run.
declare -a D_SOCK=("$SOCKDIR/vhost-fs.sock") D_SHARE=("$SHARE") D_LOG=("$RUNDIR/daemon.log") D_PID=("")
for ((i = 1; i < ${#D_TAG[@]}; i++)); do
    D_SOCK+=("$SOCKDIR/vhost-fs-${D_TAG[i]}.sock")
    D_SHARE+=("$RUNDIR/share-${D_TAG[i]}")
    D_LOG+=("$RUNDIR/daemon-${D_TAG[i]}.log")
    D_PID+=("")
    mkdir -p "${D_SHARE[i]}"
done
CONSOLE=$RUNDIR/console.log
DAEMON_LOG=${D_LOG[0]}
ln -sfn "$(basename "$RUNDIR")" "$RUNS/latest"

QEMU_PID="" TAIL_PID="" MONITOR_PID=""
# stop_daemon PID: SIGTERM, up to 5 s, then SIGKILL.
stop_daemon() {
    kill -0 "$1" 2>/dev/null || return 0
    kill -TERM "$1" 2>/dev/null
    for _ in 1 2 3 4 5 6 7 8 9 10; do kill -0 "$1" 2>/dev/null || break; sleep 0.5; done
    kill -KILL "$1" 2>/dev/null
}

# On a timeout, before anything is killed: what the daemon and QEMU are doing, so a
# hang can be told apart from a slow guest. Threads with their state and wait
# channel, kernel stacks (root only), user stacks (when gdb is installed), the
# daemon's descriptor count and the free space where the run writes.
dump_hang_state() {
    local pid name t
    echo "  hang| console.log: $(wc -c <"$CONSOLE") bytes; free space: $(df -h --output=avail "$RUNDIR" | tail -1 | tr -d ' ')"
    # A daemon in its pid namespace (--sandbox namespace) is the child of
    # the started pid: show both.
    local forked=""
    for pid in "${D_PID[@]}"; do
        [ -n "$pid" ] && forked="$forked $(cat /proc/"$pid"/task/*/children 2>/dev/null)"
    done
    for pid in "${D_PID[@]}" $forked $QEMU_PID; do
        [ -n "$pid" ] || continue
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
    for p in "${D_PID[@]}"; do
        [ -z "$p" ] || stop_daemon "$p"
    done
    [ -n "$TMP_SOCKDIR" ] && rm -rf "$TMP_SOCKDIR"
    rm -f "${D_SOCK[@]}"
}
trap cleanup EXIT
trap 'log "interrupted"; exit 130' INT TERM HUP

if [ -x "$HERE/scenarios/$SCENARIO.host-setup.sh" ]; then
    "$HERE/scenarios/$SCENARIO.host-setup.sh" "$SHARE" || setup_fail host-setup "$SCENARIO.host-setup.sh failed"
fi

# ---- daemons ------------------------------------------------------------------------
# start_daemon I: starts daemon I and waits for its socket; on failure ends the run.
start_daemon() {
    local i=$1 sock=${D_SOCK[$1]} log_file=${D_LOG[$1]} pid rc
    local base=(--socket-path "$sock" --shared-dir "${D_SHARE[i]}")
    # shellcheck disable=SC2086  # D_ARGS is split on purpose
    if [ "$i" = 0 ] && [ -n "$DAEMON_CMD" ]; then
        local cmd=${DAEMON_CMD//@SOCK@/$sock}
        cmd=${cmd//@SHARE@/${D_SHARE[i]}}
        set -- "${BIN[${D_KIND[i]}]}" $cmd
        if [ -n "$LISTEN_FD" ]; then
            # The launcher binds the socket and passes it listening (libvirt, Kata).
            set -- /usr/bin/python3 -c 'import os, socket, sys
s = socket.socket(socket.AF_UNIX)
s.bind(sys.argv[1]); s.listen(16)
os.dup2(s.fileno(), int(sys.argv[2])); os.set_inheritable(int(sys.argv[2]), True)
os.execv(sys.argv[3], sys.argv[3:])' "$sock" "$LISTEN_FD" "$@"
        fi
        if [ -n "$DAEMON_USER" ]; then
            # mktemp made the run directory 0700: let the user through.
            chmod o+x "$RUNDIR"
            chmod 0777 "${D_SHARE[i]}" "$(dirname "$sock")"
            set -- setpriv --reuid="$DAEMON_USER" --regid="$DAEMON_USER" --clear-groups -- "$@"
        fi
    elif [ "${D_KIND[i]}" = virtiofsd ]; then
        set -- "${BIN[virtiofsd]}" "${base[@]}" --sandbox none ${D_ARGS[i]}
    else
        set -- "${BIN[epochfsd]}" "${base[@]}" --num-request-queues "${D_QUEUES[i]}" ${D_ARGS[i]}
    fi
    log "daemon${i/#0/}: $*"
    echo "+ $*" > "$log_file"
    "$@" >>"$log_file" 2>&1 &
    pid=$!
    D_PID[i]=$pid
    for _ in $(seq 1 300); do    # up to 30 s for the listening socket
        [ -S "$sock" ] && break
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    [ -S "$sock" ] && return 0
    if kill -0 "$pid" 2>/dev/null; then
        rc="still running, killed"
        kill -TERM "$pid" 2>/dev/null; sleep 1; kill -KILL "$pid" 2>/dev/null
    else
        wait "$pid" 2>/dev/null; rc="exit status $?"
    fi
    D_PID[i]=""
    host_fail daemon-start "no socket at $sock after 30 s (${D_TAG[i]} daemon status: $rc); daemon log:"
    sed 's/^/  daemon| /' "$log_file" | tail -n 30
    summary
    exit 1
}

if [ "$NO_DAEMON" = 0 ]; then
    for ((i = 0; i < ${#D_TAG[@]}; i++)); do
        start_daemon "$i"
    done
    DAEMON_PID=${D_PID[0]}
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
    for ((i = 0; i < ${#D_TAG[@]}; i++)); do
        QEMU_CMD+=(-chardev "socket,id=char$i,path=${D_SOCK[i]}"
            -device "vhost-user-fs-pci,chardev=char$i,tag=${D_TAG[i]},queue-size=1024,num-request-queues=${D_QUEUES[i]}")
    done
fi
QEMU_CMD+=(-kernel "$KERNEL" -initrd "$INITRD"
    -append "console=ttyS0 quiet panic=-1 rdinit=/init scenario=$SCENARIO queues=$QUEUES fstag=$TAG${KERNEL_ARGS:+ $KERNEL_ARGS}"
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

timed_out=0 daemon_died_at="" died_tag=""
while kill -0 "$QEMU_PID" 2>/dev/null; do
    now=$(date +%s)
    if [ $((now - t_boot)) -ge "$TIMEOUT" ]; then
        timed_out=1
        dump_hang_state
        break
    fi
    # A daemon that dies while QEMU runs leaves the guest hanging on its requests:
    # give QEMU 15 s to notice, then stop it.
    for ((i = 0; i < ${#D_PID[@]}; i++)); do
        if [ -n "${D_PID[i]}" ] && ! kill -0 "${D_PID[i]}" 2>/dev/null; then
            daemon_died_at=${daemon_died_at:-$now} died_tag=${died_tag:-${D_TAG[i]}}
        fi
    done
    [ -n "$daemon_died_at" ] && [ $((now - daemon_died_at)) -ge 15 ] && break
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
    host_fail daemon-died "the $died_tag daemon exited while the guest was running; QEMU stopped"
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
# check_daemon_exit I: daemon I must exit 0 by itself once QEMU is gone (each
# daemon serves one frontend connection); if not, its threads are listed.
check_daemon_exit() {
    local i=$1 pid=${D_PID[$1]} sfx="" name="${D_KIND[$1]} (${D_TAG[$1]})" drc
    [ "$i" = 0 ] || sfx=-${D_TAG[i]}
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$pid" 2>/dev/null; then
        host_fail "daemon-exit$sfx" "$name still running 10 s after QEMU quit; sent SIGTERM"
        # Where it is stuck: every thread's name, state and kernel wait channel.
        for t in /proc/"$pid"/task/*; do
            printf '  thread %s %-16s %s wchan=%s\n' "${t##*/}" "$(cat "$t/comm" 2>/dev/null)" \
                "$(awk '/^State:/ { print $2 $3 }' "$t/status" 2>/dev/null)" "$(cat "$t/wchan" 2>/dev/null)"
        done | tee -a "$RUNDIR/daemon-threads$sfx.txt" >&2
        kill -TERM "$pid" 2>/dev/null
        for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        if kill -0 "$pid" 2>/dev/null; then
            host_fail "daemon-sigterm$sfx" "$name did not exit within 5 s of SIGTERM; sent SIGKILL"
            kill -KILL "$pid"
        fi
        wait "$pid" 2>/dev/null
    else
        wait "$pid" 2>/dev/null; drc=$?
        if [ "$drc" = 0 ]; then
            host_pass "daemon-exit-status-0$sfx"
        else
            host_fail "daemon-exit$sfx" "$name exit status $drc"
        fi
    fi
    D_PID[i]=""
    if grep -qiE 'panic|error' "${D_LOG[i]}"; then
        log "$name daemon log has errors/panics (first lines):"
        grep -iE 'panic|error' "${D_LOG[i]}" | head -n 10 | sed 's/^/  daemon| /' >&2
    fi
}
for ((i = 0; i < ${#D_PID[@]}; i++)); do
    [ -z "${D_PID[i]}" ] || check_daemon_exit "$i"
done

[ "$gp" -gt 0 ] || host_fail no-pass "the guest printed no PASS line at all"

t_total=$(awk -v a="$t_start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.0f", b - a }')
log "guest ran ${t_guest} s (QEMU start to exit), whole run ${t_total} s; logs in $RUNDIR"
if [ "$nfail" -gt 0 ]; then
    log "failures:"
    printf '  %s\n' "${fail_lines[@]}" >&2
    for f in "${D_LOG[@]}"; do
        [ -s "$f" ] || continue
        log "last daemon log lines ($f):"
        tail -n 20 "$f" | sed 's/^/  daemon| /' >&2
    done
fi
summary
[ "$nfail" = 0 ]
