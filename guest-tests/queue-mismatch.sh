#!/usr/bin/env bash
# A queue-count mismatch: QEMU with vhost-user-fs-pci num-request-queues=2 against a
# daemon serving 1 request queue. Checks that the daemon refuses the set-up as soon
# as QEMU configures the extra queue (while QEMU realizes the device, before the
# guest runs), exits non-zero with a message naming its queue count, and reports
# what QEMU does: exit at start-up ("Failed to initialize virtqueue 2") or, when its
# set-up messages were all written before the daemon hung up, go on and fail to
# start vhost once the guest driver loads.
#
# Usage: guest-tests/queue-mismatch.sh [--daemon epochfsd|virtiofsd] [--tries N]
#   --tries N  QEMU starts (paused, no guest) per daemon: how often QEMU itself
#              refuses to start (default 5), then one boot of a 6.12 guest
# Environment: EPOCHFSD_BIN, VIRTIOFSD_BIN, KERNEL (default guest-tests/work/kernel/vmlinuz, from install-deps.sh).
# Prints PASS/FAIL/INFO lines; exit status 0 when every check passed.
set -uo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/.." && pwd)
KIND=epochfsd TRIES=5
while [ $# -gt 0 ]; do
    case "$1" in
        --daemon) KIND=$2; shift 2 ;;
        --tries) TRIES=$2; shift 2 ;;
        *) sed -n '2,/^set -uo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 2 ;;
    esac
done
case "$KIND" in
    epochfsd) BIN=${EPOCHFSD_BIN:-$REPO/target/release/epochfsd}
              [ -x "$BIN" ] || (cd "$REPO" && cargo build --release --quiet) ;;
    virtiofsd) BIN=${VIRTIOFSD_BIN:-$("$REPO/scripts/install-virtiofsd.sh")} ;;
    *) echo "queue-mismatch: --daemon epochfsd|virtiofsd" >&2; exit 2 ;;
esac
KERNEL=${KERNEL:-$(readlink -f "$HERE/work/kernel/vmlinuz" 2>/dev/null)}

nfail=0
pass() { echo "PASS: $1"; }
fail() { echo "FAIL: $1: $2"; nfail=$((nfail + 1)); }
info() { echo "INFO: $*"; }

WORK=$(mktemp -d /tmp/epochfsd-qmismatch.XXXXXX)
DPID="" QPID=""
cleanup() {
    [ -z "$QPID" ] || kill -9 "$QPID" 2>/dev/null
    [ -z "$DPID" ] || kill -9 "$DPID" 2>/dev/null
    rm -rf "$WORK"
}
trap cleanup EXIT
mkdir -p "$WORK/share"

# start_daemon: one request queue (virtiofsd has no other count).
start_daemon() {
    rm -f "$WORK/sock"
    local extra=()
    [ "$KIND" = epochfsd ] && extra=(--num-request-queues 1)
    [ "$KIND" = virtiofsd ] && extra=(--sandbox none)
    "$BIN" --socket-path "$WORK/sock" --shared-dir "$WORK/share" "${extra[@]}" >"$WORK/daemon.log" 2>&1 &
    DPID=$!
    for _ in $(seq 1 100); do [ -S "$WORK/sock" ] && return 0; sleep 0.1; done
    fail daemon-start "no socket: $(tail -3 "$WORK/daemon.log")"
    exit 1
}

# wait_exit PID SECONDS: the exit status, or "running".
wait_exit() {
    local i
    for ((i = 0; i < $2 * 10; i++)); do
        if ! kill -0 "$1" 2>/dev/null; then
            wait "$1" 2>/dev/null
            echo $?
            return
        fi
        sleep 0.1
    done
    echo running
}

QEMU_BASE=(qemu-system-x86_64 -accel tcg -M q35 -m 512
    -object memory-backend-memfd,id=mem,size=512M,share=on -numa node,memdev=mem
    -chardev "socket,id=c0,path=$WORK/sock"
    -device vhost-user-fs-pci,chardev=c0,tag=share,queue-size=1024,num-request-queues=2
    -display none -no-reboot)

# 1. QEMU start-up alone, paused before the guest runs.
refused=0
for ((t = 1; t <= TRIES; t++)); do
    start_daemon
    "${QEMU_BASE[@]}" -S -monitor none -serial none >"$WORK/qemu.log" 2>&1 &
    QPID=$!
    qrc=$(wait_exit "$QPID" 5)
    [ "$qrc" = running ] && { kill -9 "$QPID"; wait "$QPID" 2>/dev/null; }
    QPID=""
    drc=$(wait_exit "$DPID" 5)
    DPID=""
    if [ "$qrc" != running ] && [ "$qrc" != 0 ]; then
        refused=$((refused + 1))
        info "try $t: QEMU refused to start (exit $qrc): $(grep -m1 -i 'virtqueue\|vhost' "$WORK/qemu.log")"
    else
        info "try $t: QEMU started (its set-up messages were all written before the daemon hung up)"
    fi
    if [ "$drc" = running ]; then
        fail "daemon-exits-$t" "the daemon still runs 5 s after QEMU set up queue 2"
        kill -9 "$DPID" 2>/dev/null
    elif [ "$drc" = 0 ]; then
        fail "daemon-exits-$t" "the daemon exited 0 although it cannot serve queue 2"
    else
        pass "daemon-exits-$t (exit $drc)"
    fi
done
info "QEMU refused to start in $refused of $TRIES tries"
last=$(grep -v '^\[' "$WORK/daemon.log" | tail -n 1)
info "daemon's last words: $last"
if [ "$KIND" = epochfsd ]; then
    case "$last" in
        *"--num-request-queues 1"*) pass daemon-names-its-queue-count ;;
        *) fail daemon-names-its-queue-count "$last" ;;
    esac
fi

# 2. A real guest boot: what the guest sees when QEMU did start.
if [ -r "$KERNEL" ]; then
    INITRD=$("$HERE/build-initramfs.sh") || { fail initramfs "build-initramfs.sh failed"; exit 1; }
    start_daemon
    "${QEMU_BASE[@]}" -kernel "$KERNEL" -initrd "$INITRD" -nographic -nic none \
        -append "console=ttyS0 quiet panic=-1 rdinit=/init scenario=launcher queues=2 fstag=share" \
        </dev/null >"$WORK/qemu.log" 2>&1 &
    QPID=$!
    qrc=$(wait_exit "$QPID" 90)
    drc=$(wait_exit "$DPID" 1)
    if [ "$qrc" = running ]; then
        kill -9 "$QPID"; wait "$QPID" 2>/dev/null
        info "guest boot: QEMU still running after 90 s (killed); its vhost messages: $(grep -i -m2 'vhost' "$WORK/qemu.log" | tr '\n' ' ')"
    else
        info "guest boot: QEMU exit $qrc: $(grep -m1 -i 'virtqueue\|vhost' "$WORK/qemu.log")"
    fi
    QPID=""
    if grep -q '^PASS: read-host-file' "$WORK/qemu.log"; then
        fail guest-mount "the guest mounted and used a share the daemon cannot serve"
    else
        pass "guest-did-not-use-the-share"
    fi
    [ "$drc" != running ] && [ "$drc" != 0 ] && pass "daemon-exited-during-boot (exit $drc)" ||
        fail daemon-exited-during-boot "status $drc"
    DPID=""
else
    info "no 6.12 kernel (KERNEL=): guest boot skipped"
fi
echo "queue-mismatch ($KIND): $nfail failed"
[ "$nfail" = 0 ]
