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

# 5. SQLite with its own durability protocol: 20 committed transactions into
# db/full.db (synchronous=FULL) and db/off.db (synchronous=OFF), both made on
# the host in WAL mode before the boot. They live in db/ because SQLite
# fsyncs the directory of a new WAL file, which would make every earlier
# name change in that directory durable too (the root's unsafe rename above). Each sqlite3 stays open (no checkpoint on
# close) until the power is cut.
sqlite_workload() { # NAME SYNC
    mkfifo "/tmp/$1.in"
    sqlite3 "$M/db/$1.db" < "/tmp/$1.in" > "/tmp/$1.out" 2>&1 &
    {
        echo "PRAGMA locking_mode=EXCLUSIVE; PRAGMA synchronous=$2;"
        for i in $(seq 1 20); do
            echo "BEGIN; INSERT INTO t(v) VALUES('row $i'); COMMIT;"
        done
        echo "SELECT 'committed', count(*) FROM t;"
    } > "/tmp/$1.cmds"
    # Opened read-write so this shell keeps the pipe's write end open.
    eval "exec $3<> /tmp/$1.in"
    cat "/tmp/$1.cmds" > "/tmp/$1.in"
    n=0
    while ! grep -q '^committed|' "/tmp/$1.out" && [ $n -lt 600 ]; do
        sleep 0.1; n=$((n + 1))
    done
    expect "sqlite-$1-committed" "$(grep '^committed|' "/tmp/$1.out")" "committed|20"
}
if command -v sqlite3 >/dev/null && [ -f "$M/db/full.db" ]; then
    sqlite_workload full FULL 3
    sqlite_workload off OFF 4
else
    info "no sqlite3 in the guest or no databases in the share: SQLite part skipped"
fi

echo "CRASH-MARKER"
done_marker
# The host cuts the power now.
while :; do sleep 10; done
