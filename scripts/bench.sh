#!/usr/bin/env bash
# Runs the benchmark rigs side by side against upstream virtiofsd and writes
# docs/benchmarks.md plus plots in docs/img/.
#
# Usage: scripts/bench.sh [--secs S] [--quick] [--guest-reps R] [--no-guest] [--no-host]
#   --secs S     measured seconds per host rig row (default 3; warm-up 0.5 s)
#   --quick      fewer host rig configurations
#   --guest-reps R  rounds of the guest fio rig (default 3)
#   --no-guest   skip the guest fio rig (keeps earlier guest results if any)
#   --no-host    skip the host and allocation rigs (keeps earlier results)
#   --no-flush   skip the SYNCFS flush cost bench and the guest fs_mark rig
# Environment: VIRTIOFSD_BIN (skip scripts/install-virtiofsd.sh), BENCH_DIR
# (where the host rig's share lives; default target/bench/share-root, so the
# ceiling and the daemons use this checkout's filesystem), SKIP_DEPS=1.
#
# Steps: install what is missing (virtiofsd 1.14, fio, the guest rig's QEMU and
# kernel), build, run the host rig (benches/host_rig), the allocation rig
# (benches/alloc_rig) and the guest fio rig (guest-tests/fio-compare.sh: ONE TCG
# guest boot with three virtio-fs devices, virtiofsd with 1 queue and epochfsd
# with 1 and 4 queues, each fio job run on the three back to back, R rounds),
# then scripts/bench_report.py. Then the SYNCFS flush cost bench
# (benches/syncfs_flush_cost.rs: SYNCFS latency against 1..10,000 dirty files of
# 4 KiB and 1 MiB, targeted vs --syncfs host vs virtiofsd, alone and with a host
# neighbour dirtying 2 GiB; on this checkout's filesystem and on a tmpfs) and the
# guest fs_mark rig (guest-tests/fsmark-compare.sh: -S 0/1/2, one boot); their
# tables go to target/bench/flush-cost*.md and fsmark/ (docs/benchmarks.md,
# section "SYNCFS flush cost", is edited by hand from them). Results stay in target/bench/ (the guest's in
# target/bench/guest/CONFIG/JOB.repN.json). The whole run takes about 20 minutes
# on 2 cores, more than half of it in the TCG guest.
set -euo pipefail

REPO=$(cd "$(dirname "$0")/.." && pwd)
SECS=3 QUICK="" GUEST=1 HOST=1 GUEST_REPS=3 FLUSH=1
while [ $# -gt 0 ]; do
    case "$1" in
        --secs) SECS=$2; shift 2 ;;
        --quick) QUICK=--quick; shift ;;
        --guest-reps) GUEST_REPS=$2; shift 2 ;;
        --no-guest) GUEST=0; shift ;;
        --no-host) HOST=0; shift ;;
        --no-flush) FLUSH=0; shift ;;
        -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) echo "bench.sh: unknown argument $1" >&2; exit 2 ;;
    esac
done

log() { echo "bench.sh: $*" >&2; }
RESULTS=$REPO/target/bench
BENCH_DIR=${BENCH_DIR:-$RESULTS/share-root}
mkdir -p "$RESULTS" "$BENCH_DIR"
cd "$REPO"

# ---- dependencies -------------------------------------------------------------------
VIRTIOFSD_BIN=${VIRTIOFSD_BIN:-$("$REPO/scripts/install-virtiofsd.sh")}
export VIRTIOFSD_BIN
if [ "$GUEST" = 1 ]; then
    if ! command -v fio >/dev/null; then
        log "installing fio"
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q fio >&2
    fi
    [ "${SKIP_DEPS:-0}" = 1 ] || "$REPO/guest-tests/install-deps.sh" >&2
fi

log "building (release)"
cargo build --release --quiet
cargo bench --quiet --no-run --bench host_rig --bench alloc_rig 2>/dev/null

# ---- machine facts ------------------------------------------------------------------
FACTS=$RESULTS/facts.txt
{
    echo "date=$(date -u '+%Y-%m-%d %H:%M UTC')"
    echo "cpu=$(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo)"
    echo "cores=$(nproc)"
    echo "kernel=$(uname -r)"
    echo "memory=$(awk '/MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)"
    echo "share_fs=$(df -PT "$BENCH_DIR" | awk 'NR == 2 { print $2 " (" $1 ")" }')"
    echo "load_before=$(cut -d' ' -f1-3 /proc/loadavg)"
    echo "epochfsd=$(git -C "$REPO" describe --always --dirty) (release build)"
    echo "virtiofsd=$("$VIRTIOFSD_BIN" --version 2>/dev/null | head -n 1)"
    echo "host_cmd=cargo bench --bench host_rig -- --dir $BENCH_DIR --secs $SECS $QUICK [--only 1m --scatter-pages]"
    echo "alloc_cmd=cargo bench --bench alloc_rig"
    echo "guest_cmd=guest-tests/fio-compare.sh --reps $GUEST_REPS --out target/bench/guest"
} > "$FACTS.new"

