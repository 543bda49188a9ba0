#!/bin/sh
# Launcher scenario (guest-tests/launcher-argv.sh): the share a launcher's exact
# daemon argv serves is mounted; the guest reads the host's file, writes, lists,
# renames and removes, and leaves a file for the host to check.
. /scenarios/lib.sh
M=${1:-/mnt}

expect read-host-file "$(cat "$M/from-host.txt" 2>&1)" "written on the host"
check write-file sh -c "echo 'written in the guest' > '$M/from-guest.txt'"
expect read-back "$(cat "$M/from-guest.txt" 2>&1)" "written in the guest"
check mkdir mkdir "$M/dir"
check rename mv "$M/from-guest.txt" "$M/dir/from-guest.txt"
check list sh -c "ls '$M/dir' | grep -qx from-guest.txt"
check copy cp "$M/dir/from-guest.txt" "$M/guest-copy.txt"
check unlink rm "$M/guest-copy.txt"
check sync sync
info "mount: $(grep " $M " /proc/mounts)"
done_marker
