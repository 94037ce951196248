#!/usr/bin/env bash
# Time to first token as local load rises past capacity. The fake upstream plays a local engine
# (100 ms to first token, 8 chunks 20 ms apart) with 4 slots in Lucair, and Fast (Anthropic fake,
# answers at once). Streaming load at rising concurrency, twice per point: with spilling
# (`lucair/baseline`, a key that may use Fast) and local only (a key scoped to Baseline: past
# capacity, requests wait 50 ms for a slot and then get 503). Writes bench/results/spill-ttft.csv
# and docs/spill-ttft.png. Usage: bench/spill_ttft.sh [SECONDS_PER_POINT]
set -euo pipefail
cd "$(dirname "$0")/.."
secs="${1:-3}"
. bench/lib.sh
bench_setup
start_fake
key="sk-luc-benchbenchbenchbenchbenchbenchbench"
cat > "$work/lucair.toml" <<TOML
[server]
listen = "127.0.0.1:0"
log_level = "warning"
[storage]
url = "sqlite://$work/lucair.sqlite"
[auth]
admin_key = "$key"
[serve]
spill_wait_ms = 50
[[tiers.baseline.deployments]]
name = "local"
kind = "openai_compatible"
url = "http://127.0.0.1:$fport/v1"
model = "ministral-8b"
capacity = 4
[[tiers.fast.deployments]]
name = "haiku"
kind = "anthropic"
url = "http://127.0.0.1:$fport"
model = "claude-haiku-4-5"
api_key = "bench"
[[prices]]
effective = "2026-01-01"
[prices.models."ministral-8b"]
input = 200
output = 1000
[prices.models."claude-haiku-4-5"]
input = 1000
output = 5000
TOML
start_lucair
api() { curl -sf -H "authorization: Bearer $key" -H 'content-type: application/json' "http://127.0.0.1:$lport$1" -d "$2"; }
tid=$(api /admin/v1/tenants '{"name":"local-only","kind":"internal","plan":"enterprise"}' | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
lkey=$(api "/admin/v1/tenants/$tid/keys" '{"name":"bench","scopes":{"tiers":["baseline"]}}' | python3 -c 'import json,sys; print(json.load(sys.stdin)["key"])')
sleep 0.5
spills() { curl -sf "http://127.0.0.1:$lport/metrics" | awk '/^lucair_spills_total\{/ {s += $2} END {print s + 0}'; }
body='{"model":"lucair/baseline","stream":true,"max_tokens":16,"messages":[{"role":"user","content":"hello [fake latency_ms=100 chunks=8 chunk_delay_ms=20 only=ministral-8b]"}]}'
mkdir -p bench/results
out=bench/results/spill-ttft.csv
echo "concurrency,mode,ok,failed,rps,ttft_p50_ms,ttft_p99_ms,spilled" > "$out"
for c in 1 2 4 6 8 12 16 24 32; do
  for mode in spill local-only; do
    k=$key; [ "$mode" = local-only ] && k=$lkey
    s0=$(spills)
    r=$("$bin/lucair-loadgen" --url "http://127.0.0.1:$lport/v1/chat/completions" --key "$k" --concurrency "$c" --seconds "$secs" --warmup 0 --stream --body "$body")
    s1=$(spills)
    python3 - "$c" "$mode" "$r" "$s0" "$s1" >> "$out" <<'PY'
import json, sys
c, mode, r, s0, s1 = sys.argv[1], sys.argv[2], json.loads(sys.argv[3]), float(sys.argv[4]), float(sys.argv[5])
print(f"{c},{mode},{r['ok']},{r['failed']},{r['rps']:.1f},{r['p50_us']/1000:.1f},{r['p99_us']/1000:.1f},{int(s1 - s0)}")
PY
  done
done
cat "$out"
python3 bench/spill_chart.py "$out" docs/spill-ttft.png
