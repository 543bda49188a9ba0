#!/bin/sh
# Guest side of `guest-tests/migration.sh --held-sync`: a live migration that
# starts while a `sync -f` waits for a held write. The source daemon (a
# test-hooks build) holds every WRITE at file offset 1 MiB for 3 s after its
# host write, inside its SYNCFS epoch. Timeline:
#   t=0.0  process A writes 4 KiB of a known pattern at 1 MiB into held.bin
#          -> held in the source daemon until about t=3.0
#   t=0.5  process B runs `sync -f` on the share -> waits for A's write
#   t=1.0  MIGRATION-READY: the host starts the QMP migrate while both wait;
#          with a large downtime limit QEMU stops the VM at once, and the
#          source daemon's queues stop only once A and B are answered
# Stopping the source's queues waits for both answers, so A and B end
# successfully whichever side of the switch-over they end on, and B (the
# SYNCFS) ends after A (it covered its earlier write). On the destination
# (after the host created .migrated) the guest reads A's block back from the
# destination's daemon (page cache dropped) and writes after.txt (write C),
# which the host checks.
. /scenarios/lib.sh
M=${1:-/mnt}
T=/tmp/migration-held
mkdir -p "$T"

# 4 KiB of numbered lines; the host builds the same block to compare.
i=0
while [ $i -lt 64 ]; do printf '%063d\n' $i; i=$((i + 1)); done > "$T/block"
want=$(md5sum < "$T/block" | cut -d' ' -f1)

# The file exists and the first SYNCFS (a whole-filesystem fallback) is out of the way.
check prepare-held-file dd if=/dev/zero of="$M/held.bin" bs=4096 count=1
check warm-up-syncfs sync -f "$M"

t0=$(now)
( s=$(now)
  if dd if="$T/block" of="$M/held.bin" bs=4096 seek=256 count=1 conv=notrunc 2>/dev/null; then
      echo "$s $(now)"
  else
      echo failed
  fi > "$T/a" ) &
sleep 0.5
( s=$(now); if sync -f "$M"; then echo "$s $(now)"; else echo failed; fi > "$T/b" ) &
sleep 0.5
ready=$(now)
echo "MIGRATION-READY"

wait_for_migration "$t0"
wait

a=$(cat "$T/a"); b=$(cat "$T/b")
rel() { awk -v a="$t0" -v b="$1" 'BEGIN { printf "%.2f", b - a }'; }
if [ "$a" = failed ] || [ -z "$a" ]; then
    fail held-write-completed "A: '$a'"
else
    pass held-write-completed
fi
if [ "$b" = failed ] || [ -z "$b" ]; then
    fail syncfs-behind-it-completed "B: '$b'"
else
    pass syncfs-behind-it-completed
fi
if [ "$a" != failed ] && [ -n "$a" ] && [ "$b" != failed ] && [ -n "$b" ]; then
    set -- $a
    a_start=$1 a_end=$2
    set -- $b
    b_start=$1 b_end=$2
    # Guest times: the guest's clock stands still while the VM is stopped,
    # so A's hold looks shorter here when the switch-over came during it.
    # The host checks, by its own clock, that it did (held_window).
    info "A (held write) ran $(rel "$a_start") .. $(rel "$a_end") s, B (sync -f) ran $(rel "$b_start") .. $(rel "$b_end") s, MIGRATION-READY at $(rel "$ready") s (guest clock)"
    # B was answered after A's WRITE: it covered its earlier write. A's end
    # is taken after dd closed the file (FLUSH, RELEASE), so B may end a
    # little before it: allow 0.3 s (not waiting would end B near 0.5 s).
    if awk -v b="$b_end" -v a="$a_end" 'BEGIN { exit !(b >= a - 0.3) }'; then
        pass syncfs-waited-for-the-held-write
    else
        fail syncfs-waited-for-the-held-write "B ended at $(rel "$b_end") s, A at $(rel "$a_end") s"
    fi
    # ... and it was still waiting when the host was told to migrate (a
    # SYNCFS that did not wait would end near 0.5 s, before that line).
    if awk -v b="$b_end" -v r="$ready" 'BEGIN { exit !(b > r) }'; then
        pass syncfs-still-waiting-at-migration-ready
    else
        fail syncfs-still-waiting-at-migration-ready "B ended at $(rel "$b_end") s, MIGRATION-READY at $(rel "$ready") s"
    fi
fi

# A's block, read from the destination's daemon (not the page cache).
sync
echo 3 > /proc/sys/vm/drop_caches
got=$(dd if="$M/held.bin" bs=4096 skip=256 count=1 2>/dev/null | md5sum | cut -d' ' -f1)
expect held-write-read-back-on-the-destination "$got" "$want"

# Write C, after the switch-over.
printf 'written on the destination\n' > "$M/after.txt"
expect write-after-the-move "$(cat "$M/after.txt")" "written on the destination"
check syncfs-after-the-move sync -f "$M"

done_marker
