#!/usr/bin/env bash
# Runs pjdfstest in the 6.12 guest twice, first on a share served by epochfsd, then
# on one served by upstream virtiofsd 1.14, one QEMU after the other, and writes
# both results side by side into docs/conformance.md (the generated section).
#
# Usage: guest-tests/pjdfstest-compare.sh [--doc FILE] [--section NAME] [--smp N]
#            [--timeout S] [--epochfsd-args "..."] [--virtiofsd-args "..."] [--no-doc]
#            [--no-run]
#   --doc FILE          the document whose generated section is replaced
#                       (default docs/conformance.md)
#   --section NAME      which generated section of the document (default
#                       "default"); one per daemon configuration compared
#   --no-doc            print the comparison only, leave the document alone
#   --no-run            no guest runs: rebuild the table from the results of the
#                       section's last runs (e.g. after editing the by-design list);
#                       give the same --*-args as for those runs
#   --smp N             guest vCPUs (1)
#   --timeout S         each guest run (1800)
#   --epochfsd-args A   extra epochfsd arguments (none: defaults, --cache auto)
#   --virtiofsd-args A  extra virtiofsd arguments (none: defaults, --cache auto;
#                       run.sh adds --sandbox none)
# Environment: EPOCHFSD_BIN, VIRTIOFSD_BIN, SKIP_DEPS (passed to run.sh).
#
# Files: guest-tests/work/pjdfstest-compare/SECTION/DAEMON/{run.log,results.txt,output.txt}
# (results.txt: RESULT<TAB>NAME<TAB>MESSAGE lines, see scenarios/pjdfstest.sh) and
# guest-tests/work/pjdfstest-compare/SECTION/table.md. Test cases listed in
# guest-tests/pjdfstest-by-design.txt are marked with the reason they cannot pass
# through virtio-fs.
# Exit status: 0 if both runs produced results and epochfsd passed at least as many
# test cases as virtiofsd; 1 otherwise; 2 on bad usage.
set -uo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/.." && pwd)
DOC=$REPO/docs/conformance.md SECTION=default WRITE_DOC=1 RUN=1 SMP=1 TIMEOUT=1800 EARGS="" VARGS=""
usage() { sed -n '2,/^set -uo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 2; }
while [ $# -gt 0 ]; do
    case "$1" in
        --doc) DOC=$2; shift 2 ;;
        --section) SECTION=$2; shift 2 ;;
        --no-doc) WRITE_DOC=0; shift ;;
        --no-run) RUN=0; shift ;;
        --smp) SMP=$2; shift 2 ;;
        --timeout) TIMEOUT=$2; shift 2 ;;
        --epochfsd-args) EARGS=$2; shift 2 ;;
        --virtiofsd-args) VARGS=$2; shift 2 ;;
        -h|--help) usage ;;
        *) echo "pjdfstest-compare: unknown argument: $1" >&2; usage ;;
    esac
done
log() { echo "pjdfstest-compare: $*" >&2; }

[[ $SECTION =~ ^[A-Za-z0-9_.-]+$ ]] || { echo "pjdfstest-compare: --section: letters, digits, . _ - only" >&2; exit 2; }
WORK=$HERE/work/pjdfstest-compare/$SECTION
BYDESIGN=$HERE/pjdfstest-by-design.txt
mkdir -p "$WORK"
if [ "$RUN" = 1 ]; then
    PJD=$("$HERE/build-pjdfstest.sh") || { log "guest-tests/build-pjdfstest.sh failed"; exit 1; }
    export EXTRA_BINS="${EXTRA_BINS:+$EXTRA_BINS }$PJD"
fi

# run_one DAEMON ARGS: one guest run; leaves DAEMON/results.txt or returns 1.
run_one() {
    local d=$1 args=$2 dir=$WORK/$1
    rm -rf "$dir"
    mkdir -p "$dir"
    log "$d: guest-tests/run.sh pjdfstest --daemon $d ${args:+--daemon-args \"$args\"} (log: $dir/run.log)"
    "$HERE/run.sh" pjdfstest --daemon "$d" --smp "$SMP" --timeout "$TIMEOUT" \
        --shared-dir "$dir/share" ${args:+--daemon-args "$args"} > "$dir/run.log" 2>&1
    echo "run.sh exit status $?" >> "$dir/run.log"
    tail -n 2 "$dir/run.log" | sed "s/^/  $d| /" >&2
    daemon_version "$d" > "$dir/version.txt"
    [ -s "$dir/share/pjdfstest-results.txt" ] || { log "$d: no results file"; return 1; }
    cp "$dir/share/pjdfstest-results.txt" "$dir/results.txt"
    cp "$dir/share/pjdfstest-output.txt" "$dir/output.txt" 2>/dev/null
    # pjdfstest leaves files of other users behind only on failure; the share is
    # not needed after this.
    rm -rf "$dir/share"
}

# daemon_version DAEMON: what ran, for the table.
daemon_version() {
    local bin mod=""
    case "$1" in
        epochfsd)
            if [ -n "${EPOCHFSD_BIN:-}" ]; then echo "epochfsd ($EPOCHFSD_BIN)"
            else   # the commit, and whether the daemon's sources differ from it
                git -C "$REPO" diff --quiet HEAD -- src Cargo.toml Cargo.lock 2>/dev/null || mod=" + uncommitted changes"
                echo "epochfsd $(git -C "$REPO" rev-parse --short HEAD 2>/dev/null)${mod:-}"
            fi ;;
        virtiofsd)   # the binary run.sh started
            bin=$(sed -n 's/^run.sh: daemon: \([^ ]*\) .*/\1/p' "$WORK/virtiofsd/run.log" | head -n 1)
            "${bin:-virtiofsd}" --version 2>/dev/null | head -n 1 ;;
    esac
}

