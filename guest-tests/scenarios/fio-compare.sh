#!/bin/sh
# NEEDS-MOUNT: no
# Guest benchmark comparing daemons within one boot (guest-tests/fio-compare.sh
# starts it): every virtio-fs tag in FIO_TAGS is mounted on /mnt/TAG, and each
# fio job of fio.sh (1 MiB sequential write and read, 4 KiB random read and
# write; numjobs 1 and 4; psync, O_DIRECT) runs on every mount back to back,
# the mount that goes first rotating from one job to the next; the whole round
# repeats FIO_REPS times. So the daemons share the guest, the boot and the host's
# load phase, and what differs between them is the daemon.
# Knobs (kernel command line K=V, which /init passes on as environment; lists
# are comma separated): FIO_TAGS, FIO_REPS (3), FIO_RUNTIME (5 s), FIO_SIZE (32M),
# FIO_JOBS (the eight NAME-jN jobs below), FIO_CPU (vCPU for numjobs=1 runs
# when a device's interrupt cannot be found, 0).
# Results: fio JSON per run in /mnt/TAG/fio-results/TAG/JOB.repN.json (written
# after the last run, from the guest's tmpfs), an INFO line per run.
. /scenarios/lib.sh
list() { printf '%s' "$1" | tr ',' ' '; }
TAGS=$(list "${FIO_TAGS:-virtiofsd,epochfsd-q1,epochfsd-q4}")
REPS=${FIO_REPS:-3}
RUNTIME=${FIO_RUNTIME:-5}
SIZE=${FIO_SIZE:-32M}
JOBS=$(list "${FIO_JOBS:-write-j1,read-j1,randread-j1,randwrite-j1,write-j4,read-j4,randread-j4,randwrite-j4}")
CPU=${FIO_CPU:-0}
RES=/tmp/fio-results

command -v fio >/dev/null || { fail fio "fio is not in the initramfs (EXTRA_BINS)"; done_marker; exit 0; }
info "fio-compare: tags [$TAGS], $REPS reps, ${RUNTIME}s runs, size $SIZE"

nmount=0 ntags=0
for t in $TAGS; do
    ntags=$((ntags + 1))
    mkdir -p "/mnt/$t" "$RES/$t"
    if mount -t virtiofs "$t" "/mnt/$t" 2>/tmp/mount.err; then
        nmount=$((nmount + 1))
        mkdir -p "/mnt/$t/fio-data"
        pass "mount-$t"
    else
        fail "mount-$t" "$(tr '\n' ' ' </tmp/mount.err)"
    fi
done
[ "$nmount" = "$ntags" ] || { done_marker; exit 0; }

# Interrupts: under TCG a completion interrupt on another vCPU than the one fio
# sleeps on costs a slow cross-vCPU wake-up, so where each device's interrupts
# land decides much of a single-job result. virtio-fs request-queue interrupts
# are kernel-managed (writes to /proc/irq/N/smp_affinity_list are refused), and
# the kernel puts each one-queue device's interrupt on a vCPU of its choosing.
# So instead of moving interrupts, each numjobs=1 run is pinned to the vCPU that
# takes its own device's requests.0 interrupt (for 4 queues: queue 0, whose
# vCPU maps to it): every daemon is measured with local completions.
# irq_cpu TAG: the vCPU taking TAG's requests.0 interrupt (FIO_CPU if unknown).
irq_cpu() {
    for _d in /sys/fs/virtiofs/*; do
        [ "$(cat "$_d/tag" 2>/dev/null)" = "$1" ] || continue
        _dev=$(basename "$(readlink -f "$_d/device")")
        _n=$(grep -E " $_dev-requests\.0\$" /proc/interrupts | cut -d: -f1 | tr -d ' ')
        [ -n "$_n" ] && cut -d, -f1 "/proc/irq/$_n/effective_affinity_list" | cut -d- -f1 && return
    done
    echo "$CPU"
}
for t in $TAGS; do
    echo "$t $(irq_cpu "$t")"
done > /tmp/pin-cpus
# pin_cpu TAG: the vCPU for TAG's numjobs=1 runs.
pin_cpu() { awk -v t="$1" '$1 == t { print $2 }' /tmp/pin-cpus; }
for d in /sys/fs/virtiofs/*; do
    [ -r "$d/tag" ] || continue
    t=$(cat "$d/tag") dev=$(basename "$(readlink -f "$d/device")")
    info "device $dev tag $t: numjobs=1 runs on vCPU $(pin_cpu "$t")"
done
grep -E 'virtio[0-9]+-requests' /proc/interrupts | while read -r n rest; do
    n=${n%:}
    info "irq $n ${rest##* }: affinity $(cat "/proc/irq/$n/smp_affinity_list") effective $(cat "/proc/irq/$n/effective_affinity_list" 2>/dev/null)"
done

# Lay the files out once (4 files, enough for numjobs 4), outside the timed runs.
for t in $TAGS; do
    s=$(now)
    if fio --name=layout --directory="/mnt/$t/fio-data" --filename_format='f.$jobnum' --rw=write \
        --bs=1M --numjobs=4 --size="$SIZE" --create_only=1 >/tmp/fio.err 2>&1; then
        info "layout $t: $(elapsed "$s") s"
    else
        fail "layout-$t" "$(tr '\n' ' ' </tmp/fio.err | cut -c1-200)"
    fi
done

# run_job TAG JOB REP: one fio run, e.g. JOB=randwrite-j4.
run_job() {
    _rw=${2%-j*} _nj=${2##*-j} _bs=4k _pin=""
    case "$_rw" in read|write) _bs=1M ;; esac
    [ "$_nj" = 1 ] && _pin="--cpus_allowed=$(pin_cpu "$1")"
    _out=$RES/$1/$2.rep$3.json
    if fio --name="$_rw" $_pin --directory="/mnt/$1/fio-data" --filename_format='f.$jobnum' \
        --rw="$_rw" --bs="$_bs" --numjobs="$_nj" --size="$SIZE" --ioengine=psync --direct=1 \
        --time_based --runtime="$RUNTIME" --ramp_time=1 --group_reporting \
        --output-format=json --output="$_out" >/tmp/fio.err 2>&1; then
        info "fio $1 $2 rep$3 $(grep -E '"(iops|bw)" :' "$_out" | tr -d ' ,"' | tr '\n' ' ')"
        pass "fio-$1-$2-rep$3"
    else
        fail "fio-$1-$2-rep$3" "$(tr '\n' ' ' </tmp/fio.err | cut -c1-200)"
    fi
}

start=$(now)
run_rounds "$REPS" run_job "$JOBS" "$TAGS"
info "timed runs took $(elapsed "$start") s"
grep -E 'virtio[0-9]+-requests' /proc/interrupts | while read -r line; do info "irq: $line"; done

for t in $TAGS; do
    mkdir -p "/mnt/$t/fio-results"
    rm -rf "/mnt/$t/fio-data" "/mnt/$t/fio-results/$t"
    check "results-$t" cp -r "$RES/$t" "/mnt/$t/fio-results/$t"
    sync
    check "umount-$t" umount "/mnt/$t"
done
done_marker
