#!/bin/sh
# Guest side of guest-tests/migration.sh (a live migration between two QEMUs,
# each with its own epochfsd on one shared directory): guest-tests/scenarios/migration.sh /mnt
#
# Before the move it opens, and keeps open across it:
#   * loop.log, appended to by a loop through one descriptor (a line a tick);
#   * read.bin (256 KiB of a known pattern), read by offset through one
#     descriptor: the first half before the move, the rest after;
#   * unlinked.bin, opened and then removed (kernel arg migmode=file-handles
#     only: find-paths cannot find an inode without a name);
#   * a process whose working directory is deep/a/b/c/d.
# It prints MIGRATION-READY and waits for the host to create .migrated in the
# share after QMP reported the migration completed (the LOOKUP of .migrated then
# reaches the destination's daemon). Then it checks that every descriptor
# goes on working, checksums, and writes after.txt for the host to check.
. /scenarios/lib.sh
M=${1:-/mnt}
mode=${migmode:-find-paths}

mkdir -p "$M/deep/a/b/c/d"
i=0
while [ $i -lt 4096 ]; do printf '%063d\n' $i; i=$((i + 1)); done > /tmp/read.bin
check setup-copy-read-file cp /tmp/read.bin "$M/read.bin"
want_read=$(md5sum < /tmp/read.bin | cut -d' ' -f1)
exec 4< "$M/read.bin"
dd bs=4096 count=32 <&4 > /tmp/read-part1 2>/dev/null

if [ "$mode" = file-handles ]; then
    printf 'still here after unlink\n' > "$M/unlinked.bin"
    exec 5< "$M/unlinked.bin"
    rm "$M/unlinked.bin"
fi

(
    exec 3>> "$M/loop.log"
    n=0
    while [ ! -e "$M/stop-loop" ]; do
        n=$((n + 1))
        echo "line $n" >&3
        sleep 0.05
    done
    echo "end $n" >&3
) &
writer=$!

(
    cd "$M/deep/a/b/c/d" || exit 1
    while [ ! -e stop-cwd ]; do sleep 0.2; done
    pwd > where
    echo "written from a deep cwd" > from-cwd
) &
walker=$!

sleep 1
before=$(wc -l < "$M/loop.log")
info "lines before the move: $before"
echo "MIGRATION-READY"

t0=$(now)
wait_for_migration "$t0"
sleep 1

touch "$M/stop-loop"
wait $writer
lines=$(grep -c '^line ' "$M/loop.log")
last=$(tail -n 1 "$M/loop.log")
expect loop-ended-cleanly "$(echo "$last" | cut -d' ' -f1)" end
expect loop-has-no-gap "$(awk '/^line / { if ($2 != NR) { print "gap at " NR; exit } }' "$M/loop.log")" ""
if [ "$lines" -gt "$before" ]; then
    pass loop-wrote-after-the-move
else
    fail loop-wrote-after-the-move "$lines lines, $before before the move"
fi

dd bs=4096 <&4 > /tmp/read-part2 2>/dev/null
expect read-by-offset-continues "$(cat /tmp/read-part1 /tmp/read-part2 | md5sum | cut -d' ' -f1)" "$want_read"
exec 4<&-

if [ "$mode" = file-handles ]; then
    expect unlinked-open-file "$(cat <&5)" "still here after unlink"
    exec 5<&-
fi

touch "$M/deep/a/b/c/d/stop-cwd"
wait $walker
expect deep-cwd "$(cat "$M/deep/a/b/c/d/where")" "$M/deep/a/b/c/d"
expect deep-cwd-write "$(cat "$M/deep/a/b/c/d/from-cwd")" "written from a deep cwd"

printf 'written on the destination\n' > "$M/after.txt"
expect write-after-the-move "$(cat "$M/after.txt")" "written on the destination"
check syncfs-after-the-move sync -f "$M/after.txt"

done_marker
