#!/usr/bin/env bash
# Host side, before the locks guest boots: builds the static lock helper
# (guest-tests/helpers/lk.c) into the share, where the guest runs it.
#   locks.host-setup.sh SHAREDIR
set -euo pipefail
S=${1:?usage: locks.host-setup.sh SHAREDIR}
HERE=$(cd "$(dirname "$0")/.." && pwd)
gcc -static -O2 -Wall -Wno-unused-result -o "$S/lk" "$HERE/helpers/lk.c"
