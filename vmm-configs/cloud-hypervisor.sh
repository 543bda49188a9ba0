#!/usr/bin/env bash
# Example: cloud-hypervisor with a virtio-fs share "share" served by epochfsd
# with 4 request queues.
#
# What matters:
#  * --memory ...,shared=on: guest RAM must be shareable with the daemon;
#  * --fs num_queues counts request queues only; cloud-hypervisor asks the backend
#    (VHOST_USER_GET_QUEUE_NUM) and fails with BadQueueNum unless epochfsd reports
#    at least num_queues + 1 (the extra one is the high-priority queue), so pass the
#    same number to epochfsd --num-request-queues;
#  * queue_size=1024.
#  * the guest console: --serial tty --console off puts the emulated serial port
#    (ttyS0) on this terminal and turns the virtio console (hvc0) off, so the
#    kernel command line must say console=ttyS0 (console=hvc0 would print
#    nothing); or use --serial off --console tty with console=hvc0.
#  * the guest mounts it with: mount -t virtiofs share /mnt
#  * the default --sandbox namespace pivots the daemon into SHARED_DIR; run as
#    a non-root user it needs unprivileged user namespaces (else --sandbox none).
set -euo pipefail

SHARED_DIR=${SHARED_DIR:-/srv/guest-share}
SOCK=${SOCK:-/run/epochfsd-vm1.sock}
EPOCHFSD=${EPOCHFSD:-/usr/libexec/epochfsd}
KERNEL=${KERNEL:-/boot/vmlinux}            # or a firmware (--firmware) + disk image
DISK=${DISK:-/var/lib/images/guest.raw}
QUEUES=4

"$EPOCHFSD" \
    --socket-path "$SOCK" \
    --shared-dir "$SHARED_DIR" \
    --num-request-queues "$QUEUES" \
    --cache auto &
daemon=$!
# If cloud-hypervisor fails (BadQueueNum, a bad path, ...), set -e ends the
# script: do not leave the daemon behind.
trap 'kill "$daemon" 2>/dev/null' EXIT
for _ in $(seq 50); do [ -S "$SOCK" ] && break; sleep 0.1; done
[ -S "$SOCK" ] || { echo "epochfsd did not create $SOCK" >&2; exit 1; }

cloud-hypervisor \
    --cpus boot="$QUEUES" \
    --memory size=2G,shared=on \
    --kernel "$KERNEL" \
    --cmdline "console=ttyS0 root=/dev/vda1 rw" \
    --disk path="$DISK" \
    --fs tag=share,socket="$SOCK",num_queues="$QUEUES",queue_size=1024 \
    --serial tty --console off

wait "$daemon"
trap - EXIT
