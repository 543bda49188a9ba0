#!/usr/bin/env bash
# Builds the top-level Dockerfile here (no registry needed) and runs epochfsd from
# the image:
#   1. base image: debootstrap bookworm (minbase) into guest-tests/work/container/rootfs,
#      `podman import` as localhost/epochfsd-base:bookworm (once; reused after);
#   2. crates: `cargo vendor --locked` into vendor/ of the build context (the build
#      container has no CA bundle for TLS to crates.io; vendor/ makes it offline);
#   3. `buildah bud --isolation chroot --storage-driver vfs --build-arg BASE_IMAGE=...`;
#   4. `--print-capabilities` inside the container (podman --runtime runc, explicit
#      --ulimit nofile);
#   5. what the sandbox needs in a container: the daemon started with each
#      sandbox mode, with and without --cap-add SYS_ADMIN (INFO lines; the
#      expected outcome of each is checked);
#   6. a guest (guest-tests/run.sh, the `demo` scenario: reads host files, writes its
#      own) served by epochfsd running in the container, with the share and the
#      socket directory bind-mounted at the same paths.
#
# Usage: scripts/container-test.sh [--scenario NAME] [--sandbox MODE] [--cap-add CAP]
#   --scenario NAME  guest scenario for step 6 (default demo)
#   --sandbox MODE   epochfsd --sandbox in step 6 (default none)
#   --cap-add CAP    podman --cap-add for step 6 (default: none added)
# Environment: REBUILD_BASE=1 (debootstrap again), NO_CACHE=1 (buildah --no-cache),
# SKIP_BUILD=1 (use an existing localhost/epochfsd:test).
# Output: PASS/FAIL/INFO lines, the last `container: P passed, F failed`.
set -uo pipefail

REPO=$(cd "$(dirname "$0")/.." && pwd)
WORK=$REPO/guest-tests/work/container
BASE=localhost/epochfsd-base:bookworm
IMAGE=localhost/epochfsd:test
SCENARIO=demo SANDBOX=none CAPADD=""
while [ $# -gt 0 ]; do
    case "$1" in
        --scenario) SCENARIO=$2; shift 2 ;;
        --sandbox) SANDBOX=$2; shift 2 ;;
        --cap-add) CAPADD=$2; shift 2 ;;
        -h|--help) sed -n '2,/^set -uo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) echo "container-test: unknown argument $1" >&2; exit 2 ;;
    esac
done

STORE=(--storage-driver vfs)
PODMAN=(podman "${STORE[@]}")
# nofile and nproc: podman's defaults (and even the shell's own hard limits, or
# --ulimit host) are refused here by runc with EPERM; 4096 each works. Enough for
# these tests; a production container wants nofile as high as its host allows
# (one descriptor per inode the guest holds without file handles).
NOFILE=${CONTAINER_NOFILE:-4096} NPROC=${CONTAINER_NPROC:-4096}
RUN=("${PODMAN[@]}" run --rm --runtime runc --network none --ulimit "nofile=$NOFILE:$NOFILE" --ulimit "nproc=$NPROC:$NPROC")

np=0 nf=0
pass() { echo "PASS: $1"; np=$((np + 1)); }
fail() { echo "FAIL: $1: $2"; nf=$((nf + 1)); }
log() { echo "container-test: $*" >&2; }
summary() { echo "container: $np passed, $nf failed"; }
die() { fail "$1" "$2"; summary; exit 1; }
secs() { echo $(( $(date +%s) - $1 )); }

mkdir -p "$WORK"

# ---- tools --------------------------------------------------------------------------
missing=()
for t in buildah:buildah podman:podman debootstrap:debootstrap runc:runc; do
    command -v "${t%%:*}" >/dev/null || missing+=("${t#*:}")
