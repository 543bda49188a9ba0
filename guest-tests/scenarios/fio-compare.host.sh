#!/usr/bin/env bash
# Host side of scenarios/fio-compare.sh, after the guest powered off:
#   RUNDIR=... FIO_COMPARE_OUT=DIR FIO_COMPARE_TAGS=a,b,c FIO_COMPARE_EXPECT=N \
#       fio-compare.host.sh SHAREDIR
# Each daemon's share (SHAREDIR, RUNDIR/share-*) holds fio-results/TAG/*.json;
# per tag, N valid fio JSON files must be there; they are copied to DIR/TAG/.
set -uo pipefail
S=${1:?usage: fio-compare.host.sh SHAREDIR}
OUT=${FIO_COMPARE_OUT:?FIO_COMPARE_OUT not set}
EXPECT=${FIO_COMPARE_EXPECT:?FIO_COMPARE_EXPECT not set}

# valid DIR: how many *.rep*.json files in DIR hold a fio document with a job.
valid() {
    python3 - "$1" <<'PY'
import glob, json, sys
ok = 0
for p in glob.glob(sys.argv[1] + "/*.rep*.json"):
    try:
        ok += bool(json.load(open(p)).get("jobs"))
    except (OSError, ValueError):
        pass
print(ok)
PY
}

for tag in ${FIO_COMPARE_TAGS//,/ }; do
    d=""
    for cand in "$S/fio-results/$tag" "${RUNDIR:?}"/share-*/fio-results/"$tag"; do
        [ -d "$cand" ] && d=$cand && break
    done
    if [ -z "$d" ]; then
        echo "FAIL: host-results-$tag: no fio-results/$tag in any share"
        continue
    fi
    n=$(valid "$d")
    rm -rf "${OUT:?}/$tag"
    mkdir -p "$OUT/$tag"
    cp "$d"/*.json "$OUT/$tag/" 2>/dev/null
    if [ "$n" = "$EXPECT" ]; then
        echo "PASS: host-results-$tag"
    else
        echo "FAIL: host-results-$tag: $n valid fio JSON files, want $EXPECT"
    fi
    echo "INFO: $tag: $n results copied to $OUT/$tag"
done
