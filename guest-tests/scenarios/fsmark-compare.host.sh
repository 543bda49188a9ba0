#!/usr/bin/env bash
# Host side of scenarios/fsmark-compare.sh, after the guest powered off:
#   RUNDIR=... FSM_OUT=DIR FSM_TAGS=a,b,c fsmark-compare.host.sh SHAREDIR
# Each daemon's share (SHAREDIR for the first, RUNDIR/share-TAG for the others)
# holds fsmark-results.txt; they are concatenated into DIR/results.txt.
set -uo pipefail
S=${1:?usage: fsmark-compare.host.sh SHAREDIR}
OUT=${FSM_OUT:?FSM_OUT not set}
for tag in ${FSM_TAGS//,/ }; do
    f=""
    for cand in "$S/fsmark-results.txt" "${RUNDIR:?}/share-$tag/fsmark-results.txt"; do
        if [ -s "$cand" ] && grep -q "^$tag " "$cand"; then f=$cand; break; fi
    done
    if [ -z "$f" ]; then
        echo "FAIL: host-results-$tag: no fsmark-results.txt with $tag results"
        continue
    fi
    grep "^$tag " "$f" >> "$OUT/results.txt"
    echo "PASS: host-results-$tag"
    echo "INFO: $tag: $(grep -c "^$tag " "$f") results"
done
