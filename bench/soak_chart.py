"""Charts bench/soak.sh's RSS samples and fits a line to the steady part (after the first fifth,
which is warm-up: pools, caches and the SQLite page cache fill). Prints the slope in MB per hour.

Usage: python3 bench/soak_chart.py bench/results/soak.csv bench/results/soak-load.jsonl
"""
import csv
import json
import sys
from pathlib import Path

table = list(csv.DictReader(open(sys.argv[1])))
rows = [(float(r["elapsed_s"]), float(r["rss_mb"])) for r in table]
anon = [(float(r["elapsed_s"]), float(r["anon_mb"])) for r in table if r.get("anon_mb")]
loads = [json.loads(line) for line in open(sys.argv[2]) if line.strip()]
steady = [r for r in rows if r[0] >= rows[-1][0] / 5]
n = len(steady)
mx = sum(t for t, _ in steady) / n
my = sum(m for _, m in steady) / n
slope = sum((t - mx) * (m - my) for t, m in steady) / sum((t - mx) ** 2 for t, _ in steady)  # MB per second
lo, hi = min(m for _, m in steady), max(m for _, m in steady)
served = sum(l["ok"] for l in loads)
failed = sum(l["failed"] for l in loads)

def fit(points):
    """Least-squares slope (MB/s) and the means, over the steady part."""
    pts = [p for p in points if p[0] >= points[-1][0] / 5]
    mx = sum(t for t, _ in pts) / len(pts)
    my = sum(m for _, m in pts) / len(pts)
    return sum((t - mx) * (m - my) for t, m in pts) / sum((t - mx) ** 2 for t, _ in pts), mx, my


summary = (f"RSS over {rows[-1][0] / 60:.0f} min: start {rows[0][1]:.1f} MB, steady part {lo:.1f}–{hi:.1f} MB, "
           f"end {rows[-1][1]:.1f} MB; fitted slope {slope * 3600:+.2f} MB/hour; {served} requests served, {failed} failed")
if anon:
    a_slope = fit(anon)[0]
    summary += (f". Anonymous memory (heap): start {anon[0][1]:.1f} MB, end {anon[-1][1]:.1f} MB, "
                f"fitted slope {a_slope * 3600:+.2f} MB/hour")
print(summary)
try:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
except ImportError:
    sys.exit(0)
fig, ax = plt.subplots(figsize=(8, 4))
ax.plot([t / 60 for t, _ in rows], [m for _, m in rows], label="Lucair RSS")
if anon:
    ax.plot([t / 60 for t, _ in anon], [m for _, m in anon], label="of which anonymous (heap)")
t0 = steady[0][0]
ax.plot([t0 / 60, rows[-1][0] / 60], [my + slope * (t0 - mx), my + slope * (rows[-1][0] - mx)], "--",
        label=f"fit after warm-up: {slope * 3600:+.2f} MB/h")
ax.set_xlabel("minutes under load")
ax.set_ylabel("RSS (MB)")
ax.set_ylim(0, max(m for _, m in rows) * 1.3)
ax.set_title("Soak: 1,000 req/s + 8 concurrent streams, model auto, metered")
ax.legend()
fig.tight_layout()
fig.savefig(Path(__file__).resolve().parent.parent / "docs" / "soak-rss.png", dpi=110)
