#!/usr/bin/env bash
# Builds slowfs (release) into target/slowfs/ of the repository and prints the
# binary's path. Quiet when it is up to date. SLOWFS_BIN, if set, is printed
# instead (a prebuilt binary).
set -euo pipefail
if [ -n "${SLOWFS_BIN:-}" ]; then
    echo "$SLOWFS_BIN"
    exit 0
fi
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
target=${SLOWFS_TARGET_DIR:-$root/target/slowfs}
cargo build --quiet --release --locked --manifest-path "$here/Cargo.toml" --target-dir "$target" >&2
echo "$target/release/slowfs"
