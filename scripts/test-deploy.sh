#!/usr/bin/env bash
# The slow deployment tests (issue 13), each timed:
#   1. guest-tests/check-install-deps.sh: install-deps.sh leaves /boot, systemd and
#      every installed package's version alone;
#   2. vmm-configs: virt-xml-validate accepts vmm-configs/libvirt-domain.xml, the
#      vhost-user JSON lists the features `epochfsd --print-capabilities` prints,
#      the example scripts parse;
#   3. guest-tests/libvirt.sh with epochfsd: libvirt 9.0 (bookworm) and 11.x
#      (bookworm-backports), 1 and 4 request queues each;
#   4. scripts/container-test.sh: Dockerfile built here, --print-capabilities and a
#      guest served from the container.
# Runs every step even when one fails; prints a table of results and wall times and
# exits non-zero if any step failed.
#
# Usage: scripts/test-deploy.sh [--with-virtiofsd] [--ci] [--only STEP[,STEP...]]
#   --with-virtiofsd  also run the libvirt tests (1 queue) with upstream virtiofsd 1.14,
#                     the reference for the launcher table
#   --ci              two libvirt runs instead of four (9.0 with 1 queue, 11.x with 4),
#                     to keep scripts/test-all.sh inside CI's 90 minutes
#   --only            install-deps, vmm-configs, libvirt, container
set -uo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD

WITH_VIRTIOFSD=0 CI_SET=0 ONLY=install-deps,vmm-configs,libvirt,container
while [ $# -gt 0 ]; do
    case "$1" in
        --with-virtiofsd) WITH_VIRTIOFSD=1; shift ;;
        --ci) CI_SET=1; shift ;;
        --only) ONLY=$2; shift 2 ;;
        *) echo "test-deploy: unknown argument $1" >&2; exit 2 ;;
    esac
done
want() { [[ ,$ONLY, == *",$1,"* ]]; }

declare -a NAMES=() RESULTS=() TIMES=()
t_all=$(date +%s)
# step NAME COMMAND...: runs it, records ok/FAILED and the wall time.
step() {
    local name=$1 t rc
    shift
    printf '\n==> %s\n' "$name"
    t=$(date +%s)
    "$@"
    rc=$?
    NAMES+=("$name") TIMES+=($(( $(date +%s) - t )))
    if [ "$rc" = 0 ]; then RESULTS+=(ok); else RESULTS+=("FAILED ($rc)"); fi
}

check_vmm_configs() {
    local bad=0 json caps bin=$REPO/target/release/epochfsd
    if command -v virt-xml-validate >/dev/null && command -v xmllint >/dev/null; then
        virt-xml-validate vmm-configs/libvirt-domain.xml domain || bad=1
    else
        echo "FAIL: virt-xml-validate/xmllint missing (guest-tests/libvirt.sh installs them)"; bad=1
    fi
    json=$(python3 -c 'import json,sys; print(" ".join(sorted(json.load(open(sys.argv[1]))["features"])))' vmm-configs/60-epochfsd.json)
    caps=$("$bin" --print-capabilities | python3 -c 'import json,sys; print(" ".join(sorted(json.load(sys.stdin)["features"])))')
    if [ "$json" = "$caps" ]; then
        echo "PASS: 60-epochfsd.json features [$json] = --print-capabilities"
    else
        echo "FAIL: 60-epochfsd.json features [$json] != --print-capabilities [$caps]"; bad=1
    fi
    for f in vmm-configs/*.sh; do bash -n "$f" || bad=1; done
    return $bad
}

if want install-deps; then
    step "install-deps leaves the host alone" guest-tests/check-install-deps.sh
fi
step "cargo build --release" cargo build --release --locked --quiet
if want libvirt; then
    for lv in bookworm backports; do
        queues="1 4"
        if [ "$CI_SET" = 1 ]; then
            queues=$([ "$lv" = bookworm ] && echo 1 || echo 4)
        fi
        for q in $queues; do
            step "libvirt $lv, epochfsd, $q queue(s)" env SKIP_DEPS=1 \
                EPOCHFSD_BIN="$REPO/target/release/epochfsd" guest-tests/libvirt.sh --libvirt "$lv" --queues "$q"
        done
        if [ "$WITH_VIRTIOFSD" = 1 ]; then
            step "libvirt $lv, virtiofsd 1.14, 1 queue" env SKIP_DEPS=1 guest-tests/libvirt.sh --libvirt "$lv" --queues 1 --daemon virtiofsd
        fi
    done
fi
if want vmm-configs; then
    step "vmm-configs: domain XML validates, JSON = capabilities" check_vmm_configs
fi
if want container; then
    step "container: build, capabilities, sandbox, guest" scripts/container-test.sh
fi

echo
echo "test-deploy results (wall time):"
nfail=0
for i in "${!NAMES[@]}"; do
    printf '  %-58s %-12s %5d s\n' "${NAMES[i]}" "${RESULTS[i]}" "${TIMES[i]}"
    [ "${RESULTS[i]}" = ok ] || nfail=$((nfail + 1))
done
echo "  total $(( $(date +%s) - t_all )) s"
echo "deploy: $(( ${#NAMES[@]} - nfail )) passed, $nfail failed"
[ "$nfail" = 0 ]
