#!/usr/bin/env bash
# Host-side check after scenarios/syncfs-epochs.sh: reads the daemon's
# --trace-epochs file (SHAREDIR/../epochs.jsonl) and checks the guarantee from
# outside: the timed SYNCFS covers the epoch of the first held WRITE (A) and
# not that of the second (C), was answered after A was done and before C was;
# and B and C were taken off their queues while A was still held.
set -uo pipefail
S=${1:?usage: syncfs-epochs.host.sh SHAREDIR}
TRACE=$(dirname "$S")/epochs.jsonl
[ -s "$TRACE" ] || { echo "FAIL: host-trace: no trace at $TRACE"; exit 0; }
python3 - "$TRACE" <<'PY'
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
held = [l for l in lines if l["op"] == "WRITE" and l["done_us"] - l["executed_us"] >= 2_500_000]
if len(held) != 2:
    print(f"FAIL: host-trace-held-writes: expected 2 held WRITEs, found {len(held)}")
    sys.exit(0)
a, c = sorted(held, key=lambda l: l["received_us"])
syncs = [l for l in lines if l["op"] == "SYNCFS" and a["received_us"] < l["received_us"] < c["received_us"]]
if len(syncs) != 1:
    print(f"FAIL: host-trace-syncfs: expected 1 SYNCFS between A and C, found {len(syncs)}")
    sys.exit(0)
b = syncs[0]
ms = lambda us: f"{us / 1000:.0f} ms"
print(f"INFO: trace: A queue {a['queue']} epoch {a['epoch']}, B queue {b['queue']} closed epoch {b['epoch']}, "
      f"C queue {c['queue']} epoch {c['epoch']}; B waited {ms(b['answered_us'] - b['received_us'])}")
def check(name, ok, why):
    print(f"PASS: host-trace-{name}" if ok else f"FAIL: host-trace-{name}: {why}")
check("syncfs-covers-a", a["epoch"] <= b["epoch"], f"A epoch {a['epoch']} > B epoch {b['epoch']}")
check("syncfs-excludes-c", c["epoch"] > b["epoch"], f"C epoch {c['epoch']} <= B epoch {b['epoch']}")
check("syncfs-answered-after-a", b["answered_us"] >= a["done_us"], "B answered before A was done")
check("syncfs-answered-before-c", b["answered_us"] < c["done_us"], "B answered after C was done")
check("syncfs-succeeded", b["error"] == 0, f"error {b['error']}")
# B and C were taken off their queues while A was still held in the host: a
# request stuck in the host holds up no other (issue 10).
check("syncfs-taken-while-a-held", b["received_us"] < a["done_us"],
      f"B taken {ms(b['received_us'] - a['received_us'])} after A, A done after {ms(a['done_us'] - a['received_us'])}")
check("c-taken-while-a-held", c["received_us"] < a["done_us"],
      f"C taken {ms(c['received_us'] - a['received_us'])} after A, A done after {ms(a['done_us'] - a['received_us'])}")
PY
