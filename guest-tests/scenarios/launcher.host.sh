#!/bin/sh
# Host side of the launcher scenario, after the guest powered off.
if [ "$(cat "$1/dir/from-guest.txt" 2>&1)" = "written in the guest" ]; then
    echo "PASS: host-sees-guest-file"
else
    echo "FAIL: host-sees-guest-file: $(ls -la "$1" "$1/dir" 2>&1 | tr '\n' ' ')"
fi
