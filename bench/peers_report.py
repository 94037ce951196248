"""Tabulates bench/peers.sh's results: bench/results/peers.csv, bench/results/peers.md and
docs/peers-throughput.png, docs/peers-added-p99.png, docs/peers-streaming.png.

Usage: python3 bench/peers_report.py bench/results/peers.jsonl
"""
import csv
import json
import sys
from pathlib import Path

rows = [json.loads(line) for line in open(sys.argv[1]) if line.strip()]
conc = [1, 16, 64]
loads = [r for r in rows if r["label"] not in ("rss", "cpu")]
plain = {(r["label"], r["concurrency"]): r for r in loads if not r["stream"]}
stream = {(r["label"], r["concurrency"]): r for r in loads if r["stream"]}
rss = {(r["gateway"], r["phase"]): r["mb"] for r in rows if r["label"] == "rss"}
cpu = {(r["gateway"], r["concurrency"]): r["seconds"] for r in rows if r["label"] == "cpu"}
# nginx is the reference (a bare reverse proxy), present when it was installed.
gateways = [g for g in ["lucair", "tensorzero", "litellm", "nginx"] if (g, 1) in plain]


def cpu_us(g, c):
    """CPU microseconds the gateway's processes spent per request served in the measured run."""
    p = plain[(g, c)]
    return round(cpu[(g, c)] * 1e6 / p["ok"]) if (g, c) in cpu and p["ok"] else None

table = []  # one row per gateway and concurrency
for g in gateways:
    for c in conc:
        d, p = plain[("direct", c)], plain[(g, c)]
        ds, s = stream[("direct", c)], stream[(g, c)]
        table.append({
            "gateway": g, "concurrency": c,
            "rps": round(p["rps"]), "p50_us": p["p50_us"], "p99_us": p["p99_us"],
            "added_p50_us": p["p50_us"] - d["p50_us"], "added_p99_us": p["p99_us"] - d["p99_us"],
            "failed": p["failed"], "cpu_us_per_request": cpu_us(g, c),
            "stream_ttft_p50_us": s["p50_us"], "stream_ttft_p99_us": s["p99_us"],
            "added_ttft_p50_us": s["p50_us"] - ds["p50_us"], "added_ttft_p99_us": s["p99_us"] - ds["p99_us"],
            "gap_p99_us": s["gap_p99_us"], "gap_max_us": s.get("gap_max_us", 0),
            "streams": s["ok"], "stream_failed": s["failed"], "stalled": s.get("stalled", 0),
        })
by = {(t["gateway"], t["concurrency"]): t for t in table}

out = Path(sys.argv[1]).with_suffix(".csv")
with open(out, "w", newline="") as f:
    w = csv.DictWriter(f, fieldnames=list(table[0].keys()))
    w.writeheader()
    w.writerows(table)

md = []
md.append("Non-streaming (wrk, one thread). *Added* = through the gateway minus straight to the fake, same run.\n")
md.append("| concurrency | direct req/s (fake's CPU µs/req) | gateway | req/s | p50 / p99 (µs) | **added p50 / p99 (µs)** | gateway CPU µs/req | failed |")
md.append("|---|---|---|---|---|---|---|---|")
for c in conc:
    for g in gateways:
        t = by[(g, c)]
        md.append(f"| {c} | {plain[('direct', c)]['rps']:.0f} ({cpu_us('direct', c)}) | {g} | {t['rps']} | {t['p50_us']} / {t['p99_us']} | "
                  f"**{t['added_p50_us']} / {t['added_p99_us']}** | {t['cpu_us_per_request']} | {t['failed']} |")
