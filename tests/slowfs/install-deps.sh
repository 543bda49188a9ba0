#!/usr/bin/env bash
# Installs what slowfs needs and builds it (tests/slow_storage.rs and
# guest-tests/syncfs-slowfs.sh use it). Debian bookworm, as root or with sudo.
#
# slowfs is Rust (the fuser crate without libfuse), so it needs no C FUSE
# library; as root it mounts with mount(2) itself. fuse3 brings fusermount3
# for runs that are not root. /dev/fuse must exist (the fuse module).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
SUDO=
[ "$(id -u)" -eq 0 ] || SUDO=sudo
if ! command -v fusermount3 >/dev/null; then
    $SUDO apt-get update -qq
    $SUDO apt-get install -y -qq --no-install-recommends fuse3
fi
if [ ! -e /dev/fuse ]; then
    $SUDO modprobe fuse 2>/dev/null || true
fi
[ -e /dev/fuse ] || echo "warning: /dev/fuse is missing; the slow storage tests will fail" >&2
"$here/build.sh" >/dev/null
