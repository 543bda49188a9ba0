#!/usr/bin/env bash
# Live migration of a guest with open files on a virtio-fs share, between two
# QEMU processes (TCG) on this host, each with its own epochfsd on one shared
# directory. The source QEMU migrates over a unix socket (QMP `migrate`) to a
# destination started with `-incoming`; the guest (scenarios/migration.sh)
# keeps descriptors open across the move and checks them afterwards.
#
# Usage: guest-tests/migration.sh [--queues N] [--mode find-paths|file-handles]
#            [--timeout SECS] [--daemon-args "..."] [--daemon epochfsd|virtiofsd] [--back]
#            [--bad-destination] [--held-sync]
#
# --back migrates a second time, from the destination to a new QEMU and
# daemon in the first one's place, before the guest checks its files.
# --bad-destination gives the destination's daemon another (empty) directory:
# the migration must fail with the reason in that daemon's log, the source VM
# must go on running (the guest then checks its files there) and nothing may
# appear in the other directory.
# --daemon virtiofsd runs upstream virtiofsd (scripts/install-virtiofsd.sh, or
# VIRTIOFSD_BIN) on both sides instead, for comparison: one queue only.
# --held-sync runs another guest scenario (scenarios/migration-held.sh): the
# source daemon is a test-hooks build holding every WRITE at offset 1 MiB for
# 3 s (HELD_MS); the guest starts a write there (A) and 0.5 s later `sync -f`
# (B), and the host starts the migration while both wait, with a downtime
# limit of 60 s so that the VM stops during the hold. On the destination the
# guest checks that A and B succeeded, that B ended after A, reads A's block
# back and writes after.txt (C). The host checks that the stop began during
# the hold and waited for it, that the source's SYNCFS waited for A's epoch
# and flushed one file, and A's block in the file. The destination daemon is
# the ordinary release build. Not with --back, --bad-destination, virtiofsd.
#
# Output: PASS/FAIL lines (guest and host), the measured times from QMP
# `query-migrate` (total, downtime, setup) and the daemons' state size and
# save/load times, then
#   guest migration (epochfsd, queues=N, mode=M): P passed, F failed
# Run directory: guest-tests/work/runs/migration-qN-MODE-DATE-XXXX (consoles,
# daemon logs, QMP answers). Exit status 0 only if nothing failed.
# Environment: EPOCHFSD_BIN (skip cargo build), EPOCHFSD_HOOKS_BIN (the
# test-hooks build for --held-sync), KERNEL, SKIP_DEPS=1.
set -uo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/.." && pwd)
QUEUES=1 MODE=find-paths TIMEOUT=900 DAEMON_ARGS="" KIND=epochfsd BACK=0 BAD=0 HELD=0
while [ $# -gt 0 ]; do
    case "$1" in
        --queues) QUEUES=$2; shift 2 ;;
        --mode) MODE=$2; shift 2 ;;
        --timeout) TIMEOUT=$2; shift 2 ;;
        --daemon-args) DAEMON_ARGS=$2; shift 2 ;;
        --daemon) KIND=$2; shift 2 ;;
        --back) BACK=1; shift ;;
        --bad-destination) BAD=1; shift ;;
        --held-sync) HELD=1; shift ;;
        -h|--help) sed -n '2,/^set -uo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 2 ;;
        *) echo "migration.sh: unknown argument: $1" >&2; exit 2 ;;
    esac
done
case "$MODE" in find-paths|file-handles) ;; *) echo "migration.sh: --mode find-paths|file-handles" >&2; exit 2 ;; esac
[[ $QUEUES =~ ^[1-9][0-9]*$ ]] || { echo "migration.sh: --queues N" >&2; exit 2; }
case "$KIND" in
    epochfsd) ;;
    virtiofsd) [ "$QUEUES" = 1 ] || { echo "migration.sh: virtiofsd serves one queue" >&2; exit 2; } ;;
    *) echo "migration.sh: --daemon epochfsd|virtiofsd" >&2; exit 2 ;;
