#!/bin/sh
# Smoke test of a virtio-fs mount, run in the guest: guest-tests/scenarios/smoke.sh /mnt
# Leaves files behind that smoke.host.sh checks on the host afterwards:
#   keep.txt, chmod.txt (0640), trunc.bin, renamed.txt, hard-a + hard-b (one inode),
#   keep.link -> keep.txt, dir/sub/nested.txt, pwrite.txt, bigfile + bigfile.sha256;
#   and removes: many/ (1000 files), removed.txt, file1, gone-dir/.
. /scenarios/lib.sh
M=${1:-/mnt}
t0=$(now)

# --- create / write / read / append -------------------------------------------------
printf "" > "$M/file1"
check create test -f "$M/file1"
expect create-size "$(stat -c %s "$M/file1")" 0
printf 'hello world\n' > "$M/file1"
expect write-read "$(cat "$M/file1")" "hello world"
printf 'second line\n' >> "$M/file1"
expect append "$(cat "$M/file1")" "hello world
second line"
expect append-size "$(stat -c %s "$M/file1")" 24

# --- rename -------------------------------------------------------------------------
mv "$M/file1" "$M/renamed.txt"
if [ ! -e "$M/file1" ] && [ "$(cat "$M/renamed.txt" 2>&1)" = "hello world
second line" ]; then pass rename; else fail rename "file1 still there or renamed.txt wrong: $(ls "$M" | tr '\n' ' ')"; fi
printf 'to be replaced\n' > "$M/victim.txt"
printf 'replacement\n' > "$M/new.txt"
mv "$M/new.txt" "$M/victim.txt"
if [ ! -e "$M/new.txt" ] && [ "$(cat "$M/victim.txt")" = replacement ]; then pass rename-replace; else fail rename-replace "victim.txt='$(cat "$M/victim.txt")'"; fi
rm -f "$M/victim.txt"

# --- truncate smaller and larger ----------------------------------------------------
printf 'hello world\n' > "$M/trunc.bin"
truncate -s 5 "$M/trunc.bin"
expect truncate-smaller-size "$(stat -c %s "$M/trunc.bin")" 5
expect truncate-smaller-content "$(cat "$M/trunc.bin")" hello
truncate -s 10 "$M/trunc.bin"
expect truncate-larger-size "$(stat -c %s "$M/trunc.bin")" 10
{ printf hello; head -c 5 /dev/zero; } > /tmp/trunc.expect
check truncate-larger-content cmp "$M/trunc.bin" /tmp/trunc.expect

# --- write in the middle of a file (pwrite) ----------------------------------------
printf 'abcdefghij' > "$M/pwrite.txt"
printf 'XYZ' | dd of="$M/pwrite.txt" bs=1 seek=3 conv=notrunc 2>/dev/null
expect pwrite-middle "$(cat "$M/pwrite.txt")" abcXYZghij

# --- chmod / stat -------------------------------------------------------------------
printf 'mode test\n' > "$M/chmod.txt"
chmod 640 "$M/chmod.txt"
expect chmod-stat-mode "$(stat -c %a "$M/chmod.txt")" 640
expect stat-size-type "$(stat -c '%s %F' "$M/chmod.txt")" "10 regular file"

# --- hard link ----------------------------------------------------------------------
printf 'linked\n' > "$M/hard-a"
if ln "$M/hard-a" "$M/hard-b" 2>/tmp/err; then
    expect hardlink-count "$(stat -c %h "$M/hard-a") $(stat -c %h "$M/hard-b")" "2 2"
    expect hardlink-same-inode "$(stat -c %i "$M/hard-a")" "$(stat -c %i "$M/hard-b")"
    printf 'via b\n' >> "$M/hard-b"
    expect hardlink-shared-data "$(cat "$M/hard-a")" "linked
via b"
else
    fail hardlink "ln: $(cat /tmp/err)"
fi

# --- unlink -------------------------------------------------------------------------
printf 'bye\n' > "$M/removed.txt"
ln "$M/removed.txt" "$M/removed-link" 2>/dev/null
if [ ! -f "$M/removed.txt" ]; then
    fail unlink "could not create removed.txt"
elif ! rm "$M/removed.txt" 2>/tmp/err; then
    fail unlink "rm: $(cat /tmp/err)"
elif [ -e "$M/removed.txt" ] || ls "$M" | grep -qx removed.txt; then
    fail unlink "removed.txt still visible after rm"
else
    pass unlink
fi
expect unlink-other-link-survives "$(cat "$M/removed-link" 2>&1) $(stat -c %h "$M/removed-link" 2>&1)" "bye 1"
rm -f "$M/removed-link"

# --- mkdir / nested / rmdir ---------------------------------------------------------
mkdir -p "$M/dir/sub"
expect mkdir "$(stat -c %F "$M/dir/sub" 2>&1)" directory
printf 'nested\n' > "$M/dir/sub/nested.txt"
expect nested-file "$(cat "$M/dir/sub/nested.txt")" nested
if rmdir "$M/dir/sub" 2>/tmp/err; then
    fail rmdir-nonempty "rmdir of a non-empty dir succeeded"
elif grep -q 'not empty' /tmp/err; then
    pass rmdir-nonempty-refused
else
    fail rmdir-nonempty "want ENOTEMPTY, got: $(cat /tmp/err)"
fi
if ! mkdir "$M/gone-dir" 2>/tmp/err; then
    fail rmdir "mkdir: $(cat /tmp/err)"
elif ! rmdir "$M/gone-dir" 2>/tmp/err; then
    fail rmdir "rmdir: $(cat /tmp/err)"
else
    check rmdir test ! -e "$M/gone-dir"
fi

# --- 1000 files in a directory ------------------------------------------------------
ts=$(now)
mkdir "$M/many"
i=0
while [ $i -lt 1000 ]; do
    printf "" > "$M/many/f$i" || break
    i=$((i + 1))
done
expect many-create-1000 "$(ls "$M/many" | wc -l)" 1000
expect many-stat-last "$(stat -c %s "$M/many/f999" 2>&1)" 0
if rm "$M/many"/* 2>/tmp/err; then
    expect many-remove "$(ls -A "$M/many" 2>&1 | wc -l)" 0
else
    fail many-remove "rm: $(head -n 3 /tmp/err | tr '\n' ' ')"
fi
if rmdir "$M/many" 2>/tmp/err; then
    check many-rmdir test ! -e "$M/many"
else
    fail many-rmdir "rmdir: $(cat /tmp/err)"
fi
info "1000 files create+list+remove: $(elapsed "$ts") s"

# --- symlink ------------------------------------------------------------------------
printf 'keep me\n' > "$M/keep.txt"
if ln -s keep.txt "$M/keep.link" 2>/tmp/err; then
    expect symlink-readlink "$(readlink "$M/keep.link")" keep.txt
    expect symlink-follow "$(cat "$M/keep.link")" "keep me"
    expect symlink-type "$(stat -c %F "$M/keep.link")" "symbolic link"
else
    fail symlink "ln -s: $(cat /tmp/err)"
fi

# --- fsync / statfs / readdir -------------------------------------------------------
if printf 'durable\n' | dd of="$M/fsync.txt" conv=fsync 2>/tmp/err; then pass fsync; else fail fsync "dd conv=fsync: $(cat /tmp/err)"; fi
rm -f "$M/fsync.txt"
blocks=$(stat -f -c %b "$M" 2>&1)
if [ "$blocks" -gt 0 ] 2>/dev/null; then pass statfs; else fail statfs "stat -f: $blocks"; fi
expect readdir-root "$(ls "$M" | tr '\n' ' ')" "chmod.txt dir hard-a hard-b keep.link keep.txt pwrite.txt renamed.txt trunc.bin "

# --- 256 MiB file: write, checksum, drop caches, read back --------------------------
# Deterministic content: block i (1 MiB) = 'B' + i as 14 digits + '\n' followed by
# the first 1048560 bytes of `seq 1 200000`. smoke.host.sh regenerates it.
seq 1 200000 | head -c 1048560 > /tmp/pattern
ts=$(now)
i=0
wrc=0
while [ $i -lt 256 ]; do
    printf 'B%014d\n' $i || { wrc=1; break; }
    cat /tmp/pattern || { wrc=1; break; }
    i=$((i + 1))
done > "$M/bigfile" || wrc=1
info "bigfile write: $(elapsed "$ts") s"
rm -f /tmp/pattern
if [ $wrc = 0 ]; then pass bigfile-write; else fail bigfile-write "a write failed at block $i"; fi
expect bigfile-size "$(stat -c %s "$M/bigfile")" 268435456
ts=$(now)
sum1=$(sha256sum "$M/bigfile" | cut -d' ' -f1)
info "bigfile sha256 (cached): $(elapsed "$ts") s: $sum1"
echo "$sum1  bigfile" > "$M/bigfile.sha256"
ts=$(now)
# sync -f: syncfs(2) on the mount, which reports errors (plain sync(2) cannot).
if sync -f "$M" 2>/tmp/err; then pass syncfs; else fail syncfs "sync -f: $(cat /tmp/err)"; fi
if sync; then pass sync; else fail sync "sync exit status $?"; fi
info "sync: $(elapsed "$ts") s"
echo 3 > /proc/sys/vm/drop_caches
ts=$(now)
sum2=$(sha256sum "$M/bigfile" | cut -d' ' -f1)
info "bigfile sha256 (after drop_caches, read from host): $(elapsed "$ts") s"
if [ -z "$sum1" ] || [ -z "$sum2" ]; then
    fail bigfile-reread-sha256 "no checksum (sha256sum failed)"
else
    expect bigfile-reread-sha256 "$sum2" "$sum1"
fi

# --- multiqueue: one MSI-X vector per request queue, named virtioN-requests.M --------
qirq=$(awk 'NR == 1 { ncpu = NF } /-requests\./ { s = 0; for (i = 2; i <= ncpu + 1; i++) s += $i; printf "%s=%d ", $NF, s }' /proc/interrupts)
info "request queue interrupts: ${qirq:-none found}"
if [ -n "${EXPECT_QUEUES:-}" ]; then
    expect request-queue-count "$(echo "$qirq" | wc -w)" "$EXPECT_QUEUES"
fi

info "smoke total in guest: $(elapsed "$t0") s"
done_marker
