#!/bin/sh
# 100,000 files, run in the guest: guest-tests/scenarios/manyfiles.sh /mnt
# Creates, stats and removes NDIRS x PERDIR files (100 x 1000 by default)
# with a static helper (manyfiles.host-setup.sh compiles it into the share),
# timing each phase. The host samples the daemon's open descriptors meanwhile
# (manyfiles.host-monitor.sh) and judges them afterwards (manyfiles.host.sh).
#
# Two modes, chosen on the host with MANYFILES_EXPECT (written to the share):
#   ok       (default) every operation succeeds;
#   exhaust  the daemon runs out of descriptors on purpose
#            (--daemon-args "--rlimit-nofile 256 --inode-file-handles never"):
#            the guest must see EMFILE/ENFILE, and the mount must work again
#            once the guest drops its inode cache.
. /scenarios/lib.sh
M=${1:-/mnt}
BIN=$M/.manyfiles-bin
MODE=$(cat "$M/.manyfiles-expect" 2>/dev/null || echo ok)
set -- $(cat "$M/.manyfiles-size" 2>/dev/null || echo 100 1000)
ND=$1 PD=$2
N=$((ND * PD))
W=$M/many
info "mode $MODE, $ND dirs x $PD files = $N files"

if [ ! -x "$BIN" ]; then
    fail helper "no $BIN (manyfiles.host-setup.sh compiles it)"
    done_marker
    exit 0
fi
mkdir -p "$W"
t_all=$(now)
out_of_fds=0
for op in create stat remove; do
    t=$(now)
    out=$("$BIN" "$op" "$W" "$ND" "$PD" 2>&1)
    rc=$?
    info "$out (phase $(elapsed "$t") s)"
    ok=$(echo "$out" | sed -n 's/.* ok=\([0-9]*\).*/\1/p')
    em=$(echo "$out" | sed -n 's/.* emfile=\([0-9]*\).*/\1/p')
    en=$(echo "$out" | sed -n 's/.* enfile=\([0-9]*\).*/\1/p')
    out_of_fds=$((out_of_fds + ${em:-0} + ${en:-0}))
    if [ "$MODE" = ok ]; then
        expect "$op-$N-files" "$rc ok=$ok" "0 ok=$N"
    fi
done
info "create+stat+remove of $N files: $(elapsed "$t_all") s"

if [ "$MODE" = ok ]; then
    expect all-removed "$(ls -A "$W" 2>&1 | wc -l)" 0
else
    if [ "$out_of_fds" -gt 0 ]; then
        pass "guest-saw-emfile-or-enfile ($out_of_fds errors)"
    else
        fail guest-saw-emfile-or-enfile "no EMFILE/ENFILE at all: descriptors were not exhausted"
    fi
    # Dropping the guest's dentries and inodes sends FORGETs; the daemon
    # closes the descriptors they held and serves normally again. Leftovers
    # go by name (LOOKUP + UNLINK, one inode at a time): `rm -rf` would list
    # whole directories with READDIRPLUS, whose entries each hold a
    # descriptor with --inode-file-handles never, and run out again.
    # FORGETs are sent asynchronously, so a pass can still run out while the
    # daemon catches up: repeat until a pass sees no EMFILE/ENFILE.
    sync
    for pass_no in 1 2 3 4 5; do
        echo 3 > /proc/sys/vm/drop_caches
        out=$("$BIN" remove "$W" "$ND" "$PD" 2>&1)
        info "cleanup pass $pass_no: $out"
        case "$out" in *" emfile=0 enfile=0 "*) break ;; esac
        sleep 2
    done
    expect leftovers-removed "$(ls -A "$W" 2>&1 | wc -l)" 0
    rmdir "$W"
    R=$M/recovery
    mkdir -p "$R"
    ok_all=1
    for op in create stat remove; do
        out=$("$BIN" "$op" "$R" 2 100 2>&1) || ok_all=0
        info "after recovery: $out"
    done
    rmdir "$R"
    if [ "$ok_all" = 1 ]; then pass recovered-after-forget; else fail recovered-after-forget "operations still fail"; fi
fi
check mount-still-works sh -c "echo alive > '$M/alive' && [ \"\$(cat '$M/alive')\" = alive ] && rm '$M/alive'"
done_marker
