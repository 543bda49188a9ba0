#!/usr/bin/env bash
# Installs upstream virtiofsd (the reference daemon for comparisons) from crates.io
# into target/virtiofsd-ref and prints the path of its binary on stdout.
#
# Usage: scripts/install-virtiofsd.sh        (VIRTIOFSD_VERSION, default 1.14.0)
# Does nothing but print the path when that version is already installed.
set -euo pipefail

REPO=$(cd "$(dirname "$0")/.." && pwd)
VERSION=${VIRTIOFSD_VERSION:-1.14.0}
ROOT=${VIRTIOFSD_ROOT:-$REPO/target/virtiofsd-ref}
BIN=$ROOT/bin/virtiofsd

if [ -x "$BIN" ] && "$BIN" --version 2>/dev/null | grep -qx "virtiofsd $VERSION"; then
    echo "$BIN"
    exit 0
fi

# virtiofsd links libseccomp and libcap-ng.
missing=()
for pkg in libseccomp-dev libcap-ng-dev pkg-config; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "install-virtiofsd: apt-get install ${missing[*]}" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2
    apt-get install -y -qq "${missing[@]}" >&2
fi

echo "install-virtiofsd: cargo install virtiofsd $VERSION into $ROOT" >&2
cargo install --quiet --locked virtiofsd --version "$VERSION" --root "$ROOT" >&2
"$BIN" --version >&2
echo "$BIN"
