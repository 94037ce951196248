#!/usr/bin/env bash
# How far Lucair is from the floor of its own building blocks: `lucair-floor` (a NIO HTTP/1 server,
# one task per request, KeepAliveClient to the upstream, nothing else; Sources/lucair-floor), and
# `lucair-floor --raw` ("raw": bytes forwarded by hand on the event loop, no NIOHTTP1, no task),
# `--raw-task` ("rawtask": the same from a task per request) and `--raw-client` ("rawclient": the
# request read by hand, then a task and KeepAliveClient), beside
# Lucair as a tenant uses it (bench/lib.sh) and TensorZero's gateway, against one fake upstream, with
# wrk at 16 and 64 connections. Prints a Markdown table: req/s, p99, CPU per request (for "direct",
# the fake's own) and req/s against TensorZero's. Needs wrk and the peers' virtualenv (bench/peers.sh
# makes it).
#
# Usage: bench/floor.sh [SECONDS_PER_POINT]
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-5}
. bench/lib.sh
beside_tensorzero
for variant in --raw --raw-task --raw-client ""; do start_floor $variant; done
hz=$(getconf CLK_TCK)
echo "| connections | gateway | req/s | p50 / p99 (µs) | CPU µs/req | req/s / TensorZero's |"
echo "|---|---|---|---|---|---|"
for c in ${FLOOR_CONC:-16 64}; do
  declare -A line=() cpu=()
  for g in direct raw rawtask rawclient floor tensorzero lucair; do
    wrk_at "$g" "$c" 1s > /dev/null  # warm-up
    t0=$(tree_ticks "${pid[$g]}")
    line[$g]=$(wrk_at "$g" "$c" "${secs}s")
    cpu[$g]=$(( ($(tree_ticks "${pid[$g]}") - t0) * 1000000 / hz ))
  done
  tz=$(echo "${line[tensorzero]}" | python3 -c 'import json,sys; print(json.load(sys.stdin)["rps"])')
  for g in direct raw rawtask rawclient floor tensorzero lucair; do
    echo "${line[$g]}" | python3 -c '
import json, sys
d = json.load(sys.stdin); c, g, cpu, tz = sys.argv[1:5]
rps, p50, p99, ok = d["rps"], d["p50_us"], d["p99_us"], max(1, d["ok"])
print(f"| {c} | {g} | {rps:.0f} | {p50} / {p99} | {int(cpu) // ok} | {rps / float(tz):.2f}× |")' "$c" "$g" "${cpu[$g]}" "$tz"
  done
done
kill "${pid[tensorzero]}" "${pid[floor]}" "${pid[raw]}" "${pid[rawtask]}" "${pid[rawclient]}" 2>/dev/null || true
