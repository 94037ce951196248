#!/usr/bin/env bash
# Lucair's added latency over calling the fake upstream directly, and its memory.
# Starts the fake upstream and Lucair (release builds, SQLite, auth + metering on) on loopback,
# drives both with lucair-loadgen at concurrency 1, 16 and 64, side by side in one run, and prints a
# Markdown table. Usage: bench/overhead.sh [SECONDS_PER_POINT]
set -euo pipefail
cd "$(dirname "$0")/.."
secs="${1:-5}"
. bench/lib.sh
bench_setup
start_fake --chunks 16
key="sk-luc-benchbenchbenchbenchbenchbenchbench"
cat > "$work/lucair.toml" <<TOML
[server]
listen = "127.0.0.1:0"
log_level = "warning"
[storage]
url = "sqlite://$work/lucair.sqlite"
[auth]
admin_key = "$key"
[[tiers.baseline.deployments]]
name = "fake-local"
kind = "openai_compatible"
url = "http://127.0.0.1:$fport/v1"
model = "ministral-8b"
[[prices]]
effective = "2026-01-01"
[prices.models."ministral-8b"]
input = 200
output = 1000
TOML
start_lucair
rss() { awk '/VmRSS/ {print int($2/1024)}' "/proc/$lpid/status"; }
idle=$(rss)

body='{"model":"'"${MODEL:-auto}"'","messages":[{"role":"user","content":"Hello there, how are you today?"}]}'
sbody='{"model":"'"${MODEL:-auto}"'","stream":true,"messages":[{"role":"user","content":"Hello there, how are you today?"}]}'
run() { "$bin/lucair-loadgen" --seconds "$secs" "$@"; }
results="$work/results.jsonl"
peak=0
for c in 1 16 64; do
  run --url "http://127.0.0.1:$fport/v1/chat/completions" --concurrency "$c" --body "$body" --label direct >> "$results"
  run --url "http://127.0.0.1:$lport/v1/chat/completions" --key "$key" --concurrency "$c" --body "$body" --label lucair >> "$results"
  r=$(rss); [ "$r" -gt "$peak" ] && peak=$r
  run --url "http://127.0.0.1:$fport/v1/chat/completions" --concurrency "$c" --body "$sbody" --stream --label direct-stream >> "$results"
  run --url "http://127.0.0.1:$lport/v1/chat/completions" --key "$key" --concurrency "$c" --body "$sbody" --stream --label lucair-stream >> "$results"
  r=$(rss); [ "$r" -gt "$peak" ] && peak=$r
done
# Open loop: a steady PACED_RATE requests/s (default 1,000) over 16 connections, well below what
# either target sustains, so the added latency is Lucair's own time plus its interference, not
# queueing behind a saturated CPU (the closed loop above measures that). Each round drives the fake
# and Lucair at the same time from one load generator (--pair-url), so the machine's hiccups, which
# move p99 by milliseconds from one run to the next here, fall on both; then the same with
# lucair-floor (Lucair's HTTP building blocks doing none of its work) for what the stack alone adds.
paced=${PACED_RATE:-1000}
start_floor
for round in 1 2 3; do
  run --url "http://127.0.0.1:$fport/v1/chat/completions" --concurrency 16 --rate "$paced" --body "$body" --label "paced-direct-$round" \
    --pair-url "http://127.0.0.1:$lport/v1/chat/completions" --pair-key "$key" --pair-label "paced-lucair-$round" >> "$results"
  run --url "http://127.0.0.1:$fport/v1/chat/completions" --concurrency 16 --rate "$paced" --body "$body" --label "paced-fdirect-$round" \
    --pair-url "http://127.0.0.1:$floorport/v1/chat/completions" --pair-label "paced-floor-$round" >> "$results"
