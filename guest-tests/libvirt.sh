#!/usr/bin/env bash
# libvirt for real: installs Debian's libvirt (the version asked for), starts
# virtlogd and libvirtd itself (no systemd), defines a TCG domain whose
# <filesystem> names the daemon binary, lets libvirt start the daemon (as root,
# system mode) and QEMU, and checks that the guest mounts the share, writes and
# reads it (the `smoke` scenario and its host-side checks).
#
# Usage: guest-tests/libvirt.sh [--libvirt bookworm|backports] [--queues 1|4]
#            [--daemon epochfsd|virtiofsd] [--scenario NAME] [--timeout SECS]
#
#   --libvirt bookworm   libvirt 9.0 from Debian 12 (default); libvirt passes the
#                        old virtiofsd syntax `--fd=N -o source=DIR,...`
#             backports  libvirt 11.x from bookworm-backports; it asks the binary
#                        for `--print-capabilities` and passes `--shared-dir DIR ...`
#                        only when the answer lists `separate-options`
#                        The other version's packages are replaced (downgraded if
#                        need be); an `apt-get -s` check refuses any change to
#                        systemd's packages first.
#   --queues N           request queues (default 1). libvirt has no element for
#                        them: the domain sets the vhost-user-fs device's
#                        num-request-queues with <qemu:override>, and <binary path>
#                        names a wrapper script (RUNDIR/epochfsd-qN) that execs
#                        epochfsd with `--num-request-queues N` and libvirt's argv
#   --daemon KIND        epochfsd (default; target/release/epochfsd, built unless
#                        EPOCHFSD_BIN is set) or virtiofsd (upstream virtiofsd 1.14
#                        from scripts/install-virtiofsd.sh or VIRTIOFSD_BIN; 1 queue)
#   --scenario NAME      guest scenario (default smoke), picked by the guest's /init
#                        from the kernel command line (scenario=NAME)
#   --timeout S          guest run, from `virsh start` (default 600)
#
# Environment: EPOCHFSD_BIN, VIRTIOFSD_BIN, SKIP_DEPS=1 (no install-deps.sh),
# LIBVIRT_KEEP_RUNNING=1 (leave the libvirtd/virtlogd this run started running).
#
# Output: PASS/FAIL lines; the last line is
#   libvirt SCENARIO (libvirt VERSION, DAEMON, queues=N): P passed, F failed
# Files: guest-tests/work/libvirt-runs/NAME-DATE-XXXX/ (domain.xml, console.log,
# share/); the daemon's own output is libvirt's per-domain log
# /var/log/libvirt/qemu/DOMAIN-fs0-virtiofsd.log, QEMU's /var/log/libvirt/qemu/DOMAIN.log
# (both are printed on failure).
set -uo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/.." && pwd)

usage() { sed -n '2,/^set -uo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 2; }

LV=bookworm QUEUES=1 DAEMON=epochfsd SCENARIO=smoke TIMEOUT=600
while [ $# -gt 0 ]; do
    case "$1" in
        --libvirt) LV=$2; shift 2 ;;
        --queues) QUEUES=$2; shift 2 ;;
        --daemon) DAEMON=$2; shift 2 ;;
        --scenario) SCENARIO=$2; shift 2 ;;
        --timeout) TIMEOUT=$2; shift 2 ;;
        -h|--help) usage ;;
        *) echo "libvirt.sh: unknown argument: $1" >&2; usage ;;
    esac
done
case "$LV" in bookworm|backports) ;; *) echo "libvirt.sh: --libvirt bookworm|backports" >&2; exit 2 ;; esac
[[ $QUEUES =~ ^[1-9][0-9]*$ ]] || { echo "libvirt.sh: --queues needs a positive integer" >&2; exit 2; }
[[ $TIMEOUT =~ ^[1-9][0-9]*$ ]] || { echo "libvirt.sh: --timeout needs a positive integer" >&2; exit 2; }
case "$DAEMON" in
    epochfsd) ;;
    virtiofsd) [ "$QUEUES" = 1 ] || { echo "libvirt.sh: virtiofsd serves one request queue" >&2; exit 2; } ;;
    *) echo "libvirt.sh: --daemon epochfsd|virtiofsd" >&2; exit 2 ;;
