#!/usr/bin/env bash
# Lucair beside TensorZero's gateway and the LiteLLM proxy: one fake upstream, one load generator,
# one run. Writes bench/results/peers.{jsonl,csv,md} and docs/peers-*.png (bench/peers_report.py).
#
# Usage: bench/peers.sh [SECONDS_PER_POINT]
# Needs wrk (Debian) and, once, network access to PyPI: the peers install into $PEERS_VENV.
#
# Non-streaming points use wrk (C, one thread) so the load generator takes as little of the two
# cores as possible; streaming points use lucair-loadgen, which measures time to first token and
# the gaps between chunks (64 chunks, 20 ms apart). Lucair runs as a tenant would use it: an API
# key with RPM, TPM and concurrency limits, model "auto" (Assess + Route on every request), usage
# metered to the hash-chained ledger on SQLite. The peers run as their own benchmarks run them:
# TensorZero with observability off, LiteLLM with one worker and request logging off.
# nginx (Debian's nginx-light), when installed, runs as a reference: a bare keep-alive reverse proxy
# with no authentication, limits, routing or metering, so the table shows what forwarding alone
# costs on this machine. CPU per request is read from /proc for each gateway's process tree.
set -euo pipefail
cd "$(dirname "$0")/.."
secs="${1:-5}"
. bench/lib.sh
venv=$peers_venv
if [ ! -x "$venv/bin/litellm" ] || [ ! -d "$venv/lib/python3"*/site-packages/tensorzero ]; then
  python3 -m venv "$venv"
  # LiteLLM 1.82.7 and 1.82.8 were compromised releases: pinned well past them.
  "$venv/bin/pip" install -q 'litellm[proxy]==1.108.7' 'tensorzero==2026.6.0' openai matplotlib
fi
command -v wrk >/dev/null || { echo "wrk is missing: apt-get install -y wrk" >&2; exit 1; }
command -v nginx >/dev/null || echo "nginx is missing (apt-get install -y nginx-light): no bare-proxy reference" >&2
bench_setup
start_fake --chunks 16

# ---- Lucair as a tenant uses it (bench/lib.sh): every limit on, model auto, metered to the ledger.
start_lucair_as_tenant

# ---- TensorZero's gateway (embedded in its PyPI wheel), observability off (bench/lib.sh).
start_tensorzero

# ---- LiteLLM proxy, one worker, request logging off.
llport=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
llkey="sk-litellm-$(od -An -tx1 -N16 /dev/urandom | tr -d ' \n')"
cat > "$work/litellm.yaml" <<YAML
model_list:
  - model_name: fake
    litellm_params:
      model: openai/ministral-8b
      api_base: http://127.0.0.1:$fport/v1
      api_key: none
litellm_settings:
  set_verbose: false
YAML
echo '{"version": 1, "disable_existing_loggers": false, "loggers": {"uvicorn.access": {"level": "WARNING"}}}' > "$work/litellm-log.json"
LITELLM_MASTER_KEY="$llkey" LITELLM_LOG=ERROR "$venv/bin/litellm" --config "$work/litellm.yaml" --host 127.0.0.1 --port "$llport" \
  --num_workers 1 --log_config "$work/litellm-log.json" > "$work/litellm.out" 2>&1 &
llpid=$!
for _ in $(seq 150); do curl -sf "http://127.0.0.1:$llport/health/liveliness" >/dev/null && break; sleep 0.2; done
target litellm "$llpid" "http://127.0.0.1:$llport/v1/chat/completions" "$llkey" fake

# ---- nginx: the reference, a bare keep-alive reverse proxy (as nginx is tuned for proxying).
gateways="lucair tensorzero litellm"
if command -v nginx >/dev/null && start_nginx; then gateways="$gateways nginx"; fi

# Resident memory of a process and its children, MB.
tree_rss() { local kb=0 p; for p in $1 $(pgrep -P "$1" || true); do kb=$((kb + $(awk '/VmRSS/ {print $2}' "/proc/$p/status" 2>/dev/null || echo 0))); done; echo $((kb / 1024)); }
results=bench/results/peers.jsonl
mkdir -p bench/results
: > "$results"
note() { echo "$1" >> "$results"; }
for g in $gateways; do note "{\"label\":\"rss\",\"gateway\":\"$g\",\"phase\":\"idle\",\"mb\":$(tree_rss "${pid[$g]}")}"; done
sample_peak() {  # runs in the background while a load runs against $1: keeps its peak RSS in a file
  local g=$1 r m; [ "$g" = direct ] && return
  m=$(cat "$work/peak-$g" 2>/dev/null || echo 0)
  while [ -e "$work/loading" ]; do r=$(tree_rss "${pid[$g]}"); [ "$r" -gt "$m" ] && m=$r && echo "$m" > "$work/peak-$g"; sleep 0.5; done
}

for c in 1 16 64; do
  for g in direct $gateways; do
    wrk_at "$g" "$c" 1s > /dev/null  # warm-up
    touch "$work/loading"; sample_peak "$g" & sampler=$!
    ticks=$(tree_ticks "${pid[$g]}")
    wrk_at "$g" "$c" "${secs}s" >> "$results"
    note "{\"label\":\"cpu\",\"gateway\":\"$g\",\"concurrency\":$c,\"seconds\":$(python3 -c "print(($(tree_ticks "${pid[$g]}") - $ticks) / $(getconf CLK_TCK))")}"
    rm -f "$work/loading"; wait "$sampler"
  done
done
for c in 1 16 64; do
  for g in direct $gateways; do
    body='{"model":"'"${model[$g]}"'","stream":true,"messages":[{"role":"user","content":"Tell me a story. [fake chunks=64 chunk_delay_ms=20]"}]}'
    touch "$work/loading"; sample_peak "$g" & sampler=$!
    "$bin/lucair-loadgen" --url "${url[$g]}" ${key[$g]:+--key "${key[$g]}"} --concurrency "$c" --seconds "$((secs + 3))" --warmup 1.5 \
      --stream --body "$body" --label "$g" >> "$results"
    rm -f "$work/loading"; wait "$sampler"
  done
done
for g in $gateways; do note "{\"label\":\"rss\",\"gateway\":\"$g\",\"phase\":\"peak\",\"mb\":$(cat "$work/peak-$g" 2>/dev/null || echo 0)}"; done
sleep 2
for g in $gateways; do note "{\"label\":\"rss\",\"gateway\":\"$g\",\"phase\":\"after\",\"mb\":$(tree_rss "${pid[$g]}")}"; done
kill "$tzpid" "$llpid" ${ngpid:+"$ngpid"} 2>/dev/null || true
"$venv/bin/python" bench/peers_report.py "$results"
