#!/bin/sh
# NEEDS-MOUNT: no
# Guest benchmark comparing daemons within one boot (guest-tests/fsmark-compare.sh
# starts it): every virtio-fs tag in FSM_TAGS is mounted on /mnt/TAG and fs_mark
# runs with each sync mode of FSM_MODES (0: none, 1: fsync before close, 2: one
# sync() per loop) on every mount back to back, the mount that goes first
# rotating; the whole round repeats FSM_REPS times. Each run: 2 threads,
# FSM_FILES 4 KiB files per thread and loop, FSM_LOOPS loops, in a new
# directory that is removed (and synced) after the run, outside the timing.
# Results: one line "TAG MODE REP FILES_PER_S" per run (the mean of fs_mark's
# per-loop Files/sec) in /mnt/TAG/fsmark-results.txt, and an INFO line per run.
. /scenarios/lib.sh
list() { printf '%s' "$1" | tr ',' ' '; }
TAGS=$(list "${FSM_TAGS:-virtiofsd,epochfsd}")
MODES=$(list "${FSM_MODES:-0,1,2}")
REPS=${FSM_REPS:-3}
FILES=${FSM_FILES:-400}
LOOPS=${FSM_LOOPS:-2}
RES=/tmp/fsmark-results

command -v fs_mark >/dev/null || { fail fs_mark "fs_mark is not in the initramfs (EXTRA_BINS)"; done_marker; exit 0; }
info "fsmark-compare: tags [$TAGS], modes [$MODES], $REPS reps, $FILES files x 2 threads x $LOOPS loops"

nmount=0 ntags=0
for t in $TAGS; do
    ntags=$((ntags + 1))
    mkdir -p "/mnt/$t" "$RES"
    : > "$RES/$t.txt"
    if mount -t virtiofs "$t" "/mnt/$t" 2>/tmp/mount.err; then
        nmount=$((nmount + 1))
        pass "mount-$t"
    else
        fail "mount-$t" "$(tr '\n' ' ' </tmp/mount.err)"
    fi
done
[ "$nmount" = "$ntags" ] || { done_marker; exit 0; }

# run_fsmark TAG MODE REP
run_fsmark() {
    _d=/mnt/$1/fsm-$2-$3
    rm -rf "$_d"
    sync
    if fs_mark -d "$_d" -t 2 -n "$FILES" -s 4096 -L "$LOOPS" -S "$2" -k >/tmp/fsm.out 2>&1; then
        # Data lines: FSUse% Count Size Files/sec App-Overhead.
        _rate=$(awk '$1 ~ /^[0-9]+$/ && NF >= 5 { s += $4; n++ } END { if (n) printf "%.1f", s / n }' /tmp/fsm.out)
        if [ -n "$_rate" ]; then
            echo "$1 $2 $3 $_rate" >> "$RES/$1.txt"
            info "fs_mark $1 -S $2 rep$3: $_rate files/s"
            pass "fsmark-$1-S$2-rep$3"
        else
            fail "fsmark-$1-S$2-rep$3" "no result: $(tr '\n' ' ' </tmp/fsm.out | cut -c1-200)"
        fi
    else
        fail "fsmark-$1-S$2-rep$3" "$(tr '\n' ' ' </tmp/fsm.out | cut -c1-200)"
    fi
    rm -rf "$_d"
    sync
}

start=$(now)
run_rounds "$REPS" run_fsmark "$MODES" "$TAGS"
info "timed runs took $(elapsed "$start") s"

for t in $TAGS; do
    check "results-$t" cp "$RES/$t.txt" "/mnt/$t/fsmark-results.txt"
    sync
    check "umount-$t" umount "/mnt/$t"
done
done_marker
