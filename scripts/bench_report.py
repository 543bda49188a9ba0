#!/usr/bin/env python3
"""Turns the rig results of scripts/bench.sh into docs/benchmarks.md and SVG plots.

Usage: scripts/bench_report.py RESULTS_DIR DOC_PATH IMG_DIR

RESULTS_DIR holds facts.txt (key=value lines), host.jsonl (host rig),
alloc.jsonl (allocation rig) and guest/CONFIG/JOB.repN.json (fio JSON output of
guest-tests/fio-compare.sh; CONFIG is virtiofsd, epochfsd-q1 or epochfsd-q4).
The "## SYNCFS epochs" and "## SYNCFS flush cost" sections of an existing
DOC_PATH are kept as they are (the latter comes from the syncfs_flush_cost
bench and guest-tests/fsmark-compare.sh, pasted by hand).
Plain python3, no third-party modules.
"""

import glob
import json
import os
import re
import statistics
import sys

SYNCFS_HEADING = "## SYNCFS epochs"
KEPT_HEADINGS = (SYNCFS_HEADING, "## SYNCFS flush cost")
SYNCFS_PLACEHOLDER = "_Placeholder: the lead fills this section (SYNCFS epoch measurements)._"
SMALL_IO = ("lookup+getattr", "read 4k random", "write 4k random", "create+unlink")


def read_jsonl(path):
    rows = []
    if os.path.exists(path):
        with open(path) as f:
            for line in f:
                line = line.strip()
                if line.startswith("{"):
                    rows.append(json.loads(line))
    return rows


def read_facts(path):
    facts = {}
    if os.path.exists(path):
        with open(path) as f:
            for line in f:
                if "=" in line:
                    k, v = line.rstrip("\n").split("=", 1)
                    facts[k] = v
    return facts


def keep_syncfs_section(doc_path):
    """The existing SYNCFS section (heading included), or a placeholder."""
    if not os.path.exists(doc_path):
        return SYNCFS_HEADING + "\n\n" + SYNCFS_PLACEHOLDER + "\n"
    lines = open(doc_path).read().split("\n")
    out, inside = [], False
    for line in lines:
        if line.startswith("## "):
            inside = line.strip() in KEPT_HEADINGS
        if inside:
            out.append(line)
    if not out:
        return SYNCFS_HEADING + "\n\n" + SYNCFS_PLACEHOLDER + "\n"
    return "\n".join(out).rstrip() + "\n"


def fmt(v, digits=0):
    return f"{v:,.{digits}f}"


def ratio_str(r):
    return "n/a" if r is None else f"{r:.2f}x"


# ---- host rig ----------------------------------------------------------------------


def host_pairs(rows):
    """(epochfsd row, matching virtiofsd row or None); virtiofsd serves one
    queue, so it is matched at the same total number of requests in flight."""
    vfs = {(r["workload"], r["depth"]): r for r in rows if r["daemon"] == "virtiofsd"}
    pairs = []
    for r in rows:
        if r["daemon"] != "epochfsd":
            continue
        pairs.append((r, vfs.get((r["workload"], r["queues"] * r["depth"]))))
    return pairs


def ratio(e, v, key="ops_s"):
    if v is None or not v.get(key):
        return None
    return e[key] / v[key]


