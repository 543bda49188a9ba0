#!/usr/bin/env bash
# Measures what slowfs itself costs per operation: the same loop of system
# calls on a plain directory and through slowfs (no hold, --ttl-ms 0 so every
# fstat/stat reaches it, --direct-io so every pread does), and with
# --delay-us 1000. One thread, one operation at a time.
#
# Usage: tests/slowfs/overhead.sh [N]   (N operations per row, default 20000)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
n=${1:-20000}
work=$(mktemp -d /tmp/slowfs-overhead.XXXXXX)
cleanup() {
    for m in "$work"/mnt*; do
        mountpoint -q "$m" 2>/dev/null && "$here/umount.sh" "$m"
    done
    rm -rf "$work"
}
trap cleanup EXIT
mkdir -p "$work/src" "$work/mnt" "$work/mnt-delay"
"$here/mount.sh" "$work/src" "$work/mnt" --quiet --ttl-ms 0 --direct-io
"$here/mount.sh" "$work/src" "$work/mnt-delay" --quiet --ttl-ms 0 --direct-io --delay-us 1000

python3 - "$n" "$work/src" "$work/mnt" "$work/mnt-delay" <<'PY'
import os, sys, time
n = int(sys.argv[1])
dirs = [("plain directory", sys.argv[2], n), ("slowfs, no hold", sys.argv[3], n),
        ("slowfs --delay-us 1000", sys.argv[4], max(200, n // 50))]
buf = b"x" * 4096

def bench(fn, count):
    lat = []
    for i in range(count):
        t = time.perf_counter_ns()
        fn(i)
        lat.append(time.perf_counter_ns() - t)
    lat.sort()
    return sum(lat) / len(lat) / 1000, lat[len(lat) // 2] / 1000, lat[len(lat) * 99 // 100] / 1000

print(f"{'':24} {'op':22} {'mean us':>9} {'p50 us':>9} {'p99 us':>9}")
base = {}
for label, d, count in dirs:
    path = os.path.join(d, "f")
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    os.pwrite(fd, buf * 256, 0)  # 1 MiB
    ops = [
        ("fstat (GETATTR)", lambda i: os.fstat(fd)),
        ("stat path (LOOKUP)", lambda i: os.stat(path)),
        ("pwrite 4 KiB (WRITE)", lambda i: os.pwrite(fd, buf, (i % 256) * 4096)),
        ("pread 4 KiB (READ)", lambda i: os.pread(fd, 4096, (i % 256) * 4096)),
        ("open+close (OPEN..)", lambda i: os.close(os.open(path, os.O_RDONLY))),
    ]
    for name, fn in ops:
        bench(fn, min(count, 200))  # warm up
        mean, p50, p99 = bench(fn, count)
        extra = ""
        if label == "plain directory":
            base[name] = mean
        else:
            extra = f"  (+{mean - base[name]:.1f} us)"
        print(f"{label:24} {name:22} {mean:9.1f} {p50:9.1f} {p99:9.1f}{extra}")
    os.close(fd)
PY
