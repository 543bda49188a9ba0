#!/usr/bin/env bash
# Installs what the guest tests need on a Debian bookworm host: QEMU >= 9 (10 from
# bookworm-backports) and the 6.12 cloud kernel (virtio, virtio_pci, fuse and
# virtiofs built in) from bookworm-backports, busybox-static, cpio, gzip, and gdb
# (run.sh prints the stacks of a hung daemon and QEMU with it).
# Idempotent: does nothing when everything is already there.
set -euo pipefail

have_qemu() {
    command -v qemu-system-x86_64 >/dev/null || return 1
    local major
    major=$(qemu-system-x86_64 --version | sed -n 's/^QEMU emulator version \([0-9]*\).*/\1/p')
    # bookworm's own 7.2 is too old (and 7.1..8.0 crash on VHOST_USER_PROTOCOL_F_CONFIG).
    [ -n "$major" ] && [ "$major" -ge 9 ]
}
have_static_busybox() {
    dpkg-query -W -f='${Status}' busybox-static 2>/dev/null | grep -q 'install ok installed'
}

need_install=0
have_qemu || need_install=1
have_static_busybox || need_install=1
command -v cpio >/dev/null || need_install=1
command -v gzip >/dev/null || need_install=1
ls /boot/vmlinuz-6.12* >/dev/null 2>&1 || need_install=1
[ "$need_install" = 0 ] && exit 0

SUDO=""
[ "$(id -u)" = 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive

echo "install-deps: installing qemu-system-x86, linux-image-cloud-amd64 (bookworm-backports), busybox-static, cpio" >&2
if ! grep -rqs "bookworm-backports" /etc/apt/sources.list /etc/apt/sources.list.d/; then
    echo "deb http://deb.debian.org/debian bookworm-backports main" |
        $SUDO tee /etc/apt/sources.list.d/epochfsd-backports.list >/dev/null
fi
$SUDO apt-get update -qq
# busybox-static conflicts with busybox; apt replaces the dynamic one.
$SUDO apt-get install -y -qq --no-install-recommends \
    busybox-static cpio gzip zstd libc-bin gdb
$SUDO apt-get install -y -qq --no-install-recommends -t bookworm-backports \
    qemu-system-x86 linux-image-cloud-amd64

# Verify, so a partial install fails here and not in the middle of a guest run.
have_qemu || { echo "install-deps: qemu-system-x86_64 >= 9 missing after install" >&2; exit 1; }
have_static_busybox || { echo "install-deps: busybox-static missing after install" >&2; exit 1; }
ls /boot/vmlinuz-6.12* >/dev/null 2>&1 || { echo "install-deps: no /boot/vmlinuz-6.12*" >&2; exit 1; }
echo "install-deps: done ($(qemu-system-x86_64 --version | head -1))" >&2