def host_table(rows):
    out = [
        "| workload | daemon | queues x depth | ops/s | MiB/s | p50 us | p99 us | daemon CPU us/op | ops/s vs virtiofsd |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    workloads = []
    for r in rows:
        if r["workload"] not in workloads:
            workloads.append(r["workload"])
    pairs = host_pairs(rows)
    for w in workloads:
        for r in sorted((r for r in rows if r["workload"] == w),
                        key=lambda r: (r["daemon"] != "virtiofsd", r["queues"], r["depth"])):
            rat = ""
            if r["daemon"] == "epochfsd":
                v = next((v for e, v in pairs if e is r), None)
                rat = ratio_str(ratio(r, v)) + (f" (vs d{v['depth']})" if v and r["queues"] > 1 else "")
            mib = fmt(r["mib_s"], 1) if r["mib_s"] else "-"
            out.append(
                f"| {w} | {r['daemon']} | {r['queues']} x {r['depth']} | {fmt(r['ops_s'])} | {mib} | "
                f"{r['p50_us']:.1f} | {r['p99_us']:.1f} | {r['cpu_us_per_op']:.1f} | {rat} |")
    return "\n".join(out)


# ---- guest rig ---------------------------------------------------------------------


GUEST_JOBS = ["write-j1", "read-j1", "randread-j1", "randwrite-j1",
              "write-j4", "read-j4", "randread-j4", "randwrite-j4"]
GUEST_CONFIGS = ["virtiofsd", "epochfsd-q1", "epochfsd-q4"]
GUEST_BASE = "virtiofsd"
# Directory names of the older one-boot-per-daemon rig.
GUEST_ALIASES = {"virtiofsd-q1": "virtiofsd"}


def guest_runs(results_dir):
    """{(config, job): {rep: (iops, MiB/s)}} from guest/CONFIG/JOB.repN.json
    (or JOB.json, a single run, rep 1)."""
    res = {}
    for path in sorted(glob.glob(os.path.join(results_dir, "guest", "*", "*.json"))):
        config = os.path.basename(os.path.dirname(path))
        config = GUEST_ALIASES.get(config, config)
        m = re.fullmatch(r"(.+?)(\.rep\d+)?\.json", os.path.basename(path))
        try:
            data = json.load(open(path))
        except (ValueError, OSError):
            continue
        jobs = data.get("jobs") or []
        if not m or not jobs:
            continue
        j = jobs[0]
        iops = j["read"]["iops"] + j["write"]["iops"]
        bw = (j["read"]["bw"] + j["write"]["bw"]) / 1024.0  # KiB/s -> MiB/s
        rep = int(m.group(2)[4:]) if m.group(2) else 1
        res.setdefault((config, m.group(1)), {})[rep] = (iops, bw)
    return res


def guest_medians(runs):
    """{(config, job): (median IOPS, median MiB/s)}."""
    return {k: (statistics.median(r[0] for r in v.values()), statistics.median(r[1] for r in v.values()))
            for k, v in runs.items() if v}


def guest_cell(job, values):
    """'median (min..max)' in MiB/s for 1 MiB jobs, IOPS for 4 KiB jobs."""
    if not values:
        return "-"
    values = list(values.values())
    if job.startswith(("write", "read")):
        vs = [v[1] for v in values]
        f, unit = (lambda x: f"{x:.1f}"), "MiB/s"
    else:
        vs = [v[0] for v in values]
        f, unit = (lambda x: f"{x:,.0f}"), "IOPS"
    med = f(statistics.median(vs)) + " " + unit
    return med if len(vs) == 1 else f"{med} ({f(min(vs))}..{f(max(vs))})"


def paired_spread(base, other):
    """' (lo..hi)': the range of the per-round ratios other/base, pairing the runs
    of the same round (which ran back to back); empty with fewer than 2 rounds."""
    if not base or not other:
        return ""
    rs = [other[k][0] / base[k][0] for k in base if k in other and base[k][0]]
    return f" ({min(rs):.2f}..{max(rs):.2f})" if len(rs) > 1 else ""


def guest_table(runs):
    g = guest_medians(runs)
    out = ["| fio job (psync, O_DIRECT) | " + " | ".join(GUEST_CONFIGS) +
           " | epochfsd-q1 vs virtiofsd | epochfsd-q4 vs virtiofsd |",
           "|---|" + "---:|" * (len(GUEST_CONFIGS) + 2)]
    for job in GUEST_JOBS:
        cells = [guest_cell(job, runs.get((c, job))) for c in GUEST_CONFIGS]
        base = g.get((GUEST_BASE, job))
        rats = []
        for c in ("epochfsd-q1", "epochfsd-q4"):
            v = g.get((c, job))
            cell = ratio_str(v[0] / base[0]) if v and base and base[0] else "n/a"
            rats.append(cell + paired_spread(runs.get((GUEST_BASE, job)), runs.get((c, job))))
        out.append(f"| {job} | " + " | ".join(cells) + " | " + " | ".join(rats) + " |")
    return "\n".join(out)


# ---- plots -------------------------------------------------------------------------


def svg_bars(title, groups, series, values, path, unit="x virtiofsd", ref=1.0):
    """Horizontal grouped bars: values[(group, series)] -> float."""
    colors = ["#4c72b0", "#dd8452", "#55a868", "#c44e52", "#8172b3"]
    bar_h, gap, left, width = 14, 10, 190, 420
    vmax = max([v for v in values.values() if v is not None] + [ref * 1.2, 0.1])
    rows = len(groups) * (len(series) * bar_h + gap)
    height = 60 + rows + 20 * len(series)
    p = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{left + width + 80}" height="{height}" '
         f'font-family="sans-serif" font-size="11">',
         f'<text x="10" y="18" font-size="14" font-weight="bold">{title}</text>']
    y = 40
    for g in groups:
        p.append(f'<text x="{left - 8}" y="{y + len(series) * bar_h / 2 + 4}" text-anchor="end">{g}</text>')
        for i, s in enumerate(series):
            v = values.get((g, s))
            if v is not None:
                w = width * v / vmax
                p.append(f'<rect x="{left}" y="{y}" width="{w:.1f}" height="{bar_h - 2}" fill="{colors[i % 5]}"/>')
                p.append(f'<text x="{left + w + 4:.1f}" y="{y + bar_h - 4}">{v:.2f}</text>')
            y += bar_h
        y += gap
    if ref is not None:
        x = left + width * ref / vmax
        p.append(f'<line x1="{x:.1f}" y1="34" x2="{x:.1f}" y2="{y}" stroke="#333" stroke-dasharray="4,3"/>')
        p.append(f'<text x="{x + 3:.1f}" y="32">{ref:g} {unit}</text>')
    for i, s in enumerate(series):
        p.append(f'<rect x="{left}" y="{y + 8 + 18 * i}" width="12" height="12" fill="{colors[i % 5]}"/>')
        p.append(f'<text x="{left + 18}" y="{y + 18 + 18 * i}">{s}</text>')
    p.append("</svg>")
    with open(path, "w") as f:
        f.write("\n".join(p) + "\n")


