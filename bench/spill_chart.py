"""Draws bench/spill_ttft.sh's CSV: time to first token against concurrency, with spilling and
local only, and the share of requests refused when the local engine is the only choice."""
import csv
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

rows = list(csv.DictReader(open(sys.argv[1])))
fig, (ax, bx) = plt.subplots(2, 1, figsize=(8, 7), sharex=True, gridspec_kw={"height_ratios": [3, 1.4]})
for mode, colour in (("spill", "tab:blue"), ("local-only", "tab:red")):
    rs = [r for r in rows if r["mode"] == mode]
    c = [int(r["concurrency"]) for r in rs]
    ax.plot(c, [float(r["ttft_p50_ms"]) for r in rs], "-o", color=colour, label=f"{mode}: p50")
    ax.plot(c, [float(r["ttft_p99_ms"]) for r in rs], "--o", color=colour, alpha=0.6, label=f"{mode}: p99")
    refused = [100 * int(r["failed"]) / max(1, int(r["ok"]) + int(r["failed"])) for r in rs]
    bx.plot(c, refused, "-o", color=colour, label=f"{mode}: refused (503)")
    if mode == "spill":
        bx.plot(c, [100 * int(r["spilled"]) / max(1, int(r["ok"])) for r in rs], ":o", color=colour, label="spill: served by Fast")
for a in (ax, bx):
    a.axvline(4, color="grey", lw=1, ls=":")
ax.text(4.2, ax.get_ylim()[1] * 0.9, "local capacity (4 slots)", color="grey")
ax.set_ylabel("time to first token (ms)")
ax.set_title("Time to first token as local load rises past capacity")
ax.legend(fontsize=8)
bx.set_ylabel("% of requests")
bx.set_xlabel("concurrent streaming clients")
bx.legend(fontsize=8)
fig.tight_layout()
fig.savefig(sys.argv[2], dpi=110)
print(f"wrote {sys.argv[2]}")
