#!/bin/sh
# pjdfstest (the Rust POSIX file system test suite) on the virtio-fs share, run in
# the guest as root: guest-tests/scenarios/pjdfstest.sh /mnt
# Needs the static pjdfstest binary in the initramfs and its configuration in the
# share (pjdfstest.host-setup.sh puts it there); guest-tests/pjdfstest-compare.sh
# does both:
#   EXTRA_BINS=$(guest-tests/build-pjdfstest.sh) guest-tests/run.sh pjdfstest --timeout 1800
# Output:
#   console: `FAIL: pjdfstest:NAME: message` for every failing test case,
#            `INFO: skipped NAME: reason` for every skipped one, and one
#            `PASS: pjdfstest-ran: P passed, F failed, ...` once the suite finished
#            and its own summary agrees with the per-test lines.
#   share:   pjdfstest-results.txt, one line per test case
#            RESULT<TAB>NAME<TAB>MESSAGE (RESULT: pass fail skip xfail xpass)
#            and a summary line `# total=T pass=P fail=F skip=S xfail=X xpass=U`;
#            pjdfstest-output.txt, pjdfstest's own output.
. /scenarios/lib.sh
M=${1:-/mnt}
BIN=/usr/local/bin/pjdfstest
CONF=$M/pjdfstest.toml
RUN=$M/pjdfstest-run
OUT=/tmp/pjdfstest-output.txt
RES=/tmp/pjdfstest-results.txt
# Whole suite in the guest; run.sh's --timeout must be longer.
LIMIT=${PJDFSTEST_LIMIT:-1500}

if [ ! -x "$BIN" ]; then
    fail pjdfstest "no $BIN in the initramfs (EXTRA_BINS=\$(guest-tests/build-pjdfstest.sh))"
    done_marker; exit 0
fi
if [ ! -f "$CONF" ]; then
    fail pjdfstest "no $CONF (pjdfstest.host-setup.sh copies guest-tests/pjdfstest.toml)"
    done_marker; exit 0
fi

# The two unprivileged users pjdfstest switches to (see pjdfstest.toml).
grep -q '^nobody:' /etc/passwd || echo 'nobody:x:65534:65534:nobody:/:/bin/false' >> /etc/passwd
grep -q '^tests:' /etc/passwd || echo 'tests:x:1001:1001:tests:/:/bin/false' >> /etc/passwd
grep -q '^nobody:' /etc/group || echo 'nobody:x:65534:' >> /etc/group
grep -q '^tests:' /etc/group || echo 'tests:x:1001:' >> /etc/group
mkdir -p /tmp/pjdfstest-secondary "$RUN"
# pjdfstest's ETXTBSY cases copy and run `which sleep`; busybox's sleep exits at
# once under another name, so a real one goes first in PATH (helpers/sleep.c).
if [ -x "$M/.pjdfstest-bin/sleep" ]; then
    mkdir -p /tmp/pjdfstest-bin
    cp "$M/.pjdfstest-bin/sleep" /tmp/pjdfstest-bin/sleep
    export PATH=/tmp/pjdfstest-bin:$PATH
    info "sleep for the ETXTBSY cases: $(which sleep)"
else
    fail pjdfstest-sleep "no $M/.pjdfstest-bin/sleep (pjdfstest.host-setup.sh builds it)"
fi
chmod 0755 "$RUN"

# Two runs, merged: the 13 EROFS cases (which remount the share read-only) in a
# process of their own first, then everything else with remounts off. In one
# process the EROFS cases after open::einval_invalid_combination fail on every
# file system (local tmpfs too): pjdfstest 0.2.2 leaks the descriptors that test
# opens (O_WRONLY|O_RDWR), and a file open for writing makes remount,ro EBUSY.
sed 's/^allow_remount *= *true/allow_remount = false/' "$CONF" > /tmp/pjdfstest-noremount.toml
info "pjdfstest: $("$BIN" --version 2>&1), config $CONF, directory $RUN"
t0=$(now)
NO_COLOR=1 timeout "$LIMIT" "$BIN" -c "$CONF" -p "$RUN" erofs > "$OUT.erofs" 2>&1
rc1=$?
grep -q " $M virtiofs ro," /proc/mounts && mount -o remount,rw "$M"   # a failed case may leave it ro
NO_COLOR=1 timeout "$LIMIT" "$BIN" -c /tmp/pjdfstest-noremount.toml -p "$RUN" > "$OUT.main" 2>&1
rc2=$?
rc="$rc1/$rc2"
info "pjdfstest exit status $rc (EROFS run/main run) after $(elapsed "$t0") s"
{ echo "=== pjdfstest erofs (EROFS cases, own process)"; cat "$OUT.erofs"
  echo "=== pjdfstest (all, allow_remount = false)"; cat "$OUT.main"; } > "$OUT"

