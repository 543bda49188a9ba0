#!/usr/bin/env bash
# Host-side checks after scenarios/smoke.sh ran in the guest:
#   smoke.host.sh SHAREDIR
# Prints PASS/FAIL lines like the guest does.
set -uo pipefail
S=${1:?usage: smoke.host.sh SHAREDIR}

pass() { echo "PASS: host-$1"; }
fail() { echo "FAIL: host-$1: $2"; }
expect() {
    if [ "$2" = "$3" ]; then pass "$1"; else fail "$1" "got '$(printf %s "$2" | tr '\n' '|')', want '$(printf %s "$3" | tr '\n' '|')'"; fi
}
content() { cat "$1" 2>&1; }

# bigfile: the guest's recorded sum, the host's sum, and the expected content
# regenerated here independently (catches consistent corruption on both sides).
if [ -f "$S/bigfile.sha256" ] && [ -f "$S/bigfile" ]; then
    guest_sum=$(cut -d' ' -f1 "$S/bigfile.sha256")
    host_sum=$(sha256sum "$S/bigfile" | cut -d' ' -f1)
    expect bigfile-sha256-matches-guest "$host_sum" "$guest_sum"
    expect bigfile-size "$(stat -c %s "$S/bigfile")" 268435456
    pattern=$(mktemp)
    seq 1 200000 | head -c 1048560 > "$pattern"
    want_sum=$(for ((i = 0; i < 256; i++)); do printf 'B%014d\n' "$i"; cat "$pattern"; done | sha256sum | cut -d' ' -f1)
    rm -f "$pattern"
    expect bigfile-expected-content "$host_sum" "$want_sum"
else
    fail bigfile "bigfile or bigfile.sha256 missing in $S"
fi

expect keep.txt "$(content "$S/keep.txt")" "keep me"
expect renamed.txt "$(content "$S/renamed.txt")" "hello world
second line"
expect chmod.txt-mode "$(stat -c %a "$S/chmod.txt" 2>&1) $(content "$S/chmod.txt")" "640 mode test"
if cmp -s "$S/trunc.bin" <(printf 'hello\0\0\0\0\0'); then pass trunc.bin; else fail trunc.bin "content $(od -An -c "$S/trunc.bin" 2>&1 | tr -s ' ')"; fi
expect pwrite.txt "$(content "$S/pwrite.txt")" abcXYZghij
a=$(stat -c '%h %i' "$S/hard-a" 2>&1) b=$(stat -c '%h %i' "$S/hard-b" 2>&1)
if [ "$a" = "$b" ] && [ "${a%% *}" = 2 ]; then pass hardlink; else fail hardlink "hard-a: $a, hard-b: $b (want nlink 2, same inode)"; fi
expect hardlink-content "$(content "$S/hard-b")" "linked
via b"
expect symlink "$(readlink "$S/keep.link" 2>&1)" keep.txt
expect nested "$(content "$S/dir/sub/nested.txt")" nested
for gone in many file1 removed.txt; do
    if [ -e "$S/$gone" ] || [ -L "$S/$gone" ]; then fail "gone-$gone" "$S/$gone still exists"; else pass "gone-$gone"; fi
done
expect file-owner "$(stat -c %u "$S/keep.txt" 2>&1)" "$(id -u)"