done
# Lucair's CPU per request: utime + stime across a run at 16 connections, without warm-up, so
# every request the CPU paid for is counted.
t0=$(tree_ticks "$lpid")
run --url "http://127.0.0.1:$lport/v1/chat/completions" --key "$key" --concurrency 16 --warmup 0 --body "$body" --label cpu-run >> "$results"
echo "{\"label\": \"cpu\", \"concurrency\": 16, \"ticks\": $(( $(tree_ticks "$lpid") - t0 )), \"hz\": $(getconf CLK_TCK)}" >> "$results"
# A prepaid tenant: each answer waits for its record's group commit (docs/wallets.md).
tid=$(curl -sf -H "authorization: Bearer $key" -H 'content-type: application/json' "http://127.0.0.1:$lport/admin/v1/tenants" \
  -d '{"name":"prepaid-bench","kind":"external","plan":"enterprise"}' | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
curl -sf -H "authorization: Bearer $key" -H 'content-type: application/json' "http://127.0.0.1:$lport/admin/v1/tenants/$tid/wallet/topups" \
  -d '{"amount_nano":1000000000000000,"reference":"bench"}' > /dev/null
pkey=$(curl -sf -H "authorization: Bearer $key" -H 'content-type: application/json' "http://127.0.0.1:$lport/admin/v1/tenants/$tid/keys" \
  -d '{"name":"bench"}' | python3 -c 'import json,sys; print(json.load(sys.stdin)["key"])')
sleep 0.5
for c in 1 16; do
  run --url "http://127.0.0.1:$lport/v1/chat/completions" --key "$key" --concurrency "$c" --body "$body" --label metered >> "$results"
  run --url "http://127.0.0.1:$lport/v1/chat/completions" --key "$pkey" --concurrency "$c" --body "$body" --label prepaid >> "$results"
done
sleep 2
after=$(rss)
python3 - "$results" "$idle" "$peak" "$after" "$paced" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
by = {(r["label"], r["concurrency"]): r for r in rows}
print("| mode | concurrency | direct p50 / p99 (µs) | via Lucair p50 / p99 (µs) | **added p50 / p99 (µs)** | direct req/s | Lucair req/s | failed |")
print("|---|---|---|---|---|---|---|---|")
for mode, d, l in [("non-streaming (total)", "direct", "lucair"), ("streaming (time to first token)", "direct-stream", "lucair-stream")]:
    for c in (1, 16, 64):
        a, b = by[(d, c)], by[(l, c)]
        print(f"| {mode} | {c} | {a['p50_us']} / {a['p99_us']} | {b['p50_us']} / {b['p99_us']} | **{b['p50_us']-a['p50_us']} / {b['p99_us']-a['p99_us']}** | {a['rps']:.0f} | {b['rps']:.0f} | {a['failed']+b['failed']} |")
print()
print(f"Open loop, {sys.argv[5]} requests/s over 16 connections to each target, direct and through the gateway at the same time (three rounds):")
print()
print("| round | gateway | direct p50 / p99 (µs) | via gateway p50 / p99 (µs) | **added p50 / p99 (µs)** | failed |")
print("|---|---|---|---|---|---|")
for i in (1, 2, 3):
    for g, d in (("lucair", "direct"), ("floor", "fdirect")):
        a, b = by[(f"paced-{d}-{i}", 16)], by[(f"paced-{g}-{i}", 16)]
        print(f"| {i} | {g} | {a['p50_us']} / {a['p99_us']} | {b['p50_us']} / {b['p99_us']} | **{b['p50_us']-a['p50_us']} / {b['p99_us']-a['p99_us']}** | {a['failed']+b['failed']} |")
print()
cpu, r = by[("cpu", 16)], by[("cpu-run", 16)]
print(f"Lucair CPU per non-streaming request at concurrency 16: {cpu['ticks'] * 1_000_000 // cpu['hz'] // max(1, r['ok'])} µs")
print()
print("| tenant | concurrency | p50 / p99 (µs) | req/s | failed |")
print("|---|---|---|---|---|")
for label in ("metered", "prepaid"):
    for c in (1, 16):
        r = by[(label, c)]
        print(f"| {label} | {c} | {r['p50_us']} / {r['p99_us']} | {r['rps']:.0f} | {r['failed']} |")
print()
print(f"Lucair RSS: idle {sys.argv[2]} MB, peak under load {sys.argv[3]} MB, 2 s after load {sys.argv[4]} MB")
PY