esac
[ -f "$HERE/scenarios/$SCENARIO.sh" ] || { echo "libvirt.sh: no scenario $SCENARIO" >&2; exit 2; }

VIRSH=(virsh -q -c qemu:///system)
DOM=epochfsd-lvt-$LV-q$QUEUES
LOGDIR=/var/log/libvirt/qemu
FSLOG=$LOGDIR/$DOM-fs0-virtiofsd.log
QEMULOG=$LOGDIR/$DOM.log
LV_VERSION="?"

log() { echo "libvirt.sh: $*" >&2; }
npass=0 nfail=0
pass() { echo "PASS: $1"; npass=$((npass + 1)); }
fail() { echo "FAIL: $1: $2"; nfail=$((nfail + 1)); }
summary() { echo "libvirt $SCENARIO (libvirt $LV_VERSION, $DAEMON, queues=$QUEUES): $npass passed, $nfail failed"; }
show_logs() {
    local f
    for f in "$FSLOG" "$QEMULOG"; do
        echo "  log: $f (last 25 lines):"
        if [ -r "$f" ]; then tail -n 25 "$f" | sed 's/^/  | /'; else echo "  | (missing)"; fi
    done
}
setup_fail() { fail "$1" "$2"; summary; exit 1; }

# ---- host prerequisites ---------------------------------------------------------------
t_start=$(date +%s)
if [ "${SKIP_DEPS:-0}" != 1 ]; then
    "$HERE/install-deps.sh" || setup_fail install-deps "guest-tests/install-deps.sh failed"
fi
KERNEL=$(readlink -f "$HERE/work/kernel/vmlinuz" 2>/dev/null)
[ -r "$KERNEL" ] || setup_fail kernel "no guest kernel at guest-tests/work/kernel/vmlinuz (install-deps.sh)"
if [ "$DAEMON" = virtiofsd ]; then
    BIN=${VIRTIOFSD_BIN:-$("$REPO/scripts/install-virtiofsd.sh")} || setup_fail build "scripts/install-virtiofsd.sh failed"
elif [ -n "${EPOCHFSD_BIN:-}" ]; then
    BIN=$EPOCHFSD_BIN
else
    log "cargo build --release"
    (cd "$REPO" && cargo build --release --quiet) || setup_fail build "cargo build --release failed"
    BIN=$REPO/target/release/epochfsd
fi
BIN=$(readlink -f "$BIN")
[ -x "$BIN" ] || setup_fail build "no $DAEMON binary at $BIN"
INITRD=$("$HERE/build-initramfs.sh") || setup_fail initramfs "guest-tests/build-initramfs.sh failed"

# ---- libvirt packages -----------------------------------------------------------------
# Packages of one libvirt version: the monolithic libvirtd, the QEMU driver and
# virsh; 11.x splits out libvirt-common, libvirt-daemon-common, libvirt-daemon-log
# (virtlogd), which 9.0 does not have (removed when going back to 9.0).
PKGS_COMMON=(libvirt0 libvirt-clients libvirt-daemon libvirt-daemon-driver-qemu)
# virt-xml-validate needs xmllint (11.x's libvirt-clients depends on it, 9.0's not).
EXTRA_PKGS=(libxml2-utils)
PKGS_NEW=(libvirt-common libvirt-daemon-common libvirt-daemon-log)
installed_version() { dpkg-query -W -f='${db:Status-Abbrev} ${Version}' "$1" 2>/dev/null | awk '$1 == "ii" { print $2 }'; }
# The version of libvirt-daemon in suite $1 (bookworm or bookworm-backports).
suite_version() {
    apt-cache madison libvirt-daemon | awk -F'|' -v s=" $1/main " 'index($3, s) { gsub(/ /, "", $2); print $2; exit }'
}
case "$LV" in
    bookworm) SUITE=bookworm PKGS=("${PKGS_COMMON[@]}") ;;
    backports) SUITE=bookworm-backports PKGS=("${PKGS_COMMON[@]}" "${PKGS_NEW[@]}") ;;