# ---- goals -------------------------------------------------------------------------


def goals(host, scatter, g, ceiling, rss, allocs):
    lines = []
    pairs = host_pairs(host)
    # 1. single queue rows
    single = [(e, v, ratio(e, v)) for e, v in pairs if e["queues"] == 1 and v]
    for c in ("epochfsd-q1",):
        for job in GUEST_JOBS:
            a, b = g.get((c, job)), g.get((GUEST_BASE, job))
            if a and b and b[0]:
                single.append(({"workload": "guest fio " + job, "queues": 1, "depth": job[-1]}, b, a[0] / b[0]))
    misses = [(e, r) for e, _, r in single if r < 1.0]
    worst = min((r for _, _, r in single), default=None)
    lines.append(goal_line(
        "at least 1.0x virtiofsd on every single-queue row", single and not misses,
        f"{len(single)} rows, lowest {ratio_str(worst)}",
        [f"{e['workload']} (q1 x d{e['depth']}): {r:.2f}x" for e, r in misses]))
    # 2. four queues, small I/O and metadata
    multi = [(e, v, ratio(e, v)) for e, v in pairs
             if e["queues"] == 4 and v and e["workload"] in SMALL_IO]
    for job in ("randread-j1", "randwrite-j1", "randread-j4", "randwrite-j4"):
        a, b = g.get(("epochfsd-q4", job)), g.get((GUEST_BASE, job))
        if a and b and b[0]:
            multi.append(({"workload": "guest fio " + job, "queues": 4, "depth": job[-1]}, b, a[0] / b[0]))
    misses = [(e, r) for e, _, r in multi if r < 1.5]
    worst = min((r for _, _, r in multi), default=None)
    lines.append(goal_line(
        "at least 1.5x virtiofsd on 4 KiB random I/O and metadata rows with 4 queues",
        multi and not misses, f"{len(multi)} rows, lowest {ratio_str(worst)}",
        [f"{e['workload']} (4 queues, depth {e['depth']}): {r:.2f}x" for e, r in misses]))
    # 3. ceiling, with the payload pages consecutive and scattered
    if ceiling:
        parts, fracs = [], []
        for label, rows in (("consecutive pages", host), ("scattered pages", scatter)):
            writes = [r for r in rows
                      if r["daemon"] == "epochfsd" and r["workload"] == "write 1m sequential"]
            if writes:
                best = max(writes, key=lambda r: r["mib_s"])
                fracs.append(best["mib_s"] / ceiling)
                parts.append(f"{label}: best {best['mib_s']:.0f} MiB/s (q{best['queues']} x "
                             f"d{best['depth']}) = {fracs[-1]:.0%}")
        if fracs:
            lines.append(goal_line(
                "1 MiB WRITE at 80% or more of the host's own write ceiling",
                all(f >= 0.8 for f in fracs),
                f"ceiling {ceiling:.0f} MiB/s; " + "; ".join(parts), []))
    # 4. idle RSS
    e_rss = next((r for r in rss if r["daemon"] == "epochfsd" and r["queues"] == 1), None)
    v_rss = next((r for r in rss if r["daemon"] == "virtiofsd"), None)
    if e_rss and v_rss:
        lines.append(goal_line(
            "idle resident memory no higher than virtiofsd's", e_rss["rss_kib"] <= v_rss["rss_kib"],
            f"epochfsd {e_rss['rss_kib']} KiB, virtiofsd {v_rss['rss_kib']} KiB after connect and INIT", []))
    # 5. allocations
    core = [a for a in allocs if not a["workload"].startswith("create")]
    if core:
        worst = max(core, key=lambda a: a["per_request"])
        lines.append(goal_line(
            "zero heap allocations per READ/WRITE/GETATTR (and LOOKUP) request in steady state",
            worst["per_request"] == 0.0,
            f"{sum(a['requests'] for a in core):,} requests counted, highest "
            f"{worst['per_request']:.4f} per request", []))
    return "\n".join(lines)


