#!/usr/bin/env bash
# Installs what the guest tests need on a Debian bookworm host, without rewriting
# the host:
#   * QEMU 10 from bookworm-backports: only QEMU's own packages are taken from
#     backports (qemu-system-x86, qemu-system-common, qemu-system-data, seabios,
#     qemu-utils); their other dependencies come from bookworm. Before installing,
#     an `apt-get -s` simulation must show no upgrade or removal of any other host
#     package (systemd, libc, ...); otherwise the script stops and says which.
#   * the guest kernel, Debian's linux-image-cloud-amd64 6.12 from
#     bookworm-backports (virtio, virtio_pci, fuse and virtiofs built in): fetched
#     with `apt-get download` and unpacked with `dpkg-deb -x` into
#     guest-tests/work/kernel/VERSION/; guest-tests/work/kernel/vmlinuz points to
#     the kernel. Nothing goes into /boot, no initramfs is regenerated, the package
#     is not installed (dpkg does not know about it).
#   * busybox-static, cpio, gzip, zstd and gdb (run.sh prints the stacks of a hung
#     daemon and QEMU with it) from bookworm.
# Idempotent: does nothing when everything is already there.
# Prints nothing on stdout; `guest-tests/install-deps.sh --kernel` prints the path
# of the guest kernel (installing first if needed).
# guest-tests/check-install-deps.sh checks that /boot and systemd stay untouched.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
KCACHE=${KERNEL_CACHE:-$HERE/work/kernel}
BPO=bookworm-backports
# QEMU's packages that must come from backports together (versioned dependencies
# of qemu-system-x86 10 that bookworm's versions do not satisfy).
QEMU_BPO_PKGS=(qemu-system-x86 qemu-system-common qemu-system-data seabios qemu-utils)
# Packages a backports QEMU install may upgrade or remove; anything else stops it.
QEMU_ALLOWED_RE='^(qemu-[a-z0-9-]+|seabios|ipxe-qemu|libbrlapi[0-9.]*|ovmf)$'

print_kernel=0
[ "${1:-}" = --kernel ] && print_kernel=1

log() { echo "install-deps: $*" >&2; }
die() { log "$*"; exit 1; }

have_qemu() {
    command -v qemu-system-x86_64 >/dev/null || return 1
    local major
    major=$(qemu-system-x86_64 --version | sed -n 's/^QEMU emulator version \([0-9]*\).*/\1/p')
    # bookworm's own 7.2 is too old (and 7.1..8.0 crash on VHOST_USER_PROTOCOL_F_CONFIG).
    [ -n "$major" ] && [ "$major" -ge 9 ]
}
installed() {
    dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'
}
have_kernel() {
    [ -r "$KCACHE/vmlinuz" ]
}