esac
want=$(suite_version "$SUITE")
if [ -z "$want" ]; then
    apt-get update -qq
    want=$(suite_version "$SUITE")
fi
[ -n "$want" ] || setup_fail libvirt-install "apt-cache madison finds no libvirt-daemon in $SUITE"

# Ours: the libvirtd/virtlogd this run started (stopped at exit), by pid.
STARTED_PIDS=()
stop_pidfile_daemon() {   # NAME: stops the daemon whose pid is in /run/NAME.pid
    local pid
    pid=$(cat "/run/$1.pid" 2>/dev/null) || return 0
    [ -n "$pid" ] && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$1" ] || return 0
    log "stopping $1 (pid $pid)"
    kill -TERM "$pid" 2>/dev/null
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null
}

need=0
for p in "${PKGS[@]}"; do [ "$(installed_version "$p")" = "$want" ] || need=1; done
for p in "${EXTRA_PKGS[@]}"; do [ -n "$(installed_version "$p")" ] || need=1; done
# Files an earlier in-place switch lost (see the removal below) also need a reinstall.
for f in /usr/share/libvirt/cpu_map/index.xml /usr/share/libvirt/schemas/domain.rng; do
    [ -e "$f" ] || need=1
done
if [ "$need" = 1 ]; then
    args=()
    for p in "${PKGS[@]}"; do args+=("$p=$want"); done
    for p in "${EXTRA_PKGS[@]}"; do [ -n "$(installed_version "$p")" ] || args+=("$p"); done
    if [ "$LV" = bookworm ]; then
        for p in "${PKGS_NEW[@]}" libvirt-daemon-plugin-lockd libvirt-daemon-lock; do
            [ -n "$(installed_version "$p")" ] && args+=("$p-")
        done
    else
        # libvirt-daemon-driver-qemu 11.x needs systemd-container | sysvinit-core; the
        # candidate systemd-container depends on exactly its own systemd version, so
        # take the one matching the installed systemd (no systemd upgrade).
        sdv=$(installed_version systemd)
        if [ -n "$sdv" ] && apt-cache madison systemd-container | awk -F'|' '{gsub(/ /,"",$2); print $2}' | grep -qxF "$sdv"; then
            args+=("systemd-container=$sdv")
        fi
    fi
    sim=$(apt-get install -s --allow-downgrades --no-install-recommends "${args[@]}" 2>&1) ||
        { printf '%s\n' "$sim" | tail -n 12 >&2; setup_fail libvirt-install "apt-get cannot install libvirt $want: ${args[*]}"; }
    # Changes to packages that are not libvirt's: never systemd's; others reported.
    other=$(printf '%s\n' "$sim" | awk '($1 == "Inst" && $3 ~ /^\[/) || $1 == "Remv" { print $1, $2, $3, $4 }' |
        grep -vE '^(Inst|Remv) libvirt' || true)
    if printf '%s\n' "$other" | grep -qE '^(Inst|Remv) (systemd|libsystemd|libudev|udev|libpam-systemd|libnss-systemd)'; then
        printf '  %s\n' "$other" >&2
        setup_fail libvirt-install "installing libvirt $want would change systemd's packages (above); refusing"
    fi
    [ -z "$other" ] || { echo "INFO: apt also changes:"; printf '  %s\n' "$other"; }
    # A running libvirtd of the other version must not survive the switch.
    stop_pidfile_daemon libvirtd
    stop_pidfile_daemon virtlogd
    # Remove the installed libvirt packages first: 11.x moved files (cpu_map,
    # schemas) from the 9.0 packages into libvirt-common/libvirt-daemon-common, and
    # installing 9.0 over 11.x and then removing those loses the files.
    old_pkgs=()
    for p in "${PKGS_COMMON[@]}" "${PKGS_NEW[@]}" libvirt-daemon-plugin-lockd libvirt-daemon-lock; do
        [ -n "$(installed_version "$p")" ] && old_pkgs+=("$p")
    done
    if [ ${#old_pkgs[@]} -gt 0 ]; then
        log "apt-get remove ${old_pkgs[*]}"
        DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 remove -y -qq "${old_pkgs[@]}" >&2 ||
            setup_fail libvirt-install "apt-get remove ${old_pkgs[*]} failed"
    fi
    log "apt-get install ${args[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq --allow-downgrades --no-install-recommends "${args[@]}" >&2 ||
        setup_fail libvirt-install "apt-get install ${args[*]} failed"
fi
LV_VERSION=$(libvirtd --version | awk '{ print $NF }')
pass "libvirt $LV_VERSION installed (Debian $(installed_version libvirt-daemon), $SUITE)"

# ---- virtlogd and libvirtd, started here ------------------------------------------------
# running NAME: the daemon from /run/NAME.pid is alive and runs the installed binary.
running() {
    local pid
    pid=$(cat "/run/$1.pid" 2>/dev/null) || return 1
    [ -n "$pid" ] && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$1" ] || return 1
    # An upgrade or downgrade replaced the binary under it: "(deleted)".
    [[ $(readlink "/proc/$pid/exe" 2>/dev/null) != *deleted* ]]
}
start_daemon() {   # NAME
    if running "$1"; then return 0; fi
    stop_pidfile_daemon "$1"
    log "starting $1 -d"
    "$1" -d || return 1
    for _ in $(seq 1 100); do running "$1" && break; sleep 0.1; done
    running "$1" || return 1
    STARTED_PIDS+=("$(cat "/run/$1.pid")")
}
cleanup() {
    "${VIRSH[@]}" destroy "$DOM" >/dev/null 2>&1
    "${VIRSH[@]}" undefine "$DOM" >/dev/null 2>&1
    if [ "${LIBVIRT_KEEP_RUNNING:-0}" != 1 ]; then
        local p
        for p in "${STARTED_PIDS[@]}"; do
            kill -TERM "$p" 2>/dev/null
            for _ in $(seq 1 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
            kill -KILL "$p" 2>/dev/null
        done
    fi
}
trap cleanup EXIT
trap 'log "interrupted"; exit 130' INT TERM HUP

# libvirt-daemon-system (not installed: it brings the systemd units and the
# default network) would create the log directory and the user QEMU runs as
# (the QEMU driver does not start without it).
mkdir -p "$LOGDIR"
getent group kvm >/dev/null || groupadd --system kvm
getent group libvirt-qemu >/dev/null || groupadd --system libvirt-qemu
getent passwd libvirt-qemu >/dev/null ||
    useradd --system --home-dir /var/lib/libvirt --no-create-home --gid kvm \
        --groups libvirt-qemu --shell /usr/sbin/nologin libvirt-qemu
start_daemon virtlogd || setup_fail virtlogd "virtlogd -d did not start"
start_daemon libvirtd || setup_fail libvirtd "libvirtd -d did not start"
for _ in $(seq 1 120); do "${VIRSH[@]}" version >/dev/null 2>&1 && break; sleep 0.5; done
"${VIRSH[@]}" version >/dev/null 2>&1 || setup_fail libvirtd "virsh cannot connect to qemu:///system"
pass "libvirtd $LV_VERSION answers on qemu:///system"

# ---- run directory, wrapper, domain -----------------------------------------------------
RUNS=$HERE/work/libvirt-runs
mkdir -p "$RUNS"
# Keep the newest 4 runs (each smoke run leaves a 256 MiB file).
# shellcheck disable=SC2012
ls -1dt "$RUNS"/*/ 2>/dev/null | tail -n +5 | xargs -r rm -rf
RUNDIR=$(mktemp -d "$RUNS/$DOM-$DAEMON-$(date +%Y%m%d-%H%M%S)-XXXX")
# QEMU runs as libvirt-qemu: it has to reach the console file (libvirt chowns
# the file itself, not the directories on the way).
chmod 0755 "$RUNS" "$RUNDIR" "$HERE/work"
SHARE=$RUNDIR/share
mkdir -p "$SHARE"
CONSOLE=$RUNDIR/console.log
if [ -x "$HERE/scenarios/$SCENARIO.host-setup.sh" ]; then
    "$HERE/scenarios/$SCENARIO.host-setup.sh" "$SHARE" || setup_fail host-setup "$SCENARIO.host-setup.sh failed"
fi

BINARY=$BIN
if [ "$QUEUES" != 1 ]; then
    # libvirt cannot pass --num-request-queues: a wrapper adds it to libvirt's argv.
    BINARY=$RUNDIR/epochfsd-q$QUEUES
    cat >"$BINARY" <<EOF
#!/bin/sh
# libvirt has no <filesystem> element for the number of request queues; the domain
# sets the device's num-request-queues with <qemu:override>, and this wrapper
# gives epochfsd the same number, followed by the argv libvirt passes.
exec '$BIN' --num-request-queues $QUEUES "\$@"
EOF
    chmod 0755 "$BINARY"
fi

VCPUS=$(( QUEUES > 2 ? QUEUES : 2 ))
OVERRIDE=""
if [ "$QUEUES" != 1 ]; then
    OVERRIDE="
  <qemu:override>
    <qemu:device alias='fs0'>
      <qemu:frontend>
        <qemu:property name='num-request-queues' type='unsigned' value='$QUEUES'/>
      </qemu:frontend>
    </qemu:device>
  </qemu:override>"
fi
XML=$RUNDIR/domain.xml
cat >"$XML" <<EOF
<domain type='qemu' xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'>
  <name>$DOM</name>
  <memory unit='MiB'>1024</memory>
  <memoryBacking>
    <source type='memfd'/>
    <access mode='shared'/>
  </memoryBacking>
  <vcpu>$VCPUS</vcpu>
  <os>
    <type arch='x86_64'>hvm</type>
    <kernel>$KERNEL</kernel>
    <initrd>$INITRD</initrd>
    <cmdline>console=ttyS0 quiet panic=-1 rdinit=/init scenario=$SCENARIO queues=$QUEUES fstag=share</cmdline>
  </os>
  <features>
    <acpi/>
  </features>
  <cpu mode='maximum'/>
  <on_poweroff>destroy</on_poweroff>
  <on_reboot>destroy</on_reboot>
  <on_crash>destroy</on_crash>
  <devices>
    <emulator>$(command -v qemu-system-x86_64)</emulator>
    <filesystem type='mount' accessmode='passthrough'>
      <driver type='virtiofs' queue='1024'/>
      <binary path='$BINARY'/>
      <source dir='$SHARE'/>
      <target dir='share'/>
    </filesystem>
    <serial type='file'>
      <source path='$CONSOLE'/>
      <target port='0'/>
    </serial>
    <controller type='usb' model='none'/>
    <memballoon model='none'/>
  </devices>$OVERRIDE
</domain>
EOF

if command -v virt-xml-validate >/dev/null; then
    if out=$(virt-xml-validate "$XML" domain 2>&1); then
        pass "virt-xml-validate accepts the domain"
    else
        fail virt-xml-validate "$out"
    fi
fi

"${VIRSH[@]}" destroy "$DOM" >/dev/null 2>&1
"${VIRSH[@]}" undefine "$DOM" >/dev/null 2>&1
rm -f "$FSLOG" "$QEMULOG"
out=$("${VIRSH[@]}" define "$XML" 2>&1) || setup_fail define "virsh define: $out"
log "daemon log: $FSLOG   QEMU log: $QEMULOG   console: $CONSOLE   share: $SHARE"

# The daemon command line libvirt ran: it logs it at the top of the QEMU log.
daemon_argv() {
    local argv
    argv=$(grep -m1 -F -- " --fd=" "$QEMULOG" 2>/dev/null)
    [ -n "$argv" ] && echo "INFO: libvirt ran the daemon as: $argv"
}

# ---- start, wait for power-off ----------------------------------------------------------
t_boot=$(date +%s)
if ! out=$("${VIRSH[@]}" start "$DOM" 2>&1); then
    fail start "virsh start: $(printf '%s' "$out" | tr '\n' ' ')"
    daemon_argv
    echo "  (the daemon's own error is in $FSLOG)"
    show_logs
    summary
    exit 1
fi
pass "virsh start (libvirt started $DAEMON and QEMU)"

timed_out=0
while :; do
    state=$("${VIRSH[@]}" domstate "$DOM" 2>/dev/null | head -n 1)
    [ "$state" = "shut off" ] && break
    if [ $(( $(date +%s) - t_boot )) -ge "$TIMEOUT" ]; then
        timed_out=1
        "${VIRSH[@]}" destroy "$DOM" >/dev/null 2>&1
        break
    fi
    sleep 1
done
t_guest=$(( $(date +%s) - t_boot ))
daemon_argv

# ---- results ------------------------------------------------------------------------------
STRIP=$'s/\r//g; s/\x1bc//g; s/\x1b\\[[0-9;?]*[A-Za-z]//g'
CLEAN=$RUNDIR/console.txt
sed "$STRIP" "$CONSOLE" > "$CLEAN" 2>/dev/null
grep -E '^(PASS|FAIL|INFO|GUEST)' "$CLEAN"
gp=$(grep -c '^PASS: ' "$CLEAN")
gf=$(grep -c '^FAIL: ' "$CLEAN")
npass=$((npass + gp)); nfail=$((nfail + gf))
[ "$gp" -gt 0 ] || fail no-pass "the guest printed no PASS line"
grep -q '^SCENARIO-DONE' "$CLEAN" || fail scenario-done "the scenario did not print SCENARIO-DONE"
if [ "$timed_out" = 1 ]; then
    fail timeout "guest still running after $TIMEOUT s; last console lines:"
    tail -n 20 "$CLEAN" | sed 's/^/  console| /'
fi
if grep -qE 'Kernel panic|BUG:|Oops|WARNING: CPU' "$CLEAN"; then
    fail guest-kernel "$(grep -m1 -E 'Kernel panic|BUG:|Oops|WARNING: CPU' "$CLEAN")"
fi
if [ "$QUEUES" != 1 ]; then
    if grep -q "num-request-queues.*$QUEUES\|\"num-request-queues\":$QUEUES" "$QEMULOG" 2>/dev/null; then
        pass "QEMU got num-request-queues=$QUEUES (from <qemu:override>)"
    else
        fail override "no num-request-queues=$QUEUES in $QEMULOG"
    fi
fi
if [ -x "$HERE/scenarios/$SCENARIO.host.sh" ] && grep -q '^SCENARIO-DONE' "$CLEAN"; then
    hout=$(RUNDIR=$RUNDIR "$HERE/scenarios/$SCENARIO.host.sh" "$SHARE" 2>&1)
    printf '%s\n' "$hout" | grep -E '^(PASS|FAIL|INFO)'
    npass=$((npass + $(printf '%s\n' "$hout" | grep -c '^PASS: ')))
    nfail=$((nfail + $(printf '%s\n' "$hout" | grep -c '^FAIL: ')))
fi
if grep -qiE 'panicked|segfault' "$FSLOG" 2>/dev/null; then
    fail daemon-log "$(grep -m1 -iE 'panicked|segfault' "$FSLOG")"
fi

log "guest ran ${t_guest} s, whole run $(( $(date +%s) - t_start )) s; files in $RUNDIR"
if [ "$nfail" -gt 0 ]; then
    echo "  the daemon's log (libvirt): $FSLOG"
    show_logs
fi
summary
[ "$nfail" = 0 ]
