#!/usr/bin/env bash
# Example: a QEMU guest whose virtio-fs share "share" is served by epochfsd with
# 4 request queues. Adjust the paths; run as the user that owns SHARED_DIR.
#
# What matters for vhost-user-fs:
#  * guest RAM must be shareable with the daemon: a memfd (or file) memory backend
#    with share=on, tied to the guest's NUMA node (-numa node,memdev=...);
#  * queue-size=1024 (QEMU's default of 128 limits request size and depth);
#  * num-request-queues on the QEMU side must not exceed epochfsd's
#    --num-request-queues (QEMU asks the backend for its queue count); the guest
#    (Linux >= 6.10) spreads requests over the queues by CPU, so use at most -smp;
#  * start epochfsd first: QEMU connects to its socket at startup. epochfsd serves
#    this one connection and exits 0 when QEMU goes away.
#  * the guest mounts it with: mount -t virtiofs share /mnt
#  * the default --sandbox namespace pivots the daemon into SHARED_DIR; run as
#    a non-root user it needs unprivileged user namespaces (else --sandbox none).
set -euo pipefail

SHARED_DIR=${SHARED_DIR:-/srv/guest-share}
SOCK=${SOCK:-/run/epochfsd-vm1.sock}
EPOCHFSD=${EPOCHFSD:-/usr/libexec/epochfsd}
KERNEL=${KERNEL:-/boot/vmlinuz}
INITRD=${INITRD:-/boot/initrd.img}
DISK=${DISK:-}        # optional root disk image
MEM=${MEM:-2048}      # MiB; the memfd backend size must equal -m
QUEUES=4
ACCEL=${ACCEL:-kvm}   # use tcg where KVM is unavailable

"$EPOCHFSD" \
    --socket-path "$SOCK" \
    --shared-dir "$SHARED_DIR" \
    --num-request-queues "$QUEUES" \
    --cache auto \
    --log-level info &
daemon=$!
# If QEMU fails to start or exits with an error, set -e ends the script: do not
# leave the daemon behind.
trap 'kill "$daemon" 2>/dev/null' EXIT
for _ in $(seq 50); do [ -S "$SOCK" ] && break; sleep 0.1; done
[ -S "$SOCK" ] || { echo "epochfsd did not create $SOCK" >&2; exit 1; }

qemu-system-x86_64 \
    -accel "$ACCEL" -cpu max -m "$MEM" -smp "$QUEUES" \
    -object memory-backend-memfd,id=mem,size="${MEM}M",share=on \
    -numa node,memdev=mem \
    -chardev socket,id=char0,path="$SOCK" \
    -device vhost-user-fs-pci,chardev=char0,tag=share,queue-size=1024,num-request-queues="$QUEUES" \
    -kernel "$KERNEL" -initrd "$INITRD" \
    -append "console=ttyS0 ${DISK:+root=/dev/vda}" \
    ${DISK:+-drive file="$DISK",if=virtio} \
    -nographic

wait "$daemon"   # exits 0 once QEMU has disconnected
trap - EXIT

# Root file system on virtio-fs instead of a disk: boot with
#   -append "console=ttyS0 rootfstype=virtiofs root=share rw"
