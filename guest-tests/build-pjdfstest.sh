#!/usr/bin/env bash
# Builds pjdfstest (the Rust rewrite, crate `pjdfstest` on crates.io) as a static
# x86_64 binary for the guest initramfs and prints the binary's path on stdout.
#
# Usage: guest-tests/build-pjdfstest.sh     (PJDFSTEST_VERSION, default 0.2.2)
# Installs into guest-tests/work/pjdfstest/bin/pjdfstest; does nothing but print the
# path when that version is already there and statically linked.
#
# Static linking: the musl target is not available on every build machine, so this
# links glibc statically (`-C target-feature=+crt-static` on the gnu target). The
# explicit --target keeps RUSTFLAGS away from build scripts and proc macros, which
# must stay dynamic. pjdfstest links libacl (crate exacl), so libacl1-dev (libacl.a)
# is installed when missing. getpwnam/getgrnam in static glibc still read
# /etc/passwd and /etc/group through the built-in `files` NSS module, which is all
# the guest has.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/.." && pwd)
VERSION=${PJDFSTEST_VERSION:-0.2.2}
ROOT=${PJDFSTEST_ROOT:-$HERE/work/pjdfstest}
BIN=$ROOT/bin/pjdfstest
TARGET=x86_64-unknown-linux-gnu

# ldd says "not a dynamic executable" (static) or "statically linked" (static-pie).
is_static() { ldd "$1" 2>&1 | grep -qE 'not a dynamic executable|statically linked'; }

if [ -x "$BIN" ] && [ "$(cat "$ROOT/VERSION" 2>/dev/null)" = "$VERSION" ] && is_static "$BIN"; then
    echo "$BIN"
    exit 0
fi

if ! dpkg-query -W -f='${Status}' libacl1-dev 2>/dev/null | grep -q "install ok installed"; then
    echo "build-pjdfstest: apt-get install libacl1-dev" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2
    apt-get install -y -qq libacl1-dev >&2
fi

echo "build-pjdfstest: cargo install pjdfstest $VERSION (static glibc) into $ROOT" >&2
# A stable target dir under target/ so a second build reuses the compiled crates.
RUSTFLAGS="-C target-feature=+crt-static" \
    CARGO_TARGET_DIR=$REPO/target/pjdfstest-build \
    cargo install --quiet --locked pjdfstest --version "$VERSION" \
    --target "$TARGET" --root "$ROOT" --force >&2
is_static "$BIN" || { echo "build-pjdfstest: $BIN is not statically linked" >&2; exit 1; }
"$BIN" --version >&2
echo "$VERSION" > "$ROOT/VERSION"
echo "$BIN"