esac
if [ "$HELD" = 1 ] && { [ "$KIND" != epochfsd ] || [ "$BACK" = 1 ] || [ "$BAD" = 1 ]; }; then
    echo "migration.sh: --held-sync needs epochfsd and goes with neither --back nor --bad-destination" >&2
    exit 2
fi
HELD_OFFSET=1048576 HELD_MS=${HELD_MS:-3000}
[[ $HELD_MS =~ ^[1-9][0-9]*$ ]] || { echo "migration.sh: HELD_MS must be milliseconds" >&2; exit 2; }
SCENARIO=migration POLL=0.5
# The host must see MIGRATION-READY soon: the write is held for 3 s only.
[ "$HELD" = 1 ] && SCENARIO=migration-held POLL=0.1

npass=0 nfail=0
pass() { echo "PASS: $1"; npass=$((npass + 1)); }
fail() { echo "FAIL: $1: $2"; nfail=$((nfail + 1)); }
log() { echo "migration.sh: $*" >&2; }
summary() {
    local held=""
    [ "$HELD" = 1 ] && held=", held-sync"
    echo "guest migration ($KIND, queues=$QUEUES, mode=$MODE, back=$BACK, bad-destination=$BAD$held): $npass passed, $nfail failed"
}
die() { fail "$1" "$2"; summary; exit 1; }

# ---- prerequisites ------------------------------------------------------------------
if [ "${SKIP_DEPS:-0}" != 1 ]; then
    "$HERE/install-deps.sh" >&2 || die install-deps "guest-tests/install-deps.sh failed"
fi
KERNEL=${KERNEL:-$(readlink -f "$HERE/work/kernel/vmlinuz" 2>/dev/null)}
[ -r "$KERNEL" ] || die kernel "no guest kernel (run guest-tests/install-deps.sh or set KERNEL=)"
if [ "$KIND" = virtiofsd ]; then
    VIRTIOFSD_BIN=${VIRTIOFSD_BIN:-$("$REPO/scripts/install-virtiofsd.sh")} || die build "scripts/install-virtiofsd.sh failed"
elif [ -z "${EPOCHFSD_BIN:-}" ]; then
    (cd "$REPO" && cargo build --release --quiet) || die build "cargo build --release failed"
    EPOCHFSD_BIN=$REPO/target/release/epochfsd
fi
if [ "$HELD" = 1 ] && [ -z "${EPOCHFSD_HOOKS_BIN:-}" ]; then
    (cd "$REPO" && CARGO_TARGET_DIR=$REPO/target/hooks cargo build --release --quiet --features test-hooks) ||
        die build "cargo build --release --features test-hooks failed"
    EPOCHFSD_HOOKS_BIN=$REPO/target/hooks/release/epochfsd
fi
INITRD=$("$HERE/build-initramfs.sh") || die initramfs "guest-tests/build-initramfs.sh failed"

mkdir -p "$HERE/work/runs"
RUNDIR=$(mktemp -d "$HERE/work/runs/migration-$KIND-q$QUEUES-$MODE$([ "$HELD" = 1 ] && echo -held)-$(date +%Y%m%d-%H%M%S)-XXXX")
SOCKDIR=$(mktemp -d /tmp/epochfsd-mig.XXXXXX)   # sun_path is 108 bytes
SHARE=$RUNDIR/share
mkdir -p "$SHARE"
PIDS=()
cleanup() {
    local p
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
    sleep 0.5
    for p in "${PIDS[@]}"; do kill -KILL "$p" 2>/dev/null; done
    rm -rf "$SOCKDIR"
}
trap cleanup EXIT

