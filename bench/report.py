"""Writes bench/results/latest.md and bench/results/throughput.png from a Bench."""

import time
from pathlib import Path

ANALYSIS = Path(__file__).resolve().parent / "results" / "analysis.md"


def _row(name, stat, unit=None):
    unit = unit or stat.unit
    return f"| {name} | {stat.fmt()} | {stat.fmt(stat.lo)} | {stat.fmt(stat.hi)} | {unit} | {len(stat.values)} |"


def _ratio(a, b):
    return a.median / b.median if b.median else float("nan")


def targets(bench):
    """(scenario, label, ratio, target, comparison, met) for every target measured."""
    r = bench.results
    out = []
    s3 = r.get("s3")
    if s3:
        for kind in ("s3rver", "s3s-fs"):
            if kind not in s3:
                continue
            t = s3[kind]
            faster = max(t["rclone"].median, t["s5cmd"].median)
            ratio = t["tributary"].median / faster
            out.append(("1", f"{kind}: Tributary sync / faster of rclone, s5cmd", ratio, 1.0, ">=", ratio >= 1.0))
            sb = s3.get(kind + "_sandbox")
            if sb:
                ratio = _ratio(sb["wasm"], sb["native"])
                out.append(("2", f"{kind}: WASM plugin listing / native listing", ratio, 0.9, ">=", ratio >= 0.9))
    p = r.get("pipeline")
    if p:
        ratio = _ratio(p["redis"], p["redis_benchmark"])
        out.append(("3", "Redis pipeline / redis-benchmark -P 100 SET", ratio, 0.15, ">=", ratio >= 0.15))
        ratio = _ratio(p["embedded"], p["redis"])
        out.append(("3", "embedded pipeline / Redis pipeline", ratio, 1.0, ">=", ratio >= 1.0))
        for store in ("embedded", "redis"):
            ratio = _ratio(p[store], p["listing"])
            out.append(("3", f"{store} pipeline / synthetic listing alone", ratio, 0.5, ">=", ratio >= 0.5))
    m = r.get("memory")
    if m:
        ratio = _ratio(m["large"], m["small"])
        out.append(("4", f"peak RSS {m['n_large']:,} / {m['n_small']:,} entries", ratio, 1.2, "<=", ratio <= 1.2))
        out.append(("4", "peak RSS at the large size (MiB)", m["large"].median, 150.0, "<", m["large"].median < 150))
    a = r.get("api")
    if a:
        for store in ("embedded", "redis"):
            if f"{store}_trigger" in a:
                ratio = _ratio(a[f"{store}_trigger"]["p99"], a[f"{store}_healthz"]["p99"])
                out.append(("5", f"{store}: trigger p99 / /healthz p99", ratio, 2.0, "<=", ratio <= 2.0))
    s = r.get("start")
    if s and "instantiate_us" in s:
        ms = s["instantiate_us"].median / 1000
        out.append(("6", "per-job instantiate, warm cache (ms)", ms, 1.0, "<=", ms <= 1.0))
    return out


