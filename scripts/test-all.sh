#!/usr/bin/env bash
# Runs every test of epochfsd on a fresh Debian machine: installs what is
# missing, then formatting, lints, unit and integration tests, the loom model
# checks of the epoch tracker, and the guest scenarios (smoke with 1 and 4
# request queues, SYNCFS epochs) on a real Linux 6.12 guest under QEMU/TCG.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }

step "installing guest test dependencies (QEMU 10, Linux 6.12, busybox)"
guest-tests/install-deps.sh

step "installing and building slowfs, the slow host filesystem of the tests (FUSE)"
tests/slowfs/install-deps.sh

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy --all-targets -- -D warnings"
cargo clippy --all-targets --locked -- -D warnings

step "unit and integration tests"
cargo test --locked --all-targets

step "SYNCFS epoch, blocked-shutdown, crash-sim and held-write migration tests (test-only delay hooks, separate target dir)"
CARGO_TARGET_DIR=target/hooks cargo test --locked --features test-hooks --test syncfs_epochs --test blocked_shutdown --test seccomp_actions --test crash_sim_epochs --test migration_held

if [ -x .ci/loom.sh ]; then
    step "loom model checks of the epoch tracker"
    .ci/loom.sh
fi

step "coverage-guided fuzzing, AFL++ on stable: 30 s per target, fails on a crash (docs/fuzzing.md)"
scripts/fuzz.sh --secs 30

step "building the release daemon"
cargo build --release --locked

step "guest smoke scenario, 1 request queue"
guest-tests/run.sh smoke --queues 1 --smp 2

step "guest smoke scenario, 4 request queues"
guest-tests/run.sh smoke --queues 4 --smp 4

step "guest POSIX and flock locks between guest processes"
guest-tests/run.sh locks --queues 1 --smp 2

step "guest SYNCFS epochs scenario (held writes, 4 request queues)"
guest-tests/syncfs-epochs.sh

step "guest power-cut simulation: crash at a marker, second boot checks the tree (drop-all, keep-metadata, 20 seeds, SQLite)"
guest-tests/crash-sim.sh

step "guest SYNCFS timeline on slow storage (slowfs holds the writes; release build, default flags, 1 and 4 queues)"
guest-tests/syncfs-slowfs.sh

step "guest live migration: 1 queue find-paths, 4 queues file-handles there and back, a destination on another directory, 4 queues while a sync -f waits for a held write"
guest-tests/migration.sh --queues 1 --mode find-paths
guest-tests/migration.sh --queues 4 --mode file-handles --back
guest-tests/migration.sh --bad-destination
guest-tests/migration.sh --held-sync --queues 4

step "guest: 100,000 files created, statted and removed (file handles keep the fd count bounded)"
guest-tests/run.sh manyfiles --queues 1 --smp 2 --timeout 1500

# 20,000 files are plenty to run 256 descriptors dry many times over; the
# 100,000 of the step above would only make this one slower.
step "guest: descriptors exhausted on purpose, the guest sees EMFILE and the daemon survives"
MANYFILES_EXPECT=exhaust MANYFILES_SIZE="20 1000" guest-tests/run.sh manyfiles --queues 1 --smp 2 --timeout 1200 \
    --daemon-args "--rlimit-nofile 256 --inode-file-handles never"

step "pjdfstest in the guest, epochfsd and upstream virtiofsd 1.14 side by side"
guest-tests/pjdfstest-compare.sh --no-doc

echo

step "deployment: install-deps leaves the host alone, vmm-configs, libvirt 9.0 and 11.x launching epochfsd, the container image"
scripts/test-deploy.sh --ci

echo
echo "all tests passed"