# qmp SOCKET COMMAND [ARGUMENTS-JSON]: one QMP command; prints its "return".
# With QMP_WAIT_EVENT=NAME it then waits (up to TIMEOUT seconds) for that
# event and prints, instead, the host time (epoch seconds) of the command's
# answer and the event's own timestamp.
qmp() {
    QMP_TIMEOUT=$TIMEOUT python3 - "$@" <<'EOF'
import json, os, socket, sys, time
s = socket.socket(socket.AF_UNIX)
s.settimeout(float(os.environ["QMP_TIMEOUT"]))
s.connect(sys.argv[1])
f = s.makefile("rw")
def send(cmd, args=None):
    msg = {"execute": cmd}
    if args:
        msg["arguments"] = args
    f.write(json.dumps(msg) + "\n"); f.flush()
    while True:
        reply = json.loads(f.readline())
        if "return" in reply or "error" in reply:
            return reply
json.loads(f.readline())          # greeting
send("qmp_capabilities")
reply = send(sys.argv[2], json.loads(sys.argv[3]) if len(sys.argv) > 3 else None)
if "error" in reply:
    print(json.dumps(reply["error"]), file=sys.stderr)
    sys.exit(1)
answered = time.time()
event = os.environ.get("QMP_WAIT_EVENT")
if not event:
    print(json.dumps(reply["return"]))
    sys.exit(0)
while True:
    msg = json.loads(f.readline())
    if msg.get("event") == event:
        ts = msg["timestamp"]
        print("%.6f %d.%06d" % (answered, ts["seconds"], ts["microseconds"]))
        break
EOF
}

# ---- daemons and QEMUs --------------------------------------------------------------
start_daemon() {   # NAME [SHARE [BINARY EXTRA-ARGUMENTS...]]
    local sock=$SOCKDIR/$1.sock bin=${3:-${EPOCHFSD_BIN:-}}
    local common=(--socket-path "$sock" --shared-dir "${2:-$SHARE}" --migration-mode "$MODE" "${@:4}")
    # shellcheck disable=SC2086  # DAEMON_ARGS is split on purpose
    if [ "$KIND" = virtiofsd ]; then
        "$VIRTIOFSD_BIN" "${common[@]}" --sandbox none $DAEMON_ARGS > "$RUNDIR/daemon-$1.log" 2>&1 &
    else
        "$bin" "${common[@]}" --num-request-queues "$QUEUES" $DAEMON_ARGS \
            > "$RUNDIR/daemon-$1.log" 2>&1 &
    fi
    PIDS+=($!)
    for _ in $(seq 1 300); do [ -S "$sock" ] && return 0; sleep 0.1; done
    die daemon-start "no socket from the $1 daemon; log: $(tail -5 "$RUNDIR/daemon-$1.log")"
}
start_qemu() {   # NAME [EXTRA...]
    local name=$1; shift
    # shellcheck disable=SC2054  # the commas belong to QEMU option values
    qemu-system-x86_64 -accel tcg -cpu max -m 512 -smp 2 \
        -object memory-backend-memfd,id=mem,size=512M,share=on -numa node,memdev=mem \
        -chardev "socket,id=char0,path=$SOCKDIR/$name.sock" \
        -device "vhost-user-fs-pci,chardev=char0,tag=share,queue-size=1024,num-request-queues=$QUEUES" \
        -kernel "$KERNEL" -initrd "$INITRD" \
        -append "console=ttyS0 quiet panic=-1 rdinit=/init scenario=$SCENARIO queues=$QUEUES fstag=share migmode=$MODE" \
        -display none -monitor none -serial "file:$RUNDIR/console-$name.log" -no-reboot -nic none \
        -qmp "unix:$SOCKDIR/qmp-$name.sock,server=on,wait=off" "$@" > "$RUNDIR/qemu-$name.log" 2>&1 &
    PIDS+=($!)
    for _ in $(seq 1 100); do [ -S "$SOCKDIR/qmp-$name.sock" ] && return 0; sleep 0.1; done
    die qemu-start "no QMP socket from the $name QEMU: $(tail -5 "$RUNDIR/qemu-$name.log")"
}
# wait_console NAME PATTERN SECS
wait_console() {
    local deadline=$((SECONDS + $3))
    while [ $SECONDS -lt $deadline ]; do
        grep -q "$2" "$RUNDIR/console-$1.log" 2>/dev/null && return 0
        sleep "$POLL"
    done
    return 1
}

