#!/usr/bin/env bash
# Host side, after the pjdfstest guest powered off: the results the guest saved in
# the share are readable on the host and agree with the counts it printed.
#   pjdfstest.host.sh SHAREDIR
set -uo pipefail
S=${1:?usage: pjdfstest.host.sh SHAREDIR}
R=$S/pjdfstest-results.txt
if [ ! -s "$R" ]; then
    echo "FAIL: host-results-file: $R missing or empty"
    exit 0
fi
# One line per test case: RESULT<TAB>NAME<TAB>MESSAGE, plus a '#' summary line.
n=$(grep -cv '^#' "$R")
want=$(sed -n 's/^# total=\([0-9]*\).*/\1/p' "$R")
if [ -n "$want" ] && [ "$n" = "$want" ]; then
    echo "PASS: host-results-file: $n test cases in $R"
else
    echo "FAIL: host-results-file: $n result lines in $R, summary says total=${want:-missing}"
fi
