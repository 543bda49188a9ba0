#!/usr/bin/env bash
# Installs what the guest tests need on a Debian bookworm host: QEMU 10 and the
# 6.12 cloud kernel from bookworm-backports, busybox-static, cpio.
# Idempotent: does nothing when everything is already there.
set -euo pipefail

need_install=0
command -v qemu-system-x86_64 >/dev/null || need_install=1
command -v busybox >/dev/null || need_install=1
command -v cpio >/dev/null || need_install=1
ls /boot/vmlinuz-6.12* >/dev/null 2>&1 || need_install=1
[ "$need_install" = 0 ] && exit 0

SUDO=""
[ "$(id -u)" = 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive

if ! grep -rqs "bookworm-backports" /etc/apt/sources.list /etc/apt/sources.list.d/; then
    echo "deb http://deb.debian.org/debian bookworm-backports main" |
        $SUDO tee /etc/apt/sources.list.d/epochfsd-backports.list >/dev/null
fi
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends \
    busybox-static cpio zstd gzip
$SUDO apt-get install -y -qq --no-install-recommends -t bookworm-backports \
    qemu-system-x86 linux-image-cloud-amd64