done
if [ ${#missing[@]} -gt 0 ]; then
    log "apt-get install ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${missing[@]}" >&2 ||
        die tools "apt-get install ${missing[*]} failed"
fi

# ---- 1. base image --------------------------------------------------------------------
t=$(date +%s)
if [ "${REBUILD_BASE:-0}" = 1 ] || ! "${PODMAN[@]}" image exists "$BASE" 2>/dev/null; then
    rm -rf "$WORK/rootfs"
    log "debootstrap --variant=minbase bookworm $WORK/rootfs"
    debootstrap --variant=minbase bookworm "$WORK/rootfs" http://deb.debian.org/debian >"$WORK/debootstrap.log" 2>&1 ||
        { tail -n 20 "$WORK/debootstrap.log" >&2; die base-image "debootstrap failed (log $WORK/debootstrap.log)"; }
    rm -rf "$WORK/rootfs/var/cache/apt/archives/"*.deb "$WORK/rootfs/var/lib/apt/lists/"*_Packages
    tar -C "$WORK/rootfs" -c . | "${PODMAN[@]}" import - "$BASE" >/dev/null ||
        die base-image "podman import failed"
    rm -rf "$WORK/rootfs"
    pass "base image $BASE from debootstrap minbase ($(secs "$t") s)"
else
    pass "base image $BASE exists (REBUILD_BASE=1 remakes it)"
fi

# ---- 2. vendored crates -----------------------------------------------------------------
t=$(date +%s)
stamp=$REPO/vendor/.cargo-lock.sha256
want=$(sha256sum "$REPO/Cargo.lock" | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
    rm -rf "$REPO/vendor"
    (cd "$REPO" && cargo vendor --locked --quiet vendor >/dev/null) || die vendor "cargo vendor failed"
    echo "$want" > "$stamp"
fi
pass "crates vendored into vendor/ ($(du -sh "$REPO/vendor" | cut -f1), $(secs "$t") s)"

# ---- 3. image -----------------------------------------------------------------------------
t=$(date +%s)
if [ "${SKIP_BUILD:-0}" = 1 ] && "${PODMAN[@]}" image exists "$IMAGE"; then
    echo "INFO: SKIP_BUILD=1: using the existing $IMAGE"
else
bud=(buildah "${STORE[@]}" bud --isolation chroot --layers --build-arg "BASE_IMAGE=$BASE" -t "$IMAGE" -f Dockerfile)
[ "${NO_CACHE:-0}" = 1 ] && bud+=(--no-cache)
log "${bud[*]} ."
if (cd "$REPO" && "${bud[@]}" .) >"$WORK/build.log" 2>&1; then
    pass "buildah built $IMAGE from Dockerfile ($(secs "$t") s; log $WORK/build.log)"
else
    tail -n 30 "$WORK/build.log" | sed 's/^/  build| /'
    die build "buildah bud failed (log $WORK/build.log)"
fi
fi
grep -m1 -E '^rustc [0-9]' "$WORK/build.log" | sed 's/^/INFO: build stage: /'
size=$("${PODMAN[@]}" image inspect --format '{{.Size}}' "$IMAGE" 2>/dev/null)
echo "INFO: image size $(( ${size:-0} / 1048576 )) MiB (base $(( $("${PODMAN[@]}" image inspect --format '{{.Size}}' "$BASE") / 1048576 )) MiB)"
if "${RUN[@]}" --entrypoint /bin/sh "$IMAGE" -c \
    'test -x /usr/libexec/epochfsd && test -f /usr/share/qemu/vhost-user/60-epochfsd.json && ! command -v cargo'; then
    pass "image has /usr/libexec/epochfsd and the vhost-user JSON, no toolchain"
else
    fail image-contents "binary or JSON missing, or cargo present in the runtime image"
fi

# ---- 4. capabilities ------------------------------------------------------------------------
if caps=$("${RUN[@]}" "$IMAGE" --print-capabilities 2>&1) && [[ $caps == *'"type":"fs"'* ]]; then
    pass "--print-capabilities in the container: $caps"
else
    fail print-capabilities "got: $caps"
fi

# ---- 5. the sandbox inside a container -------------------------------------------------------
# try_start NAME EXPECT PODMAN_ARGS... -- DAEMON_ARGS...: starts the daemon in the
# container and reports whether it got as far as listening on its socket.
try_start() {
    local name=$1 expect=$2; shift 2
    local pargs=() dargs=() dir out got cname=epochfsd-probe-$$
    while [ "$1" != -- ]; do pargs+=("$1"); shift; done
    shift; dargs=("$@")
    dir=$(mktemp -d "$WORK/probe.XXXXXX")
    mkdir -p "$dir/share" "$dir/sock"
    "${RUN[@]}" --name "$cname" "${pargs[@]}" -v "$dir/share:/share" -v "$dir/sock:/sock" \
        "$IMAGE" --socket-path /sock/s --shared-dir /share "${dargs[@]}" >"$dir/log" 2>&1 &
    local pid=$!
    for _ in $(seq 1 100); do
        [ -S "$dir/sock/s" ] && break
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.2
    done
    if [ -S "$dir/sock/s" ]; then got=listens; else got=fails; fi
    "${PODMAN[@]}" kill "$cname" >/dev/null 2>&1
    wait "$pid" 2>/dev/null
    out=$(grep -m1 -iE 'sandbox|error|denied' "$dir/log" | cut -c1-200)
    echo "INFO: sandbox probe: ${pargs[*]:-(default podman caps)} ${dargs[*]}: $got${out:+ ($out)}"
    if [ "$got" = "$expect" ]; then pass "sandbox probe $name: $got as expected"; else fail "sandbox-$name" "$got, expected $expect"; fi
    rm -rf "$dir"
}
try_start none-default-caps listens -- --sandbox none
try_start namespace-default-caps fails -- --sandbox namespace
try_start namespace-sys-admin listens --cap-add SYS_ADMIN -- --sandbox namespace
try_start chroot-default-caps listens -- --sandbox chroot

# ---- 6. a guest served from the container --------------------------------------------------
# run.sh starts "EPOCHFSD_BIN --socket-path S --shared-dir D ..."; this wrapper runs
# the same argv in the container, with S's directory and D bind-mounted at the same
# paths, in the foreground (podman passes SIGTERM on and returns the daemon's status).
WRAP=$WORK/epochfsd-in-container
cat >"$WRAP" <<EOF
#!/usr/bin/env bash
sock="" share=""
args=("\$@")
while [ \$# -gt 0 ]; do
    case "\$1" in
        --socket-path) sock=\$2; shift 2 ;;
        --shared-dir) share=\$2; shift 2 ;;
        *) shift ;;
    esac
done
exec ${RUN[*]} --name epochfsd-guest-\$\$ ${CAPADD:+--cap-add $CAPADD} \\
    -v "\$(dirname "\$sock"):\$(dirname "\$sock")" -v "\$share:\$share" \\
    $IMAGE "\${args[@]}"
EOF
chmod +x "$WRAP"
t=$(date +%s)
log "guest-tests/run.sh $SCENARIO with epochfsd in the container (--sandbox $SANDBOX${CAPADD:+, --cap-add $CAPADD})"
out=$(EPOCHFSD_BIN=$WRAP "$REPO/guest-tests/run.sh" "$SCENARIO" --queues 2 --smp 2 --daemon-args "--sandbox $SANDBOX" 2>&1)
rc=$?
printf '%s\n' "$out" | grep -E '^(FAIL|guest )' | sed 's/^/  guest| /'
if [ "$rc" = 0 ]; then
    pass "guest $SCENARIO served from the container, 2 request queues: $(printf '%s\n' "$out" | tail -n 1) ($(secs "$t") s)"
else
    printf '%s\n' "$out" | tail -n 30 | sed 's/^/  run| /'
    fail guest "guest-tests/run.sh $SCENARIO with epochfsd in the container failed"
fi

summary
[ "$nf" = 0 ]
