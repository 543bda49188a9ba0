#!/usr/bin/env bash
# Host side, before the crash-sim workload boots: what the share holds before
# the daemon starts is durable (the crash simulation's starting point).
#   crash-sim.host-setup.sh SHAREDIR
set -euo pipefail
S=${1:?usage: crash-sim.host-setup.sh SHAREDIR}
mkdir -p "$S/work"
printf 'version 1\n' > "$S/config"
printf 'version 1\n' > "$S/config2"
printf 'original\n' > "$S/work/pre.txt"
printf 'src\n' > "$S/work/renamed-src"
chmod 0644 "$S/config" "$S/config2" "$S/work/pre.txt" "$S/work/renamed-src"
chmod 0755 "$S/work"
# Two SQLite databases in WAL mode for the SQLite part of the workload.
if command -v sqlite3 >/dev/null; then
    mkdir -p "$S/db"
    for db in full off; do
        sqlite3 "$S/db/$db.db" "CREATE TABLE t(i INTEGER PRIMARY KEY, v TEXT); PRAGMA journal_mode=WAL;" >/dev/null
    done
fi
