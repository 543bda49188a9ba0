#!/bin/sh
# First boot of guest-tests/crash-sim.sh: a workload with known durability
# points on a daemon run with --crash-sim MODE. It prints CRASH-MARKER when
# every request has been answered; crash-sim.host-monitor.sh then sends
# `crash` and the daemon puts the share into its post-crash state and exits.
# The guest waits here until QEMU is killed; crash-sim-check.sh, booted on
# the same share without the mode, checks what survived.
. /scenarios/lib.sh
M=${1:-/mnt}

# 1. A tree and a file written through the page cache, then syncfs(2): durable.
mkdir -p "$M/tree/a/b"
printf 'leaf\n' > "$M/tree/a/b/leaf.txt"
printf 'cached\n' > "$M/pagecache.txt"
check syncfs sync -f "$M"

# 2. Safe replace: write, fsync, rename over, fsync the directory.
printf 'version 2\n' > "$M/config.tmp"
check fsync-config fsync "$M/config.tmp"
check rename-config mv "$M/config.tmp" "$M/config"
check fsyncdir-root fsync "$M"

# 3. Unsafe replace: write, rename over, no fsync at all.
printf 'version 2\n' > "$M/config2.tmp"
check rename-config2 mv "$M/config2.tmp" "$M/config2"

# 4. In work/: a file made fully durable, then changes with weaker points.
printf 'durable\n' > "$M/work/durable.txt"
check fsync-durable fsync "$M/work/durable.txt"
check fsyncdir-work fsync "$M/work"
printf 'synced data\n' > "$M/work/fsynced-only.txt"
check fsync-only fsync "$M/work/fsynced-only.txt"
printf 'lost\n' > "$M/work/nosync.txt"
printf 'overwritten\n' > "$M/work/pre.txt"
check rename-unsynced mv "$M/work/renamed-src" "$M/work/renamed-dst"
check mkdir-unsynced mkdir "$M/work/newdir"

echo "CRASH-MARKER"
done_marker
# The host cuts the power now.
while :; do sleep 10; done
