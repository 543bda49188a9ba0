#!/bin/sh
# SYNCFS waits for exactly the writes taken before it (issue 4), in the guest:
#   guest-tests/syncfs-epochs.sh   (builds the daemon with test hooks and runs this
#                                   with 4 request queues and 4 vCPUs)
# The daemon holds every WRITE at file offset 1 MiB for 3 s inside its epoch
# (--test-slow-write-offset 1048576 --test-slow-write-ms 3000). Timeline:
#   t=0.0  process A (CPU 0) writes 4 KiB at 1 MiB into a   -> held until t=3.0
#   t=0.5  process B (CPU 1) runs syncfs on the mount       -> waits for A only
#   t=1.0  process C (CPU 2) writes 4 KiB at 1 MiB into c   -> held until t=4.0
# B must take about 2.5 s: it ends after A, well before C; C must take about
# 3.0 s, its own hold only (it must not wait for A's).
#
# The same timeline on slow storage instead of the hook:
#   guest-tests/syncfs-slowfs.sh   (a release build without hooks shares a
#                                   slowfs mount that holds every WRITE to a and
#                                   c for 3 s; a and c are made on the host, so
#                                   SYNCFS_PREPARED=1 skips writing them here)
. /scenarios/lib.sh
M=${1:-/mnt}
T=/tmp/syncfs-epochs
mkdir -p "$T"

held_write() { # FILE CPU RESULT: write one held block, record when it started and ended
    s=$(now)
    taskset -c "$2" dd if=/dev/zero of="$1" bs=4096 seek=256 count=1 conv=notrunc 2>/dev/null \
        && echo "$s $(now)" > "$3" || echo failed > "$3"
}

# Files exist and the first SYNCFS (a whole-filesystem fallback) is out of the way.
if [ "${SYNCFS_PREPARED:-0}" != 1 ]; then
    check prepare-a dd if=/dev/zero of="$M/a" bs=4096 count=1
    check prepare-c dd if=/dev/zero of="$M/c" bs=4096 count=1
fi
check warm-up-syncfs sync -f "$M"

t0=$(now)
held_write "$M/a" 0 "$T/a.end" &
sleep 0.5
( s=$(now); if taskset -c 1 sync -f "$M"; then echo "$s $(now)"; else echo failed; fi > "$T/b" ) &
sleep 0.5
held_write "$M/c" 2 "$T/c.end" &
wait

a=$(cat "$T/a.end"); c=$(cat "$T/c.end"); b=$(cat "$T/b")
if [ "$a" = failed ] || [ "$c" = failed ] || [ "$b" = failed ]; then
    fail held-writes-and-syncfs "A: $a, B: $b, C: $c"
else
    set -- $a
    a_end=$2
    set -- $c
    c_start=$1 c_end=$2
    set -- $b
    b_start=$1 b_end=$2
    rel() { awk -v a="$t0" -v b="$1" 'BEGIN { printf "%.2f", b - a }'; }
    took() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }
    b_took=$(took "$b_start" "$b_end")
    c_took=$(took "$c_start" "$c_end")
    info "A ended at $(rel "$a_end") s, B (syncfs) ran $(rel "$b_start") .. $(rel "$b_end") s = $b_took s, C ran $(rel "$c_start") .. $(rel "$c_end") s = $c_took s"
    echo "SYNCFS-EPOCHS a_end=$(rel "$a_end") b_start=$(rel "$b_start") b_end=$(rel "$b_end") b_took=$b_took c_start=$(rel "$c_start") c_end=$(rel "$c_end") c_took=$c_took"
    # B answered after A's write (it waited for it) ... A's end is taken
    # after dd closed the file (FLUSH and RELEASE, both answered by the
    # daemon) and exited, so B, answered as soon as A's WRITE was done, may
    # end a little before it: allow 0.3 s (not waiting would end B near 0.5 s).
    if awk -v b="$b_end" -v a="$a_end" 'BEGIN { exit !(b >= a - 0.3) }'; then
        pass syncfs-waited-for-earlier-write
    else
        fail syncfs-waited-for-earlier-write "B ended at $b_end, before A at $a_end"
    fi
    # ... and well before C's write was done (it did not wait for it).
    if awk -v b="$b_end" -v c="$c_end" 'BEGIN { exit !(b < c - 0.5) }'; then
        pass syncfs-did-not-wait-for-later-write
    else
        fail syncfs-did-not-wait-for-later-write "B ended at $b_end, C at $c_end"
    fi
    # About 2.5 s: the rest of A's hold, not A's plus C's.
    if awk -v t="$b_took" 'BEGIN { exit !(t >= 2.0 && t <= 3.2) }'; then
        pass syncfs-took-about-2.5s
    else
        fail syncfs-took-about-2.5s "took $b_took s"
    fi
    # C took its own 3 s hold, not also the rest of A's (5 s when the thread
    # that took A's WRITE off the queue was stuck in the host with it).
    if awk -v t="$c_took" 'BEGIN { exit !(t >= 2.5 && t <= 3.7) }'; then
        pass later-write-took-about-3.0s
    else
        fail later-write-took-about-3.0s "took $c_took s"
    fi
fi
done_marker
