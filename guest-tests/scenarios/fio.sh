#!/bin/sh
# Guest benchmark: fio on the virtio-fs share with psync and O_DIRECT (so every
# I/O reaches the daemon): 1 MiB sequential write and read, 4 KiB random read
# and write, each with numjobs 1 and 4. Needs fio in the initramfs:
#   EXTRA_BINS="$(command -v fio)" guest-tests/run.sh fio --smp 4 [--queues 4]
# Results: one fio JSON file per job in /mnt/fio-results/ (the host reads them
# from the shared directory), and an INFO line per job on the console.
# Environment knobs on the kernel command line are not needed; sizes are fixed
# small so that a run takes about two minutes under TCG.
. /scenarios/lib.sh
MNT=$1
RUNTIME=${FIO_RUNTIME:-6}
SIZE=${FIO_SIZE:-32M}
OUT=$MNT/fio-results
mkdir -p "$OUT" "$MNT/fio-data"

command -v fio >/dev/null || { fail fio "fio is not in the initramfs (EXTRA_BINS)"; done_marker; exit 0; }

# Under TCG a completion interrupt that lands on another vCPU than the one fio
# sleeps on costs a slow cross-vCPU wake-up, and with one request queue the
# queue's interrupt goes to vCPU 0: single-job runs are pinned there, so that
# every daemon and queue count is measured the same way and runs repeat.
# job NAME RW BS NUMJOBS
job() {
    _name=$1-j$4
    _pin=""
    [ "$4" = 1 ] && _pin="--cpus_allowed=0"
    if fio --name="$1" $_pin --directory="$MNT/fio-data" --filename_format='f.$jobnum' \
        --rw="$2" --bs="$3" --numjobs="$4" --size="$SIZE" --ioengine=psync --direct=1 \
        --time_based --runtime="$RUNTIME" --ramp_time=1 --group_reporting \
        --output-format=json --output="$OUT/$_name.json" >/tmp/fio.err 2>&1; then
        _line=$(grep -E '"(iops|bw)" :' "$OUT/$_name.json" | tr -d ' ,"' | tr '\n' ' ')
        info "fio $_name $_line"
        pass "fio-$_name"
    else
        fail "fio-$_name" "$(tr '\n' ' ' </tmp/fio.err | cut -c1-200)"
    fi
}

for nj in 1 4; do
    # Lay the files out once per job count so reads and overwrites find them.
    job write write 1M "$nj"
    job read read 1M "$nj"
    job randread randread 4k "$nj"
    job randwrite randwrite 4k "$nj"
done
rm -rf "$MNT/fio-data"
# Which vCPUs took the virtio-fs queue interrupts (evidence for the pinning above).
grep -i 'virtio' /proc/interrupts | while read -r line; do info "irq: $line"; done
done_marker
