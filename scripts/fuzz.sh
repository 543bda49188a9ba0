#!/usr/bin/env bash
# Coverage-guided fuzzing of epochfsd with AFL++ through afl.rs, on the
# stable toolchain (see docs/fuzzing.md for why this engine).
#
#   scripts/fuzz.sh [--secs N] [--target NAME]... [--keep-corpus]
#
# Installs cargo-afl if missing (it builds AFL++ from the sources the crate
# ships), replays the committed corpus and regressions with `cargo test`,
# builds the instrumented targets, and runs each one for N seconds (default
# 60) from fuzz/corpus/<target>/. Fails if the fuzzer saved a crash; the
# crashing inputs are left in fuzz/out/<target>/default/crashes/.
# --keep-corpus copies what the fuzzer found back into fuzz/corpus/<target>/
# after minimising it with afl-cmin (for longer campaigns).
set -euo pipefail
cd "$(dirname "$0")/../fuzz"

secs=60
targets=()
keep_corpus=0
while [ $# -gt 0 ]; do
    case "$1" in
        --secs) secs=$2; shift 2 ;;
        --secs=*) secs=${1#--secs=}; shift ;;
        --target) targets+=("$2"); shift 2 ;;
        --keep-corpus) keep_corpus=1; shift ;;
        -h|--help) sed -n '2,13p' "$0"; exit 0 ;;
        *) echo "fuzz.sh: unknown argument $1" >&2; exit 2 ;;
    esac
done
[ ${#targets[@]} -gt 0 ] || targets=(fuse_dispatch chain epoch_model)

AFL_VERSION=0.18.2
if ! cargo afl --version 2>/dev/null | grep -q "$AFL_VERSION"; then
    echo "fuzz.sh: installing cargo-afl $AFL_VERSION (builds AFL++ too)"
    cargo install cargo-afl --locked --version "$AFL_VERSION"
fi
# The AFL++ runtime is built per rustc version; a no-op error when it exists.
cargo afl config --build >/dev/null 2>&1 || true

echo "fuzz.sh: replaying fuzz/corpus and fuzz/regressions"
cargo test --locked

echo "fuzz.sh: building the instrumented targets"
cargo afl build --release --locked --features afl --target-dir target/afl \
    --bin fuse_dispatch --bin chain --bin epoch_model

# The FUSE target's share lives on a small tmpfs when we may mount one, so a
# guest asking for terabytes (FALLOCATE, COPY_FILE_RANGE) gets ENOSPC
# instead of filling the host's disk; elsewhere the harness skips such
# requests.
share_dir=$(mktemp -d /tmp/epochfsd-fuzz-share.XXXXXX)
cleanup() {
    mountpoint -q "$share_dir" && umount "$share_dir"
    rmdir "$share_dir" 2>/dev/null || true
}
trap cleanup EXIT
if [ "$(id -u)" = 0 ] && mount -t tmpfs -o size=64m,mode=0755 tmpfs "$share_dir" 2>/dev/null; then
    export EPOCHFSD_FUZZ_DIR=$share_dir
fi

# No UI, no CPU binding on a shared machine, no core_pattern or cpufreq
# requirements; calibrate quickly, since a run is short.
export AFL_NO_UI=1 AFL_NO_AFFINITY=1 AFL_SKIP_CPUFREQ=1 AFL_FAST_CAL=1
export AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1 AFL_SKIP_CRASHES=1
export AFL_NO_WARN_INSTABILITY=1

stat() { sed -n "s/^$2 *: //p" "$1"; }

failed=0
summary=out/summary.txt
mkdir -p out
: > "$summary"
printf '%-14s %6s %10s %8s %9s %14s %7s %7s %6s\n' target secs execs "execs/s" corpus edges bitmap crashes hangs | tee -a "$summary"
for target in "${targets[@]}"; do
    rm -rf "out/$target"
    start=$(date +%s)
    # -V: stop after N seconds; -m none: Rust needs more than the default
    # memory limit; -t: per-execution timeout in ms.
    cargo afl fuzz -V "$secs" -m none -t 2000 -i "corpus/$target" -o "out/$target" \
        "target/afl/release/$target" > "out/$target.log" 2>&1 || {
        echo "fuzz.sh: afl-fuzz failed for $target; see fuzz/out/$target.log" >&2
        tail -20 "out/$target.log" >&2
        failed=1
        continue
    }
    stats="out/$target/default/fuzzer_stats"
    printf '%-14s %6s %10s %8s %9s %14s %7s %7s %6s\n' "$target" "$(( $(date +%s) - start ))" \
        "$(stat "$stats" execs_done)" "$(stat "$stats" execs_per_sec)" "$(stat "$stats" corpus_count)" \
        "$(stat "$stats" edges_found)/$(stat "$stats" total_edges)" "$(stat "$stats" bitmap_cvg)" \
        "$(stat "$stats" saved_crashes)" "$(stat "$stats" saved_hangs)" | tee -a "$summary"
    crashes=$(stat "$stats" saved_crashes)
    if [ "${crashes:-0}" != 0 ]; then
        echo "fuzz.sh: $target crashed; inputs in fuzz/out/$target/default/crashes/" >&2
        echo "  replay one: fuzz/target/afl/release/$target < FILE" >&2
        failed=1
    fi
    hangs=$(stat "$stats" saved_hangs)
    if [ "${hangs:-0}" != 0 ]; then
        echo "fuzz.sh: $target: $hangs inputs ran over 2 s (fuzz/out/$target/default/hangs/)" >&2
    fi
    if [ "$keep_corpus" = 1 ]; then
        # The awk afl-cmin: the Python one `cargo afl cmin` runs found no
        # coverage in these persistent-mode targets (AFL++ 4.40c).
        afl_bin=$(dirname "$(find "${XDG_DATA_HOME:-$HOME/.local/share}/afl.rs" -path '*/afl/bin/afl-cmin.awk' | head -1)")
        rm -rf "out/$target.cmin"
        AFL_PATH=$afl_bin "$afl_bin/afl-cmin.awk" -m none -t 2000 -i "out/$target/default/queue" \
            -o "out/$target.cmin" -- "target/afl/release/$target" > "out/$target.cmin.log" 2>&1
        for f in "out/$target.cmin"/*; do
            cp "$f" "corpus/$target/found-$(sha1sum < "$f" | cut -c1-16)"
        done
    fi
done
exit "$failed"
