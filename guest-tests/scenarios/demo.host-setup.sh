#!/usr/bin/env bash
# Host side, before the demo guest boots: files the guest reads back.
#   demo.host-setup.sh SHAREDIR
set -euo pipefail
S=${1:?usage: demo.host-setup.sh SHAREDIR}
printf 'Hello from the host %s, written at %s\n' "$(hostname)" "$(date -u '+%Y-%m-%d %H:%M:%S UTC')" > "$S/host-hello.txt"
mkdir -p "$S/host-data"
seq 1 10 > "$S/host-data/numbers.txt"