def goal_line(goal, met, detail, misses):
    s = f"- **{goal}**: {'met' if met else 'MISSED'} ({detail})."
    for m in misses:
        s += f"\n  - missed: {m}"
    return s


# ---- document ----------------------------------------------------------------------


def main():
    results, doc, img = sys.argv[1:4]
    os.makedirs(img, exist_ok=True)
    facts = read_facts(os.path.join(results, "facts.txt"))
    host_all = read_jsonl(os.path.join(results, "host.jsonl"))
    host = [r for r in host_all if r["kind"] == "row"]
    scatter_all = read_jsonl(os.path.join(results, "host-scatter.jsonl"))
    scatter = [r for r in scatter_all if r["kind"] == "row"]
    rss = [r for r in host_all if r["kind"] == "rss"]
    rss_after = [r for r in host_all if r["kind"] == "rss_after"]
    # Measured before and after the daemons; a ceiling is an upper bound.
    ceiling = max((r["mib_s"] for r in host_all + scatter_all if r["kind"] == "ceiling"),
                  default=None)
    pins = [r for r in host_all if r["kind"] == "pin"]
    allocs = [r for r in read_jsonl(os.path.join(results, "alloc.jsonl")) if r["kind"] == "alloc"]
    guest = guest_runs(results)
    g = guest_medians(guest)
    syncfs = keep_syncfs_section(doc)
    notes_path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "bench_notes.md")
    notes = open(notes_path).read().strip() if os.path.exists(notes_path) else ""

    # Plots.
    pairs = host_pairs(host)
    configs = sorted({(e["queues"], e["depth"]) for e, _ in pairs})
    workloads = []
    for r in host:
        if r["workload"] not in workloads:
            workloads.append(r["workload"])
    series = [f"{q} queue(s) x depth {d}" for q, d in configs]
    values = {}
    for e, v in pairs:
        values[(e["workload"], f"{e['queues']} queue(s) x depth {e['depth']}")] = ratio(e, v)
    svg_bars("Host rig: epochfsd ops/s relative to virtiofsd (same requests in flight)",
             workloads, series, values, os.path.join(img, "host-ratio.svg"))
    gvalues = {}
    for job in GUEST_JOBS:
        for c in ("epochfsd-q1", "epochfsd-q4"):
            a, b = g.get((c, job)), g.get((GUEST_BASE, job))
            gvalues[(job, c)] = a[0] / b[0] if a and b and b[0] else None
    svg_bars("Guest fio (TCG, one boot): epochfsd medians relative to virtiofsd's", GUEST_JOBS,
             ["epochfsd-q1", "epochfsd-q4"], gvalues, os.path.join(img, "guest-ratio.svg"))

    md = []
    md.append("# Benchmarks: epochfsd and upstream virtiofsd side by side\n")
    md.append("Generated by `scripts/bench.sh` (do not edit by hand, except the SYNCFS section, "
              "which the script keeps). Re-run it on a quiet machine for numbers worth quoting.\n")
    md.append("## Machine\n")
    md.append("| fact | value |\n|---|---|")
    for k in ("date", "cpu", "cores", "kernel", "memory", "share_fs", "load_before", "load_after",
              "epochfsd", "virtiofsd", "qemu", "guest_kernel"):
        if k in facts:
            md.append(f"| {k.replace('_', ' ')} | {facts[k]} |")
    md.append("")
    if pins:
        placement = (f"The host rig's client runs pinned to CPU(s) {pins[0]['client']} and each daemon "
                     f"to CPU(s) {pins[0]['daemon']}, the same for both daemons (`benches/host_rig/pin.rs`); "
                     "epochfsd's `--queue-threads auto` counts the CPUs it may use.")
    else:
        placement = "The host rig's client runs on the same cores as the daemon (not pinned)."
    md.append("Load: other jobs (builds, QEMU guests) may have shared this machine's cores during the run; "
              "the load averages above, taken before and after, say how much. " + placement + "\n")
    md.append("## Commands\n")
    md.append("```sh\nscripts/bench.sh                # everything below, then this file\n"
              f"{facts.get('host_cmd', 'cargo bench --bench host_rig')}\n"
              f"{facts.get('alloc_cmd', 'cargo bench --bench alloc_rig')}\n"
              f"{facts.get('guest_cmd', 'guest-tests/run.sh fio ...')}\n```\n")
    md.append("Daemon flags: epochfsd runs with its defaults (`--thread-pool-size 8`, `--cache auto`, "
              "`--sandbox namespace`, `--queue-threads auto`, `--queue-poll-us 50`) plus `--num-request-queues N`; virtiofsd 1.14 runs with its defaults "
              "(`--thread-pool-size 0`, i.e. requests served on the queue thread, `--cache auto`) plus "
              "`--sandbox none`. The sandbox is set up once at start and adds nothing on the request "
              "path.\n")
    md.append("## Goals of issue 5\n")
    md.append(goals(host, scatter, g, ceiling, rss, allocs) + "\n")
    if notes:
        md.append(notes + "\n")
    md.append("## Host rig\n")
    md.append("A load generator plays the VMM over a real vhost-user socket with memfd guest memory "
              "(`benches/host_rig/`, built on the test frontend in `tests/common/`). Requests are laid "
              "out as a Linux guest does (indirect descriptor tables, one descriptor per 4 KiB page of "
              "payload, the pages consecutive in guest memory), kicks are suppressed with EVENT_IDX as the guest driver does, and each queue "
              "keeps `depth` operations in flight. Per row: a warm-up, then a measured window; latency "
              "is per operation (submit to used-ring entry); daemon CPU is utime+stime from "
              "/proc/PID/stat over the window divided by the operations. virtiofsd has one request "
              "queue, so a 4-queue epochfsd row is compared with virtiofsd at the same number of "
              "requests in flight (4 x 1 with 1 x 4, 4 x 4 with 1 x 16). Every configuration runs "
              "three times, the daemons taking turns, and each row shows the repetition with the median "
              "ops/s.\n")
    md.append("Operations: `lookup+getattr` = LOOKUP of a random name among 1000 files, then GETATTR of "
              "it; `read/write 4k random` = one 4 KiB READ/WRITE at a random offset of a 64 MiB file; "
              "`read/write 1m sequential` = one 1 MiB READ/WRITE, sequential over a 256 MiB file; "
              "`create+unlink` = CREATE, RELEASE, UNLINK, FORGET.\n")
    md.append(host_table(host) + "\n")
    md.append("![host rig ratios](img/host-ratio.svg)\n")
    md.append("### Ceiling\n")
    if ceiling:
        md.append(f"A host process writing 1 MiB blocks from memory into a 256 MiB file in the share's "
                  f"filesystem (the same overwrite pattern as the 1 MiB WRITE workload; measured before and "
                  f"after the daemons, the higher figure kept): "
                  f"**{ceiling:,.0f} MiB/s**.\n")
        md.append("| epochfsd 1 MiB WRITE | MiB/s | fraction of the ceiling |\n|---|---:|---:|")
        for r in host:
            if r["daemon"] == "epochfsd" and r["workload"] == "write 1m sequential":
                md.append(f"| {r['queues']} x {r['depth']} | {r['mib_s']:,.0f} | {r['mib_s'] / ceiling:.0%} |")
        md.append("")
    if scatter:
        md.append("### 1 MiB READ and WRITE with scattered guest pages\n")
        md.append("The rows above lay a request's payload out in consecutive guest pages, as a guest "
                  "buffer in one huge page would be; the daemon then hands the kernel one segment. "
                  "Here (`--scatter-pages`) the pages come in reverse order, so none follows the "
                  "previous one in memory and every daemon moves 256 segments of 4 KiB, as with a "
                  "guest buffer of scattered pages.\n")
        md.append(host_table(scatter) + "\n")
        if ceiling:
            md.append("| epochfsd 1 MiB WRITE, scattered pages | MiB/s | fraction of the ceiling |\n"
                      "|---|---:|---:|")
            for r in scatter:
                if r["daemon"] == "epochfsd" and r["workload"] == "write 1m sequential":
                    md.append(f"| {r['queues']} x {r['depth']} | {r['mib_s']:,.0f} | "
                              f"{r['mib_s'] / ceiling:.0%} |")
            md.append("")
    md.append("### Memory\n")
    md.append("| daemon | queues | RSS after connect + INIT | threads | RSS after the workloads | threads |\n"
              "|---|---:|---:|---:|---:|---:|")
    for r in rss:
        a = next((x for x in rss_after if x["daemon"] == r["daemon"] and x["queues"] == r["queues"]
                  and x["depth"] == r["depth"]), None)
        md.append(f"| {r['daemon']} | {r['queues']} (depth {r['depth']} run) | {r['rss_kib']:,} KiB | "
                  f"{r['threads']} | {a['rss_kib'] if a else '-':,} KiB | {a['threads'] if a else '-'} |")
    md.append("")
    md.append("### Heap allocations per request\n")
    md.append("`benches/alloc_rig.rs`: the daemon runs in the rig's process under a counting global "
              "allocator that ignores the load generator's thread; after a warm-up, allocations made "
              "by all daemon threads during the measured window are divided by the requests served.\n")
    md.append("| workload | queues x depth | requests | allocations | per request |\n|---|---|---:|---:|---:|")
    for a in allocs:
        md.append(f"| {a['workload']} | {a['queues']} x {a['depth']} | {a['requests']:,} | "
                  f"{a['allocations']:,} | {a['per_request']:.4f} |")
    md.append("")
    md.append("## Guest rig\n")
    reps = max((len(v) for v in guest.values()), default=0)
    md.append("fio 3.33 inside a Linux 6.12 guest under QEMU TCG (no KVM), 4 vCPUs: "
              "`--ioengine=psync --direct=1` (every I/O reaches the daemon), 32 MiB files per job, "
              "laid out before the timed runs, a 1 s ramp then a timed run "
              "(`guest-tests/fio-compare.sh`, guest side `guest-tests/scenarios/fio-compare.sh`). "
              "The three daemon configurations share ONE guest boot: the guest has three virtio-fs "
              "devices (virtiofsd with 1 request queue, epochfsd with 1, epochfsd with 4), each with its "
              "own daemon and share, and runs every job on the three mounts back to back, the one going "
              f"first rotating from job to job; the whole round runs {reps} time(s). Each cell is the "
              "median of the repetitions with their spread (min..max) in brackets; the ratios "
              "compare medians, and in brackets is the range of the per-round ratios (each round's "
              "runs of a job ran back to back). So TCG's boot-to-boot swings and the host's load phases hit the three "
              "alike. Interrupts: the request-queue interrupts are kernel-managed, so each numjobs=1 "
              "run is pinned to the vCPU that takes its own device's (first) request-queue interrupt, "
              "i.e. every daemon gets local completions. TCG makes the guest the bottleneck for many "
              "rows, so these ratios are closer to 1 than the host rig's.\n")
    md.append(guest_table(guest) + "\n")
    md.append("![guest fio ratios](img/guest-ratio.svg)\n")
    md.append(syncfs)
    with open(doc, "w") as f:
        f.write("\n".join(md))


if __name__ == "__main__":
    main()
