#!/usr/bin/env bash
# The launcher table: boots a 6.12 guest (QEMU, TCG) once per launcher argv form
# and daemon, the daemon started with exactly the argv that launcher passes, and
# runs the `launcher` scenario (mount, read the host's file, write, rename, list,
# unlink; the host checks the guest's file). Prints a markdown table and writes it
# to guest-tests/work/launcher-argv.md.
#
# Usage: guest-tests/launcher-argv.sh [--daemons "epochfsd virtiofsd"] [--only ROW]
#   ROW: one of the names in the first column (libvirt-9, libvirt-9-chroot-debug,
#   libvirt-11, libvirt-session, kata-go, kata-2, kata-runtime-rs, cloud-hypervisor)
# Environment: as run.sh (EPOCHFSD_BIN, VIRTIOFSD_BIN, KERNEL, SKIP_DEPS).
# Each boot takes about half a minute under TCG; 16 in all.
# Exit status: 0 when every epochfsd row served.
set -uo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
DAEMONS="epochfsd virtiofsd" ONLY=""
while [ $# -gt 0 ]; do
    case "$1" in
        --daemons) DAEMONS=$2; shift 2 ;;
        --only) ONLY=$2; shift 2 ;;
        *) sed -n '2,/^set -uo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 2 ;;
    esac
done

# name | listen fd (empty: the daemon binds --socket-path) | user | argv
ROWS=(
    "libvirt-9|7||--fd=7 -o source=@SHARE@,cache=always,xattr --thread-pool-size=4"
    "libvirt-9-chroot-debug|7||--fd=7 -o source=@SHARE@,cache=always,xattr,sandbox=chroot --thread-pool-size=4 -d"
    "libvirt-11|7||--fd=7 --shared-dir @SHARE@ --cache always --sandbox chroot --xattr --thread-pool-size=4 --rlimit-nofile=4096"
    "libvirt-session|7|65534|--fd=7 --shared-dir @SHARE@ --uid-map=:0:65534:1: --gid-map=:0:65534:1:"
    "kata-go|3||--syslog --cache=auto --shared-dir=@SHARE@ --fd=3 --thread-pool-size=1 --announce-submounts"
    "kata-2|3||--syslog --cache=auto --shared-dir=@SHARE@ --fd=3 --thread-pool-size=1 -o announce_submounts"
    "kata-runtime-rs|||--socket-path @SOCK@ --shared-dir @SHARE@ --cache auto --sandbox none --seccomp none --inode-file-handles never --thread-pool-size=1 --announce-submounts --xattr"
    "cloud-hypervisor|||--log-level debug --socket-path=@SOCK@ --shared-dir=@SHARE@ --cache=never --thread-pool-size=4"
)

OUT=$HERE/work/launcher-argv.md
mkdir -p "$HERE/work"
declare -A RESULT=()
status=0
for row in "${ROWS[@]}"; do
    IFS='|' read -r name fd user argv <<<"$row"
    [ -z "$ONLY" ] || [ "$ONLY" = "$name" ] || continue
    for kind in $DAEMONS; do
        # no_timer_check: a TCG guest on a busy host may otherwise panic
        # early in "IO-APIC + timer doesn't work".
        args=(launcher --daemon "$kind" --daemon-cmd "$argv" --timeout 240
            --kernel-args no_timer_check)
        [ -z "$fd" ] || args+=(--listen-fd "$fd")
        [ -z "$user" ] || args+=(--daemon-user "$user")
        echo "== $name / $kind: $argv" >&2
        out=$("$HERE/run.sh" "${args[@]}" 2>&1)
        rc=$?
        run=$(readlink -f "$HERE/work/runs/latest")
        summary=$(printf '%s\n' "$out" | tail -n 1)
        ready=no
        grep -q 'Waiting for vhost-user socket connection' "$run/daemon.log" 2>/dev/null && ready=yes
        if [ "$rc" = 0 ]; then
            cell="serves (${summary##*: }; ready line: $ready)"
        elif grep -q 'Kernel panic' "$run/console.txt" 2>/dev/null; then
            cell="not a daemon result: the guest kernel panicked ($run)"
        else
            why=$(grep -m1 -E '^(epochfsd|virtiofsd): |ERROR|Error|error:' "$run/daemon.log" 2>/dev/null |
                sed 's/^\[[^]]*\] *//' | cut -c1-160)
            [ -n "$why" ] || why=$(printf '%s\n' "$out" | grep -m1 '^FAIL' | cut -c1-160)
            cell="fails: ${why:-see $run}"
            [ "$kind" = epochfsd ] && status=1
        fi
        RESULT[$name/$kind]=$cell
        echo "   $cell" >&2
    done
done

{
    echo "| launcher | exact argv (after the binary) | epochfsd | virtiofsd 1.14 |"
    echo "|---|---|---|---|"
    for row in "${ROWS[@]}"; do
        IFS='|' read -r name fd user argv <<<"$row"
        [ -z "$ONLY" ] || [ "$ONLY" = "$name" ] || continue
        shown=$argv
        [ -z "$user" ] || shown="$shown (as uid $user)"
        echo "| $name | \`$shown\` | ${RESULT[$name/epochfsd]:-not run} | ${RESULT[$name/virtiofsd]:-not run} |"
    done
} | tee "$OUT"
exit "$status"
