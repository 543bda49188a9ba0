#!/bin/sh
# Guest side of `guest-tests/migration.sh --held-sync`: a live migration that
# starts while a `sync -f` waits for a held write. The source daemon (a
# test-hooks build) holds every WRITE at file offset 1 MiB for 3 s after its
# host write, inside its SYNCFS epoch. Timeline:
#   t=0.0  process A writes 4 KiB of a known pattern at 1 MiB into held.bin
#          -> held in the source daemon until about t=3.0
#   t=0.5  process B runs `sync -f` on the share -> waits for A's write
#   t=0.6  MIGRATION-READY: the host starts the QMP migrate while both wait
#          and writes into .migrated how long after seeing that line it did
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
sleep 0.1
ready=$(now)
echo "MIGRATION-READY"

while [ ! -e "$M/.migrated" ]; do
    sleep 0.2
    if [ "$(elapsed "$t0" | cut -d. -f1)" -gt 900 ]; then
        fail wait-for-migration "no .migrated after 900 s"
        break
    fi
done
info "the host says the migration completed"
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
fi
if [ "$a" != failed ] && [ -n "$a" ] && [ "$b" != failed ] && [ -n "$b" ]; then
    pass syncfs-behind-it-completed
    set -- $a
    a_start=$1 a_end=$2
    set -- $b
    b_start=$1 b_end=$2
    info "A (held write) ran $(rel "$a_start") .. $(rel "$a_end") s, B (sync -f) ran $(rel "$b_start") .. $(rel "$b_end") s"
    # A was held (about 3 s): otherwise nothing waited across the move.
    if awk -v s="$a_start" -v e="$a_end" 'BEGIN { exit !(e - s >= 2.5) }'; then
        pass write-was-held
    else
        fail write-was-held "A took $(awk -v s="$a_start" -v e="$a_end" 'BEGIN { printf "%.2f", e - s }') s"
    fi
    # The migration began while A was still held: A went on for longer
    # after MIGRATION-READY than the host took from seeing that line to
    # issuing the QMP migrate (written into .migrated, in ms; the host polls
    # the console every 0.1 s, so 0.2 s of margin).
    issued=$(cat "$M/.migrated")
    if awk -v r="$ready" -v e="$a_end" -v d="$issued" 'BEGIN { exit !(d != "" && e - r > d / 1000 + 0.2) }'; then
        pass migration-started-while-the-write-was-held
    else
        fail migration-started-while-the-write-was-held "A ended $(rel "$a_end") s, READY at $(rel "$ready") s, migrate issued ${issued} ms after the host saw READY"
    fi
    info "migrate issued ${issued} ms after the host saw MIGRATION-READY (at $(rel "$ready") s)"
    # B was answered after A's WRITE: it covered its earlier write. A's end
    # is taken after dd closed the file (FLUSH, RELEASE), so B may end a
    # little before it: allow 0.3 s (not waiting would end B near 0.5 s).
    if awk -v b="$b_end" -v a="$a_end" 'BEGIN { exit !(b >= a - 0.3) }'; then
        pass syncfs-waited-for-the-held-write
    else
        fail syncfs-waited-for-the-held-write "B ended at $(rel "$b_end") s, A at $(rel "$a_end") s"
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