SUDO=""
[ "$(id -u)" = 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive

base_pkgs=()
for p in busybox-static cpio gzip zstd gdb; do
    installed "$p" || base_pkgs+=("$p")
done

if have_qemu && have_kernel && [ ${#base_pkgs[@]} = 0 ]; then
    [ "$print_kernel" = 1 ] && readlink -f "$KCACHE/vmlinuz"
    exit 0
fi

if ! grep -rqs "^[^#]*$BPO" /etc/apt/sources.list /etc/apt/sources.list.d/; then
    log "adding $BPO to /etc/apt/sources.list.d/epochfsd-backports.list"
    echo "deb http://deb.debian.org/debian $BPO main" |
        $SUDO tee /etc/apt/sources.list.d/epochfsd-backports.list >/dev/null
fi
$SUDO apt-get update -qq

if [ ${#base_pkgs[@]} -gt 0 ]; then
    log "apt-get install ${base_pkgs[*]} (bookworm)"
    # busybox-static conflicts with busybox; apt replaces the dynamic one.
    $SUDO apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${base_pkgs[@]}" >&2
fi

# ---- QEMU from backports, nothing else --------------------------------------------
# check_sim ARGS...: simulates `apt-get install ARGS`; fails (printing the culprits)
# if it would upgrade, downgrade or remove a package that is not QEMU's.
check_sim() {
    local sim bad
    sim=$(apt-get install -s --no-install-recommends "$@" 2>&1) || { printf '%s\n' "$sim" | tail -n 8 >&2; return 1; }
    # Upgrades show as "Inst NAME [OLDVERSION] (NEWVERSION ...)", removals as "Remv NAME".
    bad=$(printf '%s\n' "$sim" | awk -v re="$QEMU_ALLOWED_RE" '
        ($1 == "Inst" && $3 ~ /^\[/) || $1 == "Remv" { n = $2; sub(/:.*/, "", n); if (n !~ re) print $1, $2, $3, $4 }')
    if [ -n "$bad" ]; then
        log "apt would change host packages that are not QEMU's:"
        printf '  %s\n' "$bad" >&2
        return 1
    fi
}
if ! have_qemu; then
    args=()
    for p in "${QEMU_BPO_PKGS[@]}"; do args+=("$p/$BPO"); done
    if check_sim "${args[@]}"; then
        log "apt-get install ${args[*]} (only these from $BPO)"
        $SUDO apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${args[@]}" >&2
    else
        # The backports QEMU grew a dependency the list above misses: let apt take
        # what it needs from backports, but only if that touches no other package.
        log "the pinned package list does not resolve; trying -t $BPO (guarded)"
        check_sim -t "$BPO" qemu-system-x86 qemu-utils ||
            die "refusing: installing QEMU from $BPO would change other host packages (see above)"
        $SUDO apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends -t "$BPO" qemu-system-x86 qemu-utils >&2
    fi
fi

# ---- guest kernel: downloaded and unpacked, not installed ---------------------------
if ! have_kernel; then
    # linux-image-cloud-amd64 is a metapackage; its Depends names the real package,
    # e.g. linux-image-6.12.95+deb12-cloud-amd64 (= 6.12.95-1~bpo12+1).
    dep=$(apt-cache show "linux-image-cloud-amd64/$BPO" 2>/dev/null |
        sed -n 's/^Depends: \(linux-image-6\.12[^ ,]*\) (= \([^)]*\)).*/\1=\2/p' | head -n 1)
    [ -n "$dep" ] || die "cannot resolve linux-image-cloud-amd64 6.12 in $BPO (apt-cache show)"
    pkg=${dep%%=*} ver=${dep#*=}
    kver=${pkg#linux-image-}
    dest=$KCACHE/$kver
    log "apt-get download $pkg=$ver; dpkg-deb -x into $dest"
    tmp=$(mktemp -d "${TMPDIR:-/tmp}/epochfsd-kernel.XXXXXX")
    # apt-get download writes into the current directory (as _apt when root, so
    # the directory must be writable for it).
    chmod 0777 "$tmp"
    (cd "$tmp" && apt-get download -qq "$pkg=$ver" >&2) || { rm -rf "$tmp"; die "apt-get download $pkg=$ver failed"; }
    rm -rf "$dest.tmp"
    mkdir -p "$dest.tmp"
    dpkg-deb -x "$tmp"/"$pkg"_*.deb "$dest.tmp"
    rm -rf "$tmp"
    [ -f "$dest.tmp/boot/vmlinuz-$kver" ] || die "no boot/vmlinuz-$kver in $pkg"
    # Debian ships the kernel image mode 0600; the guest runners (libvirt's QEMU
    # runs as libvirt-qemu) only need to read it.
    chmod 0644 "$dest.tmp/boot/vmlinuz-$kver"
    rm -rf "$dest"
    mv "$dest.tmp" "$dest"
    ln -sfn "$kver/boot/vmlinuz-$kver" "$KCACHE/vmlinuz"
fi

# Verify, so a partial install fails here and not in the middle of a guest run.
have_qemu || die "qemu-system-x86_64 >= 9 missing after install"
installed busybox-static || die "busybox-static missing after install"
have_kernel || die "no guest kernel at $KCACHE/vmlinuz"
log "done ($(qemu-system-x86_64 --version | head -n 1); guest kernel $(readlink -f "$KCACHE/vmlinuz"))"
[ "$print_kernel" = 1 ] && readlink -f "$KCACHE/vmlinuz"
exit 0
