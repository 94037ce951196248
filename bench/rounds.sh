#!/usr/bin/env bash
# Lucair and TensorZero (and nginx, when installed) at one concurrency in alternated rounds: each
# round measures straight to the fake, then every gateway, for SECONDS each, so every gateway's
# *added* p50 / p99 is taken against a direct figure from the same minute. bench/peers.sh measures
# each point once; at one connection a tail is set by whatever else the machine did in those
# seconds (peers.sh once put nginx, which only forwards, at 1.46× TensorZero's added p99 there), and
# the median over rounds says which gateway adds less.
#
# Usage: [CONC=1] [ROUNDS=5] [BENCH_BIN=DIR] bench/rounds.sh [SECONDS]   (default 5)
# Prints one JSON line per measurement and a table; needs wrk and the peers' virtualenv (peers.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-5}
conc=${CONC:-1}
rounds=${ROUNDS:-5}
. bench/lib.sh
beside_tensorzero
gateways="lucair tensorzero"
if command -v nginx > /dev/null && start_nginx; then gateways="$gateways nginx"; fi
out="$work/rounds.jsonl"
for r in $(seq "$rounds"); do
  for g in direct $gateways; do
    wrk_at "$g" "$conc" 1s > /dev/null  # warm-up
    line=$(wrk_at "$g" "$conc" "${secs}s" | sed "s/^{/{\"round\":$r,/")
    echo "$line" | tee -a "$out"
    case $line in *'"failed":0,'*) ;; *) echo "  ($g, round $r: some requests failed)" >&2 ;; esac
  done
done
python3 - "$out" $gateways <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
gateways = sys.argv[2:]
rounds = sorted({r["round"] for r in rows})
at = {(r["round"], r["label"]): r for r in rows}
def added(g, n, q): return at[(n, g)][q] - at[(n, "direct")][q]
print(f"\nConcurrency {rows[0]['concurrency']}, {len(rounds)} alternated rounds. Per round: req/s, then added p50 / p99 (µs) against that round's direct")
print("| round | direct req/s, p99 | " + " | ".join(gateways) + " |")
print("|---|---|" + "---|" * len(gateways))
for n in rounds:
    d = at[(n, "direct")]
    print(f"| {n} | {d['rps']:.0f}, {d['p99_us']} | " + " | ".join(f"{at[(n, g)]['rps']:.0f}; {added(g, n, 'p50_us')} / {added(g, n, 'p99_us')}" for g in gateways) + " |")
med = {g: (statistics.median(at[(n, g)]["rps"] for n in rounds), statistics.median(added(g, n, "p50_us") for n in rounds),
           statistics.median(added(g, n, "p99_us") for n in rounds)) for g in gateways}
print("| median | | " + " | ".join(f"**{m[0]:.0f}; {m[1]:.0f} / {m[2]:.0f}**" for m in med.values()) + " |")
if "tensorzero" in gateways:
    for g in gateways:
        if g == "tensorzero":
            continue
        ratios = [at[(n, g)]["rps"] / at[(n, "tensorzero")]["rps"] for n in rounds]
        below = sum(added(g, n, "p99_us") < added("tensorzero", n, "p99_us") for n in rounds)
        print(f"{g} / tensorzero: req/s {statistics.median(ratios):.2f}× (median of the rounds' ratios, {min(ratios):.2f}–{max(ratios):.2f}); "
              f"added p99 below TensorZero's in {below} of {len(rounds)} rounds")
PY
