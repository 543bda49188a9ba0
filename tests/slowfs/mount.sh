#!/usr/bin/env bash
# Mounts slowfs: tests/slowfs/mount.sh SRC MNT [slowfs flags...]
# (e.g. --hold-write 'a*:3000' --delay-us 1000; see `slowfs --help`).
# Returns once MNT answers; the server runs in the background, its log in
# $SLOWFS_LOG (default /tmp/slowfs.<hash of MNT>.log).
#
#   tests/slowfs/mount.sh -u MNT   (or tests/slowfs/umount.sh MNT) unmounts.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
if [ "${1:-}" = "-u" ] || [ "${1:-}" = "umount" ]; then
    shift
    exec "$here/umount.sh" "$@"
fi
[ $# -ge 2 ] || { echo "usage: $0 SRC MNT [slowfs flags...] | $0 -u MNT" >&2; exit 2; }
src=$1 mnt=$2
shift 2
[ -e /dev/fuse ] || { echo "slowfs: /dev/fuse is missing: cannot mount a FUSE filesystem here" >&2; exit 1; }
mkdir -p "$mnt"
mnt=$(cd "$mnt" && pwd)
src=$(cd "$src" && pwd)
if mountpoint -q "$mnt"; then
    echo "slowfs: $mnt is already a mount point" >&2
    exit 1
fi
bin=$("$here/build.sh")
state=${TMPDIR:-/tmp}/slowfs.$(printf %s "$mnt" | sha1sum | cut -c1-12)
log=${SLOWFS_LOG:-$state.log}
setsid "$bin" "$@" "$src" "$mnt" </dev/null >"$log" 2>&1 &
pid=$!
echo "$pid" >"$state.pid"
for _ in $(seq 200); do
    if ! kill -0 "$pid" 2>/dev/null; then
        echo "slowfs exited before mounting $mnt:" >&2
        cat "$log" >&2
        exit 1
    fi
    if grep -q " $mnt fuse" /proc/mounts && stat "$mnt" >/dev/null 2>&1; then
        exit 0
    fi
    sleep 0.05
done
echo "slowfs: $mnt not mounted after 10 s; log:" >&2
cat "$log" >&2
kill "$pid" 2>/dev/null || true
exit 1
