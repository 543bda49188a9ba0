#!/bin/sh
# NEEDS-MOUNT: no
# Checks that every binary added with EXTRA_BINS (in /usr/local/bin) starts in the
# guest, i.e. its ldd libraries made it into the initramfs:
#   EXTRA_BINS="/usr/bin/fio" guest-tests/run.sh extra-bins --no-daemon
. /scenarios/lib.sh
n=0
for b in /usr/local/bin/*; do
    [ -x "$b" ] || continue
    n=$((n + 1))
    out=$("$b" --version 2>&1 </dev/null); rc=$?
    # 127 = not found / loader missing; anything else means the binary ran.
    case "$out" in
        *"not found"*|*"error while loading shared libraries"*) fail "run-$(basename "$b")" "$out" ;;
        *) if [ $rc = 127 ]; then fail "run-$(basename "$b")" "exit 127: $out"; else pass "run-$(basename "$b")"; fi ;;
    esac
done
[ $n -gt 0 ] || fail extra-bins "no binaries in /usr/local/bin (set EXTRA_BINS)"
done_marker
