#!/bin/sh
# Demo scenario (scripts/demo.sh): the guest reads the files the host put into the
# share and writes a few of its own for the host to look at afterwards.
. /scenarios/lib.sh
M=${1:-/mnt}

info "host-hello.txt says: $(cat "$M/host-hello.txt" 2>&1)"
case "$(cat "$M/host-hello.txt" 2>&1)" in
    "Hello from the host "*) pass read-host-file ;;
    *) fail read-host-file "unexpected content" ;;
esac
expect read-host-dir "$(wc -l < "$M/host-data/numbers.txt" 2>&1) $(awk '{ s += $1 } END { print s }' "$M/host-data/numbers.txt" 2>&1)" "10 55"

{
    echo "Hello from the guest!"
    echo "uname -a: $(uname -a)"
    echo "date:     $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
    echo "cpus:     $(grep -c ^processor /proc/cpuinfo)"
    echo "mount:    $(grep " $M " /proc/mounts)"
} > "$M/guest-hello.txt"
check write-guest-hello grep -q '^Hello from the guest!' "$M/guest-hello.txt"

mkdir -p "$M/guest-dir"
ls -la "$M" > "$M/guest-dir/listing.txt"
check write-guest-listing grep -q host-hello.txt "$M/guest-dir/listing.txt"
cp "$M/host-data/numbers.txt" "$M/guest-dir/numbers-copy.txt"
check copy-host-file cmp "$M/host-data/numbers.txt" "$M/guest-dir/numbers-copy.txt"
check sync sync
info "guest view of the share:"
ls -la "$M" "$M/guest-dir" | sed 's/^/INFO:   /'
done_marker