md.append("")
md.append("Lucair against each peer (req/s: higher is better for Lucair above 1; added p99: Lucair's share, lower is better):\n")
md.append("| concurrency | Lucair / TensorZero req/s | Lucair / LiteLLM req/s | Lucair / TensorZero added p99 | Lucair / LiteLLM added p99 |")
md.append("|---|---|---|---|---|")
ratio = lambda a, b: f"{a / b:.2f}" if b > 0 else "n/a"
for c in conc:
    l, t, ll = by[("lucair", c)], by[("tensorzero", c)], by[("litellm", c)]
    md.append(f"| {c} | **{ratio(l['rps'], t['rps'])}×** | {ratio(l['rps'], ll['rps'])}× | "
              f"{ratio(l['added_p99_us'], t['added_p99_us'])} | {ratio(l['added_p99_us'], ll['added_p99_us'])} |")
md.append("")
if "nginx" in gateways:
    md.append("The reference: nginx, a bare keep-alive reverse proxy (no authentication, limits, routing or metering), against TensorZero:\n")
    md.append("| concurrency | nginx / TensorZero req/s | nginx / TensorZero added p99 |")
    md.append("|---|---|---|")
    for c in conc:
        n, t = by[("nginx", c)], by[("tensorzero", c)]
        md.append(f"| {c} | {ratio(n['rps'], t['rps'])}× | {ratio(n['added_p99_us'], t['added_p99_us'])} |")
    md.append("")
md.append("Streaming (lucair-loadgen; 64 chunks 20 ms apart, so a stream lasts ≈ 1.3 s): time to first token and the gaps between chunks.\n")
md.append("| concurrency | gateway | streams | TTFT p50 / p99 (µs) | **added TTFT p50 / p99 (µs)** | inter-chunk p99 / max (µs) | stalled (gap ≥ 1 s) | failed |")
md.append("|---|---|---|---|---|---|---|---|")
for c in conc:
    for g in gateways:
        t = by[(g, c)]
        md.append(f"| {c} | {g} | {t['streams']} | {t['stream_ttft_p50_us']} / {t['stream_ttft_p99_us']} | "
                  f"**{t['added_ttft_p50_us']} / {t['added_ttft_p99_us']}** | {t['gap_p99_us']} / {t['gap_max_us']} | {t['stalled']} | {t['stream_failed']} |")
md.append("")
md.append("| RSS (MB, process and children) | idle | peak under load | 2 s after load |")
md.append("|---|---|---|---|")
for g in gateways:
    md.append(f"| {g} | {rss.get((g, 'idle'))} | {rss.get((g, 'peak'))} | {rss.get((g, 'after'))} |")
Path(out.with_suffix(".md")).write_text("\n".join(md) + "\n")
print("\n".join(md))

try:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
except ImportError:
    print("matplotlib missing: no charts", file=sys.stderr)
    sys.exit(0)
docs = Path(__file__).resolve().parent.parent / "docs"
colors = {"lucair": "#1f77b4", "tensorzero": "#ff7f0e", "litellm": "#2ca02c", "nginx": "#7f7f7f"}


def bars(metric, title, ylabel, name, log=False):
    fig, ax = plt.subplots(figsize=(7, 4))
    width = 0.8 / len(gateways)
    for i, g in enumerate(gateways):
        xs = [j + (i - (len(gateways) - 1) / 2) * width for j in range(len(conc))]
        ax.bar(xs, [max(1, by[(g, c)][metric]) for c in conc], width, label=g, color=colors[g])
    ax.set_xticks(range(len(conc)), [f"{c} connections" for c in conc])
    ax.set_title(title)
    ax.set_ylabel(ylabel)
    if log:
        ax.set_yscale("log")
    ax.legend()
    fig.tight_layout()
    fig.savefig(docs / name, dpi=110)


bars("rps", "Non-streaming requests/s (same fake upstream, same machine)", "requests/s", "peers-throughput.png", log=True)
bars("added_p99_us", "Added p99 latency over the fake (non-streaming)", "µs (log)", "peers-added-p99.png", log=True)
bars("added_ttft_p99_us", "Added p99 time to first token (streaming)", "µs (log)", "peers-streaming.png", log=True)
