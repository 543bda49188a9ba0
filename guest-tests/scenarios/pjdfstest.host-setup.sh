#!/usr/bin/env bash
# Host side, before the pjdfstest guest boots: puts the pjdfstest configuration
# (guest-tests/pjdfstest.toml) into the shared directory, where the guest reads it
# as /mnt/pjdfstest.toml, and removes results of an earlier run.
#   pjdfstest.host-setup.sh SHAREDIR
set -euo pipefail
S=${1:?usage: pjdfstest.host-setup.sh SHAREDIR}
HERE=$(cd "$(dirname "$0")" && pwd)
rm -rf "$S/pjdfstest-results.txt" "$S/pjdfstest-output.txt" "$S/.pjdfstest-bin"
install -m 0644 "$HERE/../pjdfstest.toml" "$S/pjdfstest.toml"
# A sleep that does not depend on its name (see guest-tests/helpers/sleep.c); the
# scenario puts it first in PATH, where pjdfstest's `which sleep` finds it.
mkdir -p "$S/.pjdfstest-bin"
gcc -static -O2 -Wall -o "$S/.pjdfstest-bin/sleep" "$HERE/../helpers/sleep.c"
