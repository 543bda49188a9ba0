#!/bin/sh
# File locks between two guest processes on the virtio-fs share behave as on
# a local filesystem: fcntl record locks (conflicts, shared read locks,
# F_GETLK with the holder's pid, F_SETLKW waiting, release on exit and on
# any close, EDEADLK, EINTR), OFD locks and flock(2), each checked the same
# way on the guest's own tmpfs first, so a difference shows up as a FAIL.
. /scenarios/lib.sh
M=${1:-/mnt}
LK=$M/lk
SYNC=/tmp/lk-sync
mkdir -p $SYNC /tmp/local

# wait_for FILE: up to 30 s for FILE to appear.
wait_for() {
    _i=0
    while [ ! -e "$1" ]; do
        _i=$((_i + 1)); [ $_i -gt 300 ] && return 1
        sleep 0.1
    done
}

# hold NAME MODE FILE START LEN TYPE: a background holder; sets $holder.
hold() {
    rm -f $SYNC/$1.ready $SYNC/$1.release
    $LK hold "$2" "$3" "$4" "$5" "$6" $SYNC/$1.ready $SYNC/$1.release &
    holder=$!
    wait_for $SYNC/$1.ready || fail "$1-holder" "holder did not get its lock"
}
release() { touch $SYNC/$1.release; wait "$holder"; }

# try MODE FILE START LEN TYPE: prints locked, conflict or error.
try() {
    $LK try "$@" 2>/dev/null
    case $? in 0) echo locked ;; 1) echo conflict ;; *) echo error ;; esac
}

# suite DIR TAG: every check against files in DIR, names prefixed with TAG.
suite() {
    d=$1; t=$2; f=$d/lockfile
    : > $f

    hold "$t-w" posix $f 0 10 w
    expect "$t-posix-write-conflicts" "$(try posix $f 0 10 w)" conflict
    expect "$t-posix-read-conflicts-with-write" "$(try posix $f 5 1 r)" conflict
    expect "$t-posix-disjoint-range-is-free" "$(try posix $f 10 10 w)" locked
    expect "$t-getlk-reports-holder" "$($LK getlk $f 0 0 w)" "W 0 10 $holder"
    release "$t-w"
    expect "$t-posix-free-after-release" "$(try posix $f 0 10 w)" locked
    expect "$t-getlk-after-release" "$($LK getlk $f 0 0 w)" none

    hold "$t-r" posix $f 0 0 r
    expect "$t-posix-read-locks-share" "$(try posix $f 0 0 r)" locked
    expect "$t-posix-write-blocked-by-read" "$(try posix $f 0 0 w)" conflict
    release "$t-r"

    hold "$t-wait" posix $f 0 0 w
    rm -f $SYNC/$t.waited
    ( $LK wait posix $f 0 0 w && touch $SYNC/$t.waited ) &
    waiter=$!
    sleep 1
    if [ -e $SYNC/$t.waited ]; then
        fail "$t-setlkw-blocks" "F_SETLKW returned while the lock was held"
    else
        pass "$t-setlkw-blocks"
    fi
    release "$t-wait"
    if wait_for $SYNC/$t.waited; then pass "$t-setlkw-wakes-on-release"; else fail "$t-setlkw-wakes-on-release" "still blocked"; fi
    wait $waiter

    hold "$t-kill" posix $f 0 0 w
    kill -9 $holder; wait $holder 2>/dev/null
    expect "$t-posix-released-when-holder-dies" "$(try posix $f 0 0 w)" locked

    check "$t-posix-released-on-any-close" $LK closeother $f
    check "$t-posix-deadlock-detected" $LK deadlock $f
    check "$t-posix-setlkw-interrupted-by-signal" $LK eintr $f

    hold "$t-ofd" ofd $f 0 0 w
    expect "$t-ofd-conflicts" "$(try ofd $f 0 0 w)" conflict
    expect "$t-ofd-blocks-posix" "$(try posix $f 0 0 r)" conflict
    release "$t-ofd"

    hold "$t-flock" flock $f 0 0 w
    expect "$t-flock-exclusive-conflicts" "$(try flock $f 0 0 w)" conflict
    expect "$t-flock-shared-conflicts" "$(try flock $f 0 0 r)" conflict
    expect "$t-flock-independent-of-posix" "$(try posix $f 0 0 w)" locked
    release "$t-flock"
    expect "$t-flock-free-after-release" "$(try flock $f 0 0 w)" locked

    hold "$t-flock-sh" flock $f 0 0 r
    expect "$t-flock-shared-shares" "$(try flock $f 0 0 r)" locked
    expect "$t-flock-exclusive-blocked-by-shared" "$(try flock $f 0 0 w)" conflict
    release "$t-flock-sh"
}

if [ ! -x "$LK" ]; then
    fail lk-helper "no $LK (locks.host-setup.sh builds it)"
    done_marker
    exit 0
fi
suite /tmp/local local
suite "$M" share
done_marker
