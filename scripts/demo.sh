#!/usr/bin/env bash
# epochfsd demo: share a host directory with a Linux guest over virtio-fs.
#
#   scripts/demo.sh [--queues N] [--smp N] [--daemon-args "..."]
#
# 1. installs QEMU 10, the 6.12 guest kernel, busybox-static (guest-tests/install-deps.sh)
# 2. builds epochfsd (cargo build --release; EPOCHFSD_BIN=... uses another binary)
# 3. puts a few files into guest-tests/work/demo-share/ on the host
# 4. boots a guest (QEMU, TCG) whose /mnt is that directory served by epochfsd; the
#    guest reads the host's files, writes its own (uname -a, date, a listing) and
#    powers off (guest-tests/run.sh demo, scenario guest-tests/scenarios/demo.sh)
# 5. shows the host's view of the directory.
set -uo pipefail

REPO=$(cd "$(dirname "$0")/.." && pwd)
SHARE=$REPO/guest-tests/work/demo-share

rm -rf "$SHARE"
mkdir -p "$SHARE"

"$REPO/guest-tests/run.sh" demo --shared-dir "$SHARE" "$@"
rc=$?

echo
echo "=== host view of $SHARE after the guest powered off ==="
(cd "$SHARE" && ls -lR .)
for f in host-hello.txt guest-hello.txt guest-dir/listing.txt; do
    echo
    echo "--- $f ---"
    cat "$SHARE/$f" 2>&1
done
echo
if [ "$rc" = 0 ]; then
    echo "demo: OK (guest console: guest-tests/work/runs/latest/console.log)"
else
    echo "demo: FAILED with status $rc (see guest-tests/work/runs/latest/)"
fi
exit "$rc"
