#!/usr/bin/env bash
# Checks that guest-tests/install-deps.sh leaves the host alone: runs it and
# compares, before and after,
#   * /boot: every file's path, mode, size and sha256 (no kernel, no initramfs
#     regenerated);
#   * systemd's installed version (`dpkg-query -W systemd`);
#   * every installed package's version: a package that was installed before
#     must keep its version, unless it is one of QEMU's (new packages are fine).
# Then checks that the guest kernel is in the cache (not in /boot) and boots
# nothing.
#
# Usage: guest-tests/check-install-deps.sh [--fresh-kernel]
#   --fresh-kernel  unpack the kernel into a new temporary cache (KERNEL_CACHE) so
#                   the download-and-unpack path runs even when work/kernel exists
# Output: PASS:/FAIL: lines and the summary `install-deps check: P passed, F failed`.
set -uo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
fresh=0
[ "${1:-}" = --fresh-kernel ] && fresh=1

np=0 nf=0
pass() { echo "PASS: $1"; np=$((np + 1)); }
fail() { echo "FAIL: $1: $2"; nf=$((nf + 1)); }

boot_listing() {
    [ -d /boot ] || { echo "(no /boot)"; return; }
    find /boot -xdev -printf '%p %m %s %y\n' | sort
    find /boot -xdev -type f -print0 | sort -z | xargs -0 -r sha256sum
}
pkg_versions() { dpkg-query -W -f='${binary:Package} ${Version} ${db:Status-Abbrev}\n' | awk '$3 ~ /^ii/ { print $1, $2 }' | sort; }
systemd_version() { dpkg-query -W -f='${Version}' systemd 2>/dev/null || echo "(not installed)"; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
boot_listing >"$tmp/boot.before"
pkg_versions >"$tmp/pkgs.before"
sd_before=$(systemd_version)

export KERNEL_CACHE=${KERNEL_CACHE:-$HERE/work/kernel}
[ "$fresh" = 1 ] && KERNEL_CACHE=$tmp/kernel
t0=$(date +%s)
if kernel=$("$HERE/install-deps.sh" --kernel); then
    pass "install-deps.sh exit status 0 ($(( $(date +%s) - t0 )) s)"
else
    fail install-deps "install-deps.sh failed"
fi

boot_listing >"$tmp/boot.after"
if cmp -s "$tmp/boot.before" "$tmp/boot.after"; then
    pass "/boot unchanged ($(wc -l <"$tmp/boot.before") listing lines)"
else
    fail boot "/boot changed:"
    diff "$tmp/boot.before" "$tmp/boot.after" | sed 's/^/  /' | head -n 20
fi

sd_after=$(systemd_version)
if [ "$sd_before" = "$sd_after" ]; then
    pass "systemd version unchanged ($sd_after)"
else
    fail systemd "systemd $sd_before -> $sd_after"
fi

pkg_versions >"$tmp/pkgs.after"
# Packages present before whose version changed or that disappeared.
changed=$(join -a 1 "$tmp/pkgs.before" "$tmp/pkgs.after" |
    awk 'NF < 3 || $2 != $3 { print $1, $2, "->", (NF < 3 ? "(removed)" : $3) }' |
    grep -vE '^(qemu-[a-z0-9-]+|seabios|ipxe-qemu|libbrlapi[0-9.]*)(:[a-z0-9]+)? ' || true)
if [ -z "$changed" ]; then
    added=$(join -v 2 "$tmp/pkgs.before" "$tmp/pkgs.after" | wc -l)
    pass "no installed host package changed version or was removed ($added new)"
else
    fail host-packages "installed packages changed:"
    printf '  %s\n' "$changed" | head -n 20
fi
if join -v 2 "$tmp/pkgs.before" "$tmp/pkgs.after" | grep -q '^linux-image'; then
    fail kernel-package "a linux-image package was installed"
else
    pass "no linux-image package installed"
fi

case "${kernel:-}" in
    "$KERNEL_CACHE"/*/boot/vmlinuz-6.12*)
        if [ -r "$kernel" ] && file -b "$kernel" 2>/dev/null | grep -q 'Linux kernel' ||
            { [ -r "$kernel" ] && [ "$(head -c 2 "$kernel" | od -An -c | tr -d ' ')" = MZ ]; }; then
            pass "guest kernel in the cache: $kernel"
        else
            fail kernel "$kernel is not a readable kernel image"
        fi ;;
    *) fail kernel "install-deps.sh --kernel printed '${kernel:-}', not a 6.12 kernel under $KERNEL_CACHE" ;;
esac
if command -v qemu-system-x86_64 >/dev/null; then
    pass "$(qemu-system-x86_64 --version | head -n 1)"
else
    fail qemu "no qemu-system-x86_64"
fi

echo "install-deps check: $np passed, $nf failed"
[ "$nf" = 0 ]
