#!/usr/bin/env bash
# Lucair's memory under a steady load: RSS sampled every 10 s while paced load runs for MINUTES
# (VmRSS, and its anonymous part — the heap — apart from mapped files such as the binary's pages),
# then charted with a fitted slope (bench/soak_chart.py → docs/soak-rss.png, bench/results/soak.csv).
#
# Usage: bench/soak.sh [MINUTES]   (default 30)
# Load: 1,000 non-streaming requests/s (16 workers) plus streams of 16 chunks 5 ms apart
# (8 workers back to back), model auto, a tenant key with every limit on, metered to the ledger.
set -euo pipefail
cd "$(dirname "$0")/.."
minutes="${1:-30}"
. bench/lib.sh
bench_setup
start_fake --chunks 16
start_lucair_as_tenant
url="http://127.0.0.1:$lport/v1/chat/completions"
secs=$((minutes * 60))
mkdir -p bench/results
csv=bench/results/soak.csv
echo "elapsed_s,rss_mb,anon_mb" > "$csv"
sample() { awk '/VmRSS/ {r = $2} /RssAnon/ {a = $2} END {printf "%.1f,%.1f", r / 1024, a / 1024}' "/proc/$lpid/status"; }
start_paced_load "$secs" soak
"$bin/lucair-loadgen" --url "$url" --key "$tenant_key" --concurrency 8 --seconds "$secs" --warmup 0 --stream \
  --body '{"model":"auto","stream":true,"messages":[{"role":"user","content":"Tell me a story. [fake chunks=16 chunk_delay_ms=5]"}]}' --label soak-stream > "$work/stream.json" &
streams=$!
t0=$(date +%s)
echo "0,$(sample)" >> "$csv"
while kill -0 "$plain" 2>/dev/null; do
  sleep 10
  echo "$(( $(date +%s) - t0 )),$(sample)" >> "$csv"
done
wait "$plain" "$streams"
cat "$work/plain.json" "$work/stream.json" | tee bench/results/soak-load.jsonl
"$(chart_python)" bench/soak_chart.py "$csv" bench/results/soak-load.jsonl
