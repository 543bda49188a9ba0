#!/usr/bin/env bash
# Unmounts a slowfs mounted by mount.sh and waits for its server to exit.
#   tests/slowfs/umount.sh MNT
set -euo pipefail
[ $# -eq 1 ] || { echo "usage: $0 MNT" >&2; exit 2; }
mnt=$(cd "$1" 2>/dev/null && pwd || echo "$1")
state=${TMPDIR:-/tmp}/slowfs.$(printf %s "$mnt" | sha1sum | cut -c1-12)
if grep -q " $mnt fuse" /proc/mounts; then
    umount "$mnt" 2>/dev/null || fusermount3 -u "$mnt" 2>/dev/null || umount -l "$mnt"
fi
if [ -f "$state.pid" ]; then
    pid=$(cat "$state.pid")
    for _ in $(seq 60); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.05
    done
    kill "$pid" 2>/dev/null || true
    rm -f "$state.pid"
fi
