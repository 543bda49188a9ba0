#!/bin/sh
# Second boot of guest-tests/crash-sim.sh, on the share the crash left, with a
# daemon without --crash-sim: the tree must be exactly the model of the mode
# the first boot crashed in (kernel argument crashmode=drop-all|keep-metadata|
# random:SEED). See scenarios/crash-sim.sh for the workload.
. /scenarios/lib.sh
M=${1:-/mnt}
MODE=${crashmode:-drop-all}
info "checking the post-crash tree of mode $MODE"

# Every name under the mount but db/ (the SQLite part), sorted: directories as
# "path/", files as "path=content".
manifest() {
    (cd "$M" && find . -mindepth 1 ! -path ./db ! -path './db/*' | sort | while read -r p; do
        if [ -d "$p" ]; then echo "$p/"; else echo "$p=$(cat "$p")"; fi
    done)
}

SURVIVES_EVERY_MODE='./config=version 2
./pagecache.txt=cached
./tree/
./tree/a/
./tree/a/b/
./tree/a/b/leaf.txt=leaf
./work/
./work/durable.txt=durable'

DROP_ALL='./config=version 2
./config2=version 1
./pagecache.txt=cached
./tree/
./tree/a/
./tree/a/b/
./tree/a/b/leaf.txt=leaf
./work/
./work/durable.txt=durable
./work/pre.txt=original
./work/renamed-src=src'

KEEP_METADATA='./config=version 2
./config2=
./pagecache.txt=cached
./tree/
./tree/a/
./tree/a/b/
./tree/a/b/leaf.txt=leaf
./work/
./work/durable.txt=durable
./work/fsynced-only.txt=synced data
./work/newdir/
./work/nosync.txt=
./work/pre.txt=original
./work/renamed-dst=src'

got=$(manifest)
info "tree: $(printf '%s' "$got" | tr '\n' '|')"
case "$MODE" in
    drop-all) expect tree-is-the-drop-all-model "$got" "$DROP_ALL" ;;
    keep-metadata)
        expect tree-is-the-keep-metadata-model "$got" "$KEEP_METADATA"
        expect unsynced-replace-lost-its-data "$(cat "$M/config2")" "" ;;
    random:*) ;;
    *) fail mode "unknown crashmode $MODE" ;;
esac
# In every mode: what was made durable is there.
missing=$(printf '%s\n' "$SURVIVES_EVERY_MODE" | while read -r line; do
    printf '%s\n' "$got" | grep -qxF "$line" || echo "$line"
done)
expect durable-changes-survive "$missing" ""
expect safe-replace-survives "$(cat "$M/config")" "version 2"
check no-holding-directory test ! -e "$M/.epochfsd-crash-sim"
# SQLite: every transaction committed with synchronous=FULL survives in every
# mode; what synchronous=OFF keeps is shown (under drop-all: nothing).
if command -v sqlite3 >/dev/null && [ -f "$M/db/full.db" ]; then
    full=$(sqlite3 "$M/db/full.db" "PRAGMA integrity_check; SELECT count(*) FROM t;" 2>&1 | tr '\n' ' ')
    off=$(sqlite3 "$M/db/off.db" "PRAGMA integrity_check; SELECT count(*) FROM t;" 2>&1 | tr '\n' ' ')
    info "sqlite after a $MODE crash: synchronous=FULL: $full; synchronous=OFF: $off (of 20 committed)"
    expect sqlite-full-keeps-every-commit "$full" "ok 20 "
    [ "$MODE" = drop-all ] && expect sqlite-off-loses-every-commit "$off" "ok 0 "
else
    info "no sqlite3 in the guest or no databases in the share: SQLite part skipped"
fi
done_marker
