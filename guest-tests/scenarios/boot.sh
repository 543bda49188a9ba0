#!/bin/sh
# NEEDS-MOUNT: no
# Rig self-test: the guest booted, /init ran this script, the console carries our
# lines. Needs no virtio-fs device (guest-tests/run.sh boot --no-daemon).
. /scenarios/lib.sh

check proc-mounted grep -q ' /proc proc ' /proc/mounts
check tmp-writable sh -c 'echo x > /tmp/x && [ "$(cat /tmp/x)" = x ]'
check virtiofs-in-kernel grep -qw virtiofs /proc/filesystems
check sha256sum-works sh -c '[ "$(printf abc | sha256sum | cut -d" " -f1)" = ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad ]'
info "cpus: $(grep -c ^processor /proc/cpuinfo)"
done_marker
