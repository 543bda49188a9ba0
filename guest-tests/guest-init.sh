#!/bin/sh
# /init of the guest-test initramfs (busybox sh, PID 1).
# Kernel command line parameters read here:
#   scenario=NAME      run /scenarios/NAME.sh /mnt (default: smoke)
#   fstag=TAG          virtio-fs tag to mount (default: share)
#   mountopts=OPTS     extra mount -o options (comma separated)
#   queues=N           request queues the host configured (EXPECT_QUEUES for scenarios)
# Output protocol on the console (ttyS0): scenario lines `PASS: name` /
# `FAIL: name: reason`; the scenario itself prints `SCENARIO-DONE` last.
# Whatever happens, the guest ends with `poweroff -f` (or a panic, which with
# panic=-1 and QEMU's -no-reboot also ends the VM).
export PATH=/bin:/sbin:/usr/bin:/usr/sbin:/usr/local/bin
export HOME=/root TERM=dumb

mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
mkdir -p /dev/pts /dev/shm /tmp /mnt /root
mount -t tmpfs tmpfs /tmp
mount -t tmpfs tmpfs /dev/shm
# Kernel errors (e.g. from virtio-fs) still reach the console with `quiet`,
# which helps when a scenario fails; normal messages stay off.

scenario=smoke
fstag=share
mountopts=
for arg in $(cat /proc/cmdline); do
    case "$arg" in
        scenario=*) scenario=${arg#scenario=} ;;
        fstag=*) fstag=${arg#fstag=} ;;
        mountopts=*) mountopts=${arg#mountopts=} ;;
        queues=*) EXPECT_QUEUES=${arg#queues=}; export EXPECT_QUEUES ;;
    esac
done

echo "GUEST: kernel $(uname -r), $(grep -c ^processor /proc/cpuinfo) cpus, $(awk '/MemTotal/ {print $2/1024 " MiB"}' /proc/meminfo), scenario=$scenario"

finish() {
    echo "GUEST: init done, powering off"
    sync
    poweroff -f
    # Not reached; if it were, PID 1 exiting panics and panic=-1 ends the VM.
    sleep 5
    exit 1
}

script=/scenarios/$scenario.sh
if [ ! -f "$script" ]; then
    echo "FAIL: init: no scenario script $script in the initramfs"
    finish
fi

# A scenario may declare that it needs no virtio-fs mount (# NEEDS-MOUNT: no).
if grep -q '^# NEEDS-MOUNT: no' "$script"; then
    sh "$script" /mnt 2>&1
    echo "GUEST: scenario exit status $?"
    finish
fi

if mount -t virtiofs ${mountopts:+-o "$mountopts"} "$fstag" /mnt 2>/tmp/mount.err; then
    echo "GUEST: mounted virtiofs tag '$fstag' on /mnt: $(grep " /mnt " /proc/mounts)"
    # Run from / (not /mnt) so the umount below is not blocked by our cwd.
    cd /
    sh "$script" /mnt 2>&1
    echo "GUEST: scenario exit status $?"
    cd /
    if umount /mnt 2>/tmp/umount.err; then
        echo "GUEST: unmounted /mnt"
    else
        echo "FAIL: umount: $(tr '\n' ' ' </tmp/umount.err)"
    fi
else
    echo "FAIL: mount: mount -t virtiofs $fstag /mnt: $(tr '\n' ' ' </tmp/mount.err)"
    set -- /sys/bus/virtio/drivers/virtiofs/virtio*
    [ -e "$1" ] || echo "GUEST: no virtio-fs device bound to the virtiofs driver"
fi
finish