def write_report(bench, out, machine, versions, elapsed):
    r = bench.results
    mode = "quick (`just bench --quick`)" if bench.quick else "full (`just bench`)"
    lines = [
        "# Tributary benchmarks",
        "",
        f"Run: {time.strftime('%Y-%m-%d %H:%M:%S %Z')}, mode **{mode}**, {bench.reps} repetitions per figure "
        f"(medians; min/max over the repetitions), {elapsed:.0f} s in all.",
        "",
        f"Machine: **{machine['cores']} cores** ({machine['cpu']}), {machine['memory']} RAM, {machine['os']}.",
        "",
        "Versions: " + "; ".join(f"{k}: `{v}`" for k, v in versions.items()) + ".",
        "",
        "Every service runs on this machine on loopback: the servers, Redis and the S3 emulators share the "
        "same cores as the tools measured, so every figure includes that contention. "
        "The server runs with `RUST_LOG=warn`.",
        "",
    ]

    tgt = targets(bench)
    if tgt:
        lines += ["## Targets (issue 6)", "", "| scenario | ratio | measured | target | met |", "|---|---|---|---|---|"]
        for sc, label, ratio, target, cmp, met in tgt:
            lines.append(f"| {sc} | {label} | {ratio:.3g} | {cmp} {target:g} | {'yes' if met else '**no**'} |")
        lines += ["", "What bounds each missed figure is in [analysis.md](analysis.md) (profiles included).", ""]

    head = ["| figure | median | min | max | unit | runs |", "|---|---|---|---|---|---|"]

    s3 = r.get("s3")
    lines += ["## 1. Sync vs bare listing (S3)", ""]
    if s3:
        lines += [f"One bucket of {s3['n']:,} objects (1,000 keys per folder). Tributary: a full sync on a fresh "
                  "server (embedded store), trigger → job `COMPLETED` (objects created, batches flushed). "
                  "rclone: `rclone lsf -R --files-only` (with `--disable ListR` on s3s-fs, see TESTING.md); "
                  "s5cmd: `s5cmd ls s3://bucket/*`. Objects/s = objects / wall time. s3s-fs gets a smaller bucket "
                  "(quick 5k, full 20k): it answers each flat ListObjectsV2 page by walking its folder from the "
                  "start, so flat listings cost O(n²) (s5cmd: 4.7k/s at 2k keys, 1.9k/s at 10k) and 100k keys "
                  "would take many minutes per listing for every flat lister.", ""]
        for kind in ("s3rver", "s3s-fs"):
            if kind not in s3:
                continue
            t = s3[kind]
            lines += [f"**{kind}** ({s3.get(kind + '_n', s3['n']):,} objects)", ""] + head
            for name in ("tributary", "rclone", "s5cmd"):
                lines.append(_row(name, t[name]))
            lines += ["", f"Tributary / rclone = {_ratio(t['tributary'], t['rclone']):.2f}×, "
                          f"Tributary / s5cmd = {_ratio(t['tributary'], t['s5cmd']):.2f}×.", ""]
    else:
        lines += [f"Not run: {bench.notes.get('s3', 'skipped')}.", ""]

    lines += ["## 2. Sandbox cost (S3 listing in WASM vs native)", ""]
    if s3 and any(k.endswith("_sandbox") for k in s3):
        lines += ["The same ListObjectsV2 pages listed in one process: by the S3 WASM plugin through the host's "
                  "runtime (`Plugin::open_listing` + `next_page`) and by a native Rust client (reqwest, same "
                  "SigV4 requests, same page size) in `bench/native`.", ""] + head
        for kind in ("s3rver", "s3s-fs"):
            sb = s3.get(kind + "_sandbox")
            if sb:
                lines.append(_row(f"{kind}: WASM plugin", sb["wasm"]))
                lines.append(_row(f"{kind}: native", sb["native"]))
        lines.append("")
    else:
        lines += ["Not measured in this run: " + bench.notes.get(
            "sandbox", "the native helper (`bench/native`) was not built, so there is no native lister to compare "
            "with") + ".", ""]

    p = r.get("pipeline")
    lines += ["## 3. Pipeline throughput (synthetic plugin)", ""]
    if p:
        lines += [f"{p['n']:,} synthetic entries (1,000 per page) through the whole pipeline (lock, listing, "
                  "upserts, batches of 100, checkpoints) on a fresh server per run, trigger → `COMPLETED`. "
                  "Listing alone: `tributary plugin list-files synthetic --output summary` (same plugin, same "
                  "runtime, no store), minus the median time of a 0-entry listing (process start + plugin load: "
                  f"{p['listing_base_s'].median * 1000:.0f} ms). redis-benchmark: `-P 100 -t set` on the same Redis.", ""]
        lines += head
        lines.append(_row("synthetic listing alone", p["listing"]))
        lines.append(_row("pipeline, embedded store", p["embedded"]))
        lines.append(_row("pipeline, Redis", p["redis"]))
        lines.append(_row("redis-benchmark -P 100 SET", p["redis_benchmark"]))
        lines.append(_row("pipeline wall time, embedded", p["embedded_s"]))
        lines.append(_row("pipeline wall time, Redis", p["redis_s"]))
        lines += ["", f"Embedded / listing = {_ratio(p['embedded'], p['listing']):.3f}×, Redis / listing = "
                      f"{_ratio(p['redis'], p['listing']):.3f}×, Redis / redis-benchmark = "
                      f"{_ratio(p['redis'], p['redis_benchmark']):.3f}×, embedded / Redis = "
                      f"{_ratio(p['embedded'], p['redis']):.2f}×.", ""]
    else:
        lines += [f"Not run: {bench.notes.get('pipeline', 'skipped')}.", ""]

    m = r.get("memory")
    lines += ["## 4. Memory (peak RSS of the server)", ""]
    if m:
        lines += [f"`VmHWM` of `tributary serve` (embedded store) after one full synthetic sync on a fresh server.", ""]
        lines += head
        lines.append(_row(f"{m['n_small']:,} entries", m["small"]))
        lines.append(_row(f"{m['n_large']:,} entries", m["large"]))
        lines += ["", f"Ratio {_ratio(m['large'], m['small']):.2f}×.", ""]
    else:
        lines += [f"Not run: {bench.notes.get('memory', 'skipped')}.", ""]

    a = r.get("api")
    lines += ["## 5. API latency (wrk)", ""]
    if a:
        lines += ["`wrk -t 2 -c 8` per route and store; the trigger route enqueues a 0-entry synthetic sync per "
                  "request (a run of the same config while one is running ends `SKIPPED`). Latencies in ms.", "",
                  "| store | route | p50 | p99 (median) | p99 min–max | req/s | errors/non-2xx |", "|---|---|---|---|---|---|---|"]
        for store in ("embedded", "redis"):
            for route, label in (("healthz", "GET /healthz"), ("get_job", "GET /v1/syncs/{id}"),
                                 ("trigger", "POST …/trigger")):
                x = a.get(f"{store}_{route}")
                if x:
                    lines.append(f"| {store} | {label} | {x['p50'].fmt()} | {x['p99'].fmt()} | "
                                 f"{x['p99'].fmt(x['p99'].lo)}–{x['p99'].fmt(x['p99'].hi)} | {x['rps'].fmt()} | {x['bad']} |")
        lines.append("")
        for store in ("embedded", "redis"):
            if f"{store}_trigger" in a:
                lines.append(f"{store}: trigger p99 / healthz p99 = "
                             f"{_ratio(a[f'{store}_trigger']['p99'], a[f'{store}_healthz']['p99']):.2f}×, "
                             f"GET job p99 / healthz p99 = "
                             f"{_ratio(a[f'{store}_get_job']['p99'], a[f'{store}_healthz']['p99']):.2f}×.")
        lines.append("")
    else:
        lines += [f"Not run: {bench.notes.get('api', 'skipped')}.", ""]

    s = r.get("start")
    lines += ["## 6. Plugin start", ""]
    if s:
        lines += [f"Host start = spawn of `tributary serve` → first `200` from `/healthz`, with all plugins "
                  f"({', '.join(s['plugins'])}). Cold: empty data folder (every component compiled); warm: the "
                  "same folder again (components deserialized from the cache).", ""] + head
        lines.append(_row("host start, cold cache", s["cold"]))
        lines.append(_row("host start, warm cache", s["warm"]))
        lines.append(_row("0-entry sync, trigger → COMPLETED (client)", s["job_e2e"]))
        lines.append(_row("0-entry sync, job duration_ms (server)", s["job_own"]))
        if "instantiate_us" in s:
            lines.append(_row("per-job instantiate + open (in process)", s["instantiate_us"]))
        else:
            lines.append("| per-job instantiate (in process) | not measured | | | | |")
        lines += ["", f"Cold / warm = {_ratio(s['cold'], s['warm']):.1f}×.", ""]
    else:
        lines += [f"Not run: {bench.notes.get('start', 'skipped')}.", ""]

    if bench.notes:
        lines += ["## Notes from this run", ""] + [f"- {k}: {v}" for k, v in bench.notes.items()] + [""]
    lines += ["![throughput ratios](throughput.png)", ""]
    if ANALYSIS.exists():
        lines += ["See [analysis.md](analysis.md) for what bounds each figure.", ""]
    (out / "latest.md").write_text("\n".join(lines))
    chart(tgt, out / "throughput.png", mode)


def chart(tgt, path, mode):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is missing: no chart (run bench/install.sh)")
        return
    if not tgt:
        return
    labels, values, colors, marks = [], [], [], []
    for sc, label, ratio, target, cmp, met in tgt:
        # Plot every figure as "how far from its target" on a log scale: >= 1 means met.
        score = ratio / target if cmp.startswith(">") else (target / ratio if ratio else 0)
        labels.append(f"S{sc} {label}\n{ratio:.3g} ({cmp} {target:g})")
        values.append(max(score, 1e-3))
        colors.append("#2e7d32" if met else "#c62828")
    fig, ax = plt.subplots(figsize=(10, 0.62 * len(labels) + 1.5))
    y = range(len(labels))
    ax.barh(list(y), values, color=colors)
    ax.axvline(1.0, color="black", linewidth=1, linestyle="--")
    ax.set_xscale("log")
    ax.set_yticks(list(y))
    ax.set_yticklabels(labels, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("measured / target (log scale; ≥ 1 = target met)")
    ax.set_title(f"Tributary benchmark ratios vs targets — {mode}")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
