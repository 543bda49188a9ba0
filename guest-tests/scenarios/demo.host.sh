#!/usr/bin/env bash
# Host side, after the demo guest powered off: the guest's files are there.
#   demo.host.sh SHAREDIR
set -uo pipefail
S=${1:?usage: demo.host.sh SHAREDIR}
if grep -q '^uname -a: Linux' "$S/guest-hello.txt" 2>/dev/null; then echo "PASS: host-guest-hello"; else echo "FAIL: host-guest-hello: $S/guest-hello.txt missing or wrong"; fi
if grep -q guest-hello.txt "$S/guest-dir/listing.txt" 2>/dev/null; then echo "PASS: host-guest-listing"; else echo "FAIL: host-guest-listing: $S/guest-dir/listing.txt missing or wrong"; fi
if cmp -s "$S/host-data/numbers.txt" "$S/guest-dir/numbers-copy.txt"; then echo "PASS: host-guest-copy"; else echo "FAIL: host-guest-copy: numbers-copy.txt differs"; fi