# ---- host and allocation rigs -------------------------------------------------------
if [ "$HOST" = 1 ]; then
    log "host rig (about $(( (SECS + 1) * 6 * 8 / 60 + 1 )) minutes)"
    # shellcheck disable=SC2086  # QUICK is empty or one flag
    cargo bench --quiet --bench host_rig -- --dir "$BENCH_DIR" --secs "$SECS" $QUICK \
        --virtiofsd "$VIRTIOFSD_BIN" > "$RESULTS/host.jsonl"
    log "host rig: 1 MiB rows again with scattered payload pages"
    # shellcheck disable=SC2086
    cargo bench --quiet --bench host_rig -- --dir "$BENCH_DIR" --secs "$SECS" $QUICK \
        --only 1m --scatter-pages --virtiofsd "$VIRTIOFSD_BIN" > "$RESULTS/host-scatter.jsonl"
    log "allocation rig"
    cargo bench --quiet --bench alloc_rig > "$RESULTS/alloc.jsonl"
fi

# ---- guest rig ----------------------------------------------------------------------
if [ "$GUEST" = 1 ]; then
    rm -rf "$RESULTS/guest"
    # One boot for all three daemons: each job runs on the three back to back.
    log "guest fio: virtiofsd, epochfsd q1, epochfsd q4 in one boot, $GUEST_REPS rounds (log: $RESULTS/guest.log)"
    if ! EPOCHFSD_BIN=$REPO/target/release/epochfsd SKIP_DEPS=1 \
        "$REPO/guest-tests/fio-compare.sh" --reps "$GUEST_REPS" --out "$RESULTS/guest" \
        > "$RESULTS/guest.log" 2>&1; then
        log "guest fio rig failed; see $RESULTS/guest.log"
    fi
    qemu-system-x86_64 --version | head -n 1 | sed 's/^/qemu=/' >> "$FACTS.new"
    echo "guest_kernel=$(basename "$(readlink -f "$REPO/guest-tests/work/kernel/vmlinuz")") (TCG, 4 vCPUs, 1 GiB)" >> "$FACTS.new"
fi

# ---- SYNCFS flush cost and fs_mark ---------------------------------------------------
if [ "$FLUSH" = 1 ]; then
    log "SYNCFS flush cost on $(df -PT "$RESULTS" | awk 'NR == 2 { print $2 }') (about 40 minutes)"
    cargo bench --quiet --bench syncfs_flush_cost -- --dir "$RESULTS/flush-cost" --reps 3 \
        --neighbour alone,neighbour --virtiofsd "$VIRTIOFSD_BIN" \
        --json "$RESULTS/flush-cost.jsonl" > "$RESULTS/flush-cost.md"
    TMPFS=$RESULTS/flush-tmpfs
    mkdir -p "$TMPFS"
    if mountpoint -q "$TMPFS" || mount -t tmpfs -o size=4g tmpfs "$TMPFS"; then
        log "SYNCFS flush cost on tmpfs"
        # No neighbour rows: tmpfs has no write-back (its pages never count
        # as Dirty), so syncfs(2) has nothing more to do with one.
        cargo bench --quiet --bench syncfs_flush_cost -- --dir "$TMPFS" --reps 3 \
            --neighbour alone --fsync-files 0 \
            --virtiofsd "$VIRTIOFSD_BIN" --json "$RESULTS/flush-cost-tmpfs.jsonl" \
            > "$RESULTS/flush-cost-tmpfs.md"
        umount "$TMPFS" || true
    else
        log "cannot mount a tmpfs at $TMPFS; skipping the tmpfs flush rows"
    fi
    if [ "$GUEST" = 1 ]; then
        log "guest fs_mark: virtiofsd, epochfsd, epochfsd --syncfs host in one boot (log: $RESULTS/fsmark.log)"
        EPOCHFSD_BIN=$REPO/target/release/epochfsd SKIP_DEPS=1 \
            "$REPO/guest-tests/fsmark-compare.sh" --reps "$GUEST_REPS" --out "$RESULTS/fsmark" \
            > "$RESULTS/fsmark.log" 2>&1 || log "guest fs_mark rig failed; see $RESULTS/fsmark.log"
    fi
fi

echo "load_after=$(cut -d' ' -f1-3 /proc/loadavg)" >> "$FACTS.new"
mv "$FACTS.new" "$FACTS"
mkdir -p "$REPO/docs/img"
python3 "$REPO/scripts/bench_report.py" "$RESULTS" "$REPO/docs/benchmarks.md" "$REPO/docs/img"
log "wrote docs/benchmarks.md and docs/img/*.svg (raw results in $RESULTS)"