# migrate FROM TO: QMP migrate from QEMU FROM to QEMU TO (started with
# -incoming on migrate-TO.sock); PASS/FAIL and the measured times.
# run_migration FROM TO: turns on the return path on both QEMUs, starts the
# QMP migrate FROM -> TO and waits for it to end; sets INFO (the last
# query-migrate answer, also saved in the run directory) and STATUS.
run_migration() {
    local from=$1 to=$2 _
    local caps='{"capabilities":[{"capability":"return-path","state":true}]}'
    qmp "$SOCKDIR/qmp-$to.sock" migrate-set-capabilities "$caps" > /dev/null || die qmp "return-path on $to"
    qmp "$SOCKDIR/qmp-$from.sock" migrate-set-capabilities "$caps" > /dev/null || die qmp "return-path on $from"
    local uri="{\"uri\":\"unix:$SOCKDIR/migrate-$to.sock\"}"
    if [ "$HELD" = 1 ]; then
        # Switch over as soon as QEMU has measured the bandwidth (a downtime
        # limit of 60 s is never exceeded), so that the VM stops, and the
        # daemon's queues with it, while the write is still held; the RAM
        # then moves in the downtime. Notes when QEMU answered the migrate
        # and when the source VM stopped (QMP's STOP event).
        qmp "$SOCKDIR/qmp-$from.sock" migrate-set-parameters '{"downtime-limit":60000}' > /dev/null ||
            die qmp "downtime-limit on $from"
        read -r MIGRATE_ISSUED VM_STOPPED < <(QMP_WAIT_EVENT=STOP qmp "$SOCKDIR/qmp-$from.sock" migrate "$uri") ||
            die migrate "QMP migrate $from -> $to refused, or no STOP event: see $RUNDIR"
    else
        qmp "$SOCKDIR/qmp-$from.sock" migrate "$uri" > /dev/null ||
            die migrate "QMP migrate $from -> $to refused: see $RUNDIR"
    fi
    INFO="" STATUS=""
    for _ in $(seq 1 "$TIMEOUT"); do
        INFO=$(qmp "$SOCKDIR/qmp-$from.sock" query-migrate)
        STATUS=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1]).get("status",""))' "$INFO")
        case "$STATUS" in completed|failed|cancelled) break ;; esac
        sleep 1
    done
    echo "$INFO" > "$RUNDIR/query-migrate-$from-$to.json"
}

migrate() {
    local from=$1 to=$2
    run_migration "$from" "$to"
    local info=$INFO status=$STATUS
    if [ "$status" = completed ]; then
        pass "migration-$from-to-$to-completed"
        python3 -c 'import json,sys; m=json.loads(sys.argv[2]); print("INFO: %s: total-time %s ms, downtime %s ms, setup-time %s ms, RAM transferred %s bytes" % (sys.argv[1], m.get("total-time"), m.get("downtime"), m.get("setup-time"), m.get("ram",{}).get("transferred")))' "$from -> $to" "$info"
    else
        fail "migration-$from-to-$to-completed" "status '$status': $info; $from daemon: $(grep -i migration "$RUNDIR/daemon-$from.log" | tail -3); $to daemon: $(grep -i migration "$RUNDIR/daemon-$to.log" | tail -3)"
    fi
    grep -h "migration: state" "$RUNDIR/daemon-$from.log" "$RUNDIR/daemon-$to.log" | sed "s/^/INFO: /"
    qmp "$SOCKDIR/qmp-$from.sock" quit > /dev/null 2>&1
}

