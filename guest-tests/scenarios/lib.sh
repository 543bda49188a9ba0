# Helpers shared by the guest scenarios (busybox sh); sourced, not run.
# Output protocol: `PASS: name`, `FAIL: name: reason`, free-form `INFO: ...`,
# and `SCENARIO-DONE ...` as the very last line of a scenario.

npass=0
nfail=0

pass() { echo "PASS: $1"; npass=$((npass + 1)); }
fail() { echo "FAIL: $1: $2"; nfail=$((nfail + 1)); }
info() { echo "INFO: $*"; }

# check NAME CMD...: PASS when CMD exits 0.
check() {
    _name=$1; shift
    if _out=$("$@" 2>&1); then
        pass "$_name"
    else
        fail "$_name" "'$*' failed: $(printf %s "$_out" | tr '\n' ' ' | cut -c1-200)"
    fi
}

# expect NAME GOT WANT: PASS when the strings are equal.
expect() {
    if [ "$2" = "$3" ]; then
        pass "$1"
    else
        fail "$1" "got '$(printf %s "$2" | tr '\n' '|' | cut -c1-200)', want '$(printf %s "$3" | tr '\n' '|' | cut -c1-200)'"
    fi
}

now() { cut -d' ' -f1 /proc/uptime; }
# elapsed START: seconds (one decimal) since START (a value of now()).
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

# wait_for_migration T0: waits until the host has put .migrated in the share
# $M (the migration completed), failing wait-for-migration once 900 s have
# passed since T0 (a /proc/uptime time from now).
wait_for_migration() {
    while [ ! -e "$M/.migrated" ]; do
        sleep 0.2
        if [ "$(elapsed "$1" | cut -d. -f1)" -gt 900 ]; then
            fail wait-for-migration "no .migrated after 900 s"
            break
        fi
    done
    info "the host says the migration completed"
}

done_marker() { echo "SCENARIO-DONE passed=$npass failed=$nfail"; }

# rotate K WORDS...: the words, starting at the (K mod count)th.
rotate() {
    _k=$1; shift
    _k=$((_k % $#))
    _i=0 _head="" _tail=""
    for _w; do
        if [ "$_i" -lt "$_k" ]; then _tail="$_tail $_w"; else _head="$_head $_w"; fi
        _i=$((_i + 1))
    done
    echo $_head $_tail
}

# run_rounds REPS RUN ITEMS TAGS: the compare rigs' schedule. REPS times, for
# each item, RUN TAG ITEM REP on every tag, the tag that goes first rotating
# from one item to the next so no daemon always runs first.
run_rounds() {
    _reps=$1 _run=$2 _items=$3 _tags=$4
    _round=0 _rep=1
    while [ "$_rep" -le "$_reps" ]; do
        for _item in $_items; do
            # shellcheck disable=SC2086  # word lists
            for _t in $(rotate "$_round" $_tags); do
                "$_run" "$_t" "$_item" "$_rep"
            done
            _round=$((_round + 1))
        done
        _rep=$((_rep + 1))
    done
}
