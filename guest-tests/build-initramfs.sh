#!/usr/bin/env bash
# Builds the guest-test initramfs: busybox-static with its applet links, /init
# (guest-tests/guest-init.sh), /scenarios/* (guest-tests/scenarios/*.sh), and
# optional extra binaries with the libraries ldd lists for them.
#
# Usage: guest-tests/build-initramfs.sh [OUTPUT]
#   OUTPUT       default guest-tests/work/initramfs.cpio.gz (cpio newc, gzip)
#   EXTRA_BINS   env: space separated paths of extra binaries (static or dynamic);
#                each lands in /usr/local/bin/ (on PATH in the guest), its ldd
#                libraries (and the ELF interpreter) at their host paths.
#   BUSYBOX      env: busybox binary (default /bin/busybox, must be static)
#   FORCE=1      env: rebuild even if the inputs did not change
# Prints the path of the initramfs on stdout. Rebuilds only when an input changed
# (a stamp holds the sha256 of all inputs).
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
WORK=$HERE/work
OUT=${1:-$WORK/initramfs.cpio.gz}
BUSYBOX=${BUSYBOX:-/bin/busybox}
EXTRA_BINS=${EXTRA_BINS:-}
STAMP=$OUT.stamp

die() { echo "build-initramfs: $*" >&2; exit 1; }

[ -x "$BUSYBOX" ] || die "no busybox at $BUSYBOX (run guest-tests/install-deps.sh)"
if ldd "$BUSYBOX" >/dev/null 2>&1; then
    die "$BUSYBOX is dynamically linked; install busybox-static"
fi
command -v cpio >/dev/null || die "cpio missing (run guest-tests/install-deps.sh)"

# Libraries (and the ELF interpreter) a dynamic binary needs; nothing for static ones.
libs_of() {
    local out
    out=$(ldd "$1" 2>/dev/null) || return 0
    # "libx.so.1 => /lib/x86_64-linux-gnu/libx.so.1 (0x...)" and "/lib64/ld-linux-x86-64.so.2 (0x...)"
    printf '%s\n' "$out" | awk '
        $2 == "=>" && $3 ~ /^\// { print $3; next }
        $1 ~ /^\// { print $1 }'
}

# Every input file, in a stable order; the stamp is the hash of their contents
# and of this script, so any change triggers a rebuild.
inputs=("$0" "$BUSYBOX" "$HERE/guest-init.sh")
for f in "$HERE"/scenarios/*; do
    [ -f "$f" ] && inputs+=("$f")
done
extra_files=()
for b in $EXTRA_BINS; do
    [ -f "$b" ] || die "EXTRA_BINS: no such file: $b"
    extra_files+=("$b")
    while read -r lib; do
        [ -n "$lib" ] && extra_files+=("$(readlink -f "$lib")")
    done < <(libs_of "$b")
done
stamp_now=$( {
    printf 'extra=%s\n' "$EXTRA_BINS"
    sha256sum "${inputs[@]}" "${extra_files[@]}"
} | sha256sum | cut -d' ' -f1)

if [ "${FORCE:-0}" != 1 ] && [ -f "$OUT" ] && [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$stamp_now" ]; then
    echo "$OUT"
    exit 0
fi

mkdir -p "$(dirname "$OUT")"
ROOT=$(mktemp -d "$WORK/initramfs-root.XXXXXX")
trap 'rm -rf "$ROOT"' EXIT

mkdir -p "$ROOT"/{bin,sbin,usr/bin,usr/sbin,usr/local/bin,proc,sys,dev,tmp,mnt,root,etc,scenarios}
chmod 1777 "$ROOT/tmp"
cp "$BUSYBOX" "$ROOT/bin/busybox"
# Applet links at the paths busybox itself reports (bin/sh, usr/bin/sha256sum, ...).
"$BUSYBOX" --list-full | while read -r applet; do
    [ "$applet" = bin/busybox ] && continue
    mkdir -p "$ROOT/$(dirname "$applet")"
    ln -sf /bin/busybox "$ROOT/$applet"
done
[ -e "$ROOT/bin/sh" ] || ln -sf busybox "$ROOT/bin/sh"

install -m 0755 "$HERE/guest-init.sh" "$ROOT/init"
for f in "$HERE"/scenarios/*.sh; do
    [ -f "$f" ] || continue
    case "$f" in *.host.sh|*.host-setup.sh) continue ;; esac   # host-side helpers
    install -m 0755 "$f" "$ROOT/scenarios/$(basename "$f")"
done
echo "root:x:0:0:root:/root:/bin/sh" > "$ROOT/etc/passwd"
echo "root:x:0:" > "$ROOT/etc/group"
printf '127.0.0.1 localhost\n' > "$ROOT/etc/hosts"

for b in $EXTRA_BINS; do
    install -m 0755 "$b" "$ROOT/usr/local/bin/$(basename "$b")"
    while read -r lib; do
        [ -n "$lib" ] || continue
        mkdir -p "$ROOT/$(dirname "$lib")"
        # Copy the real file under the name the loader looks for.
        cp -L "$lib" "$ROOT/$lib"
    done < <(libs_of "$b")
done

tmp_out=$OUT.tmp.$$
(cd "$ROOT" && find . -mindepth 1 -print0 | LC_ALL=C sort -z |
    cpio --null --create --format=newc --owner=0:0 --quiet) | gzip -6 > "$tmp_out"
mv -f "$tmp_out" "$OUT"
echo "$stamp_now" > "$STAMP"
echo "build-initramfs: built $OUT ($(du -h "$OUT" | cut -f1))" >&2
echo "$OUT"