# refused_migration: src -> dst must fail (the destination's daemon refuses
# the state), the source must go on running and the other share stay empty.
refused_migration() {
    run_migration src dst
    local info=$INFO status=$STATUS
    if [ "$status" = failed ]; then
        pass migration-to-another-directory-fails
        python3 -c 'import json,sys; print("INFO: QEMU says: %s" % json.loads(sys.argv[1]).get("error-desc"))' "$info"
    else
        fail migration-to-another-directory-fails "status '$status'"
    fi
    local why
    why=$(grep -h "refused" "$RUNDIR/daemon-dst.log" | tail -1)
    if [[ $why == *"different shared directory"* ]]; then
        pass destination-daemon-names-the-reason
        echo "INFO: ${why#*] }"
    else
        fail destination-daemon-names-the-reason "log: $(tail -3 "$RUNDIR/daemon-dst.log" | tr '\n' '|')"
    fi
    sleep 2
    status=$(qmp "$SOCKDIR/qmp-src.sock" query-status |
        python3 -c 'import json,sys; print(json.load(sys.stdin).get("status",""))')
    if [ "$status" = running ]; then
        pass source-vm-keeps-running
    else
        fail source-vm-keeps-running "source status '$status'"
    fi
    if [ -z "$(ls -A "$RUNDIR/other-share")" ]; then
        pass nothing-written-to-the-other-directory
    else
        fail nothing-written-to-the-other-directory "$(ls -A "$RUNDIR/other-share" | tr '\n' ' ')"
    fi
}

if [ "$HELD" = 1 ]; then
    start_daemon src "$SHARE" "$EPOCHFSD_HOOKS_BIN" \
        --test-slow-write-offset "$HELD_OFFSET" --test-slow-write-ms "$HELD_MS"
else
    start_daemon src
fi
if [ "$BAD" = 1 ]; then
    # A destination serving another directory: it must refuse the state.
    mkdir -p "$RUNDIR/other-share"
    start_daemon dst "$RUNDIR/other-share"
else
    start_daemon dst
fi
start_qemu src
start_qemu dst -incoming "unix:$SOCKDIR/migrate-dst.sock"
log "run directory $RUNDIR"

wait_console src MIGRATION-READY "$TIMEOUT" ||
    die guest-ready "the guest did not get ready; console: $(tail -5 "$RUNDIR/console-src.log")"
grep -E '^(PASS|FAIL|INFO)' "$RUNDIR/console-src.log"
if [ "$BAD" = 1 ]; then
    refused_migration
    last=src
else
    migrate src dst
    last=dst
fi
if [ "$BACK" = 1 ]; then
    # Back to the first host: a new daemon and QEMU in its place.
    sleep 2
    start_daemon back
    start_qemu back -incoming "unix:$SOCKDIR/migrate-back.sock"
    migrate dst back
    last=back
fi
touch "$SHARE/.migrated"

if wait_console "$last" SCENARIO-DONE "$TIMEOUT"; then
    grep -E '^(PASS|FAIL|INFO)' "$RUNDIR/console-$last.log"
    npass=$((npass + $(grep -c '^PASS' "$RUNDIR/console-$last.log")))
    nfail=$((nfail + $(grep -c '^FAIL' "$RUNDIR/console-$last.log")))
else
    fail guest-after-the-move "no SCENARIO-DONE on the last destination; console: $(tail -5 "$RUNDIR/console-$last.log" | tr '\n' '|')"
fi
# The source console's lines from before the move (checks of the guest's
# preparation) count too.
if [ "$last" != src ]; then
    npass=$((npass + $(grep -c '^PASS' "$RUNDIR/console-src.log")))
    nfail=$((nfail + $(grep -c '^FAIL' "$RUNDIR/console-src.log")))
fi
if [ "$(cat "$SHARE/after.txt" 2>/dev/null)" = "written on the destination" ]; then
    pass host-sees-the-write-after-the-move
else
    fail host-sees-the-write-after-the-move "after.txt: '$(cat "$SHARE/after.txt" 2>&1)'"
