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
start_floor --raw
rawport=$floorport rawpid=$floorpid
start_floor --raw-task
rtport=$floorport rtpid=$floorpid
start_floor --raw-client
rcport=$floorport rcpid=$floorpid
start_floor

declare -A pid=([direct]=$fpid [raw]=$rawpid [rawtask]=$rtpid [rawclient]=$rcpid [floor]=$floorpid [tensorzero]=$tzpid [lucair]=$lpid)
declare -A url=([direct]="http://127.0.0.1:$fport/v1/chat/completions" [floor]="http://127.0.0.1:$floorport/v1/chat/completions"
                [raw]="http://127.0.0.1:$rawport/v1/chat/completions" [rawtask]="http://127.0.0.1:$rtport/v1/chat/completions"
                [rawclient]="http://127.0.0.1:$rcport/v1/chat/completions" [tensorzero]=$tzurl [lucair]="http://127.0.0.1:$lport/v1/chat/completions")
declare -A key=([direct]="" [raw]="" [rawtask]="" [rawclient]="" [floor]="" [tensorzero]="" [lucair]=$tenant_key)
declare -A model=([direct]=ministral-8b [raw]=ministral-8b [rawtask]=ministral-8b [rawclient]=ministral-8b [floor]=ministral-8b [tensorzero]=tensorzero::model_name::fake [lucair]=auto)
hz=$(getconf CLK_TCK)
echo "| connections | gateway | req/s | p50 / p99 (µs) | CPU µs/req | req/s / TensorZero's |"
echo "|---|---|---|---|---|---|"
for c in ${FLOOR_CONC:-16 64}; do
  declare -A line=() cpu=()
  for g in direct raw rawtask rawclient floor tensorzero lucair; do
    body='{"model":"'"${model[$g]}"'","messages":[{"role":"user","content":"Hello there, how are you today?"}]}'
    BODY=$body KEY=${key[$g]} LABEL=warm CONC=$c wrk -t1 -c"$c" -d1s -s bench/peers/wrk-json.lua "${url[$g]}" > /dev/null
    t0=$(tree_ticks "${pid[$g]}")
    line[$g]=$(BODY=$body KEY=${key[$g]} LABEL=$g CONC=$c wrk -t1 -c"$c" -d"${secs}s" -s bench/peers/wrk-json.lua "${url[$g]}" | tail -1)
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
kill "$tzpid" "$floorpid" "$rawpid" "$rtpid" "$rcpid" 2>/dev/null || true
