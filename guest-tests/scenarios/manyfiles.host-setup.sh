#!/usr/bin/env bash
# Host side, before the manyfiles guest boots:
#   manyfiles.host-setup.sh SHAREDIR
# Compiles the static helper into SHAREDIR/.manyfiles-bin and records the mode
# (MANYFILES_EXPECT=ok|exhaust, default ok) and the size
# (MANYFILES_SIZE="NDIRS PERDIR", default "100 1000") for the guest.
set -euo pipefail
S=${1:?usage: manyfiles.host-setup.sh SHAREDIR}
HERE=$(cd "$(dirname "$0")" && pwd)
gcc -static -O2 -o "$S/.manyfiles-bin" "$HERE/../tools/manyfiles.c"
echo "${MANYFILES_EXPECT:-ok}" > "$S/.manyfiles-expect"
echo "${MANYFILES_SIZE:-100 1000}" > "$S/.manyfiles-size"