fi
# held_window: the source VM began to stop while A's WRITE was held, and
# its stop waited for it. The daemon holds the WRITE after its host write,
# so the hold ends no earlier than held.bin's mtime (that write; nothing
# else writes the file after it) plus HELD_MS. The migration began before
# QEMU answered the migrate, and the downtime began total-time minus
# downtime after that; QEMU sends the STOP event once the devices stopped,
# and stopping the vhost-user device waits (GET_VRING_BASE) for every
# request the daemon took off a queue.
held_window() {
    local held_end times
    held_end=$(python3 -c 'import os,sys; print("%.6f" % (os.stat(sys.argv[1]).st_mtime + int(sys.argv[2]) / 1000))' \
        "$SHARE/held.bin" "$HELD_MS") || { fail held-window "no held.bin"; return; }
    times=$(python3 -c 'import json,sys; m=json.load(open(sys.argv[1])); print(m["total-time"], m["downtime"])' \
        "$RUNDIR/query-migrate-src-dst.json") || { fail held-window "no total-time and downtime"; return; }
    local stop_began
    stop_began=$(awk -v a="$MIGRATE_ISSUED" -v t="${times% *}" -v d="${times#* }" 'BEGIN { printf "%.6f", a + (t - d) / 1000 }')
    rel() { awk -v a="$1" -v e="$held_end" 'BEGIN { printf "%.2f", e - a }'; }
    echo "INFO: before the held write's end: migrate answered $(rel "$MIGRATE_ISSUED") s, the VM began to stop $(rel "$stop_began") s; STOP event $(awk -v a="$VM_STOPPED" -v e="$held_end" 'BEGIN { printf "%.3f", a - e }') s after it"
    if awk -v a="$stop_began" -v e="$held_end" 'BEGIN { exit !(a < e) }'; then
        pass vm-stop-began-while-the-write-was-held
    else
        fail vm-stop-began-while-the-write-was-held "stop began by $stop_began, hold ended at $held_end"
    fi
    if awk -v a="$VM_STOPPED" -v e="$held_end" 'BEGIN { exit !(a >= e) }'; then
        pass vm-stop-waited-for-the-held-write
    else
        fail vm-stop-waited-for-the-held-write "STOP at $VM_STOPPED, hold ended at $held_end"
    fi
}
# held_syncfs: the source daemon's SYNCFS summary (logged when QEMU left):
# B, the targeted SYNCFS after the warm-up fallback, waited for A's epoch
# and flushed exactly one file (held.bin, its one earlier write).
held_syncfs() {
    local line="" _
    for _ in $(seq 1 50); do
        line=$(grep -h "syncfs: " "$RUNDIR/daemon-src.log" | tail -1)
        [ -n "$line" ] && break
        sleep 0.1
    done
    echo "INFO: source daemon: ${line#*] }"
    # Its one file is fsynced, or covered by syncfs(2) when the host has
    # next to no other dirty data (the cost model's choice).
    if [[ $line =~ "syncfs: 2 served, 0 failed, 1 host fallbacks, 1 files + 0 dirs flushed, "("1 targeted, 0 syncfs(2)"|"0 targeted, 1 syncfs(2)")" by cost".*" 1 waits totalling "([0-9.]+)" s" ]] &&
        awk -v w="${BASH_REMATCH[2]}" 'BEGIN { exit !(w >= 1.0) }'; then
        pass source-syncfs-waited-and-flushed-exactly-the-held-file
    else
        fail source-syncfs-waited-and-flushed-exactly-the-held-file "summary: '${line#*] }'"
    fi
}
if [ "$HELD" = 1 ]; then
    held_window
    held_syncfs
    # A's block (the guest's numbered lines) at 1 MiB, as the host sees it.
    if cmp -s <(for i in $(seq 0 63); do printf '%063d\n' "$i"; done) \
        <(dd if="$SHARE/held.bin" bs=4096 skip=$((HELD_OFFSET / 4096)) count=1 2>/dev/null); then
        pass host-sees-the-held-write
    else
        fail host-sees-the-held-write "held.bin at $HELD_OFFSET differs ($(stat -c %s "$SHARE/held.bin" 2>&1) bytes)"
    fi
fi
summary
[ "$nfail" = 0 ] && [ "$npass" -gt 0 ]
