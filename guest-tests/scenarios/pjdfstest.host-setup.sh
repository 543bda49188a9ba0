#!/usr/bin/env bash
# Host side, before the pjdfstest guest boots: puts the pjdfstest configuration
# (guest-tests/pjdfstest.toml) into the shared directory, where the guest reads it
# as /mnt/pjdfstest.toml, and removes results of an earlier run.
#   pjdfstest.host-setup.sh SHAREDIR
set -euo pipefail
S=${1:?usage: pjdfstest.host-setup.sh SHAREDIR}
HERE=$(cd "$(dirname "$0")" && pwd)
rm -f "$S/pjdfstest-results.txt" "$S/pjdfstest-output.txt"
install -m 0644 "$HERE/../pjdfstest.toml" "$S/pjdfstest.toml"