# parse FILE: one RESULT<TAB>NAME<TAB>MESSAGE line per test case, then a summary
# line `# total=... summary=<pjdfstest's Summary line>`. Result lines are
# `NAME <spaces> ok|FAILED|skipped|failed as expected|PASSED UNEXPECTEDLY`; the
# lines after one (up to the next result line) are its message.
parse() {
    awk -v OFS='\t' '
function flush() {
    if (name != "") { gsub(/\t/, " ", msg); print res, name, msg; count[res]++ }
    name = ""; msg = ""
}
/^[A-Za-z0-9_:]+ +(ok|FAILED|skipped|failed as expected|PASSED UNEXPECTEDLY)$/ {
    flush()
    name = $1
    if ($0 ~ / ok$/) res = "pass"
    else if ($0 ~ / FAILED$/) res = "fail"
    else if ($0 ~ / skipped$/) res = "skip"
    else if ($0 ~ / failed as expected$/) res = "xfail"
    else res = "xpass"
    next
}
/^Summary:/ { flush(); summary = $0; next }
name != "" && $0 !~ /^[ \t]*$/ {
    line = $0; sub(/^[ \t]+/, "", line)
    msg = (msg == "" ? line : msg " | " line)
}
END {
    flush()
    t = count["pass"] + count["fail"] + count["skip"] + count["xfail"] + count["xpass"]
    printf "# total=%d pass=%d fail=%d skip=%d xfail=%d xpass=%d summary=%s\n", t,
        count["pass"], count["fail"], count["skip"], count["xfail"], count["xpass"], summary
}' "$1"
}

# check_summary LABEL FILE PARSED: pjdfstest's own Summary line must agree with
# the per-test lines.
check_summary() {
    _want=$(sed -n 's/^Summary: \([0-9]*\) failed, \([0-9]*\) skipped, \([0-9]*\) passed, \([0-9]*\) expected failures, \([0-9]*\) total$/fail=\1 skip=\2 pass=\3 xfail=\4 total=\5/p' "$2" | tail -n 1)
    _got=$(tail -n 1 "$3" | awk '{ split($0, a, /[ =]/); for (i = 2; i < 14; i += 2) v[a[i]] = a[i + 1];
        printf "fail=%d skip=%d pass=%d xfail=%d total=%d", v["fail"] + v["xpass"], v["skip"], v["pass"], v["xfail"], v["total"] }')
    if [ -z "$_want" ]; then
        fail "pjdfstest-ran-$1" "no Summary line (exit status $rc; 124 = killed after $LIMIT s); last output: $(tail -n 5 "$2" | tr '\n' ' ' | cut -c1-300)"
        return 1
    elif [ "$_want" != "$_got" ]; then
        fail "pjdfstest-ran-$1" "per-test lines ($_got) disagree with pjdfstest's summary ($_want)"
        return 1
    fi
}
parse "$OUT.erofs" > "$RES.erofs"
parse "$OUT.main" > "$RES.main"
ok=1
check_summary erofs "$OUT.erofs" "$RES.erofs" || ok=0
check_summary main "$OUT.main" "$RES.main" || ok=0
# Merge: the main run's list, each EROFS case taking its result from its own run.
awk -F '\t' -v OFS='\t' '
FNR == NR { if ($0 !~ /^#/) erofs[$2] = $0; next }
/^#/ { next }
{ line = ($2 in erofs) ? erofs[$2] : $0; print line; split(line, f, "\t"); count[f[1]]++; t++; seen[$2] = 1 }
END {
    for (n in erofs) if (!(n in seen)) { print erofs[n]; split(erofs[n], f, "\t"); count[f[1]]++; t++ }
    printf "# total=%d pass=%d fail=%d skip=%d xfail=%d xpass=%d merged\n", t,
        count["pass"], count["fail"], count["skip"], count["xfail"], count["xpass"]
}' "$RES.erofs" "$RES.main" > "$RES"

# Every failing (and unexpectedly passing) case on the console; skips as INFO.
awk -F '\t' '
$1 == "fail" || $1 == "xpass" { printf "FAIL: pjdfstest:%s: %s%s\n", $2, ($1 == "xpass" ? "passed unexpectedly " : ""), substr($3, 1, 300) }
$1 == "skip" { printf "INFO: skipped %s: %s\n", $2, $3 }' "$RES"

sumline=$(tail -n 1 "$RES")
info "pjdfstest results: $sumline"
if [ "$ok" = 1 ]; then
    pass "pjdfstest-ran: $(echo "$sumline" | cut -d' ' -f2-7) (exit status $rc, $(elapsed "$t0") s)"
fi

# Save both files in the share for the host (pjdfstest-compare.sh reads them).
if cp "$OUT" "$M/pjdfstest-output.txt" && cp "$RES" "$M/pjdfstest-results.txt" && sync -f "$M"; then
    pass pjdfstest-results-saved
else
    fail pjdfstest-results-saved "could not copy the results into $M"
fi
done_marker