ok=1
if [ "$RUN" = 1 ]; then
    run_one epochfsd "$EARGS" || ok=0
    run_one virtiofsd "$VARGS" || ok=0
fi
for d in epochfsd virtiofsd; do [ -s "$WORK/$d/results.txt" ] || ok=0; done
[ "$ok" = 1 ] || { log "a run produced no results; see $WORK/*/run.log"; exit 1; }

# ---- the side-by-side table ---------------------------------------------------------
version() { cat "$WORK/$1/version.txt" 2>/dev/null || echo "$1"; }
TABLE=$WORK/table.md
awk -F '\t' -v bydesign="$BYDESIGN" -v ever="$(version epochfsd)" -v vver="$(version virtiofsd)" -v eargs="${EARGS:-defaults}" -v vargs="${VARGS:-defaults}" '
BEGIN {
    while ((getline line < bydesign) > 0) {
        if (line ~ /^#/ || line !~ /\t/) continue
        split(line, f, "\t"); reason[f[1]] = f[2]
    }
}
FNR == 1 { d++ }
/^#/ { next }
{
    names[$2] = 1; res[d, $2] = $1
    if ($1 == "fail" || $1 == "xpass") msg[d, $2] = $3
    n[d, $1]++; total[d]++
}
function show(r) { return r == "pass" ? "pass" : r == "" ? "missing" : r == "skip" ? "skipped" : "**" r "**" }
function esc(s) { gsub(/\|/, "\\|", s); return substr(s, 1, 160) }
END {
    printf "Runs: %s (%s) and %s (%s), same guest, same pjdfstest binary and configuration.\n\n", ever, eargs, vver, vargs
    print "| | epochfsd | virtiofsd |"
    print "|---|---:|---:|"
    split("pass fail skip xfail xpass", kinds, " ")
    for (k = 1; k <= 5; k++) printf "| %s | %d | %d |\n", kinds[k], n[1, kinds[k]], n[2, kinds[k]]
    printf "| total | %d | %d |\n\n", total[1], total[2]
    cnt = 0
    for (t in names) sorted[++cnt] = t
    for (i = 2; i <= cnt; i++) { v = sorted[i]; for (j = i - 1; j >= 1 && sorted[j] > v; j--) sorted[j + 1] = sorted[j]; sorted[j + 1] = v }
    print "Test cases that did not pass on at least one daemon:\n"
    print "| test case | epochfsd | virtiofsd | class | epochfsd message |"
    print "|---|---|---|---|---|"
    for (i = 1; i <= cnt; i++) {
        t = sorted[i]; e = res[1, t]; v = res[2, t]
        if (e == "pass" && v == "pass") continue
        if (t in reason) class = "by design: " reason[t]
        else if (e == "pass") class = "virtiofsd only"
        else if (v == "pass") class = "epochfsd only"
        else if (e == "skip" && v == "skip") class = "skipped on both"
        else class = "both"
        printf "| `%s` | %s | %s | %s | %s |\n", t, show(e), show(v), esc(class), esc(msg[1, t])
    }
    print "\n<details><summary>All " cnt " test cases</summary>\n"
    print "| test case | epochfsd | virtiofsd |"
    print "|---|---|---|"
    for (i = 1; i <= cnt; i++) { t = sorted[i]; printf "| `%s` | %s | %s |\n", t, show(res[1, t]), show(res[2, t]) }
    print "\n</details>"
}' "$WORK/epochfsd/results.txt" "$WORK/virtiofsd/results.txt" > "$TABLE"

epass=$(grep -c '^pass	' "$WORK/epochfsd/results.txt")
vpass=$(grep -c '^pass	' "$WORK/virtiofsd/results.txt")
sed '/^<details>/,$d' "$TABLE"

if [ "$WRITE_DOC" = 1 ]; then
    BEGIN_MARK="<!-- BEGIN pjdfstest-compare $SECTION (generated by guest-tests/pjdfstest-compare.sh; do not edit) -->"
    END_MARK="<!-- END pjdfstest-compare $SECTION -->"
    if [ ! -f "$DOC" ] || ! grep -qF "$BEGIN_MARK" "$DOC"; then
        { [ -f "$DOC" ] && cat "$DOC"; printf '\n%s\n%s\n' "$BEGIN_MARK" "$END_MARK"; } > "$DOC.tmp"
        mv "$DOC.tmp" "$DOC"
    fi
    {
        # shellcheck disable=SC2016  # the backticks are Markdown
        printf 'Generated %s by `guest-tests/pjdfstest-compare.sh --section %s%s%s`.\n\n' \
            "$(date -u '+%Y-%m-%d %H:%M UTC')" "$SECTION" "${EARGS:+ --epochfsd-args \"$EARGS\"}" \
            "${VARGS:+ --virtiofsd-args \"$VARGS\"}"
        cat "$TABLE"
    } > "$WORK/section.md"
    awk -v b="$BEGIN_MARK" -v e="$END_MARK" -v sec="$WORK/section.md" '
        $0 == b { print; while ((getline l < sec) > 0) print l; skip = 1; next }
        $0 == e { skip = 0 }
        !skip' "$DOC" > "$DOC.tmp" && mv "$DOC.tmp" "$DOC"
    log "wrote the comparison into $DOC"
fi

log "pjdfstest passes: epochfsd $epass, virtiofsd $vpass"
if [ "$epass" -lt "$vpass" ]; then
    log "epochfsd passes fewer test cases than virtiofsd"
    exit 1
fi
